#!/usr/bin/env bash
# Prints how the sync grows with the tree, 10k to 1M files (release build). See docs/benchmarks.md.
# Sizes: LBS_SCALE_SIZES (10000,100000,200000,1000000), LBS_SCALE_SAMPLES, LBS_SCALE_IDLE_SECS.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p lbs-agent -p lbs-tests --bin lbs-agent --bin lbs-scale-bench
LBS_AGENT_LOG=${LBS_AGENT_LOG:-info} "${CARGO_TARGET_DIR:-target}/release/lbs-scale-bench"
