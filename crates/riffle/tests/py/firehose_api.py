"""boto3's `firehose` client against a running server: every operation of
Firehose_20150804, its happy path and its AWS errors, plus delivery of a
PutRecordBatch into the S3 destination, checked by reading the objects.

Usage:
  firehose_api.py ENDPOINT --account ACCT [--data-dir DIR] [--moto] [--only NAME]

  ENDPOINT   the server (Firehose and Kinesis on the same port, as riffle).
  --account  the account id the server puts in ARNs (riffle: 000000000000).
  --data-dir riffle's data dir: delivered objects are read from DIR/s3/BUCKET/.
             Without it, objects are read back through the S3 API at ENDPOINT
             (moto's server mode, where the bucket is created first).
  --moto     the server is moto: skip the assertions on AWS behaviour that moto
             does not reproduce (each is marked `aws(...)` below with the reason).
             Used to check that this script itself is right.

Expected values come from botocore's model, the AWS API reference and the
Firehose developer guide. Assertions whose AWS wording could not be confirmed
are marked UNVERIFIED next to them; they assert the documented error type.

Prints one PASS/FAIL line per case, then FIREHOSE-BOTO3-OK when all passed.
The server must run with a transition delay of at least ~300 ms so CREATING
and DELETING can be observed (riffle: --transition-delay-ms 500).
"""
import argparse
import base64
import datetime as dt
import os
import re
import sys
import time
import traceback

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ap = argparse.ArgumentParser()
ap.add_argument("endpoint")
ap.add_argument("--account", required=True)
ap.add_argument("--data-dir")
ap.add_argument("--moto", action="store_true")
ap.add_argument("--only")
args = ap.parse_args()

STRICT = not args.moto
ACCT = args.account
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCT}:role/firehose-role"
cfg = Config(retries={"max_attempts": 1}, read_timeout=30, connect_timeout=5)
common = dict(
    endpoint_url=args.endpoint,
    region_name=REGION,
    aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "AKIDTEST"),
    aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "secret"),
    config=cfg,
)
fh = boto3.client("firehose", **common)
kinesis = boto3.client("kinesis", **common)
if args.moto:
    # moto delivers each put at once into its own S3, which needs the buckets.
    for b in ["test-bucket", "legacy-bucket", "http-backup"]:
        boto3.client("s3", **common).create_bucket(Bucket=b)


def arn(name):
    return f"arn:aws:firehose:{REGION}:{ACCT}:deliverystream/{name}"


def not_found(name):
    # AWS's wording (seen in client logs, e.g. turbot/steampipe-plugin-aws#759).
    return f"Firehose {name} under account {ACCT} not found."


def aws(cond, what):
    """An AWS behaviour moto does not reproduce: checked only against riffle."""
    if STRICT:
        assert cond, what


def error(call, **kw):
    """Calls `call(**kw)`, which must fail; returns (code, message, http status)."""
    try:
        out = call(**kw)
    except ClientError as e:
        err = e.response["Error"]
        return err.get("Code"), err.get("Message"), e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{call.__name__}({kw}) succeeded: {out}")


def expect_error(code, call, message=None, strict_only=False, **kw):
    """`call(**kw)` fails with `code` (and exactly `message` when given)."""
    if strict_only and not STRICT:
        try:
            call(**kw)
        except ClientError:
            pass
        return None
    got_code, got_msg, status = error(call, **kw)
    assert got_code == code, f"{call.__name__}: expected {code}, got {got_code}: {got_msg}"
    assert status == 400, f"{call.__name__}: {code} must be HTTP 400, got {status}"
    if message is not None:
        assert got_msg == message, f"{call.__name__}: message\n  got  {got_msg!r}\n  want {message!r}"
    return got_msg


def validation(path, constraint, value):
    """The protocol core's single-error ValidationException message."""
    return (
        f"1 validation error detected: Value '{value}' at '{path}' "
        f"failed to satisfy constraint: {constraint}"
    )


def s3_conf(bucket="test-bucket", **extra):
    return dict(RoleARN=ROLE, BucketARN=f"arn:aws:s3:::{bucket}", **extra)


def create(name, **kw):
    if not any(k.endswith("DestinationConfiguration") for k in kw):
        kw["ExtendedS3DestinationConfiguration"] = s3_conf()
    return fh.create_delivery_stream(DeliveryStreamName=name, **kw)


def describe(name, **kw):
    return fh.describe_delivery_stream(DeliveryStreamName=name, **kw)["DeliveryStreamDescription"]


def wait_status(name, status, timeout=15):
    deadline = time.time() + timeout
    while True:
        d = describe(name)
        if d["DeliveryStreamStatus"] == status:
            return d
        assert d["DeliveryStreamStatus"] in ("CREATING", "ACTIVE"), d
        assert time.time() < deadline, f"{name} still {d['DeliveryStreamStatus']} after {timeout}s"
        time.sleep(0.05)


