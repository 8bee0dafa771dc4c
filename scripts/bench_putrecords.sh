#!/usr/bin/env bash
# PutRecords throughput: Riffle (durable, fsync=always) vs ferrokinesis (in memory),
# measured in one run on this machine with the same load generator.
#   scripts/bench_putrecords.sh [producers] [seconds] [record_bytes] [batch] [shards]
# Riffle runs with --no-throughput-limits: this measures the engine, and ferrokinesis
# enforces no per-shard limits by default either.
# Needs: cargo install ferrokinesis
set -euo pipefail
cd "$(dirname "$0")/.."
P=${1:-4}; S=${2:-10}; B=${3:-100}; N=${4:-500}; SH=${5:-4}
cargo build --release -q -p riffle --bin riffle --example put_bench
BENCH=target/release/examples/put_bench
DATA=$(mktemp -d)
cpu() { awk '{print ($14+$15)/100}' /proc/$1/stat; }
rss() { awk '/VmRSS/{print $2/1024 " MiB"}' /proc/$1/status; }

run() { # name pid endpoint
  local before after
  before=$(cpu "$2")
  out=$($BENCH "$3" "$P" "$S" "$B" "$N" "$SH")
  after=$(cpu "$2")
  echo "$1: $out"
  echo "$1: server CPU seconds $(echo "$after - $before" | bc), RSS $(rss "$2")"
}

target/release/riffle serve --listen 127.0.0.1:4611 --data-dir "$DATA/riffle" --transition-delay-ms 0 --no-throughput-limits >/dev/null 2>&1 &
RP=$!
ferrokinesis --port 4612 --create-stream-ms 0 >/dev/null 2>&1 &
FP=$!
trap 'kill $RP $FP 2>/dev/null; rm -rf "$DATA"' EXIT
sleep 1
run "riffle (fsync=always)" $RP http://127.0.0.1:4611
run "ferrokinesis 0.7.0 (memory)" $FP http://127.0.0.1:4612
