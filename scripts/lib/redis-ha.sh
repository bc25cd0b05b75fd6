#!/usr/bin/env bash
# Starts and drives the throwaway Redis topologies the failover tests kill nodes of: one master
# with one replica watched by three Sentinels, and a cluster of three masters with one replica
# each. Everything listens on loopback only; every node's start command is kept in its
# directory so that a killed node can be started again as it was.
#
#   redis-ha.sh sentinel-start DIR PORT...   5 free ports: master, replica, three Sentinels
#   redis-ha.sh cluster-start DIR PORT...    6 free ports (each with its bus port +10000 free)
#   redis-ha.sh KIND DIR prepare             every node up, replicas in sync, data flushed
#   redis-ha.sh KIND DIR kill-master         kill -9 the master (cluster: the one holding the
#                                            session key `sv:s:*`); prints its port
#   redis-ha.sh KIND DIR master              the port of the master now (cluster: of that key's slot)
#   redis-ha.sh KIND DIR heal                start what was killed, as a replica, and wait for sync
#
# KIND is `sentinel` or `cluster`. Exits non-zero when a wait times out.
set -euo pipefail

MASTER_NAME=svmaster

cli() { redis-cli -p "$1" "${@:2}" 2>/dev/null; }

alive() { cli "$1" ping | grep -q PONG; }

wait_for() { # SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds
    local tries=$(($1 * 10))
    shift
    local i
    for i in $(seq "$tries"); do
        "$@" && return 0
        sleep 0.1
    done
    echo "redis-ha: timed out waiting for: $*" >&2
    return 1
}

start_node() { # DIR PORT EXTRA...: starts a data node and records how
    local dir=$1 port=$2
    shift 2
    local cmd="redis-server --port $port --bind 127.0.0.1 --save '' --appendonly no --daemonize yes"
    cmd="$cmd --dir $dir --pidfile $dir/redis-$port.pid --logfile $dir/redis-$port.log $*"
    echo "$cmd" >"$dir/start-$port"
    eval "$cmd" >/dev/null
    wait_for 5 alive "$port"
}

sentinel_start() {
    local dir=$1 master=$2 replica=$3
    shift 3
    echo "$master $replica" >"$dir/data-ports"
    echo "$*" >"$dir/sentinel-ports"
    start_node "$dir" "$master"
    start_node "$dir" "$replica" --replicaof 127.0.0.1 "$master"
    local port
    for port in "$@"; do
        # Short timings so a failover takes seconds: down after 1 s without an answer.
        cat >"$dir/sentinel-$port.conf" <<EOF
port $port
bind 127.0.0.1
daemonize yes
dir $dir
pidfile $dir/sentinel-$port.pid
logfile $dir/sentinel-$port.log
sentinel monitor $MASTER_NAME 127.0.0.1 $master 2
sentinel down-after-milliseconds $MASTER_NAME 1000
sentinel failover-timeout $MASTER_NAME 2000
sentinel parallel-syncs $MASTER_NAME 1
EOF
        redis-server "$dir/sentinel-$port.conf" --sentinel >/dev/null
    done
    sentinel_prepare "$dir"
}

sentinel_master() {
    local port
    for port in $(cat "$1/sentinel-ports"); do
        local addr
        addr=$(cli "$port" sentinel get-master-addr-by-name "$MASTER_NAME" | tail -n 1) || continue
        [ -n "$addr" ] && { echo "$addr"; return 0; }
    done
    return 1
}

# The value after each `flags` line of a SENTINEL REPLICAS or SENTINELS answer.
flags() { awk 'f { print; f = 0 } $0 == "flags" { f = 1 }'; }

# True when the master has every other data node as an online replica and every Sentinel
# knows both the replica (not down) and the two other Sentinels.
sentinel_healthy() {
    local dir=$1 master port
    master=$(sentinel_master "$dir") || return 1
    cli "$master" info replication | grep -q 'connected_slaves:1' || return 1
    cli "$master" info replication | grep -q 'state=online' || return 1
    for port in $(cat "$dir/sentinel-ports"); do
        [ "$(cli "$port" sentinel get-master-addr-by-name "$MASTER_NAME" | tail -n 1)" = "$master" ] || return 1
        [ "$(cli "$port" sentinel replicas "$MASTER_NAME" | flags)" = slave ] || return 1
        [ "$(cli "$port" sentinel sentinels "$MASTER_NAME" | flags | grep -cx sentinel)" -ge 2 ] || return 1
    done
}

