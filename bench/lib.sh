# shellcheck shell=bash
# Shared by the benchmark scripts (sourced, not run): installing missing
# Debian packages, the binary under test and the teardown of the namespaces a
# script created. Each script defines
# `die` and REPO_ROOT before sourcing this.

# Installs the Debian packages "$@" and returns apt-get's status. Their
# maintainer scripts must not start host-wide services (Debian's nginx would
# listen on port 80): a policy-rc.d that denies every start is put in place
# while apt runs, only if there is none, and removed right after (also on
# Ctrl-C).
bench_apt_install() {
    local rc=0
    echo "installing missing packages: apt-get install -y $*" >&2
    BENCH_POLICY_RC=
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        BENCH_POLICY_RC=/usr/sbin/policy-rc.d
        trap 'rm -f -- "$BENCH_POLICY_RC"; exit 130' INT
        trap 'rm -f -- "$BENCH_POLICY_RC"; exit 143' TERM
        printf '#!/bin/sh\nexit 101\n' >"$BENCH_POLICY_RC"
        chmod 755 "$BENCH_POLICY_RC"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null || rc=$?
    if [[ -n $BENCH_POLICY_RC ]]; then rm -f -- "$BENCH_POLICY_RC"; fi
    trap - INT TERM
    return "$rc"
}

# Sets PORTREEVE to $PORTREEVE_BIN, or to a fresh release build.
bench_portreeve_binary() {
    if [[ -n ${PORTREEVE_BIN:-} ]]; then
        PORTREEVE=$PORTREEVE_BIN
    else
        command -v cargo >/dev/null || die "missing: cargo (or set PORTREEVE_BIN)"
        echo "building portreeve (cargo build --release -p portreeve)" >&2
        (cd "$REPO_ROOT" && cargo build --release --quiet -p portreeve) || die "cargo build failed"
        PORTREEVE=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/portreeve
    fi
    [[ -x $PORTREEVE ]] || die "portreeve binary not found or not executable: $PORTREEVE"
    PORTREEVE=$(realpath -- "$PORTREEVE")
}

# Sets PORTREEVE and LOADGEN to $PORTREEVE_BIN and $LOADGEN_BIN when both
# are given, else to a fresh release build of portreeve and
# portreeve-fleet-loadgen (the fleet benchmarks).
bench_fleet_binaries() {
    if [[ -n ${PORTREEVE_BIN:-} && -n ${LOADGEN_BIN:-} ]]; then
        PORTREEVE=$PORTREEVE_BIN
        LOADGEN=$LOADGEN_BIN
    else
        command -v cargo >/dev/null || die "missing: cargo (or set PORTREEVE_BIN and LOADGEN_BIN)"
        echo "building (cargo build --release -p portreeve -p portreeve-fleet-loadgen)" >&2
        (cd "$REPO_ROOT" && cargo build --release --quiet -p portreeve -p portreeve-fleet-loadgen) ||
            die "cargo build failed"
        PORTREEVE=${PORTREEVE_BIN:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/portreeve}
        LOADGEN=${LOADGEN_BIN:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/portreeve-fleet-loadgen}
    fi
    [[ -x $PORTREEVE && -x $LOADGEN ]] || die "binaries not found: $PORTREEVE, $LOADGEN"
}

# Stops every process left in namespace $1 (TERM, then KILL after 3 s) and
# deletes the namespace; says so on standard error if it cannot. Only for
# namespaces the calling script created: everything in them is its own.
bench_delete_netns() {
    local ns=$1 pids tries=0
    ip netns list 2>/dev/null | grep -qw -- "$ns" || return 0
    while ((tries++ < 10)); do
        pids=$(ip netns pids "$ns" 2>/dev/null)
        [[ -z $pids ]] && break
        # shellcheck disable=SC2086 # word splitting of the pid list is intended
        kill -TERM $pids 2>/dev/null
        sleep 0.3
    done
    pids=$(ip netns pids "$ns" 2>/dev/null)
    # shellcheck disable=SC2086
    [[ -n $pids ]] && kill -KILL $pids 2>/dev/null
    ip netns del "$ns" 2>/dev/null || echo "${0##*/}: could not delete namespace $ns" >&2
}
