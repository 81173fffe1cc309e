//! The SQLite store: every table written, read back, merged, and kept
//! across closing and reopening the database — including a handle dropped
//! with a batch half-written.

use std::net::IpAddr;
use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use portreeve_core::{NetnsRef, PortKey, PortUsage, Proto};
use portreeve_flows::{FlowAggregate, ServerPort};
use portreeve_store::{
    DB_FILE, DriftEvent, DriftKind, Listener, SOURCE_CAP, SourceUpdate, SqliteStore, Store,
    StoreError, StoredDetection, UsageUpdate, WriteBatch, hour_of,
};

fn t(minutes: i64) -> Timestamp {
    "2027-03-01T12:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minutes)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The host's namespace, as the inventory names it.
fn host() -> NetnsRef {
    NetnsRef {
        inode: 4026531840,
        name: Some("host".into()),
    }
}

fn tcp(port: u16) -> PortKey {
    PortKey::new(Proto::Tcp, port)
}

fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir).unwrap_or_else(|e| panic!("{e}"))
}

fn drift(at: i64, kind: DriftKind, port: u16) -> DriftEvent {
    DriftEvent {
        at: t(at),
        kind,
        protocol: Proto::Tcp,
        address: ip("0.0.0.0"),
        port,
        netns: host(),
        old_owner: (kind != DriftKind::NewListener).then(|| "nginx.service".to_string()),
        new_owner: (kind != DriftKind::ListenerGone).then(|| "caddy.service".to_string()),
    }
}

fn listener(addr: &str, port: u16, owner: &str) -> Listener {
    Listener {
        protocol: Proto::Tcp,
        address: ip(addr),
        port,
        netns: host(),
        owner: Some(owner.to_string()),
    }
}

fn sources(n: u32) -> Vec<IpAddr> {
    (0..n)
        .map(|i| IpAddr::from((0x0a00_0000_u32 + i).to_be_bytes()))
        .collect()
}

#[test]
fn a_new_store_is_one_wal_file_at_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = open(&state); // creates the state directory too
    assert_eq!(store.path(), state.join(DB_FILE));
    assert_eq!(
        store.schema_version().unwrap(),
        SqliteStore::supported_schema_version()
    );
    drop(store);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(state.join("agent.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let raw = rusqlite::Connection::open(state.join("agent.db")).unwrap();
    let journal: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    // Reopening runs no migration twice.
    drop(raw);
    let again = open(&state);
    assert_eq!(
        again.schema_version().unwrap(),
        SqliteStore::supported_schema_version()
    );
    assert!(again.usage().unwrap().is_empty());
    assert!(again.listeners().unwrap().is_empty());
}

#[test]
fn a_store_from_a_newer_portreeve_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let raw = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    raw.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(raw);
    match SqliteStore::open(dir.path()) {
        Err(StoreError::TooNew { found, supported }) => assert_eq!(
            (found, supported),
            (99, SqliteStore::supported_schema_version())
        ),
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[test]
fn drift_events_are_listed_newest_first_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let events = vec![
        drift(0, DriftKind::NewListener, 8080),
        drift(5, DriftKind::OwnerChanged, 8080),
        drift(10, DriftKind::NewListener, 9090),
        drift(20, DriftKind::ListenerGone, 8080),
    ];
    store
        .write(&WriteBatch {
            drift: events.clone(),
            ..WriteBatch::default()
        })
        .unwrap();
    let all = store.drift_events(None, 100).unwrap();
    assert_eq!(all, events.iter().rev().cloned().collect::<Vec<_>>());
    let recent = store.drift_events(Some(t(5)), 2).unwrap();
    assert_eq!(recent, [events[3].clone(), events[2].clone()]);
    assert_eq!(store.drift_events(Some(t(21)), 10).unwrap(), []);
    assert_eq!(
        store.drift_counts(None).unwrap(),
        [
            (DriftKind::NewListener, 2),
            (DriftKind::ListenerGone, 1),
            (DriftKind::OwnerChanged, 1)
        ]
    );
    assert_eq!(
        store.drift_counts(Some(t(6))).unwrap(),
        [
            (DriftKind::NewListener, 1),
            (DriftKind::ListenerGone, 1),
            (DriftKind::OwnerChanged, 0)
        ]
    );
}

#[test]
fn the_listener_snapshot_is_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let first = vec![
        listener("0.0.0.0", 22, "ssh.service"),
        listener("::", 443, "nginx.service"),
    ];
    store
        .write(&WriteBatch {
            listeners: Some(first.clone()),
            ..WriteBatch::default()
        })
        .unwrap();
    assert_eq!(store.listeners().unwrap(), first);
    // A batch without a snapshot leaves it alone.
    store
        .write(&WriteBatch {
            drift: vec![drift(1, DriftKind::NewListener, 1)],
            ..WriteBatch::default()
        })
        .unwrap();
    assert_eq!(store.listeners().unwrap(), first);
    let second = vec![listener("0.0.0.0", 22, "ssh.service")];
    store
        .write(&WriteBatch {
            listeners: Some(second.clone()),
            ..WriteBatch::default()
        })
        .unwrap();
    assert_eq!(store.listeners().unwrap(), second);
    store
        .write(&WriteBatch {
            listeners: Some(Vec::new()),
            ..WriteBatch::default()
        })
        .unwrap();
    assert_eq!(store.listeners().unwrap(), []);
}

