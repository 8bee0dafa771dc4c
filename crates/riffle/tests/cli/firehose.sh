#!/usr/bin/env bash
# A scripted AWS CLI session with `aws firehose` (v1 or v2) against a running
# server: every operation, its happy path and its AWS errors as the CLI shows
# them, and delivery of a put-record-batch into the S3 destination.
#
# Usage: firehose.sh ENDPOINT ACCOUNT [DATA_DIR | --moto]
#   DATA_DIR  riffle's data dir: delivered objects are read from DATA_DIR/s3/BUCKET.
#   --moto    the server is moto (server mode): objects are read through its S3
#             API, and checks of AWS behaviour moto does not reproduce are
#             skipped (each `aws_only` below says why). Used to check the script.
# Run by crates/riffle/tests/firehose_api.rs; prints FIREHOSE-CLI-OK at the end.
# The server must use a transition delay (riffle: --transition-delay-ms 500).
# Needs only `aws` and python3 (for reading JSON).
set -euo pipefail

ENDPOINT=$1
ACCOUNT=$2
MODE=${3:-}
STRICT=1
DATA_DIR=
if [ "$MODE" = "--moto" ]; then STRICT=0; elif [ -n "$MODE" ]; then DATA_DIR=$MODE; fi
ROLE="arn:aws:iam::${ACCOUNT}:role/firehose-role"
ARN_PREFIX="arn:aws:firehose:us-east-1:${ACCOUNT}:deliverystream"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# An empty profile: the user's config cannot interfere.
: >"$WORK/config"
: >"$WORK/credentials"
export AWS_CONFIG_FILE="$WORK/config" AWS_SHARED_CREDENTIALS_FILE="$WORK/credentials"
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-AKIDTEST} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-secret}
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_REGION AWS_CLI_AUTO_PROMPT || true

MAJOR=$(aws --version 2>&1 | sed -n 's#^aws-cli/\([0-9]*\)\..*#\1#p')
# Blob parameters as raw text on both CLI versions (v2 expects base64 otherwise).
BLOB=()
if [ "${MAJOR:-1}" -ge 2 ]; then BLOB=(--cli-binary-format raw-in-base64-out); fi

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# `fh ARGS...`: an `aws firehose` command that must succeed; its JSON on stdout.
fh() {
  local out
  if ! out=$(aws --endpoint-url "$ENDPOINT" --output json firehose "$@" 2>"$WORK/stderr"); then
    fail "aws firehose $* failed: $(cat "$WORK/stderr")"
  fi
  echo "+ aws firehose $1 ok" >&2
  printf '%s' "$out"
}

# `fh_err CODE ARGS...`: a command that must fail with CODE in its error line;
# prints the message (what follows "operation: ").
fh_err() {
  local code=$1
  shift
  if aws --endpoint-url "$ENDPOINT" --output json firehose "$@" >"$WORK/stdout" 2>"$WORK/stderr"; then
    fail "aws firehose $* succeeded, expected $code: $(cat "$WORK/stdout")"
  fi
  [ ! -s "$WORK/stdout" ] || fail "aws firehose $*: a failed command printed to stdout: $(cat "$WORK/stdout")"
  grep -q "($code)" "$WORK/stderr" || fail "aws firehose $*: expected ($code), got: $(cat "$WORK/stderr")"
  echo "+ aws firehose $1 -> $code" >&2
  sed -n 's/.*operation[^:]*: //p' "$WORK/stderr" | head -1
}

# Like fh_err, for AWS behaviour moto does not reproduce (skipped with --moto).
fh_err_aws() {
  if [ $STRICT = 1 ]; then fh_err "$@"; else aws --endpoint-url "$ENDPOINT" firehose "${@:2}" >/dev/null 2>&1 || true; fi
}

# `q EXPR` evaluates a Python expression over the JSON document on stdin (`d`).
q() {
  python3 -c 'import json,sys; d=json.load(sys.stdin); r=eval(sys.argv[1]); print(r if isinstance(r,str) else json.dumps(r))' "$1"
}

