"""Serves every greeting of a corpus file (greetings.txt), each in several
variants, one listening port per variant, for the service-identification
corpus test. Written for portreeve's tests.

Usage: serve_greetings.py CORPUS FIRST_PORT

Variants of each entry (a variant identical to an earlier one of the same
entry is left out):
  full     as written;
  lf       every CR LF made LF;
  cr       every CR LF made CR;
  padded   spaces before every line end;
  garbage  bytes that belong to no protocol after it;
  cut      only what comes before `{cut}`, the connection held open;
  cutclose only what comes before `{cut}`, then the connection closed.

Prints one JSON line, {"PORT": "NAME/VARIANT", ...}, once every port
listens, then serves until standard input closes.
"""

import json
import selectors
import socket
import sys
import threading

CUT = b"{cut}"


def variants(text):
    full = text.replace(CUT, b"")
    cut = text.split(CUT, 1)[0]
    return [
        ("full", full, False),
        ("lf", full.replace(b"\r\n", b"\n"), False),
        ("cr", full.replace(b"\r\n", b"\r"), False),
        ("padded", full.replace(b"\r\n", b"   \r\n"), False),
        ("garbage", full + b"\x00\x17\xfe~~junk~~\x01", False),
        ("cut", cut, False),
        ("cutclose", cut, True),
    ]


def entries(path):
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if not line or line.startswith(b"#"):
                continue
            kind, name, text = line.split(b" ", 2)
            data = text.decode("latin-1").encode("latin-1").decode("unicode_escape")
            yield kind.decode(), name.decode(), data.encode("latin-1")


def main():
    corpus, port = sys.argv[1], int(sys.argv[2])
    sel = selectors.DefaultSelector()
    labels = {}
    for kind, name, text in entries(corpus):
        seen = []
        for variant, data, close in variants(text):
            if (data, close) in seen:
                continue
            seen.append((data, close))
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", port))
            s.listen(64)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, ("listener", kind, data, close))
            labels[port] = f"{name}/{variant}"
            port += 1
    print(json.dumps(labels), flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), sel.close(), sys.exit(0)), daemon=True).start()
    while True:
        for key, _ in sel.select():
            role = key.data[0]
            if role == "listener":
                _, kind, data, close = key.data
                try:
                    conn, _ = key.fileobj.accept()
                except OSError:
                    continue
                if kind == "first":
                    send(conn, data)
                    if close:
                        conn.close()
                        continue
                    sel.register(conn, selectors.EVENT_READ, ("held", None, None, None))
                else:
                    sel.register(conn, selectors.EVENT_READ, ("asked", data, close, None))
            else:
                conn = key.fileobj
                try:
                    got = conn.recv(4096)
                except OSError:
                    got = b""
                if got and role == "asked":
                    _, data, close, _ = key.data
                    send(conn, data)
                    if not close:
                        sel.modify(conn, selectors.EVENT_READ, ("held", None, None, None))
                        continue
                if got and role == "held":
                    continue
                sel.unregister(conn)
                conn.close()


def send(conn, data):
    try:
        conn.sendall(data)
    except OSError:
        pass


if __name__ == "__main__":
    main()
