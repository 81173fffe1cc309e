#!/usr/bin/env python3
"""Helper of bench/detect.sh (run by it, not by hand).

Subcommands:

  wire PCAP HOST SCANNER BLOCKED-AT
      Reads one scan's capture (taken on the host's side of the scanner's
      link) with tcpdump and prints one JSON line: the host's answers to the
      scanner (TCP resets and SYN-ACKs, ICMP unreachables), the scanner's
      probes (TCP packets with neither ACK nor RST, UDP datagrams), the first
      probe's time, and, when BLOCKED-AT (epoch seconds, or "-") is given,
      the seconds from the first probe to the block and how many probes
      arrived up to and including the blocking one.
  blocked-at SET-LISTING SCANNER TTL-SECONDS LISTED-AT
      From `nft list set` output taken at LISTED-AT (epoch seconds), the
      moment SCANNER entered the set: LISTED-AT - (TTL - expires). Prints
      "-" when SCANNER is not in the set.
  offline PORTREEVE PCAP SCANNER DETECTOR
      Runs `portreeve detect --pcap PCAP --detector DETECTOR --format json`
      and prints one JSON line: the scanner's attempts before the decision
      (null if it was not detected) and every other source flagged.
  serve ADDRESS PORT PROCS
      PROCS processes accept and close connections on ADDRESS:PORT
      (SO_REUSEPORT) until killed.
  load ADDRESS PORT PROCS SECONDS
      PROCS processes each open and close (with a reset, so no TIME_WAIT)
      connections to ADDRESS:PORT in a loop for SECONDS; prints the
      connections per second they completed together, and the failures.
  benign ADDRESS PORT WRONG-PORT STOP-FILE
      A benign client: connects to ADDRESS:PORT every 0.2 s, and once to
      WRONG-PORT (a mistyped port), until STOP-FILE exists; prints one JSON
      line with what it saw.
  summary RESULTS-JSONL N
      The report table from the lines the other subcommands printed.
"""
import json
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import time

ANSWERS = "(tcp and tcp[tcpflags] & (tcp-rst|tcp-syn) != 0) or (icmp and icmp[icmptype] == icmp-unreach)"
PROBES = "(tcp and tcp[tcpflags] & (tcp-ack|tcp-rst) == 0) or udp"


def lines(pcap, flt):
    out = subprocess.run(
        ["tcpdump", "-r", pcap, "-tt", "-n", flt],
        capture_output=True, text=True, check=True,
    ).stdout
    return [line for line in out.splitlines() if line]


PORTS = re.compile(r" IP \S+?\.(\d+) > \S+?\.(\d+):")
UNREACHABLE = re.compile(r"udp port (\d+) unreachable")


def wire(pcap, host, scanner, blocked_at):
    """The answers, the probes, and the block two ways. From the wire: with
    reject every probe that gets through to a closed port is answered, so
    the probe right after the last answered one (matched by ports) is taken
    as the blocking one; banned ports are dropped unanswered but counted,
    so when one falls there the wire places the block a probe or two early.
    From the set: BLOCKED-AT, good to a few milliseconds."""
    answers = lines(pcap, f"src host {host} and dst host {scanner} and ({ANSWERS})")
    probes = lines(pcap, f"src host {scanner} and dst host {host} and ({PROBES})")
    answered = set()
    for a in answers:
        if m := UNREACHABLE.search(a):
            answered.add(("udp", m.group(1)))
        elif m := PORTS.search(a):
            answered.add(("tcp", m.group(2), m.group(1)))
    ts = [float(p.split()[0]) for p in probes]
    rec = {"answers": len(answers), "probes": len(probes)}
    last = None
    for i, p in enumerate(probes):
        m = PORTS.search(p)
        key = ("tcp", m.group(1), m.group(2)) if "Flags [" in p else ("udp", m.group(2))
        if key in answered:
            last = i
    if last is not None and last + 1 < len(probes):
        rec["wire_probes_to_block"] = last + 2
        rec["wire_to_block_s"] = ts[last + 1] - ts[0]
    if blocked_at != "-" and probes:
        at = float(blocked_at)
        rec["set_to_block_s"] = at - ts[0]
        # The set's timeout runs in jiffies: allow 5 ms either way.
        rec["set_probes_to_block"] = sum(1 for t in ts if t <= at + 0.005)
    print(json.dumps(rec))