sentinel_heal() {
    local dir=$1 master port
    master=$(sentinel_master "$dir")
    for port in $(cat "$dir/data-ports"); do
        alive "$port" && continue
        eval "$(sed 's/ --replicaof .*//' "$dir/start-$port") --replicaof 127.0.0.1 $master" >/dev/null
        wait_for 5 alive "$port"
    done
    wait_for 20 sentinel_healthy "$dir"
}

sentinel_prepare() {
    sentinel_heal "$1"
    cli "$(sentinel_master "$1")" flushall >/dev/null
}

sentinel_kill_master() {
    local port
    port=$(sentinel_master "$1")
    kill -9 "$(cat "$1/redis-$port.pid")"
    echo "$port"
}

cluster_start() {
    local dir=$1
    shift
    echo "$*" >"$dir/data-ports"
    local port seeds=()
    for port in "$@"; do
        start_node "$dir" "$port" --cluster-enabled yes \
            --cluster-config-file "$dir/nodes-$port.conf" --cluster-node-timeout 1000
        seeds+=("127.0.0.1:$port")
    done
    redis-cli --cluster create "${seeds[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
    wait_for 30 cluster_healthy "$dir"
}

live_node() {
    local port
    for port in $(cat "$1/data-ports"); do
        alive "$port" && { echo "$port"; return 0; }
    done
    return 1
}

# Three masters, each with a connected replica, no node failed, and every node agreeing the
# cluster is up.
cluster_healthy() {
    local dir=$1 port nodes
    port=$(live_node "$dir") || return 1
    nodes=$(cli "$port" cluster nodes) || return 1
    echo "$nodes" | grep -q 'fail' && return 1
    [ "$(echo "$nodes" | awk '$3 ~ /master/ && $8 == "connected"' | wc -l)" -eq 3 ] || return 1
    [ "$(echo "$nodes" | awk '$3 ~ /slave/ && $8 == "connected"' | wc -l)" -eq 3 ] || return 1
    for port in $(cat "$dir/data-ports"); do
        cli "$port" cluster info | grep -q 'cluster_state:ok' || return 1
    done
}

cluster_heal() {
    local dir=$1 port
    for port in $(cat "$dir/data-ports"); do
        alive "$port" && continue
        # From its nodes file it knows the cluster; finding its slots served by a node of a
        # newer epoch, it becomes that node's replica.
        eval "$(cat "$dir/start-$port")" >/dev/null
        wait_for 5 alive "$port"
    done
    wait_for 30 cluster_healthy "$dir"
}

cluster_masters() {
    cli "$(live_node "$1")" cluster nodes | awk '$3 ~ /master/ && $3 !~ /fail/ {split($2, a, "[:@]"); print a[2]}'
}

cluster_prepare() {
    local dir=$1 port
    cluster_heal "$dir"
    for port in $(cluster_masters "$dir"); do
        cli "$port" flushall >/dev/null
    done
    rm -f "$dir/session-key"
}

cluster_kill_master() {
    local dir=$1 port key
    for port in $(cluster_masters "$dir"); do
        key=$(cli "$port" --scan --pattern 'sv:s:*' | head -n 1)
        if [ -n "$key" ]; then
            echo "$key" >"$dir/session-key"
            kill -9 "$(cat "$dir/redis-$port.pid")"
            echo "$port"
            return 0
        fi
    done
    echo "redis-ha: no master holds a session key" >&2
    return 1
}

# The master that serves the session key's slot now, once a live node says so.
cluster_master() {
    local dir=$1 live slot
    live=$(live_node "$dir")
    slot=$(cli "$live" cluster keyslot "$(cat "$dir/session-key")")
    cli "$live" cluster nodes | awk -v slot="$slot" '
        $3 ~ /master/ && $3 !~ /fail/ {
            for (i = 9; i <= NF; i++) {
                n = split($i, r, "-"); lo = r[1]; hi = (n == 2) ? r[2] : r[1]
                if (slot + 0 >= lo + 0 && slot + 0 <= hi + 0) { split($2, a, "[:@]"); print a[2]; exit }
            }
        }'
}

case $1 in
    sentinel-start) shift; sentinel_start "$@" ;;
    cluster-start) shift; cluster_start "$@" ;;
    sentinel|cluster)
        kind=$1 dir=$2 action=$3
        case $action in
            prepare) "${kind}_prepare" "$dir" ;;
            kill-master) "${kind}_kill_master" "$dir" ;;
            master) "${kind}_master" "$dir" | sed 's/.*://' ;;
            heal) "${kind}_heal" "$dir" ;;
            *) echo "redis-ha: unknown action $action" >&2; exit 2 ;;
        esac ;;
    *) echo "usage: redis-ha.sh sentinel-start|cluster-start DIR PORT... | sentinel|cluster DIR ACTION" >&2; exit 2 ;;
esac
