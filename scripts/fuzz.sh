#!/usr/bin/env bash
# Fuzzes every parser that reads the network, the disk or a person (docs/fuzzing.md): builds the
# libFuzzer targets in fuzz/, runs each for a fixed time, reports runs, coverage and crashes per
# target, and appends what ran to the ledger fuzz/hours.tsv.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]   run (default 300 s, every target)
#   scripts/fuzz.sh --totals                           hours per target in the ledger
#   scripts/fuzz.sh --list                             the targets
#
# Environment:
#   FUZZ_JOBS=2      targets run side by side (default 1)
#   FUZZ_LEDGER=0    do not write the ledger (CI: a clean clone's ledger is thrown away)
#   FUZZ_PROFILE=dev build without optimisation (CI's short run: the build is what costs)
#   FUZZ_MERGE=1     afterwards, merge what the fuzzer found into fuzz/corpus/<target> (minimized)
#   CARGO_TARGET_DIR where to build (default: target/)
#
# A crash, a hang (an input slower than FUZZ_TIMEOUT, default 60 s) or memory past 2 GB fails the
# script; the input is written to fuzz/artifacts/<target>/ and its path printed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

LEDGER=fuzz/hours.tsv
CARGO_FUZZ_VERSION=0.13.2
TARGETS=($(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | tail -n +2))

totals() {
  awk -F'\t' 'NR > 1 { s[$2] += $3; c[$2] += $4; e[$2] += $5; if ($6 != "ok") bad[$2]++ }
    END { for (t in s) printf "%-14s %6.2f h run  %6.2f h CPU  %12d execs  %s\n", t, s[t] / 3600, c[t] / 3600, e[t],
      (bad[t] ? bad[t] " failed runs" : "no failure") }' "$LEDGER" | sort
}

case "${1:-}" in
  --totals) totals; exit 0 ;;
  --list) printf '%s\n' "${TARGETS[@]}"; exit 0 ;;
  -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
esac

