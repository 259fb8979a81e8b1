#!/usr/bin/env bash
# The agent's Debian package under a real systemd: two booted Debian 12 containers
# (systemd-nspawn --boot) on a private network, PBX A and PBX B, as a contractor would set them up.
#
#   tests/systemd/pair.sh <new.deb> [<baseline.deb>]
#
# Fresh install: the package on both, `lbs-agent setup` on each (B pairs with A's link), every
# category syncs (/etc/asterisk included), the journal keeps our lines with their priorities, a
# switchover starts and stops a stand-in PBX unit through systemctl, `systemctl restart`, a
# `kill -9` and a hung agent (the watchdog) are survived, automatic failover's vote is set up
# with `lbs-agent witness setup` on both boxes and the script it writes run on a third container
# (the witness), the disks' health timer is enabled and its oneshot service (the disks, no network)
# writes the snapshot the sandboxed agent shows, `remove` keeps the state and `purge` leaves
# nothing. FreePBX's database (a real MariaDB on each box, as on a FreePBX box): dumped through
# the hardened unit, a change brought over by the watch, loaded into the new primary's MariaDB by
# the switchover. Upgrade (with a baseline package): both boxes on the old package, paired and
# syncing, then the rolling upgrade of docs/agent.md (backup first, switchover, then the other):
# identity, tokens, role, history and every file are kept.
#
# Needs root, systemd-container, debootstrap. The container root is made once with debootstrap
# and cached outside the repository ($LBS_TEST_CACHE, default /var/cache/lbs-tests); each run
# boots throw-away copies of it (--ephemeral). Prints "N passed, N failed" at the end.
set -euo pipefail

NEW_DEB=$(realpath "${1:?usage: pair.sh <new.deb> [<baseline.deb>]}")
BASE_DEB=${2:+$(realpath "$2")}
CACHE=${LBS_TEST_CACHE:-/var/cache/lbs-tests}
# Everything the agent's package depends on (and etcd, which it recommends) is in the root: the
# containers have no network beyond their own, so dpkg -i must find its dependencies installed.
# MariaDB, as FreePBX keeps its configuration there (the shipped configuration dumps it);
# smartmontools for the disks' health timer.
INCLUDE=systemd,systemd-sysv,dbus,iproute2,iputils-arping,sqlite3,procps,init-system-helpers,etcd-server,etcd-client,mariadb-server,smartmontools
# One root per package list, so runs of branches with different lists never rebuild each
# other's root under a running container.
ROOT=$CACHE/bookworm-$(printf '%s' "$INCLUDE" | sha256sum | cut -c1-12)
NET=10.78.0
WORK=$(mktemp -d /tmp/lbs-systemd.XXXXXX)
passed=0
failed=0

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() {
    failed=$((failed + 1))
    echo "FAILED - $*" >&2
    for box in a b w; do
        [[ -f $WORK/$box.nspawn ]] || continue
        echo "---- journal of lbs-agent and etcd on $box ----" >&2
        on "$box" journalctl -u lbs-agent -u etcd --no-pager -n 60 >&2 || true
    done
    finish
}
finish() {
    echo
    echo "$passed passed, $failed failed"
    [[ $failed -eq 0 ]] || exit 1
    exit 0
}

