#!/usr/bin/env bash
# registrations.sh — the lab PBX's registrations database (kamailio usrloc in SQLite): create
# it, dump it for the agent's sync, load a dump back on promotion. Needs sqlite3.
#
#   registrations.sh init    <db>   create <db> from kamailio's shipped schema if it is missing
#                                   (WAL journal, so a dump never blocks a REGISTER being written)
#   registrations.sh dump    <db>   print a consistent dump of the location table (SQL) on
#                                   stdout: the agent's dump command (`[[sync.category]] dump`);
#                                   creates <db> first if the PBX never ran
#   registrations.sh restore <db>   replace <db> with the dump named by $LBS_DUMP_FILE (the
#                                   agent's restore command, run before the PBX starts), minus
#                                   the registrations that expired meanwhile
#
# The dump is a transaction that empties the table and inserts every row with its column
# names, sorted by id: the same registrations always give the same bytes, so the agent (which
# writes a dump only when it changed) sends nothing while no phone registers. It is never
# empty (the agent refuses an empty dump), even with no phone registered.
#
# Why the restore drops expired rows: kamailio keeps `expires` as a Julian day (db_sqlite) and
# skips expired contacts in lookups, but a dump taken an hour ago must not even look like a
# live phone on the new primary. Rows whose `expires` is the Unix epoch (time 0: kamailio's
# permanent contacts) stay.
#
# Why <db>.lock: kamailio's SQLite driver never waits for a lock, and a PBX start whose first
# reads (the table version, the registrations it loads) met a dump opening or closing the
# database (WAL recovery by the first connection, the checkpoint by the last) failed with
# "database is locked". `dump` holds the lock shared while it reads, `restore` exclusively, and
# pbx.sh start exclusively until kamailio has loaded the registrations and listens.
#
# Why the contacts' `socket` column is left as it is: a phone that registered at the old
# primary's own address (dns) carries that address as its socket, which the new primary does
# not have; kamailio then sends to the contact from a socket of its own choosing (the system
# test `phones` calls such a phone through the new primary).
set -euo pipefail

SCHEMA_DIR=${LBS_KAMAILIO_SCHEMA_DIR:-/usr/share/kamailio/db_sqlite}
# A day after 1970-01-01T00:00:00Z as a Julian day: anything up to it is kamailio's "never
# expires" (time 0), whatever the rounding of a REAL column.
NEVER_BEFORE_JD=2440588.5

die() {
    echo "registrations.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: registrations.sh init|dump|restore <db>" >&2
    exit 2
}

# create <db>: a new database with kamailio's schema (version + location tables).
create() {
    local f
    for f in standard-create.sql usrloc-create.sql; do
        [[ -r $SCHEMA_DIR/$f ]] || die "kamailio's schema $SCHEMA_DIR/$f is missing (install kamailio-sqlite-modules)"
    done
    {
        echo "PRAGMA journal_mode=WAL;"
        cat "$SCHEMA_DIR/standard-create.sql" "$SCHEMA_DIR/usrloc-create.sql"
    } | sqlite3 -bail "$1" >/dev/null || die "cannot create the registrations database $1"
}

cmd_init() {
    local db=$1
    [[ -s $db ]] && return 0
    local tmp=$db.new.$$
    mkdir -p "$(dirname "$db")"
    # Built aside, then linked into place only if still missing: a crash never leaves half a
    # schema where kamailio looks, and of two inits at once (the PBX starting while the agent
    # dumps) the second never replaces a file kamailio may already have open.
    rm -f "$tmp" "$tmp-wal" "$tmp-shm"
    create "$tmp"
    ln "$tmp" "$db" 2>/dev/null || true
    rm -f "$tmp" "$tmp-wal" "$tmp-shm"
    [[ -s $db ]] || die "cannot create the registrations database $db"
}

cmd_dump() {
    local db=$1 rows
    # Before the PBX first ran there is no database yet: the same empty one it would create.
    [[ -s $db ]] || cmd_init "$db"
    # One SELECT is one read transaction: a consistent snapshot even while kamailio writes.
    # no_ckpt_on_close: closing as the last connection would checkpoint under an exclusive lock
    # that a REGISTER being saved meanwhile would meet.
    rows=$(flock -s -w 30 "$db.lock" sqlite3 -bail -cmd '.timeout 2000' \
        -cmd '.output /dev/null' -cmd '.dbconfig no_ckpt_on_close on' -cmd '.output' \
        -cmd '.headers on' -cmd '.mode insert location' \
        "$db" 'SELECT * FROM location ORDER BY id;') || die "cannot read the registrations in $db"
    printf '%s\n' "-- kamailio location table (lab PBX registrations)" "BEGIN TRANSACTION;" \
        "DELETE FROM location;"
    [[ -n $rows ]] && printf '%s\n' "$rows"
    printf '%s\n' "COMMIT;"
}

cmd_restore() {
    local db=$1 dump=${LBS_DUMP_FILE:-} new
    [[ -n $dump ]] || die "LBS_DUMP_FILE is not set (the agent sets it to the synced dump)"
    if [[ ! -e $dump ]]; then
        # Nothing was ever dumped (a new pair): the PBX starts with the registrations it has.
        echo "registrations.sh: no dump at $dump yet; keeping $db as it is"
        return 0
    fi
    [[ -r $dump ]] || die "cannot read the dump $dump"
    new=$db.restore
    rm -f "$new" "$new-wal" "$new-shm"
    mkdir -p "$(dirname "$db")"
    exec 9>"$db.lock"
    flock -w 30 9 || die "$db is in use (waited 30 s for $db.lock)"
    create "$new"
    {
        cat "$dump"
        echo "DELETE FROM location WHERE expires > $NEVER_BEFORE_JD AND expires < julianday('now');"
        # Back to one file, so the rename below moves every row.
        echo "PRAGMA wal_checkpoint(TRUNCATE);"
    } | sqlite3 -bail "$new" >/dev/null || {
        rm -f "$new" "$new-wal" "$new-shm"
        die "the dump $dump does not load; $db left as it was"
    }
    # The old database's WAL must not be applied to the new file: remove it first.
    rm -f "$db-wal" "$db-shm" "$new-wal" "$new-shm"
    mv -f "$new" "$db"
    echo "registrations.sh: $(sqlite3 "$db" 'SELECT count(*) FROM location;') registrations loaded into $db"
}

main() {
    (($# == 2)) || usage
    command -v sqlite3 >/dev/null || die "sqlite3 is missing (install the sqlite3 package)"
    case $1 in
        init) cmd_init "$2" ;;
        dump) cmd_dump "$2" ;;
        restore) cmd_restore "$2" ;;
        *) usage ;;
    esac
}

main "$@"
