#!/usr/bin/env bash
# Instructions the broker's main thread executes per WebSocket command (scenario 4's load: single-GET `cmd` frames,
# 100 sockets x 10 in flight), counted by valgrind's callgrind. Unlike throughput or CPU time it does not depend on
# what else runs on the machine (two vCPUs here may be one core's hyperthreads), so two builds compare within ~3% in
# one run each. It counts neither the kernel's work (syscalls) nor V8's compiler and GC helper threads.
#
# usage: bench/instructions/run.sh [build-dir ...]   (a dir holding dist/broker/main.js; default: this checkout)
# env:   OPS (20000) measured commands, WARMUP (50000) commands before counting starts, ROUNDS (2) per build.
# needs: valgrind (Debian package), redis-server, and `npm run build` done in this checkout (the load runs from it).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
load="$here/dist/bench/instructions/ws-load.js"
[ -f "$load" ] || { echo "build first: npm run build" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
ops=${OPS:-20000}; warmup=${WARMUP:-50000}; rounds=${ROUNDS:-2}
builds=("$@"); [ ${#builds[@]} -gt 0 ] || builds=("$here")
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

count() { # build -> instructions per command
  local build=$1 redis_port broker_port admin_port broker out
  redis_port=$(free_port); broker_port=$(free_port); admin_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$work/redis.pid" --logfile "$work/redis.log" >/dev/null
  for _ in $(seq 1 50); do redis-cli -p "$redis_port" set bench:k 0123456789abcdef0123456789abcdef >/dev/null 2>&1 && break; sleep 0.1; done
  out="$work/cg.out"
  SLUICE_LOG_LEVEL=warn valgrind --tool=callgrind --smc-check=all-non-file --instr-atstart=no --separate-threads=yes \
    --callgrind-out-file="$out" node --max-semi-space-size=64 "$build/dist/broker/main.js" \
    --redis-url "redis://127.0.0.1:$redis_port" --port "$broker_port" --admin-port "$admin_port" --token bench \
    >"$work/broker.log" 2>&1 &
  broker=$!
  for _ in $(seq 1 600); do grep -q "sluice ready" "$work/broker.log" && break; sleep 0.5; done
  local url="ws://127.0.0.1:$broker_port/ws?_token=bench"
  node "$load" "$url" "$warmup" >/dev/null
  callgrind_control -i on "$broker" >/dev/null 2>&1
  node "$load" "$url" "$ops" >/dev/null
  callgrind_control -i off "$broker" >/dev/null 2>&1
  callgrind_control -d "$broker" >/dev/null 2>&1
  kill "$broker"; wait "$broker" 2>/dev/null || true
  kill "$(cat "$work/redis.pid")"
  # thread 1 is the main thread: files <out>.<dump>-01
  local total
  total=$(cat "$out"*-01 | awk '/^(summary|totals):/ {s += $2} END {print s}')
  rm -f "$out"*
  echo $((total / ops))
}

for round in $(seq 1 "$rounds"); do
  for build in "${builds[@]}"; do
    echo "round $round  $(count "$build") instructions/command  $build"
  done
done
