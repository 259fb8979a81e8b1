# shellcheck shell=bash
# proc.sh — process helpers shared by the lab scripts (sourced, not run).

# alive <pid>: the process exists and is not a zombie (kill -0 succeeds on zombies, and an
# init that does not reap leaves killed daemons as zombies forever).
alive() {
    local stat state
    [[ $1 =~ ^[0-9]+$ ]] || return 1
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    state=${stat##*) }
    [[ ${state%% *} != Z ]]
}
