#!/usr/bin/env bash
# Start the real servers the tests run against, idempotently (see ../shared/SERVICES.md).
#
#   bash scripts/services.sh                  # the default set: $SERVICES or "redis rabbitmq"
#   bash scripts/services.sh redis couchdb    # only the named ones
#   bash scripts/services.sh --stop [NAME...] # stop servers this script started (all)
#
# Servers: redis, rabbitmq, beanstalkd, sqs (moto), mongodb (nx-27017), couchdb
# (pouchdb-server).  A server whose port already answers its protocol is left running
# (its software is still installed here, for the private servers of the chaos suite).  A
# missing one is installed (apt-get, with one `apt-get update` first and only when something
# must be installed; moto and nx-27017 with pip into .services/tools-venv; pouchdb-server
# with `npm ci` from scripts/pouchdb-server/), started on 127.0.0.1 with its logs, pid file
# and data in .services/<name>-<port>/, and waited for.  Exits non-zero naming the server
# that failed.
#
# Environment:
#   SERVICES ("redis rabbitmq")          the default set
#   REDIS_PORT (6379)  AMQP_PORT (5672)  BEANSTALK_PORT (11300)  SQS_PORT (5000)
#   MONGODB_PORT (27017)  COUCHDB_PORT (5984)
#   SERVICES_DIR (.services)             where the servers started here keep their files
#   SERVICES_TIMEOUT (60)                seconds to wait for each server
#
# A server is three functions, <name>_ready PORT, <name>_install and <name>_start PORT
# (optionally <name>_stop PORT), a port in port_of, and its name in ALL_SERVICES.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${SERVICES_DIR:-$ROOT/.services}
TIMEOUT=${SERVICES_TIMEOUT:-60}
HOST=127.0.0.1
ALL_SERVICES=(redis rabbitmq beanstalkd sqs mongodb couchdb)
read -r -a DEFAULT_SERVICES <<<"${SERVICES:-redis rabbitmq}"
TOOLS=$STATE/tools-venv
PING=("python3" "$ROOT/scripts/ping.py")

log() { printf 'services: %s\n' "$*" >&2; }

fail() {  # fail SERVER MESSAGE...
    local server=$1; shift
    printf 'services: FAILED: %s: %s\n' "$server" "$*" >&2
    exit 1
}

port_of() {
    case $1 in
        redis) echo "${REDIS_PORT:-6379}" ;;
        rabbitmq) echo "${AMQP_PORT:-5672}" ;;
        beanstalkd) echo "${BEANSTALK_PORT:-11300}" ;;
        sqs) echo "${SQS_PORT:-5000}" ;;
        mongodb) echo "${MONGODB_PORT:-27017}" ;;
        couchdb) echo "${COUCHDB_PORT:-5984}" ;;
        *) fail "$1" "unknown server (known: ${ALL_SERVICES[*]})" ;;
    esac
}

dir_of() { echo "$STATE/$1-$2"; }  # dir_of NAME PORT: the files of a server started here

if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo -n); fi

APT_UPDATED=
apt_install() {  # apt_install PACKAGE...
    if ! command -v apt-get >/dev/null; then
        log "apt-get not found; install $* by hand"
        return 1
    fi
    if [ -z "$APT_UPDATED" ]; then
        log "apt-get update"
        "${SUDO[@]}" apt-get update -qq >>"$STATE/apt.log" 2>&1 || return 1
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "$@" >>"$STATE/apt.log" 2>&1
}

# Python servers live in their own venv, never in the project's .venv.
tools_install() {  # tools_install REQUIREMENT...: stamped, so a repeat costs nothing
    local stamp
    stamp="$TOOLS/.installed-$(printf '%s' "$*" | tr -c 'A-Za-z0-9.=-' _)"
    [ -f "$stamp" ] && return 0
    if [ ! -x "$TOOLS/bin/python" ]; then
        python3 -m venv "$TOOLS" >>"$STATE/tools.log" 2>&1 || return 1
    fi
    log "pip install $* into $TOOLS"
    env -u VIRTUAL_ENV -u PIP_TARGET -u PIP_PREFIX -u PYTHONPATH "$TOOLS/bin/python" -m pip \
        install -q --disable-pip-version-check "$@" >>"$STATE/tools.log" 2>&1 || return 1
    touch "$stamp"
}

