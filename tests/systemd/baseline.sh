#!/usr/bin/env bash
# Builds the package an upgrade starts from: the agent as it was at the commit the packaging
# issue started from (it had no package of its own), with that commit's unit and configuration,
# packaged by today's scripts/package.sh as version 0.1.0. Cached outside the repository: the
# second run prints the cached file at once.
#
#   tests/systemd/baseline.sh   → prints the .deb's path (exit 3: the commit is not in this clone)
set -euo pipefail
cd "$(dirname "$0")/../.."
COMMIT=f37a8b77836c40748282e0c5e193ded7d20045e9
CACHE=${LBS_TEST_CACHE:-/var/cache/lbs-tests}
DEB=$CACHE/lbs-agent_0.1.0_amd64-${COMMIT:0:7}.deb
if [[ -f $DEB ]]; then
    echo "$DEB"
    exit 0
fi
if ! git cat-file -e "$COMMIT^{commit}" 2>/dev/null; then
    echo "baseline.sh: commit $COMMIT is not in this clone (a shallow clone?); fetch the history" >&2
    exit 3
fi
mkdir -p "$CACHE"
src=$(mktemp -d)
trap 'git worktree remove --force "$src" >/dev/null 2>&1 || rm -rf "$src"' EXIT
git worktree add --detach "$src" "$COMMIT" >&2
# Its own target folder: the baseline's binary must never replace today's.
(cd "$src" && CARGO_TARGET_DIR="$CACHE/baseline-target" cargo build --release --locked -p lbs-agent >&2)
git -C "$src" show "$COMMIT:packaging/lbs-agent.service" >"$src/old.service"
git -C "$src" show "$COMMIT:docs/agent.example.toml" >"$src/old.toml"
out=$(LBS_AGENT_BIN="$CACHE/baseline-target/release/lbs-agent" LBS_UNIT_FILE="$src/old.service" \
    LBS_CONFIG_FILE="$src/old.toml" LBS_PACKAGE_VERSION=0.1.0 bash scripts/package.sh agent | tail -1)
mv "${out%% *}" "$DEB"
echo "$DEB"