def wait_gone(name, timeout=15):
    deadline = time.time() + timeout
    while True:
        try:
            d = describe(name)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceNotFoundException", e.response
            return
        assert d["DeliveryStreamStatus"] == "DELETING", d
        assert time.time() < deadline, f"{name} still DELETING after {timeout}s"
        time.sleep(0.05)


def create_active(name, **kw):
    create(name, **kw)
    return wait_status(name, "ACTIVE")


def only_destination(d):
    assert d["HasMoreDestinations"] is False, d
    assert len(d["Destinations"]) == 1, d
    dest = d["Destinations"][0]
    assert dest["DestinationId"] == "destinationId-000000000001", dest
    return dest


def check_s3_defaults(desc, what):
    """Defaults AWS fills in a description (the shapes make them required)."""
    aws(desc.get("BufferingHints") == {"SizeInMBs": 5, "IntervalInSeconds": 300},
        f"{what}: default BufferingHints 5/300 (moto leaves them out): {desc}")
    aws(desc.get("CompressionFormat") == "UNCOMPRESSED",
        f"{what}: default CompressionFormat (moto leaves it out): {desc}")
    aws(desc.get("EncryptionConfiguration") == {"NoEncryptionConfig": "NoEncryption"},
        f"{what}: default EncryptionConfiguration (moto leaves it out): {desc}")


CASES = []


def case(fn):
    CASES.append(fn)
    return fn


# ---------------------------------------------------------------- listing
# First, while the server holds nothing else: the listing is exactly ours.


@case
def list_delivery_streams():
    names = ["lst-a", "lst-b", "lst-c", "lst-d"]
    for n in reversed(names):
        create(n)
    src = create_kinesis_source_stream("lst-src-data")
    fh.create_delivery_stream(
        DeliveryStreamName="lst-src",
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": src, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration=s3_conf(),
    )
    for n in names + ["lst-src"]:
        wait_status(n, "ACTIVE")
    everything = sorted(names + ["lst-src"])

    out = fh.list_delivery_streams()
    assert out["DeliveryStreamNames"] == everything, out
    assert out["HasMoreDeliveryStreams"] is False, out

    page = fh.list_delivery_streams(Limit=2)
    assert page["DeliveryStreamNames"] == ["lst-a", "lst-b"], page
    assert page["HasMoreDeliveryStreams"] is True, page
    page = fh.list_delivery_streams(Limit=2, ExclusiveStartDeliveryStreamName="lst-b")
    assert page["DeliveryStreamNames"] == ["lst-c", "lst-d"], page
    assert page["HasMoreDeliveryStreams"] is True, page
    page = fh.list_delivery_streams(Limit=2, ExclusiveStartDeliveryStreamName="lst-d")
    assert page["DeliveryStreamNames"] == ["lst-src"], page
    assert page["HasMoreDeliveryStreams"] is False, page
    # A start name that does not exist: the streams after it in name order.
    page = fh.list_delivery_streams(ExclusiveStartDeliveryStreamName="lst-b0")
    aws(page["DeliveryStreamNames"] == ["lst-c", "lst-d", "lst-src"],
        f"start after a missing name (moto starts from the beginning): {page}")

    direct = fh.list_delivery_streams(DeliveryStreamType="DirectPut")
    assert direct["DeliveryStreamNames"] == names, direct
    fed = fh.list_delivery_streams(DeliveryStreamType="KinesisStreamAsSource")
    assert fed["DeliveryStreamNames"] == ["lst-src"], fed
    page = fh.list_delivery_streams(DeliveryStreamType="DirectPut", Limit=3)
    assert page["DeliveryStreamNames"] == names[:3] and page["HasMoreDeliveryStreams"] is True, page

    # The default Limit is 10 (model doc).
    more = [f"lst-e{i:02}" for i in range(7)]
    for n in more:
        create(n)
    page = fh.list_delivery_streams()
    aws(page["DeliveryStreamNames"] == sorted(everything + more)[:10] and page["HasMoreDeliveryStreams"] is True,
        f"default Limit 10 (moto has no default limit): {page}")

    # Limit 1..10000: the maximum is checked by the server (botocore checks the minimum).
    expect_error(
        "ValidationException", fh.list_delivery_streams,
        validation("limit", "Member must have value less than or equal to 10000", 10001),
        strict_only=True, Limit=10001,
    )
    expect_error(
        "ValidationException", fh.list_delivery_streams,
        validation("deliveryStreamType",
                   "Member must satisfy enum value set: [DirectPut, KinesisStreamAsSource, MSKAsSource, DatabaseAsSource]",
                   "Nope"),
        strict_only=True, DeliveryStreamType="Nope",
    )
    for n in names + more + ["lst-src"]:
        # CREATING streams cannot be deleted (model doc of DeleteDeliveryStream).
        wait_status(n, "ACTIVE")
        fh.delete_delivery_stream(DeliveryStreamName=n)
    for n in names + more + ["lst-src"]:
        wait_gone(n)
    assert fh.list_delivery_streams()["DeliveryStreamNames"] == [], "deleted streams are not listed"