# ---- The container root, made once ------------------------------------------------------------
make_root() {
    if [[ -f $ROOT/.lbs-include && $(cat "$ROOT/.lbs-include") == "$INCLUDE" ]]; then
        return
    fi
    say "Making the Debian 12 container root (once; cached in $ROOT)"
    rm -rf "$ROOT.new"
    mkdir -p "$CACHE"
    debootstrap --variant=minbase --include="$INCLUDE" bookworm "$ROOT.new" >"$CACHE/debootstrap.log" 2>&1 ||
        { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
    # No getty on a console nobody reads; the machine ID is made at each boot.
    rm -f "$ROOT.new/etc/machine-id"
    echo "$INCLUDE" >"$ROOT.new/.lbs-include"
    rm -rf "$ROOT"
    mv "$ROOT.new" "$ROOT"
}

# ---- The private network: a switch namespace and one namespace per box -------------------------
net_up() {
    ip netns add lbs-sd-sw
    ip -n lbs-sd-sw link add br0 type bridge
    ip -n lbs-sd-sw link set br0 up
    # a and b are the PBX boxes, w the witness of automatic failover's vote.
    for box in a b w; do
        local n=11
        [[ $box == b ]] && n=12
        [[ $box == w ]] && n=5
        ip netns add "lbs-sd-$box"
        ip link add "sd-$box" netns lbs-sd-sw type veth peer name eth0 netns "lbs-sd-$box"
        ip -n lbs-sd-sw link set "sd-$box" master br0 up
        ip -n "lbs-sd-$box" addr add "$NET.$n/24" dev eth0
        ip -n "lbs-sd-$box" link set eth0 up
        ip -n "lbs-sd-$box" link set lo up
    done
    # Nothing from this machine's own namespace may reach the lab's addresses.
    ip route add blackhole "$NET.0/24" 2>/dev/null || true
}
net_down() {
    for ns in lbs-sd-a lbs-sd-b lbs-sd-w lbs-sd-sw; do ip netns del "$ns" 2>/dev/null || true; done
    ip route del blackhole "$NET.0/24" 2>/dev/null || true
}

# ---- Booting and entering the boxes -------------------------------------------------------------
# This machine's whole disks, read-only in each box (an nspawn container has no disk of its own in
# /dev): the disks' health unit asks them, the agent's unit hides them.
DISKS=()
for disk in $(lsblk -dn -o NAME,TYPE | awk '$2 == "disk" { print $1 }'); do
    [[ -b /dev/$disk ]] && DISKS+=("--bind-ro=/dev/$disk")
done
boot() {
    local box=$1
    systemd-nspawn --boot --ephemeral --register=no --keep-unit --quiet -D "$ROOT" \
        --machine="pbx-$box" --hostname="pbx-$box" --network-namespace-path="/run/netns/lbs-sd-$box" \
        --bind-ro="$WORK/share:/share" "${DISKS[@]}" </dev/null >"$WORK/$box.console" 2>&1 &
    echo $! >"$WORK/$box.nspawn"
    local deadline=$((SECONDS + 60))
    until [[ -n $(leader "$box") && $(on "$box" systemctl is-system-running 2>/dev/null || true) =~ running|degraded ]]; do
        ((SECONDS < deadline)) || { cat "$WORK/$box.console" >&2; fail "box $box boots"; }
        sleep 0.2
    done
}
leader() { pgrep -P "$(cat "$WORK/$1.nspawn")" 2>/dev/null | head -1 || true; }
on() {
    local box=$1
    shift
    nsenter -t "$(leader "$box")" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}
halt() {
    for box in a b w; do
        [[ -f $WORK/$box.nspawn ]] || continue
        local pid
        pid=$(cat "$WORK/$box.nspawn")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$WORK/$box.nspawn"
    done
}
cleanup() {
    halt
    net_down
    rm -rf "$WORK"
}
trap cleanup EXIT

# wait_until <seconds> <what> <command...>: the condition, with a deadline.
wait_until() {
    local limit=$1 what=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "$what (within ${limit}s)"
        sleep 0.5
    done
    pass "$what"
}

# ---- What the boxes hold ----------------------------------------------------------------------
# The category roots of a stock FreePBX box (docs/agent.example.toml), but the dumps'.
ROOTS="/etc/asterisk /var/spool/asterisk/voicemail /var/spool/asterisk/monitor /var/lib/asterisk/sounds/en/custom /var/lib/asterisk/moh"

# The stand-in PBX: a unit the agent starts and stops through systemctl, its user and its folders
# (an installed Asterisk has them on both boxes).
pbx_unit() {
    local box=$1
    on "$box" sh -c 'cat > /etc/systemd/system/pbx.service <<EOF
[Unit]
Description=Stand-in PBX for the LBS test
[Service]
ExecStart=/bin/sleep infinity
EOF
systemctl daemon-reload; useradd --system --no-create-home asterisk'
    on "$box" sh -c "mkdir -p $ROOTS && chown asterisk: $ROOTS"
}

# The agent's config for the test: the shipped file (edited as a contractor would), the PBX unit
# managed, a fast dump, no hold before switching back.
configure() {
    local box=$1
    on "$box" sed -i \
        -e 's|^start = \[\]|start = ["systemctl", "start", "pbx"]|' \
        -e 's|^stop = \[\]|stop = ["systemctl", "stop", "pbx"]|' \
        -e 's|^running = \[\]|running = ["systemctl", "is-active", "--quiet", "pbx"]|' \
        -e 's|^check_interval = "10s"|check_interval = "2s"|' \
        -e 's|^dump_interval = "1m"|dump_interval = "10s"|' \
        -e 's|^hold = "1h"|hold = "0s"|' \
        /etc/lbs-agent/agent.toml
}

# A small FreePBX tree on A: config, astdb, FreePBX's database, voicemail, prompts (where
# FreePBX keeps them and where a plain Asterisk does, for the baseline's configuration),
# recordings, music on hold.
sample_data() {
    wait_until 60 "MariaDB runs on A" on a mysql -e "SELECT 1"
    on a mysql -e "CREATE DATABASE asterisk; CREATE TABLE asterisk.freepbx_settings (keyword VARCHAR(50) PRIMARY KEY, value VARCHAR(255)); INSERT INTO asterisk.freepbx_settings VALUES ('RINGTIMER', '15');" ||
        fail "FreePBX's database on A"
    on a sh -c '
set -e
mkdir -p /etc/asterisk /var/lib/asterisk /var/spool/asterisk/voicemail/default/1001/INBOX \
  /var/spool/asterisk/monitor /var/lib/asterisk/sounds/custom /var/lib/asterisk/sounds/en/custom /var/lib/asterisk/moh
printf "[from-internal]\nexten => 1001,1,Dial(PJSIP/1001)\n" > /etc/asterisk/extensions.conf
printf "[sales]\nstrategy = ringall\nmember => PJSIP/1001\n" > /etc/asterisk/queues.conf
sqlite3 /var/lib/asterisk/astdb.sqlite3 "CREATE TABLE astdb(key TEXT PRIMARY KEY, value TEXT); INSERT INTO astdb VALUES(\"/AMPUSER/1001/followme/grplist\", \"1001-2001\");"
for i in 1 2 3; do
  head -c 20000 /dev/urandom > /var/spool/asterisk/voicemail/default/1001/INBOX/msg000$i.wav
  printf "[message]\ncallerid=caller $i\n" > /var/spool/asterisk/voicemail/default/1001/INBOX/msg000$i.txt
done
head -c 3000000 /dev/urandom > /var/spool/asterisk/monitor/call-1.wav
head -c 200000 /dev/urandom > /var/lib/asterisk/sounds/custom/welcome.gsm
cp /var/lib/asterisk/sounds/custom/welcome.gsm /var/lib/asterisk/sounds/en/custom/welcome.gsm
head -c 1000000 /dev/urandom > /var/lib/asterisk/moh/jazz.gsm
chown -R asterisk: /var/spool/asterisk /var/lib/asterisk'
}

# listing <box> [roots]: every file of every category (or of these roots) with its content hash,
# owner and mode.
listing() {
    on "$1" sh -c "cd / && find ${2:-$ROOTS} -path '*/.lbs-sync' -prune -o -type f -printf '%p %u %m ' -exec sha256sum {} \\; | cut -d' ' -f1-4 | sort"
}
same_files() {
    local a
    a=$(listing a "$@")
    [[ -n $a && $a == "$(listing b "$@")" ]]
}
has_file() { on "$1" test -f "$2"; }
json() { on "$1" lbs-agent status --json; }
# field <box> <python expression on the status JSON `s`>: its value, read on this machine (the
# boxes have no JSON tools; a grep would also match the partner's fields).
field() { json "$1" | python3 -c "import json, sys; s = json.load(sys.stdin); print($2)"; }
role_is() { [[ $(field "$1" 's["role"]') == "$2" ]]; }
active() { [[ $(on "$1" systemctl is-active "$2" 2>/dev/null) == active ]]; }
inactive() { ! active "$@"; }
caught_up() { [[ $(field b 's["failover"]["hold"]["caught_up"]') == True ]]; }
link_of() { grep -o 'lbs://[^ ]*' "$1" | head -1; }
agent_pid() { on "$1" systemctl show -p MainPID --value lbs-agent; }

# ================================================================================================
make_root
mkdir -p "$WORK/share"
cp "$NEW_DEB" "$WORK/share/new.deb"
[[ -z $BASE_DEB ]] || cp "$BASE_DEB" "$WORK/share/base.deb"
net_down
net_up

say "Fresh install: the package and setup on both boxes"
boot a
boot b
pass "two Debian 12 containers booted under systemd"
started=$(date +%s.%N)
for box in a b; do
    pbx_unit "$box"
    on "$box" dpkg -i /share/new.deb >"$WORK/$box.dpkg" 2>&1 || { cat "$WORK/$box.dpkg" >&2; fail "dpkg -i on $box"; }
    [[ $(on "$box" systemctl is-enabled lbs-agent) == enabled ]] || fail "the unit is enabled on $box"
    inactive "$box" lbs-agent || fail "the agent waits for setup on $box"
    configure "$box"
done
pass "installed on both; the unit is enabled and waits for setup"

say "The disks' health: a timer and a oneshot unit with the disks and no network"
for box in a b; do
    [[ $(on "$box" systemctl is-enabled lbs-agent-smart.timer) == enabled ]] || fail "the disks' health timer is enabled on $box"
    active "$box" lbs-agent-smart.timer || fail "the disks' health timer runs on $box"
done
pass "lbs-agent-smart.timer is enabled and running on both"
# The boxes have no man-db for verify to ask: the page their Documentation= names is checked here.
verify=$(on a systemd-analyze verify --man=no /lib/systemd/system/lbs-agent-smart.timer /lib/systemd/system/lbs-agent-smart.service 2>&1) ||
    { echo "$verify" >&2; fail "systemd-analyze verify accepts the disks' health units"; }
[[ -z $verify ]] || { echo "$verify" >&2; fail "systemd-analyze verify is clean for the disks' health units"; }
on a test -f /usr/share/man/man1/lbs-agent-smart-snapshot.1.gz || fail "the man page the units name is installed"
pass "systemd-analyze verify: the timer and its service are clean; their man page is installed"
on a systemctl start lbs-agent-smart.service || {
    on a journalctl -u lbs-agent-smart --no-pager -n 30 >&2
    fail "systemctl start lbs-agent-smart.service"
}
on a cat /var/lib/lbs-agent/smart/disks.json >"$WORK/smart.json" || fail "the run writes /var/lib/lbs-agent/smart/disks.json"
on a lsblk -dn -o NAME,TYPE,SIZE -b | awk '$2 == "disk" && $3 > 0 && $1 !~ /^(zram|loop|ram)/ { print $1 }' | sort >"$WORK/disks"
# Every disk the box lists, each with its health or why not; the unit sees the disks (none "not
# visible"), and the snapshot is from now.
python3 - "$WORK/smart.json" "$WORK/disks" <<'PY' || fail "the snapshot lists every disk with its reading"
import json, sys, time
snapshot = json.load(open(sys.argv[1]))
disks = open(sys.argv[2]).read().split()
names = sorted(d["name"] for d in snapshot["disks"])
assert names == disks and disks, (names, disks)
assert abs(time.time() - snapshot["taken_unix"]) < 120, snapshot["taken_unix"]
for d in snapshot["disks"]:
    smart = d["smart"]
    assert smart["state"] in ("read", "unavailable"), d
    assert "not visible" not in smart.get("reason", ""), d
    print(f"   {d['name']}: {smart.get('reason') or smart['value']['verdict']}")
PY
on a journalctl -u lbs-agent-smart --no-pager | grep -q "Written to /var/lib/lbs-agent/smart/disks.json" ||
    fail "the run's lines are in the journal (journalctl -u lbs-agent-smart)"
pass "systemctl start lbs-agent-smart.service writes every disk's health (journalctl -u lbs-agent-smart)"
smart_score=$(on a systemd-analyze security lbs-agent-smart.service --no-pager 2>/dev/null |
    grep -o 'Overall exposure level for lbs-agent-smart.service: [0-9.]* [A-Z]*' || true)
[[ -n $smart_score ]] || fail "systemd-analyze security rates the disks' health unit"
pass "systemd-analyze security: $smart_score"
on a lbs-agent check-config --quiet || fail "check-config accepts the shipped configuration"
pass "lbs-agent check-config accepts the shipped configuration"
sample_data
on a lbs-agent setup --name "PBX A (server room)" --role primary --advertise "$NET.11:7443" >"$WORK/a.setup" 2>&1 ||
    { cat "$WORK/a.setup" >&2; fail "setup on A"; }
LINK=$(link_of "$WORK/a.setup")
[[ -n $LINK ]] || { cat "$WORK/a.setup" >&2; fail "setup on A prints a link"; }
active a lbs-agent || fail "setup starts the agent on A"
pass "setup on A: the agent runs and the link is printed"
# The agent's unit hides the disks; what it shows of their health is the timer's reading.
# shellcheck disable=SC2317 # called through wait_until
health_from_snapshot() {
    on a lbs-agent health --json >"$WORK/a.health" || return 1
    on a cat /var/lib/lbs-agent/smart/disks.json >"$WORK/smart.json" || return 1
    python3 - "$WORK/a.health" "$WORK/smart.json" <<'PY'
import json, sys
health = json.load(open(sys.argv[1]))
snapshot = {d["name"]: d["smart"] for d in json.load(open(sys.argv[2]))["disks"]}
shown = {d["name"]: d["smart"] for d in health["this"]["disks"]["value"]}
assert shown.keys() == snapshot.keys(), (shown, snapshot)
for name, smart in shown.items():
    theirs = snapshot[name]
    assert smart["state"] == theirs["state"], (name, smart, theirs)
    if smart["state"] == "unavailable":
        assert smart["reason"] == theirs["reason"], (name, smart, theirs)
    else:
        assert smart["value"]["verdict"] == theirs["value"]["verdict"], (name, smart, theirs)
assert not any(d["code"] == "smart_unavailable" for d in health["differences"]), health["differences"]
PY
}
wait_until 60 "A's agent, kept from the disks by its unit, shows each disk's health as the timer read it" health_from_snapshot
if on a lbs-agent setup --name "again" >"$WORK/a.again" 2>&1 || ! grep -q "already set up" "$WORK/a.again"; then
    cat "$WORK/a.again" >&2
    fail "setup on a box already set up is refused and changes nothing"
fi
pass "setup again is refused: this box is already set up"
on b lbs-agent setup --name "PBX B (comms room)" --partner "$LINK" --advertise "$NET.12:7443" >"$WORK/b.setup" 2>&1 ||
    { cat "$WORK/b.setup" >&2; fail "setup on B"; }
grep -q "Paired with PBX A (server room)" "$WORK/b.setup" || { cat "$WORK/b.setup" >&2; fail "setup on B pairs"; }
pass "setup on B: paired with A in the same command"

say "Sync: every category, /etc/asterisk included"
wait_until 120 "every file of every category on B, same content, owner and mode" same_files
wait_until 60 "the user settings' dump on B" \
    on b grep -q followme /var/lib/lbs-agent/dumps/astdb/astdb.sql
wait_until 60 "FreePBX's database dump on B" \
    on b grep -q RINGTIMER /var/lib/lbs-agent/dumps/freepbx/asterisk.sql
wait_until 60 "B reports it has every change" caught_up
# A figure for docs/benchmarks.md: install, setup on both, the first copy (4.3 MB of sample data).
awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "   from dpkg -i to a protected pair: %.1f s\n", b - a }'

