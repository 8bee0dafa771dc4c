"""The SigV4 signing matrix through botocore against a running riffle in
enforce mode: each case signs a real Kinesis request (ListStreams) the way
boto3 does, bends one thing, sends it, and prints one JSON line with the
answer. The Rust test (security.rs) checks each answer against AWS's.

Usage: sigv4_matrix.py ENDPOINT AKID SECRET TEMP_AKID TEMP_SECRET TEMP_TOKEN EXPIRED_AKID EXPIRED_SECRET EXPIRED_TOKEN
"""
import datetime
import json
import sys
import urllib.error
import urllib.request

import boto3
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

(endpoint, akid, secret, t_akid, t_secret, t_token, x_akid, x_secret, x_token) = sys.argv[1:10]
TARGET = "Kinesis_20131202.ListStreams"
BODY = b"{}"


def report(case, status, body):
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = {"raw": body.decode("utf-8", "replace")}
    print(json.dumps({
        "case": case,
        "status": status,
        "type": parsed.get("__type"),
        "message": parsed.get("message", parsed.get("Message")),
    }), flush=True)


def client_case(case, region="us-east-1", key=akid, sec=secret, token=None):
    """A real boto3 client call."""
    c = boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=sec,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1}),
    )
    try:
        c.list_streams()
        report(case, 200, b"{}")
    except ClientError as e:
        err = e.response.get("Error", {})
        report(case, e.response["ResponseMetadata"]["HTTPStatusCode"],
               json.dumps({"__type": err.get("Code"), "message": err.get("Message")}).encode())


def send(req):
    """Sends a prepared botocore request with urllib, unchanged."""
    prepared = req.prepare()
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    r = urllib.request.Request(prepared.url, data=body, method=prepared.method)
    for k, v in prepared.headers.items():
        r.add_header(k, v)
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def raw_request(body=BODY, url=None):
    return AWSRequest(
        method="POST",
        url=url or endpoint + "/",
        data=body,
        headers={"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.1"},
    )


def signed(service="kinesis", region="us-east-1", when=None, key=akid, sec=secret, token=None):
    req = raw_request()
    auth = botocore.auth.SigV4Auth(Credentials(key, sec, token), service, region)
    if when is not None:
        real = botocore.auth.get_current_datetime
        botocore.auth.get_current_datetime = lambda: when
        try:
            auth.add_auth(req)
        finally:
            botocore.auth.get_current_datetime = real
    else:
        auth.add_auth(req)
    return req


class JsonQueryAuth(botocore.auth.SigV4QueryAuth):
    """botocore's presigner moves a body into the query string (the query
    protocol's way); a JSON request keeps its body, hashed as it is."""

    def _modify_request_before_signing(self, request):
        data = request.data
        request.data = b""
        super()._modify_request_before_signing(request)
        request.data = data


def presigned(expires, when=None):
    req = raw_request()
    auth = JsonQueryAuth(Credentials(akid, secret), "kinesis", "us-east-1", expires=expires)
    if when is not None:
        real = botocore.auth.get_current_datetime
        botocore.auth.get_current_datetime = lambda: when
        try:
            auth.add_auth(req)
        finally:
            botocore.auth.get_current_datetime = real
    else:
        auth.add_auth(req)
    return req


now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)

client_case("ok")
client_case("wrong_secret", sec=secret + "x")
client_case("unknown_key", key="AKIAUNKNOWNKEY000000")
client_case("wrong_region", region="us-west-1")
client_case("session_token_valid", key=t_akid, sec=t_secret, token=t_token)
client_case("session_token_expired", key=x_akid, sec=x_secret, token=x_token)
client_case("session_token_missing", key=t_akid, sec=t_secret)
client_case("session_token_wrong", key=t_akid, sec=t_secret, token=t_token + "x")
report("wrong_service", *send(signed(service="dynamodb")))
report("date_6_min_past", *send(signed(when=now - datetime.timedelta(minutes=6))))
report("date_6_min_future", *send(signed(when=now + datetime.timedelta(minutes=6))))
req = signed()
req.data = b'{"Limit":1}'
report("body_changed", *send(req))
req = signed()
req.headers["X-Amz-Meta-Unsigned"] = "sneaky"
report("unsigned_amz_header", *send(req))
report("presigned_ok", *send(presigned(300)))
report("presigned_expired", *send(presigned(60, when=now - datetime.timedelta(minutes=3))))
