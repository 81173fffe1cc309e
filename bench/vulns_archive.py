#!/usr/bin/env python3
"""Writes a Debian-like OSV archive and a list of installed packages for
bench/vulns.sh.

The archive is laid out as OSV's Debian export (`Debian/all.zip`): one
`ID.json` per entry at the top, deflated. Its entries are shaped like
Debian's: mostly DEBIAN-CVE-YYYY-NNNN (one `affected` entry per release,
Debian:11, Debian:12 and Debian:13, with ECOSYSTEM ranges and a list of
versions), then DLA-NNNN-N and DSA-NNNN-N (one release, a summary, a longer
text); CVE aliases, references, `ecosystem_specific.urgency` on some, and
a few withdrawn ones. Details are CVE-description-length prose (about 300
to 900 characters). Advisories fall on the source packages as a Zipf-like
law: a few packages (the kernel, browsers) have thousands, most a handful.

The package list is what `dpkg-query -W -f
'${Package}\\t${Version}\\t${source:Package}\\t${source:Version}\\n'` prints, for
LISTENING packages that run network services (real Debian names), each at
a version that some of its advisories fix and others do not.

Usage: bench/vulns_archive.py OUT_ZIP OUT_PACKAGES [--entries N]
       [--sources N] [--listening N] [--seed N]
Everything is drawn from a fixed seed: the same arguments write the same
bytes.
"""

import argparse
import json
import random
import zipfile

# Source packages that listen, with a binary package that holds the daemon.
LISTENING = [
    ("openssh", "openssh-server"), ("nginx", "nginx-core"), ("apache2", "apache2-bin"),
    ("postgresql-15", "postgresql-15"), ("mariadb", "mariadb-server-core"),
    ("redis", "redis-server"), ("memcached", "memcached"), ("bind9", "bind9"),
    ("postfix", "postfix"), ("dovecot", "dovecot-core"), ("exim4", "exim4-daemon-light"),
    ("samba", "samba"), ("cups", "cups-daemon"), ("avahi", "avahi-daemon"),
    ("chrony", "chrony"), ("ntpsec", "ntpsec"), ("squid", "squid"), ("haproxy", "haproxy"),
    ("varnish", "varnish"), ("openldap", "slapd"), ("rpcbind", "rpcbind"),
    ("nfs-utils", "nfs-kernel-server"), ("lighttpd", "lighttpd"), ("tomcat10", "tomcat10"),
    ("rabbitmq-server", "rabbitmq-server"), ("erlang", "erlang-base"),
    ("mosquitto", "mosquitto"), ("prosody", "prosody"), ("unbound", "unbound"),
    ("dnsmasq", "dnsmasq-base"), ("knot", "knot"), ("pdns", "pdns-server"),
    ("coturn", "coturn"), ("asterisk", "asterisk"), ("freeradius", "freeradius"),
    ("xrdp", "xrdp"), ("tigervnc", "tigervnc-standalone-server"), ("vsftpd", "vsftpd"),
    ("proftpd-dfsg", "proftpd-core"), ("openvpn", "openvpn"), ("strongswan", "charon-systemd"),
    ("net-snmp", "snmpd"), ("rsync", "rsync"), ("git", "git"), ("isc-kea", "kea-dhcp4-server"),
    ("cyrus-imapd", "cyrus-imapd"), ("opendkim", "opendkim"), ("spamassassin", "spamd"),
    ("clamav", "clamav-daemon"), ("nodejs", "nodejs"), ("python3.11", "python3.11"),
    ("openjdk-17", "openjdk-17-jre-headless"), ("php8.2", "php8.2-fpm"),
]

# Frequent package names that are not listening (they take the top ranks).
BUSY = ["linux", "chromium", "firefox-esr", "thunderbird", "imagemagick", "tiff",
        "qemu", "xen", "wireshark", "ffmpeg", "webkit2gtk", "gpac", "binutils", "vim",
        "openjpeg2", "libxml2", "php7.4", "jackson-databind", "tcpdump", "poppler"]

WORDS = ("a an the in of to and or via when with before after allows remote attackers "
         "local users crafted request packet file header buffer overflow heap use-after-free "
         "out-of-bounds read write denial service memory corruption arbitrary code execute "
         "cause obtain sensitive information bypass authentication certificate validation "
         "integer underflow null pointer dereference function parser handling length field "
         "improper check race condition privilege escalation session cookie cross-site "
         "scripting injection path traversal configuration default setting vulnerability "
         "issue flaw component module versions through affected prior discovered").split()

RELEASES = [("Debian:11", "deb11"), ("Debian:12", "deb12"), ("Debian:13", "deb13")]
URGENCIES = ["low", "medium", "high", "unimportant", "not yet assigned"]


