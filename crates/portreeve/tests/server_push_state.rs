//! How the server stores a push that repeats the host's state (docs/server.md,
//! "The protocol"): most pushes do, since the agent pushes at least every
//! interval whether or not anything changed. Such a push moves `last_seq`
//! and `last_seen_at` but rewrites none of the host's listeners, findings or
//! lifecycle, and a ledger checkpoint equal to the host's latest is not
//! stored again; a push whose state differs replaces it as before. Run on
//! SQLite and on PostgreSQL, as tests/server.rs is.

mod support;

use std::time::Duration;

use support::fleet_server::{RunningServer, SigningHost, create_token, on_each_database};

use portreeve_fleet_protocol::{LedgerCheckpoint, Push, PushedFinding, PushedListener, PushedPort};

/// Host `host`'s push numbered `seq` with listeners on `ports`, one
/// finding, `lifecycle` and the checkpoint (`index`, `head` repeated).
fn push(
    host: &SigningHost,
    seq: u64,
    ports: &[u16],
    lifecycle: Option<Vec<PushedPort>>,
    (index, head): (u64, char),
) -> Push {
    Push {
        host_id: host.id.clone(),
        seq,
        sent_at: jiff::Timestamp::now(),
        listeners: ports
            .iter()
            .map(|&port| PushedListener {
                protocol: "tcp".into(),
                address: "0.0.0.0".into(),
                port,
                process: Some("nginx".into()),
                pid: Some(812),
                container: None,
            })
            .collect(),
        findings: vec![PushedFinding {
            code: "PR001".into(),
            severity: "high".into(),
            port: Some(ports[0]),
            message: "no rule allows it".into(),
            remediation: None,
        }],
        drift: vec![],
        ledger: Some(LedgerCheckpoint {
            index,
            head: head.to_string().repeat(64),
        }),
        lifecycle,
        policy: None,
        grants: None,
        blocks: None,
    }
}

fn active(port: u16) -> PushedPort {
    PushedPort {
        port,
        protocol: "tcp".into(),
        state: "active".into(),
        last_used: None,
    }
}

#[test]
fn a_repeated_state_is_not_rewritten_and_a_changed_one_replaces_it() {
    on_each_database(
        "a_repeated_state_is_not_rewritten_and_a_changed_one_replaces_it",
        |home, db| {
            let enroll = create_token(home, db, &["--role", "enroll"]);
            let server = RunningServer::start(home, db);
            let host = SigningHost::enroll(&server, &enroll, "web-1", 1);
            let accepted = |push: &Push| {
                let (status, reply) = host.push(&server, push);
                assert_eq!(status, 200, "{reply}");
                reply["accepted"].as_bool().unwrap()
            };
            // Rows of each table the push writes, the processes listed, and
            // the host's last seq.
            let stored = || {
                db.query(
                    "SELECT (SELECT COUNT(*) FROM host_listeners),
                            (SELECT COUNT(*) FROM host_findings),
                            (SELECT COUNT(*) FROM host_lifecycle),
                            (SELECT COUNT(*) FROM ledger_checkpoints),
                            (SELECT MIN(process) || ',' || MAX(process) FROM host_listeners),
                            (SELECT last_seq FROM hosts)",
                )
            };
            let last_seen = || db.query("SELECT last_seen_at FROM hosts");

            assert!(accepted(&push(
                &host,
                1,
                &[22, 80],
                Some(vec![active(22)]),
                (5, 'a')
            )));
            assert_eq!(stored(), "2|1|1|1|nginx,nginx|1\n");
            // A mark the server would wipe if it rewrote the listeners.
            db.query("UPDATE host_listeners SET process = 'marked' WHERE port = 22");
            let seen_first = last_seen();
            std::thread::sleep(Duration::from_millis(1100));

            assert!(accepted(&push(
                &host,
                2,
                &[22, 80],
                Some(vec![active(22)]),
                (5, 'a')
            )));
            assert_eq!(
                stored(),
                "2|1|1|1|marked,nginx|2\n",
                "the same state: nothing rewritten, the same checkpoint not stored again"
            );
            assert_ne!(last_seen(), seen_first, "last_seen_at moves all the same");

            assert!(accepted(&push(&host, 3, &[22, 80, 443], None, (6, 'b'))));
            assert_eq!(
                stored(),
                "3|1|1|2|nginx,nginx|3\n",
                "another state replaces the listeners; no lifecycle keeps it"
            );

            assert!(accepted(&push(
                &host,
                4,
                &[22, 80, 443],
                Some(vec![]),
                (6, 'b')
            )));
            assert_eq!(
                stored(),
                "3|1|0|2|nginx,nginx|4\n",
                "an empty lifecycle replaces it, though the listeners are the same"
            );

            assert!(!accepted(&push(&host, 4, &[1], None, (9, 'c'))), "a replay");
            assert_eq!(stored(), "3|1|0|2|nginx,nginx|4\n");
            server.stop();
        },
    );
}
