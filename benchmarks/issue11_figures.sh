#!/bin/bash
# Issue 11 figures, one run each, in order (by hand: needs the anchor kit in /tmp/anchors,
# redis-server + nats-server, and PEERS_PYTHON: a python with redis and nats-py installed).
#   PEERS_PYTHON=/path/to/python bash benchmarks/issue11_figures.sh
set -u
cd "$(dirname "$0")/.."
export -n PYTHONDONTWRITEBYTECODE; unset PYTHONDONTWRITEBYTECODE
# The anchor kit's stop.sh sometimes records runbroker.sh's shell instead of the JVM and then
# misses it: a 4.9.4 broker left running would serve the next step's Producer or take its CPU,
# and every figure after it would be wrong. None may run when this starts; after each step
# that starts them, what is left (started by that step) is stopped here, by PID.
ANCHOR_PROCS="org.apache.rocketmq.(broker.BrokerStartup|namesrv.NamesrvStartup)"
anchors_idle() {
  left=$(pgrep -f "$ANCHOR_PROCS" | tr '\n' ' ')
  if [ -n "$left" ]; then
    echo "RocketMQ 4.9.4 already running (pids $left): stop it first (kill those pids)" >&2
    exit 1
  fi
}
anchors_clean() {
  left=$(pgrep -f "$ANCHOR_PROCS" | tr '\n' ' ')
  [ -z "$left" ] && return
  echo "   (stopping the 4.9.4 processes $1 left running: $left)"
  kill $left 2>/dev/null
  for _ in $(seq 1 60); do pgrep -f "$ANCHOR_PROCS" > /dev/null || return; sleep 0.5; done
  echo "4.9.4 processes still running after 30 s: $(pgrep -f "$ANCHOR_PROCS" | tr '\n' ' ')" >&2
  exit 1
}
anchors_idle
echo "== $(date -u +%H:%M) load: $(cut -d' ' -f1-3 /proc/loadavg) HEAD $(git rev-parse --short HEAD)"
echo "== startup"; .venv/bin/python benchmarks/startup_bench.py --runs 5
echo "== compare-send ASYNC"; bash ../shared/anchors/rocketmq-4.9.4/compare-send.sh . ASYNC_FLUSH 45 2>&1 | tail -3
anchors_clean "compare-send ASYNC"
echo "== compare-send SYNC"; bash ../shared/anchors/rocketmq-4.9.4/compare-send.sh . SYNC_FLUSH 45 2>&1 | tail -3
anchors_clean "compare-send SYNC"
echo "== SYNC_FLUSH group commit: messages per fdatasync, 8 senders (perf stat)"
for load in java rocketq; do .venv/bin/python benchmarks/send_path.py --flush SYNC_FLUSH --perf --load $load --seconds 10 --rounds 1 2>&1 | grep "msgs/fdatasync" | sed "s/^/$load: /"; done
echo "== java async fill + push drain"; bash benchmarks/java_compare.sh . ASYNC_FLUSH 300000 2>&1 | tail -8
anchors_clean "java_compare"
echo "== own client"
D=$(mktemp -d); NP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'); BP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
.venv/bin/rocketq dev --namesrv-port $NP --broker-port $BP --store $D/s > $D/dev.log 2>&1 & DP=$!
sleep 3
.venv/bin/rocketq bench producer -n 127.0.0.1:$NP -t OwnSend -w 8 -s 1024 --seconds 20 2>&1 | grep summary
# the same with JSON headers, an AsyncProducer's default (the bench sends binary ones, as
# RocketMQ's Java benchmark tools do)
ROCKETMQ_SERIALIZE_TYPE=JSON .venv/bin/rocketq bench producer -n 127.0.0.1:$NP -t OwnSend -w 8 -s 1024 --seconds 20 2>&1 | grep summary
.venv/bin/rocketq bench producer -n 127.0.0.1:$NP -t Backlog -w 64 -s 1024 --seconds 25 2>&1 | grep summary
N=$(.venv/bin/rocketq admin topicStatus -n 127.0.0.1:$NP -t Backlog 2>/dev/null | awk 'NR>1 {s+=$4} END {print s}')
echo "backlog $N"
.venv/bin/rocketq bench consumer -n 127.0.0.1:$NP -t Backlog -g drain32 -b 32 --count $N --seconds 120 2>&1 | grep "drain:"
.venv/bin/rocketq bench consumer -n 127.0.0.1:$NP -t Backlog -g drain1 -b 1 --count $N --seconds 120 2>&1 | grep "drain:"
kill $DP; wait $DP 2>/dev/null; rm -rf $D
echo "== peers"; ${PEERS_PYTHON:-python3} benchmarks/peers_bench.py --seconds 15
echo "== done $(date -u +%H:%M)"
