#!/usr/bin/env python3
"""Writes the inputs of bench/enforce.sh: a portreeve policy allowing PAIRS
distinct (CIDR, TCP port) pairs that do not aggregate, and the equivalent
linear iptables-restore ruleset, in the same order.

Zones z0..z99 each hold PAIRS/100 networks 10.<zone>.<2k>.0/24 (every other
/24, so no two networks merge into a shorter prefix); rule r<zone> allows TCP
port 10000+<zone> from zone z<zone>. With --only-last, only the last pair is
written (the one-pair control policy, with the same client network).

Prints, as shell assignments, the last pair in iptables order (the one the
benchmark's client is given, the worst case for the linear ruleset):
LAST_NET=10.99.198 LAST_PORT=10099 PAIRS=10000
"""

import argparse
import sys

ZONES = 100
BASE_PORT = 10000


def pairs(total):
    """(zone, network, port) in iptables order."""
    per_zone = total // ZONES
    return [
        (zone, f"10.{zone}.{2 * k}.0/24", BASE_PORT + zone)
        for zone in range(ZONES)
        for k in range(per_zone)
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, required=True)
    ap.add_argument("--policy", required=True, help="portreeve policy (TOML) to write")
    ap.add_argument("--iptables", help="iptables-restore file to write")
    ap.add_argument("--only-last", action="store_true", help="write only the last pair")
    args = ap.parse_args()

    n = args.pairs
    if n % ZONES or not ZONES <= n <= ZONES * 128:
        sys.exit(f"--pairs must be a multiple of {ZONES} between {ZONES} and {ZONES * 128}")
    ps = pairs(n)
    if args.only_last:
        ps = ps[-1:]

    zones = {}
    for zone, net, _ in ps:
        zones.setdefault(zone, []).append(net)
    with open(args.policy, "w") as f:
        f.write(f"# bench/enforce.sh: {len(ps)} (CIDR, port) pairs that do not aggregate\n")
        f.write("version = 1\n\n[enforce]\nlog_dropped = false\n\n[zones]\n")
        for zone, nets in zones.items():
            quoted = ", ".join('"' + net + '"' for net in nets)
            f.write(f"z{zone} = [{quoted}]\n")
        for zone in zones:
            f.write(
                f'\n[[rule]]\nname = "r{zone}"\nport = {BASE_PORT + zone}\n'
                f'protocol = "tcp"\nzones = ["z{zone}"]\n'
            )

    if args.iptables:
        with open(args.iptables, "w") as f:
            f.write("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
            f.write("-A INPUT -i lo -j ACCEPT\n")
            f.write("-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n")
            for _, net, port in ps:
                f.write(f"-A INPUT -s {net} -p tcp -m tcp --dport {port} -j ACCEPT\n")
            f.write("-A INPUT -j DROP\nCOMMIT\n")

    _, net, port = ps[-1]
    print(f"LAST_NET={net.rsplit('.', 1)[0]} LAST_PORT={port} PAIRS={len(ps)}")


if __name__ == "__main__":
    main()
