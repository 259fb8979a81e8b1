#!/usr/bin/env bash
# Prints how a pair of agents fares under each hostile client (idle and half-open connection
# floods, TLS garbage, endless and slow headers, slow and oversized bodies, token guessing):
# the console's and the partner's p50/p99 and the primary's RSS, beside no attack (release build).
# See docs/benchmarks.md. Seconds per attack: LBS_HOSTILE_SECS (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p lbs-agent -p lbs-tests --bin lbs-agent --bin lbs-hostile-bench
# The attacks hold thousands of sockets.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
LBS_AGENT_LOG=${LBS_AGENT_LOG:-info} "${CARGO_TARGET_DIR:-target}/release/lbs-hostile-bench"
