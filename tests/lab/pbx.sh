#!/usr/bin/env bash
# pbx.sh — the "PBX service" of a lab box: start/stop/running commands the product's agent
# runs for its managed service. Must run inside the box's namespace (the agent runs under
# `ip netns exec lbs<n>-<box> ...`); <dir> is the lab's work dir written by office.sh up.
#
#   pbx.sh start   <dir> <box>   start kamailio 5.6 (own process group via setsid), return once
#                                it listens on UDP 5060 on the box address and the VIP
#   pbx.sh stop    <dir> <box>   kill the process group and wait until it is gone (idempotent)
#   pbx.sh running <dir> <box>   exit 0 if running, 1 if not
#
# Everything lives in <dir>/pbx-<box>/: kamailio.cfg (from kamailio.cfg.in), kamailio.log,
# kamailio.pid, pgid, run/ (kamailio runtime dir), vm-counter, vm-resumed (the counter at each
# start of the writer), and registrations.sqlite: the
# phones' registrations, which kamailio writes through at every REGISTER and loads at start
# (created by `registrations.sh init` if missing; dumped and restored by the agent's sync
# category through registrations.sh).
# If LBS_LAB_WRITER_DIR names a directory when `start` runs, a background loop in the same
# process group writes <LBS_LAB_WRITER_DIR>/vm-<box>-<counter>.txt every 50 ms (written to a
# temp name, then renamed into place; counter persisted in vm-counter so restarts never reuse
# a name) for as long as kamailio runs — a model of the PBX recording voicemails.
set -euo pipefail

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
LAB_HOME=$(dirname "$SELF")

die() {
    echo "pbx.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: pbx.sh start|stop|running <dir> <a|b>" >&2
    exit 2
}

# shellcheck source=tests/lab/proc.sh
source "$LAB_HOME/proc.sh"

# comm_of <pid>: the process's command name.
comm_of() {
    local comm
    { read -r comm <"/proc/$1/comm"; } 2>/dev/null || return 1
    echo "$comm"
}

# group_pids <pgid>: live members of a process group.
group_pids() {
    local stat pid rest state pgrp
    for stat in /proc/[0-9]*/stat; do
        { read -r rest <"$stat"; } 2>/dev/null || continue
        pid=${rest%% *}
        rest=${rest##*) }
        # rest: state ppid pgrp ...
        read -r state _ pgrp _ <<<"$rest"
        [[ $pgrp == "$1" && $state != Z ]] && echo "$pid"
    done
    return 0
}

setup() {
    DIR=$1 BOX=$2
    [[ $BOX == a || $BOX == b ]] || die "box must be a or b, got '$BOX'"
    RUN=$DIR/pbx-$BOX
    PGID_FILE=$RUN/pgid
}

load_env() {
    [[ -r $DIR/lab.env ]] || die "no lab.env in '$DIR' (run office.sh up first)"
    # shellcheck source=/dev/null
    . "$DIR/lab.env"
    local var=LAB_IP_${BOX^^}
    BOX_IP=${!var:?missing $var in lab.env}
    VIP=${LAB_VIP:?missing LAB_VIP in lab.env}
}

# listening <ip>: something in this namespace listens on UDP <ip>:5060. (The output is read
# whole: `| grep -q` under pipefail fails when grep exits before the writer is done.)
listening() {
    local out
    out=$(ss -Hlnu "src $1:5060" 2>/dev/null) || return 1
    [[ -n $out ]]
}

# running_pid: print kamailio's main pid and succeed if it runs.
running_pid() {
    local pid
    [[ -s $PGID_FILE ]] || return 1
    pid=$(<"$PGID_FILE")
    alive "$pid" || return 1
    [[ $(comm_of "$pid") == kamailio ]] || return 1
    echo "$pid"
}

cmd_running() {
    running_pid >/dev/null
}

cmd_stop() {
    local pgid i members
    [[ -s $PGID_FILE ]] || return 0
    pgid=$(<"$PGID_FILE")
    [[ $pgid =~ ^[0-9]+$ ]] || {
        rm -f "$PGID_FILE"
        return 0
    }
    members=$(group_pids "$pgid")
    if [[ -n $members ]]; then
        # Guard against a recycled group id: at least one member must be ours.
        local ours=0 pid
        for pid in $members; do
            if [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"$DIR"* ]]; then
                ours=1
                break
            fi
        done
        if ((ours)); then
            kill -TERM -- "-$pgid" 2>/dev/null || true
            for ((i = 0; i < 250; i++)); do
                [[ -z $(group_pids "$pgid") ]] && break
                sleep 0.02
            done
            if [[ -n $(group_pids "$pgid") ]]; then
                kill -KILL -- "-$pgid" 2>/dev/null || true
                for ((i = 0; i < 250; i++)); do
                    [[ -z $(group_pids "$pgid") ]] && break
                    sleep 0.02
                done
            fi
            [[ -z $(group_pids "$pgid") ]] || die "process group $pgid survived SIGKILL"
        fi
    fi
    rm -f "$PGID_FILE" "$RUN/kamailio.pid"
}

