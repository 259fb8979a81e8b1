#!/usr/bin/env bash
# The LBS demo: installs what is missing, builds, then runs two agents on loopback — "PBX A"
# (primary) and "PBX B" (backup) with sample Asterisk data, simulated PBX activity and two weeks
# of history — and opens the LBS Console on them.
#
#   scripts/demo.sh             open the console window (needs a display)
#   scripts/demo.sh --headless  run the window under Xvfb, save a screenshot, and stop
#
# The demo lives in $LBS_DEMO_DIR (default /tmp/lbs-demo) and is recreated on each run.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD
headless=0
[[ "${1:-}" == "--headless" ]] && headless=1

bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
target=${CARGO_TARGET_DIR:-$here/target}

echo "== Building the console's front end and the Rust binaries (a few minutes the first time)"
npm run build >/dev/null
cargo build -p lbs-agent -p lbs-console

demo=${LBS_DEMO_DIR:-/tmp/lbs-demo}
rm -rf "$demo"
mkdir -p "$demo"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# The office's inbox for the agents' alerts: a real SMTP server and a webhook receiver.
smtp_port=2525 webhook_port=8090
/usr/bin/python3 scripts/demo/alert-inbox.py "$demo/inbox" $smtp_port $webhook_port > "$demo/inbox.log" 2>&1 &
pids+=($!)

links=()
setup_box() { # name dir port with-data
  local name=$1 dir=$demo/$2 port=$3 with_data=$4
  mkdir -p "$dir"/data/{etc/asterisk,spool/voicemail,spool/monitor,sounds/custom,moh}
  [[ $with_data == yes ]] && bash scripts/demo/sample-data.sh "$dir/data"
  cat > "$dir/agent.toml" <<CONF
[server]
name = "$name"
listen = "127.0.0.1:$port"
state_dir = "$dir/state"

[metrics]
interval = "2s"
mounts = ["/", "$dir/data"]

[pbx]
probe = ["$here/scripts/demo/pbx-probe.sh"]

[sync]
[[sync.category]]
name = "config"
label = "Configuration"
priority = 1
roots = ["$dir/data/etc/asterisk"]
[[sync.category]]
name = "voicemail"
label = "Voicemail"
priority = 2
roots = ["$dir/data/spool/voicemail"]
exclude = ["**/tmp/**"]
[[sync.category]]
name = "prompts"
label = "Voice prompts"
priority = 3
roots = ["$dir/data/sounds/custom"]
[[sync.category]]
name = "recordings"
label = "Call recordings"
priority = 4
roots = ["$dir/data/spool/monitor"]
[[sync.category]]
name = "moh"
label = "Music on hold"
priority = 4
roots = ["$dir/data/moh"]

# The office's alerts land in the demo's inbox (scripts/demo/alert-inbox.py): a mail server and
# an ntfy-style receiver on loopback. Stop a box (kill -STOP its agent) and watch them arrive.
[alerts]
partner_silent_after = "30s"
[[alerts.email]]
server = "127.0.0.1"
port = $smtp_port
security = "none"
from = "$name <pbx@office.example>"
to = ["office-manager@office.example"]
[[alerts.webhook]]
url = "http://127.0.0.1:$webhook_port/office-phones"
format = "ntfy"
CONF
  "$target/debug/lbs-agent" init --config "$dir/agent.toml" > "$dir/init.txt"
  "$target/debug/lbs-agent" demo seed-history --config "$dir/agent.toml" --days 14 >/dev/null
  "$target/debug/lbs-agent" run --config "$dir/agent.toml" > "$dir/agent.log" 2>&1 &
  pids+=($!)
  links+=(--connect "$(grep -m1 -o 'lbs://[^ ]*' "$dir/init.txt")")
}
echo "== Starting two agents with sample PBX data and 14 days of history"
setup_box "PBX A (server room)" pbx-a 7441 yes
setup_box "PBX B (comms room)" pbx-b 7442 no
sleep 1
echo "== Pairing PBX B with PBX A: B becomes the backup and copies A's data"
"$target/debug/lbs-agent" pair --config "$demo/pbx-b/agent.toml" "$(grep -m1 -o 'lbs://[^ ]*' "$demo/pbx-a/init.txt")"
sleep 3
"$target/debug/lbs-agent" status --config "$demo/pbx-b/agent.toml" | sed 's/^/   /'
echo "   PBX A: https://127.0.0.1:7441   (log: $demo/pbx-a/agent.log)"
echo "   PBX B: https://127.0.0.1:7442   (log: $demo/pbx-b/agent.log)"
echo "   Their connection links are in $demo/pbx-*/init.txt"
echo "   Alerts from the boxes (mail and webhooks) arrive in $demo/inbox (listed in $demo/inbox.log)."
echo "   To see one: kill -STOP \$(pgrep -f pbx-b/agent.toml); 30 s later both arrive; kill -CONT it to recover."

export LBS_CONSOLE_DATA_DIR=$demo/console
if [[ $headless == 0 && -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
  echo "== Opening the LBS Console. Closing its window leaves it watching in the tray; choose Quit in the"
  echo "   tray icon's menu (or press Ctrl+C here) to end the demo."
  if [[ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]]; then
    scripts/with-keyring.sh "$target/debug/lbs-console" "${links[@]}"
  else
    "$target/debug/lbs-console" "${links[@]}"
  fi
  exit 0
fi

if [[ $headless == 0 ]]; then
  echo "== There is no display here (DISPLAY is not set), so the demo runs the console headless:"
  echo "   under a virtual display (Xvfb), saving a screenshot. On a desktop, run scripts/demo.sh there."
fi
shot=$demo/console.png
LBS_DEMO_SHOT=$shot scripts/with-xvfb.sh scripts/with-keyring.sh bash -c '
  "$0" "$@" > "$LBS_CONSOLE_DATA_DIR.log" 2>&1 &
  app=$!
  sleep 12
  import -window root -crop 1200x800+0+0 +repage "$LBS_DEMO_SHOT"
  kill $app' "$target/debug/lbs-console" "${links[@]}"
echo "== Screenshot of the console: $shot"
