#!/usr/bin/env python3
"""Helper for bench/scan.sh (not meant to be run by hand).

  scan_report.py top FILE          the port list of a `portreeve scan --all
                                   --format json` document, comma-separated
  scan_report.py wake ADDRESS      send a UDP datagram and a TCP SYN to
                                   ADDRESS port 9 every 100 ms, forever
  scan_report.py report MANIFEST --expected CASE HOSTS PORTS ...
                                   the results table and the verdicts

`wake` exists for masscan 1.3.2: with libpcap 1.10 (TPACKET_V3) its receive
thread blocks in libpcap until a packet arrives, so on a silent network it
often never exits. A packet every 100 ms, from the target namespace to the
scanner's own address (answered by the scanner's kernel, never by masscan),
lets it exit when its --wait is over, as it does on any real network.

The manifest has one line per measured command, tab-separated:
    case  key  label  format  hyperfine-json  output-prefix  note
`format` is portreeve, nmap or masscan; every run (warm-up included) of the
command wrote its standard output to OUTPUT-PREFIX.<timestamp>. A command
that was not run has "-" as its hyperfine-json and the reason as its note.
"""
import glob
import ipaddress
import json
import re
import socket
import sys
import time

CASES = {
    "a": "(a) 65,535 ports, host answering RST",
    "b": "(b) 65,535 ports, default-drop firewall, 1 % loss each way",
    "c": "(c) top 1,000 ports of 250 hosts",
}
REFERENCE_KEY = "nmap-sT"
CHECKS_FAILED = 3  # not 1, which is also Python's status for an uncaught exception


def top(path):
    doc = json.load(open(path))
    ports = sorted({p["port"] for h in doc["hosts"] for p in h["ports"]})
    print(",".join(map(str, ports)))


def wake(address):
    while True:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, kind)
            s.setblocking(False)
            try:
                if kind == socket.SOCK_DGRAM:
                    s.sendto(b"x", (address, 9))
                else:
                    s.connect_ex((address, 9))
            except OSError:
                pass
            s.close()
        time.sleep(0.1)


def hosts(spec):
    """10.74.3.1-250 or a single address"""
    if "-" in spec:
        first, last = spec.rsplit("-", 1)
        base = ipaddress.IPv4Address(first)
        prefix = first.rsplit(".", 1)[0]
        return [f"{prefix}.{n}" for n in range(int(str(base).rsplit(".", 1)[1]), int(last) + 1)]
    return [spec]


def open_set(fmt, path):
    """{(address, port)} reported open by one run, or None if unreadable"""
    text = open(path, errors="replace").read()
    found = set()
    if fmt == "portreeve":
        try:
            doc = json.loads(text)
        except ValueError:
            return None
        for h in doc.get("hosts", []):
            for p in h.get("ports", []):
                if p.get("state") == "open":
                    found.add((h["address"], int(p["port"])))
        return found
    if fmt == "nmap":
        if "# Nmap done" not in text:
            return None
        for line in text.splitlines():
            m = re.match(r"Host: (\S+) .*?\tPorts: ([^\t]*)", line)
            if m:
                for port in re.findall(r"(?:^|, )(\d+)/open/tcp/", m[2]):
                    found.add((m[1], int(port)))
        return found
    if fmt == "masscan":
        if "# end" not in text:
            return None
        for line in text.splitlines():
            fields = line.split()
            if fields[:2] == ["open", "tcp"]:
                found.add((fields[3], int(fields[2])))
        return found
    raise SystemExit(f"unknown format {fmt}")


def last_error(prefix):
    """the last line a command wrote to standard error, if any"""
    try:
        lines = [l.strip() for l in re.split(r"[\r\n]", open(prefix + ".err", errors="replace").read())]
    except OSError:
        return ""
    lines = [l for l in lines if l and not l.startswith("rate:")]
    return f"; last error line: {lines[-1]}" if lines else ""


def fmt_time(row):
    if row["runs"] and row["failed"] == row["runs"]:
        return f"> {row['max']:.0f} (killed)" if row.get("killed") else "failed"
    if row["mean"] is None:
        return "-"
    if row["runs"] >= 2:
        return f"{row['mean']:.3f} ± {row['stddev']:.3f}"
    return f"{row['mean']:.3f} (1 run)"


def ratio(a, b):
    if a is None or b is None:
        return "-"
    return f"{a / b:.2f}x"