#[test]
fn usage_merges_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    store
        .write(&WriteBatch {
            usage: vec![
                UsageUpdate::seen(tcp(8080), t(10)),
                UsageUpdate::seen(PortKey::new(Proto::Udp, 53), t(10)),
            ],
            ..WriteBatch::default()
        })
        .unwrap();
    let u = store.usage().unwrap();
    assert_eq!(u.len(), 2);
    assert_eq!(u[0].key, PortKey::new(Proto::Udp, 53)); // sorted by port
    assert_eq!(u[1].usage, PortUsage::new(t(10)));
    store
        .write(&WriteBatch {
            usage: vec![UsageUpdate {
                key: tcp(8080),
                seen_at: t(20),
                last_access: Some(t(15)),
                connections: 3,
                sources: vec![ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.1")],
            }],
            ..WriteBatch::default()
        })
        .unwrap();
    store
        .write(&WriteBatch {
            usage: vec![
                // An earlier sighting lowers first_seen; an older access does
                // not move last_access back; none does not erase it.
                UsageUpdate {
                    key: tcp(8080),
                    seen_at: t(5),
                    last_access: Some(t(12)),
                    connections: 2,
                    sources: vec![ip("10.0.0.2"), ip("2001:db8::1")],
                },
                UsageUpdate::seen(tcp(8080), t(30)),
            ],
            ..WriteBatch::default()
        })
        .unwrap();
    let r = &store.usage().unwrap()[1];
    assert_eq!(
        r.usage,
        PortUsage {
            first_seen: t(5),
            last_access: Some(t(15)),
            connections: 5,
            distinct_sources: 3,
        }
    );
    assert!(!r.sources_capped);
}

#[test]
fn distinct_sources_are_exact_up_to_the_cap_then_at_least() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let cap = u32::try_from(SOURCE_CAP).unwrap();
    let all = sources(cap + 10);
    let update = |s: &[IpAddr]| WriteBatch {
        usage: vec![UsageUpdate {
            key: tcp(443),
            seen_at: t(0),
            last_access: Some(t(0)),
            connections: s.len() as u64,
            sources: s.to_vec(),
        }],
        ..WriteBatch::default()
    };
    store.write(&update(&all[..cap as usize])).unwrap();
    let r = &store.usage().unwrap()[0];
    assert_eq!(
        (r.usage.distinct_sources, r.sources_capped),
        (SOURCE_CAP, false)
    );
    // Sources already counted do not trip the cap...
    store.write(&update(&all[..5])).unwrap();
    let r = &store.usage().unwrap()[0];
    assert_eq!(
        (r.usage.distinct_sources, r.sources_capped),
        (SOURCE_CAP, false)
    );
    // ...a new one does.
    store.write(&update(&all[cap as usize..])).unwrap();
    let r = &store.usage().unwrap()[0];
    assert_eq!(
        (r.usage.distinct_sources, r.sources_capped),
        (SOURCE_CAP, true)
    );
    assert_eq!(r.usage.connections, u64::from(cap) + 5 + 10);
}

