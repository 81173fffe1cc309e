#!/usr/bin/env bash
# Makes the providers' published API models available to the validation of
# `portreeve render --target aws|aws-terraform|gcp` and of the
# describe-security-groups documents `portreeve cloud check` reads
# (crates/portreeve/tests/cloud.rs), and prints the path of the Python that
# runs scripts/cloud_validate.py.
#
# botocore ships the EC2 service model AWS publishes; google-api-python-client
# ships Google's Compute Engine discovery document. Both are pinned and live
# in a venv of their own under ~/.cache (or $1), which later runs reuse: a
# fresh clone downloads them once per machine. Nothing is installed when the
# venv already holds the pinned versions. Validation reads only the models on
# disk; nothing talks to a cloud.
set -euo pipefail

botocore_version='1.44.18'
google_version='2.202.0'
venv="${1:-$HOME/.cache/portreeve/cloud}"
python="$venv/bin/python"

installed_version() {
    "$python" -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p'
}

if [ ! -x "$python" ] \
    || [ "$(installed_version botocore)" != "$botocore_version" ] \
    || [ "$(installed_version google-api-python-client)" != "$google_version" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check \
        "botocore==$botocore_version" "google-api-python-client==$google_version" >&2
fi
echo "$python"
