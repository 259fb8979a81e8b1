#!/usr/bin/env bash
# Builds the installable packages into dist/:
#   dist/lbs-agent_<version>_amd64.deb    the agent: binary, systemd units (the agent; the disks'
#                                         health, a timer and its oneshot service), config, probe, docs,
#                                         man pages, shell completions (built by hand with dpkg-deb)
#   dist/lbs-console_<version>_amd64.deb  the console, from the Tauri bundler
# Usage: bash scripts/package.sh [agent|console|all]   (default: all)
# LBS_AGENT_BIN=<path> packages that binary instead of building one, LBS_UNIT_FILE and
# LBS_CONFIG_FILE another unit and configuration (the upgrade test packages an older commit's
# agent this way); LBS_PACKAGE_VERSION overrides the version.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
export PATH="$HOME/.cargo/bin:$PATH"
target_dir="${CARGO_TARGET_DIR:-target}"
version="${LBS_PACKAGE_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)}"
mkdir -p dist

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

agent() {
  local bin="${LBS_AGENT_BIN:-}"
  if [[ -z "$bin" ]]; then
    say "Building lbs-agent $version (release)"
    cargo build --release --locked -p lbs-agent
    bin="$target_dir/release/lbs-agent"
  fi
  local pkg
  root="$(mktemp -d)"
  trap 'rm -rf "$root"' EXIT
  pkg="$root/pkg"
  say "Packaging lbs-agent $version"
  install -d -m 0755 "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/lib/lbs-agent" "$pkg/lib/systemd/system" \
    "$pkg/etc/lbs-agent" "$pkg/usr/share/doc/lbs-agent" "$pkg/usr/share/man/man1" \
    "$pkg/usr/share/bash-completion/completions" "$pkg/usr/share/zsh/vendor-completions" \
    "$pkg/usr/share/fish/vendor_completions.d" "$pkg/usr/share/lintian/overrides"
  install -m 0755 "$bin" "$pkg/usr/bin/lbs-agent"
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$pkg/usr/bin/lbs-agent"
  install -m 0755 packaging/asterisk-probe "$pkg/usr/lib/lbs-agent/asterisk-probe"
  install -m 0644 "${LBS_UNIT_FILE:-packaging/lbs-agent.service}" "$pkg/lib/systemd/system/lbs-agent.service"
  # The disks' health, read hourly outside the agent's sandbox (not in a baseline built with
  # LBS_UNIT_FILE before it existed).
  if [[ -z ${LBS_UNIT_FILE:-} ]]; then
    install -m 0644 packaging/lbs-agent-smart.service packaging/lbs-agent-smart.timer "$pkg/lib/systemd/system/"
  fi
  install -m 0644 "${LBS_CONFIG_FILE:-docs/agent.example.toml}" "$pkg/etc/lbs-agent/agent.toml"
  # Documentation: the contractor's guide, the failover procedures, every key, and the
  # Prometheus rules and Grafana dashboard for those who run them.
  install -m 0644 docs/agent.md docs/failover.md docs/agent.example.toml "$pkg/usr/share/doc/lbs-agent/"
  if [[ -d packaging/prometheus ]]; then
    install -d -m 0755 "$pkg/usr/share/doc/lbs-agent/prometheus" "$pkg/usr/share/doc/lbs-agent/grafana"
    install -m 0644 packaging/prometheus/lbs-agent.rules.yml "$pkg/usr/share/doc/lbs-agent/prometheus/"
    install -m 0644 packaging/grafana/lbs-agent.json "$pkg/usr/share/doc/lbs-agent/grafana/"
  fi
  install -m 0644 packaging/deb/copyright "$pkg/usr/share/doc/lbs-agent/copyright"
  printf 'lbs-agent (%s) stable; urgency=medium\n\n  * Release %s.\n\n -- LBS developers <lbs@example.org>  %s\n' \
    "$version" "$version" "$(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")" \
    | gzip -9n > "$pkg/usr/share/doc/lbs-agent/changelog.gz"
  # Man pages and completions come from the CLI's own definition.
  if "$pkg/usr/bin/lbs-agent" generate-docs "$root/docs" 2>"$root/docs.err"; then
    for page in "$root"/docs/man/*.1; do gzip -9n < "$page" > "$pkg/usr/share/man/man1/$(basename "$page").gz"; done
    install -m 0644 "$root/docs/completions/lbs-agent.bash" "$pkg/usr/share/bash-completion/completions/lbs-agent"
    install -m 0644 "$root/docs/completions/_lbs-agent" "$pkg/usr/share/zsh/vendor-completions/_lbs-agent"
    install -m 0644 "$root/docs/completions/lbs-agent.fish" "$pkg/usr/share/fish/vendor_completions.d/lbs-agent.fish"
  elif [[ -n ${LBS_AGENT_BIN:-} ]]; then
    # Only an older binary brought in by LBS_AGENT_BIN may lack them.
    echo "note: this agent cannot generate its docs (an older version): no man pages or completions" >&2
  else
    cat "$root/docs.err" >&2
    exit 1
  fi
  install -m 0644 packaging/deb/lintian-overrides "$pkg/usr/share/lintian/overrides/lbs-agent"
  rmdir --ignore-fail-on-non-empty "$pkg"/usr/share/*/* "$pkg"/usr/share/* 2>/dev/null || true
  install -m 0644 packaging/deb/conffiles "$pkg/DEBIAN/conffiles"
  install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$pkg/DEBIAN/"
  # The shared libraries the binary needs, as Debian names them.
  local shlibs
  shlibs="$(cd "$root" && mkdir -p debian && touch debian/control \
    && dpkg-shlibdeps -O "$pkg/usr/bin/lbs-agent" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
  local size
  size="$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)"
  sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" -e "s/@SHLIBS@/${shlibs:-libc6}/" \
    packaging/deb/control.in > "$pkg/DEBIAN/control"
  (cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort | xargs md5sum) > "$pkg/DEBIAN/md5sums"
  chmod 0644 "$pkg/DEBIAN/md5sums"
  local out="dist/lbs-agent_${version}_amd64.deb"
  dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out" >/dev/null
  echo "$out ($(du -h "$out" | cut -f1))"
}

console() {
  say "Building the LBS Console $version (release, Tauri bundler)"
  npm run tauri -- build --bundles deb
  local built
  built="$(ls -t "$target_dir"/release/bundle/deb/*.deb | head -1)"
  cp "$built" "dist/lbs-console_${version}_amd64.deb"
  echo "dist/lbs-console_${version}_amd64.deb ($(du -h "dist/lbs-console_${version}_amd64.deb" | cut -f1))"
}

case "$what" in
  agent) agent ;;
  console) console ;;
  all) agent; console ;;
  *) echo "usage: $0 [agent|console|all]" >&2; exit 2 ;;
esac
