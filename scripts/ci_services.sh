#!/usr/bin/env bash
# Local services for the test suite: a PostgreSQL server on 127.0.0.1 and Debian's Chromium.
#
# Idempotent and quick when everything is already there: Debian packages are installed only
# if missing, the cluster is initialised once and started only if it does not answer.
#
#   eval "$(bash scripts/ci_services.sh)"     # exports SEGMART_PG_DSN for the tests
#
# Progress goes to stderr; stdout carries only the `export SEGMART_PG_DSN=...` line.
#
# The cluster is a private one (not Debian's `main`): data directory $SEGMART_PG_DATA
# (default /tmp/segmart-pg), listening on 127.0.0.1:$SEGMART_PG_PORT (default 5432) and on a
# unix socket inside the data directory. Authentication: the role `segmart` (owner of the
# database `segmart`, with CREATEDB so tests can make throw-away databases) connects from
# 127.0.0.1 without a password (trust, loopback only); the superuser (`postgres` when run as
# root, else the calling user, who then owns the cluster) only through the unix socket with
# peer authentication. Nothing secret is written into the repository.
#
# Options (environment):
#   SEGMART_PG_DATA   cluster directory            (default /tmp/segmart-pg)
#   SEGMART_PG_PORT   TCP port on 127.0.0.1        (default 5432)
#   SEGMART_SKIP_CHROMIUM=1   do not install Chromium (PostgreSQL only)
set -euo pipefail

PG_DATA="${SEGMART_PG_DATA:-/tmp/segmart-pg}"
PG_PORT="${SEGMART_PG_PORT:-5432}"
PG_ROLE=segmart
PG_DB=segmart
DSN="postgresql://${PG_ROLE}@127.0.0.1:${PG_PORT}/${PG_DB}"
# The cluster's owner and superuser: `postgres` when run as root, else the calling user.
if [ "$(id -u)" -eq 0 ]; then PG_SUPER=postgres; else PG_SUPER="$(id -un)"; fi

log() { echo "ci_services: $*" >&2; }
die() { echo "ci_services: ERROR: $*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else die "need root (or sudo) to run: $*"
    fi
}

# ---------------------------------------------------------------- Debian packages
missing_packages() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || echo "$pkg"
    done
}

install_packages() {
    local wanted=(postgresql postgresql-client)
    [ "${SEGMART_SKIP_CHROMIUM:-0}" = 1 ] || wanted+=(chromium fonts-dejavu-core)
    local missing
    missing=$(missing_packages "${wanted[@]}")
    if [ -z "$missing" ]; then
        log "Debian packages present: ${wanted[*]}"
        return
    fi
    log "installing Debian packages: $(echo $missing)"
    export DEBIAN_FRONTEND=noninteractive
    local apt_opts=(-y -qq -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
    as_root apt-get update -qq -o DPkg::Lock::Timeout=600 >&2
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    as_root apt-get install "${apt_opts[@]}" --no-install-recommends $missing >&2
}

# ---------------------------------------------------------------- PostgreSQL
pg_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
    echo "$dir"
}

# Run a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"
    else "$@"
    fi
}

dsn_answers() {
    psql "$DSN" -XtAqc "select 1" >/dev/null 2>&1
}

init_cluster() {
    local bin="$1"
    if [ -f "$PG_DATA/PG_VERSION" ]; then
        return
    fi
    log "initialising cluster in $PG_DATA"
    mkdir -p "$PG_DATA"
    [ "$(id -u)" -ne 0 ] || chown postgres:postgres "$PG_DATA"
    chmod 700 "$PG_DATA"
    as_owner "$bin/initdb" -D "$PG_DATA" -U "$PG_SUPER" --auth-local=peer --auth-host=reject \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    as_owner tee -a "$PG_DATA/postgresql.conf" >/dev/null <<EOF

# --- segmart CI settings (scripts/ci_services.sh)
listen_addresses = '127.0.0.1'
port = ${PG_PORT}
unix_socket_directories = '${PG_DATA}'
max_connections = 100
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    as_owner tee "$PG_DATA/pg_hba.conf" >/dev/null <<EOF
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       ${PG_SUPER}                 peer
host    all       ${PG_ROLE}  127.0.0.1/32   trust
EOF
}

start_cluster() {
    local bin="$1"
    if as_owner "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
        log "PostgreSQL already running from $PG_DATA"
        return
    fi
    log "starting PostgreSQL on 127.0.0.1:${PG_PORT}"
    as_owner "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w -t 60 start >/dev/null \
        || { tail -n 20 "$PG_DATA/server.log" >&2 || true; die "PostgreSQL did not start"; }
}

create_role_and_db() {
    local bin="$1"
    local psql_su=(as_owner "$bin/psql" -X -h "$PG_DATA" -p "$PG_PORT" -U "$PG_SUPER" -d postgres -tAq)
    if [ -z "$("${psql_su[@]}" -c "select 1 from pg_roles where rolname = '${PG_ROLE}'")" ]; then
        log "creating role ${PG_ROLE}"
        "${psql_su[@]}" -c "create role ${PG_ROLE} login createdb"
    fi
    if [ -z "$("${psql_su[@]}" -c "select 1 from pg_database where datname = '${PG_DB}'")" ]; then
        log "creating database ${PG_DB}"
        "${psql_su[@]}" -c "create database ${PG_DB} owner ${PG_ROLE}"
    fi
}

setup_postgres() {
    if dsn_answers; then
        log "PostgreSQL answers at $DSN"
        return
    fi
    local bin
    bin=$(pg_bindir)
    init_cluster "$bin"
    start_cluster "$bin"
    create_role_and_db "$bin"
    dsn_answers || die "PostgreSQL started but $DSN does not answer (port ${PG_PORT} taken?)"
    log "PostgreSQL ready at $DSN"
}

install_packages
setup_postgres
if [ "${SEGMART_SKIP_CHROMIUM:-0}" != 1 ]; then
    [ -x /usr/bin/chromium ] || die "/usr/bin/chromium missing after install"
    log "Chromium: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
fi
echo "export SEGMART_PG_DSN=${DSN}"
