#!/usr/bin/env python3
"""Fill the current network namespace with listening and established TCP sockets.

Used by bench/inventory.sh, which starts it with `ip netns exec NS python3 ...`
inside a namespace the benchmark created itself. All traffic stays on that
namespace's loopback: listeners bind to 127.0.0.1, 0.0.0.0, ::1 or ::, and
every connection goes to 127.0.0.1 or ::1.

A master process forks PROCS workers. Each worker

  1. listens on LISTEN_PER_PROC distinct TCP ports (a mix of 0.0.0.0,
     127.0.0.1 and, when IPv6 is usable, ::1 and dual-stack ::);
  2. connects CONN_PER_PROC times to listeners owned by *other* workers;
  3. accepts every connection that arrived at its own listeners,

so the namespace ends up with PROCS*LISTEN_PER_PROC listening sockets and
2*PROCS*CONN_PER_PROC established ones, each owned by a worker. The steps are
run in lock-step by the master, so all connections are queued before anyone
accepts. The master then appends `ready ...` to the status file and waits:

  SIGUSR1  every worker closes its established sockets with an RST
           (SO_LINGER 0, so nothing lingers in TIME_WAIT), leaving only the
           listeners; the master appends `closed ...` to the status file.
  SIGTERM  the master and its workers exit.

Workers exit by themselves when the master disappears (their command pipe
reaches end of file).
"""

import argparse
import os
import random
import resource
import select
import signal
import socket
import struct
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--procs", type=int, default=40)
    p.add_argument("--listen-per-proc", type=int, default=500)
    p.add_argument("--conn-per-proc", type=int, default=750)
    p.add_argument("--base-port", type=int, default=10000)
    p.add_argument("--status", required=True, help="file to append progress lines to")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    if a.procs < 2:
        p.error("--procs must be at least 2 (connections go to other processes)")
    if a.listen_per_proc < 1 or a.conn_per_proc < 0:
        p.error("--listen-per-proc must be >= 1 and --conn-per-proc >= 0")
    if a.base_port < 1024 or a.base_port + a.procs * a.listen_per_proc > 65536:
        p.error("listening ports would fall outside 1024..65535")
    return a


def status(path, line):
    with open(path, "a", encoding="ascii") as f:
        f.write(line + "\n")


def ipv6_usable():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def listener_kind(index, ipv6):
    """Address a worker's index-th listener binds to: 60 % 0.0.0.0, 25 %
    127.0.0.1, 10 % ::1 and 5 % dual-stack :: (v4 only: 75/25)."""
    m = index % 20
    if not ipv6:
        return "0.0.0.0" if m < 15 else "127.0.0.1"
    if m < 12:
        return "0.0.0.0"
    if m < 17:
        return "127.0.0.1"
    if m < 19:
        return "::1"
    return "::"


def connect_address(kind):
    return {"0.0.0.0": "127.0.0.1", "127.0.0.1": "127.0.0.1", "::1": "::1", "::": "::1"}[kind]