def prose(rng, low, high):
    n = rng.randint(low, high) // 6
    words = [rng.choice(WORDS) for _ in range(n)]
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def upstream(rng):
    return f"{rng.randint(1, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}"


def base_version(rng, source):
    epoch = rng.choice(["", "", "", "1:", "2:"])
    return source, epoch, upstream(rng)


def release_version(base, tag, update):
    _, epoch, up = base
    return f"{epoch}{up}-1+{tag}u{update}"


def cve_name(rng, serial):
    year = 1999 + serial % 26
    return f"CVE-{year}-{10000 + serial}"


def affected_for(rng, source, base, releases, fixed_update):
    entries = []
    for eco, tag in releases:
        fixed = release_version(base, tag, fixed_update)
        versions = [release_version(base, tag, u) for u in range(max(0, fixed_update - 4), fixed_update)]
        entry = {
            "package": {"ecosystem": eco, "name": source, "purl": f"pkg:deb/debian/{source}?arch=source"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            "versions": versions,
        }
        if rng.random() < 0.5:
            entry["ecosystem_specific"] = {"urgency": rng.choice(URGENCIES)}
        entries.append(entry)
    return entries


def advisory(rng, serial, source, base):
    kind = rng.random()
    cve = cve_name(rng, serial)
    fixed_update = rng.randint(1, 12)
    modified = f"20{rng.randint(15, 26):02d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T00:00:00Z"
    refs = [{"type": "ADVISORY", "url": f"https://security-tracker.debian.org/tracker/{cve}"}]
    if kind < 0.80:
        ident = f"DEBIAN-{cve}"
        doc = {"id": ident, "details": prose(rng, 300, 900), "aliases": [], "related": [cve],
               "modified": modified, "published": modified,
               "affected": affected_for(rng, source, base, RELEASES, fixed_update),
               "references": refs, "schema_version": "1.6.0", "upstream": [cve]}
    else:
        ident = (f"DSA-{4000 + serial}-1" if kind < 0.88 else f"DLA-{2000 + serial}-1")
        release = RELEASES[1] if ident.startswith("DSA") else RELEASES[0]
        doc = {"id": ident, "summary": f"{source} - security update",
               "details": prose(rng, 400, 1200), "aliases": [cve], "modified": modified,
               "published": modified,
               "affected": affected_for(rng, source, base, [release], fixed_update),
               "references": refs + [{"type": "WEB", "url": f"https://www.debian.org/security/{ident}"}],
               "schema_version": "1.6.0"}
    if rng.random() < 0.005:
        doc["withdrawn"] = modified
    return ident, doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("zip")
    ap.add_argument("packages")
    ap.add_argument("--entries", type=int, default=60000)
    ap.add_argument("--sources", type=int, default=3000)
    ap.add_argument("--listening", type=int, default=50)
    ap.add_argument("--seed", type=int, default=21)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    if not 1 <= args.listening <= len(LISTENING):
        ap.error(f"--listening must be 1 to {len(LISTENING)}")
    if args.sources < len(BUSY) + args.listening:
        ap.error(f"--sources must be at least {len(BUSY) + args.listening}")

    listening = LISTENING[:args.listening]
    # Ranks: the busy packages first, the listening ones spread over the
    # next few hundred ranks, synthetic names for the rest.
    names = list(BUSY)
    filler = (f"lib{w}{i}" for i, w in enumerate(rng.choice(WORDS) for _ in range(args.sources)))
    step = min(9, (args.sources - len(BUSY)) // args.listening)
    listening_at = {len(BUSY) + step * i: src for i, (src, _) in enumerate(listening)}
    while len(names) < args.sources:
        names.append(listening_at.get(len(names)) or next(filler))
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(names))]
    bases = {name: base_version(rng, name) for name in names}

    seen = set()
    with zipfile.ZipFile(args.zip, "w", compression=zipfile.ZIP_DEFLATED) as z:
        serial = 0
        written = 0
        while written < args.entries:
            serial += 1
            source = rng.choices(names, weights)[0]
            ident, doc = advisory(rng, serial, source, bases[source])
            if ident in seen:
                continue
            seen.add(ident)
            info = zipfile.ZipInfo(f"{ident}.json", date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, json.dumps(doc, indent=2))
            written += 1

    with open(args.packages, "w") as out:
        for source, binary in listening:
            # Installed at update 6 of Debian 12: advisories fixed in
            # updates 1 to 6 do not affect it, later ones do.
            version = release_version(bases[source], "deb12", 6)
            out.write(f"{binary}\t{version}\t{source}\t{version}\n")


if __name__ == "__main__":
    main()
