#!/usr/bin/env bash
# Checks the Firehose client suites themselves (not riffle): runs the boto3
# suite and the AWS CLI session against moto in server mode, with the
# assertions on AWS behaviour that moto lacks switched off (--moto).
# Needs `pip install 'moto[server]' boto3 awscli`. Not part of `cargo test`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log=$(mktemp)
python3 -m moto.server -p 0 >"$log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q 'Running on' "$log" && break; sleep 0.1; done
endpoint=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1)
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
python3 "$here/../py/firehose_api.py" "$endpoint" --account 123456789012 --moto
# A fresh moto for the CLI session: its listing must hold only its own streams.
kill $moto
wait $moto 2>/dev/null || true
python3 -m moto.server -p 0 >"$log" 2>&1 &
moto=$!
for _ in $(seq 100); do grep -q 'Running on' "$log" && break; sleep 0.1; done
endpoint=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | tail -1)
bash "$here/firehose.sh" "$endpoint" 123456789012 --moto
