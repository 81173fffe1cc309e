//! ctnetlink events from the real kernel: a client namespace connects to a
//! server namespace (over a veth pair the test creates), and the
//! subscription in the server namespace reports each new connection with
//! its source and port. Nothing leaves the namespaces.

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use portreeve_agent::conntrack::{Events, NewConnection};
use portreeve_core::Proto;
use portreeve_testkit::{Netns, privileged, run};

#[test]
fn new_connections_are_reported_with_source_and_port() {
    if !privileged(
        "new_connections_are_reported_with_source_and_port",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let (srv, client) = (Netns::bare(), Netns::bare());
    srv.link(&client, "10.31.0.1/24", "10.31.0.2/24");
    // Conntrack tracks a namespace's flows once a stateful rule exists there.
    let nft = run(srv.exec("nft").args([
        "add table inet t; add chain inet t c { type filter hook input priority 0; }; add rule inet t c ct state new counter",
    ]));
    assert!(
        nft.status.success(),
        "{}",
        String::from_utf8_lossy(&nft.stderr)
    );
    let _listeners = srv.listen(&["tcp4:0.0.0.0:8080", "udp4:0.0.0.0:5353"], 0);

    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let seen = std::thread::scope(|scope| {
        let listening = scope.spawn(|| {
            srv.run(|| {
                let mut events = Events::subscribe().expect("subscribe (CAP_NET_ADMIN)");
                ready_tx.send(()).unwrap();
                let mut seen: Vec<NewConnection> = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(5);
                while seen.len() < 2 && Instant::now() < deadline {
                    seen.extend(events.next_batch().unwrap());
                }
                seen
            })
        });
        ready_rx.recv().unwrap();
        client.run(|| {
            let tcp: SocketAddr = "10.31.0.1:8080".parse().unwrap();
            TcpStream::connect_timeout(&tcp, Duration::from_secs(2)).unwrap();
            let udp = UdpSocket::bind("10.31.0.2:0").unwrap();
            udp.send_to(b"x", "10.31.0.1:5353").unwrap();
        });
        listening.join().unwrap()
    });
    let client_addr: std::net::IpAddr = "10.31.0.2".parse().unwrap();
    assert!(
        seen.iter()
            .any(|c| c.protocol == Proto::Tcp && c.port == 8080 && c.source == client_addr),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|c| c.protocol == Proto::Udp && c.port == 5353 && c.source == client_addr),
        "{seen:?}"
    );
}
