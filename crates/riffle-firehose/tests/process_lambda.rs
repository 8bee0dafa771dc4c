//! The Lambda processor against real functions: an HTTP server on loopback
//! (as a function URL or the Lambda runtime interface emulator) and a
//! command run through `sh -c` (a python3 script in a temp dir).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use bytes::Bytes;
use parking_lot::Mutex;
use riffle_firehose::process::{
    BatchContext, FunctionTargets, InRecord, KinesisRecordMetadata, Pipeline, ProcessedRecord,
};
use riffle_model::firehose::{ProcessingConfiguration, Processor, ProcessorParameter};
use serde_json::{json, Value};

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:transform";
const STREAM_ARN: &str = "arn:aws:firehose:us-east-1:123456789012:deliverystream/ds";

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

/// The transformation every test function applies, chosen by the record's
/// data: `ok:X` → Ok with `X` upper-cased and a partition key; `drop` →
/// Dropped; `fail` → ProcessingFailed; `dup` → answered twice; `missing` →
/// not answered; `nodata` → Ok without data; `badresult` → an unknown result.
fn transform(event: &Value) -> Value {
    let mut out = Vec::new();
    for r in event["records"].as_array().expect("records") {
        let id = r["recordId"].as_str().expect("recordId");
        let data = unb64(r["data"].as_str().expect("data"));
        let text = String::from_utf8_lossy(&data).into_owned();
        match text.as_str() {
            "drop" => out.push(json!({"recordId": id, "result": "Dropped"})),
            "fail" => {
                out.push(json!({"recordId": id, "result": "ProcessingFailed", "data": r["data"]}))
            }
            "dup" => {
                out.push(json!({"recordId": id, "result": "Ok", "data": r["data"]}));
                out.push(json!({"recordId": id, "result": "Ok", "data": r["data"]}));
            }
            "missing" => {
                out.push(json!({"recordId": "not-an-input-id", "result": "Ok", "data": r["data"]}))
            }
            "nodata" => out.push(json!({"recordId": id, "result": "Ok"})),
            "badresult" => out.push(json!({"recordId": id, "result": "Maybe", "data": r["data"]})),
            t => {
                let body = t.strip_prefix("ok:").unwrap_or(t).to_uppercase();
                out.push(json!({
                    "recordId": id, "result": "Ok", "data": b64(body.as_bytes()),
                    "metadata": {"partitionKeys": {"customer": format!("c-{id}"), "n": 7}}
                }));
            }
        }
    }
    json!({ "records": out })
}

fn json_response(v: &Value) -> Response {
    (
        [("content-type", "application/json")],
        serde_json::to_vec(v).expect("json"),
    )
        .into_response()
}

#[derive(Default)]
struct Seen {
    events: Mutex<Vec<Value>>,
    calls: AtomicUsize,
}

