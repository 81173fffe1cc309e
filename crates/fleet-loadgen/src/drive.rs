//! Driving the pushes, open loop: host `i` of `n` pushes at the start plus
//! `(i / n + k) * interval` for k = 0, 1, …, whether or not its earlier
//! pushes have been answered. Each push's latency counts from that intended
//! time, not from when it was sent, so a server that falls behind is
//! charged for the wait of every push it delayed (no coordinated omission).

use std::sync::Arc;
use std::time::{Duration, Instant};

use portreeve_fleet_protocol::{HOST_HEADER, PushResponse, SIGNATURE_HEADER};
use tokio::sync::mpsc;

use crate::client::Client;
use crate::host::SimulatedHost;

/// What became of one push.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// When it was meant to be sent, from the start of the run.
    pub intended: Duration,
    /// From the intended time to the end of the answer.
    pub latency: Duration,
    /// The HTTP status, or `None` when the connection failed (refused,
    /// reset).
    pub status: Option<u16>,
    /// The answer's `accepted` (a 200 that was not a duplicate).
    pub accepted: bool,
    /// Whether the push carried a change.
    pub changed: bool,
}

/// How a run goes.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// How often each host pushes.
    pub interval: Duration,
    /// How long pushes are sent for.
    pub duration: Duration,
    /// When, from the start, the measured window begins; a line on
    /// standard error marks it (bench/server_load.sh samples the
    /// database's size then).
    pub warmup: Duration,
    /// The share of pushes that carry a change.
    pub change_share: f64,
    /// How long to wait for the answers still out when sending stops.
    pub grace: Duration,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Run {
    /// Each answered push's outcome, in no particular order.
    pub outcomes: Vec<Outcome>,
    /// Pushes sent but not answered within the grace period.
    pub unanswered: usize,
}

/// Runs `plan` with `hosts`.
pub async fn drive(
    client: Arc<Client>,
    mut hosts: Vec<SimulatedHost>,
    plan: Plan,
    rng: &mut fastrand::Rng,
) -> Run {
    let (sent, mut received) = mpsc::unbounded_channel();
    let start = tokio::time::Instant::now();
    let n = hosts.len().max(1) as u32;
    let step = plan.interval / n;
    let mut outstanding = 0_usize;
    tokio::spawn(async move {
        tokio::time::sleep_until(start + plan.warmup).await;
        eprintln!("warm-up over; measuring");
    });
    for j in 0_u64.. {
        let intended = step * u32::try_from(j % u64::from(n)).unwrap_or(0)
            + plan.interval * u32::try_from(j / u64::from(n)).unwrap_or(u32::MAX);
        if intended >= plan.duration {
            break;
        }
        tokio::time::sleep_until(start + intended).await;
        let host = &mut hosts[(j % u64::from(n)) as usize];
        let push = host.next_push(rng, plan.change_share);
        let (client, sent) = (client.clone(), sent.clone());
        let intended_at = start.into_std() + intended;
        outstanding += 1;
        tokio::spawn(async move {
            let headers = [
                (HOST_HEADER, push.host_id.as_str()),
                (SIGNATURE_HEADER, push.signature.as_str()),
            ];
            let answer = client.post("/api/v1/push", &headers, push.body).await;
            let latency = Instant::now().saturating_duration_since(intended_at);
            let (status, accepted) = match answer {
                Ok((status, body)) => (
                    Some(status.as_u16()),
                    status.is_success()
                        && serde_json::from_slice::<PushResponse>(&body).is_ok_and(|r| r.accepted),
                ),
                Err(_) => (None, false),
            };
            let _ = sent.send(Outcome {
                intended,
                latency,
                status,
                accepted,
                changed: push.changed,
            });
        });
    }
    drop(sent);
    let mut outcomes = Vec::with_capacity(outstanding);
    let deadline = tokio::time::Instant::now() + plan.grace;
    while let Ok(Some(outcome)) = tokio::time::timeout_at(deadline, received.recv()).await {
        outcomes.push(outcome);
    }
    Run {
        unanswered: outstanding - outcomes.len(),
        outcomes,
    }
}
