#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked GNOME keyring, so the console's
# tokens go to a real Secret Service without touching the user's own keyring.
# Usage: scripts/with-keyring.sh COMMAND [ARGS...]
set -euo pipefail
if [[ "${LBS_IN_KEYRING_SESSION:-}" == 1 ]]; then
  exec "$@"
fi
export LBS_IN_KEYRING_SESSION=1
exec dbus-run-session -- bash -c '
  export XDG_DATA_HOME=$(mktemp -d) # the keyring files of this session only
  echo -n lbs-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  exec "$@"' bash "$@"