say "Logs: the journal keeps our lines with their priorities"
journal=$(on a journalctl -u lbs-agent --no-pager)
[[ $journal == *"lbs-agent started"* ]] || fail "the agent's lines are in the journal"
pass "journalctl -u lbs-agent shows the agent's lines"
errors=$(on a journalctl -u lbs-agent -p err --no-pager)
[[ $errors != *"lbs-agent started"* ]] || fail "an info line is not an error"
# A dump that fails is an error: the database file replaced by a folder for a moment.
on a sh -c 'mv /var/lib/asterisk/astdb.sqlite3 /var/lib/asterisk/astdb.keep && mkdir /var/lib/asterisk/astdb.sqlite3'
wait_until 60 "journalctl -p err shows a failing dump" \
    sh -c "nsenter -t $(leader a) -a -- journalctl -u lbs-agent -p err --no-pager | grep -q 'dump failed'"
on a sh -c 'rmdir /var/lib/asterisk/astdb.sqlite3 && mv /var/lib/asterisk/astdb.keep /var/lib/asterisk/astdb.sqlite3'

say "FreePBX's database: a change is dumped when it is written"
# The category's interval is 5 min: only the watch on MariaDB's redo log brings it over this soon.
on a mysql -e "UPDATE asterisk.freepbx_settings SET value = '45' WHERE keyword = 'RINGTIMER'" || fail "a FreePBX setting changed on A"
wait_until 20 "the changed setting in B's copy of the dump" \
    on b grep -q "'RINGTIMER','45'" /var/lib/lbs-agent/dumps/freepbx/asterisk.sql
