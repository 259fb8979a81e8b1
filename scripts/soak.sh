#!/usr/bin/env bash
# A month in an hour: the soak of the office lab (tests/system/soak.rs, tests/support/soak/).
# The PBX's writer runs without pause while faults of every kind are injected at random; the
# checker's figures are printed at the end (and written to <out>/figures.txt, the writer's
# ledger to <out>/ledger.jsonl). Needs root (network namespaces, tmpfs mounts).
#
#   scripts/soak.sh [--minutes N] [--days D] [--seed S] [--out DIR] [--from REV]
#
# Defaults: 60 real minutes for 30 simulated days (the agents' clock runs x720); the seed is
# printed so a failure can be replayed with --seed. --from builds the agent at git revision REV
# (an earlier release) and starts both boxes on it: the first upgrade fault moves them to this
# build on their live state; without it, an upgrade restarts this build. CI runs the short
# default of the test itself (4 minutes, 10 days) through scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x "$HOME/.cargo/bin/cargo" ]] && export PATH="$HOME/.cargo/bin:$PATH"

minutes=60 days=30 seed="" out="" from=""
while (($#)); do
  case $1 in
    --minutes) minutes=${2:?--minutes needs a number}; shift 2 ;;
    --days) days=${2:?--days needs a number}; shift 2 ;;
    --seed) seed=${2:?--seed needs a number}; shift 2 ;;
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    --from) from=${2:?--from needs a git revision}; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $minutes =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "soak.sh: --minutes must be a number, got '$minutes'" >&2; exit 2; }
[[ $days =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "soak.sh: --days must be a number, got '$days'" >&2; exit 2; }
[[ -z $seed || $seed =~ ^[0-9]+$ ]] || { echo "soak.sh: --seed must be a whole number, got '$seed'" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "soak.sh: the office lab needs root (network namespaces, tmpfs mounts)" >&2; exit 1; }

export LBS_SOAK_MINUTES=$minutes LBS_SOAK_DAYS=$days
[[ -n $seed ]] && export LBS_SOAK_SEED=$seed
[[ -n $out ]] && { mkdir -p "$out"; export LBS_SOAK_OUT=$out; }
if [[ -n $from ]]; then
  rev=$(git rev-parse --verify --quiet "$from^{commit}") || { echo "soak.sh: --from: no git revision '$from'" >&2; exit 2; }
  # The older sources and their build in folders of their own, kept for the next run.
  older_src="${CARGO_TARGET_DIR:-$PWD/target}/soak-from/src-${rev:0:12}"
  older_target="${CARGO_TARGET_DIR:-$PWD/target}/soak-from/target"
  if [[ ! -d $older_src ]]; then
    mkdir -p "$older_src.tmp" && git archive "$rev" | tar -x -C "$older_src.tmp" && mv "$older_src.tmp" "$older_src"
  fi
  echo "== Building the agent at ${rev:0:12} to upgrade from"
  (cd "$older_src" && CARGO_TARGET_DIR="$older_target" cargo build -p lbs-agent)
  export LBS_SOAK_FROM_BIN="$older_target/debug/lbs-agent"
fi
# The soak runs the agent's binary; `cargo test` alone does not build it.
scripts/with-keyring.sh cargo build -p lbs-agent -p lbs-tests --bins
exec scripts/with-keyring.sh cargo test -p lbs-tests --test system -- \
  --include-ignored --exact soak::a_month_of_faults_loses_no_acknowledged_file_and_never_splits_the_office --nocapture