#[test]
fn flows_merge_by_the_aggregates_own_rule() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let flow = |first: i64, last: i64, clients: u64| FlowAggregate {
        key: ServerPort::new(ip("192.0.2.10"), tcp(443)),
        first_seen: t(first),
        last_seen: t(last),
        flows: 2,
        packets: 20,
        bytes: 2_000,
        clients,
        clients_exact: true,
    };
    store
        .write(&WriteBatch {
            flows: vec![flow(10, 20, 2)],
            ..WriteBatch::default()
        })
        .unwrap();
    let web = &store.flows().unwrap()[0];
    assert_eq!(*web, flow(10, 20, 2), "stored as given, still exact");
    store
        .write(&WriteBatch {
            flows: vec![
                flow(5, 15, 2),
                FlowAggregate {
                    key: ServerPort::new(ip("2001:db8::10"), PortKey::new(Proto::Udp, 53)),
                    ..flow(0, 1, 0)
                },
            ],
            ..WriteBatch::default()
        })
        .unwrap();
    let flows = store.flows().unwrap();
    assert_eq!(flows.len(), 2);
    let web = &flows[0];
    assert_eq!(web.key.server, ip("192.0.2.10"));
    assert_eq!((web.first_seen, web.last_seen), (t(5), t(20)));
    assert_eq!((web.flows, web.packets, web.bytes), (4, 40, 4_000));
    // Two flushes' clients may be the same hosts: the larger count stays,
    // as a lower bound.
    assert_eq!((web.clients, web.clients_exact), (2, false));
    assert_eq!((flows[1].key.port.port, flows[1].clients), (53, 0));
    let mut expected = flow(10, 20, 2);
    expected.merge(&flow(5, 15, 2));
    assert_eq!(
        *web, expected,
        "the store merges as FlowAggregate::merge does"
    );

    // A collector's estimate only raises the count, marked as a lower bound.
    for estimate in [50, 30] {
        store
            .write(&WriteBatch {
                flows: vec![FlowAggregate {
                    clients: estimate,
                    clients_exact: false,
                    ..flow(30, 40, 0)
                }],
                ..WriteBatch::default()
            })
            .unwrap();
    }
    let web = &store.flows().unwrap()[0];
    assert_eq!((web.clients, web.clients_exact), (50, false));

    // Twice in one batch: merged twice.
    store
        .write(&WriteBatch {
            flows: vec![flow(50, 60, 1), flow(50, 70, 1)],
            ..WriteBatch::default()
        })
        .unwrap();
    let web = &store.flows().unwrap()[0];
    assert_eq!((web.flows, web.last_seen), (4 + 2 * 2 + 2 * 2, t(70)));
}

#[test]
fn flow_counters_saturate_instead_of_overflowing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let huge = FlowAggregate {
        key: ServerPort::new(ip("192.0.2.1"), tcp(1)),
        first_seen: t(0),
        last_seen: t(0),
        flows: u64::MAX,
        packets: u64::MAX,
        bytes: u64::MAX,
        clients: u64::MAX,
        clients_exact: false,
    };
    for _ in 0..2 {
        store
            .write(&WriteBatch {
                flows: vec![huge.clone()],
                ..WriteBatch::default()
            })
            .unwrap();
    }
    let a = &store.flows().unwrap()[0];
    let max = i64::MAX as u64;
    assert_eq!(
        (a.flows, a.packets, a.bytes, a.clients),
        (max, max, max, max)
    );
}

#[test]
fn counters_saturate_instead_of_overflowing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    for _ in 0..2 {
        store
            .write(&WriteBatch {
                usage: vec![UsageUpdate {
                    connections: u64::MAX,
                    ..UsageUpdate::seen(tcp(1), t(0))
                }],
                ..WriteBatch::default()
            })
            .unwrap();
    }
    assert_eq!(store.usage().unwrap()[0].usage.connections, i64::MAX as u64);
}

#[test]
fn reclaims_are_recorded_and_undone_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let a = store
        .record_reclaim(t(0), tcp(8080), "generation 7")
        .unwrap();
    let b = store
        .record_reclaim(t(1), PortKey::new(Proto::Udp, 5353), "generation 8")
        .unwrap();
    assert_ne!(a, b);
    assert!(store.mark_undone(a, t(60)).unwrap());
    assert!(!store.mark_undone(a, t(90)).unwrap(), "undone twice");
    assert!(!store.mark_undone(999, t(90)).unwrap(), "no such reclaim");
    let all = store.reclaims().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        (
            all[0].id,
            all[0].key,
            all[0].reference.as_str(),
            all[0].undone_at
        ),
        (a, tcp(8080), "generation 7", Some(t(60)))
    );
    assert_eq!((all[1].id, all[1].undone_at), (b, None));
}

