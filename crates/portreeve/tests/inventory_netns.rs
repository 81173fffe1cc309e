//! `portreeve inventory --netns NAME`: only the named namespaces' sockets,
//! and a usage error for a name no namespace has.

mod support;

use serde_json::Value;
use support::{Netns, assert_exit, assert_ok, portreeve, privileged, run, stdout};

/// `inventory --format json` with one `--netns` per name.
fn inventory_of(names: &[&str]) -> Value {
    let mut cmd = portreeve();
    cmd.args(["inventory", "--format", "json"]);
    for name in names {
        cmd.args(["--netns", name]);
    }
    let out = run(&mut cmd);
    assert_ok(&out);
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// The (namespace name, port) of every socket in an inventory document.
fn sockets(doc: &Value) -> Vec<(String, u64)> {
    doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["netns"]["name"].as_str().unwrap_or_default().to_string(),
                s["port"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn netns_lists_only_the_named_namespaces() {
    if !privileged("netns_lists_only_the_named_namespaces") {
        return;
    }
    let (blue, red) = (Netns::bare(), Netns::bare());
    let _blue = blue.listen(&["tcp4:127.0.0.1:7101"], 0);
    let _red = red.listen(&["udp4:127.0.0.1:7102"], 0);

    let doc = inventory_of(&[&blue.name]);
    assert_eq!(sockets(&doc), [(blue.name.clone(), 7101)], "{doc:#}");
    let namespaces: Vec<&str> = doc["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces, [blue.name.as_str()]);

    let both = sockets(&inventory_of(&[&red.name, &blue.name]));
    assert!(
        both.contains(&(blue.name.clone(), 7101)) && both.contains(&(red.name.clone(), 7102)),
        "{both:?}"
    );
    assert_eq!(both.len(), 2, "{both:?}");

    let unknown = format!("{}-gone", blue.name);
    let out = run(portreeve().args(["inventory", "--netns", &unknown]));
    assert_exit(
        &out,
        2,
        &format!("no network namespace is named `{unknown}`"),
    );
    assert_exit(&out, 2, &blue.name);
}