pass "a FreePBX setting changed on A reaches B's copy within seconds"

say "Switchover: the stand-in PBX moves through systemctl"
wait_until 30 "the PBX runs on the primary A" active a pbx
inactive b pbx || fail "the PBX is stopped on the backup B"
on b lbs-agent switchover --reason "systemd test" >"$WORK/switch" 2>&1 || { cat "$WORK/switch" >&2; fail "switchover"; }
role_is b primary && role_is a backup || fail "B is the primary, A the backup"
active b pbx && inactive a pbx || fail "the PBX runs on B only"
pass "switchover: B is the primary and runs the PBX; A stopped it"
[[ $(on b mysql -N -e "SELECT value FROM asterisk.freepbx_settings WHERE keyword = 'RINGTIMER'") == 45 ]] ||
    fail "the switchover loaded FreePBX's database into B's MariaDB"
pass "the switchover loaded FreePBX's database into B's MariaDB"
on b sh -c 'head -c 5000 /dev/urandom > /var/spool/asterisk/voicemail/default/1001/INBOX/msg0004.wav'
wait_until 60 "a voicemail left on the new primary reaches A" has_file a /var/spool/asterisk/voicemail/default/1001/INBOX/msg0004.wav

say "Restarts: systemctl restart, kill -9, a hung agent"
before=$(agent_pid a)
on a systemctl restart lbs-agent
active a lbs-agent && [[ $(agent_pid a) != "$before" ]] || fail "systemctl restart"
wait_until 30 "after systemctl restart, A answers as the backup" role_is a backup
before=$(agent_pid b)
on b kill -9 "$before"
wait_until 30 "after kill -9, systemd starts B's agent again" sh -c "[ \"\$(nsenter -t $(leader b) -a -- systemctl show -p MainPID --value lbs-agent)\" != $before ] && nsenter -t $(leader b) -a -- systemctl is-active -q lbs-agent"
b_primary_and_pbx() { role_is b primary && active b pbx; }
wait_until 30 "B is still the primary, its PBX still running" b_primary_and_pbx
# A hung agent (stopped by a signal) stops pinging the watchdog; a shorter period keeps the
# test short.
on a sh -c 'mkdir -p /run/systemd/system/lbs-agent.service.d && printf "[Service]\nWatchdogSec=6s\n" > /run/systemd/system/lbs-agent.service.d/watchdog.conf && systemctl daemon-reload && systemctl restart lbs-agent'
wait_until 30 "A's agent runs with the short watchdog" active a lbs-agent
hung=$(agent_pid a)
on a kill -STOP "$hung"
wait_until 60 "a hung agent is killed by the watchdog and started again" \
    sh -c "[ \"\$(nsenter -t $(leader a) -a -- systemctl show -p MainPID --value lbs-agent)\" != $hung ] && nsenter -t $(leader a) -a -- systemctl is-active -q lbs-agent"