# ---------------------------------------------------------------- create / describe


@case
def create_extended_s3_and_describe():
    name = "ext-s3"
    out = create(name, DeliveryStreamType="DirectPut",
                 ExtendedS3DestinationConfiguration=s3_conf(Prefix="data/"))
    assert out["DeliveryStreamARN"] == arn(name), out
    first = describe(name)
    aws(first["DeliveryStreamStatus"] == "CREATING",
        f"a new stream starts CREATING (moto is ACTIVE at once): {first}")
    d = wait_status(name, "ACTIVE")
    assert d["DeliveryStreamName"] == name, d
    assert d["DeliveryStreamARN"] == arn(name), d
    assert d["DeliveryStreamType"] == "DirectPut", d
    assert d["VersionId"] == "1", d
    assert isinstance(d["CreateTimestamp"], dt.datetime), d
    age = abs((dt.datetime.now(dt.timezone.utc) - d["CreateTimestamp"]).total_seconds())
    assert age < 120, f"CreateTimestamp is now: {d['CreateTimestamp']}"
    aws(d.get("DeliveryStreamEncryptionConfiguration", {}).get("Status") == "DISABLED",
        f"encryption is DISABLED until started (moto omits it): {d}")
    assert "FailureDescription" not in d, d
    dest = only_destination(d)
    ext = dest["ExtendedS3DestinationDescription"]
    assert ext["RoleARN"] == ROLE and ext["BucketARN"] == "arn:aws:s3:::test-bucket", ext
    assert ext["Prefix"] == "data/", ext
    check_s3_defaults(ext, "ExtendedS3DestinationDescription")
    aws(ext.get("S3BackupMode") == "Disabled", f"S3BackupMode defaults to Disabled: {ext}")
    # AWS also describes an extended S3 destination in the legacy shape.
    legacy = dest["S3DestinationDescription"]
    assert legacy["BucketARN"] == "arn:aws:s3:::test-bucket" and legacy["RoleARN"] == ROLE, dest
    # Limit and ExclusiveStartDestinationId: one destination, nothing after it.
    d = describe(name, Limit=1)
    assert len(d["Destinations"]) == 1 and d["HasMoreDestinations"] is False, d


@case
def create_legacy_s3_destination():
    name = "legacy-s3"
    out = fh.create_delivery_stream(
        DeliveryStreamName=name,
        S3DestinationConfiguration=s3_conf(
            "legacy-bucket", CompressionFormat="GZIP",
            BufferingHints={"SizeInMBs": 2, "IntervalInSeconds": 60}),
    )
    assert out["DeliveryStreamARN"] == arn(name), out
    d = wait_status(name, "ACTIVE")
    dest = only_destination(d)
    s3 = dest["S3DestinationDescription"]
    assert s3["BucketARN"] == "arn:aws:s3:::legacy-bucket", s3
    assert s3["CompressionFormat"] == "GZIP", s3
    assert s3["BufferingHints"] == {"SizeInMBs": 2, "IntervalInSeconds": 60}, s3
    aws(s3.get("EncryptionConfiguration") == {"NoEncryptionConfig": "NoEncryption"},
        f"default EncryptionConfiguration (moto leaves it out): {s3}")
    # AWS describes every S3-backed stream under both keys (floci-io/floci#1710
    # matched real AWS on this; moto gives only the legacy one).
    ext = dest.get("ExtendedS3DestinationDescription", {})
    aws(ext.get("BucketARN") == "arn:aws:s3:::legacy-bucket" and ext.get("CompressionFormat") == "GZIP",
        f"a legacy S3 stream is described as extended S3 too: {dest}")


@case
def create_http_endpoint_destination():
    name = "http-dest"
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        HttpEndpointDestinationConfiguration={
            "EndpointConfiguration": {
                "Url": "https://collector.example.com/ingest",
                "Name": "collector",
                "AccessKey": "very-secret-key",
            },
            "RequestConfiguration": {
                "ContentEncoding": "GZIP",
                "CommonAttributes": [{"AttributeName": "env", "AttributeValue": "test"}],
            },
            "RetryOptions": {"DurationInSeconds": 60},
            "S3BackupMode": "FailedDataOnly",
            "S3Configuration": s3_conf("http-backup"),
        },
    )
    d = wait_status(name, "ACTIVE")
    dest = only_destination(d)
    http = dest["HttpEndpointDestinationDescription"]
    ep = http["EndpointConfiguration"]
    assert ep["Url"] == "https://collector.example.com/ingest" and ep["Name"] == "collector", ep
    # The access key is a secret: DescribeDeliveryStream never returns it.
    assert "AccessKey" not in ep, f"AccessKey returned: {ep}"
    assert "very-secret-key" not in repr(d), "the access key leaks somewhere in the description"
    aws(http.get("BufferingHints") == {"SizeInMBs": 5, "IntervalInSeconds": 300},
        f"HTTP endpoint default BufferingHints (moto leaves them out): {http}")
    aws(http.get("RequestConfiguration") == {
        "ContentEncoding": "GZIP",
        "CommonAttributes": [{"AttributeName": "env", "AttributeValue": "test"}],
    }, f"RequestConfiguration echoed (moto drops it): {http}")
    aws(http.get("RetryOptions") == {"DurationInSeconds": 60}, f"RetryOptions echoed: {http}")
    aws(http.get("S3BackupMode") == "FailedDataOnly", f"S3BackupMode echoed: {http}")
    backup = http["S3DestinationDescription"]
    assert backup["BucketARN"] == "arn:aws:s3:::http-backup", backup
    check_s3_defaults(backup, "HttpEndpoint S3DestinationDescription")


