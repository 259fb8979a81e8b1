#!/usr/bin/env bash
# Prints how long a settings change takes to reach the backup's copy of its database's dump,
# for astdb (SQLite) and FreePBX's MariaDB database (release build). See docs/benchmarks.md.
# LBS_BENCH_CHANGES sets the number of changes per case (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
command -v mariadb-install-db >/dev/null || { echo "MariaDB is not installed: run scripts/setup.sh" >&2; exit 1; }
cargo build --release -p lbs-agent -p lbs-tests --bin lbs-agent --bin lbs-db-bench
LBS_AGENT_LOG=${LBS_AGENT_LOG:-info} "${CARGO_TARGET_DIR:-target}/release/lbs-db-bench"