wait_until 30 "the journal says the watchdog fired" \
    sh -c "nsenter -t $(leader a) -a -- journalctl -u lbs-agent --no-pager | grep -qi 'watchdog timeout'"
on a sh -c 'rm -r /run/systemd/system/lbs-agent.service.d && systemctl daemon-reload'

say "Hardening"
on a systemd-analyze security lbs-agent --no-pager >"$WORK/security" 2>&1 || true
score=$(grep -o 'Overall exposure level for lbs-agent.service: [0-9.]* [A-Z]*' "$WORK/security" || true)
[[ -n $score ]] || { cat "$WORK/security" >&2; fail "systemd-analyze security rates the unit"; }
echo "   $score"
pass "systemd-analyze security: $score"

say "The disks' health timer by itself"
# B's service was never started by hand: a run there is the timer's, a minute after install.
# shellcheck disable=SC2317 # called through wait_until
timer_ran() { on b journalctl -u lbs-agent-smart --no-pager | grep -q "Written to /var/lib/lbs-agent/smart/disks.json"; }
wait_until 120 "on B, the timer ran the disks' health service by itself" timer_ran

say "Automatic failover's vote: witness setup on both boxes, the script on the witness"
boot w
pass "a third container, the witness, booted"
# B is the primary since the switchover: the contractor runs the first setup there.
on b lbs-agent witness setup --witness "$NET.5" --script /root/lbs-witness-setup.sh >"$WORK/w.b" 2>&1 ||
    { cat "$WORK/w.b" >&2; fail "witness setup on the primary B"; }
