#!/usr/bin/env bash
# Reproduces the tables in BENCHMARKS.md: Riffle (durable, fsync=always, limits off) against
# ferrokinesis and kinesalite (both in memory), one after another in the same run, each on a
# fresh server, all driven by `riffle bench` over loopback.
#
#   scripts/bench_all.sh [SECONDS]      (default 10)
#
# Environment:
#   LOAD_GB=2          data loaded (10 KiB records) before reading it back and taking RSS
#   KL_SECONDS=5       kinesalite is slow: its runs are time-bounded instead
#   KINESALITE=path    kinesalite's cli.js [default: found with node's require.resolve, or
#                      /tmp/kl/node_modules/kinesalite/cli.js]; `npm install kinesalite` in a
#                      scratch directory to get it
#   OUT=dir            where the JSON reports go [default: a temporary directory, printed]
#   RIFFLE_SERVER=bin  the riffle binary to serve with [default: this tree's release build]
#   PEERS="riffle ferrokinesis kinesalite"   which servers to measure
# Peers that are not installed are skipped, saying so. Needs jq.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-10}
LOAD_GB=${LOAD_GB:-2}
KL_SECONDS=${KL_SECONDS:-5}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
cargo build --release -q -p riffle --bin riffle
R=$PWD/target/release/riffle
DATA=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT

KL=${KINESALITE:-}
if [ -z "$KL" ]; then
  KL=$(node -e 'console.log(require.resolve("kinesalite/cli.js"))' 2>/dev/null || true)
  [ -z "$KL" ] && [ -f /tmp/kl/node_modules/kinesalite/cli.js ] && KL=/tmp/kl/node_modules/kinesalite/cli.js
fi

# start NAME PORT: a fresh server in the background; sets PID.
start() {
  case $1 in
    riffle) rm -rf "$DATA/riffle"
            "${RIFFLE_SERVER:-$R}" serve --listen 127.0.0.1:$2 --data-dir "$DATA/riffle" --transition-delay-ms 0 \
              --no-throughput-limits >/dev/null 2>&1 & ;;
    ferrokinesis) ferrokinesis --port $2 --create-stream-ms 0 >/dev/null 2>&1 & ;;
    kinesalite) node "$KL" --port $2 --createStreamMs 0 >/dev/null 2>&1 & ;;
  esac
  PID=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$2" && return 0
    sleep 0.1
  done
  echo "$1 did not start" >&2; exit 1
}
stop() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; PID=; }

# run NAME WORKLOAD PORT BENCH_ARGS...: one bench run on a fresh server.
run() {
  local name=$1 wl=$2 port=$3; shift 3
  start "$name" "$port"
  echo "== $name $wl: riffle bench $*" >&2
  "$R" bench "$@" --endpoint "http://127.0.0.1:$port" --server-pid "$PID" --json --quiet \
    > "$OUT/$name-$wl.json" || echo "   $name $wl failed" >&2
  stop
}

WANT=${PEERS:-riffle ferrokinesis kinesalite}
PEERS=()
for p in $WANT; do
  case $p in
    riffle) PEERS+=(riffle) ;;
    ferrokinesis) if command -v ferrokinesis >/dev/null; then PEERS+=(ferrokinesis); else echo "SKIPPED ferrokinesis: not installed (cargo install ferrokinesis)" >&2; fi ;;
    kinesalite) if [ -n "$KL" ] && command -v node >/dev/null; then PEERS+=(kinesalite); else echo "SKIPPED kinesalite: not installed (npm install kinesalite in a scratch dir; KINESALITE=.../cli.js)" >&2; fi ;;
  esac
done

LOAD_RECORDS=$(( LOAD_GB * 1000000000 / 10240 ))
port=4811
for p in "${PEERS[@]}"; do
  port=$((port + 1))
  if [ "$p" = kinesalite ]; then small=(--duration "$KL_SECONDS"); big=(--duration "$KL_SECONDS"); else small=(--duration "$S"); big=(--records "$LOAD_RECORDS"); fi
  run "$p" w100 $port get-records --producers 4 --shards 4 --record-bytes 100 --batch 500 "${small[@]}"
  run "$p" w10k $port get-records --producers 4 --shards 4 --record-bytes 10240 --batch 100 "${big[@]}"
  if [ "$p" != kinesalite ]; then # kinesalite has no SubscribeToShard
    run "$p" push1k $port subscribe --producers 4 --shards 1 --consumers 1 --record-bytes 100 --batch 1 --rate 1000 --duration "$S"
    run "$p" fanout20 $port subscribe --producers 4 --shards 1 --consumers 20 --record-bytes 1000 --batch 10 --rate 1000 --duration "$S"
  fi
done

echo
echo "Machine: $(nproc) vCPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(uname -sr); reports in $OUT"
echo
echo "| Workload | Server | Write rec/s | Write MB/s | Write p50 / p99 / p999 / max ms | Read rec/s | Read MB/s | Server CPU s/GB written | CPU s/M records written | RSS after write / after read (MB) | Lost / dup / reordered |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for wl in w100 w10k; do
  for p in "${PEERS[@]}"; do
    f="$OUT/$p-$wl.json"; [ -s "$f" ] || continue
    jq -r --arg p "$p" --arg wl "$wl" '"| \($wl): \(.record_bytes) B x \(.write.records) | \($p) | \(.write.records_per_sec) | \(.write.mb_per_sec) | \(.write.latency_ms|"\(.p50) / \(.p99) / \(.p999) / \(.max)") | \(.read.records_per_sec) | \(.read.mb_per_sec) | \(.write.server.cpu_s_per_gb) | \(.write.server.cpu_s_per_million_records) | \(.write.server.rss_mb_after) / \(.read.server.rss_mb_after) | \(.verify|"\(.lost) / \(.duplicated) / \(.reordered)") |"' "$f"
  done
done
echo
echo "| Workload | Server | Written rec/s | Pushed rec/s (all consumers) | Put-to-push p50 / p99 / p999 / max ms | Lost / dup / reordered |"
echo "|---|---|---|---|---|---|"
for wl in push1k fanout20; do
  for p in "${PEERS[@]}"; do
    f="$OUT/$p-$wl.json"; [ -s "$f" ] || continue
    jq -r --arg p "$p" --arg wl "$wl" '"| \($wl): \(.consumers) consumers, 1 shard | \($p) | \(.write.records_per_sec) | \(.read.records_per_sec) | \(.push_latency_ms|"\(.p50) / \(.p99) / \(.p999) / \(.max)") | \(.verify|"\(.lost) / \(.duplicated) / \(.reordered)") |"' "$f"
  done
done
