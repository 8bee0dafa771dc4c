#!/usr/bin/env bash
# Runs every Riffle test: unit, property, crash and end-to-end tests through
# the Rust AWS SDK, raw CBOR/JSON wire requests, the AWS CLI and boto3.
# Installs the AWS CLI, boto3 and moto's server with pip when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v aws >/dev/null 2>&1; then
  echo "scripts/test.sh: installing the AWS CLI (pip install awscli) for the CLI session test"
  python3 -m pip install --quiet --disable-pip-version-check awscli
  hash -r
fi
if ! python3 -c 'import boto3' >/dev/null 2>&1; then
  echo "scripts/test.sh: installing boto3 (pip install boto3) for the SubscribeToShard test"
  python3 -m pip install --quiet --disable-pip-version-check boto3
fi
if ! python3 -c 'import moto.server, flask_cors' >/dev/null 2>&1; then
  echo "scripts/test.sh: installing moto's S3 server (pip install 'moto[server]') for the Firehose S3 tests"
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]'
fi

if ! python3 -c 'import pyarrow' >/dev/null 2>&1; then
  echo "scripts/test.sh: installing pyarrow (pip install pyarrow) to read back Parquet and ORC objects"
  python3 -m pip install --quiet --disable-pip-version-check pyarrow
fi
if ! command -v jq >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "scripts/test.sh: installing PostgreSQL and jq (apt-get install postgresql jq) for the Redshift and dynamic partitioning tests"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql jq >/dev/null
fi

cargo test --workspace "$@"