def create_kinesis_source_stream(stream):
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    deadline = time.time() + 15
    while True:
        s = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        if s["StreamStatus"] == "ACTIVE":
            return s["StreamARN"]
        assert time.time() < deadline, f"kinesis stream {stream} never ACTIVE"
        time.sleep(0.05)


@case
def create_kinesis_stream_as_source():
    stream_arn = create_kinesis_source_stream("fh-source")
    assert stream_arn == f"arn:aws:kinesis:{REGION}:{ACCT}:stream/fh-source", stream_arn
    name = "from-kinesis"
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    out = fh.create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration=s3_conf(),
    )
    assert out["DeliveryStreamARN"] == arn(name), out
    d = wait_status(name, "ACTIVE")
    assert d["DeliveryStreamType"] == "KinesisStreamAsSource", d
    src = d["Source"]["KinesisStreamSourceDescription"]
    assert src["KinesisStreamARN"] == stream_arn and src["RoleARN"] == ROLE, src
    aws(isinstance(src.get("DeliveryStartTimestamp"), dt.datetime) and src["DeliveryStartTimestamp"] >= before,
        f"DeliveryStartTimestamp: reading starts at creation (moto omits it): {src}")
    # Producers cannot write to a delivery stream fed by a Kinesis stream
    # (AWS's answer, quoted in aws/aws-cli#7010).
    refused = "This operation is not permitted on KinesisStreamAsSource delivery stream type."
    expect_error("InvalidArgumentException", fh.put_record, refused, strict_only=True,
                 DeliveryStreamName=name, Record={"Data": b"x"})
    expect_error("InvalidArgumentException", fh.put_record_batch, refused, strict_only=True,
                 DeliveryStreamName=name, Records=[{"Data": b"x"}])
    # Server-side encryption is for DirectPut streams only (model doc of
    # StartDeliveryStreamEncryption). UNVERIFIED wording: the type only.
    expect_error("InvalidArgumentException", fh.start_delivery_stream_encryption, strict_only=True,
                 DeliveryStreamName=name,
                 DeliveryStreamEncryptionConfigurationInput={"KeyType": "AWS_OWNED_CMK"})
    # A source configuration on a DirectPut stream is refused (moto agrees).
    expect_error("InvalidArgumentException", fh.create_delivery_stream,
                 DeliveryStreamName="direct-with-source", DeliveryStreamType="DirectPut",
                 KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": ROLE},
                 ExtendedS3DestinationConfiguration=s3_conf())


@case
def create_errors():
    name = "dup"
    create(name)
    # Duplicate name. UNVERIFIED wording: the type, and the message names the stream.
    msg = expect_error("ResourceInUseException", fh.create_delivery_stream,
                       DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_conf())
    assert name in msg, msg
    # Name rules come from the model and are checked by the protocol core.
    expect_error(
        "ValidationException", fh.create_delivery_stream,
        validation("deliveryStreamName",
                   "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+", "bad name!"),
        strict_only=True,
        DeliveryStreamName="bad name!", ExtendedS3DestinationConfiguration=s3_conf(),
    )
    long = "a" * 65
    expect_error(
        "ValidationException", fh.create_delivery_stream,
        validation("deliveryStreamName", "Member must have length less than or equal to 64", long),
        strict_only=True,
        DeliveryStreamName=long, ExtendedS3DestinationConfiguration=s3_conf(),
    )
    ok64 = "b" * 64
    assert create(ok64)["DeliveryStreamARN"] == arn(ok64)
    # Exactly one destination.
    expect_error("InvalidArgumentException", fh.create_delivery_stream, DeliveryStreamName="no-dest")
    expect_error("InvalidArgumentException", fh.create_delivery_stream, DeliveryStreamName="two-dest",
                 ExtendedS3DestinationConfiguration=s3_conf(), S3DestinationConfiguration=s3_conf())
    # Shapes inside the destination are validated too.
    expect_error(
        "ValidationException", fh.create_delivery_stream,
        validation("extendedS3DestinationConfiguration.bufferingHints.sizeInMBs",
                   "Member must have value less than or equal to 128", 129),
        strict_only=True,
        DeliveryStreamName="too-big-buffer",
        ExtendedS3DestinationConfiguration=s3_conf(BufferingHints={"SizeInMBs": 129, "IntervalInSeconds": 60}),
    )
    expect_error(
        "ValidationException", fh.create_delivery_stream,
        validation("extendedS3DestinationConfiguration.bucketARN",
                   "Member must satisfy regular expression pattern: arn:.*:s3:::[\\w\\.\\-]{1,255}",
                   "my-bucket"),
        strict_only=True,
        DeliveryStreamName="bad-bucket",
        ExtendedS3DestinationConfiguration={"RoleARN": ROLE, "BucketARN": "my-bucket"},
    )
    for n in ["no-dest", "two-dest", "too-big-buffer", "bad-bucket"]:
        if STRICT:
            expect_error("ResourceNotFoundException", fh.describe_delivery_stream, DeliveryStreamName=n)
    wait_status(name, "ACTIVE")