#[test]
fn reclaims_that_never_took_effect_are_deleted_and_their_ids_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let undone = store
        .record_reclaim(t(0), tcp(8080), "generation 7")
        .unwrap();
    assert!(store.mark_undone(undone, t(60)).unwrap());
    let refused = store
        .record_reclaim(t(70), tcp(8081), "generation 8")
        .unwrap();
    let refused_too = store
        .record_reclaim(t(70), tcp(8082), "generation 8")
        .unwrap();
    // An undone reclaim took effect: it is not cancelled with the others.
    assert_eq!(
        store
            .cancel_reclaims(&[refused, refused_too, undone, 999])
            .unwrap(),
        2
    );
    let all = store.reclaims().unwrap();
    assert_eq!(
        all.iter().map(|r| (r.id, r.undone_at)).collect::<Vec<_>>(),
        [(undone, Some(t(60)))]
    );
    // The ledger may name a cancelled id (recorded, then taken back): the
    // next reclaim gets a new one, in this handle and the next.
    let next = store
        .record_reclaim(t(80), tcp(8081), "generation 9")
        .unwrap();
    assert!(next > refused_too, "{next} reuses a cancelled id");
    assert_eq!(store.cancel_reclaims(&[next]).unwrap(), 1);
    drop(store);
    let mut store = open(dir.path());
    let after = store
        .record_reclaim(t(90), tcp(8081), "generation 10")
        .unwrap();
    assert!(after > next, "{after} reuses a cancelled id");
}

/// A detection of `source` first seen at minute `first`.
fn detection(source: &str, first: i64) -> StoredDetection {
    StoredDetection {
        id: 0,
        source: ip(source),
        kind: "horizontal".into(),
        tier: "agent".into(),
        detector: "trw".into(),
        first_seen: t(first),
        last_seen: t(first + 2),
        ports: vec![22, 443],
        port_count: 2,
        addresses: vec![ip("192.0.2.1"), ip("2001:db8::1")],
        address_count: 7,
        attempts: 5,
        action: "block".into(),
        block_ledger_index: Some(u64::MAX),
        evidence: vec![
            "TRW: 4 first contacts failed".into(),
            "line \"two\",\nsplit".into(),
        ],
        enrichment: None,
        capture: None,
    }
}

#[test]
fn detections_are_kept_whole_and_listed_by_first_seen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let late = store
        .record_detection(&detection("203.0.113.9", 10))
        .unwrap();
    let mut alert = detection("2001:db8::66", 3);
    alert.action = "alert".into();
    alert.block_ledger_index = None;
    let early = store.record_detection(&alert).unwrap();
    assert_ne!(late, early);
    drop(store);
    let store = open(dir.path());
    let all = store.detections().unwrap();
    assert_eq!(
        all.iter().map(|d| d.id).collect::<Vec<_>>(),
        [early, late],
        "by first seen, not by id"
    );
    assert_eq!(all[0], StoredDetection { id: early, ..alert });
    // The largest ledger index saturates at i64::MAX rather than failing.
    assert_eq!(
        all[1],
        StoredDetection {
            id: late,
            block_ledger_index: Some(i64::MAX as u64),
            ..detection("203.0.113.9", 10)
        }
    );
}

#[test]
fn enrichment_and_capture_are_attached_to_a_recorded_detection() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let id = store
        .record_detection(&detection("198.51.100.4", 0))
        .unwrap();
    assert!(
        store
            .attach_detection_enrichment(id, r#"{"rdns":"scanner.example"}"#)
            .unwrap()
    );
    assert!(
        store
            .attach_detection_enrichment(id, r#"{"rdns":"later.example"}"#)
            .unwrap(),
        "a later answer replaces the first"
    );
    // Not UTF-8: the path is kept as the file system names it.
    let path = Path::new(std::ffi::OsStr::from_bytes(
        b"/var/lib/portreeve/captures/\xff.pcap",
    ));
    assert!(store.attach_detection_capture(id, path).unwrap());
    assert!(
        !store.attach_detection_capture(id + 1, path).unwrap(),
        "no such detection"
    );
    assert!(!store.attach_detection_enrichment(id + 1, "{}").unwrap());
    let all = store.detections().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].enrichment.as_deref(),
        Some(r#"{"rdns":"later.example"}"#)
    );
    assert_eq!(all[0].capture.as_deref(), Some(path));
}

