#!/usr/bin/env bash
# The LBS demo: installs what is missing, builds, then runs two agents on loopback — "PBX A"
# (primary) and "PBX B" (backup) with sample Asterisk data, simulated PBX activity and two weeks
# of history — puts the pair on autopilot (automatic failover, with a witness vote of three etcd
# members set up by the real `lbs-agent witness setup`), and opens the LBS Console on them.
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
# Each box runs the demo's phone system (scripts/demo/pbx.sh: a SIP server answering at its own
# port), started and stopped by its agent like a real PBX; it outlives an agent, so it is stopped
# here too.
sip_a=5160 sip_b=5161
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  scripts/demo/pbx.sh stop "$demo/pbx-a/pbx" $sip_a 2>/dev/null || true
  scripts/demo/pbx.sh stop "$demo/pbx-b/pbx" $sip_b 2>/dev/null || true
}
trap cleanup EXIT

# Waits until a command succeeds, at most $2 seconds: wait_for "what" SECONDS COMMAND...
wait_for() {
  local what=$1 limit=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "!! $what did not happen within $limit s; the logs are in $demo" >&2
      exit 1
    fi
    sleep 0.2
  done
}

# The office's inbox for the agents' alerts: a real SMTP server and a webhook receiver.
smtp_port=2525 webhook_port=8090
/usr/bin/python3 scripts/demo/alert-inbox.py "$demo/inbox" $smtp_port $webhook_port > "$demo/inbox.log" 2>&1 &
pids+=($!)

links=()
declare -A agent_pid
setup_box() { # name dir port with-data sip-port partner's-sip-port
  local name=$1 dir=$demo/$2 port=$3 with_data=$4 sip=$5 partner_sip=$6
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
start = ["$here/scripts/demo/pbx.sh", "start", "$dir/pbx", "$sip"]
stop = ["$here/scripts/demo/pbx.sh", "stop", "$dir/pbx", "$sip"]
running = ["$here/scripts/demo/pbx.sh", "running", "$dir/pbx", "$sip"]
sip_check = "127.0.0.1:$sip"
check_interval = "2s"

# Automatic failover: where this box asks whether its partner's phones still answer.
# \`lbs-agent witness setup\` adds \`automatic = true\` and the vote ([witness]) below.
[failover]
partner_sip = "127.0.0.1:$partner_sip"

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
  start_agent "$2" "$port"
  links+=(--connect "$(grep -m1 -o 'lbs://[^ ]*' "$dir/init.txt")")
}
start_agent() { # dir port
  local dir=$demo/$1
  "$target/debug/lbs-agent" run --config "$dir/agent.toml" >> "$dir/agent.log" 2>&1 &
  agent_pid[$1]=$!
  echo $! > "$dir/agent.pid"
  pids+=($!)
  wait_for "the agent of $1 answering on port $2" 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$2"
}
restart_agent() { # dir port
  kill "${agent_pid[$1]}"
  wait "${agent_pid[$1]}" 2>/dev/null || true
  start_agent "$1" "$2"
}
agent() { "$target/debug/lbs-agent" "$@"; }
echo "== Starting two agents with sample PBX data and 14 days of history"
setup_box "PBX A (server room)" pbx-a 7441 yes $sip_a $sip_b
setup_box "PBX B (comms room)" pbx-b 7442 no $sip_b $sip_a
echo "== Pairing PBX B with PBX A: B becomes the backup and copies A's data"
agent pair --config "$demo/pbx-b/agent.toml" "$(grep -m1 -o 'lbs://[^ ]*' "$demo/pbx-a/init.txt")"

# The vote for automatic failover, as an IT contractor sets it up (docs/failover.md): three etcd
# members — PBX A, PBX B and a witness — here on 127.0.0.1, 127.0.0.2 and 127.0.0.3 of this one
# machine (Linux answers on all of 127.0.0.0/8), each with its files under $demo/vote/<machine>
# instead of /etc (--install-root), and etcd started by this script instead of systemd.
echo "== Setting up the witness: automatic failover for the pair (lbs-agent witness setup)"
vote=$demo/vote
mkdir -p "$vote"
etcd_client=12379 etcd_peer=12380
agent witness setup --config "$demo/pbx-a/agent.toml" --witness 127.0.0.3 --address 127.0.0.1 \
  --partner-address 127.0.0.2 --client-port $etcd_client --peer-port $etcd_peer \
  --script "$vote/lbs-witness-setup.sh" --install-root "$vote/a" > "$vote/setup-a.txt"
LBS_WITNESS_ROOT=$vote/witness sh "$vote/lbs-witness-setup.sh" > "$vote/setup-witness.txt"
agent witness setup --config "$demo/pbx-b/agent.toml" --install-root "$vote/b" > "$vote/setup-b.txt"
for m in a b witness; do
  # As Debian's etcd.service runs it: the settings the setup wrote, exported, then etcd.
  sh -c 'set -a; . "$1"; exec etcd' sh "$vote/$m/etc/default/etcd" > "$vote/$m/etcd.log" 2>&1 &
  pids+=($!)
done
# The agents read their new [witness] and `automatic = true` when they start.
restart_agent pbx-a 7441
restart_agent pbx-b 7442
for box in pbx-a pbx-b; do
  wait_for "$box on autopilot" 60 bash -c \
    "'$target/debug/lbs-agent' autopilot --config '$demo/$box/agent.toml' | grep -q '^Autopilot: *On autopilot'"
done
# Caught up, and every category copied once since the restart (no "never" in its table).
wait_for "PBX B catching up with PBX A" 120 bash -c \
  "s=\$('$target/debug/lbs-agent' status --config '$demo/pbx-b/agent.toml') && grep -q '^Caught up: *yes' <<<\"\$s\" && ! grep -q ' never\$' <<<\"\$s\""
agent status --config "$demo/pbx-b/agent.toml" | sed 's/^/   /'
echo
agent autopilot --config "$demo/pbx-b/agent.toml" | sed 's/^/   /'
echo
echo "   PBX A: https://127.0.0.1:7441   (log: $demo/pbx-a/agent.log)"
echo "   PBX B: https://127.0.0.1:7442   (log: $demo/pbx-b/agent.log)"
echo "   Their connection links are in $demo/pbx-*/init.txt; the vote's files and etcd logs in $vote"
echo "   Alerts from the boxes (mail and webhooks) arrive in $demo/inbox (listed in $demo/inbox.log)."
echo "   To see one: kill -STOP \$(cat $demo/pbx-b/agent.pid); 30 s later both arrive; kill -CONT it to recover."
echo "   The pair is on autopilot. To see it work, take PBX A away — its agent frozen, its phone system"
echo "   stopped:"
echo "       kill -STOP \$(cat $demo/pbx-a/agent.pid); scripts/demo/pbx.sh stop $demo/pbx-a/pbx $sip_a"
echo "   PBX B takes over by itself within about 11 s, and the console shows it (the Events tab says"
echo "   \"autopilot\"). Freeze only the agent and nothing moves: PBX A's phone system still answers, and"
echo "   PBX B says so. \`kill -CONT\` the agent afterwards: PBX A rejoins as the backup."

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