@case
def describe_unknown():
    expect_error("ResourceNotFoundException", fh.describe_delivery_stream, not_found("nothing-here"),
                 DeliveryStreamName="nothing-here")
    expect_error(
        "ValidationException", fh.describe_delivery_stream,
        validation("limit", "Member must have value less than or equal to 10000", 10001),
        strict_only=True, DeliveryStreamName="nothing-here", Limit=10001,
    )


# ---------------------------------------------------------------- tags


@case
def tags():
    name = "tagged"
    create_active(name, Tags=[{"Key": "team", "Value": "data"}, {"Key": "env", "Value": "ci"}])
    out = fh.list_tags_for_delivery_stream(DeliveryStreamName=name)
    assert {t["Key"]: t.get("Value") for t in out["Tags"]} == {"team": "data", "env": "ci"}, out
    assert out["HasMoreTags"] is False, out

    # Tag, overwrite, untag (a missing key is ignored).
    fh.tag_delivery_stream(DeliveryStreamName=name, Tags=[{"Key": "team", "Value": "platform"},
                                                          {"Key": "cost", "Value": "42"}])
    fh.untag_delivery_stream(DeliveryStreamName=name, TagKeys=["env", "never-set"])
    out = fh.list_tags_for_delivery_stream(DeliveryStreamName=name)
    assert {t["Key"]: t.get("Value") for t in out["Tags"]} == {"team": "platform", "cost": "42"}, out
    fh.untag_delivery_stream(DeliveryStreamName=name, TagKeys=["team", "cost"])
    out = fh.list_tags_for_delivery_stream(DeliveryStreamName=name)
    assert out["Tags"] == [] and out["HasMoreTags"] is False, out

    # 50 tags, paged with Limit and ExclusiveStartTagKey (in key order).
    keys = [f"k{i:02}" for i in range(50)]
    fh.tag_delivery_stream(DeliveryStreamName=name, Tags=[{"Key": k, "Value": k.upper()} for k in keys[:25]])
    fh.tag_delivery_stream(DeliveryStreamName=name, Tags=[{"Key": k, "Value": k.upper()} for k in keys[25:]])
    out = fh.list_tags_for_delivery_stream(DeliveryStreamName=name)
    assert sorted(t["Key"] for t in out["Tags"]) == keys, out
    aws([t["Key"] for t in out["Tags"]] == keys, f"tags listed in key order: {out}")
    page = fh.list_tags_for_delivery_stream(DeliveryStreamName=name, Limit=10)
    assert len(page["Tags"]) == 10 and page["HasMoreTags"] is True, page
    aws([t["Key"] for t in page["Tags"]] == keys[:10], f"first page in key order: {page}")
    page = fh.list_tags_for_delivery_stream(DeliveryStreamName=name, ExclusiveStartTagKey="k09", Limit=10)
    aws([t["Key"] for t in page["Tags"]] == keys[10:20] and page["HasMoreTags"] is True,
        f"the page after k09: {page}")
    page = fh.list_tags_for_delivery_stream(DeliveryStreamName=name, ExclusiveStartTagKey="k44")
    assert [t["Key"] for t in page["Tags"]] == keys[45:] and page["HasMoreTags"] is False, page
    assert page["Tags"][0]["Value"] == "K45", page

    # A 51st tag: the stream can have at most 50. UNVERIFIED wording: the type,
    # LimitExceededException, is the one the model documents for it.
    expect_error("LimitExceededException", fh.tag_delivery_stream, strict_only=True,
                 DeliveryStreamName=name, Tags=[{"Key": "one-too-many", "Value": "x"}])
    # Overwriting an existing key is not a new tag.
    fh.tag_delivery_stream(DeliveryStreamName=name, Tags=[{"Key": "k00", "Value": "again"}])
    # Request shapes (protocol core): at most 50 per request, Limit 1..50, aws: keys reserved.
    many = [{"Key": f"m{i:02}", "Value": "v"} for i in range(51)]
    msg = expect_error("ValidationException", fh.tag_delivery_stream, strict_only=True,
                       DeliveryStreamName=name, Tags=many)
    if STRICT:
        assert msg.startswith("1 validation error detected: Value '[") and msg.endswith(
            "' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"), msg
    expect_error(
        "ValidationException", fh.list_tags_for_delivery_stream,
        validation("limit", "Member must have value less than or equal to 50", 51),
        strict_only=True, DeliveryStreamName=name, Limit=51,
    )
    msg = expect_error("ValidationException", fh.tag_delivery_stream, strict_only=True,
                       DeliveryStreamName=name, Tags=[{"Key": "aws:reserved", "Value": "x"}])
    if STRICT:
        assert msg.startswith(
            "1 validation error detected: Value 'aws:reserved' at 'tags.1.member.key' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: ^(?!aws:)"), msg
    # Unknown stream.
    for call, kw in [
        (fh.tag_delivery_stream, {"Tags": [{"Key": "a", "Value": "b"}]}),
        (fh.untag_delivery_stream, {"TagKeys": ["a"]}),
        (fh.list_tags_for_delivery_stream, {}),
    ]:
        expect_error("ResourceNotFoundException", call, not_found("no-such-stream"),
                     DeliveryStreamName="no-such-stream", **kw)