/// Writes one of everything.
fn write_history(store: &mut dyn Store) {
    store
        .write(&WriteBatch {
            drift: vec![drift(0, DriftKind::NewListener, 8080)],
            listeners: Some(vec![listener("0.0.0.0", 8080, "app.service")]),
            usage: vec![UsageUpdate {
                key: tcp(8080),
                seen_at: t(0),
                last_access: Some(t(3)),
                connections: 7,
                sources: vec![ip("10.0.0.1")],
            }],
            flows: vec![FlowAggregate {
                key: ServerPort::new(ip("192.0.2.1"), tcp(8080)),
                first_seen: t(1),
                last_seen: t(2),
                flows: 1,
                packets: 3,
                bytes: 300,
                clients: 1,
                clients_exact: true,
            }],
            sources: vec![from("10.0.0.1/32", 8080, 7, 3)],
        })
        .unwrap();
    store
        .record_reclaim(t(4), tcp(9999), "generation 2")
        .unwrap();
}

#[test]
fn everything_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut store: Box<dyn Store> = Box::new(open(dir.path()));
    write_history(store.as_mut());
    let before = (
        store.drift_events(None, 10).unwrap(),
        store.listeners().unwrap(),
        store.usage().unwrap(),
        store.flows().unwrap(),
        store.reclaims().unwrap(),
        store.source_usage(None).unwrap(),
    );
    drop(store);
    let store = open(dir.path());
    let after = (
        store.drift_events(None, 10).unwrap(),
        store.listeners().unwrap(),
        store.usage().unwrap(),
        store.flows().unwrap(),
        store.reclaims().unwrap(),
        store.source_usage(None).unwrap(),
    );
    assert_eq!(before, after);
    assert_eq!(after.5[0].connections, 7);
    assert_eq!(after.2[0].usage.connections, 7);
    assert_eq!(after.4[0].reference, "generation 2");
}

#[test]
fn a_handle_dropped_mid_way_keeps_every_committed_batch_and_no_half_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    write_history(&mut store);
    // A batch that fails part-way: its first usage update and drift event
    // are written inside the transaction before the out-of-range timestamp
    // stops it.
    let broken = WriteBatch {
        drift: vec![drift(50, DriftKind::OwnerChanged, 8080)],
        listeners: Some(Vec::new()),
        usage: vec![
            UsageUpdate {
                connections: 100,
                ..UsageUpdate::seen(tcp(8080), t(50))
            },
            UsageUpdate::seen(tcp(8081), Timestamp::MAX),
        ],
        ..WriteBatch::default()
    };
    assert!(matches!(
        store.write(&broken),
        Err(StoreError::OutOfRange(_))
    ));
    // The handle still works after a failed batch.
    store
        .write(&WriteBatch {
            usage: vec![UsageUpdate {
                connections: 1,
                ..UsageUpdate::seen(tcp(8080), t(60))
            }],
            ..WriteBatch::default()
        })
        .unwrap();
    // Dropped without any checkpoint: the commits live in the WAL file.
    assert!(dir.path().join("agent.db-wal").exists());
    drop(store);

    let store = open(dir.path());
    assert_eq!(store.drift_events(None, 10).unwrap().len(), 1);
    assert_eq!(store.listeners().unwrap().len(), 1, "snapshot not cleared");
    let usage = store.usage().unwrap();
    assert_eq!(usage.len(), 1, "no 8081 from the failed batch");
    assert_eq!(usage[0].usage.connections, 8, "7 + 1, not + 100");
    assert_eq!(usage[0].usage.first_seen, t(0));
    assert_eq!(store.reclaims().unwrap().len(), 1);
}

#[test]
fn two_handles_on_one_file_see_each_others_commits() {
    // The agent writes while `portreeve` CLI commands read.
    let dir = tempfile::tempdir().unwrap();
    let mut writer = open(dir.path());
    let reader = open(dir.path());
    write_history(&mut writer);
    assert_eq!(reader.usage().unwrap(), writer.usage().unwrap());
}

