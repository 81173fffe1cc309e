//! Before the timed run: enrolling the simulated hosts with one enroll
//! token of at least as many uses, then storing each host's first, full
//! state (its seed push). Both go `concurrency` requests at a time, closed
//! loop: they are set-up, not the load measured. The timed run then sees a
//! fleet in its steady state, where most pushes repeat the host's state.

use std::future::Future;
use std::sync::Arc;

use portreeve_fleet_protocol::{EnrollRequest, EnrollResponse, HOST_HEADER, SIGNATURE_HEADER};

use crate::client::Client;
use crate::host::{SignedPush, SimulatedHost};

/// Runs `work` on every item, at most `concurrency` at once; the results in
/// the items' order, or the first error.
async fn concurrently<T, R, F>(
    items: Vec<T>,
    concurrency: usize,
    work: impl Fn(T) -> F,
) -> Result<Vec<R>, String>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Future<Output = Result<R, String>> + Send + 'static,
{
    let total = items.len();
    let mut queue = items.into_iter().enumerate();
    let mut running = tokio::task::JoinSet::new();
    let mut done = Vec::with_capacity(total);
    loop {
        while running.len() < concurrency.max(1) {
            let Some((n, item)) = queue.next() else { break };
            let job = work(item);
            running.spawn(async move { job.await.map(|r| (n, r)) });
        }
        match running.join_next().await {
            Some(joined) => done.push(joined.map_err(|e| e.to_string())??),
            None => break,
        }
    }
    done.sort_by_key(|(n, _)| *n);
    Ok(done.into_iter().map(|(_, r)| r).collect())
}

/// Enrolls every host in `hosts`, setting its id.
pub async fn enroll_all(
    client: &Arc<Client>,
    token: &str,
    hosts: Vec<SimulatedHost>,
    concurrency: usize,
) -> Result<Vec<SimulatedHost>, String> {
    let authorization = Arc::new(format!("Bearer {token}"));
    concurrently(hosts, concurrency, |mut host| {
        let (client, authorization) = (client.clone(), authorization.clone());
        async move {
            let request = EnrollRequest {
                host_name: host.name.clone(),
                public_key: host.public_key(),
            };
            let body = serde_json::to_vec(&request).expect("a request serializes");
            let headers = [("authorization", authorization.as_str())];
            let answer = expect(&client, "/api/v1/enroll", &headers, body.into(), 201).await;
            let answer = answer.map_err(|e| format!("enrolling {}: {e}", host.name))?;
            let answer: EnrollResponse = serde_json::from_slice(&answer)
                .map_err(|e| format!("enrolling {}: the answer is not JSON: {e}", host.name))?;
            host.id = answer.host_id;
            Ok(host)
        }
    })
    .await
}

/// Stores every host's first push (its whole state).
pub async fn seed_all(
    client: &Arc<Client>,
    hosts: &mut [SimulatedHost],
    rng: &mut fastrand::Rng,
    concurrency: usize,
) -> Result<(), String> {
    let pushes: Vec<SignedPush> = hosts.iter_mut().map(|h| h.next_push(rng, 0.0)).collect();
    concurrently(pushes, concurrency, |push| {
        let client = client.clone();
        async move {
            let headers = [
                (HOST_HEADER, push.host_id.as_str()),
                (SIGNATURE_HEADER, push.signature.as_str()),
            ];
            expect(&client, "/api/v1/push", &headers, push.body, 200)
                .await
                .map(drop)
                .map_err(|e| format!("the first push of {}: {e}", push.host_id))
        }
    })
    .await?;
    Ok(())
}

/// POSTs `body` to `path`: the answer's body if its status is `status`.
async fn expect(
    client: &Client,
    path: &str,
    headers: &[(&str, &str)],
    body: bytes::Bytes,
    status: u16,
) -> Result<bytes::Bytes, String> {
    let (got, answer) = client
        .post(path, headers, body)
        .await
        .map_err(|e| e.0.clone())?;
    if got.as_u16() == status {
        Ok(answer)
    } else {
        Err(format!("{got} {}", String::from_utf8_lossy(&answer)))
    }
}
