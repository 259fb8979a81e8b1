#!/usr/bin/env bash
# Prints the sync benchmark beside rsync -a (release build). See docs/benchmarks.md.
# Sizes: LBS_BENCH_VOICEMAILS, LBS_BENCH_RECORDINGS, LBS_BENCH_RECORDING_MB, LBS_BENCH_SAMPLES.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
command -v rsync >/dev/null || apt-get install -y rsync
cargo build --release -p lbs-agent -p lbs-tests --bin lbs-agent --bin lbs-sync-bench
LBS_AGENT_LOG=${LBS_AGENT_LOG:-info} "${CARGO_TARGET_DIR:-target}/release/lbs-sync-bench"
