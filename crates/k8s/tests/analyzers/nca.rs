//! IBM's network-config-analyzer, run on one case's manifests, and its
//! `txt_no_fw_rules` answer read into [`Fact`]s.
//!
//! That format lists, one line per pair of peers and group of
//! connections, `SOURCE => DESTINATION : CONNECTIONS`, where a peer is
//! `namespace/name[Kind]` (with `--output_endpoints deployments`, a
//! workload's pods under its name) or outside addresses as ranges
//! `first-last`, and CONNECTIONS is `All connections`, a list of cubes
//! `{protocols:TCP, UDP,dst_ports:80,8000-8080}` or `All but` such a list.
//! It leaves out a peer's connections to itself.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::facts::{AddressRange, FIRST_PORT, Fact, PROTOCOLS, Party, protocol};

/// The Python of the venv scripts/nca.sh makes, unless
/// `PORTREEVE_NCA_PYTHON` names another.
pub fn python() -> PathBuf {
    std::env::var_os("PORTREEVE_NCA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/portreeve/nca/bin/python")
        })
}

/// NCA's connectivity answer for the manifests in `case` (a directory).
///
/// NCA falls back to `kubectl` (a live cluster) for whatever its input
/// lacks: it runs with an empty environment whose PATH is the venv alone
/// and whose HOME is `scratch`, so no kubeconfig or kubectl can be found
/// and only the local files are read.
pub fn connectivity(python: &Path, case: &Path, scratch: &Path) -> Vec<Fact> {
    let venv_bin = python.parent().expect("the venv's bin directory");
    let output = Command::new(python)
        .args(["-m", "nca", "--connectivity", "--resource_list"])
        .arg(case)
        .args([
            "--output_format",
            "txt_no_fw_rules",
            "--output_endpoints",
            "deployments",
            "--print_ipv6",
        ])
        .env_clear()
        .env("PATH", venv_bin)
        .env("HOME", scratch)
        .current_dir(scratch)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "NCA failed on {} ({}):\n{stdout}\n{stderr}",
        case.display(),
        output.status
    );
    assert!(
        !stdout.contains("-livesim"),
        "NCA added simulated pods (livesim) to {}; keep such selectors out of the corpus:\n{stdout}",
        case.display()
    );
    parse(&stdout)
}

/// The facts in NCA's `txt_no_fw_rules` output (other lines are NCA's
/// notes: warnings, endpoint counts, run time).
pub fn parse(output: &str) -> Vec<Fact> {
    let mut facts = Vec::new();
    for line in output.lines() {
        let Some((peers, connections)) = line.split_once(" : ") else {
            continue;
        };
        let Some((from, to)) = peers.split_once(" => ") else {
            continue;
        };
        let allowed =
            connections_of(connections).unwrap_or_else(|why| panic!("NCA line {line:?}: {why}"));
        for from in parties(from) {
            for to in parties(to) {
                for (protocol, ports) in PROTOCOLS.iter().zip(&allowed) {
                    if !ports.is_empty() {
                        facts.push(Fact {
                            from: from.clone(),
                            to: to.clone(),
                            protocol,
                            ports: ports.clone(),
                        });
                    }
                }
            }
        }
    }
    facts
}

/// The parties one side of a line names: a pod, or address ranges,
/// single addresses or CIDRs separated by commas.
fn parties(text: &str) -> Vec<Party> {
    if let Some(name) = text.strip_suffix(']') {
        let (id, _kind) = name
            .rsplit_once('[')
            .unwrap_or_else(|| panic!("NCA peer {text:?}"));
        return vec![Party::Pod(id.to_owned())];
    }
    text.split(',')
        .map(|item| Party::Outside(range_of(item)))
        .collect()
}

fn range_of(text: &str) -> AddressRange {
    let address = |s: &str| -> IpAddr {
        s.trim()
            .parse()
            .unwrap_or_else(|e| panic!("NCA address {s:?}: {e}"))
    };
    if let Some((first, last)) = text.split_once('-') {
        return AddressRange::new(address(first), address(last));
    }
    if let Ok(single) = text.trim().parse::<IpAddr>() {
        return AddressRange::new(single, single);
    }
    let net: ipnet::IpNet = text
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("NCA address block {text:?}: {e}"));
    AddressRange::new(net.network(), net.broadcast())
}

/// The allowed ports per protocol (in [`PROTOCOLS`] order) that a
/// connections text says.
fn connections_of(text: &str) -> Result<[Vec<(u16, u16)>; 3], String> {
    let all = || [0, 1, 2].map(|_| vec![(FIRST_PORT, u16::MAX)]);
    let text = text.trim();
    if text == "All connections" {
        return Ok(all());
    }
    if text == "No connections" {
        return Ok([0, 1, 2].map(|_| Vec::new()));
    }
    let (negated, cubes) = match text.strip_prefix("All but ") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut listed: [Vec<(u16, u16)>; 3] = Default::default();
    for body in cubes_of(cubes)? {
        let cube = cube_of(body)?;
        for (i, p) in PROTOCOLS.iter().enumerate() {
            if cube.protocols.contains(p) {
                listed[i].extend(cube.ports.iter().copied());
            }
        }
    }
    let listed = listed.map(normalise);
    Ok(if negated {
        listed.map(|ports| complement(&ports))
    } else {
        listed
    })
}