port_open() {  # port_open PORT: something accepts TCP connections there
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

wait_until() {  # wait_until SECONDS COMMAND...: poll COMMAND every 0.2 s
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

spawn() {  # spawn DIR NAME COMMAND...: run detached in DIR, output to DIR/NAME.log, pid to DIR/NAME.pid
    local dir=$1 name=$2; shift 2
    (cd "$dir" && exec setsid nohup "$@" >"$dir/$name.log" 2>&1 </dev/null) &
    echo $! >"$dir/$name.pid"
}

stop_pidfile() {  # stop_pidfile FILE: TERM the process of a pid file this script wrote
    local pid
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        wait_until 10 eval "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

# --- Redis ---------------------------------------------------------------------------
redis_ready() { [ "$(redis-cli -h "$HOST" -p "$1" ping 2>/dev/null)" = PONG ]; }

redis_install() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
    apt_install redis-server
}

redis_start() {
    local dir; dir=$(dir_of redis "$1")
    redis-server --daemonize yes --bind "$HOST" --port "$1" --save '' --appendonly no \
        --dir "$dir" --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
}

redis_stop() { stop_pidfile "$(dir_of redis "$1")/redis.pid"; }

# --- RabbitMQ ------------------------------------------------------------------------
# Ready means a real AMQP login as guest/guest that opens the vhost '/'.
rabbitmq_ready() { "${PING[@]}" amqp --host "$HOST" --port "$1" --timeout 3 2>/dev/null; }

rabbitmq_install() {
    command -v rabbitmq-server >/dev/null && command -v rabbitmqctl >/dev/null && return 0
    apt_install rabbitmq-server
}

# On the default port the node is the machine's usual one (default node name and data
# directory).  Any other port gets a private node with its own name, distribution port,
# data and config, so it can run beside the machine's RabbitMQ.
rabbitmq_env() {
    local port=$1 dir; dir=$(dir_of rabbitmq "$1")
    export RABBITMQ_NODE_IP_ADDRESS=$HOST RABBITMQ_NODE_PORT=$port ERL_EPMD_ADDRESS=$HOST
    export RABBITMQ_PID_FILE="$dir/rabbitmq.pid" RABBITMQ_LOG_BASE="$dir/log"
    if [ "$port" != 5672 ]; then
        export RABBITMQ_NODENAME="kombu$port@localhost" RABBITMQ_DIST_PORT=$((port + 20000))
        export RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
        export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
        export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
    fi
}

rabbitmq_start() {
    local port=$1 dir; dir=$(dir_of rabbitmq "$1")
    mkdir -p "$dir/log"
    if [ "$port" != 5672 ]; then
        mkdir -p "$dir/mnesia"
        printf 'listeners.tcp.default = %s:%s\nloopback_users = none\n' "$HOST" "$port" \
            >"$dir/rabbitmq.conf"
        printf '[].\n' >"$dir/enabled_plugins"
        printf '[].\n' >"$dir/advanced.config"
    fi
    rm -f "$dir/rabbitmq.pid"
    # Run as root, the Debian wrapper switches to the rabbitmq user, which must own $dir.
    if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then
        chown -R rabbitmq:rabbitmq "$dir"
    fi
    (
        rabbitmq_env "$port"
        cd "$dir"
        rabbitmq-server -detached >"$dir/start.log" 2>&1
        # `await_startup` straight after -detached fails: the node is not registered yet.
        rabbitmqctl wait "$RABBITMQ_PID_FILE" --timeout "$TIMEOUT" >>"$dir/start.log" 2>&1
    )
}

rabbitmq_stop() {
    [ -f "$(dir_of rabbitmq "$1")/rabbitmq.pid" ] || return 0
    (rabbitmq_env "$1"; rabbitmqctl stop "$RABBITMQ_PID_FILE" >/dev/null 2>&1) || true
}

# --- beanstalkd ----------------------------------------------------------------------
beanstalkd_ready() { "${PING[@]}" beanstalk --host "$HOST" --port "$1" --timeout 2 2>/dev/null; }

beanstalkd_install() { command -v beanstalkd >/dev/null || apt_install beanstalkd; }

# -z: 1 MiB jobs (the default 65535 bytes refuses a 200 kB message; the conformance kit sends one)
beanstalkd_start() { spawn "$(dir_of beanstalkd "$1")" beanstalkd beanstalkd -l "$HOST" -p "$1" -z 1048576; }

beanstalkd_stop() { stop_pidfile "$(dir_of beanstalkd "$1")/beanstalkd.pid"; }

# --- SQS: moto in server mode --------------------------------------------------------
sqs_ready() { "${PING[@]}" sqs --host "$HOST" --port "$1" --timeout 3 2>/dev/null; }

sqs_install() { tools_install "moto[server]==5.2.5"; }

sqs_start() { spawn "$(dir_of sqs "$1")" moto "$TOOLS/bin/moto_server" -H "$HOST" -p "$1"; }

sqs_stop() { stop_pidfile "$(dir_of sqs "$1")/moto.pid"; }

# --- MongoDB: nx-27017, the MongoDB wire protocol over SQLite -----------------------
mongodb_ready() { "${PING[@]}" mongodb --host "$HOST" --port "$1" --timeout 3 2>/dev/null; }

mongodb_install() { tools_install "nx-27017==0.8.1"; }

mongodb_start() {
    local dir; dir=$(dir_of mongodb "$1")
    mkdir -p "$dir/data"
    spawn "$dir" stdout "$TOOLS/bin/nx-27017" --host "$HOST" -p "$1" --data-dir "$dir/data" \
        --log-file "$dir/nx-27017.log" --pid-file "$dir/nx-27017.pid"
}

mongodb_stop() {
    local dir; dir=$(dir_of mongodb "$1")
    stop_pidfile "$dir/nx-27017.pid"
    stop_pidfile "$dir/stdout.pid"
}

# --- CouchDB: pouchdb-server, the CouchDB HTTP API -----------------------------------
# Pinned by scripts/pouchdb-server/package-lock.json and installed with `npm ci`.
POUCHDB=$STATE/pouchdb-server

couchdb_ready() { "${PING[@]}" couchdb --host "$HOST" --port "$1" --timeout 3 2>/dev/null; }

couchdb_install() {
    local src=$ROOT/scripts/pouchdb-server
    if [ -x "$POUCHDB/node_modules/.bin/pouchdb-server" ] \
        && cmp -s "$src/package-lock.json" "$POUCHDB/package-lock.json"; then
        return 0
    fi
    command -v npm >/dev/null || apt_install nodejs npm || return 1
    mkdir -p "$POUCHDB"
    cp "$src/package.json" "$src/package-lock.json" "$POUCHDB/"
    log "npm ci (pouchdb-server) in $POUCHDB"
    (cd "$POUCHDB" && npm ci --no-audit --no-fund >"$POUCHDB/npm.log" 2>&1) \
        || { log "npm ci failed; see $POUCHDB/npm.log"; return 1; }
}

couchdb_start() {
    local dir; dir=$(dir_of couchdb "$1")
    mkdir -p "$dir/db"
    # It writes log.txt into its working directory, which spawn makes $dir.
    spawn "$dir" pouchdb-server "$POUCHDB/node_modules/.bin/pouchdb-server" --in-memory \
        --host "$HOST" --port "$1" --dir "$dir/db" --config "$dir/config.json" --no-color
}

couchdb_stop() { stop_pidfile "$(dir_of couchdb "$1")/pouchdb-server.pid"; }

# --- driver --------------------------------------------------------------------------
ensure() {  # ensure SERVER
    local name=$1 port dir
    port=$(port_of "$name")
    if "${name}_ready" "$port"; then
        log "$name on $HOST:$port: already running"
        # Installed anyway (cheap when done): the chaos suite starts private servers of it.
        "${name}_install" || fail "$name" "could not install it (see the logs in $STATE)"
        return 0
    fi
    if port_open "$port"; then  # perhaps still starting: give it the timeout, then give up
        log "$name: port $port is open but does not answer yet; waiting up to ${TIMEOUT}s"
        if wait_until "$TIMEOUT" "${name}_ready" "$port"; then
            log "$name on $HOST:$port: ready"
            return 0
        fi
        fail "$name" "port $HOST:$port is taken by something that does not answer as $name"
    fi
    "${name}_install" || fail "$name" "could not install it (see the logs in $STATE)"
    if port_open "$port"; then  # the package's own service started it (systemd machines)
        wait_until "$TIMEOUT" "${name}_ready" "$port" \
            || fail "$name" "installed and listening on $HOST:$port, but not ready"
        log "$name on $HOST:$port: started by its package"
        return 0
    fi
    dir=$(dir_of "$name" "$port")
    mkdir -p "$dir"
    log "$name: starting on $HOST:$port (files in $dir)"
    "${name}_start" "$port" || fail "$name" "did not start; see the logs in $dir"
    wait_until "$TIMEOUT" "${name}_ready" "$port" \
        || fail "$name" "not ready on $HOST:$port after ${TIMEOUT}s; see the logs in $dir"
    log "$name on $HOST:$port: started"
}

stop() {  # stop SERVER: only what this script started (it has files in .services)
    local name=$1 port
    port=$(port_of "$name")
    if [ -d "$(dir_of "$name" "$port")" ]; then
        "${name}_stop" "$port"
        log "$name on $HOST:$port: stopped (if it was started here)"
    fi
}

main() {
    mkdir -p "$STATE"
    local action=ensure wanted=("$@")
    if [ "${1:-}" = --stop ]; then  # --stop alone: every server started here
        action=stop
        wanted=("${@:2}")
        [ ${#wanted[@]} -gt 0 ] || wanted=("${ALL_SERVICES[@]}")
    fi
    [ ${#wanted[@]} -gt 0 ] || wanted=("${DEFAULT_SERVICES[@]}")
    for name in "${wanted[@]}"; do
        "$action" "$name"
    done
}

main "$@"
