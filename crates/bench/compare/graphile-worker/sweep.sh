#!/bin/sh
# Sweeps graphile-worker's localQueue.size and concurrency (each run: the whole bench.mjs scenario,
# latency phase shortened to 1 s) and prints one JSON line per setting, tagged with the 1-minute
# load average at its start. Usage: ./sweep.sh [ROUNDS]
set -eu
cd "$(dirname "$0")"
rounds=${1:-1}
round=1
while [ "$round" -le "$rounds" ]; do
  for queue in 64 250 500 1000; do
    for concurrency in 16 64 128; do
      load=$(cut -d' ' -f1 /proc/loadavg)
      line=$(GW_LOCAL_QUEUE=$queue GW_CONCURRENCY=$concurrency node bench.mjs --seconds 1 | tail -n 1)
      echo "{\"round\":$round,\"load\":$load,\"result\":$line}"
    done
  done
  round=$((round + 1))
done
