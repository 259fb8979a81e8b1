#!/bin/sh
# The demo's phone system, as the agent runs it ([pbx] start, stop and running): "running" is a
# small SIP server (sip-answer.py) answering at 127.0.0.1:PORT like a PBX, so the partner's agent
# can tell a box whose agent is silent while its phones still work from a box that is gone.
#
#   pbx.sh start|stop|running DIR PORT      (DIR keeps its pid file and log)
set -u
cmd=${1:-} dir=${2:-} port=${3:-}
if [ -z "$cmd" ] || [ -z "$dir" ] || [ -z "$port" ]; then
  echo "usage: $0 start|stop|running DIR PORT" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
pidf="$dir/pbx.pid"

# Our SIP server with that pid, not a zombie, not another program that took the pid since.
alive() {
  [ -r "/proc/$1/stat" ] && ! grep -q '^[^)]*) Z' "/proc/$1/stat" &&
    tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -q "sip-answer.py $port"
}
running() { [ -f "$pidf" ] && alive "$(cat "$pidf")"; }

case "$cmd" in
start)
  running && exit 0
  mkdir -p "$dir"
  # Its own session: it outlives the agent's command, like a service would.
  setsid /usr/bin/python3 "$here/sip-answer.py" "$port" >> "$dir/pbx.log" 2>&1 < /dev/null &
  echo $! > "$pidf"
  # Up when its port is taken (python takes a moment to start); a clash is said at once.
  for _ in $(seq 50); do
    alive "$(cat "$pidf")" || { echo "the demo PBX did not start; see $dir/pbx.log" >&2; exit 1; }
    grep -qi ":$(printf '%04X' "$port") " /proc/net/udp && exit 0
    sleep 0.1
  done
  echo "the demo PBX did not open UDP port $port within 5 s; see $dir/pbx.log" >&2
  exit 1 ;;
stop)
  running || { rm -f "$pidf"; exit 0; }
  pid=$(cat "$pidf")
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 50); do alive "$pid" || { rm -f "$pidf"; exit 0; }; sleep 0.1; done
  echo "the demo PBX (pid $pid) did not stop within 5 s" >&2
  exit 1 ;;
running)
  running ;;
*)
  echo "usage: $0 start|stop|running DIR PORT" >&2
  exit 2 ;;
esac