# `check WHAT GOT WANT`
check() {
  [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"
}

aws_only() {
  if [ $STRICT = 1 ]; then check "$@"; fi
}

describe() { fh describe-delivery-stream --delivery-stream-name "$1"; }

wait_status() {
  local name=$1 want=$2 status
  for _ in $(seq 150); do
    status=$(describe "$name" 2>/dev/null | q 'd["DeliveryStreamDescription"]["DeliveryStreamStatus"]')
    [ "$status" = "$want" ] && return 0
    sleep 0.1
  done
  fail "$name never $want (last $status)"
}

wait_gone() {
  for _ in $(seq 150); do
    if ! aws --endpoint-url "$ENDPOINT" firehose describe-delivery-stream --delivery-stream-name "$1" >/dev/null 2>"$WORK/stderr"; then
      grep -q "(ResourceNotFoundException)" "$WORK/stderr" || fail "describe $1: $(cat "$WORK/stderr")"
      return 0
    fi
    sleep 0.1
  done
  fail "$1 never went away"
}

# ------------------------------------------------------------- create / describe (extended S3)
NAME=cli-s3
BUCKET=cli-bucket
# The other delivery streams deliver (nothing, normally) elsewhere.
OTHER=cli-other
if [ $STRICT = 0 ]; then
  for b in "$BUCKET" "$OTHER"; do aws --endpoint-url "$ENDPOINT" s3api create-bucket --bucket "$b" >/dev/null; done
fi
out=$(fh create-delivery-stream --delivery-stream-name "$NAME" --delivery-stream-type DirectPut \
  --extended-s3-destination-configuration "RoleARN=$ROLE,BucketARN=arn:aws:s3:::$BUCKET,BufferingHints={SizeInMBs=1,IntervalInSeconds=0}" \
  --tags Key=team,Value=data)
check "create ARN" "$(q 'd["DeliveryStreamARN"]' <<<"$out")" "$ARN_PREFIX/$NAME"
# (CREATING itself is checked by the boto3 and SDK suites: a CLI process can
# take longer to start than the server's transition delay.)
wait_status $NAME ACTIVE
d=$(describe $NAME)
check "VersionId" "$(q 'd["DeliveryStreamDescription"]["VersionId"]' <<<"$d")" 1
check "type" "$(q 'd["DeliveryStreamDescription"]["DeliveryStreamType"]' <<<"$d")" DirectPut
check "HasMoreDestinations" "$(q 'd["DeliveryStreamDescription"]["HasMoreDestinations"]' <<<"$d")" false
check "DestinationId" "$(q 'd["DeliveryStreamDescription"]["Destinations"][0]["DestinationId"]' <<<"$d")" destinationId-000000000001
check "BufferingHints" "$(q 'd["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]["BufferingHints"]' <<<"$d")" \
  '{"SizeInMBs": 1, "IntervalInSeconds": 0}'
aws_only "default CompressionFormat" "$(q 'd["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"].get("CompressionFormat")' <<<"$d")" UNCOMPRESSED
# The CLI prints CreateTimestamp as ISO 8601 (v2) or epoch seconds (v1): a timestamp either way.
python3 -c 'import json,sys; t=json.load(sys.stdin)["DeliveryStreamDescription"]["CreateTimestamp"]; assert isinstance(t,(int,float)) or "T" in t, t' <<<"$d" ||
  fail "CreateTimestamp is not a timestamp"

# Errors of create and describe.
msg=$(fh_err ResourceInUseException create-delivery-stream --delivery-stream-name "$NAME" \
  --extended-s3-destination-configuration "RoleARN=$ROLE,BucketARN=arn:aws:s3:::$BUCKET")
