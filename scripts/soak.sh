#!/usr/bin/env bash
# Soak of the release binary (see scripts/soak.py for the traffic and the checks).
#
#   scripts/soak.sh            5 minutes, a sample every 10 s, SIGHUP every 30 s (release build)
#   scripts/soak.sh --smoke    20 s, a sample every 5 s, SIGHUP every 10 s (development
#                              build, which `cargo test` has already made: what .ci/run runs)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--smoke" ]; then
  # The binary `cargo test` builds (a `cargo build` would recompile every crate: the
  # dev-dependencies' features differ).
  cargo test --locked -q --no-run 2>/dev/null
  exec python3 scripts/soak.py --bin target/debug/bk-job-shim --seconds 20 --every 5 --hup-every 10
fi
cargo build --release --locked -q --bin bk-job-shim
exec python3 scripts/soak.py --bin target/release/bk-job-shim --seconds 300 --every 10 --hup-every 30