secs="${1:-300}"
[[ $secs =~ ^[0-9]+$ ]] || { echo "the first argument is the seconds per target, found \"$secs\"" >&2; exit 2; }
shift || true
chosen=("$@")
((${#chosen[@]})) || chosen=("${TARGETS[@]}")
for t in "${chosen[@]}"; do
  [[ " ${TARGETS[*]} " == *" $t "* ]] || { echo "no fuzz target \"$t\"; the targets are: ${TARGETS[*]}" >&2; exit 2; }
done

# libFuzzer's instrumentation needs unstable compiler flags: nightly if it is there, else the
# pinned stable told to accept them (RUSTC_BOOTSTRAP=1).
if cargo +nightly --version >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  toolchain=()
  export RUSTC_BOOTSTRAP=1
fi
if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION"; then
  echo "== Installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --force
fi

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
# No sanitizer: the parsers are safe Rust, so what is looked for is panics, overflows (debug
# assertions are on), hangs and memory blow-ups; without ASan a run is 2-3 times faster.
# FUZZ_PROFILE=dev (CI) builds without optimisation: far quicker to build, slower to run, which a
# short run does not mind.
profile=release build_flags=(--debug-assertions)
if [[ ${FUZZ_PROFILE:-release} == dev ]]; then
  profile=debug build_flags=(--dev)
fi
build=(cargo "${toolchain[@]}" fuzz build --sanitizer none "${build_flags[@]}" --target-dir "$target_dir")
echo "== Building the fuzz targets: ${build[*]}"
start=$(date +%s)
(cd fuzz && "${build[@]}")
echo "   built in $(($(date +%s) - start)) s"
bin_dir="$target_dir/x86_64-unknown-linux-gnu/$profile"

[[ -f $LEDGER ]] || printf 'date\ttarget\tseconds\tcpu_seconds\texecs\tresult\tcommit\n' >"$LEDGER"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
work="$target_dir/fuzz-work"
mkdir -p "$work"

# Runs one target; prints one line of results and returns libFuzzer's status.
run_one() {
  local t=$1 log="$work/$1.log" grown="$work/corpus/$1"
  mkdir -p "$grown" "fuzz/artifacts/$t" "fuzz/corpus/$t"
  local dict=()
  [[ -f fuzz/dict/$t.dict ]] && dict=(-dict="fuzz/dict/$t.dict")
  local began rc=0
  began=$(date +%s)
  # New inputs go to the work corpus; the committed one is read only (FUZZ_MERGE=1 folds them in).
  # The CPU time too: on a shared machine (or under nice) the wall time overstates the work.
  /usr/bin/time -f '%U %S' -o "$work/$t.cpu" \
    "$bin_dir/$t" "$grown" "fuzz/corpus/$t" "${dict[@]}" \
    -max_total_time="$secs" -timeout="${FUZZ_TIMEOUT:-60}" -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  local took=$(($(date +%s) - began)) cpu
  cpu=$(awk '/^[0-9.]+ [0-9.]+$/ { printf "%d", $1 + $2 }' "$work/$t.cpu")
  local execs cov ft result
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  if ((rc == 0)); then
    result=ok
  else
    result=$(grep -o -m1 'ERROR: libFuzzer: [a-z-]*\|panicked at' "$log" | sed 's/ERROR: libFuzzer: //; s/panicked at/panic/' || true)
    result=${result:-failed}
  fi
  if [[ ${FUZZ_LEDGER:-1} != 0 ]]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$took" "${cpu:-0}" "${execs:-0}" "$result" "$commit" >>"$LEDGER"
  fi
  printf '%-14s %5s s (CPU %5s s) %12s runs %7s execs/CPU s  cov %6s  ft %6s  %s\n' "$t" "$took" "${cpu:-0}" "${execs:-0}" \
    "$(( ${execs:-0} / (${cpu:-0} > 0 ? ${cpu:-0} : 1) ))" "${cov:-?}" "${ft:-?}" "$result"
  if ((rc != 0)); then
    echo "   !! $t failed ($result); its log: $log" >&2
    grep -m3 'Test unit written to\|panicked at\|SUMMARY' "$log" | sed 's/^/   /' >&2 || true
    echo "   reproduce: $bin_dir/$t <the artifact above>" >&2
  fi
  if [[ ${FUZZ_MERGE:-0} == 1 ]]; then
    local merged="$work/merged/$t"
    rm -rf "$merged" && mkdir -p "$merged"
    # The committed corpus covers every edge reached with as few inputs as a greedy set cover
    # finds (hit counts aside: counting them keeps thousands); the whole grown corpus stays in
    # the work folder for the next local run.
    "$bin_dir/$t" -set_cover_merge=1 -use_counters=0 -max_len=4096 "$merged" "fuzz/corpus/$t" "$grown" -rss_limit_mb=2048 \
      -timeout=60 >"$work/$t.merge.log" 2>&1
    # The seeds (fuzz/seeds.py) and every input that once failed stay, under their names.
    cp fuzz/corpus/"$t"/seed-* fuzz/corpus/"$t"/crash-* "$merged"/ 2>/dev/null || true
    rm -rf "fuzz/corpus/$t" && mv "$merged" "fuzz/corpus/$t"
    echo "   $t: corpus merged to $(ls "fuzz/corpus/$t" | wc -l) inputs, $(($(cat "fuzz/corpus/$t"/* | wc -c) / 1024)) KB"
  fi
  return "$rc"
}

echo "== Fuzzing ${#chosen[@]} targets, $secs s each, ${FUZZ_JOBS:-1} at a time"
failed=()
pids=() names=()
wait_one() {
  if ! wait "${pids[0]}"; then failed+=("${names[0]}"); fi
  pids=("${pids[@]:1}") names=("${names[@]:1}")
}
for t in "${chosen[@]}"; do
  run_one "$t" &
  pids+=($!) names+=("$t")
  ((${#pids[@]} < ${FUZZ_JOBS:-1})) || wait_one
done
while ((${#pids[@]})); do wait_one; done

if [[ ${FUZZ_LEDGER:-1} != 0 ]]; then
  echo "== Totals in $LEDGER"
  totals
fi
if ((${#failed[@]})); then
  echo "!! fuzzing found a problem in: ${failed[*]} (artifacts in fuzz/artifacts/)" >&2
  exit 1
fi