def parse_duration(text):
    total = 0.0
    for value, unit in re.findall(r"(\d+)(ms|h|m|s|d)", text):
        total += int(value) * {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


def blocked_at(listing, scanner, ttl, listed_at):
    with open(listing, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"(?:^|[\s{,])" + re.escape(scanner) + r" expires ([0-9hmsd]+)", text)
    if not m:
        print("-")
        return
    print(f"{float(listed_at) - (float(ttl) - parse_duration(m.group(1))):.6f}")


def offline(portreeve, pcap, scanner, detector):
    out = subprocess.run(
        [portreeve, "-q", "detect", "--pcap", pcap, "--detector", detector, "--format", "json"],
        capture_output=True, text=True,
    )
    if out.returncode not in (0, 1):
        sys.exit(f"portreeve detect failed ({out.returncode}): {out.stderr}")
    doc = json.loads(out.stdout)
    attempts, others = None, []
    for d in doc["detections"]:
        if d["source"] == scanner:
            attempts = d["attempts_before_decision"]
        else:
            others.append(d["source"])
    print(json.dumps({"attempts": attempts, "others": others}))


def fork(procs, work):
    """Runs work(i, pipe) in PROCS children; returns their output lines."""
    pipes = []
    for i in range(procs):
        r, w = os.pipe()
        if os.fork() == 0:
            os.close(r)
            try:
                work(i, w)
            finally:
                os._exit(0)
        os.close(w)
        pipes.append(r)
    lines = []
    for r in pipes:
        with os.fdopen(r) as f:
            lines.append(f.read())
    for _ in pipes:
        os.wait()
    return lines


def serve(address, port, procs):
    def work(_, w):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind((address, port))
        s.listen(4096)
        while True:
            try:
                c, _ = s.accept()
                c.close()
            except OSError:
                pass

    fork(procs, work)


def load(address, port, procs, seconds):
    linger = struct.pack("ii", 1, 0)

    def work(_, w):
        done = failed = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            s.settimeout(1)
            try:
                s.connect((address, port))
                done += 1
            except OSError:
                failed += 1
            s.close()
        os.write(w, f"{done} {failed}".encode())

    lines = fork(procs, work)
    done = sum(int(x.split()[0]) for x in lines)
    failed = sum(int(x.split()[1]) for x in lines)
    print(json.dumps({"cps": done / seconds, "failed": failed}))


def benign(address, port, wrong, stop):
    ok = failed = 0
    mistyped = None
    start = time.monotonic()
    while not os.path.exists(stop):
        target = port
        if mistyped is None and time.monotonic() - start > 2:
            target = wrong
        s = socket.socket()
        s.settimeout(1)
        try:
            s.connect((address, target))
            if target == port:
                ok += 1
            else:
                mistyped = "connected"
        except ConnectionRefusedError:
            if target == port:
                failed += 1
            else:
                mistyped = "refused"
        except OSError:
            if target == port:
                failed += 1
            else:
                mistyped = "no answer"
        s.close()
        time.sleep(0.2)
    print(json.dumps({"connected": ok, "failed": failed, "mistyped": mistyped}))


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec="{:g}"):
    return "-" if v is None else spec.format(v)