cmd_start() {
    local wdir="" i pid="" log ip
    load_env
    if [[ -n ${LBS_LAB_WRITER_DIR:-} ]]; then
        [[ -d $LBS_LAB_WRITER_DIR ]] || die "LBS_LAB_WRITER_DIR is not a directory: '$LBS_LAB_WRITER_DIR'"
        wdir=$(cd "$LBS_LAB_WRITER_DIR" && pwd)
    fi
    if pid=$(running_pid); then
        echo "pbx.sh: kamailio for box $BOX already running (pid $pid)"
        return 0
    fi
    # Read whole (not `| grep -q` under pipefail: with the floating address held there is a
    # second line, and ip killed by SIGPIPE after grep's match would fail the check).
    local addrs
    addrs=$(ip -o -4 addr show 2>/dev/null) || addrs=""
    [[ $addrs == *" $BOX_IP/"* ]] ||
        die "not inside box $BOX's namespace (no $BOX_IP here); run under ip netns exec ${LAB_NS_A%-a}-$BOX"
    # Leftovers of a previous run whose main process died (orphaned kamailio children still
    # holding the sockets, a writer) are killed first: a second kamailio would bind silently.
    cmd_stop
    for ip in "$BOX_IP" "$VIP"; do
        ! listening "$ip" || die "UDP $ip:5060 is already taken in this namespace (leftover kamailio?)"
    done
    mkdir -p "$RUN/run"
    rm -f "$RUN/kamailio.pid" "$PGID_FILE"
    "$LAB_HOME/registrations.sh" init "$RUN/registrations.sqlite"
    sed -e "s|@BOX@|$BOX|g" -e "s|@BOX_IP@|$BOX_IP|g" -e "s|@VIP@|$VIP|g" \
        -e "s|@DB@|$RUN/registrations.sqlite|g" \
        "$LAB_HOME/kamailio.cfg.in" >"$RUN/kamailio.cfg"
    log=$RUN/kamailio.log
    echo "=== pbx.sh start box $BOX at $(date '+%F %T.%N')" >>"$log"

    # No dump of the registrations may open or close the database while kamailio first reads
    # it (registrations.sh says why): held until kamailio listens, or has exited.
    exec 9>"$RUN/registrations.sqlite.lock"
    flock -w 30 9 || die "the registrations database is in use (waited 30 s for its lock)"
    LBS_PBX_WDIR=$wdir setsid "$SELF" _launch "$DIR" "$BOX" </dev/null >>"$log" 2>&1 9>&- &

    # Ready when kamailio (the group leader) runs and both sockets are bound.
    for ((i = 0; i < 500; i++)); do
        if [[ -s $PGID_FILE ]]; then
            pid=$(<"$PGID_FILE")
            if ! alive "$pid"; then
                echo "pbx.sh: kamailio for box $BOX exited during startup; log $log:" >&2
                tail -n 30 "$log" >&2
                cmd_stop
                exit 1
            fi
            if [[ $(comm_of "$pid") == kamailio ]] &&
                listening "$BOX_IP" && listening "$VIP"; then
                echo "pbx.sh: kamailio for box $BOX running (pid $pid) on $BOX_IP:5060 and $VIP:5060"
                exec 9>&-
                return 0
            fi
        fi
        sleep 0.02
    done
    echo "pbx.sh: kamailio for box $BOX not listening after 10 s; log $log:" >&2
    tail -n 30 "$log" >&2
    cmd_stop
    exit 1
}

