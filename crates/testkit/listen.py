#!/usr/bin/env python3
"""Test helper: bind the sockets named on the command line, report, and wait.

Each argument is PROTO:ADDRESS:PORT[:OPTION...], for example
    tcp4:0.0.0.0:8080   tcp6:[::]:8443:v6only=0   udp4:127.0.0.1:53:dev=lo
PROTO is tcp4, tcp6, udp4 or udp6. Options: v6only=0|1 sets IPV6_V6ONLY,
dev=NAME sets SO_BINDTODEVICE. `--fork N` makes N child processes that
inherit every socket (several owners per socket, like a pre-forking server).

TCP listeners accept every connection and hold it open until the client
closes it, so connection counts and rates are decided by the network, not by
a full backlog. Once everything is bound it prints one JSON line
{"pids": [...]} (its own pid first) and waits until standard input closes,
then exits with its children.
"""
import json
import os
import signal
import socket
import sys
import threading

KINDS = {
    "tcp4": (socket.AF_INET, socket.SOCK_STREAM),
    "tcp6": (socket.AF_INET6, socket.SOCK_STREAM),
    "udp4": (socket.AF_INET, socket.SOCK_DGRAM),
    "udp6": (socket.AF_INET6, socket.SOCK_DGRAM),
}


def bind(spec):
    kind, rest = spec.split(":", 1)
    if rest.startswith("["):
        address, rest = rest[1:].split("]:", 1)
    else:
        address, rest = rest.split(":", 1)
    port, *options = rest.split(":")
    family, type_ = KINDS[kind]
    s = socket.socket(family, type_)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for option in options:
        key, value = option.split("=", 1)
        if key == "v6only":
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(value))
        elif key == "dev":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, value.encode())
        else:
            raise SystemExit(f"unknown option {key}")
    s.bind((address, int(port)))
    if type_ == socket.SOCK_STREAM:
        s.listen(1024)
    return s


def hold(listener):
    """Accepts connections forever, keeping each until its peer closes it."""
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=drain, args=(conn,), daemon=True).start()


def drain(conn):
    with conn:
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass  # reset by the peer: a scanner closing with SO_LINGER 0


def main(argv):
    forks = 0
    if argv[:1] == ["--fork"]:
        forks, argv = int(argv[1]), argv[2:]
    sockets = [bind(spec) for spec in argv]
    children = []
    for _ in range(forks):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.pause()
            os._exit(0)
        children.append(pid)
    for s in sockets:
        if s.type == socket.SOCK_STREAM:
            threading.Thread(target=hold, args=(s,), daemon=True).start()
    print(json.dumps({"pids": [os.getpid()] + children}), flush=True)
    try:
        sys.stdin.read()
    finally:
        for pid in children:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
    del sockets


if __name__ == "__main__":
    main(sys.argv[1:])