# ---------------------------------------------------------------- records


@case
def put_record_and_batch():
    name = "producer"
    # Large buffers: nothing needs delivering while this case runs.
    create_active(name, ExtendedS3DestinationConfiguration=s3_conf(
        BufferingHints={"SizeInMBs": 128, "IntervalInSeconds": 900}))
    out = fh.put_record(DeliveryStreamName=name, Record={"Data": b"hello firehose\n"})
    assert isinstance(out["RecordId"], str) and len(out["RecordId"]) >= 1, out
    aws(out.get("Encrypted") is False, f"Encrypted false without SSE (moto omits it): {out}")
    # An empty record is allowed (Data is a blob of length 0..1024000).
    assert fh.put_record(DeliveryStreamName=name, Record={"Data": b""})["RecordId"]
    # The largest record: 1,000 KiB.
    assert fh.put_record(DeliveryStreamName=name, Record={"Data": b"z" * 1024000})["RecordId"]

    batch = [{"Data": b"r%03d\n" % i} for i in range(500)]
    out = fh.put_record_batch(DeliveryStreamName=name, Records=batch)
    assert out["FailedPutCount"] == 0, out
    aws(out.get("Encrypted") is False, f"Encrypted false (moto omits it): {out}")
    responses = out["RequestResponses"]
    assert len(responses) == 500, len(responses)
    ids = [r["RecordId"] for r in responses]
    assert all(isinstance(i, str) and i for i in ids), responses[:3]
    assert len(set(ids)) == 500, "record ids are unique"
    assert not any("ErrorCode" in r for r in responses), responses[:3]

    # 501 records (the list maximum is not checked by botocore).
    msg = expect_error("ValidationException", fh.put_record_batch, strict_only=True,
                       DeliveryStreamName=name, Records=batch + [{"Data": b"one more"}])
    if STRICT:
        assert msg.startswith("1 validation error detected: Value '[") and msg.endswith(
            "' at 'records' failed to satisfy constraint: Member must have length less than or equal to 500"), msg
    # A record over 1,000 KiB.
    expect_error(
        "ValidationException", fh.put_record,
        validation("record.data", "Member must have length less than or equal to 1024000",
                   "java.nio.HeapByteBuffer[pos=0 lim=1024001 cap=1024001]"),
        strict_only=True, DeliveryStreamName=name, Record={"Data": b"z" * 1024001},
    )
    expect_error(
        "ValidationException", fh.put_record_batch,
        validation("records.2.member.data", "Member must have length less than or equal to 1024000",
                   "java.nio.HeapByteBuffer[pos=0 lim=1024001 cap=1024001]"),
        strict_only=True, DeliveryStreamName=name,
        Records=[{"Data": b"ok"}, {"Data": b"z" * 1024001}],
    )
    # Each record fits, the request does not: 5 x 1,000,000 bytes > 4 MiB.
    # AWS's message as producers log it (osquery/osquery#3568); the type is
    # the one Kinesis uses for its PutRecords total (UNVERIFIED for Firehose).
    msg = expect_error("InvalidArgumentException", fh.put_record_batch, strict_only=True,
                       DeliveryStreamName=name, Records=[{"Data": b"y" * 1_000_000}] * 5)
    if STRICT:
        assert "Records size exceeds 4 MB limit" in msg, msg
    # Unknown stream.
    expect_error("ResourceNotFoundException", fh.put_record, not_found("no-such-stream"),
                 DeliveryStreamName="no-such-stream", Record={"Data": b"x"})
    expect_error("ResourceNotFoundException", fh.put_record_batch, not_found("no-such-stream"),
                 DeliveryStreamName="no-such-stream", Records=[{"Data": b"x"}])


# ---------------------------------------------------------------- update


