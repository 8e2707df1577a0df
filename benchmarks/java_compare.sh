#!/bin/bash
# Issue 11, side by side in one run: the Java 4.9.4 client's async fill (256 in flight) and a
# new Java push-consumer group draining the backlog, against Apache RocketMQ 4.9.4 (the anchor
# kit in /tmp/anchors, see ../shared/anchors/rocketmq-4.9.4/README.md) and then against rocketq
# (`rocketq namesrv` + `rocketq broker` from CHECKOUT), same flush mode, same machine.
#   benchmarks/java_compare.sh CHECKOUT [ASYNC_FLUSH|SYNC_FLUSH] [COUNT=300000]
# Prints each figure and the ratios rocketq / RocketMQ, and for each drain the CPU the Java
# client and the broker spent per message (both share the two cores: the client's CPU per
# message bounds what any broker can reach). By hand only (needs Java and the kit).
set -u
CO=$(cd "${1:?checkout}" && pwd); FLUSH=${2:-ASYNC_FLUSH}; COUNT=${3:-300000}
HERE=$(cd "$(dirname "$0")" && pwd)
. /tmp/anchors/run/env.sh
mode=async; [ "$FLUSH" = SYNC_FLUSH ] && mode=sync
CLS=$(mktemp -d)
javac -d "$CLS" -cp "$ROCKETMQ_HOME/lib/*" "$HERE/java/AsyncFill.java" "$HERE/java/PushDrain.java" || exit 1
jrun() { java -Xms512m -Xmx512m -Drocketmq.client.logRoot=/tmp/anchors/home/logs -cp "$ROCKETMQ_HOME/lib/*:$CLS" "$@" 2>/dev/null | grep -E "^(async fill|push drain):"; }
rate() { sed -n 's/.*, \([0-9]*\) \(acks\|msgs\)\/s$/\1/p'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # user + system CPU, clock ticks

run_pair() {  # NAMESRV BROKER_PID -> "fill drain"
  fill=$(jrun AsyncFill "$1" FillTopic "$COUNT" 256 1024); echo "  $fill" >&2
  t0=$(ticks "$2")
  drain=$(jrun PushDrain "$1" FillTopic "drain_cg_$RANDOM" "$COUNT")
  t1=$(ticks "$2")
  echo "  $drain; broker CPU $(awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$COUNT" \
    'BEGIN { printf "%.1f", d * 1e6 / hz / n }') us/msg" >&2
  echo "$(echo "$fill" | rate) $(echo "$drain" | rate)"
}

echo "RocketMQ 4.9.4 ($FLUSH):" >&2
rm -rf /tmp/anchors/store-$mode
/tmp/anchors/run/start-namesrv.sh >/dev/null; /tmp/anchors/run/start-broker.sh $mode >/dev/null; sleep 8
read -r jf jd < <(run_pair 127.0.0.1:9876 "$(cat /tmp/anchors/run/broker-$mode.pid)")
/tmp/anchors/run/stop.sh all >/dev/null; rm -rf /tmp/anchors/store-$mode

echo "rocketq ($FLUSH):" >&2
d=$(mktemp -d); port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
np=$(port); bp=$(port)
printf 'brokerIP1=127.0.0.1\nlistenPort=%s\nnamesrvAddr=127.0.0.1:%s\nflushDiskType=%s\nstorePathRootDir=%s/store\ngrpcServerPort=-1\n' \
  "$bp" "$np" "$FLUSH" "$d" > "$d/broker.conf"
"$CO/.venv/bin/rocketq" namesrv -p "$np" > "$d/ns.log" 2>&1 & ns=$!
sleep 1; "$CO/.venv/bin/rocketq" broker -c "$d/broker.conf" > "$d/broker.log" 2>&1 & br=$!
sleep 3
read -r rf rd < <(run_pair "127.0.0.1:$np" "$br")
kill "$br" "$ns"; wait "$br" "$ns" 2>/dev/null; rm -rf "$d" "$CLS"

python3 - "$jf" "$jd" "$rf" "$rd" <<'PY'
import sys
jf, jd, rf, rd = (float(x or 0) for x in sys.argv[1:])
ratio = lambda a, b: a / b if b else 0.0
print(f"async fill, 256 in flight: RocketMQ {jf:,.0f}/s  rocketq {rf:,.0f}/s  ratio {ratio(rf, jf):.2f}")
print(f"new push group drain:      RocketMQ {jd:,.0f}/s  rocketq {rd:,.0f}/s  ratio {ratio(rd, jd):.2f}")
PY
