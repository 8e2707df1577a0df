#!/bin/bash
# Issue 11, SYNC_FLUSH under RocketMQ's Java benchmark Producer (-w 8 -s 1024): the send rate
# and, over a 10 s window, what the block device did (write requests, their average time,
# cache flushes, from /sys/dev/block/<dev>/stat) and the broker's busiest threads (CPU and
# run-queue wait, /proc/<pid>/task/*/schedstat).
#   benchmarks/sync_device.sh CHECKOUT rocketq     # `rocketq broker` of CHECKOUT, a fresh store
#   benchmarks/sync_device.sh CHECKOUT rocketmq    # Apache RocketMQ 4.9.4 from the anchor kit
# By hand only (needs Java and the kit in /tmp/anchors, see ../shared/anchors/rocketmq-4.9.4).
set -u
CO=$(cd "${1:?checkout}" && pwd); which=${2:-rocketq}
. /tmp/anchors/run/env.sh
d=$(mktemp -d); port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
if [ "$which" = rocketq ]; then
  np=$(port); bp=$(port)
  printf 'brokerIP1=127.0.0.1\nlistenPort=%s\nnamesrvAddr=127.0.0.1:%s\nflushDiskType=SYNC_FLUSH\nstorePathRootDir=%s/store\n' "$bp" "$np" "$d" > "$d/broker.conf"
  "$CO/.venv/bin/rocketq" namesrv -p "$np" > "$d/ns.log" 2>&1 & ns=$!
  sleep 1; "$CO/.venv/bin/rocketq" broker -c "$d/broker.conf" > "$d/broker.log" 2>&1 & br=$!
  sleep 3; store=$d
else
  np=9876; rm -rf /tmp/anchors/store-sync
  /tmp/anchors/run/start-namesrv.sh >/dev/null; sleep 2
  /tmp/anchors/run/start-broker.sh sync >/dev/null; br=$(cat /tmp/anchors/run/broker-sync.pid); sleep 6
  store=/tmp/anchors
fi
dev=$(stat -c '%d' "$store"); devstat=/sys/dev/block/$((dev >> 8)):$((dev & 255))/stat
(cd /tmp && timeout 35 sh "$ROCKETMQ_HOME/bin/tools.sh" org.apache.rocketmq.example.benchmark.Producer \
  -t CompareTopic -w 8 -s 1024 -n 127.0.0.1:$np 2>/dev/null | sed -n 's/.*Send TPS: \([0-9]*\).*/\1/p' | tr '\n' ' ' > "$d/tps") & bj=$!
sleep 12
snap() { cat "$devstat" 2>/dev/null || echo 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
  for t in /proc/$br/task/*; do echo "T $(basename "$t") $(tr ' ' _ < "$t/comm") $(cat "$t/schedstat")"; done; }
snap > "$d/s0"; sleep 10; snap > "$d/s1"
wait $bj; echo "$which SYNC_FLUSH sends/s, 10 s windows: $(cat "$d/tps")"
python3 - "$d/s0" "$d/s1" <<'PY'
import sys
a = open(sys.argv[1]).read().splitlines(); b = open(sys.argv[2]).read().splitlines()
d = [y - x for x, y in zip(map(int, a[0].split()), map(int, b[0].split()))]
print(f"device, 10 s: {d[4]} writes ({d[7] / max(d[4], 1) * 1000:.0f} µs avg), "
      f"{d[14] if len(d) > 14 else 0} cache flushes")
before = {line.split()[1]: line.split() for line in a[1:]}
rows = []
for line in b[1:]:
    new = line.split(); old = before.get(new[1])
    if old:
        cpu, wait = (int(new[3]) - int(old[3])) / 1e6, (int(new[4]) - int(old[4])) / 1e6
        rows.append((cpu, new[2], wait, int(new[5]) - int(old[5])))
for cpu, name, wait, slices in sorted(rows, reverse=True)[:6]:
    print(f"  thread {name:24s} cpu {cpu:6.0f} ms  run-queue wait {wait:5.0f} ms  slices {slices}")
PY
if [ "$which" = rocketq ]; then kill "$br" "$ns"; wait "$br" "$ns" 2>/dev/null; else /tmp/anchors/run/stop.sh all >/dev/null; fi
rm -rf "$d"