/// `{…},{…}` into the bodies of its cubes.
fn cubes_of(text: &str) -> Result<Vec<&str>, String> {
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| format!("connections {text:?} are not cubes in braces"))?;
    Ok(inner.split("},{").collect())
}

/// One cube of connections: these ports on each of these protocols.
struct Cube {
    /// Those of [`PROTOCOLS`] it holds.
    protocols: Vec<&'static str>,
    /// Its destination ports.
    ports: Vec<(u16, u16)>,
}

/// The cube whose body (between braces) is `body`. A dimension left out
/// of a cube is whole: every protocol, or every port.
fn cube_of(body: &str) -> Result<Cube, String> {
    let mut fields: Vec<(&str, Vec<&str>)> = Vec::new();
    for token in body.split(',') {
        match token.split_once(':') {
            Some((key, value)) => fields.push((key.trim(), vec![value])),
            None => fields
                .last_mut()
                .ok_or_else(|| format!("cube {body:?} starts without a key"))?
                .1
                .push(token),
        }
    }
    let mut protocols = PROTOCOLS.to_vec();
    let mut ports = vec![(FIRST_PORT, u16::MAX)];
    for (key, values) in fields {
        match key {
            "protocols" => protocols = protocols_of(&values)?,
            "dst_ports" => {
                ports = values
                    .iter()
                    .map(|v| port_range(v))
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("cube {body:?} has a dimension {other:?}")),
        }
    }
    Ok(Cube { protocols, ports })
}

/// `TCP, UDP` or `all but ICMP, TCP` as the protocols of the three it holds.
fn protocols_of(values: &[&str]) -> Result<Vec<&'static str>, String> {
    let mut names: Vec<&str> = values.iter().map(|v| v.trim()).collect();
    let negated = match names.first().and_then(|n| n.strip_prefix("all but ")) {
        Some(first) => {
            names[0] = first;
            true
        }
        None => false,
    };
    if names == ["*"] {
        return Ok(PROTOCOLS.to_vec());
    }
    let named: Vec<&'static str> = names.iter().filter_map(|n| protocol(n)).collect();
    Ok(PROTOCOLS
        .iter()
        .copied()
        .filter(|p| named.contains(p) != negated)
        .collect())
}

fn port_range(text: &str) -> Result<(u16, u16), String> {
    let number = |s: &str| {
        s.trim()
            .parse::<u16>()
            .map_err(|e| format!("port {s:?}: {e}"))
    };
    match text.split_once('-') {
        Some((first, last)) => Ok((number(first)?, number(last)?)),
        None => number(text).map(|p| (p, p)),
    }
}

/// Sorted, merged ranges.
fn normalise(mut ranges: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::new();
    for (first, last) in ranges {
        match merged.last_mut() {
            Some(prev) if u32::from(first) <= u32::from(prev.1) + 1 => prev.1 = prev.1.max(last),
            _ => merged.push((first, last)),
        }
    }
    merged
}

/// The ports from [`FIRST_PORT`] to 65535 that sorted, merged `ranges`
/// leave out.
fn complement(ranges: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let mut next = u32::from(FIRST_PORT);
    for &(first, last) in ranges {
        if u32::from(first) > next {
            out.push((next as u16, first - 1));
        }
        next = next.max(u32::from(last) + 1);
    }
    if next <= u32::from(u16::MAX) {
        out.push((next as u16, u16::MAX));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_form_of_connections() {
        let facts = parse(
            "Warning: something\n\
             ns/a[Pod] => ns/b[Deployment] : {protocols:TCP, UDP,dst_ports:80,8000-8080},{protocols:SCTP}\n\
             10.0.0.0-10.255.255.255 => ns/b[Deployment] : All but {protocols:TCP,dst_ports:2-65535},{protocols:all but TCP}\n\
             ns/a[Pod] => ::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff : All connections\n\
             10.1.2.3 => ns/a[Pod] : {protocols:UDP}\n",
        );
        let a = Party::Pod("ns/a".into());
        let b = Party::Pod("ns/b".into());
        let ten = Party::Outside(AddressRange::new(
            "10.1.2.3".parse().unwrap(),
            "10.1.2.3".parse().unwrap(),
        ));
        let v6 = Party::Outside(AddressRange::new(
            "::1".parse().unwrap(),
            "::1".parse().unwrap(),
        ));
        let allows = |from: &Party, to: &Party, protocol: &str, port: u16| {
            facts.iter().any(|f| f.allows(from, to, protocol, port))
        };
        assert!(allows(&a, &b, "TCP", 8080) && allows(&a, &b, "UDP", 80));
        assert!(!allows(&a, &b, "TCP", 8081) && allows(&a, &b, "SCTP", 9));
        assert!(allows(&ten, &b, "TCP", 1) && !allows(&ten, &b, "TCP", 2));
        assert!(!allows(&ten, &b, "UDP", 1) && !allows(&b, &a, "TCP", 1));
        assert!(allows(&a, &v6, "SCTP", 65535) && !allows(&a, &ten, "TCP", 80));
        assert!(allows(&ten, &a, "UDP", 7) && !allows(&ten, &a, "TCP", 7));
    }
}
