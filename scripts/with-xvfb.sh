#!/usr/bin/env bash
# Runs a command with a virtual display (Xvfb) unless one is already given in DISPLAY.
# Usage: scripts/with-xvfb.sh COMMAND [ARGS...]
set -euo pipefail
if [[ -n "${DISPLAY:-}" ]] && xdpyinfo >/dev/null 2>&1; then
  exec "$@"
fi
display=":$((90 + RANDOM % 100))"
Xvfb "$display" -screen 0 1280x860x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  [[ -e "/tmp/.X11-unix/X${display#:}" ]] && break
  sleep 0.1
done
export DISPLAY="$display"
"$@"
