#!/usr/bin/env bash
# Prints failover and switchover times on the simulated office network (release build, as root:
# it builds network namespaces). See docs/benchmarks.md. Rounds: LBS_FAILOVER_ROUNDS (default 10);
# LBS_FAILOVER_ONLY=phones runs only the real phones' part (baresip calls across a failover).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh >/dev/null
cargo build --release -p lbs-agent -p lbs-tests --bin lbs-agent --bin lbs-failover-bench --bin lbs-lab-phone
LBS_AGENT_LOG=${LBS_AGENT_LOG:-info} "${CARGO_TARGET_DIR:-target}/release/lbs-failover-bench"
