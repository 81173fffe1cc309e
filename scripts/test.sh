#!/usr/bin/env bash
# Runs portreeve's whole test suite.
#
# Run as root, it first installs the Debian packages the tests use and then
# runs every test, including those that build network namespaces. Run as
# another user, it installs nothing and the privileged tests skip with a
# printed reason (set PORTREEVE_REQUIRE_PRIVILEGED=1 to make them fail
# instead, as CI does, and PORTREEVE_SKIP_LOG=FILE to collect every skip in
# FILE). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# iproute2: ip netns, ss        python3: test listeners     bsdutils: script (a TTY)
# nftables: nft                  iptables, ipset: rendered legacy rulesets
# util-linux: setsid (the confirm-within watchdog), setpriv
# procps: sysctl                 nmap, ndiff, libxml2-utils: the scanner's peer and its XML consumers
# nginx, openssl, redis-server, memcached, openssh-server: real services for service identification
# tshark: the independent decoder of NetFlow/IPFIX/sFlow captures (and its mergecap)
# softflowd, tcpdump: a real NetFlow v9/IPFIX exporter fed from a capture of test traffic
# strace: injects ENOSPC into a real enforce run (the full-disk fault test)
# sqlite3: reads the flow store back independently of portreeve
# iputils-ping: ping, for the firewall's allow_ping
# postgresql-15, mariadb-server, vsftpd: real servers, open to anyone and not (scan_oracles);
#   postgresql-15 is also the fleet server's database in its PostgreSQL tests (server), started below
# g++: builds libFuzzer for .ci/run's build of the fuzz targets
# faketime: moves check's clock past an accepted risk's expiry (exposure)
# prometheus: promtool, which checks the agent's /metrics and the shipped alert rules (metrics_tooling)
# systemd: systemd-analyze verify/security on the packaged unit, offline (units); systemd is not started
# binutils, groff-base: strip/objdump/readelf for scripts/package.sh and its stripped binary, groff renders its man pages (package)
# dnsmasq-base: the DNS server the reverse DNS tests start inside their namespace (crates/trace)
# rsyslog: the real syslog receiver of the alert sinks (crates/alerts), started by the test on loopback
# nfdump: nfcapd stores softflowd's flows of a recorded scan and nfdump prints them as CSV (detect_offline)
# masscan: a scanner of its own TCP stack beside nmap, against the agent (agent_scans)
# python3-venv: the venvs schemathesis, network-config-analyzer, kubernetes-validate and the cloud API models are installed into, below (server_api_fuzz, nca_agreement, render_agreement, cloud)
# chromium, nodejs: the browser and the node that drives it through playwright-core, below (console); node also reads @elastic/ecs, below (export)
packages=(iproute2 python3 bsdutils nftables iptables ipset util-linux procps
    nmap ndiff libxml2-utils nginx openssl redis-server memcached openssh-server tshark softflowd tcpdump strace
    sqlite3 iputils-ping postgresql-15 mariadb-server vsftpd g++ faketime prometheus systemd binutils groff-base dnsmasq-base rsyslog nfdump masscan python3-venv chromium nodejs)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "test.sh: installing ${missing[*]}" >&2
        # The daemons are only started by the tests, inside their own
        # namespaces: keep the packages' maintainer scripts from starting
        # them on the host (policy-rc.d exit 101 = "action forbidden").
        guard=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            guard=/usr/sbin/policy-rc.d
            printf '#!/bin/sh\nexit 101\n' >"$guard"
            chmod 755 "$guard"
            trap 'rm -f "$guard"' EXIT
        fi
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        if [ -n "$guard" ]; then rm -f "$guard"; trap - EXIT; fi
    else
        echo "test.sh: missing ${missing[*]}; run as root to install them (tests that need them will skip)" >&2
    fi
fi

# The fleet server's PostgreSQL tests use the local cluster over its Unix
# socket (they create and drop a database of their own): start it when it is
# down. Its packages keep it stopped at install (policy-rc.d above).
if [ "$(id -u)" -eq 0 ] && command -v pg_lsclusters >/dev/null \
    && pg_lsclusters --no-header 15 main 2>/dev/null | grep -q down; then
    pg_ctlcluster 15 main start