case $msg in *"$NAME"*) ;; *) fail "duplicate: the message names the stream: $msg" ;; esac
msg=$(fh_err_aws ValidationException create-delivery-stream --delivery-stream-name "no/slash" \
  --extended-s3-destination-configuration "RoleARN=$ROLE,BucketARN=arn:aws:s3:::$BUCKET")
aws_only "bad name" "$msg" "1 validation error detected: Value 'no/slash' at 'deliveryStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
# moto accepts the name: remove what it created.
if [ $STRICT = 0 ]; then aws --endpoint-url "$ENDPOINT" firehose delete-delivery-stream --delivery-stream-name "no/slash" >/dev/null 2>&1 || true; fi
fh_err InvalidArgumentException create-delivery-stream --delivery-stream-name no-destination >/dev/null
msg=$(fh_err ResourceNotFoundException describe-delivery-stream --delivery-stream-name missing)
check "describe missing" "$msg" "Firehose missing under account $ACCOUNT not found."

# ------------------------------------------------------------- legacy S3, HTTP endpoint
fh create-delivery-stream --delivery-stream-name cli-legacy \
  --s3-destination-configuration "RoleARN=$ROLE,BucketARN=arn:aws:s3:::$OTHER,CompressionFormat=GZIP" >/dev/null
cat >"$WORK/http.json" <<EOF
{"EndpointConfiguration": {"Url": "https://collector.example.com/ingest", "Name": "collector", "AccessKey": "cli-secret"},
 "S3Configuration": {"RoleARN": "$ROLE", "BucketARN": "arn:aws:s3:::$OTHER"}}
EOF
fh create-delivery-stream --delivery-stream-name cli-http \
  --http-endpoint-destination-configuration "file://$WORK/http.json" >/dev/null
wait_status cli-legacy ACTIVE
wait_status cli-http ACTIVE
check "legacy S3" "$(describe cli-legacy | q 'd["DeliveryStreamDescription"]["Destinations"][0]["S3DestinationDescription"]["CompressionFormat"]')" GZIP
d=$(describe cli-http)
check "HTTP url" "$(q 'd["DeliveryStreamDescription"]["Destinations"][0]["HttpEndpointDestinationDescription"]["EndpointConfiguration"]["Url"]' <<<"$d")" \
  https://collector.example.com/ingest
case $d in *cli-secret*) fail "the HTTP endpoint access key is described: $d" ;; esac

# ------------------------------------------------------------- Kinesis stream as source
aws --endpoint-url "$ENDPOINT" kinesis create-stream --stream-name cli-source --shard-count 1
for _ in $(seq 150); do
  s=$(aws --endpoint-url "$ENDPOINT" --output json kinesis describe-stream-summary --stream-name cli-source)
  [ "$(q 'd["StreamDescriptionSummary"]["StreamStatus"]' <<<"$s")" = ACTIVE ] && break
  sleep 0.1
done
SOURCE_ARN=$(q 'd["StreamDescriptionSummary"]["StreamARN"]' <<<"$s")
fh create-delivery-stream --delivery-stream-name cli-fed --delivery-stream-type KinesisStreamAsSource \
  --kinesis-stream-source-configuration "KinesisStreamARN=$SOURCE_ARN,RoleARN=$ROLE" \
  --extended-s3-destination-configuration "RoleARN=$ROLE,BucketARN=arn:aws:s3:::$OTHER" >/dev/null
wait_status cli-fed ACTIVE
check "source" "$(describe cli-fed | q 'd["DeliveryStreamDescription"]["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"]')" "$SOURCE_ARN"
msg=$(fh_err_aws InvalidArgumentException put-record --delivery-stream-name cli-fed --record Data=x "${BLOB[@]}")
aws_only "put to a fed stream" "$msg" "This operation is not permitted on KinesisStreamAsSource delivery stream type."

