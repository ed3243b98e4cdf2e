#!/usr/bin/env bash
# Create the Python environment of the ESB client test (tests/esb_client.rs) under
# target/esb-client-venv, with the pinned packages of requirements.txt. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${BK_JOB_SHIM_ESB_VENV:-$root/target/esb-client-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
"$venv/bin/python" -c "import bkapi_component.open" 
echo "$venv/bin/python"