#[test]
fn stores_opened_together_migrate_once() {
    // The agent starting while another command reads: every opener of a
    // new file must get a working store, whoever runs the migrations.
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let barrier = std::sync::Barrier::new(8);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        SqliteStore::open_path(&path).map(|store| store.schema_version().unwrap())
                    })
                })
                .collect();
            for h in handles {
                assert_eq!(
                    h.join().unwrap().unwrap(),
                    SqliteStore::supported_schema_version()
                );
            }
        });
    }
}

fn from(source: &str, port: u16, connections: u64, at: i64) -> SourceUpdate {
    SourceUpdate {
        source: source.parse().unwrap(),
        key: tcp(port),
        connections,
        first_seen: t(at),
        last_seen: t(at),
    }
}

fn record_sources(store: &mut SqliteStore, updates: Vec<SourceUpdate>) {
    store
        .write(&WriteBatch {
            sources: updates,
            ..WriteBatch::default()
        })
        .unwrap();
}

/// (source, port, connections) of every per-source row.
fn listed(store: &SqliteStore) -> Vec<(String, u16, u64)> {
    store
        .source_usage(None)
        .unwrap()
        .iter()
        .map(|u| (u.source.to_string(), u.port, u.connections))
        .collect()
}

#[test]
fn source_usage_adds_connections_and_widens_first_and_last_seen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    record_sources(&mut store, vec![from("192.0.2.7/32", 22, 2, 10)]);
    record_sources(
        &mut store,
        vec![
            from("192.0.2.7/32", 22, 3, 20),
            from("192.0.2.8/32", 22, 1, 5),
        ],
    );
    record_sources(&mut store, vec![from("192.0.2.7/32", 22, 1, 1)]);
    let all = store.source_usage(None).unwrap();
    assert_eq!(
        listed(&store),
        [
            ("192.0.2.7/32".to_string(), 22, 6),
            ("192.0.2.8/32".to_string(), 22, 1)
        ]
    );
    assert_eq!((all[0].first_seen, all[0].last_seen), (t(1), t(20)));
    // The window keeps what was last seen in it.
    let recent = store.source_usage(Some(t(10))).unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].source.to_string(), "192.0.2.7/32");
}

#[test]
fn source_usage_is_sorted_by_port_protocol_then_source() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let mut udp = from("192.0.2.1/32", 53, 1, 1);
    udp.key = PortKey::new(Proto::Udp, 53);
    record_sources(
        &mut store,
        vec![
            from("192.0.2.10/32", 443, 1, 1),
            from("192.0.2.9/32", 443, 1, 1),
            udp,
            from("192.0.2.1/32", 53, 1, 1),
        ],
    );
    let keys: Vec<(u16, Proto, String)> = store
        .source_usage(None)
        .unwrap()
        .iter()
        .map(|u| (u.port, u.protocol, u.source.to_string()))
        .collect();
    assert_eq!(
        keys,
        [
            (53, Proto::Tcp, "192.0.2.1/32".to_string()),
            (53, Proto::Udp, "192.0.2.1/32".to_string()),
            (443, Proto::Tcp, "192.0.2.9/32".to_string()),
            (443, Proto::Tcp, "192.0.2.10/32".to_string()),
        ]
    );
}

#[test]
fn past_the_bound_new_sources_fold_into_their_network_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    store.set_max_sources(2);
    record_sources(
        &mut store,
        vec![
            from("192.0.2.1/32", 22, 1, 1),
            from("192.0.2.2/32", 22, 1, 1),
        ],
    );
    // Full: a known source still counts as itself; new ones fold.
    record_sources(
        &mut store,
        vec![
            from("192.0.2.1/32", 22, 4, 2),
            from("192.0.2.3/32", 22, 1, 2),
            from("192.0.2.4/32", 22, 2, 3),
            from("2001:db8:1:2::5/128", 22, 1, 3),
        ],
    );
    assert_eq!(
        listed(&store),
        [
            ("192.0.2.0/24".to_string(), 22, 3),
            ("192.0.2.1/32".to_string(), 22, 5),
            ("192.0.2.2/32".to_string(), 22, 1),
            ("2001:db8:1:2::/64".to_string(), 22, 1),
        ]
    );
    assert_eq!(store.sources_folded().unwrap(), 3);
    // The count survives a reopen.
    drop(store);
    assert_eq!(open(dir.path()).sources_folded().unwrap(), 3);
}

