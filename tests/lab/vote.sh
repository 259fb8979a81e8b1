#!/usr/bin/env bash
# vote.sh — runs the office lab's etcd members (the vote for automatic failover) inside their
# hosts' namespaces, from the files `lbs-agent witness setup` and the witness's script wrote
# (no systemd in the lab: this is what etcd.service would do with /etc/default/etcd).
#
#   vote.sh start  <dir> <host>   start etcd for host a|b|witness (with the data it has)
#   vote.sh stop   <dir> <host>   SIGTERM, and wait until it has exited (SIGKILL after 20 s)
#   vote.sh kill   <dir> <host>   SIGKILL
#   vote.sh freeze <dir> <host>   SIGSTOP: its sockets stay open, it answers nothing
#   vote.sh thaw   <dir> <host>   SIGCONT
#   vote.sh pid    <dir> <host>   print its pid (exit 1 when it does not run)
#
# <dir> is the lab's work dir (office.sh up wrote <dir>/lab.env); host h's member keeps its
# files under <dir>/vote-<h>/ (etc/default/etcd, etc/lbs-vote/, var/lib/etcd/), its log in
# <dir>/vote-<h>/etcd.log and its pid in <dir>/vote-<h>/etcd.pid.
set -euo pipefail

LAB_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lab/proc.sh
source "$LAB_HOME/proc.sh"

die() {
    echo "vote.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: vote.sh start|stop|kill|freeze|thaw|pid <dir> <a|b|witness>" >&2
    exit 2
}

# running_pid: the member's pid when it is alive and is etcd, else nothing (and status 1).
running_pid() {
    local pid
    [[ -s $root/etcd.pid ]] || return 1
    pid=$(<"$root/etcd.pid")
    alive "$pid" || return 1
    [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == etcd* ]] || return 1
    echo "$pid"
}

do_start() {
    local env_file=$root/etc/default/etcd pid i
    [[ -f $env_file ]] || die "no etcd settings for $host in $env_file: run lbs-agent witness setup (or the witness's script) first"
    command -v etcd >/dev/null || die "etcd is not installed: run scripts/setup.sh (etcd-server)"
    ! running_pid >/dev/null || die "etcd already runs for $host"
    # setsid: its own session; the shell sets the settings as etcd.service's EnvironmentFile
    # does, then becomes etcd (same pid).
    # shellcheck disable=SC2016 # the inner shell expands "$1"
    ip netns exec "$ns" setsid sh -c 'set -a; . "$1"; exec etcd' sh "$env_file" \
        </dev/null >>"$root/etcd.log" 2>&1 &
    pid=$!
    echo "$pid" >"$root/etcd.pid"
    # Started means the process runs and listens on its client port (a majority may not exist yet).
    for ((i = 0; i < 250; i++)); do
        alive "$pid" || die "etcd for $host exited at start; see $root/etcd.log"
        if ip netns exec "$ns" ss -Hltn | grep -q ":2379 "; then
            return 0
        fi
        sleep 0.02
    done
    die "etcd for $host does not listen after 5 s; see $root/etcd.log"
}

do_stop() {
    local pid i
    pid=$(running_pid) || return 0
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 1000; i++)); do
        alive "$pid" || return 0
        sleep 0.02
    done
    kill -KILL "$pid" 2>/dev/null || true
}

signal() {
    local pid
    pid=$(running_pid) || die "etcd does not run for $host"
    kill "-$1" "$pid"
}

main() {
    (($# == 3)) || usage
    local action=$1 dir=$2
    host=$3
    [[ $dir == /* && -f $dir/lab.env ]] || die "'$dir' is not a lab's work dir (no lab.env)"
    case $host in a | b | witness) ;; *) die "unknown host '$host' (a|b|witness)" ;; esac
    ns=$(sed -n 's/^LAB_N=//p' "$dir/lab.env")
    ns="lbs$ns-$host"
    root=$dir/vote-$host
    mkdir -p "$root"
    case $action in
        start) do_start ;;
        stop) do_stop ;;
        kill) signal KILL ;;
        freeze) signal STOP ;;
        thaw) signal CONT ;;
        pid) running_pid ;;
        *) usage ;;
    esac
}

main "$@"
