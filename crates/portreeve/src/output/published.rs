//! The "published by DNAT" section of `inventory`, `check` and `plan`:
//! ports a DNAT rule sends on to a container or another host, which no
//! local socket shows.

use crate::output::escape::one_line;
use portreeve_enforce::Ruleset;
use portreeve_enforce::published::PublishedPort;

/// One line per published port, under a heading; with `ruleset`, each says
/// what that policy does to it. Empty when nothing is published.
pub fn section(ports: &[PublishedPort], ruleset: Option<&Ruleset>) -> String {
    if ports.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\nPorts published by DNAT (forwarded, so no local socket shows them; portreeve's forward chain judges them):\n",
    );
    for p in ports {
        // Table, chain and container names come from other programs.
        out.push_str(&format!("  {}", one_line(&p.describe())));
        if let Some(r) = ruleset {
            out.push_str(&format!(
                " — {}",
                r.published_judgement(p.protocol, p.ports)
            ));
        }
        out.push('\n');
    }
    out
}
