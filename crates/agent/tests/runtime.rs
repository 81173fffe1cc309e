//! The agent in-process: [`Agent::run`] on a state directory, stopped by
//! the shutdown future its caller hands it. It needs no privileges: it
//! reads this namespace's listeners, records drift in the store, and
//! returns once shutdown completes.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use portreeve_agent::Agent;
use portreeve_agent::config::AgentConfig;
use portreeve_app::StateDir;
use portreeve_store::{DriftKind, SqliteStore, Store};

/// An agent that reads every 100 ms and serves nothing.
fn config() -> AgentConfig {
    AgentConfig {
        interval: Duration::from_millis(100),
        metrics: None,
        conntrack: false,
        ..AgentConfig::default()
    }
}

/// Polls `f` until it holds, for at most `limit`.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn the_agent_records_drift_and_stops_when_its_shutdown_future_completes() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path());
    let db = state.store_file();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watcher = std::thread::spawn(move || {
        // Wait for the first reading to be recorded, then listen anew.
        let recorded = eventually(Duration::from_secs(10), || {
            SqliteStore::open_path(&db).is_ok_and(|s| !s.listeners().unwrap().is_empty())
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let drift_seen = eventually(Duration::from_secs(5), || {
            SqliteStore::open_path(&db).is_ok_and(|s| {
                s.drift_events(None, 100)
                    .unwrap()
                    .iter()
                    .any(|e| e.kind == DriftKind::NewListener && e.port == port)
            })
        });
        let asked = Instant::now();
        stop.send(()).unwrap();
        (recorded, drift_seen, asked, listener)
    });
    let report = Agent::run(&config(), &state, async {
        let _ = stopped.await;
    })
    .unwrap();
    let returned = Instant::now();
    let (recorded, drift_seen, asked, _listener) = watcher.join().unwrap();
    assert!(recorded, "the agent recorded its first reading");
    assert!(drift_seen, "the new listener was recorded as drift");
    assert!(
        returned.duration_since(asked) < Duration::from_secs(2),
        "stopped {:?} after shutdown completed",
        returned.duration_since(asked)
    );
    assert_eq!(report.flows.datagrams, 0, "no flow sockets were asked for");
}

#[test]
fn a_shutdown_that_is_ready_at_once_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let state = StateDir::open(&root);
    Agent::run(&config(), &state, async {}).unwrap();
    assert!(!root.exists(), "nothing was created");
}
