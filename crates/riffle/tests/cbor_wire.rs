//! Raw-wire end-to-end tests with reqwest against the real `riffle` binary.
//!
//! CBOR requests are built byte for byte the way the Java SDK v2 (and so the
//! KCL) builds them: `application/x-amz-cbor-1.1`, a SigV4-shaped
//! Authorization header, indefinite-length maps and arrays (Jackson's
//! `writeStartObject`/`writeStartArray`), `Data` as a byte string and
//! timestamps as CBOR tag 1 wrapping integer epoch *milliseconds*. The JSON
//! checks cover what the Rust SDK hides: empty bodies, request ids, number
//! formats and protocol-level errors.
#![allow(clippy::unwrap_used)]

mod common;

use ciborium::value::Value;
use common::kinesis::now_ms;
use common::TestServer;
use std::time::Duration;

const CBOR: &str = "application/x-amz-cbor-1.1";
const JSON: &str = "application/x-amz-json-1.1";
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=abcd";

// ------------------------------------------------------------ CBOR encoding

/// A request value, encoded as the Java SDK v2's Jackson CBOR generator does.
enum C {
    /// Indefinite-length map (0xBF ... 0xFF).
    Map(Vec<(&'static str, C)>),
    /// Indefinite-length array (0x9F ... 0xFF).
    Arr(Vec<C>),
    Text(String),
    Bytes(Vec<u8>),
    Int(i64),
    /// Tag 1 wrapping integer epoch milliseconds (`SdkCborGenerator.writeValue(Instant)`).
    Ts(i64),
}

fn text(s: &str) -> C {
    C::Text(s.to_string())
}

fn head(major: u8, n: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[m | 24, n as u8]);
    } else if n < 0x1_0000 {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n < 0x1_0000_0000 {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn enc(c: &C, out: &mut Vec<u8>) {
    match c {
        C::Map(kv) => {
            out.push(0xBF);
            for (k, v) in kv {
                head(3, k.len() as u64, out);
                out.extend_from_slice(k.as_bytes());
                enc(v, out);
            }
            out.push(0xFF);
        }
        C::Arr(items) => {
            out.push(0x9F);
            for v in items {
                enc(v, out);
            }
            out.push(0xFF);
        }
        C::Text(s) => {
            head(3, s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
        C::Bytes(b) => {
            head(2, b.len() as u64, out);
            out.extend_from_slice(b);
        }
        C::Int(n) if *n >= 0 => head(0, *n as u64, out),
        C::Int(n) => head(1, (-1 - *n) as u64, out),
        C::Ts(ms) => {
            out.push(0xC1);
            enc(&C::Int(*ms), out);
        }
    }
}

fn cbor(c: &C) -> Vec<u8> {
    let mut out = Vec::new();
    enc(c, &mut out);
    out
}

// ------------------------------------------------------------ CBOR decoding helpers

fn decode(body: &[u8]) -> Value {
    ciborium::de::from_reader(body)
        .unwrap_or_else(|e| panic!("response is not CBOR ({e}): {body:?}"))
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Map(kv) => kv
            .iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
            .map(|(_, v)| v),
        _ => panic!("not a CBOR map: {v:?}"),
    }
}

fn req<'a>(v: &'a Value, key: &str) -> &'a Value {
    field(v, key).unwrap_or_else(|| panic!("no {key} in {v:?}"))
}

fn as_text<'a>(v: &'a Value, key: &str) -> &'a str {
    match req(v, key) {
        Value::Text(t) => t,
        other => panic!("{key} is not a CBOR text string: {other:?}"),
    }
}

fn as_int(v: &Value, key: &str) -> i128 {
    match req(v, key) {
        Value::Integer(i) => i128::from(*i),
        other => panic!("{key} is not a plain CBOR integer: {other:?}"),
    }
}