def set_parent_death_signal():
    """Best effort: have the kernel kill this worker if the master dies."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def worker(index, args, ipv6, cmd_fd, report_fd):
    set_parent_death_signal()
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    cmds = os.fdopen(cmd_fd, "r", encoding="ascii")

    def report(msg):
        os.write(report_fd, f"{index} {msg}\n".encode("ascii"))

    def wait_for(expected):
        line = cmds.readline()
        if not line:  # master gone
            os._exit(0)
        if line.strip() != expected:
            raise SystemExit(f"worker {index}: expected {expected!r}, got {line!r}")

    # 1. listen
    listeners = []
    first = args.base_port + index * args.listen_per_proc
    for j in range(args.listen_per_proc):
        kind = listener_kind(j, ipv6)
        family = socket.AF_INET6 if ":" in kind else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if kind == "::" else 1)
        s.bind((kind, first + j))
        s.listen(1024)
        s.setblocking(False)
        listeners.append(s)
    report("listening")

    # 2. connect to other workers' listeners
    wait_for("connect")
    rng = random.Random(args.seed * 1_000_003 + index)
    established = []
    for _ in range(args.conn_per_proc):
        other = rng.randrange(args.procs - 1)
        if other >= index:
            other += 1
        j = rng.randrange(args.listen_per_proc)
        kind = listener_kind(j, ipv6)
        addr = connect_address(kind)
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        c = socket.socket(family, socket.SOCK_STREAM)
        c.connect((addr, args.base_port + other * args.listen_per_proc + j))
        established.append(c)
    report(f"connected {len(established)}")

    # 3. accept everything that is queued on our listeners
    wait_for("accept")
    accepted = 0
    for s in listeners:
        while True:
            try:
                conn, _ = s.accept()
            except BlockingIOError:
                break
            established.append(conn)
            accepted += 1
    report(f"accepted {accepted}")

    # 4. idle; on "close" drop the established sockets with an RST
    while True:
        line = cmds.readline()
        if not line:
            os._exit(0)
        if line.strip() == "close":
            linger = struct.pack("ii", 1, 0)
            for c in established:
                try:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                except OSError:
                    pass
                c.close()
            established.clear()
            report("closed")


def main():
    args = parse_args()
    # listeners + outgoing + incoming (with headroom for an uneven share).
    need = args.listen_per_proc + 4 * args.conn_per_proc + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, soft), max(need, hard)))
        except (ValueError, OSError) as e:
            sys.exit(f"busy_namespace: cannot raise RLIMIT_NOFILE to {need}: {e}")

    ipv6 = ipv6_usable()
    report_r, report_w = os.pipe()
    cmd_writers = []
    pids = []
    for i in range(args.procs):
        cmd_r, cmd_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(cmd_w)
            os.close(report_r)
            for w in cmd_writers:
                os.close(w)
            code = 0
            try:
                worker(i, args, ipv6, cmd_r, report_w)
            except BaseException as e:  # noqa: BLE001 - report and die
                os.write(report_w, f"{i} error {e!r}\n".encode("ascii", "replace"))
                code = 1
            os._exit(code)
        os.close(cmd_r)
        cmd_writers.append(cmd_w)
        pids.append(pid)
    os.close(report_w)
    reports = os.fdopen(report_r, "r", encoding="ascii")

    def collect(word):
        total = 0
        for _ in range(args.procs):
            line = reports.readline()
            if not line:
                sys.exit(f"busy_namespace: a worker died while waiting for {word!r}")
            parts = line.split()
            if len(parts) < 2 or parts[1] != word:
                sys.exit(f"busy_namespace: worker said {line.strip()!r}, expected {word!r}")
            if len(parts) > 2:
                total += int(parts[2])
        return total

    def command(word):
        for w in cmd_writers:
            os.write(w, (word + "\n").encode("ascii"))

    def terminate(*_):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    usr1 = []
    signal.signal(signal.SIGUSR1, lambda *_: usr1.append(1))

    collect("listening")
    command("connect")
    connected = collect("connected")
    command("accept")
    accepted = collect("accepted")
    if accepted != connected:
        sys.exit(f"busy_namespace: {connected} connections made but {accepted} accepted")
    pid_list = ",".join(str(p) for p in pids)
    status(
        args.status,
        f"ready procs={args.procs} listeners={args.procs * args.listen_per_proc} "
        f"connections={connected} ipv6={int(ipv6)} pids={pid_list}",
    )

    closed = False
    while True:
        # Wake on SIGUSR1 or when a worker exits (report pipe end of file).
        try:
            select.select([reports], [], [], 1.0)
        except InterruptedError:
            pass
        if usr1 and not closed:
            command("close")
            collect("closed")
            closed = True
            status(args.status, "closed")
        if any(os.waitpid(p, os.WNOHANG)[0] for p in pids):
            sys.exit("busy_namespace: a worker exited unexpectedly")


if __name__ == "__main__":
    main()