#[test]
fn retention_forgets_sources_last_seen_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    record_sources(
        &mut store,
        vec![
            from("192.0.2.1/32", 22, 1, 5),
            from("192.0.2.2/32", 22, 1, 50),
        ],
    );
    assert_eq!(store.forget_sources_before(t(10)).unwrap(), 1);
    assert_eq!(listed(&store), [("192.0.2.2/32".to_string(), 22, 1)]);
    assert_eq!(store.forget_sources_before(t(10)).unwrap(), 0);
}

/// A batch of `connections` new connections to `key`, the last at `at`.
fn used(key: PortKey, connections: u64, at: Timestamp) -> WriteBatch {
    WriteBatch {
        usage: vec![UsageUpdate {
            last_access: Some(at),
            connections,
            ..UsageUpdate::seen(key, at)
        }],
        ..WriteBatch::default()
    }
}

/// `t(minutes)`'s hour since the epoch. `t(0)` is 12:00, an hour's start.
fn hour(minutes: i64) -> i64 {
    hour_of(t(minutes))
}

#[test]
fn hours_add_up_across_batches_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    store.write(&used(tcp(22), 2, t(5))).unwrap();
    store.write(&used(tcp(22), 3, t(59))).unwrap();
    store.write(&used(tcp(22), 1, t(60))).unwrap();
    drop(store);
    let mut store = open(dir.path());
    store.write(&used(tcp(22), 4, t(70))).unwrap();
    let hours = store.port_hours(None).unwrap();
    assert_eq!(hours.len(), 1);
    assert_eq!(hours[0].key, tcp(22));
    assert_eq!(hours[0].first_seen, t(5));
    assert_eq!(hours[0].counts, [(hour(0), 5), (hour(60), 5)]);
    // The hours add up to the port's total.
    assert_eq!(store.usage().unwrap()[0].usage.connections, 10);
}

#[test]
fn hours_list_every_port_by_port_then_protocol_from_a_given_hour() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let dns = PortKey::new(Proto::Udp, 53);
    // Seen listening, never used: listed, with no hours.
    store
        .write(&WriteBatch {
            usage: vec![UsageUpdate::seen(tcp(8080), t(0))],
            ..WriteBatch::default()
        })
        .unwrap();
    store.write(&used(tcp(443), 1, t(0))).unwrap();
    store.write(&used(dns, 7, t(120))).unwrap();
    store
        .write(&used(PortKey::new(Proto::Tcp, 53), 1, t(0)))
        .unwrap();
    // No last access: the update counts in the hour it was seen.
    store
        .write(&WriteBatch {
            usage: vec![UsageUpdate {
                connections: 2,
                ..UsageUpdate::seen(tcp(443), t(185))
            }],
            ..WriteBatch::default()
        })
        .unwrap();
    let all: Vec<(PortKey, Vec<(i64, u64)>)> = store
        .port_hours(None)
        .unwrap()
        .into_iter()
        .map(|h| (h.key, h.counts))
        .collect();
    assert_eq!(
        all,
        [
            (PortKey::new(Proto::Tcp, 53), vec![(hour(0), 1)]),
            (dns, vec![(hour(120), 7)]),
            (tcp(443), vec![(hour(0), 1), (hour(180), 2)]),
            (tcp(8080), vec![]),
        ]
    );
    let since: Vec<usize> = store
        .port_hours(Some(hour(120)))
        .unwrap()
        .iter()
        .map(|h| h.counts.len())
        .collect();
    assert_eq!(since, [0, 1, 1, 0], "every port, only the later hours");
}

#[test]
fn retention_forgets_only_the_hours_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    for (port, minutes) in [(22, 0), (22, 60), (22, 120), (443, 60)] {
        store.write(&used(tcp(port), 1, t(minutes))).unwrap();
    }
    assert_eq!(store.forget_hours_before(hour(60)).unwrap(), 1);
    let left: Vec<(u16, Vec<(i64, u64)>)> = store
        .port_hours(None)
        .unwrap()
        .into_iter()
        .map(|h| (h.key.port, h.counts))
        .collect();
    assert_eq!(
        left,
        [
            (22, vec![(hour(60), 1), (hour(120), 1)]),
            (443, vec![(hour(60), 1)]),
        ]
    );
    assert_eq!(store.forget_hours_before(hour(60)).unwrap(), 0);
    // The ports' totals and first sightings stay.
    assert_eq!(store.usage().unwrap()[0].usage.connections, 3);
    assert_eq!(store.port_hours(None).unwrap()[0].first_seen, t(0));
}
