#!/usr/bin/env bash
# Soak of the release binary (see scripts/soak.py for the traffic and the checks).
#
#   scripts/soak.sh            5 minutes, a sample every 10 s
#   scripts/soak.sh --smoke    20 s, a sample every 5 s (what .ci/run runs)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=300; every=10
[ "${1:-}" = "--smoke" ] && { seconds=20; every=5; }
cargo build --release --locked -q --bin bk-job-shim
exec python3 scripts/soak.py --bin target/release/bk-job-shim --seconds "$seconds" --every "$every"