def summary(path, n):
    with open(path, encoding="utf-8") as f:
        recs = [json.loads(line) for line in f if line.strip()]
    kernel = [r for r in recs if r["phase"] == "kernel"]
    offl = [r for r in recs if r["phase"] == "offline"]
    order = []
    for r in kernel + offl:
        if r["scan"] not in order:
            order.append(r["scan"])
    verdicts = []
    print(f"\n== kernel tier (scan = \"block\"), median over {n} runs; the block from the wire"
          " (the probe after the last answer) / from the set's expires")
    print(f"{'scan':<32} {'answered':>8} {'(each run)':>10} {'probes to block':>16} "
          f"{'first probe to block':>24} {'blocked':>7}")
    for scan in order:
        runs = [r for r in kernel if r["scan"] == scan]
        if not runs:
            continue
        m = {k: median([r.get(k) for r in runs]) for k in (
            "answers", "wire_probes_to_block", "set_probes_to_block", "wire_to_block_s", "set_to_block_s")}
        ms = lambda v: None if v is None else v * 1000
        blocked = sum(1 for r in runs if r.get("set_to_block_s") is not None)
        print(
            f"{runs[0]['label']:<32} {fmt(m['answers']):>8} {','.join(str(r['answers']) for r in runs):>10} "
            f"{fmt(m['wire_probes_to_block']):>7} / {fmt(m['set_probes_to_block']):<6} "
            f"{fmt(ms(m['wire_to_block_s']), '{:.1f}'):>9} / {fmt(ms(m['set_to_block_s']), '{:.1f}'):<7} ms "
            f"{blocked}/{len(runs)}"
        )
        if scan == "T2":
            ptb = max((v for v in (m["wire_probes_to_block"], m["set_probes_to_block"]) if v is not None),
                      default=None)
            verdicts.append((f"a -T2 scan is blocked before its 20th probe ({runs[0]['label']}: probe {fmt(ptb)})",
                             blocked == len(runs) and ptb is not None and ptb < 20))
        else:
            verdicts.append((f"a fast scan is answered at most 4 times ({runs[0]['label']}: {fmt(m['answers'])},"
                             f" blocked in {blocked}/{len(runs)} runs)",
                             blocked == len(runs) and m["answers"] <= 4))
    print("\n== offline, `portreeve detect --pcap` on the same scans recorded with scan = \"off\": attempts before the decision")
    print(f"{'scan':<34} {'trw':>6} {'zeek-like':>10} {'crowdsec-like':>14} {'zeek/trw':>9} {'crowdsec/trw':>13}")
    false_flags = set()
    for scan in order:
        runs = {r["detector"]: r for r in offl if r["scan"] == scan}
        if not runs:
            continue
        for r in runs.values():
            false_flags.update(r["others"])
        a = {d: runs.get(d, {}).get("attempts") for d in ("trw", "zeek-like", "crowdsec-like")}
        ratio = lambda d: None if not a["trw"] or a[d] is None else a[d] / a["trw"]
        label = next(iter(runs.values()))["label"]
        print(
            f"{label:<34} {fmt(a['trw']):>6} {fmt(a['zeek-like']):>10} {fmt(a['crowdsec-like']):>14} "
            f"{fmt(ratio('zeek-like'), '{:.1f}x'):>9} {fmt(ratio('crowdsec-like'), '{:.1f}x'):>13}"
        )
    print("   (- : not decided in the recording)")
    benign_recs = [r for r in recs if r["phase"] == "benign"]
    for b in benign_recs:
        print(f"\n== benign client {b['address']}: {b['connected']} connections, {b['failed']} failed; "
              f"mistyped port: {b['mistyped']}; in a blocked set: {b['in_set']}")
        verdicts.append(("no benign client is ever blocked", b["failed"] == 0 and not b["in_set"]
                         and b["mistyped"] == "refused"))
    if false_flags:
        print(f"offline: other sources flagged: {sorted(false_flags)}")
    tput = [r for r in recs if r["phase"] == "throughput"]
    if tput:
        off = median([r["cps"] for r in tput if r["detection"] == "off"])
        on = median([r["cps"] for r in tput if r["detection"] == "block"])
        failed = sum(r["failed"] for r in tput)
        print(f"\n== new connections/s through the ruleset ({len(tput) // 2} rounds each, alternating; median)")
        for r in tput:
            print(f"   round {r['round']}: detection {r['detection']:<5} {r['cps']:>9.0f} conn/s  ({r['failed']} failed)")
        ratio = on / off
        print(f"   off {off:.0f} conn/s, on {on:.0f} conn/s: on/off = {ratio:.3f}")
        verdicts.append((f"throughput with detection on >= 0.95 x off ({ratio:.3f})", ratio >= 0.95 and failed == 0))
    print("\n== targets (issue 16)")
    for text, ok in verdicts:
        print(f"   {'PASS' if ok else 'MISS'}  {text}")
    return 0 if all(ok for _, ok in verdicts) else 3


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "wire":
        wire(*args)
    elif cmd == "blocked-at":
        blocked_at(*args)
    elif cmd == "offline":
        offline(*args)
    elif cmd == "serve":
        serve(args[0], int(args[1]), int(args[2]))
    elif cmd == "load":
        load(args[0], int(args[1]), int(args[2]), float(args[3]))
    elif cmd == "benign":
        benign(args[0], int(args[1]), int(args[2]), args[3])
    elif cmd == "summary":
        sys.exit(summary(args[0], int(args[1])))
    else:
        sys.exit(f"unknown subcommand {cmd}")


if __name__ == "__main__":
    main()