@case
def update_destination():
    name = "updatable"
    d = create_active(name, ExtendedS3DestinationConfiguration=s3_conf(
        CompressionFormat="GZIP", Prefix="before/"))
    assert d["VersionId"] == "1", d
    dest_id = only_destination(d)["DestinationId"]
    fh.update_destination(
        DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1", DestinationId=dest_id,
        ExtendedS3DestinationUpdate={"BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
                                     "Prefix": "after/"},
    )
    d = describe(name)
    assert d["VersionId"] == "2", d
    assert d["DeliveryStreamStatus"] == "ACTIVE", d
    aws(isinstance(d.get("LastUpdateTimestamp"), dt.datetime) and d["LastUpdateTimestamp"] >= d["CreateTimestamp"],
        f"LastUpdateTimestamp set by the update: {d}")
    ext = only_destination(d)["ExtendedS3DestinationDescription"]
    assert ext["BufferingHints"] == {"SizeInMBs": 64, "IntervalInSeconds": 60}, ext
    assert ext["Prefix"] == "after/", ext
    # Same destination type: the update merges into the existing configuration.
    assert ext["CompressionFormat"] == "GZIP" and ext["BucketARN"] == "arn:aws:s3:::test-bucket", ext

    # A stale version id.
    expect_error("ConcurrentModificationException", fh.update_destination,
                 DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1", DestinationId=dest_id,
                 ExtendedS3DestinationUpdate={"Prefix": "stale/"})
    assert describe(name)["VersionId"] == "2", "a refused update changes nothing"
    # A destination id the stream does not have. UNVERIFIED wording: the type.
    expect_error("InvalidArgumentException", fh.update_destination,
                 DeliveryStreamName=name, CurrentDeliveryStreamVersionId="2",
                 DestinationId="destinationId-000000000002",
                 ExtendedS3DestinationUpdate={"Prefix": "wrong/"})
    # The next update with the current version id works and bumps it again.
    fh.update_destination(
        DeliveryStreamName=name, CurrentDeliveryStreamVersionId="2", DestinationId=dest_id,
        ExtendedS3DestinationUpdate={"CompressionFormat": "UNCOMPRESSED"},
    )
    d = describe(name)
    assert d["VersionId"] == "3", d
    ext = only_destination(d)["ExtendedS3DestinationDescription"]
    assert ext["CompressionFormat"] == "UNCOMPRESSED" and ext["Prefix"] == "after/", ext
    # Unknown stream.
    expect_error("ResourceNotFoundException", fh.update_destination,
                 DeliveryStreamName="no-such-stream", CurrentDeliveryStreamVersionId="1",
                 DestinationId=dest_id, ExtendedS3DestinationUpdate={"Prefix": "x/"})
    # The version id is digits (protocol core pattern [0-9]+).
    expect_error(
        "ValidationException", fh.update_destination,
        validation("currentDeliveryStreamVersionId", "Member must satisfy regular expression pattern: [0-9]+", "v1"),
        strict_only=True, DeliveryStreamName=name, CurrentDeliveryStreamVersionId="v1",
        DestinationId=dest_id, ExtendedS3DestinationUpdate={"Prefix": "x/"},
    )


# ---------------------------------------------------------------- encryption


def wait_encryption(name, status, timeout=15):
    deadline = time.time() + timeout
    while True:
        enc = describe(name).get("DeliveryStreamEncryptionConfiguration", {})
        if enc.get("Status") == status:
            return enc
        assert time.time() < deadline, f"encryption of {name} never {status}: {enc}"
        time.sleep(0.05)


@case
def encryption():
    name = "sse"
    create_active(name)
    fh.start_delivery_stream_encryption(
        DeliveryStreamName=name,
        DeliveryStreamEncryptionConfigurationInput={"KeyType": "AWS_OWNED_CMK"},
    )
    enc = wait_encryption(name, "ENABLED")
    aws(enc.get("KeyType") == "AWS_OWNED_CMK", f"KeyType described: {enc}")
    assert "KeyARN" not in enc or enc["KeyARN"] is None, enc
    fh.stop_delivery_stream_encryption(DeliveryStreamName=name)
    wait_encryption(name, "DISABLED")
    # Created encrypted.
    create_active("sse-at-create", DeliveryStreamEncryptionConfigurationInput={
        "KeyType": "CUSTOMER_MANAGED_CMK",
        "KeyARN": f"arn:aws:kms:{REGION}:{ACCT}:key/11111111-2222-3333-4444-555555555555",
    })
    enc = wait_encryption("sse-at-create", "ENABLED") if STRICT else {}
    aws(enc.get("KeyType") == "CUSTOMER_MANAGED_CMK" and enc.get("KeyARN", "").endswith(
        "key/11111111-2222-3333-4444-555555555555"), f"customer key described: {enc}")
    for call, kw in [
        (fh.start_delivery_stream_encryption,
         {"DeliveryStreamEncryptionConfigurationInput": {"KeyType": "AWS_OWNED_CMK"}}),
        (fh.stop_delivery_stream_encryption, {}),
    ]:
        expect_error("ResourceNotFoundException", call, not_found("no-such-stream"),
                     DeliveryStreamName="no-such-stream", **kw)
    expect_error(
        "ValidationException", fh.start_delivery_stream_encryption,
        validation("deliveryStreamEncryptionConfigurationInput.keyType",
                   "Member must satisfy enum value set: [AWS_OWNED_CMK, CUSTOMER_MANAGED_CMK]", "AES"),
        strict_only=True, DeliveryStreamName=name,
        DeliveryStreamEncryptionConfigurationInput={"KeyType": "AES"},
    )


