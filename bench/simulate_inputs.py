#!/usr/bin/env python3
"""Inputs of bench/simulate.sh, written to the directory named by argv[1]:

current.toml    RULES rules (default 10,000), each one port (20000 + i, tcp
                or udp in turn: no built-in ban lies there) for two of 200
                zones; a zone holds an IPv4 /16, an IPv4 /24 and an IPv6 /48.
candidate.toml  the same, with every 10th rule narrowed to its first zone,
                every 50th removed and one new rule (port 30000).
usage.jsonl     PAIRS lines (default 1,000,000) of recorded use, as
                `usage --by-source --format json` lists it: a random rule's
                port and protocol (1 %: the candidate's new port), from a
                /32 or /128 in one of its zones (85 %), a /24 or /64 folded
                there past the agent's bound (5 %), or from outside every
                zone (10 %).

Seeded, so every run replays the same inputs.
"""

import os
import random
import sys

ZONES = 200


def zone_networks(z):
    return [f"10.{z}.0.0/16", f"172.16.{z}.0/24", f"2001:db8:{z:x}::/48"]


def rule(i, zones, port=None, proto=None):
    port = port or 20000 + i
    proto = proto or ("tcp" if i % 2 == 0 else "udp")
    names = ", ".join(f'"z{z}"' for z in zones)
    return f'[[rule]]\nname = "r{i}"\nport = {port}\nprotocol = "{proto}"\nzones = [{names}]\n'


def rule_zones(i):
    return [i % ZONES, (i * 7 + 3) % ZONES]


def policy(rules, candidate):
    out = ["[zones]\n"]
    out += [f"z{z} = {zone_networks(z)!r}\n".replace("'", '"') for z in range(ZONES)]
    for i in range(rules):
        zones = rule_zones(i)
        if candidate and i % 50 == 49:
            continue
        if candidate and i % 10 == 9:
            zones = zones[:1]
        out.append(rule(i, zones))
    if candidate:
        out.append(rule(rules, [0], port=30000, proto="tcp"))
    return "".join(out)


def source(rng, zone):
    kind = rng.random()
    if kind < 0.10:
        # Outside every zone.
        if rng.random() < 0.8:
            return f"198.51.{rng.randrange(256)}.{rng.randrange(256)}/32"
        return f"2001:db9::{rng.randrange(65536):x}/128"
    folded = kind < 0.15
    family = rng.randrange(3)
    if family == 0:
        if folded:
            return f"10.{zone}.{rng.randrange(256)}.0/24"
        return f"10.{zone}.{rng.randrange(256)}.{rng.randrange(256)}/32"
    if family == 1:
        if folded:
            return f"172.16.{zone}.0/24"
        return f"172.16.{zone}.{rng.randrange(256)}/32"
    if folded:
        return f"2001:db8:{zone:x}:{rng.randrange(65536):x}::/64"
    return f"2001:db8:{zone:x}:{rng.randrange(65536):x}::{rng.randrange(65536):x}/128"


def main():
    out, rules, pairs = sys.argv[1], int(os.environ.get("RULES", 10000)), int(os.environ.get("PAIRS", 1000000))
    rng = random.Random(18)
    with open(os.path.join(out, "current.toml"), "w") as f:
        f.write(policy(rules, candidate=False))
    with open(os.path.join(out, "candidate.toml"), "w") as f:
        f.write(policy(rules, candidate=True))
    with open(os.path.join(out, "usage.jsonl"), "w") as f:
        for _ in range(pairs):
            i = rng.randrange(rules)
            zone = rng.choice(rule_zones(i))
            port, proto = 20000 + i, "tcp" if i % 2 == 0 else "udp"
            if rng.random() < 0.01:
                # The candidate's new rule: used already, so newly opened.
                zone, port, proto = 0, 30000, "tcp"
            day = rng.randrange(1, 29)
            f.write(
                f'{{"source":"{source(rng, zone)}","protocol":"{proto}","port":{port},'
                f'"connections":{rng.randrange(1, 5000)},"first_seen":"2026-10-{day:02d}T00:00:00Z",'
                f'"last_seen":"2026-11-{day:02d}T12:00:00Z"}}\n'
            )


main()