async fn serve(seen: Arc<Seen>) -> String {
    async fn record(s: &Seen, body: &Bytes) -> Value {
        s.calls.fetch_add(1, Ordering::SeqCst);
        let v: Value = serde_json::from_slice(body).expect("event JSON");
        s.events.lock().push(v.clone());
        v
    }
    let app = Router::new()
        .route(
            "/2015-03-31/functions/function/invocations",
            post(|State(s): State<Arc<Seen>>, body: Bytes| async move {
                let ev = record(&s, &body).await;
                json_response(&transform(&ev))
            }),
        )
        .route(
            "/not-json",
            post(|State(s): State<Arc<Seen>>, body: Bytes| async move {
                record(&s, &body).await;
                "this is not JSON".into_response()
            }),
        )
        .route(
            "/flaky",
            post(|State(s): State<Arc<Seen>>, body: Bytes| async move {
                let ev = record(&s, &body).await;
                if s.calls.load(Ordering::SeqCst) <= 2 {
                    return (StatusCode::INTERNAL_SERVER_ERROR, "try later").into_response();
                }
                json_response(&transform(&ev))
            }),
        )
        .route(
            "/always-500",
            post(|State(s): State<Arc<Seen>>, body: Bytes| async move {
                record(&s, &body).await;
                (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response()
            }),
        )
        .route(
            "/throttled",
            post(|State(s): State<Arc<Seen>>, body: Bytes| async move {
                record(&s, &body).await;
                (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response()
            }),
        )
        .route(
            "/function-error",
            post(|State(s): State<Arc<Seen>>, body: Bytes| async move {
                record(&s, &body).await;
                let mut h = HeaderMap::new();
                h.insert("X-Amz-Function-Error", "Unhandled".parse().expect("header"));
                (
                    h,
                    json_response(&json!({"errorMessage": "boom", "errorType": "Error"})),
                )
                    .into_response()
            }),
        )
        .route(
            "/slow",
            post(|State(s): State<Arc<Seen>>, body: Bytes| async move {
                record(&s, &body).await;
                tokio::time::sleep(Duration::from_secs(5)).await;
                Response::new(axum::body::Body::from("{}"))
            }),
        )
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn lambda_config(retries: Option<&str>, extra: &[(&str, &str)]) -> ProcessingConfiguration {
    let mut params = vec![ProcessorParameter {
        parameter_name: "LambdaArn".into(),
        parameter_value: format!("{ARN}:$LATEST"),
    }];
    if let Some(n) = retries {
        params.push(ProcessorParameter {
            parameter_name: "NumberOfRetries".into(),
            parameter_value: n.into(),
        });
    }
    for (k, v) in extra {
        params.push(ProcessorParameter {
            parameter_name: k.to_string(),
            parameter_value: v.to_string(),
        });
    }
    ProcessingConfiguration {
        enabled: Some(true),
        processors: Some(vec![Processor {
            r#type: "Lambda".into(),
            parameters: Some(params),
        }]),
    }
}

fn targets(target: &str) -> FunctionTargets {
    FunctionTargets::from_flags([format!("{ARN}={target}").as_str()])
        .expect("flag")
        .with_retry_backoff(Duration::from_millis(10))
        .with_timeout(Duration::from_secs(2))
}

fn ctx() -> BatchContext {
    BatchContext {
        delivery_stream_arn: STREAM_ARN.into(),
        region: "us-east-1".into(),
        source_kinesis_stream_arn: None,
    }
}

fn records(datas: &[&str]) -> Vec<InRecord> {
    datas
        .iter()
        .enumerate()
        .map(|(i, d)| InRecord {
            record_id: format!("rec-{i}"),
            data: Bytes::copy_from_slice(d.as_bytes()),
            arrival_ms: 1_700_000_000_000 + i as i64,
            kinesis_metadata: None,
        })
        .collect()
}

/// A compact view of a result: ("ok", data) / ("dropped", "") / (code, raw data).
fn summary(out: &[ProcessedRecord]) -> Vec<(String, String)> {
    out.iter()
        .map(|r| match r {
            ProcessedRecord::Ok { data, .. } => ("ok".into(), String::from_utf8_lossy(data).into()),
            ProcessedRecord::Dropped { .. } => ("dropped".into(), String::new()),
            ProcessedRecord::Failed { failed, .. } => (
                failed.error_code.clone(),
                String::from_utf8_lossy(&failed.raw_data).into(),
            ),
        })
        .collect()
}

fn s(a: &str, b: &str) -> (String, String) {
    (a.into(), b.into())
}

/// The mixed batch every function is tried with, and what must come out.
const MIXED: &[&str] = &[
    "ok:hello",
    "drop",
    "fail",
    "dup",
    "missing",
    "nodata",
    "badresult",
    "ok:bye",
];

fn mixed_expected() -> Vec<(String, String)> {
    vec![
        s("ok", "HELLO"),
        s("dropped", ""),
        s("Lambda.ProcessingFailedStatus", "fail"),
        s("Lambda.DuplicatedRecordId", "dup"),
        s("Lambda.MissingRecordId", "missing"),
        s("Lambda.JsonProcessingException", "nodata"),
        s("Lambda.JsonProcessingException", "badresult"),
        s("ok", "BYE"),
    ]
}

#[tokio::test]
async fn url_function_answers_ok_dropped_and_failed_per_record() {
    let seen = Arc::new(Seen::default());
    let base = serve(seen.clone()).await;
    let url = format!("{base}/2015-03-31/functions/function/invocations");
    let p = Pipeline::from_config(&lambda_config(None, &[]), &targets(&url)).expect("pipeline");

    let mut input = records(MIXED);
    input[0].kinesis_metadata = Some(KinesisRecordMetadata {
        shard_id: "shardId-000000000003".into(),
        partition_key: "pk".into(),
        approximate_arrival_ms: 1_699_999_999_000,
        sequence_number: "4954".into(),
        subsequence_number: 0,
    });
    let mut c = ctx();
    c.source_kinesis_stream_arn = Some("arn:aws:kinesis:us-east-1:123456789012:stream/src".into());
    let out = p.process(&c, input).await;
    assert_eq!(summary(&out), mixed_expected());

    // The event, as the Firehose contract spells it.
    let events = seen.events.lock().clone();
    assert_eq!(events.len(), 1, "one invocation for a small batch");
    let ev = &events[0];
    assert_eq!(ev["deliveryStreamArn"], STREAM_ARN);
    assert_eq!(ev["region"], "us-east-1");
    assert_eq!(
        ev["sourceKinesisStreamArn"],
        "arn:aws:kinesis:us-east-1:123456789012:stream/src"
    );
    assert!(!ev["invocationId"]
        .as_str()
        .expect("invocationId")
        .is_empty());
    let r0 = &ev["records"][0];
    assert_eq!(r0["recordId"], "rec-0");
    assert_eq!(r0["approximateArrivalTimestamp"], 1_700_000_000_000i64);
    assert_eq!(r0["data"], b64(b"ok:hello"));
    assert_eq!(
        r0["kinesisRecordMetadata"],
        json!({"shardId": "shardId-000000000003", "partitionKey": "pk",
               "approximateArrivalTimestamp": 1_699_999_999_000i64,
               "sequenceNumber": "4954", "subsequenceNumber": 0})
    );
    assert!(ev["records"][1].get("kinesisRecordMetadata").is_none());

    // Ok carries the function's partition keys; failures carry AWS's format.
    let ProcessedRecord::Ok {
        partition_keys,
        arrival_ms,
        ..
    } = &out[0]
    else {
        panic!("{:?}", out[0])
    };
    assert_eq!(
        partition_keys,
        &BTreeMap::from([
            ("customer".into(), "c-rec-0".into()),
            ("n".into(), "7".into())
        ])
    );
    assert_eq!(*arrival_ms, 1_700_000_000_000);
    let ProcessedRecord::Failed { record_id, failed } = &out[2] else {
        panic!("{:?}", out[2])
    };
    assert_eq!(record_id, "rec-2");
    assert_eq!(
        failed.error_message,
        "ProcessingFailed status set for record"
    );
    assert_eq!(failed.attempts_made, 1);
    assert_eq!(failed.arrival_ms, 1_700_000_000_002);
    assert!(failed.attempt_ending_ms >= failed.arrival_ms);
    assert_eq!(failed.extra, vec![("lambdaArn", format!("{ARN}:$LATEST"))]);
}

#[tokio::test]
async fn url_answer_that_is_not_json_fails_the_whole_invocation_without_retry() {
    let seen = Arc::new(Seen::default());
    let base = serve(seen.clone()).await;
    let p = Pipeline::from_config(
        &lambda_config(None, &[]),
        &targets(&format!("{base}/not-json")),
    )
    .expect("pipeline");
    let out = p.process(&ctx(), records(&["a", "b"])).await;
    assert_eq!(
        summary(&out),
        vec![
            s("Lambda.JsonProcessingException", "a"),
            s("Lambda.JsonProcessingException", "b")
        ]
    );
    assert_eq!(seen.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn url_500_is_retried_then_succeeds_with_a_fresh_invocation_id() {
    let seen = Arc::new(Seen::default());
    let base = serve(seen.clone()).await;
    let p = Pipeline::from_config(
        &lambda_config(Some("3"), &[]),
        &targets(&format!("{base}/flaky")),
    )
    .expect("pipeline");
    let out = p.process(&ctx(), records(&["ok:x", "fail"])).await;
    assert_eq!(
        summary(&out),
        vec![s("ok", "X"), s("Lambda.ProcessingFailedStatus", "fail")]
    );
    assert_eq!(
        seen.calls.load(Ordering::SeqCst),
        3,
        "two 500s, then the answer"
    );
    let ProcessedRecord::Failed { failed, .. } = &out[1] else {
        panic!()
    };
    assert_eq!(failed.attempts_made, 3);
    let events = seen.events.lock().clone();
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["invocationId"].as_str().expect("id"))
        .collect();
    assert!(ids[0] != ids[1] && ids[1] != ids[2], "{ids:?}");
    assert!(events
        .iter()
        .all(|e| e["records"][0]["recordId"] == "rec-0"));
}

#[tokio::test]
async fn url_errors_exhaust_number_of_retries_then_fail_every_record() {
    let seen = Arc::new(Seen::default());
    let base = serve(seen.clone()).await;
    for (path, code) in [
        ("always-500", "Lambda.ServiceException"),
        ("throttled", "Lambda.InvokeLimitExceeded"),
        ("function-error", "Lambda.FunctionError"),
    ] {
        seen.calls.store(0, Ordering::SeqCst);
        let p = Pipeline::from_config(
            &lambda_config(Some("2"), &[]),
            &targets(&format!("{base}/{path}")),
        )
        .expect("pipeline");
        let out = p.process(&ctx(), records(&["a", "b"])).await;
        assert_eq!(summary(&out), vec![s(code, "a"), s(code, "b")], "{path}");
        assert_eq!(
            seen.calls.load(Ordering::SeqCst),
            3,
            "{path}: 1 + NumberOfRetries"
        );
        let ProcessedRecord::Failed { failed, .. } = &out[0] else {
            panic!()
        };
        assert_eq!(failed.attempts_made, 3);
    }
}

#[tokio::test]
async fn url_timeout_is_a_function_error() {
    let seen = Arc::new(Seen::default());
    let base = serve(seen.clone()).await;
    let t = targets(&format!("{base}/slow")).with_timeout(Duration::from_millis(300));
    let p = Pipeline::from_config(&lambda_config(Some("1"), &[]), &t).expect("pipeline");
    let started = std::time::Instant::now();
    let out = p.process(&ctx(), records(&["a"])).await;
    assert_eq!(summary(&out), vec![s("Lambda.FunctionError", "a")]);
    assert_eq!(seen.calls.load(Ordering::SeqCst), 2);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn records_are_split_into_invocations_by_buffer_size() {
    let seen = Arc::new(Seen::default());
    let base = serve(seen.clone()).await;
    let url = format!("{base}/2015-03-31/functions/function/invocations");
    // 0.001 MB = 1048 bytes of data per invocation: two 500-byte records each.
    let p = Pipeline::from_config(
        &lambda_config(None, &[("BufferSizeInMBs", "0.001")]),
        &targets(&url),
    )
    .expect("pipeline");
    let big = "ok:".to_string() + &"x".repeat(497);
    let out = p
        .process(&ctx(), records(&[&big, &big, &big, "drop", "ok:y"]))
        .await;
    assert_eq!(out.len(), 5);
    assert!(matches!(out[3], ProcessedRecord::Dropped { .. }));
    let mut per_call: Vec<usize> = seen
        .events
        .lock()
        .iter()
        .map(|e| e["records"].as_array().map_or(0, Vec::len))
        .collect();
    per_call.sort(); // invocations run concurrently
    assert_eq!(per_call, [2, 3]);
}

/// The same function as a command: python3 reading stdin, writing stdout.
const PY_FUNCTION: &str = r#"
import base64, json, sys
event = json.load(sys.stdin)
out = []
for r in event["records"]:
    rid, raw = r["recordId"], r["data"]
    text = base64.b64decode(raw).decode()
    if text == "drop":
        out.append({"recordId": rid, "result": "Dropped"})
    elif text == "fail":
        out.append({"recordId": rid, "result": "ProcessingFailed", "data": raw})
    elif text == "dup":
        out += [{"recordId": rid, "result": "Ok", "data": raw}] * 2
    elif text == "missing":
        out.append({"recordId": "not-an-input-id", "result": "Ok", "data": raw})
    elif text == "nodata":
        out.append({"recordId": rid, "result": "Ok"})
    elif text == "badresult":
        out.append({"recordId": rid, "result": "Maybe", "data": raw})
    else:
        body = text[3:] if text.startswith("ok:") else text
        out.append({"recordId": rid, "result": "Ok",
                    "data": base64.b64encode(body.upper().encode()).decode(),
                    "metadata": {"partitionKeys": {"src": event["deliveryStreamArn"][-2:]}}})
json.dump({"records": out}, sys.stdout)
"#;

#[tokio::test]
async fn command_function_answers_ok_dropped_and_failed_per_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("fn.py");
    std::fs::write(&script, PY_FUNCTION).expect("write");
    let target = format!("cmd:python3 {}", script.display());
    let p = Pipeline::from_config(&lambda_config(None, &[]), &targets(&target)).expect("pipeline");
    let out = p.process(&ctx(), records(MIXED)).await;
    assert_eq!(summary(&out), mixed_expected());
    let ProcessedRecord::Ok { partition_keys, .. } = &out[0] else {
        panic!()
    };
    assert_eq!(partition_keys.get("src").map(String::as_str), Some("ds"));
}

#[tokio::test]
async fn command_failing_once_is_retried_and_a_failing_one_exhausts_retries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let py = dir.path().join("fn.py");
    std::fs::write(&py, PY_FUNCTION).expect("write");
    let marker = dir.path().join("ran-once");
    let calls = dir.path().join("calls");
    // Fails (exit 3, after consuming its input) the first time, answers after.
    let flaky = format!(
        "echo x >> {calls}; if [ -e {m} ]; then python3 {py}; else touch {m}; cat > /dev/null; echo boom >&2; exit 3; fi",
        calls = calls.display(),
        m = marker.display(),
        py = py.display()
    );
    let p = Pipeline::from_config(
        &lambda_config(Some("3"), &[]),
        &targets(&format!("cmd:{flaky}")),
    )
    .expect("pipeline");
    let out = p.process(&ctx(), records(&["ok:a"])).await;
    assert_eq!(summary(&out), vec![s("ok", "A")]);
    assert_eq!(
        std::fs::read_to_string(&calls)
            .expect("calls")
            .lines()
            .count(),
        2
    );

    // Always exits non-zero: 1 + NumberOfRetries attempts, stderr in the message.
    std::fs::remove_file(&calls).expect("rm");
    let failing = format!("echo x >> {}; echo 'it broke' >&2; exit 1", calls.display());
    let p = Pipeline::from_config(
        &lambda_config(Some("2"), &[]),
        &targets(&format!("cmd:{failing}")),
    )
    .expect("pipeline");
    let out = p.process(&ctx(), records(&["a", "b"])).await;
    assert_eq!(
        summary(&out),
        vec![
            s("Lambda.FunctionError", "a"),
            s("Lambda.FunctionError", "b")
        ]
    );
    assert_eq!(
        std::fs::read_to_string(&calls)
            .expect("calls")
            .lines()
            .count(),
        3
    );
    let ProcessedRecord::Failed { failed, .. } = &out[0] else {
        panic!()
    };
    assert_eq!(failed.attempts_made, 3);
    assert!(
        failed.error_message.contains("it broke"),
        "{}",
        failed.error_message
    );
}

#[tokio::test]
async fn command_timeout_kills_the_process_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let survivor = dir.path().join("survived");
    // A background subshell outlives `sh` unless the whole group is killed.
    let cmd = format!("(sleep 2; touch {}) & wait", survivor.display());
    let t = targets(&format!("cmd:{cmd}")).with_timeout(Duration::from_millis(200));
    let p = Pipeline::from_config(&lambda_config(Some("0"), &[]), &t).expect("pipeline");
    let started = std::time::Instant::now();
    let out = p.process(&ctx(), records(&["a"])).await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(summary(&out), vec![s("Lambda.FunctionError", "a")]);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!survivor.exists(), "the command's children were not killed");
}

#[tokio::test]
async fn command_answer_over_6_mib_is_refused() {
    let cmd = "cat > /dev/null; head -c 7000000 /dev/zero";
    let p = Pipeline::from_config(
        &lambda_config(Some("0"), &[]),
        &targets(&format!("cmd:{cmd}")),
    )
    .expect("pipeline");
    let out = p.process(&ctx(), records(&["a"])).await;
    assert_eq!(summary(&out), vec![s("Lambda.FunctionError", "a")]);
}
