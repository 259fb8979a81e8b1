#!/usr/bin/env bash
# office.sh — builds and tears down a simulated office network in Linux network namespaces
# for the PBX failover system tests (needs root, iproute2, knot, bind9-dnsutils).
#
#   office.sh up   <dir> <n>   build lab <n> (1..200) using the empty absolute work dir <dir>
#   office.sh down <dir> <n>   kill the lab's processes, delete its namespaces and route (never fails)
#   office.sh cut  <n> <box>   cut a box (a|b|dns|phone|witness) off the office switch
#   office.sh heal <n> <box>   plug it back in
#
# Layout of lab <n> (subnet 10.77.<n>.0/24):
#   lbs<n>-sw     switch: bridge br0 with one port per host (veth "p-<host>")
#   lbs<n>-dns    eth0 10.77.<n>.53   knotd serving office.lan. (TSIG key lbs-update may UPDATE)
#   lbs<n>-a      eth0 10.77.<n>.11   PBX box a (ip_nonlocal_bind=1)
#   lbs<n>-b      eth0 10.77.<n>.12   PBX box b (ip_nonlocal_bind=1)
#   lbs<n>-phone  eth0 10.77.<n>.100  the phone
#   lbs<n>-witness eth0 10.77.<n>.5   the witness of the vote for automatic failover (its etcd
#                                     member runs there through vote.sh)
#   VIP 10.77.<n>.10 is the floating address; this script never assigns it.
# The root namespace gets a blackhole route for the subnet so no test traffic leaks out of it.
# `up` writes <dir>/lab.env (sourceable), <dir>/tsig.secret (base64, 0600, no newline),
# <dir>/phone-resolv.conf (the office's DNS server, for the phones' processes to bind-mount over
# /etc/resolv.conf) and keeps knot's config, zone, database, pid, socket and log under <dir>/knot/.
set -euo pipefail

LAB_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ZONE=office.lan.
TSIG_NAME=lbs-update
TSIG_ALG=hmac-sha256
HOSTS=(dns a b phone witness)

die() {
    echo "office.sh: $*" >&2
    exit 1
}

usage() {
    cat >&2 <<'EOF'
usage: office.sh up   <dir> <n>
       office.sh down <dir> <n>
       office.sh cut  <n> <a|b|dns|phone|witness>
       office.sh heal <n> <a|b|dns|phone|witness>
EOF
    exit 2
}

check_n() {
    if ! [[ $1 =~ ^[0-9]{1,3}$ ]] || ((10#$1 < 1 || 10#$1 > 200)); then
        die "lab number must be an integer 1..200, got '$1'"
    fi
}

# host_ip <n> <host>
host_ip() {
    case $2 in
        dns) echo "10.77.$1.53" ;;
        a) echo "10.77.$1.11" ;;
        b) echo "10.77.$1.12" ;;
        phone) echo "10.77.$1.100" ;;
        witness) echo "10.77.$1.5" ;;
        *) die "unknown host '$2' (a|b|dns|phone|witness)" ;;
    esac
}

# sed_escape <text>: escape a replacement string for sed s|...|...|
sed_escape() {
    printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'
}

