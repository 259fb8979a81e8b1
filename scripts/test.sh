#!/usr/bin/env bash
# Installs what is missing, then runs every check and test: lint, formatting, front-end unit
# tests, Rust unit and system tests (real agents, real TLS, real keyring), the Windows build
# check, and the end-to-end tests of the real console under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[[ -x "$HOME/.cargo/bin/cargo" ]] && export PATH="$HOME/.cargo/bin:$PATH"
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Front end: lint, unit tests, build"
npm run lint
npm test
npm run build

say "Rust: formatting and clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

say "Rust: unit and system tests (real agents, real TLS, real keyring)"
# The system and end-to-end tests run the binaries; `cargo test` alone does not build them.
cargo build --workspace --bins
# Tests that need root (namespaces, tmpfs mounts) are #[ignore = "needs root: …"]; as root, as CI
# runs this, they run with the rest.
if [[ $(id -u) -eq 0 ]]; then
  scripts/with-keyring.sh cargo test --workspace -- --include-ignored
else
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  echo "!! ROOT-ONLY TESTS IGNORED: the office lab and the full-disk tests need root          !!" >&2
  echo "!! (network namespaces, tmpfs mounts); cargo lists them as ignored. Run as root.      !!" >&2
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  scripts/with-keyring.sh cargo test --workspace
fi

say "Fuzzing: every parser of untrusted input, 20 s per target, two at a time (docs/fuzzing.md)"
# A short run: the corpus (with every input that ever found a bug) replayed, then new inputs.
# Built without optimisation, which is most of the step's time saved. Long runs are
# scripts/fuzz.sh's own (its ledger, fuzz/hours.tsv, is not written here).
FUZZ_PROFILE=dev FUZZ_LEDGER=0 FUZZ_JOBS=2 bash scripts/fuzz.sh 20

say "Prometheus: the alert rules (promtool check and test) and the Grafana dashboard"
bash scripts/check-prometheus.sh

say "Release workflow: actionlint"
bash scripts/check-workflows.sh

say "The agent's package: built, lintian, and proven under a real systemd"
if [[ $(id -u) -eq 0 ]]; then
  bash scripts/package.sh agent
  deb="dist/lbs-agent_$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)_amd64.deb"
  lintian --fail-on error,warning --tag-display-limit 0 "$deb"
  # The upgrade starts from the first packaged version, built from its commit (cached).
  baseline_rc=0
  baseline="$(tests/systemd/baseline.sh)" || baseline_rc=$?
  if [[ $baseline_rc -eq 3 ]]; then
    echo "!! UPGRADE TEST SKIPPED: this clone lacks the baseline commit's history (clone it whole)." >&2
    baseline=""
  elif [[ $baseline_rc -ne 0 ]]; then
    exit "$baseline_rc"
  fi
  tests/systemd/pair.sh "$deb" ${baseline:+"$baseline"}
else
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  echo "!! PACKAGE TEST SKIPPED: it needs root (containers, dpkg); run this script as root. !!" >&2
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
fi

say "The console's package: the Tauri bundler's .deb"
bash scripts/package.sh console
console_deb="dist/lbs-console_$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)_amd64.deb"
contents="$(dpkg-deb --contents "$console_deb")"
[[ $contents == *" usr/bin/lbs-console"* || $contents == *" ./usr/bin/lbs-console"* ]] || { echo "$console_deb does not hold the console" >&2; exit 1; }
[[ $(dpkg-deb --field "$console_deb" Depends) == *libwebkit2gtk-4.1* ]] \
  || { echo "$console_deb does not depend on WebKitGTK" >&2; exit 1; }

say "Generated TypeScript types match the Rust wire types"
if ! git diff --exit-code -- ui/src/generated; then
  echo "ui/src/generated is out of date: run 'cargo test -p lbs-protocol -p lbs-console-core' and commit it." >&2
  exit 1
fi

say "Windows: the console and the protocol crate compile for x86_64-pc-windows-gnu"
if rustup target add x86_64-pc-windows-gnu && command -v x86_64-w64-mingw32-gcc >/dev/null; then
  cargo check --target x86_64-pc-windows-gnu -p lbs-protocol -p lbs-console
else
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  echo "!! WINDOWS CHECK SKIPPED: the x86_64-pc-windows-gnu target or mingw-w64 is missing. !!" >&2
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
fi

say "End to end: the real console under Xvfb through tauri-driver"
scripts/with-xvfb.sh scripts/with-keyring.sh node --test --test-concurrency=1 tests/e2e/
echo "Screenshots: artifacts/screenshots/"