fi

# schemathesis (PyPI), which fuzzes the fleet server's API against its OpenAPI
# document (crates/portreeve/tests/server_api_fuzz.rs): pinned, with the
# hypothesis it works with, in a venv under ~/.cache that later runs reuse, so
# a fresh clone pays the download once per machine. Without it the test skips
# (and fails under PORTREEVE_REQUIRE_PRIVILEGED=1).
schemathesis_venv="$HOME/.cache/portreeve/schemathesis-venv"
if [ "$(id -u)" -eq 0 ] && [ ! -x "$schemathesis_venv/bin/schemathesis" ]; then
    python3 -m venv "$schemathesis_venv" \
        && "$schemathesis_venv/bin/pip" install -q 'schemathesis==3.39.16' 'hypothesis==6.127.0' \
        || echo "test.sh: cannot install schemathesis into $schemathesis_venv" >&2
fi

# network-config-analyzer (PyPI), the independent analyzer `k8s reach` must
# agree with (crates/k8s/tests/nca_agreement.rs): scripts/nca.sh pins it in a
# venv under ~/.cache. Without it the test skips (and fails under
# PORTREEVE_REQUIRE_PRIVILEGED=1).
if [ "$(id -u)" -eq 0 ]; then
    scripts/nca.sh >/dev/null || echo "test.sh: cannot install network-config-analyzer" >&2
fi

# botocore's EC2 model and Google's compute discovery document (PyPI), which
# rendered cloud firewalls are validated against (crates/portreeve/tests/cloud.rs):
# scripts/cloud_models.sh pins them in a venv under ~/.cache. Without it the
# model checks skip (and fail under PORTREEVE_REQUIRE_PRIVILEGED=1).
if [ "$(id -u)" -eq 0 ]; then
    scripts/cloud_models.sh >/dev/null || echo "test.sh: cannot install the cloud API models" >&2
fi

# kubernetes-validate (PyPI), whose Kubernetes OpenAPI schemas the rendered
# NetworkPolicies must pass (crates/k8s/tests/render_agreement.rs):
# scripts/k8s_schema.sh pins it in a venv under ~/.cache, like NCA.
if [ "$(id -u)" -eq 0 ]; then
    scripts/k8s_schema.sh >/dev/null || echo "test.sh: cannot install kubernetes-validate" >&2
fi

# playwright-core (npm), which drives Debian's Chromium through the web
# console (crates/portreeve/tests/console.rs): pinned, under ~/.cache like
# schemathesis; the package has no browser download of its own. Without it
# the test skips (and fails under PORTREEVE_REQUIRE_PRIVILEGED=1).
playwright_dir="$HOME/.cache/portreeve/playwright"
if [ "$(id -u)" -eq 0 ] && [ ! -d "$playwright_dir/node_modules/playwright-core" ] \
    && command -v npm >/dev/null; then
    npm install --prefix "$playwright_dir" --no-audit --no-fund --silent 'playwright-core@1.65.2' \
        || echo "test.sh: cannot install playwright-core into $playwright_dir" >&2
fi

# @elastic/ecs (npm), whose EcsFlat is ECS's published field reference
# (ecs_flat.yml) that the ECS documents are checked against
# (crates/portreeve/tests/support/ecs.rs): pinned to the ECS version the
# documents claim. Without it those tests skip (and fail under
# PORTREEVE_REQUIRE_PRIVILEGED=1).
ecs_dir="$HOME/.cache/portreeve/ecs"
if [ "$(id -u)" -eq 0 ] && [ ! -d "$ecs_dir/node_modules/@elastic/ecs" ] \
    && command -v npm >/dev/null; then
    npm install --prefix "$ecs_dir" --no-audit --no-fund --silent '@elastic/ecs@9.4.0' \
        || echo "test.sh: cannot install @elastic/ecs into $ecs_dir" >&2
fi

exec cargo test --workspace "$@"