# render <template> <output> KEY=VALUE...: replace every @KEY@ in the template.
render() {
    local in=$1 out=$2 kv args=()
    shift 2
    for kv in "$@"; do
        args+=(-e "s|@${kv%%=*}@|$(sed_escape "${kv#*=}")|g")
    done
    sed "${args[@]}" "$in" >"$out"
}

# shellcheck source=tests/lab/proc.sh
source "$LAB_HOME/proc.sh"

ns_exists() {
    [[ -e /run/netns/$1 ]]
}

# wait_gone: waits up to 2 s for the processes in the caller's `pids` to exit; returns 0 once
# all are gone, else 1 with the survivors left in `pids`.
wait_gone() {
    local i pid left
    for ((i = 0; i < 100; i++)); do
        left=()
        for pid in "${pids[@]}"; do
            alive "$pid" && left+=("$pid")
        done
        ((${#left[@]})) || return 0
        pids=("${left[@]}")
        sleep 0.02
    done
    return 1
}

# kill_ns_pids <ns>...: TERM then KILL every process living in the given namespaces.
kill_ns_pids() {
    local ns pids=()
    for ns in "$@"; do
        ns_exists "$ns" || continue
        # shellcheck disable=SC2207
        pids+=($(ip netns pids "$ns" 2>/dev/null || true))
    done
    ((${#pids[@]})) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait_gone && return 0
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait_gone || true
}

do_down() {
    local dir=$1 n=$2 p="lbs$2" box pid h i nss=()
    set +e
    for h in sw "${HOSTS[@]}"; do nss+=("$p-$h"); done
    # Everything running inside the lab's namespaces (knotd, kamailio, writers, agents,
    # arping...) gets SIGTERM at once, then SIGKILL if still there after 2 s.
    kill_ns_pids "${nss[@]}"
    # Then whatever of the PBX process groups or knotd lives elsewhere (normally nothing).
    if [[ -d $dir ]]; then
        for box in a b; do
            [[ -d $dir/pbx-$box ]] && "$LAB_HOME/pbx.sh" stop "$dir" "$box" >/dev/null 2>&1
        done
        if [[ -s $dir/knot/knotd.pid ]]; then
            pid=$(<"$dir/knot/knotd.pid")
            if alive "$pid" && [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"$dir/knot/"* ]]; then
                kill -KILL "$pid" 2>/dev/null
            fi
        fi
    fi
    for h in "${nss[@]}"; do
        ns_exists "$h" && ip netns del "$h" 2>/dev/null
    done
    for ((i = 0; i < 5; i++)); do
        ip route del blackhole "10.77.$n.0/24" 2>/dev/null || break
    done
    if [[ -d $dir/knot ]]; then
        rm -f "$dir/knot/knotd.pid" "$dir/knot/run/knot.pid" "$dir/knot/run/knot.sock"
    fi
    set -e
    return 0
}

# EXIT trap while `up` runs: on failure show knot's log tail and undo everything.
up_failed() {
    local rc=$?
    trap - EXIT
    if ((rc)); then
        echo "office.sh: up failed (exit $rc); cleaning up lab $UP_N" >&2
        if [[ -s $UP_DIR/knot/knot.log ]]; then
            echo "--- last lines of $UP_DIR/knot/knot.log:" >&2
            tail -n 20 "$UP_DIR/knot/knot.log" >&2
        fi
        do_down "$UP_DIR" "$UP_N"
    fi
    exit "$rc"
}

do_up() {
    local dir=$1 n=$2 p="lbs$2" h ip kdir secret i
    [[ $dir == /* ]] || die "work dir must be absolute: '$dir'"
    [[ -d $dir ]] || die "work dir does not exist: '$dir'"
    [[ $(id -u) == 0 ]] || die "must run as root"
    for h in knotd dig ip setsid base64; do
        command -v "$h" >/dev/null || die "missing command: $h"
    done
    for h in sw "${HOSTS[@]}"; do
        ! ns_exists "$p-$h" || die "lab $n already exists (namespace $p-$h); run 'office.sh down <dir> $n' first"
    done

    # From here on, a failure tears down whatever this run made.
    UP_DIR=$dir UP_N=$n
    trap up_failed EXIT

    ip route replace blackhole "10.77.$n.0/24"

    ip netns add "$p-sw"
    ip -n "$p-sw" link set lo up
    ip -n "$p-sw" link add br0 type bridge stp_state 0 forward_delay 0
    ip -n "$p-sw" link set br0 up
    for h in "${HOSTS[@]}"; do
        ip=$(host_ip "$n" "$h")
        ip netns add "$p-$h"
        ip -n "$p-sw" link add "p-$h" type veth peer name eth0 netns "$p-$h"
        ip -n "$p-sw" link set "p-$h" master br0
        ip -n "$p-sw" link set "p-$h" up
        ip -n "$p-$h" link set lo up
        ip -n "$p-$h" addr add "$ip/24" dev eth0
        ip -n "$p-$h" link set eth0 up
    done
    for h in a b; do
        ip netns exec "$p-$h" sysctl -q -w net.ipv4.ip_nonlocal_bind=1
    done

    # Knot: fresh config, zone, key and database for every run.
    kdir=$dir/knot
    rm -rf "$kdir"
    mkdir -p "$kdir/run" "$kdir/db" "$kdir/zones"
    secret=$(head -c 32 /dev/urandom | base64 -w0)
    (umask 077 && printf '%s' "$secret" >"$dir/tsig.secret")
    chmod 0600 "$dir/tsig.secret"
    (umask 077 && render "$LAB_HOME/knot.conf.in" "$kdir/knot.conf" \
        KNOT_DIR="$kdir" DNS_IP="$(host_ip "$n" dns)" ZONE="$ZONE" \
        TSIG_NAME="$TSIG_NAME" TSIG_ALG="$TSIG_ALG" TSIG_SECRET="$secret")
    render "$LAB_HOME/office.lan.zone.in" "$kdir/zones/office.lan.zone" \
        DNS_IP="$(host_ip "$n" dns)" PBX_IP="$(host_ip "$n" a)"

    cat >"$dir/lab.env" <<EOF
LAB_N=$n
LAB_NS_A=$p-a
LAB_NS_B=$p-b
LAB_NS_PHONE=$p-phone
LAB_NS_DNS=$p-dns
LAB_NS_WITNESS=$p-witness
LAB_NS_SW=$p-sw
LAB_IP_A=$(host_ip "$n" a)
LAB_IP_B=$(host_ip "$n" b)
LAB_IP_DNS=$(host_ip "$n" dns)
LAB_IP_PHONE=$(host_ip "$n" phone)
LAB_IP_WITNESS=$(host_ip "$n" witness)
LAB_VIP=10.77.$n.10
LAB_PREFIX=24
LAB_SUBNET=10.77.$n.0/24
LAB_IFACE=eth0
LAB_ZONE=$ZONE
LAB_NAME=pbx.$ZONE
LAB_TSIG_NAME=$TSIG_NAME
LAB_TSIG_ALG=$TSIG_ALG
LAB_RESOLV_CONF=$dir/phone-resolv.conf
EOF
    printf 'nameserver %s\n' "$(host_ip "$n" dns)" >"$dir/phone-resolv.conf"

    # setsid: knotd gets its own session, so nothing of the caller's terminal/group reaches it.
    ip netns exec "$p-dns" setsid knotd -c "$kdir/knot.conf" </dev/null >"$kdir/knot.log" 2>&1 &
    echo $! >"$kdir/knotd.pid"

    # Wait until knot answers for the zone, asked from the phone (through the switch).
    for ((i = 0; i < 250; i++)); do
        if ip netns exec "$p-phone" dig +time=1 +tries=1 +short \
            "@$(host_ip "$n" dns)" "$ZONE" SOA 2>/dev/null | grep -q .; then
            break
        fi
        alive "$(<"$kdir/knotd.pid")" || die "knotd exited during startup (log: $kdir/knot.log)"
        sleep 0.02
    done
    ((i < 250)) || die "knotd did not answer within 5 s (log: $kdir/knot.log)"

    trap - EXIT
}

# link_port <n> <host> <up|down>: attach/detach the host's switch port to/from the bridge.
# Detaching keeps the carrier up on the host's eth0 (like a dead uplink, not an unplugged
# cable) but no frame crosses the switch in either direction.
link_port() {
    local n=$1 h=$2 p="lbs$1"
    host_ip "$n" "$h" >/dev/null
    ns_exists "$p-sw" || die "lab $n does not exist"
    if [[ $3 == down ]]; then
        ip -n "$p-sw" link set "p-$h" nomaster
    else
        ip -n "$p-sw" link set "p-$h" master br0
        ip -n "$p-sw" link set "p-$h" up
    fi
}

main() {
    (($# >= 1)) || usage
    local cmd=$1
    shift
    case $cmd in
        up)
            (($# == 2)) || usage
            check_n "$2"
            do_up "$1" "$((10#$2))"
            ;;
        down)
            (($# == 2)) || usage
            check_n "$2"
            do_down "$1" "$((10#$2))"
            ;;
        cut | heal)
            (($# == 2)) || usage
            check_n "$1"
            if [[ $cmd == cut ]]; then
                link_port "$((10#$1))" "$2" down
            else
                link_port "$((10#$1))" "$2" up
            fi
            ;;
        *) usage ;;
    esac
}

main "$@"
