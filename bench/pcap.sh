#!/usr/bin/env bash
# Benchmark: the capture reader behind `flows decode --pcap` and the flow
# conformance tests (crates/flows/src/pcap.rs: pcap-parser for the records
# and blocks, etherparse for the frames). Reads PACKETS generated packets
# (Ethernet, IPv4; nine in ten UDP datagrams of 200 bytes, one in ten a TCP
# segment, skipped) held in memory, as a classic pcap and as a pcapng, with
# the cargo example crates/flows/examples/pcap_read_rate.rs; the best of
# ROUNDS passes, in records (packets) per second, one JSON object.
#
# No target of its own: the reader feeds the decoder, whose target is
# >= 1,000,000 flow records/s per core (bench/flows.sh) from datagrams that
# carry 12 or more records each, so the reader needs well under 100,000
# datagrams/s to keep up.
#
# Figures (2 shared cores under load, December 2026): pcap-parser +
# etherparse 4.7-8.8 M records/s (pcap), 3.5-5.3 M (pcapng); the
# hand-written reader they replaced read the same files at 19-29 M and
# 14-27 M in the same runs: 3-5x faster; either is over 40x what the
# decoder's target needs.
#
# Usage: bench/pcap.sh   (PACKETS=1000000 ROUNDS=5)
set -euo pipefail
die() { echo "${0##*/}: $*" >&2; exit 1; }
REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
command -v cargo >/dev/null || die "missing: cargo"
cd "$REPO_ROOT"
cargo run --release --quiet -p portreeve-flows --example pcap_read_rate -- \
    "${PACKETS:-1000000}" "${ROUNDS:-5}"
