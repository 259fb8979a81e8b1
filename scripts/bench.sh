#!/usr/bin/env bash
# Prints the agent's benchmark figures (release build). See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p lbs-agent -p lbs-tests --bin lbs-agent --bin lbs-bench
"${CARGO_TARGET_DIR:-target}/release/lbs-bench"
