"""boto3 enhanced fan-out against a running riffle: RegisterStreamConsumer,
SubscribeToShard over HTTP/1.1 (botocore's event-stream parser, which needs
the initial-response frame first), push delivery, continuation, errors.

Usage: efo_boto3.py ENDPOINT   (prints EFO-BOTO3-OK on success)
"""
import sys
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
kinesis = boto3.client(
    "kinesis",
    endpoint_url=endpoint,
    region_name="us-east-1",
    config=Config(read_timeout=15, retries={"max_attempts": 1}),
)

kinesis.create_stream(StreamName="boto", ShardCount=1)
arn = kinesis.describe_stream_summary(StreamName="boto")["StreamDescriptionSummary"]["StreamARN"]
consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="py")["Consumer"]
assert consumer["ConsumerARN"].startswith(arn + "/consumer/py:"), consumer
for _ in range(50):
    desc = kinesis.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])
    if desc["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE":
        break
    time.sleep(0.1)
else:
    raise SystemExit("consumer never became ACTIVE")
listed = kinesis.list_stream_consumers(StreamARN=arn)["Consumers"]
assert [c["ConsumerName"] for c in listed] == ["py"], listed

seqs = [kinesis.put_record(StreamName="boto", Data=b"r%d" % i, PartitionKey="pk")["SequenceNumber"] for i in range(3)]

resp = kinesis.subscribe_to_shard(
    ConsumerARN=consumer["ConsumerARN"],
    ShardId="shardId-000000000000",
    StartingPosition={"Type": "TRIM_HORIZON"},
)
assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200, resp["ResponseMetadata"]


def later():
    time.sleep(0.3)
    seqs.append(kinesis.put_record(StreamName="boto", Data=b"r3", PartitionKey="pk")["SequenceNumber"])


writer = threading.Thread(target=later)
writer.start()
got = []
continuation = None
for event in resp["EventStream"]:
    ev = event["SubscribeToShardEvent"]
    for r in ev["Records"]:
        got.append((r["Data"], r["SequenceNumber"]))
        assert hasattr(r["ApproximateArrivalTimestamp"], "timestamp"), r
    continuation = ev["ContinuationSequenceNumber"]
    assert ev["MillisBehindLatest"] >= 0
    if len(got) >= 4:
        break
resp["EventStream"].close()
# The pushed record can arrive before put_record has returned its sequence number.
writer.join()
assert [d for d, _ in got] == [b"r0", b"r1", b"r2", b"r3"], got
assert [s for _, s in got] == seqs, (got, seqs)
assert continuation == seqs[-1], (continuation, seqs)

try:
    kinesis.subscribe_to_shard(
        ConsumerARN=arn + "/consumer/none:1",
        ShardId="shardId-000000000000",
        StartingPosition={"Type": "LATEST"},
    )
    raise SystemExit("subscribing with an unknown consumer succeeded")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ResourceNotFoundException", e.response

print("EFO-BOTO3-OK")
