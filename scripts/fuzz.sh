#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer). Targets live in fuzz/fuzz_targets/; their seed
# corpora are generated from tests/fixtures into fuzz/corpus/<target>/ (kept between runs,
# so a run starts from what earlier runs found).
#
#   scripts/fuzz.sh                 every target for 60 s (FUZZ_SECONDS to change)
#   scripts/fuzz.sh --smoke         every target for a few seconds (what .ci/run runs)
#   scripts/fuzz.sh credentials     one target
#
# Uses the nightly toolchain when rustup has one, else stable with RUSTC_BOOTSTRAP=1.
# Builds with cargo-fuzz when it is installed, else with cargo and the same
# instrumentation flags (nothing to install; FUZZ_BUILD=cargo forces that path).
# Builds go to target/fuzz. Crashes land in fuzz/artifacts/<target>/ and make the script
# fail. A summary line per target is printed
# (`fuzz: <target> runs=<n> crashes=<n> seconds=<n>`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${FUZZ_SECONDS:-60}
profile=(-O)
targets=()
for a in "$@"; do
  case "$a" in
    # Smoke: a development build (much faster to compile; runs are seconds anyway).
    --smoke) seconds=${FUZZ_SECONDS:-5}; profile=(--dev) ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) targets+=("$a") ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(legacy_request credentials upstream_reply config)

cargo=(cargo)
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  cargo=(cargo +nightly)
else
  export RUSTC_BOOTSTRAP=1
fi

# cargo-fuzz when it is installed; else the same build done with cargo directly (the
# coverage instrumentation flags cargo-fuzz passes for `--sanitizer none`), so CI does not
# spend minutes compiling cargo-fuzz itself. Either way the binaries are libFuzzer's.
use_cargo_fuzz=0
[ "${FUZZ_BUILD:-}" = cargo ] || ! "${cargo[@]}" fuzz --version >/dev/null 2>&1 || use_cargo_fuzz=1
triple=$(rustc -vV | sed -n 's/^host: //p')
dir=debug; [ "${profile[0]}" = -O ] && dir=release

scripts/fuzz-seeds.sh "$root/fuzz/corpus"

cd fuzz
start=$(date +%s)
if [ $use_cargo_fuzz = 1 ]; then
  build=(fuzz build "${profile[@]}" --sanitizer none --debug-assertions --target-dir "$root/target/fuzz")
  if [ ${#targets[@]} -eq 4 ]; then
    "${cargo[@]}" "${build[@]}" >/dev/null   # every target in one cargo run
  else
    for t in "${targets[@]}"; do "${cargo[@]}" "${build[@]}" "$t" >/dev/null; done
  fi
else
  release=(); [ $dir = release ] && release=(--release)
  bins=(); for t in "${targets[@]}"; do bins+=(--bin "$t"); done
  RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions \
-Coverflow-checks" \
    "${cargo[@]}" build -q "${release[@]}" --target "$triple" --target-dir "$root/target/fuzz" "${bins[@]}"
fi
echo "fuzz: built ${#targets[@]} targets in $(( $(date +%s) - start )) s ($([ $use_cargo_fuzz = 1 ] && echo cargo-fuzz || echo cargo))"

failed=0
for t in "${targets[@]}"; do
  log=$(mktemp)
  mkdir -p "artifacts/$t"
  set +e
  "$root/target/fuzz/$triple/$dir/$t" "corpus/$t" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=$(find "artifacts/$t" -type f | wc -l)
  echo "fuzz: $t runs=${runs:-0} crashes=$crashes seconds=$seconds"
  if [ $rc -ne 0 ] || [ "$crashes" -gt 0 ]; then
    failed=1
    tail -40 "$log"
  fi
  rm -f "$log"
done
exit $failed