fn as_bytes<'a>(v: &'a Value, key: &str) -> &'a [u8] {
    match req(v, key) {
        Value::Bytes(b) => b,
        other => panic!("{key} is not a CBOR byte string: {other:?}"),
    }
}

fn as_array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    match req(v, key) {
        Value::Array(a) => a,
        other => panic!("{key} is not a CBOR array: {other:?}"),
    }
}

// ------------------------------------------------------------ HTTP

struct Resp {
    status: u16,
    version: reqwest::Version,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn content_type(&self) -> Option<&str> {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
    }
    fn request_id(&self) -> &str {
        let id = self
            .headers
            .get("x-amzn-RequestId")
            .expect("x-amzn-RequestId on every response");
        let id = id.to_str().unwrap();
        assert!(!id.is_empty());
        id
    }
    fn cbor(&self) -> Value {
        assert_eq!(
            self.content_type(),
            Some(CBOR),
            "CBOR requests get CBOR answers"
        );
        decode(&self.body)
    }
    fn json(&self) -> serde_json::Value {
        assert_eq!(self.content_type(), Some(JSON));
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

struct Wire {
    http: reqwest::Client,
    endpoint: String,
    h2: bool,
}

impl Wire {
    fn http1(server: &TestServer) -> Wire {
        Wire {
            http: reqwest::Client::builder().http1_only().build().unwrap(),
            endpoint: server.endpoint(),
            h2: false,
        }
    }
    fn h2c(server: &TestServer) -> Wire {
        Wire {
            http: reqwest::Client::builder()
                .http2_prior_knowledge()
                .build()
                .unwrap(),
            endpoint: server.endpoint(),
            h2: true,
        }
    }

    async fn raw(
        &self,
        target: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
        auth: bool,
    ) -> Resp {
        let mut r = self
            .http
            .post(format!("{}/", self.endpoint))
            .header("content-type", content_type)
            .header(
                "amz-sdk-invocation-id",
                "6f3c1d52-8f1e-4c0a-9a55-1f0a0e3b7c11",
            )
            .header("amz-sdk-request", "attempt=1; max=4")
            .body(body);
        if let Some(t) = target {
            r = r.header("x-amz-target", t);
        }
        if auth {
            r = r
                .header("x-amz-date", "20260101T000000Z")
                .header("authorization", AUTH);
        }
        let resp = r.send().await.unwrap();
        Resp {
            status: resp.status().as_u16(),
            version: resp.version(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.unwrap().to_vec(),
        }
    }

    async fn cbor(&self, op: &str, body: C) -> Resp {
        self.raw(
            Some(&format!("Kinesis_20131202.{op}")),
            CBOR,
            cbor(&body),
            true,
        )
        .await
    }

    /// A CBOR call that must succeed; its decoded body (Null when empty).
    async fn cbor_ok(&self, op: &str, body: C) -> Value {
        let r = self.cbor(op, body).await;
        r.request_id();
        assert_eq!(
            r.status,
            200,
            "{op} failed: {:?}",
            if r.body.is_empty() {
                Value::Null
            } else {
                decode(&r.body)
            }
        );
        if r.body.is_empty() {
            Value::Null
        } else {
            r.cbor()
        }
    }

    async fn json(&self, op: &str, body: serde_json::Value) -> Resp {
        self.raw(
            Some(&format!("Kinesis_20131202.{op}")),
            JSON,
            serde_json::to_vec(&body).unwrap(),
            true,
        )
        .await
    }
}

fn put_records_body(stream: &str, records: &[(&str, &[u8])]) -> C {
    C::Map(vec![
        (
            "Records",
            C::Arr(
                records
                    .iter()
                    .map(|(pk, data)| {
                        C::Map(vec![
                            ("Data", C::Bytes(data.to_vec())),
                            ("PartitionKey", text(pk)),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("StreamName", text(stream)),
    ])
}

async fn iterator(w: &Wire, stream: &str, extra: Vec<(&'static str, C)>) -> String {
    let mut m = vec![
        ("StreamName", text(stream)),
        ("ShardId", text("shardId-000000000000")),
    ];
    m.extend(extra);
    let v = w.cbor_ok("GetShardIterator", C::Map(m)).await;
    as_text(&v, "ShardIterator").to_string()
}

/// GetRecords over CBOR until caught up; checks every CBOR type on the way.
async fn read(w: &Wire, mut it: String) -> Vec<(Vec<u8>, String, String, i64)> {
    let mut out = Vec::new();
    for _ in 0..100 {
        let v = w
            .cbor_ok(
                "GetRecords",
                C::Map(vec![
                    ("ShardIterator", C::Text(it.clone())),
                    ("Limit", C::Int(1000)),
                ]),
            )
            .await;
        let recs = as_array(&v, "Records");
        for r in recs {
            let ts = as_int(r, "ApproximateArrivalTimestamp");
            assert!(
                ts > 1_600_000_000_000,
                "ApproximateArrivalTimestamp {ts} is not epoch milliseconds"
            );
            out.push((
                as_bytes(r, "Data").to_vec(),
                as_text(r, "PartitionKey").to_string(),
                as_text(r, "SequenceNumber").to_string(),
                ts as i64,
            ));
        }
        let behind = as_int(&v, "MillisBehindLatest");
        it = as_text(&v, "NextShardIterator").to_string();
        if recs.is_empty() && behind == 0 {
            return out;
        }
    }
    panic!("never caught up");
}

/// The whole CBOR data path on one connection type.
async fn cbor_flow(w: &Wire, want_version: reqwest::Version, stream: &str) {
    let r = w
        .cbor(
            "CreateStream",
            C::Map(vec![
                ("StreamName", text(stream)),
                ("ShardCount", C::Int(1)),
            ]),
        )
        .await;
    assert_eq!(r.version, want_version);
    assert_eq!(r.status, 200, "CreateStream: {}", r.text());
    assert!(r.body.is_empty(), "CreateStream answers an empty body");
    r.request_id();

    let v = w
        .cbor_ok("DescribeStream", C::Map(vec![("StreamName", text(stream))]))
        .await;
    let d = req(&v, "StreamDescription");
    assert_eq!(as_text(d, "StreamName"), stream);
    assert_eq!(as_text(d, "StreamStatus"), "ACTIVE");
    assert_eq!(
        as_text(d, "StreamARN"),
        format!("arn:aws:kinesis:us-east-1:000000000000:stream/{stream}")
    );
    assert_eq!(req(d, "HasMoreShards"), &Value::Bool(false));
    assert_eq!(as_int(d, "RetentionPeriodHours"), 24);
    let created = as_int(d, "StreamCreationTimestamp");
    assert!(
        (created - now_ms() as i128).abs() < 60_000,
        "StreamCreationTimestamp {created} is not epoch ms"
    );
    let shards = as_array(d, "Shards");
    assert_eq!(shards.len(), 1);
    assert_eq!(as_text(&shards[0], "ShardId"), "shardId-000000000000");
    let range = req(&shards[0], "HashKeyRange");
    assert_eq!(as_text(range, "StartingHashKey"), "0");
    assert_eq!(
        as_text(range, "EndingHashKey"),
        "340282366920938463463374607431768211455"
    );
    assert_eq!(
        as_text(
            req(&shards[0], "SequenceNumberRange"),
            "StartingSequenceNumber"
        )
        .len(),
        56
    );

    // PutRecord with binary data.
    let bin: Vec<u8> = (0..=255u8).rev().collect();
    let v = w
        .cbor_ok(
            "PutRecord",
            C::Map(vec![
                ("StreamName", text(stream)),
                ("Data", C::Bytes(bin.clone())),
                ("PartitionKey", text("pk-0")),
            ]),
        )
        .await;
    assert_eq!(as_text(&v, "ShardId"), "shardId-000000000000");
    let seq0 = as_text(&v, "SequenceNumber").to_string();
    assert_eq!(seq0.len(), 56);

    let v = w
        .cbor_ok(
            "PutRecords",
            put_records_body(
                stream,
                &[("a", b"first"), ("b", b""), ("c", b"\x00\x01\x02")],
            ),
        )
        .await;
    assert_eq!(as_int(&v, "FailedRecordCount"), 0);
    let results = as_array(&v, "Records");
    assert_eq!(results.len(), 3);
    let mut seqs = vec![seq0.clone()];
    for r in results {
        assert_eq!(as_text(r, "ShardId"), "shardId-000000000000");
        assert!(field(r, "ErrorCode").is_none());
        seqs.push(as_text(r, "SequenceNumber").to_string());
    }
    let batch_a_end = now_ms();

    let it = iterator(w, stream, vec![("ShardIteratorType", text("TRIM_HORIZON"))]).await;
    let recs = read(w, it).await;
    let want: Vec<(Vec<u8>, String)> = vec![
        (bin.clone(), "pk-0".into()),
        (b"first".to_vec(), "a".into()),
        (Vec::new(), "b".into()),
        (b"\x00\x01\x02".to_vec(), "c".into()),
    ];
    assert_eq!(
        recs.iter()
            .map(|r| (r.0.clone(), r.1.clone()))
            .collect::<Vec<_>>(),
        want
    );
    assert_eq!(recs.iter().map(|r| r.2.clone()).collect::<Vec<_>>(), seqs);
    let now = now_ms();
    for r in &recs {
        assert!(
            (r.3 - now).abs() < 5_000,
            "ApproximateArrivalTimestamp {} is not within seconds of {now}",
            r.3
        );
    }

    // AT_SEQUENCE_NUMBER / AFTER_SEQUENCE_NUMBER over CBOR.
    let it = iterator(
        w,
        stream,
        vec![
            ("ShardIteratorType", text("AFTER_SEQUENCE_NUMBER")),
            ("StartingSequenceNumber", C::Text(seqs[1].clone())),
        ],
    )
    .await;
    assert_eq!(read(w, it).await.len(), 2);

    // AT_TIMESTAMP with a tag-1 millisecond timestamp between two batches.
    while now_ms() <= batch_a_end + 150 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let between = now_ms();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let v = w
        .cbor_ok(
            "PutRecords",
            put_records_body(stream, &[("d", b"second-1"), ("e", b"second-2")]),
        )
        .await;
    assert_eq!(as_int(&v, "FailedRecordCount"), 0);
    let it = iterator(
        w,
        stream,
        vec![
            ("ShardIteratorType", text("AT_TIMESTAMP")),
            ("Timestamp", C::Ts(between)),
        ],
    )
    .await;
    let recs = read(w, it).await;
    assert_eq!(
        recs.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        vec![b"second-1".to_vec(), b"second-2".to_vec()],
        "AT_TIMESTAMP (tag 1, epoch ms {between}) must return exactly the later batch"
    );
    for r in &recs {
        assert!(
            r.3 >= between,
            "record at {} is before the AT_TIMESTAMP {between}",
            r.3
        );
    }
    // At a record's own arrival time, from the integer the server sent.
    let it = iterator(
        w,
        stream,
        vec![
            ("ShardIteratorType", text("AT_TIMESTAMP")),
            ("Timestamp", C::Ts(recs[0].3)),
        ],
    )
    .await;
    assert_eq!(read(w, it).await.len(), 2);

    let r = w
        .cbor("DeleteStream", C::Map(vec![("StreamName", text(stream))]))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn cbor_data_path_over_http1() {
    let server = TestServer::start();
    cbor_flow(&Wire::http1(&server), reqwest::Version::HTTP_11, "cbor-h1").await;
}

#[tokio::test]
async fn cbor_data_path_over_h2c() {
    let server = TestServer::start();
    cbor_flow(&Wire::h2c(&server), reqwest::Version::HTTP_2, "cbor-h2").await;
}

/// CBOR error bodies: `{__type, message}` CBOR maps, HTTP 400.
async fn cbor_errors(w: &Wire) {
    let r = w
        .cbor(
            "DescribeStream",
            C::Map(vec![("StreamName", text("ghost"))]),
        )
        .await;
    assert_eq!(r.status, 400);
    r.request_id();
    let v = r.cbor();
    assert_eq!(as_text(&v, "__type"), "ResourceNotFoundException");
    assert_eq!(
        as_text(&v, "message"),
        "Stream ghost under account 000000000000 not found."
    );

    let r = w
        .cbor(
            "CreateStream",
            C::Map(vec![
                ("StreamName", text("err-s")),
                ("ShardCount", C::Int(1)),
            ]),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = w
        .cbor(
            "CreateStream",
            C::Map(vec![
                ("StreamName", text("err-s")),
                ("ShardCount", C::Int(1)),
            ]),
        )
        .await;
    assert_eq!(r.status, 400);
    let v = r.cbor();
    assert_eq!(as_text(&v, "__type"), "ResourceInUseException");
    assert_eq!(
        as_text(&v, "message"),
        "Stream err-s under account 000000000000 already exists."
    );

    // A future tag-1 timestamp is read as milliseconds, as the message shows.
    let future = now_ms() + 3_600_000;
    let r = w
        .cbor(
            "GetShardIterator",
            C::Map(vec![
                ("StreamName", text("err-s")),
                ("ShardId", text("shardId-000000000000")),
                ("ShardIteratorType", text("AT_TIMESTAMP")),
                ("Timestamp", C::Ts(future)),
            ]),
        )
        .await;
    assert_eq!(r.status, 400);
    let v = r.cbor();
    assert_eq!(as_text(&v, "__type"), "InvalidArgumentException");
    let msg = as_text(&v, "message");
    assert!(
        msg.starts_with(&format!(
            "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {future}, currentTimestampInMillis: "
        )),
        "{msg}"
    );

    let r = w
        .cbor(
            "GetRecords",
            C::Map(vec![("ShardIterator", text("not-an-iterator"))]),
        )
        .await;
    assert_eq!(r.status, 400);
    let v = r.cbor();
    assert_eq!(as_text(&v, "__type"), "InvalidArgumentException");
    assert_eq!(as_text(&v, "message"), "Invalid ShardIterator.");

    // Validation errors come back in CBOR too.
    let r = w
        .cbor(
            "CreateStream",
            C::Map(vec![
                ("StreamName", text("bad name!")),
                ("ShardCount", C::Int(1)),
            ]),
        )
        .await;
    assert_eq!(r.status, 400);
    let v = r.cbor();
    assert_eq!(as_text(&v, "__type"), "ValidationException");
    assert_eq!(
        as_text(&v, "message"),
        "1 validation error detected: Value 'bad name!' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
    );

    // Missing authentication, answered in CBOR.
    let body = cbor(&C::Map(vec![("StreamName", text("err-s"))]));
    let r = w
        .raw(Some("Kinesis_20131202.DescribeStream"), CBOR, body, false)
        .await;
    assert_eq!(r.status, 400);
    r.request_id();
    let v = r.cbor();
    assert_eq!(as_text(&v, "__type"), "MissingAuthenticationTokenException");
    assert_eq!(as_text(&v, "message"), "Missing Authentication Token");
}

#[tokio::test]
async fn cbor_errors_over_http1_and_h2c() {
    let server = TestServer::start();
    cbor_errors(&Wire::http1(&server)).await;
    let server = TestServer::start();
    cbor_errors(&Wire::h2c(&server)).await;
}

#[tokio::test]
async fn cbor_definite_length_maps_are_accepted() {
    // Other CBOR writers use definite-length maps; serialize with ciborium.
    let server = TestServer::start();
    let w = Wire::http1(&server);
    let to_vec = |v: &Value| {
        let mut b = Vec::new();
        ciborium::ser::into_writer(v, &mut b).unwrap();
        b
    };
    let t = |s: &str| Value::Text(s.to_string());
    let create = Value::Map(vec![
        (t("StreamName"), t("definite")),
        (t("ShardCount"), Value::Integer(2.into())),
    ]);
    let r = w
        .raw(
            Some("Kinesis_20131202.CreateStream"),
            CBOR,
            to_vec(&create),
            true,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let put = Value::Map(vec![
        (t("StreamName"), t("definite")),
        (t("PartitionKey"), t("k")),
        (t("Data"), Value::Bytes(b"definite data".to_vec())),
        (t("ExplicitHashKey"), t("0")),
    ]);
    let r = w
        .raw(Some("Kinesis_20131202.PutRecord"), CBOR, to_vec(&put), true)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(as_text(&r.cbor(), "ShardId"), "shardId-000000000000");
    let it = iterator(
        &w,
        "definite",
        vec![("ShardIteratorType", text("TRIM_HORIZON"))],
    )
    .await;
    let recs = read(&w, it).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].0, b"definite data");
}

// ------------------------------------------------------------ JSON wire

#[tokio::test]
async fn json_empty_outputs_and_request_ids() {
    let server = TestServer::start();
    for w in [Wire::http1(&server), Wire::h2c(&server)] {
        let name = if w.h2 { "json-h2" } else { "json-h1" };
        let r = w
            .json(
                "CreateStream",
                serde_json::json!({"StreamName": name, "ShardCount": 1}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            r.body.is_empty(),
            "CreateStream must answer an empty body, got {:?}",
            r.text()
        );
        if let Some(len) = r.headers.get("content-length") {
            assert_eq!(len.to_str().unwrap(), "0");
        }
        let id1 = r.request_id().to_string();

        for (op, body) in [
            (
                "AddTagsToStream",
                serde_json::json!({"StreamName": name, "Tags": {"a": "b"}}),
            ),
            (
                "IncreaseStreamRetentionPeriod",
                serde_json::json!({"StreamName": name, "RetentionPeriodHours": 48}),
            ),
            (
                "RemoveTagsFromStream",
                serde_json::json!({"StreamName": name, "TagKeys": ["a"]}),
            ),
        ] {
            let r = w.json(op, body).await;
            assert_eq!(r.status, 200, "{op}: {}", r.text());
            assert!(r.body.is_empty(), "{op} must answer an empty body");
            r.request_id();
        }

        let r = w
            .json(
                "DescribeStreamSummary",
                serde_json::json!({"StreamName": name}),
            )
            .await;
        assert_eq!(r.status, 200);
        let id2 = r.request_id().to_string();
        assert_ne!(id1, id2, "request ids are unique");
        let v = r.json();
        assert_eq!(v["StreamDescriptionSummary"]["RetentionPeriodHours"], 48);
        // Timestamps: plain epoch-second numbers.
        assert_plain_seconds(&r.text(), "StreamCreationTimestamp");

        let r = w
            .json("DescribeStream", serde_json::json!({"StreamName": name}))
            .await;
        assert_eq!(r.status, 200);
        assert!(
            r.headers.contains_key("x-amz-id-2"),
            "non-CORS responses carry x-amz-id-2"
        );
        if !w.h2 {
            let len = r
                .headers
                .get("content-length")
                .expect("Content-Length on non-streaming responses");
            assert_eq!(len.to_str().unwrap(), r.body.len().to_string());
        }
        assert_plain_seconds(&r.text(), "StreamCreationTimestamp");
        let d = &r.json()["StreamDescription"];
        for key in [
            "StreamName",
            "StreamARN",
            "StreamStatus",
            "Shards",
            "HasMoreShards",
            "RetentionPeriodHours",
            "StreamCreationTimestamp",
            "EnhancedMonitoring",
        ] {
            assert!(
                d.get(key).is_some_and(|v| !v.is_null()),
                "required {key} missing from {d}"
            );
        }
        assert_eq!(
            d["EnhancedMonitoring"],
            serde_json::json!([{"ShardLevelMetrics": []}])
        );
        assert_eq!(d["EncryptionType"], "NONE");

        let r = w
            .json("DescribeStream", serde_json::json!({"StreamName": "ghost"}))
            .await;
        assert_eq!(r.status, 400);
        r.request_id();
        assert_eq!(
            r.json(),
            serde_json::json!({"__type": "ResourceNotFoundException", "message": "Stream ghost under account 000000000000 not found."})
        );

        let r = w
            .json("DeleteStream", serde_json::json!({"StreamName": name}))
            .await;
        assert_eq!(r.status, 200);
        assert!(r.body.is_empty());
        r.request_id();
    }
}

/// Finds `"key":<number>` in raw JSON and checks the number is plain decimal
/// epoch seconds (no exponent, at most millisecond precision); returns it.
fn assert_plain_seconds(raw: &str, key: &str) -> Vec<f64> {
    let pat = format!("\"{key}\":");
    let mut found = Vec::new();
    let mut rest = raw;
    while let Some(i) = rest.find(&pat) {
        let after = rest[i + pat.len()..].trim_start();
        let token: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "+-.".contains(*c))
            .collect();
        let (int, frac) = token.split_once('.').unwrap_or((&token, ""));
        assert!(
            !int.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
                && frac.len() <= 3,
            "{key} must be plain epoch seconds, got {token:?} in {raw}"
        );
        let secs: f64 = token.parse().unwrap();
        assert!(
            secs > 1.6e9 && secs < 1e11,
            "{key} {secs} is not epoch seconds"
        );
        found.push(secs);
        rest = &rest[i + pat.len()..];
    }
    assert!(!found.is_empty(), "no {key} in {raw}");
    found
}

#[tokio::test]
async fn json_get_records_arrival_timestamp_is_plain_seconds() {
    let server = TestServer::start();
    let w = Wire::http1(&server);
    let r = w
        .json(
            "CreateStream",
            serde_json::json!({"StreamName": "ts", "ShardCount": 1}),
        )
        .await;
    assert_eq!(r.status, 200);
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    for i in 0..5 {
        let data = b64.encode(format!("rec {i}"));
        let r = w
            .json(
                "PutRecord",
                serde_json::json!({"StreamName": "ts", "PartitionKey": "k", "Data": data}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        // Spread arrivals over different milliseconds.
        tokio::time::sleep(Duration::from_millis(7)).await;
    }
    let r = w
        .json(
            "GetShardIterator",
            serde_json::json!({"StreamName": "ts", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"}),
        )
        .await;
    let it = r.json()["ShardIterator"].as_str().unwrap().to_string();
    let r = w
        .json("GetRecords", serde_json::json!({"ShardIterator": it}))
        .await;
    assert_eq!(r.status, 200);
    r.request_id();
    let raw = r.text();
    let times = assert_plain_seconds(&raw, "ApproximateArrivalTimestamp");
    assert_eq!(times.len(), 5);
    let now = now_ms() as f64 / 1000.0;
    for t in &times {
        assert!(
            (now - t).abs() < 5.0,
            "ApproximateArrivalTimestamp {t} vs now {now}"
        );
    }
    let v = r.json();
    let recs = v["Records"].as_array().unwrap();
    for (i, rec) in recs.iter().enumerate() {
        assert_eq!(
            b64.decode(rec["Data"].as_str().unwrap()).unwrap(),
            format!("rec {i}").into_bytes()
        );
        assert_eq!(rec["PartitionKey"], "k");
        assert!(rec["SequenceNumber"].is_string());
    }
    assert_eq!(v["MillisBehindLatest"], 0);
    assert!(v["NextShardIterator"].is_string());
    assert!(v
        .get("ChildShards")
        .is_none_or(|c| c.is_null() || c.as_array().is_some_and(|a| a.is_empty())));
}

#[tokio::test]
async fn json_protocol_errors() {
    let server = TestServer::start();
    for w in [Wire::http1(&server), Wire::h2c(&server)] {
        // No Authorization header at all.
        let r = w
            .raw(
                Some("Kinesis_20131202.ListStreams"),
                JSON,
                b"{}".to_vec(),
                false,
            )
            .await;
        assert_eq!(r.status, 400);
        r.request_id();
        assert_eq!(
            r.json(),
            serde_json::json!({"__type": "MissingAuthenticationTokenException", "message": "Missing Authentication Token"})
        );

        // Unknown operations.
        for target in [
            "Kinesis_20131202.ListStream",
            "Kinesis_20131202.DoesNotExist",
            "Whatever",
        ] {
            let r = w.raw(Some(target), JSON, b"{}".to_vec(), true).await;
            assert_eq!(r.status, 400, "{target}");
            r.request_id();
            assert_eq!(
                r.json(),
                serde_json::json!({"__type": "UnknownOperationException"}),
                "{target}"
            );
        }

        // The same request with a known target works.
        let r = w
            .raw(
                Some("Kinesis_20131202.ListStreams"),
                JSON,
                b"{}".to_vec(),
                true,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(
            (&v["StreamNames"], &v["HasMoreStreams"]),
            (&serde_json::json!([]), &serde_json::json!(false))
        );
    }

    // Anything but POST is 403.
    let http = reqwest::Client::new();
    for path in ["/", "/whatever"] {
        let resp = http
            .get(format!("{}{path}", server.endpoint()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 403, "GET {path}");
        assert!(resp.headers().contains_key("x-amzn-RequestId"));
        let body = resp.text().await.unwrap();
        assert!(body.contains("AccessDeniedException"), "{body}");
        assert!(
            body.contains("Unable to determine service/operation name to be authorized"),
            "{body}"
        );
    }
    let resp = http
        .get(server.endpoint())
        .header("x-amz-target", "Kinesis_20131202.ListStreams")
        .header("content-type", JSON)
        .header("authorization", AUTH)
        .header("x-amz-date", "20260101T000000Z")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403, "GET with a valid target");
}

#[tokio::test]
async fn json_creating_stream_shows_every_required_member() {
    // The Rust SDK fills in missing required members; check the raw JSON.
    let server = TestServer::start_with(&["--transition-delay-ms", "1500"]);
    let w = Wire::http1(&server);
    let r = w
        .json(
            "CreateStream",
            serde_json::json!({"StreamName": "creating", "ShardCount": 2}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = w
        .json(
            "DescribeStream",
            serde_json::json!({"StreamName": "creating"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let d = &v["StreamDescription"];
    assert_eq!(d["StreamStatus"], "CREATING");
    assert_eq!(
        d["Shards"],
        serde_json::json!([]),
        "CREATING streams list Shards: []"
    );
    assert_eq!(d["HasMoreShards"], false);
    assert_eq!(d["RetentionPeriodHours"], 24);
    assert_eq!(d["EncryptionType"], "NONE");
    assert_eq!(
        d["EnhancedMonitoring"],
        serde_json::json!([{"ShardLevelMetrics": []}])
    );
    assert_eq!(
        d["StreamARN"],
        "arn:aws:kinesis:us-east-1:000000000000:stream/creating"
    );
    assert!(d["StreamCreationTimestamp"].is_number());
    // A PutRecord while CREATING is "not found".
    let r = w
        .json(
            "PutRecord",
            serde_json::json!({"StreamName": "creating", "PartitionKey": "k", "Data": "AA=="}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__type"], "ResourceNotFoundException");
}