for said in "PBX A (server room) received its part of the vote" "scp /root/lbs-witness-setup.sh root@$NET.5:" \
    "On PBX A (server room), run:  sudo lbs-agent witness setup"; do
    grep -q -F "$said" "$WORK/w.b" || { cat "$WORK/w.b" >&2; fail "witness setup on B says: $said"; }
done
[[ $(on b stat -c %a /root/lbs-witness-setup.sh) == 600 ]] || fail "the witness's script is 0600 (it holds a key)"
pass "witness setup on B: A received its part, the script is written, the next steps printed"
if on b lbs-agent witness setup --witness "$NET.5" --script /root/again.sh >"$WORK/w.again" 2>&1 ||
    ! grep -q -- "--again" "$WORK/w.again"; then
    cat "$WORK/w.again" >&2
    fail "witness setup again without --again is refused"
fi
pass "witness setup again is refused without --again"
# As the contractor copies it (scp), through this machine.
on b cat /root/lbs-witness-setup.sh | on w sh -c 'umask 077; cat > /root/lbs-witness-setup.sh'
on w sh /root/lbs-witness-setup.sh >"$WORK/w.w" 2>&1 || { cat "$WORK/w.w" >&2; fail "the witness's script"; }
grep -q "The witness is set up: its etcd member is healthy" "$WORK/w.w" || { cat "$WORK/w.w" >&2; fail "the witness's script checks its member"; }
pass "the witness's script: etcd set up, enabled, healthy with B's member"
on a lbs-agent witness setup >"$WORK/w.a" 2>&1 || { cat "$WORK/w.a" >&2; fail "witness setup on the backup A"; }
grep -q "The vote has a majority" "$WORK/w.a" || { cat "$WORK/w.a" >&2; fail "witness setup on A waits for the vote"; }
pass "witness setup on A: installed what it received, the vote has its majority"
# health <box>: the three members answer this machine's own certificate.
ENDPOINTS="https://$NET.11:2379,https://$NET.12:2379,https://$NET.5:2379"
# shellcheck disable=SC2317 # called through wait_until
health() {
    local healthy
    healthy=$(on "$1" sh -c "ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS --cacert=/etc/lbs-vote/ca.pem \
        --cert=/etc/lbs-vote/member.pem --key=/etc/lbs-vote/member.key endpoint health 2>&1" | grep -c 'is healthy')
    [[ $healthy == 3 ]]
}
for box in a b w; do
    wait_until 60 "all three members answer $box's own certificate" health "$box"
    [[ $(on "$box" systemctl is-enabled etcd) == enabled ]] || fail "etcd is enabled on $box"
    active "$box" etcd || fail "etcd runs on $box"
    [[ $(on "$box" stat -c '%a %U' /etc/lbs-vote/member.key) == "600 etcd" ]] || fail "the key on $box is etcd's, 0600"
    on "$box" test -f /etc/default/etcd.before-lbs || fail "Debian's etcd settings are kept aside on $box"
