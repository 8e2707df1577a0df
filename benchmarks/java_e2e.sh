#!/bin/bash
# RocketMQ's benchmark Consumer + Producer at once (the anchor kit's `bench.sh e2e`: the
# Consumer on BenchmarkTest, 8 s later the Producer -w 8 -s 1024), against Apache RocketMQ
# 4.9.4 (the kit in /tmp/anchors, see ../shared/anchors/rocketmq-4.9.4/README.md) and then
# against rocketq from CHECKOUT (`rocketq namesrv -p 9876` + `rocketq broker` on 10911: the
# kit's tools talk to 127.0.0.1:9876), ASYNC_FLUSH, same machine, one run each.
#   benchmarks/java_e2e.sh CHECKOUT [SECONDS=60]
# Prints each side's 10 s windows (producer and consumer TPS) and, over 10 s in the middle of
# the run, the CPU of the broker, the Consumer and the Producer (/proc/<pid>/stat) and the
# Consumer's write system calls (its pull requests, /proc/<pid>/io). Needs the ports 9876
# and 10911 free. By hand only (needs Java and the kit).
set -u
CO=$(cd "${1:?checkout}" && pwd); SECS=${2:-60}
. /tmp/anchors/run/env.sh
R=/tmp/anchors/results
ANCHOR_PROCS="org.apache.rocketmq.(broker.BrokerStartup|namesrv.NamesrvStartup)"
if pgrep -f "$ANCHOR_PROCS" > /dev/null; then
  echo "RocketMQ 4.9.4 already running (pids $(pgrep -f "$ANCHOR_PROCS" | tr '\n' ' ')): stop it first" >&2
  exit 1
fi
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
writes() { awk '/^syscw/ {print $2}' "/proc/$1/io" 2>/dev/null || echo 0; }
jvm_of() { pgrep -f "$1" | while read -r p; do [ "$(cat "/proc/$p/comm")" = java ] && echo "$p"; done | head -1; }
window() {  # BROKER_PID LABEL: CPU of the three processes over 10 s in mid-run
  sleep $((SECS / 2 + 4))
  local cp pp b0 c0 p0 w0 b1 c1 p1 w1 hz
  cp=$(jvm_of benchmark.Consumer); pp=$(jvm_of benchmark.Producer); hz=$(getconf CLK_TCK)
  b0=$(ticks "$1"); c0=$(ticks "$cp"); p0=$(ticks "$pp"); w0=$(writes "$cp")
  sleep 10
  b1=$(ticks "$1"); c1=$(ticks "$cp"); p1=$(ticks "$pp"); w1=$(writes "$cp")
  awk -v b=$((b1 - b0)) -v c=$((c1 - c0)) -v p=$((p1 - p0)) -v w=$((w1 - w0)) -v hz="$hz" \
    'BEGIN { printf "  CPU s over 10 s: broker %.2f, consumer %.2f, producer %.2f; consumer write syscalls %d\n", b / hz, c / hz, p / hz, w }'
}
e2e() {  # BROKER_PID LABEL
  window "$1" "$2" & local w=$!
  bash /tmp/anchors/run/bench.sh e2e "$2" "$SECS" > /dev/null 2>&1
  wait $w
  echo "  producer TPS: $(sed -n 's/.*Send TPS: \([0-9]*\).*/\1/p' "$R/bench-$2-e2e-producer.txt" | tr '\n' ' ')"
  echo "  consumer TPS: $(sed -n 's/.* TPS: \([0-9]*\) FAIL.*/\1/p' "$R/bench-$2-e2e-consumer.txt" | tr '\n' ' ')"
}

echo "RocketMQ 4.9.4 (ASYNC_FLUSH):"
rm -rf /tmp/anchors/store-async
/tmp/anchors/run/start-namesrv.sh > /dev/null; /tmp/anchors/run/start-broker.sh async > /dev/null; sleep 8
e2e "$(cat /tmp/anchors/run/broker-async.pid)" "e2e494_$$"
/tmp/anchors/run/stop.sh all > /dev/null
left=$(pgrep -f "$ANCHOR_PROCS" | tr '\n' ' ')  # the kit's stop.sh can miss a JVM it started
[ -n "$left" ] && kill $left && sleep 3
rm -rf /tmp/anchors/store-async

echo "rocketq (ASYNC_FLUSH):"
d=$(mktemp -d)
printf 'brokerIP1=127.0.0.1\nlistenPort=10911\nnamesrvAddr=127.0.0.1:9876\nflushDiskType=ASYNC_FLUSH\nstorePathRootDir=%s/store\ngrpcServerPort=-1\n' \
  "$d" > "$d/broker.conf"
"$CO/.venv/bin/rocketq" namesrv -p 9876 > "$d/ns.log" 2>&1 & ns=$!
sleep 1; "$CO/.venv/bin/rocketq" broker -c "$d/broker.conf" > "$d/broker.log" 2>&1 & br=$!
sleep 3
e2e "$br" "e2erq_$$"
kill "$br" "$ns"; wait "$br" "$ns" 2>/dev/null; rm -rf "$d"