def report(argv):
    manifest = argv[0]
    expected = {}
    rest = argv[1:]
    while rest:
        if rest[0] != "--expected" or len(rest) < 4:
            raise SystemExit(f"bad arguments: {rest}")
        case, spec, ports = rest[1:4]
        expected[case] = {(h, int(p)) for h in hosts(spec) for p in ports.split(",")}
        rest = rest[4:]

    rows = []
    for line in open(manifest):
        if not line.strip():
            continue
        case, key, label, fmt, hjson, prefix, note = line.rstrip("\n").split("\t")
        row = dict(case=case, key=key, label=label, fmt=fmt, note=note, prefix=prefix, mean=None, max=None,
                   stddev=0.0, runs=0, failed=0, sets=[], skipped=hjson == "-")
        if not row["skipped"]:
            result = next(r for r in json.load(open(hjson))["results"] if r["command"] == f"{case}-{key}")
            row["mean"] = result["mean"]
            row["stddev"] = result["stddev"] or 0.0
            row["runs"] = len(result["times"])
            row["failed"] = sum(1 for c in result.get("exit_codes", []) if c != 0)
            row["max"] = max(result["times"])
            row["killed"] = all(c in (124, 137) for c in result.get("exit_codes", [1]))
            for path in sorted(p for p in glob.glob(prefix + ".*") if not p.endswith(".err")):
                row["sets"].append(open_set(fmt, path))
        rows.append(row)

    checks = True
    summary = {}
    for case in "abc":
        case_rows = [r for r in rows if r["case"] == case]
        want = expected[case]
        by_key = {r["key"]: r for r in case_rows}
        ref_row = by_key.get(REFERENCE_KEY)
        ref_sets = [s for s in (ref_row["sets"] if ref_row else []) if s is not None]
        print()
        print(f"== {CASES[case]}")
        if ref_sets:
            reference = set().union(*ref_sets)
            source = f"nmap -T4 -sT ({len(ref_sets)} run{'s' if len(ref_sets) > 1 else ''})"
            agree = all(s == reference for s in ref_sets)
            print(f"reference: {len(reference)} open (host, port) pairs from {source}"
                  + ("" if agree else "; its runs DISAGREE with each other"))
            if reference == want:
                print(f"the reference equals the listeners the benchmark started ({len(want)}): yes")
            else:
                checks = False
                print(f"the reference equals the listeners the benchmark started ({len(want)}): NO "
                      f"(missing {sorted(want - reference)[:5]}, extra {sorted(reference - want)[:5]})")
        else:
            reference = want
            print(f"reference: the {len(want)} listening (host, port) pairs the benchmark started "
                  "(nmap -sT was not run on this case)")
        nss = by_key.get("nmap-sS")
        nst = by_key.get("nmap-sT")
        t_ss = nss["mean"] if nss and nss["failed"] < nss["runs"] else None
        t_st = nst["mean"] if nst and nst["failed"] < nst["runs"] else None
        for r in case_rows:
            good = [s for s in r["sets"] if s is not None]
            r["unreadable"] = len(r["sets"]) - len(good)
            if good:
                r["recall_min"] = min(len(s & reference) for s in good)
                r["recall_all"] = sum(1 for s in good if reference <= s)
                r["extra"] = set().union(*(s - reference for s in good))
                r["identical"] = all(s == reference for s in good) and not r["unreadable"]
            else:
                r["recall_min"] = None
                r["recall_all"] = 0
                r["extra"] = set()
                r["identical"] = False
            r["outputs"] = len(good)
            r["ref_size"] = len(reference)
            if r["failed"] == r["runs"]:
                r["mean"] = None  # no time to compare: every timed run failed
            r["vs_ss"] = ratio(r["mean"], t_ss)
            r["vs_st"] = ratio(r["mean"], t_st)
            if r["failed"] and r["fmt"] != "masscan" and not r.get("killed"):
                checks = False
        summary[case] = (by_key, t_ss, t_st)

    # --- the table ---------------------------------------------------------
    print()
    print("== results")
    print("   time: hyperfine's mean ± σ in seconds, and the slowest run; vs nmap: mean / nmap's mean on the")
    print("   same case (< 1 is faster)")
    print("   recall: reference open (host, port) pairs found, in the worst run; runs 100 %: runs that found")
    print("   them all; extra open: pairs reported open that the reference (ref) does not have.")
    print("   Recall counts every run, warm-up included; time only the timed runs.")
    head = ("case", "tool", "runs", "time (s)", "slowest", "vs nmap -sS", "vs nmap -sT", "recall", "runs 100 %",
            "extra open")
    table = [head]
    notes = []
    for r in rows:
        if r["skipped"]:
            table.append((f"({r['case']})", r["label"], "0", "skipped", "-", "-", "-", "-", "-", "-"))
            notes.append(f"({r['case']}) {r['label']}: {r['note']}")
            continue
        recall = "-" if r["recall_min"] is None else f"{r['recall_min']}/{r['ref_size']}"
        label = r["label"] + (" (ref)" if r["key"] == REFERENCE_KEY else "")
        slowest = "-" if r["mean"] is None or r["runs"] < 2 else f"{r['max']:.3f}"
        table.append((f"({r['case']})", label, str(r["runs"]), fmt_time(r), slowest, r["vs_ss"], r["vs_st"],
                      recall, f"{r['recall_all']}/{len(r['sets'])}", str(len(r["extra"]))))
        if r["note"] and r["note"] != "-":
            notes.append(f"({r['case']}) {r['label']}: {r['note']}")
        if r["failed"]:
            notes.append(f"({r['case']}) {r['label']}: {r['failed']} of {r['runs']} timed runs exited "
                         f"non-zero (failed, or killed by its timeout){last_error(r['prefix'])}")
        if r["unreadable"]:
            notes.append(f"({r['case']}) {r['label']}: {r['unreadable']} run(s) left no complete output")
        if r["extra"]:
            notes.append(f"({r['case']}) {r['label']}: open but not in the reference: "
                         + ", ".join(f"{h}:{p}" for h, p in sorted(r["extra"])[:8]))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for i, row in enumerate(table):
        print("  ".join(cell.ljust(widths[j]) if j < 2 else cell.rjust(widths[j])
                        for j, cell in enumerate(row)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    if notes:
        print()
        for n in notes:
            print(f"note: {n}")

    # --- verdicts --------------------------------------------------------------
    def t(x):
        return "-" if x is None else f"{x:.3f} s"

    def le(a, b, strict=False):
        if a is None or b is None:
            return False
        return a < b if strict else a <= b

    def passed(ok):
        return "PASS" if ok else "FAIL"

    print()
    print("== verdicts")
    by_key, t_ss, t_st = summary["a"]
    syn, con = by_key["pr-syn"], by_key["pr"]
    if t_ss is not None:
        ok = le(syn["mean"], t_ss) and syn["recall_all"] == len(syn["sets"])
        print(f"(a) portreeve --syn {t(syn['mean'])} vs nmap SYN {t(t_ss)}: {passed(ok)} "
              f"(no slower than nmap; recall {syn['recall_min']}/{syn['ref_size']})")
        print(f"(a) portreeve (connect) {t(con['mean'])} vs nmap SYN {t(t_ss)}: {passed(le(con['mean'], t_ss))}, "
              f"vs nmap -sT {t(t_st)}: {passed(le(con['mean'], t_st))} "
              f"(no slower than nmap; recall {con['recall_min']}/{con['ref_size']})")
    else:
        print("(a) no verdict: nmap -T4 -sS has no successful run")
    by_key, t_ss, t_st = summary["b"]
    for key, name in (("pr", "portreeve (connect)"), ("pr-syn", "portreeve --syn")):
        r = by_key[key]
        ok = le(r["mean"], 3.0, strict=True) and r["recall_all"] == len(r["sets"]) and not r["unreadable"]
        recall = "-" if r["recall_min"] is None else f"{r['recall_min']}/{r['ref_size']}"
        slowest = "" if r["max"] is None else f", slowest run {r['max']:.3f} s"
        caveat = ""
        if ok and r["max"] is not None and r["max"] >= 3.0:
            caveat = " on the mean, but its slowest run was over 3 s"
        print(f"(b) {name}: {t(r['mean'])} with recall {recall} (mean of {r['runs']} runs{slowest}; "
              f"recall of the worst of {len(r['sets'])}) (target < 3 s, every open port): {passed(ok)}{caveat}")
    by_key, t_ss, t_st = summary["c"]
    for key, name, peer, t_peer in (("pr-syn", "portreeve --syn", "nmap SYN", t_ss),
                                    ("pr", "portreeve (connect)", "nmap -sT", t_st)):
        r = by_key[key]
        same = "yes" if r["identical"] else "no"
        ok = le(r["mean"], t_peer, strict=True) and r["identical"]
        print(f"(c) {name} {t(r['mean'])} vs {peer} {t(t_peer)}, identical: {same}: {passed(ok)}")
    if not checks:
        print()
        print("checks: FAIL (a command failed, or nmap -sT did not find exactly the listeners: see above)")
    sys.exit(0 if checks else CHECKS_FAILED)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "top":
        top(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "wake":
        wake(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "report":
        report(sys.argv[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
