#!/bin/bash
# Replication cost, one session, back to back: RocketMQ 4.9.4's own benchmark Producer
# (-w 8 -s 1024) against a single broker, an ASYNC_MASTER + slave and a SYNC_MASTER + slave
# (ASYNC_FLUSH everywhere), for rocketq from a checkout and/or Apache RocketMQ 4.9.4.
#   benchmarks/ha_compare.sh [rocketq|java|both] [seconds=45] [checkout=.]
# Needs the 4.9.4 anchor kit (/tmp/anchors, see /work/shared/anchors/rocketmq-4.9.4/README.md).
# Prints the 10 s TPS windows of each case (the first, warm-up, is dropped from the median)
# and SYNC/ASYNC, ASYNC/single ratios of the medians.
set -u
WHICH=${1:-rocketq}; SECS=${2:-45}; CO=$(cd "${3:-.}" && pwd)
. /tmp/anchors/run/env.sh
bench() { (cd /tmp && timeout "$SECS" sh "$ROCKETMQ_HOME/bin/tools.sh" org.apache.rocketmq.example.benchmark.Producer \
  -t HaCompareTopic -w 8 -s 1024 -n "$1" 2>/dev/null) | tee -a "$LOG" | sed -n 's/.*Send TPS: \([0-9]*\).*/\1/p' | tr '\n' ' '; }
median() { tr ' ' '\n' | sed '1d;/^$/d' | sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : 0)}'; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
LOG=$(mktemp /tmp/ha_compare.XXXX.log)
# Java: first report of a 4.9.4 slave comes haSendHeartbeatInterval (5 s) after it connects
SETTLE=12

rocketq_case() {  # role: single | ASYNC_MASTER | SYNC_MASTER
  local role=$1 d np bp sp ns br sl=""
  d=$(mktemp -d); np=$(port); bp=$(port); sp=$(port)
  printf 'brokerName=broker-a\nbrokerIP1=127.0.0.1\nlistenPort=%s\nhaListenPort=%s\nnamesrvAddr=127.0.0.1:%s\nbrokerRole=%s\nstorePathRootDir=%s/m\n' \
    "$bp" "$((bp + 1))" "$np" "${role/single/ASYNC_MASTER}" "$d" > "$d/m.conf"
  printf 'brokerName=broker-a\nbrokerId=1\nbrokerRole=SLAVE\nbrokerIP1=127.0.0.1\nlistenPort=%s\nnamesrvAddr=127.0.0.1:%s\nstorePathRootDir=%s/s\n' \
    "$sp" "$np" "$d" > "$d/s.conf"
  "$CO/.venv/bin/rocketq" namesrv -p "$np" > "$d/ns.log" 2>&1 & ns=$!
  sleep 1; "$CO/.venv/bin/rocketq" broker -c "$d/m.conf" > "$d/m.log" 2>&1 & br=$!
  if [ "$role" != single ]; then sleep 1; "$CO/.venv/bin/rocketq" broker -c "$d/s.conf" > "$d/s.log" 2>&1 & sl=$!; fi
  sleep 4
  check_group "127.0.0.1:$np" "$role"
  echo "# rocketq $role" >> "$LOG"; bench "127.0.0.1:$np"
  kill $br $sl $ns; wait $br $sl $ns 2>/dev/null; rm -rf "$d"
}

java_case() {
  local role=$1 R=/tmp/anchors/run
  sed "s/^brokerRole.*/brokerRole = ${role/single/ASYNC_MASTER}/; s#store-ha-master#store-bench-m#g" $R/ha-master.conf > $R/bench-m.conf
  sed 's#store-ha-slave#store-bench-s#g' $R/ha-slave.conf > $R/bench-s.conf
  rm -rf /tmp/anchors/store-bench-m /tmp/anchors/store-bench-s
  $R/start-namesrv.sh >/dev/null; $R/start-broker.sh bench-m >/dev/null
  [ "$role" != single ] && $R/start-broker.sh bench-s >/dev/null
  sleep $SETTLE
  check_group 127.0.0.1:9876 "$role"
  echo "# java $role" >> "$LOG"; bench 127.0.0.1:9876
  $R/stop.sh all >/dev/null
  # start-broker.sh may record the runbroker.sh shell instead of the JVM: stop our JVMs by
  # the config they were started with, then wait for the fixed ports to be free again
  for p in $(pgrep -f "run/bench-[ms].conf"); do [ "$(cat /proc/$p/comm 2>/dev/null)" = java ] && kill "$p"; done
  for i in $(seq 1 60); do ss -ltn | grep -qE ':(9876|10911|10912|10921|10922) ' || break; sleep 0.5; done
}

check_group() {  # namesrv role: a replicated case must have its slave registered
  local n
  n=$("$CO/.venv/bin/rocketq" admin clusterList -n "$1" 2>/dev/null | grep -c broker-a)
  if [ "$2" != single ] && [ "$n" -lt 2 ]; then echo "WARNING: $2 case without a slave" | tee -a "$LOG" >&2; fi
}

run() {  # impl
  local w s a y
  s=$(${1}_case single); a=$(${1}_case ASYNC_MASTER); y=$(${1}_case SYNC_MASTER)
  echo "$1 single        windows: $s"; echo "$1 ASYNC_MASTER  windows: $a"; echo "$1 SYNC_MASTER   windows: $y"
  python3 -c "s,a,y=$(echo "$s" | median),$(echo "$a" | median),$(echo "$y" | median)
print(f'$1 medians: single {s}, ASYNC+slave {a}, SYNC+slave {y}; SYNC/ASYNC {y/a if a else 0:.2f}, ASYNC/single {a/s if s else 0:.2f}')"
}

date -u +"%F %T UTC, $(nproc) cores"
case $WHICH in rocketq) run rocketq;; java) run java;; both) run rocketq; run java;; esac
echo "full benchmark output: $LOG"