done
for box in a b; do
    on "$box" grep -q '^automatic = true' /etc/lbs-agent/agent.toml || fail "automatic failover is on in $box's agent.toml"
    on "$box" lbs-agent check-config --quiet || fail "check-config accepts $box's configuration with [witness]"
    active "$box" lbs-agent || fail "the agent runs again on $box"
done
pass "etcd enabled on the three machines; both agents restarted with [witness] and automatic = true"
on a systemctl restart etcd || fail "etcd restarts on A"
wait_until 60 "A's member rejoins the vote after a restart" health a
halt_witness() {
    local pid
    pid=$(cat "$WORK/w.nspawn")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$WORK/w.nspawn"
}
halt_witness

say "remove keeps the state, purge leaves nothing"
id_before=$(on a cat /var/lib/lbs-agent/identity.json)
on a dpkg -r lbs-agent >/dev/null 2>&1 || fail "dpkg -r"
[[ $(on a cat /var/lib/lbs-agent/identity.json) == "$id_before" ]] || fail "remove keeps the identity"
! on a pgrep -x lbs-agent >/dev/null || fail "remove stops the agent"
inactive a lbs-agent-smart.timer || fail "remove stops the disks' health timer"
on a dpkg -i /share/new.deb >/dev/null 2>&1 || fail "reinstall"
wait_until 30 "reinstalled, the agent runs again with the same identity" active a lbs-agent
active a lbs-agent-smart.timer || fail "reinstalled, the disks' health timer runs again"
[[ $(on a cat /var/lib/lbs-agent/identity.json) == "$id_before" ]] || fail "same identity after reinstall"
on a dpkg --purge lbs-agent >/dev/null 2>&1 || fail "dpkg --purge"
left=$(on a sh -c 'ls -d /var/lib/lbs-agent /etc/lbs-agent /usr/bin/lbs-agent /lib/systemd/system/lbs-agent.service /etc/systemd/system/multi-user.target.wants/lbs-agent.service /lib/systemd/system/lbs-agent-smart.service /lib/systemd/system/lbs-agent-smart.timer /etc/systemd/system/timers.target.wants/lbs-agent-smart.timer /etc/systemd/system/lbs-agent-smart.timer 2>/dev/null; pgrep -x lbs-agent' || true)
[[ -z $left ]] || fail "purge leaves nothing (left: $left)"
pass "remove keeps the state; purge leaves nothing"
halt

if [[ -z $BASE_DEB ]]; then
    finish
fi

# ================================================================================================
say "Upgrade: both boxes on the baseline package, paired and syncing"
# The baseline's configuration keeps the prompts where a plain Asterisk does (its conffile is kept).
ROOTS=${ROOTS/sounds\/en\/custom/sounds\/custom}
boot a
boot b
for box in a b; do
    pbx_unit "$box"
    on "$box" dpkg -i /share/base.deb >"$WORK/$box.dpkg" 2>&1 || { cat "$WORK/$box.dpkg" >&2; fail "baseline dpkg -i on $box"; }
    configure "$box"
