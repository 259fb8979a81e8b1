#!/usr/bin/env bash
# selftest.sh — checks the office lab end to end (office.sh, pbx.sh, the knot and kamailio
# templates) without the Rust tests: DNS + TSIG updates, kamailio on both boxes, VIP move
# with gratuitous ARP, cut/heal, start/stop/running, the voicemail writer, two labs at once,
# and that `down` leaves nothing behind. Needs root and the lab's Debian packages
# (knot, knot-dnsutils, bind9-dnsutils, kamailio, sipsak, iputils-arping, iproute2).
#
#   tests/lab/selftest.sh [<dir1> <n1> [<dir2> <n2>]]    defaults: /tmp/labtest 7, /tmp/labtest8 8
# The work dirs are emptied and created. Exit status 0 when every check passes.
set -euo pipefail

LAB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
D1=${1:-/tmp/labtest} N1=${2:-7} D2=${3:-/tmp/labtest8} N2=${4:-8}
FAILS=0

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
ok() { echo "ok   $*"; }
bad() {
    echo "FAIL $*"
    FAILS=$((FAILS + 1))
}
check() { # check <description> <command...>
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
check_not() {
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then bad "$what"; else ok "$what"; fi
}
in_ns() { ip netns exec "$@"; }
# reach <ns> <ip>: one ICMP echo (ping if installed, else one ARP probe).
reach() {
    if command -v ping >/dev/null; then
        in_ns "$1" ping -c 1 -W 1 "$2"
    else
        in_ns "$1" arping -c 1 -w 1 -I eth0 "$2"
    fi
}
# reach_soon <ns> <ip>: reachable within 5 s. After a heal the first packets can still fail:
# a neighbour entry left INCOMPLETE by the cut turns FAILED when its 3 probes (1 s apart) run
# out, and the kernel then reports "host unreachable" for whatever was queued.
reach_soon() {
    local i
    for ((i = 0; i < 5; i++)); do
        reach "$@" && return 0
        sleep 0.2
    done
    return 1
}
# sip_box <ns> <ip>: the X-LBS-Box of the 200 OK to an OPTIONS ping, empty if none.
sip_box() {
    in_ns "$1" timeout 2 sipsak -vv -s "sip:ping@$2" 2>/dev/null |
        sed -n 's/^X-LBS-Box: *\([a-z]*\).*/\1/p' | head -n 1
}
dig_a() { in_ns "$1" dig +time=1 +tries=1 +short "@$2" pbx.office.lan A "${@:3}"; }
update_a() { # update_a <ns> <dns-ip> <new-ip> [knsupdate args...]
    printf 'server %s 53\nzone office.lan.\nupdate delete pbx.office.lan. A\nupdate add pbx.office.lan. 5 A %s\nsend\n' \
        "$2" "$3" | in_ns "$1" knsupdate "${@:4}"
}
count_vm() { find "$1" -maxdepth 1 -name 'vm-*.txt' | wc -l; }
lab_procs() { # live knotd/kamailio/writer processes whose command line mentions <dir>
    local pid st
    for pid in $(pgrep -f -- "$1/" || true); do
        read -r st <"/proc/$pid/stat" 2>/dev/null || continue
        st=${st##*) }
        [[ ${st%% *} == Z ]] || echo "$pid"
    done
}

cleanup() {
    "$LAB/office.sh" down "$D1" "$N1" || true
    "$LAB/office.sh" down "$D2" "$N2" || true
}
trap cleanup EXIT

for d in "$D1" "$D2"; do
    rm -rf "$d"
    mkdir -p "$d"
done
"$LAB/office.sh" down "$D1" "$N1"
"$LAB/office.sh" down "$D2" "$N2"

echo "== lab $N1 in $D1"
t=$(date +%s%N)
"$LAB/office.sh" up "$D1" "$N1"
echo "time up: $(ms_since "$t") ms"
# shellcheck source=/dev/null
. "$D1/lab.env"
A=$LAB_NS_A B=$LAB_NS_B PH=$LAB_NS_PHONE
for ns in "$LAB_NS_SW" "$LAB_NS_DNS" "$A" "$B" "$PH"; do
    check "namespace $ns exists" test -e "/run/netns/$ns"
done
check "blackhole route for 10.77.$N1.0/24" bash -c "ip route show type blackhole | grep -q '10.77.$N1.0/24'"
check "nonlocal bind in a" bash -c "[[ \$(ip netns exec $A sysctl -n net.ipv4.ip_nonlocal_bind) == 1 ]]"
check "tsig.secret is 0600, 44 base64 chars, no newline" \
    bash -c "[[ \$(stat -c %a '$D1/tsig.secret') == 600 && \$(wc -c <'$D1/tsig.secret') == 44 && \$(base64 -d '$D1/tsig.secret' | wc -c) == 32 ]]"
check "lab.env names" bash -c "[[ $LAB_ZONE == office.lan. && $LAB_NAME == pbx.office.lan. && $LAB_TSIG_NAME == lbs-update && $LAB_TSIG_ALG == hmac-sha256 && $LAB_PREFIX == 24 ]]"

echo "== DNS"
check "dig (UDP) from phone gives $LAB_IP_A" test "$(dig_a "$PH" "$LAB_IP_DNS")" == "$LAB_IP_A"
check "dig (TCP) from phone gives $LAB_IP_A" test "$(dig_a "$PH" "$LAB_IP_DNS" +tcp)" == "$LAB_IP_A"
check_not "root namespace cannot reach the lab (blackhole)" dig +time=1 +tries=1 "@$LAB_IP_DNS" pbx.office.lan
check_not "unsigned update refused" update_a "$PH" "$LAB_IP_DNS" "$LAB_IP_B"
check_not "update with a wrong key refused" update_a "$PH" "$LAB_IP_DNS" "$LAB_IP_B" \
    -y "hmac-sha256:lbs-update:$(head -c 32 /dev/urandom | base64 -w0)"
check "record unchanged after refused updates" test "$(dig_a "$PH" "$LAB_IP_DNS")" == "$LAB_IP_A"
check "signed knsupdate accepted" update_a "$PH" "$LAB_IP_DNS" "$LAB_IP_B" -y "hmac-sha256:lbs-update:$(<"$D1/tsig.secret")"
check "dig shows $LAB_IP_B" test "$(dig_a "$PH" "$LAB_IP_DNS")" == "$LAB_IP_B"
check "signed nsupdate accepted (back to a)" bash -c "printf 'server $LAB_IP_DNS 53\nzone office.lan.\nupdate delete pbx.office.lan. A\nupdate add pbx.office.lan. 5 A $LAB_IP_A\nsend\n' | ip netns exec $PH nsupdate -y hmac-sha256:lbs-update:\$(cat $D1/tsig.secret)"
check "dig shows $LAB_IP_A again" test "$(dig_a "$PH" "$LAB_IP_DNS")" == "$LAB_IP_A"

echo "== PBX on box a"
t=$(date +%s%N)
in_ns "$A" "$LAB/pbx.sh" start "$D1" a
echo "time pbx start a: $(ms_since "$t") ms"
check "running a" in_ns "$A" "$LAB/pbx.sh" running "$D1" a
check "OPTIONS to a answered by a" test "$(sip_box "$PH" "$LAB_IP_A")" == a
check "REGISTER on a accepted" in_ns "$PH" timeout 5 sipsak -U -i -b 1 -e 1 -H "$LAB_IP_PHONE" -s "sip:alice@$LAB_IP_A"
check "second start is a no-op" in_ns "$A" "$LAB/pbx.sh" start "$D1" a

echo "== VIP on a"
in_ns "$A" ip addr add "$LAB_VIP/$LAB_PREFIX" dev eth0
t=$(date +%s%N)
in_ns "$A" timeout 5 arping -q -U -c 2 -I eth0 "$LAB_VIP" || true
echo "time arping -U -c 2: $(ms_since "$t") ms (returns by itself)"
check "OPTIONS to VIP answered by a" test "$(sip_box "$PH" "$LAB_VIP")" == a

echo "== VIP moves to b"
in_ns "$B" "$LAB/pbx.sh" start "$D1" b
check "OPTIONS to b answered by b" test "$(sip_box "$PH" "$LAB_IP_B")" == b
in_ns "$A" ip addr del "$LAB_VIP/$LAB_PREFIX" dev eth0
in_ns "$B" ip addr add "$LAB_VIP/$LAB_PREFIX" dev eth0
t=$(date +%s%N)
in_ns "$B" timeout 5 arping -q -U -c 2 -I eth0 "$LAB_VIP" &
garp=$!
# Let the first gratuitous ARP leave before the phone asks (otherwise the first OPTIONS may
# still go to a's MAC and only sipsak's retransmission after 500 ms reaches b).
sleep 0.02
moved=""
for ((i = 0; i < 50; i++)); do
    if [[ $(sip_box "$PH" "$LAB_VIP") == b ]]; then
        moved=$(ms_since "$t")
        break
    fi
done
wait "$garp" || true
if [[ -n $moved && $moved -lt 1000 ]]; then ok "VIP answered by b ${moved} ms after gratuitous ARP"; else bad "VIP not answered by b within 1 s (${moved:-never})"; fi

echo "== cut / heal a"
t=$(date +%s%N)
"$LAB/office.sh" cut "$N1" a
echo "time cut: $(ms_since "$t") ms"
check_not "phone cannot reach a" reach "$PH" "$LAB_IP_A"
check_not "b cannot reach a" reach "$B" "$LAB_IP_A"
check_not "a cannot reach dns" reach "$A" "$LAB_IP_DNS"
check_not "a cannot reach the VIP" reach "$A" "$LAB_VIP"
check "phone still reaches b" reach "$PH" "$LAB_IP_B"
check "cut is idempotent" "$LAB/office.sh" cut "$N1" a
t=$(date +%s%N)
"$LAB/office.sh" heal "$N1" a
echo "time heal: $(ms_since "$t") ms"
check "phone reaches a after heal" reach_soon "$PH" "$LAB_IP_A"
check "a reaches dns after heal" reach_soon "$A" "$LAB_IP_DNS"
check "OPTIONS to a after heal" test "$(sip_box "$PH" "$LAB_IP_A")" == a
check "heal is idempotent" "$LAB/office.sh" heal "$N1" a

echo "== stop / running"
t=$(date +%s%N)
in_ns "$A" "$LAB/pbx.sh" stop "$D1" a
echo "time pbx stop a: $(ms_since "$t") ms"
check_not "running a after stop" in_ns "$A" "$LAB/pbx.sh" running "$D1" a
check "stop again succeeds" in_ns "$A" "$LAB/pbx.sh" stop "$D1" a
check "no kamailio of box a left" test -z "$(lab_procs "$D1/pbx-a")"
check "OPTIONS to a unanswered" test -z "$(sip_box "$PH" "$LAB_IP_A")"
check_not "start outside the box namespace refused" "$LAB/pbx.sh" start "$D1" a

echo "== voicemail writer"
W=$D1/voicemail
mkdir -p "$W"
LBS_LAB_WRITER_DIR=$W in_ns "$A" "$LAB/pbx.sh" start "$D1" a
sleep 0.5
n1=$(count_vm "$W")
check "writer produced files while running ($n1 in 0.5 s)" test "$n1" -ge 5
in_ns "$A" "$LAB/pbx.sh" stop "$D1" a
n2=$(count_vm "$W")
sleep 0.3
n3=$(count_vm "$W")
check "no new files after stop ($n2 -> $n3)" test "$n2" -eq "$n3"
check "no temp files in the writer dir" test -z "$(find "$W" -name '.*')"
sleep 0.3
check "no files while stopped" test "$(count_vm "$W")" -eq "$n3"
LBS_LAB_WRITER_DIR=$W in_ns "$A" "$LAB/pbx.sh" start "$D1" a
sleep 0.3
in_ns "$A" "$LAB/pbx.sh" stop "$D1" a
n4=$(count_vm "$W")
check "restart continues the counter ($n3 -> $n4 files, names 1..$n4)" \
    test "$(find "$W" -name 'vm-a-*.txt' | sed 's/.*vm-a-\([0-9]*\)\.txt/\1/' | sort -n | awk 'NR != $1 {bad=1} END {print bad ? "gap" : NR}')" == "$n4"
in_ns "$A" "$LAB/pbx.sh" start "$D1" a >/dev/null

echo "== second lab $N2 in $D2 at the same time"
t=$(date +%s%N)
"$LAB/office.sh" up "$D2" "$N2"
echo "time up (second lab): $(ms_since "$t") ms"
check "lab $N2 dig gives 10.77.$N2.11" test "$(dig_a "lbs$N2-phone" "10.77.$N2.53")" == "10.77.$N2.11"
check "lab $N1 dig still fine" test "$(dig_a "$PH" "$LAB_IP_DNS")" == "$LAB_IP_A"
check "lab $N2 key differs from lab $N1" test "$(<"$D1/tsig.secret")" != "$(<"$D2/tsig.secret")"
check_not "lab $N1 key refused by lab $N2" update_a "lbs$N2-phone" "10.77.$N2.53" "10.77.$N2.12" -y "hmac-sha256:lbs-update:$(<"$D1/tsig.secret")"
in_ns "lbs$N2-a" "$LAB/pbx.sh" start "$D2" a >/dev/null
check "lab $N2 box a answers" test "$(sip_box "lbs$N2-phone" "10.77.$N2.11")" == a
check "lab $N1 box b still answers the VIP" test "$(sip_box "$PH" "$LAB_VIP")" == b
check "two knotd, one per lab" test "$(pgrep -c -x knotd)" -ge 2

echo "== down"
t=$(date +%s%N)
"$LAB/office.sh" down "$D2" "$N2"
echo "time down lab $N2 (knot + 1 kamailio): $(ms_since "$t") ms"
check "lab $N1 unaffected by down of lab $N2" test "$(sip_box "$PH" "$LAB_VIP")" == b
t=$(date +%s%N)
"$LAB/office.sh" down "$D1" "$N1"
echo "time down lab $N1 (knot + 2 kamailio + writer): $(ms_since "$t") ms"
for n in "$N1" "$N2"; do
    check "no namespaces of lab $n" test -z "$(ip netns list | grep "^lbs$n-" || true)"
    check "no route of lab $n" test -z "$(ip route show | grep "10.77.$n.0/24" || true)"
done
check "no processes of lab $N1" test -z "$(lab_procs "$D1")"
check "no processes of lab $N2" test -z "$(lab_procs "$D2")"
t=$(date +%s%N)
check "down again succeeds" "$LAB/office.sh" down "$D1" "$N1"
echo "time down (nothing left): $(ms_since "$t") ms"
check "down of a missing dir succeeds" "$LAB/office.sh" down /nonexistent/lab "$N1"

echo
if ((FAILS)); then
    echo "selftest: $FAILS check(s) FAILED"
    exit 1
fi
echo "selftest: all checks passed"
