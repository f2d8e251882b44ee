#!/usr/bin/env bash
# Start the real servers the tests run against, idempotently (see ../shared/SERVICES.md).
#
#   bash scripts/services.sh              # every server below
#   bash scripts/services.sh redis        # only the named ones
#
# A server whose port already answers its protocol is left alone.  A missing server is
# installed with apt-get (one `apt-get update` first, only when something must be
# installed), started on 127.0.0.1 with its logs and pid files under .services/, and
# waited for.  Exits non-zero naming the server that failed.
#
# Environment:
#   REDIS_PORT (6379)  AMQP_PORT (5672)   ports to check / start on
#   SERVICES_DIR (.services)              logs, pid files, data of the servers started here
#   SERVICES_TIMEOUT (60)                 seconds to wait for each server
#
# Each server is three functions, <name>_ready PORT, <name>_install and <name>_start PORT;
# add a server by writing those three and listing it in ALL_SERVICES.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${SERVICES_DIR:-$ROOT/.services}
REDIS_PORT=${REDIS_PORT:-6379}
AMQP_PORT=${AMQP_PORT:-5672}
TIMEOUT=${SERVICES_TIMEOUT:-60}
HOST=127.0.0.1
ALL_SERVICES=(redis rabbitmq)

log() { printf 'services: %s\n' "$*" >&2; }

fail() {  # fail SERVER MESSAGE...
    local server=$1; shift
    printf 'services: FAILED: %s: %s\n' "$server" "$*" >&2
    exit 1
}

if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo -n); fi

APT_UPDATED=
apt_install() {  # apt_install PACKAGE...
    if ! command -v apt-get >/dev/null; then
        log "apt-get not found; install $* by hand"
        return 1
    fi
    if [ -z "$APT_UPDATED" ]; then
        log "apt-get update"
        "${SUDO[@]}" apt-get update -qq >"$STATE/apt.log" 2>&1 || return 1
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "$@" >>"$STATE/apt.log" 2>&1
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

# --- Redis ---------------------------------------------------------------------------
redis_ready() {
    [ "$(redis-cli -h "$HOST" -p "$1" ping 2>/dev/null)" = PONG ]
}

redis_install() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
    apt_install redis-server
}

redis_start() {
    local port=$1 dir="$STATE/redis-$1"
    mkdir -p "$dir"
    redis-server --daemonize yes --bind "$HOST" --port "$port" --save '' --appendonly no \
        --dir "$dir" --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
}

redis_log() { echo "$STATE/redis-$1/redis.log"; }

# --- RabbitMQ ------------------------------------------------------------------------
# Readiness is a real AMQP login as guest/guest that opens the vhost '/'.
rabbitmq_ready() {
    python3 "$ROOT/scripts/amqp_ping.py" --host "$HOST" --port "$1" --timeout 3 2>/dev/null
}

rabbitmq_install() {
    command -v rabbitmq-server >/dev/null && command -v rabbitmqctl >/dev/null && return 0
    apt_install rabbitmq-server
}

# The node started for the default port is the machine's usual one (default node name and
# data directory).  Any other port gets a private node: own name, distribution port, data
# and config, so it can run beside the machine's RabbitMQ.
rabbitmq_env() {
    local port=$1 dir="$STATE/rabbitmq-$1"
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
    local port=$1 dir="$STATE/rabbitmq-$1"
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

rabbitmq_log() { echo "$STATE/rabbitmq-$1/start.log and $STATE/rabbitmq-$1/log/"; }

# --- driver --------------------------------------------------------------------------
port_of() {
    case $1 in
        redis) echo "$REDIS_PORT" ;;
        rabbitmq) echo "$AMQP_PORT" ;;
        *) fail "$1" "unknown server (known: ${ALL_SERVICES[*]})" ;;
    esac
}

ensure() {  # ensure SERVER
    local name=$1 port
    port=$(port_of "$name")
    if "${name}_ready" "$port"; then
        log "$name on $HOST:$port: already running"
        return 0
    fi
    if port_open "$port"; then  # perhaps still starting: give it the timeout, then give up
        log "$name: port $port is open but does not answer yet; waiting up to ${TIMEOUT}s"
        wait_until "$TIMEOUT" "${name}_ready" "$port" && { log "$name on $HOST:$port: ready"; return 0; }
        fail "$name" "port $HOST:$port is taken by something that does not answer as $name"
    fi
    "${name}_install" || fail "$name" "could not install it (see $STATE/apt.log)"
    log "$name: starting on $HOST:$port"
    "${name}_start" "$port" || fail "$name" "did not start; see $("${name}_log" "$port")"
    wait_until "$TIMEOUT" "${name}_ready" "$port" \
        || fail "$name" "not ready on $HOST:$port after ${TIMEOUT}s; see $("${name}_log" "$port")"
    log "$name on $HOST:$port: started"
}

main() {
    mkdir -p "$STATE"
    local wanted=("$@")
    [ ${#wanted[@]} -gt 0 ] || wanted=("${ALL_SERVICES[@]}")
    for name in "${wanted[@]}"; do
        ensure "$name"
    done
}

main "$@"