# _launch <dir> <box>: runs as session/group leader (under setsid); records the group id,
# forks the optional writer (double fork: kamailio's main process exits when any of its
# own children dies), then becomes kamailio.
cmd_launch() {
    printf '%s\n' "$$" >"$PGID_FILE.tmp"
    mv -f "$PGID_FILE.tmp" "$PGID_FILE"
    if [[ -n ${LBS_PBX_WDIR:-} ]]; then
        ("$SELF" _writer "$DIR" "$BOX" "$LBS_PBX_WDIR" "$$" </dev/null &)
    fi
    unset LBS_PBX_WDIR
    exec kamailio -f "$RUN/kamailio.cfg" -P "$RUN/kamailio.pid" -Y "$RUN/run" \
        -DD -E -m 32 -M 8
}

# _writer <dir> <box> <wdir> <pid>: voicemail model, runs while <pid> (kamailio) is alive.
cmd_writer() {
    local wdir=$3 kpid=$4 c=0 f m tmpdir tmp name
    local cfile=$RUN/vm-counter
    if [[ -s $cfile ]]; then
        m=$(<"$cfile")
        [[ $m =~ ^[0-9]+$ ]] && c=$m
    fi
    for f in "$wdir/vm-$BOX-"*.txt; do
        [[ -e $f ]] || continue
        m=${f##*/vm-"$BOX"-}
        m=${m%.txt}
        [[ $m =~ ^[0-9]+$ ]] && ((10#$m > c)) && c=$((10#$m))
    done
    # Where this run resumes: the message numbered so may never have been finished (a PBX killed
    # between counting and renaming it), which the fault matrix must not count as lost.
    printf '%s\n' "$c" >>"$RUN/vm-resumed"
    # Temp files go outside the watched directory when a rename from there is atomic.
    tmpdir=$RUN/vm-tmp
    mkdir -p "$tmpdir"
    if [[ $(stat -c %d "$tmpdir") != "$(stat -c %d "$wdir")" ]]; then
        tmpdir=$wdir
    fi
    while alive "$kpid"; do
        c=$((c + 1))
        printf '%s\n' "$c" >"$cfile.tmp"
        mv -f "$cfile.tmp" "$cfile"
        name=vm-$BOX-$c.txt
        tmp=$tmpdir/.$name.tmp
        printf 'box=%s seq=%d time=%(%s)T\nvoicemail payload from box %s, message %d\n' \
            "$BOX" "$c" -1 "$BOX" "$c" >"$tmp"
        mv -f "$tmp" "$wdir/$name"
        sleep 0.05
    done
}

main() {
    (($# >= 3)) || usage
    local cmd=$1
    setup "$2" "$3"
    case $cmd in
        start | stop | running | _launch) (($# == 3)) || usage ;;&
        start) cmd_start ;;
        stop) cmd_stop ;;
        running) cmd_running ;;
        _launch) cmd_launch ;;
        _writer)
            (($# == 5)) || usage
            cmd_writer "$2" "$3" "$4" "$5"
            ;;
        *) usage ;;
    esac
}

main "$@"