# ---------------------------------------------------------------- delete


@case
def delete_delivery_stream():
    name = "doomed"
    create_active(name)
    assert fh.delete_delivery_stream(DeliveryStreamName=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    try:
        d = describe(name)
        assert d["DeliveryStreamStatus"] == "DELETING", d
    except ClientError as e:
        aws(False, f"right after delete the stream is DELETING (moto drops it at once): {e}")
    wait_gone(name)
    assert name not in fh.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]
    expect_error("ResourceNotFoundException", fh.delete_delivery_stream, not_found(name),
                 DeliveryStreamName=name)
    expect_error("ResourceNotFoundException", fh.put_record, not_found(name),
                 DeliveryStreamName=name, Record={"Data": b"late"})
    # The name can be used again.
    create_active(name)
    fh.delete_delivery_stream(DeliveryStreamName=name, AllowForceDelete=True)
    wait_gone(name)
    # A stream still CREATING cannot be deleted (model doc). UNVERIFIED wording.
    create("too-young")
    if describe("too-young")["DeliveryStreamStatus"] == "CREATING":
        expect_error("ResourceInUseException", fh.delete_delivery_stream,
                     DeliveryStreamName="too-young")
    else:
        aws(False, "too-young was not CREATING right after CreateDeliveryStream")
    wait_status("too-young", "ACTIVE")
    fh.delete_delivery_stream(DeliveryStreamName="too-young")


# ---------------------------------------------------------------- delivery


KEY_RE = re.compile(
    r"^(\d{4})/(\d{2})/(\d{2})/(\d{2})/(?P<name>.+)-(?P<version>\d+)-"
    r"(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


def delivered_objects(bucket):
    """{key: bytes} of every object in the bucket."""
    if args.data_dir:
        root = os.path.join(args.data_dir, "s3", bucket)
        out = {}
        for dirpath, _, files in os.walk(root):
            for f in files:
                path = os.path.join(dirpath, f)
                key = os.path.relpath(path, root).replace(os.sep, "/")
                with open(path, "rb") as fp:
                    out[key] = fp.read()
        return out
    s3 = boto3.client("s3", **common)
    out = {}
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        out[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


@case
def delivery_to_s3():
    name = "to-s3"
    bucket = "delivery-bucket"
    if not args.data_dir:
        boto3.client("s3", **common).create_bucket(Bucket=bucket)
    create_active(name, ExtendedS3DestinationConfiguration=s3_conf(
        bucket, BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 0}))
    started = dt.datetime.now(dt.timezone.utc)
    records = [b"rec-%04d\n" % i for i in range(300)]
    for chunk in (records[:100], records[100:250], records[250:]):
        out = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r} for r in chunk])
        assert out["FailedPutCount"] == 0, out
    want = b"".join(records)
    deadline = time.time() + 20
    while True:
        objects = delivered_objects(bucket)
        if sum(len(v) for v in objects.values()) >= len(want) or time.time() > deadline:
            break
        time.sleep(0.1)
    assert objects, f"nothing delivered to {bucket} within 20 s"
    for key in objects:
        m = KEY_RE.match(key)
        assert m, f"object key {key!r} is not YYYY/MM/dd/HH/{name}-1-YYYY-MM-dd-HH-mm-ss-UUID"
        g = m.groups()
        assert m["name"] == name and m["version"] == "1", key
        # The hour directory is the hour of the object's time stamp (UTC).
        assert g[0:4] == g[6:10], key
        stamp = dt.datetime(*map(int, g[6:12]), tzinfo=dt.timezone.utc)
        assert abs((stamp - started).total_seconds()) < 300, f"{key}: time stamp is not now (UTC)"
    # Records are concatenated byte for byte, in order: each object is a run of
    # consecutive records; objects ordered by their first record give them all.
    runs = sorted(objects.values(), key=lambda body: body[:9])
    got = b"".join(runs)
    assert got == want, f"delivered {len(got)} bytes in {len(objects)} objects, want {len(want)}"


# ---------------------------------------------------------------- main


def main():
    failed = []
    for fn in CASES:
        if args.only and fn.__name__ != args.only:
            continue
        started = time.time()
        try:
            fn()
            print(f"PASS {fn.__name__} ({time.time() - started:.1f} s)", flush=True)
        except Exception:  # noqa: BLE001 - report every case
            failed.append(fn.__name__)
            print(f"FAIL {fn.__name__}\n{traceback.format_exc()}", flush=True)
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        sys.exit(1)
    print("FIREHOSE-BOTO3-OK")


main()
