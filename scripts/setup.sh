#!/usr/bin/env bash
# Installs what building, testing and demoing LBS needs on Debian 12, skipping what is there.
# Idempotent: safe to run before every build. Needs root (apt-get) for system packages.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

DEBS=(
  # Tauri v2 on Linux
  libwebkit2gtk-4.1-dev libsoup-3.0-dev librsvg2-dev libssl-dev libxdo-dev build-essential file
  libayatana-appindicator3-dev pkg-config
  # The window under Xvfb, screenshots, the WebDriver for end-to-end tests
  xvfb x11-utils imagemagick webkit2gtk-driver
  # Driving the native save dialog (GTK) in the end-to-end tests; python3 closes the window as a
  # window manager would (WM_DELETE_WINDOW through libX11, tests/e2e/desktop.mjs)
  xdotool python3
  # A real notification service for the desktop notifications in the end-to-end tests
  notification-daemon
  # A real system tray (XEmbed) for the tray icon in the end-to-end tests
  trayer
  # The OS keyring (Secret Service) in tests and the headless demo
  dbus dbus-x11 gnome-keyring libsecret-tools
  # Proving the console builds for Windows
  gcc-mingw-w64-x86-64
  # promtool validates the agent's Prometheus output in the system tests, and the alert rules
  prometheus python3-yaml
  # A real mail server (SMTP with STARTTLS, implicit TLS and AUTH) for the agent's alert tests
  python3-aiosmtpd
  # The agent's package: built with dpkg-deb, checked by lintian, proven in booted Debian 12
  # containers (systemd-nspawn; the root made with debootstrap)
  dpkg-dev lintian systemd-container debootstrap
  # ShellCheck for the release workflow's scripts (actionlint runs it)
  shellcheck
  rsync
  # The simulated office for the failover tests: namespaces, a DNS server taking signed
  # updates, a SIP server as the PBX, gratuitous ARP for the floating address
  iproute2 knot knot-dnsutils bind9-dnsutils kamailio iputils-arping
  # The vote for automatic failover: three etcd members over TLS (the tests run real ones); the
  # fault matrix cuts the link between the boxes (iptables) and jumps one box's clock (faketime)
  etcd-server etcd-client iptables faketime
  # Its PBX keeps the phones' registrations in SQLite (usrloc), dumped and restored with sqlite3;
  # the phones are real SIP user agents (baresip, driven over its ctrl_tcp module); sipsak for
  # SIP pings by hand
  kamailio-sqlite-modules sqlite3 baresip-core sipsak
  # FreePBX keeps its configuration in MariaDB: the database tests and benchmark run private
  # MariaDB servers (mariadb-install-db, mariadbd; never the system's service) and dump them
  mariadb-server mariadb-client
  # Realistic sample PBX data for the demo
  asterisk-core-sounds-en-gsm asterisk-moh-opsound-gsm
  # What the agent reads of the box for `lbs-agent health`: the disks' SMART (smartctl) and the
  # telephony cards on the PCI bus (lspci); the system tests read this machine with them
  smartmontools pciutils
  curl ca-certificates
)

missing=()
for pkg in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  say "Installing Debian packages: ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "These packages are missing and installing them needs root: ${missing[*]}" >&2
    echo "Run this script as root (sudo bash $0)." >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  [[ -x "$HOME/.cargo/bin/cargo" ]] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  echo "Rust is not installed. Install rustup (https://rustup.rs), then run this script again." >&2
  exit 1
fi
if ! command -v node >/dev/null || ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  echo "Node.js 20 or newer is needed for the console's front end. Install it, then run this script again." >&2
  exit 1
fi

if ! command -v tauri-driver >/dev/null; then
  say "Installing tauri-driver (WebDriver bridge for the console's end-to-end tests)"
  cargo install tauri-driver --version '^2' --locked
fi

# The fuzz targets (scripts/fuzz.sh, docs/fuzzing.md); the version scripts/fuzz.sh expects.
if ! cargo fuzz --version 2>/dev/null | grep -q ' 0\.13\.2$'; then
  say "Installing cargo-fuzz (libFuzzer targets for every parser of untrusted input)"
  cargo install cargo-fuzz --version 0.13.2 --locked --force
fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "Installing the front end's npm packages"
  npm ci --no-audit --no-fund
fi