# ------------------------------------------------------------- list
l=$(fh list-delivery-streams)
check "list" "$(q 'd["DeliveryStreamNames"]' <<<"$l")" '["cli-fed", "cli-http", "cli-legacy", "cli-s3"]'
check "list has more" "$(q 'd["HasMoreDeliveryStreams"]' <<<"$l")" false
l=$(fh list-delivery-streams --limit 2 --exclusive-start-delivery-stream-name cli-fed)
check "list page" "$(q 'd["DeliveryStreamNames"]' <<<"$l")" '["cli-http", "cli-legacy"]'
check "list page has more" "$(q 'd["HasMoreDeliveryStreams"]' <<<"$l")" true
check "list by type" "$(fh list-delivery-streams --delivery-stream-type KinesisStreamAsSource | q 'd["DeliveryStreamNames"]')" '["cli-fed"]'

# ------------------------------------------------------------- tags
fh tag-delivery-stream --delivery-stream-name $NAME --tags Key=env,Value=ci Key=team,Value=platform >/dev/null
t=$(fh list-tags-for-delivery-stream --delivery-stream-name $NAME)
check "tags" "$(q 'sorted((t["Key"], t["Value"]) for t in d["Tags"])' <<<"$t")" '[["env", "ci"], ["team", "platform"]]'
check "HasMoreTags" "$(q 'd["HasMoreTags"]' <<<"$t")" false
t=$(fh list-tags-for-delivery-stream --delivery-stream-name $NAME --limit 1)
check "tags page" "$(q '[len(d["Tags"]), d["HasMoreTags"]]' <<<"$t")" '[1, true]'
fh untag-delivery-stream --delivery-stream-name $NAME --tag-keys env >/dev/null
check "untagged" "$(fh list-tags-for-delivery-stream --delivery-stream-name $NAME | q '[t["Key"] for t in d["Tags"]]')" '["team"]'
fh_err ResourceNotFoundException tag-delivery-stream --delivery-stream-name missing --tags Key=a,Value=b >/dev/null

# ------------------------------------------------------------- records and delivery
# JSON, not shorthand: shorthand trims the trailing newline.
r=$(fh put-record --delivery-stream-name $NAME --record '{"Data": "first line\n"}' "${BLOB[@]}")
[ -n "$(q 'd["RecordId"]' <<<"$r")" ] || fail "put-record: no RecordId"
aws_only "put-record Encrypted" "$(q 'd.get("Encrypted")' <<<"$r")" false
python3 - "$WORK/batch.json" <<'EOF'
import json, sys
# Raw text: CLI v1 always takes blobs as text, v2 does with raw-in-base64-out.
records = [{"Data": "line %03d\n" % i} for i in range(1, 200)]
json.dump(records, open(sys.argv[1], "w"))
EOF
b=$(fh put-record-batch --delivery-stream-name $NAME --records "file://$WORK/batch.json" "${BLOB[@]}")
check "FailedPutCount" "$(q 'd["FailedPutCount"]' <<<"$b")" 0
check "responses" "$(q 'sum(1 for r in d["RequestResponses"] if r.get("RecordId"))' <<<"$b")" 199
fh_err ResourceNotFoundException put-record --delivery-stream-name missing --record Data=x "${BLOB[@]}" >/dev/null

# The objects: YYYY/MM/dd/HH/cli-s3-1-YYYY-MM-dd-HH-mm-ss-UUID, the records in order.
python3 - "$ENDPOINT" "$BUCKET" "$NAME" "$DATA_DIR" <<'EOF'
import os, re, sys, time
endpoint, bucket, name, data_dir = sys.argv[1:5]
want = b"first line\n" + b"".join(b"line %03d\n" % i for i in range(1, 200))
key_re = re.compile(r"^(\d{4})/(\d{2})/(\d{2})/(\d{2})/" + re.escape(name) +
                    r"-1-(\d{4})-(\d{2})-(\d{2})-(\d{2})-\d{2}-\d{2}-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")

def objects():
    if data_dir:
        root = os.path.join(data_dir, "s3", bucket)
        out = {}
        for dirpath, _, files in os.walk(root):
            for f in files:
                p = os.path.join(dirpath, f)
                out[os.path.relpath(p, root)] = open(p, "rb").read()
        return out
    import boto3
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}

