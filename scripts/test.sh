#!/usr/bin/env bash
# Runs every Riffle test: unit, property, crash and end-to-end tests through
# the Rust AWS SDK, raw CBOR/JSON wire requests and the AWS CLI.
# Installs the AWS CLI with pip when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v aws >/dev/null 2>&1; then
  echo "scripts/test.sh: installing the AWS CLI (pip install awscli) for the CLI session test"
  python3 -m pip install --quiet --disable-pip-version-check awscli
  hash -r
fi

cargo test --workspace "$@"
