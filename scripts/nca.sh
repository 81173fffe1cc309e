#!/usr/bin/env bash
# Makes IBM's network-config-analyzer ("NCA", from PyPI) available to the
# agreement test of `portreeve k8s reach` (crates/k8s/tests/nca_agreement.rs)
# and prints the path of the Python that runs it (`python -m nca`).
#
# NCA is pinned and lives in a venv of its own under ~/.cache (or $1), which
# later runs reuse: a fresh clone downloads it once per machine. Nothing is
# installed when the venv already holds the pinned version. The test only
# ever gives NCA local manifest files.
set -euo pipefail

version='2.1.0'
venv="${1:-$HOME/.cache/portreeve/nca}"
python="$venv/bin/python"

installed_version() {
    "$python" -m pip show network-config-analyzer 2>/dev/null | sed -n 's/^Version: //p'
}

if [ ! -x "$python" ] || [ "$(installed_version)" != "$version" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check "network-config-analyzer==$version" >&2
fi
echo "$python"