deadline = time.time() + 20
while True:
    got = objects()
    if sum(map(len, got.values())) >= len(want) or time.time() > deadline:
        break
    time.sleep(0.1)
for key in got:
    m = key_re.match(key)
    assert m and m.groups()[:4] == m.groups()[4:8], f"object key {key!r}"
# Each object is a run of consecutive records; ordered by content they give all.
joined = b"".join(sorted(got.values(), key=lambda body: (not body.startswith(b"first"), body[:8])))
assert joined == want, f"delivered {len(joined)} bytes in {len(got)} objects, want {len(want)}"
print(f"+ delivered {len(got)} object(s)", file=sys.stderr)
EOF

# ------------------------------------------------------------- update destination
fh update-destination --delivery-stream-name $NAME --current-delivery-stream-version-id 1 \
  --destination-id destinationId-000000000001 --extended-s3-destination-update '{"Prefix": "cli/"}' >/dev/null
d=$(describe $NAME)
check "version after update" "$(q 'd["DeliveryStreamDescription"]["VersionId"]' <<<"$d")" 2
check "prefix after update" "$(q 'd["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]["Prefix"]' <<<"$d")" cli/
check "bucket kept" "$(q 'd["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]["BucketARN"]' <<<"$d")" "arn:aws:s3:::$BUCKET"
fh_err ConcurrentModificationException update-destination --delivery-stream-name $NAME --current-delivery-stream-version-id 1 \
  --destination-id destinationId-000000000001 --extended-s3-destination-update '{"Prefix": "stale/"}' >/dev/null
fh_err InvalidArgumentException update-destination --delivery-stream-name $NAME --current-delivery-stream-version-id 2 \
  --destination-id destinationId-000000000009 --extended-s3-destination-update '{"Prefix": "x/"}' >/dev/null

# ------------------------------------------------------------- encryption
fh start-delivery-stream-encryption --delivery-stream-name $NAME \
  --delivery-stream-encryption-configuration-input KeyType=AWS_OWNED_CMK >/dev/null
for _ in $(seq 150); do
  status=$(describe $NAME | q 'd["DeliveryStreamDescription"].get("DeliveryStreamEncryptionConfiguration", {}).get("Status")')
  [ "$status" = ENABLED ] && break
  sleep 0.1
done
check "encryption status" "$status" ENABLED
fh stop-delivery-stream-encryption --delivery-stream-name $NAME >/dev/null
for _ in $(seq 150); do
  status=$(describe $NAME | q 'd["DeliveryStreamDescription"].get("DeliveryStreamEncryptionConfiguration", {}).get("Status")')
  [ "$status" = DISABLED ] && break
  sleep 0.1
done
check "encryption status" "$status" DISABLED
fh_err ResourceNotFoundException stop-delivery-stream-encryption --delivery-stream-name missing >/dev/null

# ------------------------------------------------------------- delete
for n in $NAME cli-legacy cli-http cli-fed; do
  fh delete-delivery-stream --delivery-stream-name $n >/dev/null
done
# DELETING, or already gone (the CLI is slower than the transition delay).
if st=$(aws --endpoint-url "$ENDPOINT" --output json firehose describe-delivery-stream --delivery-stream-name $NAME 2>/dev/null); then
  check "status after delete" "$(q 'd["DeliveryStreamDescription"]["DeliveryStreamStatus"]' <<<"$st")" DELETING
fi
for n in $NAME cli-legacy cli-http cli-fed; do wait_gone $n; done
check "list after delete" "$(fh list-delivery-streams | q 'd["DeliveryStreamNames"]')" '[]'
msg=$(fh_err ResourceNotFoundException delete-delivery-stream --delivery-stream-name $NAME)
check "delete missing" "$msg" "Firehose $NAME under account $ACCOUNT not found."

echo FIREHOSE-CLI-OK
