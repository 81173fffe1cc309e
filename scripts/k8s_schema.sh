#!/usr/bin/env bash
# Makes `kubernetes-validate` (from PyPI) available to the rendering tests
# of `portreeve render --target kubernetes` (crates/k8s/tests/
# render_agreement.rs) and prints the path of the Python that runs it
# (`python -m kubernetes_validate`). The package ships the Kubernetes
# OpenAPI schemas, one per Kubernetes version, as JSON Schema files, so
# validation needs no cluster and no network once installed.
#
# It is pinned and lives in a venv of its own under ~/.cache (or $1), which
# later runs reuse: nothing is installed when the venv already holds the
# pinned version.
set -euo pipefail

version='1.37.0'
venv="${1:-$HOME/.cache/portreeve/k8s-schema}"
python="$venv/bin/python"

installed_version() {
    "$python" -m pip show kubernetes-validate 2>/dev/null | sed -n 's/^Version: //p'
}

if [ ! -x "$python" ] || [ "$(installed_version)" != "$version" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$version" >&2
fi
echo "$python"
