#!/usr/bin/env bash
# Prints the console's benchmark figures: cold start of the release app against a demo pair, and
# the graphs with up to 100k points in the real WebKit. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
npm run build
npx vite build --config vite.bench.config.ts
cargo build --release -p lbs-agent -p lbs-console
mkdir -p artifacts
LBS_AGENT_BIN="${CARGO_TARGET_DIR:-target}/release/lbs-agent" \
LBS_CONSOLE_BIN="${CARGO_TARGET_DIR:-target}/release/lbs-console" \
  scripts/with-xvfb.sh scripts/with-keyring.sh node tests/bench/console.mjs
