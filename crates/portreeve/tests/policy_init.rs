//! `portreeve policy init` in a namespace of its own: the starter's private
//! zone is the networks the namespace is connected to, and the starter
//! carries `[enforce]`, `[lifecycle]` and `[change_control]` with their
//! defaults as comments, and still validates.

mod support;

use support::{Home, Netns, RunPortreeve, assert_ok, privileged};

#[test]
fn the_starter_private_zone_is_the_connected_networks_and_it_validates() {
    if !privileged("the_starter_private_zone_is_the_connected_networks_and_it_validates") {
        return;
    }
    let ns = Netns::bare();
    ns.ip(&["link", "add", "c0", "type", "veth", "peer", "name", "c1"]);
    ns.ip(&["addr", "add", "10.81.0.1/24", "dev", "c0"]);
    ns.ip(&["addr", "add", "fd81::1/64", "dev", "c0", "nodad"]);
    ns.ip(&["link", "set", "c1", "up"]);
    ns.ip(&["link", "set", "c0", "up"]);
    // An interface that is down connects the host to nothing.
    ns.ip(&["link", "add", "c2", "type", "veth", "peer", "name", "c3"]);
    ns.ip(&["addr", "add", "10.82.0.1/24", "dev", "c2"]);

    let home = Home::new();
    let starter = home.path().join("starter.toml");
    let file = starter.to_str().unwrap();
    assert_ok(&ns.portreeve(&["policy", "init", "--output", file]));
    let text = std::fs::read_to_string(&starter).unwrap();

    let private: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("private = "))
        .collect();
    assert_eq!(
        private,
        [r#"private = ["10.81.0.0/24", "fd81::/64"]"#],
        "{text}"
    );
    for section in ["[enforce]", "[lifecycle]", "[change_control]"] {
        assert!(text.lines().any(|l| l == section), "no {section}: {text}");
    }
    for default in [
        r#"# default_action = "drop""#,
        r#"# dormant_after = "72h""#,
        "# required = false",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(default)),
            "no {default}: {text}"
        );
    }

    let validated = ns.portreeve(&["policy", "validate", file]);
    assert_ok(&validated);
}