done
sample_data
# The baseline had no `setup`: the name by hand, init, start, pair.
on a sed -i '0,/^name = /s|^name = .*|name = "PBX A (server room)"|; s|^# advertise = .*|advertise = "'"$NET"'.11:7443"|' /etc/lbs-agent/agent.toml
on b sed -i '0,/^name = /s|^name = .*|name = "PBX B (comms room)"|; s|^# advertise = .*|advertise = "'"$NET"'.12:7443"|' /etc/lbs-agent/agent.toml
on a lbs-agent init --role primary >"$WORK/a.init" 2>&1 || { cat "$WORK/a.init" >&2; fail "baseline init on A"; }
on b lbs-agent init --role backup >"$WORK/b.init" 2>&1 || { cat "$WORK/b.init" >&2; fail "baseline init on B"; }
for box in a b; do on "$box" systemctl enable --now lbs-agent >/dev/null 2>&1; done
old_score=$(on a systemd-analyze security lbs-agent --no-pager 2>/dev/null | grep -o 'Overall exposure level for lbs-agent.service: [0-9.]* [A-Z]*' || true)
echo "   the baseline unit: ${old_score:-not rated}"
wait_until 30 "the baseline agents run" sh -c "nsenter -t $(leader a) -a -- lbs-agent status >/dev/null && nsenter -t $(leader b) -a -- lbs-agent status >/dev/null"
on b lbs-agent pair "$(link_of "$WORK/a.init")" >"$WORK/pair" 2>&1 || { cat "$WORK/pair" >&2; fail "baseline pair"; }
# The baseline unit kept /etc read-only: its backup could not install /etc/asterisk.
wait_until 120 "the baseline pair copies the voicemail" same_files /var/spool/asterisk/voicemail
ids() { on "$1" cat /var/lib/lbs-agent/identity.json; }
id_a=$(ids a)
id_b=$(ids b)
token_b=$(link_of "$WORK/b.init" | sed 's/.*token=\([^&]*\).*/\1/')
history_b=$(on b sqlite3 /var/lib/lbs-agent/history.db 'SELECT COUNT(*) FROM samples_raw' 2>/dev/null || echo 0)

say "Rolling upgrade: the backup first"
# Unattended, as docs/agent.md says: the edited agent.toml (a conffile) is kept, never a prompt.
conf_b=$(on b sha256sum /etc/lbs-agent/agent.toml)
on b dpkg --force-confold -i /share/new.deb >"$WORK/b.up" 2>&1 || { cat "$WORK/b.up" >&2; fail "upgrade B"; }
wait_until 30 "B runs the new agent after the upgrade" sh -c "nsenter -t $(leader b) -a -- lbs-agent status | grep -q 'version $(dpkg-deb -f "$NEW_DEB" Version)'"
[[ $(ids b) == "$id_b" ]] || fail "B keeps its identity"
[[ $(on b sha256sum /etc/lbs-agent/agent.toml) == "$conf_b" ]] || fail "B keeps its edited agent.toml"
role_is b backup || fail "B is still the backup"
[[ $(on b systemctl is-enabled lbs-agent-smart.timer) == enabled ]] ||
    fail "the upgrade from a version without it enables the disks' health timer"
active b lbs-agent-smart.timer || fail "the upgrade starts the disks' health timer"
on a sh -c 'printf "[message]\ncallerid=after B upgrade\n" > /var/spool/asterisk/voicemail/default/1001/INBOX/msg0005.txt'
wait_until 60 "the old primary still feeds the upgraded backup" has_file b /var/spool/asterisk/voicemail/default/1001/INBOX/msg0005.txt
wait_until 120 "now /etc/asterisk reaches B too (the new unit lets it write /etc)" same_files
on b lbs-agent switchover --reason "rolling upgrade" >"$WORK/switch" 2>&1 || { cat "$WORK/switch" >&2; fail "switchover to the upgraded B"; }
role_is b primary || fail "B is the primary"
pass "switchover to the upgraded backup"

say "Rolling upgrade: then the other"
on a dpkg --force-confold -i /share/new.deb >"$WORK/a.up" 2>&1 || { cat "$WORK/a.up" >&2; fail "upgrade A"; }
wait_until 30 "A runs the new agent as the backup" role_is a backup
[[ $(ids a) == "$id_a" ]] || fail "A keeps its identity"
on b sh -c 'head -c 7000 /dev/urandom > /var/spool/asterisk/voicemail/default/1001/INBOX/msg0006.wav'
wait_until 60 "a voicemail on the new primary reaches the upgraded A" has_file a /var/spool/asterisk/voicemail/default/1001/INBOX/msg0006.wav
wait_until 120 "after both upgrades every file is on both boxes" same_files
[[ $(field b 's["epoch"]') == 2 ]] || fail "B's epoch is 2 after one switchover"
history_after=$(on b sqlite3 /var/lib/lbs-agent/history.db 'SELECT COUNT(*) FROM samples_raw' 2>/dev/null || echo 0)
((history_after >= history_b)) || fail "B's history is kept ($history_b rows before, $history_after after)"
pass "history kept ($history_b samples before the upgrade, $history_after after)"
# The console's token from before the upgrade still opens B's API (asked from A's network).
[[ -n $token_b ]] || fail "B's link had a token"
code=$(ip netns exec lbs-sd-a curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token_b" "https://$NET.12:7443/api/v1/status")
[[ $code == 200 ]] || fail "B's token from before the upgrade is accepted (got $code)"
code=$(ip netns exec lbs-sd-a curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong" "https://$NET.12:7443/api/v1/status")
[[ $code == 401 ]] || fail "a wrong token is refused (got $code)"
pass "tokens kept"
finish
