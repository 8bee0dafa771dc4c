//! The `Lambda` processor: Firehose's data-transformation contract, with
//! the function run where the operator says ([`FunctionTargets`]).
//!
//! Request (aws-lambda-go `events/firehose.go`):
//! `{invocationId, deliveryStreamArn, region, sourceKinesisStreamArn?,
//! records:[{recordId, approximateArrivalTimestamp (epoch ms), data (base64),
//! kinesisRecordMetadata?}]}`; answer `{records:[{recordId, result
//! (Ok|Dropped|ProcessingFailed), data (base64), metadata?{partitionKeys}}]}`.
//!
//! Failure codes written to the `processing-failed` error output. Those in
//! AWS's "Lambda invocation errors" table (Firehose guide,
//! `monitoring-with-cloudwatch-logs`) keep AWS's code and message; the
//! messages of `MissingRecordId` and `DuplicatedRecordId` are spelled as
//! real processing-failed records show them ("record Id(s)").
//!
//! | situation | code | retried |
//! |---|---|---|
//! | no `--function` mapping for the ARN | `Lambda.ResourceNotFound` | no |
//! | URL answers 404 / 403 / 429 | `Lambda.ResourceNotFound` / `Lambda.InvokeAccessDenied` / `Lambda.InvokeLimitExceeded` | yes |
//! | connection error, other non-2xx | `Lambda.ServiceException` (UNVERIFIED: Riffle's name) | yes |
//! | function error (`X-Amz-Function-Error`, an `errorMessage` body, non-zero exit), timeout, answer over 6 MiB | `Lambda.FunctionError` (UNVERIFIED: seen in captures, not in AWS's table) | yes |
//! | answer not JSON, not `{records:[...]}`, a record without a valid `result`, `Ok` without valid base64 `data` | `Lambda.JsonProcessingException` | no |
//! | a recordId not returned (or replaced by an unknown one) | `Lambda.MissingRecordId` | no |
//! | a recordId returned twice | `Lambda.DuplicatedRecordId` | no |
//! | `result: ProcessingFailed` | `Lambda.ProcessingFailedStatus`, "ProcessingFailed status set for record" | no |
//!
//! An invocation is attempted `1 + NumberOfRetries` times (AWS: "retries
//! the invocation three times by default"), each with a fresh
//! `invocationId` and the same record ids, with exponential backoff from
//! [`FunctionTargets::with_retry_backoff`].

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::{now_ms, BatchContext, InRecord, ProcessedRecord};
use crate::destination::FailedRecord;

/// AWS Lambda's synchronous payload limit, each way.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
/// Default `BufferSizeInMBs` (1 MiB of record data per invocation).
pub const DEFAULT_BUFFER_SIZE_BYTES: usize = 1024 * 1024;
/// Default `BufferIntervalInSeconds`.
pub const DEFAULT_BUFFER_INTERVAL: Duration = Duration::from_secs(60);
/// Default `NumberOfRetries`.
pub const DEFAULT_RETRIES: u32 = 3;
/// Default time an invocation may take: Lambda's maximum function timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Invocations of one batch running at once (results keep input order).
pub const MAX_CONCURRENT_INVOCATIONS: usize = 4;
/// Stderr kept from a command for the error message.
const STDERR_TAIL: usize = 2048;

pub const RESOURCE_NOT_FOUND: &str = "Lambda.ResourceNotFound";
pub const INVOKE_ACCESS_DENIED: &str = "Lambda.InvokeAccessDenied";
pub const INVOKE_LIMIT_EXCEEDED: &str = "Lambda.InvokeLimitExceeded";
pub const SERVICE_EXCEPTION: &str = "Lambda.ServiceException";
pub const FUNCTION_ERROR: &str = "Lambda.FunctionError";
pub const JSON_PROCESSING: &str = "Lambda.JsonProcessingException";
pub const MISSING_RECORD_ID: &str = "Lambda.MissingRecordId";
pub const DUPLICATED_RECORD_ID: &str = "Lambda.DuplicatedRecordId";
pub const PROCESSING_FAILED_STATUS: &str = "Lambda.ProcessingFailedStatus";

const MSG_RESOURCE_NOT_FOUND: &str =
    "The specified Lambda function does not exist. Use a different function that does exist.";
const MSG_ACCESS_DENIED: &str =
    "Access was denied. Ensure that the access policy allows access to the Lambda function.";
const MSG_LIMIT: &str =
    "The Lambda concurrent execution limit is exceeded. Increase the concurrent execution limit.";
const MSG_JSON: &str = "There was an error parsing returned records from the Lambda function. \
     Ensure that the returned records follow the status model required by Firehose.";
const MSG_MISSING: &str = "One or more record Ids were not returned. \
     Ensure that the Lambda function returns all received record Ids.";
const MSG_DUPLICATED: &str = "Multiple records were returned with the same record Id. \
     Ensure that the Lambda function returns a unique record Id for each record.";
const MSG_PROCESSING_FAILED: &str = "ProcessingFailed status set for record";

/// Where a function runs.
///
/// Parsed from the target half of `--function ARN=TARGET`:
/// * `http://…` or `https://…`: POST the event JSON to the URL and read the
///   answer JSON from the response body. The Lambda runtime interface
///   emulator's `http://HOST:PORT/2015-03-31/functions/function/invocations`
///   is such a URL, so a real Lambda container image runs locally.
/// * `cmd:COMMAND`: run `sh -c COMMAND` with the event JSON on stdin; the
///   answer JSON is its stdout; a non-zero exit is a function error. The
///   whole process group is killed on timeout or an answer over 6 MiB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Url(String),
    Command(String),
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.starts_with("http://") || s.starts_with("https://") {
            Ok(Target::Url(s.to_owned()))
        } else if let Some(cmd) = s.strip_prefix("cmd:") {
            if cmd.trim().is_empty() {
                Err("function target cmd: needs a command".into())
            } else {
                Ok(Target::Command(cmd.to_owned()))
            }
        } else {
            Err(format!(
                "function target {s:?} must start with http://, https:// or cmd:"
            ))
        }
    }
}

/// The operator's map from Lambda functions to [`Target`]s (repeatable
/// `--function ARN=TARGET`, or a config-file table), and how invocations run.
///
/// A key may be a full function ARN (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`),
/// a qualified one (`…:NAME:ALIAS` or `…:NAME:3`), or a bare function name.
/// A processor's `LambdaArn` is looked up as given, then without its
/// qualifier, then by function name alone: a bare name serves every
/// region, account and alias.
#[derive(Clone, Debug)]
pub struct FunctionTargets {
    targets: HashMap<String, Target>,
    timeout: Duration,
    retry_backoff: Duration,
}

impl Default for FunctionTargets {
    fn default() -> Self {
        FunctionTargets {
            targets: HashMap::new(),
            timeout: DEFAULT_TIMEOUT,
            retry_backoff: Duration::from_secs(1),
        }
    }
}

impl FunctionTargets {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one mapping (config-file table entries).
    pub fn insert(&mut self, function: impl Into<String>, target: Target) {
        self.targets.insert(function.into(), target);
    }

    /// Adds one `ARN=TARGET` flag value (the first `=` separates: ARNs and
    /// names have none).
    pub fn add_flag(&mut self, flag: &str) -> Result<(), String> {
        let (function, target) = flag
            .split_once('=')
            .ok_or_else(|| format!("--function {flag:?}: expected FUNCTION=TARGET"))?;
        if function.is_empty() {
            return Err(format!("--function {flag:?}: the function is empty"));
        }
        self.insert(function, target.parse()?);
        Ok(())
    }

    /// All the `--function` values at once.
    pub fn from_flags<'a>(flags: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut t = Self::new();
        for f in flags {
            t.add_flag(f)?;
        }
        Ok(t)
    }

    /// How long one invocation may take (default 5 minutes, Lambda's maximum).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The wait before the first retry, doubled for each next one (capped at
    /// 30 s; default 1 s).
    pub fn with_retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The target for a processor's `LambdaArn`, if mapped.
    pub fn resolve(&self, function: &str) -> Option<&Target> {
        if let Some(t) = self.targets.get(function) {
            return Some(t);
        }
        let (unqualified, name) = split_function_arn(function)?;
        self.targets
            .get(unqualified)
            .or_else(|| self.targets.get(name))
    }
}

/// `(ARN without qualifier, function name)` of a Lambda function ARN.
fn split_function_arn(arn: &str) -> Option<(&str, &str)> {
    // arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
    let parts: Vec<&str> = arn.splitn(8, ':').collect();
    if parts.len() < 7 || parts[0] != "arn" || parts[2] != "lambda" || parts[5] != "function" {
        return None;
    }
    let name = parts[6];
    let unqualified_len = parts[..7].iter().map(|p| p.len() + 1).sum::<usize>() - 1;
    Some((&arn[..unqualified_len], name))
}

/// Why an invocation produced no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvokeError {
    pub code: &'static str,
    pub message: String,
    /// Worth another attempt (transport, throttling, function errors).
    pub retriable: bool,
}

impl InvokeError {
    fn new(code: &'static str, message: impl Into<String>, retriable: bool) -> Self {
        InvokeError {
            code,
            message: message.into(),
            retriable,
        }
    }
}

/// A configured `Lambda` processor.
#[derive(Clone, Debug)]
pub struct LambdaProcessor {
    arn: String,
    target: Option<Target>,
    retries: u32,
    buffer_size_bytes: usize,
    buffer_interval: Duration,
    timeout: Duration,
    retry_backoff: Duration,
    client: reqwest::Client,
}

/// One record of the event, borrowed from the batch.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventRecord<'a> {
    record_id: &'a str,
    approximate_arrival_timestamp: i64,
    data: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kinesis_record_metadata: Option<EventKinesisMetadata<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventKinesisMetadata<'a> {
    shard_id: &'a str,
    partition_key: &'a str,
    approximate_arrival_timestamp: i64,
    sequence_number: &'a str,
    subsequence_number: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    invocation_id: String,
    delivery_stream_arn: &'a str,
    region: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_kinesis_stream_arn: Option<&'a str>,
    records: &'a [EventRecord<'a>],
}

impl LambdaProcessor {
    /// `LambdaArn` is required; `NumberOfRetries`, `BufferSizeInMBs` and
    /// `BufferIntervalInSeconds` default as AWS documents (3, 1 MB, 60 s).
    /// An ARN without a mapping is accepted: its records fail with
    /// `Lambda.ResourceNotFound` until the operator maps it.
    pub fn new(
        params: &[(String, String)],
        targets: &FunctionTargets,
    ) -> Result<LambdaProcessor, String> {
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let arn = get("LambdaArn")
            .ok_or("the Lambda processor requires the LambdaArn parameter")?
            .to_owned();
        let retries = match get("NumberOfRetries") {
            Some(v) => v
                .parse::<u32>()
                .map_err(|_| format!("NumberOfRetries {v:?} is not a whole number"))?,
            None => DEFAULT_RETRIES,
        };
        let buffer_size_bytes = match get("BufferSizeInMBs") {
            Some(v) => {
                let mb = v
                    .parse::<f64>()
                    .ok()
                    .filter(|mb| mb.is_finite() && *mb > 0.0)
                    .ok_or_else(|| format!("BufferSizeInMBs {v:?} is not a positive number"))?;
                ((mb * 1024.0 * 1024.0) as usize).clamp(1, MAX_PAYLOAD_BYTES)
            }
            None => DEFAULT_BUFFER_SIZE_BYTES,
        };
        let buffer_interval = match get("BufferIntervalInSeconds") {
            Some(v) => Duration::from_secs(
                v.parse::<u64>()
                    .map_err(|_| format!("BufferIntervalInSeconds {v:?} is not a whole number"))?,
            ),
            None => DEFAULT_BUFFER_INTERVAL,
        };
        let client = reqwest::Client::builder()
            .timeout(targets.timeout)
            .build()
            .map_err(|e| format!("HTTP client for Lambda targets: {e}"))?;
        Ok(LambdaProcessor {
            target: targets.resolve(&arn).cloned(),
            arn,
            retries,
            buffer_size_bytes,
            buffer_interval,
            timeout: targets.timeout,
            retry_backoff: targets.retry_backoff,
            client,
        })
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// `BufferSizeInMBs` in bytes: at most this much record data goes to one
    /// invocation (and never more than Lambda's 6 MiB payload).
    pub fn buffer_size_bytes(&self) -> usize {
        self.buffer_size_bytes
    }

    /// `BufferIntervalInSeconds`. Invocations happen when the delivery loop
    /// hands a batch over; the loop should hand over records at the latest
    /// this long after the oldest arrived (or when `buffer_size_bytes` of
    /// them are waiting), whichever of this and the destination's own
    /// buffering hints comes first.
    pub fn buffer_interval(&self) -> Duration {
        self.buffer_interval
    }

    /// Transforms `records`: one invocation per `BufferSizeInMBs` of data
    /// (up to [`MAX_CONCURRENT_INVOCATIONS`] at once), results in input
    /// order, one per input record.
    pub async fn process(
        &self,
        ctx: &BatchContext,
        records: Vec<InRecord>,
    ) -> Vec<ProcessedRecord> {
        use futures_util::StreamExt;
        let invocations = self.chunks(records).into_iter().map(|chunk| async move {
            let mut out = Vec::with_capacity(chunk.len());
            self.process_chunk(ctx, chunk, &mut out).await;
            out
        });
        let results: Vec<Vec<ProcessedRecord>> = futures_util::stream::iter(invocations)
            .buffered(MAX_CONCURRENT_INVOCATIONS)
            .collect()
            .await;
        results.into_iter().flatten().collect()
    }

    /// Splits by record data size (at least one record per invocation) and
    /// by the estimated event size against the 6 MiB payload limit.
    fn chunks(&self, records: Vec<InRecord>) -> Vec<Vec<InRecord>> {
        let mut chunks = Vec::new();
        let mut cur: Vec<InRecord> = Vec::new();
        let (mut data, mut payload) = (0usize, 0usize);
        for r in records {
            let d = r.data.len();
            let p = d.div_ceil(3) * 4 + r.record_id.len() + 400;
            if !cur.is_empty()
                && (data + d > self.buffer_size_bytes || payload + p > MAX_PAYLOAD_BYTES - 1024)
            {
                chunks.push(std::mem::take(&mut cur));
                (data, payload) = (0, 0);
            }
            data += d;
            payload += p;
            cur.push(r);
        }
        if !cur.is_empty() {
            chunks.push(cur);
        }
        chunks
    }

    async fn process_chunk(
        &self,
        ctx: &BatchContext,
        records: Vec<InRecord>,
        out: &mut Vec<ProcessedRecord>,
    ) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let event_records: Vec<EventRecord<'_>> = records
            .iter()
            .map(|r| EventRecord {
                record_id: &r.record_id,
                approximate_arrival_timestamp: r.arrival_ms,
                data: b64.encode(&r.data),
                kinesis_record_metadata: r.kinesis_metadata.as_ref().map(|m| {
                    EventKinesisMetadata {
                        shard_id: &m.shard_id,
                        partition_key: &m.partition_key,
                        approximate_arrival_timestamp: m.approximate_arrival_ms,
                        sequence_number: &m.sequence_number,
                        subsequence_number: m.subsequence_number,
                    }
                }),
            })
            .collect();

        let Some(target) = &self.target else {
            let err = InvokeError::new(RESOURCE_NOT_FOUND, MSG_RESOURCE_NOT_FOUND, false);
            tracing::warn!(lambda_arn = %self.arn, "no --function mapping for this Lambda ARN: {} records fail", records.len());
            return self.fail_all(records, &err, 1, out);
        };

        let mut attempts = 0u32;
        let mut backoff = self.retry_backoff;
        let answer = loop {
            attempts += 1;
            let event = Event {
                invocation_id: uuid::Uuid::new_v4().to_string(),
                delivery_stream_arn: &ctx.delivery_stream_arn,
                region: &ctx.region,
                source_kinesis_stream_arn: ctx.source_kinesis_stream_arn.as_deref(),
                records: &event_records,
            };
            let body = match serde_json::to_vec(&event) {
                Ok(b) => b,
                Err(e) => break Err(InvokeError::new(SERVICE_EXCEPTION, e.to_string(), false)),
            };
            match self.invoke(target, body).await {
                Ok(answer) => break Ok(answer),
                Err(e) if e.retriable && attempts <= self.retries => {
                    tracing::warn!(lambda_arn = %self.arn, attempt = attempts, code = e.code, "Lambda invocation failed, retrying: {}", e.message);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
                Err(e) => break Err(e),
            }
        };
        drop(event_records);
        match answer {
            Ok(answer) => self.apply(records, &answer, attempts, out),
            Err(e) => {
                tracing::warn!(lambda_arn = %self.arn, attempts, code = e.code, "Lambda invocation failed, {} records go to processing-failed: {}", records.len(), e.message);
                self.fail_all(records, &e, attempts, out)
            }
        }
    }

    /// Runs one invocation and returns the answer's bytes, or why there is
    /// none. Function errors (including an `errorMessage` body without
    /// `records`, as Lambda runtimes report them) are errors here.
    pub async fn invoke(&self, target: &Target, event: Vec<u8>) -> Result<Vec<u8>, InvokeError> {
        let answer = match target {
            Target::Url(url) => self.invoke_url(url, event).await?,
            Target::Command(cmd) => self.invoke_command(cmd, event).await?,
        };
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&answer) {
            if !m.contains_key("records") && m.contains_key("errorMessage") {
                let msg = m
                    .get("errorMessage")
                    .map(Value::to_string)
                    .unwrap_or_default();
                return Err(InvokeError::new(
                    FUNCTION_ERROR,
                    format!("The Lambda function was successfully invoked but it returned an error result: {msg}"),
                    true,
                ));
            }
        }
        Ok(answer)
    }

    async fn invoke_url(&self, url: &str, event: Vec<u8>) -> Result<Vec<u8>, InvokeError> {
        let mut resp = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(event)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let function_error = resp
            .headers()
            .get("x-amz-function-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport_error(e))? {
            if body.len() + chunk.len() > MAX_PAYLOAD_BYTES {
                return Err(InvokeError::new(
                    FUNCTION_ERROR,
                    "The function's response is larger than the 6 MiB Lambda payload limit",
                    true,
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let snippet = || String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
        match status.as_u16() {
            200..=299 => {
                if let Some(kind) = function_error {
                    return Err(InvokeError::new(
                        FUNCTION_ERROR,
                        format!("The Lambda function was successfully invoked but it returned an error result ({kind}): {}", snippet()),
                        true,
                    ));
                }
                Ok(body)
            }
            403 => Err(InvokeError::new(
                INVOKE_ACCESS_DENIED,
                MSG_ACCESS_DENIED,
                true,
            )),
            404 => Err(InvokeError::new(
                RESOURCE_NOT_FOUND,
                MSG_RESOURCE_NOT_FOUND,
                true,
            )),
            429 => Err(InvokeError::new(INVOKE_LIMIT_EXCEEDED, MSG_LIMIT, true)),
            s => Err(InvokeError::new(
                SERVICE_EXCEPTION,
                format!("The function URL answered HTTP {s}: {}", snippet()),
                true,
            )),
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> InvokeError {
        if e.is_timeout() {
            InvokeError::new(
                FUNCTION_ERROR,
                format!("The function did not answer within {:?}", self.timeout),
                true,
            )
        } else {
            InvokeError::new(
                SERVICE_EXCEPTION,
                format!("Invoking the function URL failed: {e}"),
                true,
            )
        }
    }

    async fn invoke_command(&self, command: &str, event: Vec<u8>) -> Result<Vec<u8>, InvokeError> {
        let spawn_err = |e: std::io::Error| {
            InvokeError::new(
                SERVICE_EXCEPTION,
                format!("Running `{command}` failed: {e}"),
                true,
            )
        };
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .map_err(spawn_err)?;
        let pid = child.id();
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(InvokeError::new(
                SERVICE_EXCEPTION,
                "no pipes to the command",
                true,
            ));
        };
        let work = async {
            let write = async {
                // A command may answer without reading all of its input.
                let _ = stdin.write_all(&event).await;
                drop(stdin);
                Ok::<_, InvokeError>(())
            };
            let out = read_bounded(stdout, MAX_PAYLOAD_BYTES);
            let err = async { Ok(read_tail(stderr, STDERR_TAIL).await) };
            let status = async { child.wait().await.map_err(spawn_err) };
            tokio::try_join!(write, out, err, status)
        };
        let result = tokio::time::timeout(self.timeout, work).await;
        let outcome = match result {
            Ok(Ok(((), out, err, status))) => {
                if status.success() {
                    return Ok(out);
                }
                Err(InvokeError::new(
                    FUNCTION_ERROR,
                    format!(
                        "The function command exited with {status}: {}",
                        String::from_utf8_lossy(&err).trim()
                    ),
                    true,
                ))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(InvokeError::new(
                FUNCTION_ERROR,
                format!("The function did not answer within {:?}", self.timeout),
                true,
            )),
        };
        // Timed out or over-long answer: kill the whole group (`sh` and
        // whatever it started), then reap `sh`.
        if let Some(pid) = pid {
            let _ = tokio::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await;
        }
        let _ = child.kill().await;
        outcome
    }

    fn fail_all(
        &self,
        records: Vec<InRecord>,
        err: &InvokeError,
        attempts: u32,
        out: &mut Vec<ProcessedRecord>,
    ) {
        let now = now_ms();
        for r in records {
            out.push(self.failed(r, err.code, &err.message, attempts, now));
        }
    }

    fn failed(
        &self,
        r: InRecord,
        code: &str,
        message: &str,
        attempts: u32,
        now: i64,
    ) -> ProcessedRecord {
        ProcessedRecord::Failed {
            record_id: r.record_id,
            failed: FailedRecord {
                raw_data: r.data,
                arrival_ms: r.arrival_ms,
                attempts_made: attempts,
                attempt_ending_ms: now,
                error_code: code.to_owned(),
                error_message: message.to_owned(),
                extra: vec![("lambdaArn", self.arn.clone())],
            },
        }
    }

    /// Applies an answer to the records of its invocation.
    fn apply(
        &self,
        records: Vec<InRecord>,
        answer: &[u8],
        attempts: u32,
        out: &mut Vec<ProcessedRecord>,
    ) {
        let now = now_ms();
        let results = match serde_json::from_slice::<Value>(answer) {
            Ok(Value::Object(mut m)) => match m.remove("records") {
                Some(Value::Array(a)) => a,
                _ => {
                    let err = InvokeError::new(JSON_PROCESSING, MSG_JSON, false);
                    return self.fail_all(records, &err, attempts, out);
                }
            },
            _ => {
                let err = InvokeError::new(JSON_PROCESSING, MSG_JSON, false);
                return self.fail_all(records, &err, attempts, out);
            }
        };
        let mut by_id: HashMap<&str, Vec<&Value>> = HashMap::new();
        for r in &results {
            if let Some(id) = r.get("recordId").and_then(Value::as_str) {
                by_id.entry(id).or_default().push(r);
            }
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        for r in records {
            let verdict = match by_id.get(r.record_id.as_str()).map(Vec::as_slice) {
                None | Some([]) => Err((MISSING_RECORD_ID, MSG_MISSING)),
                Some([_, _, ..]) => Err((DUPLICATED_RECORD_ID, MSG_DUPLICATED)),
                Some([one]) => match one.get("result").and_then(Value::as_str) {
                    Some("Dropped") => Ok(None),
                    Some("ProcessingFailed") => {
                        Err((PROCESSING_FAILED_STATUS, MSG_PROCESSING_FAILED))
                    }
                    Some("Ok") => match one
                        .get("data")
                        .and_then(Value::as_str)
                        .map(|d| b64.decode(d))
                    {
                        Some(Ok(data)) => Ok(Some((data, partition_keys(one)))),
                        _ => Err((JSON_PROCESSING, MSG_JSON)),
                    },
                    _ => Err((JSON_PROCESSING, MSG_JSON)),
                },
            };
            out.push(match verdict {
                Ok(Some((data, partition_keys))) => ProcessedRecord::Ok {
                    record_id: r.record_id,
                    data: Bytes::from(data),
                    arrival_ms: r.arrival_ms,
                    partition_keys,
                },
                Ok(None) => ProcessedRecord::Dropped {
                    record_id: r.record_id,
                },
                Err((code, msg)) => self.failed(r, code, msg, attempts, now),
            });
        }
    }
}

/// `metadata.partitionKeys` (for `!{partitionKeyFromLambda:…}`); non-string
/// values keep their JSON text.
fn partition_keys(result: &Value) -> BTreeMap<String, String> {
    let Some(Value::Object(keys)) = result.get("metadata").and_then(|m| m.get("partitionKeys"))
    else {
        return BTreeMap::new();
    };
    keys.iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// Reads to EOF, failing once more than `max` bytes came.
async fn read_bounded(mut r: impl AsyncRead + Unpin, max: usize) -> Result<Vec<u8>, InvokeError> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut chunk).await.map_err(|e| {
            InvokeError::new(
                SERVICE_EXCEPTION,
                format!("reading the command's output: {e}"),
                true,
            )
        })?;
        if n == 0 {
            return Ok(buf);
        }
        if buf.len() + n > max {
            return Err(InvokeError::new(
                FUNCTION_ERROR,
                "The function's response is larger than the 6 MiB Lambda payload limit",
                true,
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads to EOF keeping only the last `keep` bytes (for error messages).
async fn read_tail(mut r: impl AsyncRead + Unpin, keep: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = r.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > keep {
            buf.drain(..buf.len() - keep);
        }
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_resolve() {
        let t = FunctionTargets::from_flags([
            "arn:aws:lambda:us-east-1:123456789012:function:exact=http://127.0.0.1:9000/2015-03-31/functions/function/invocations",
            "arn:aws:lambda:us-east-1:123456789012:function:qual:live=cmd:./live.sh",
            "byname=cmd:python3 t.py --flag=1",
        ])
        .expect("test");
        assert_eq!(
            t.resolve("arn:aws:lambda:us-east-1:123456789012:function:exact:7"),
            Some(&Target::Url(
                "http://127.0.0.1:9000/2015-03-31/functions/function/invocations".into()
            ))
        );
        assert_eq!(
            t.resolve("arn:aws:lambda:us-east-1:123456789012:function:qual:live"),
            Some(&Target::Command("./live.sh".into()))
        );
        assert_eq!(
            t.resolve("arn:aws:lambda:us-east-1:123456789012:function:qual"),
            None
        );
        assert_eq!(
            t.resolve("arn:aws:lambda:eu-west-1:000000000000:function:byname:$LATEST"),
            Some(&Target::Command("python3 t.py --flag=1".into()))
        );
        assert_eq!(
            t.resolve("byname"),
            Some(&Target::Command("python3 t.py --flag=1".into()))
        );
        assert_eq!(t.resolve("other"), None);
    }

    #[test]
    fn bad_flags_are_refused() {
        for bad in [
            "noequals",
            "=http://x",
            "f=ftp://x",
            "f=cmd:",
            "f=./script.sh",
        ] {
            assert!(FunctionTargets::from_flags([bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn parameters_default_and_parse() {
        let t = FunctionTargets::new();
        let p = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let l = LambdaProcessor::new(&p(&[("LambdaArn", "f")]), &t).expect("test");
        assert_eq!(l.retries, 3);
        assert_eq!(l.buffer_size_bytes(), 1024 * 1024);
        assert_eq!(l.buffer_interval(), Duration::from_secs(60));
        let l = LambdaProcessor::new(
            &p(&[
                ("LambdaArn", "f"),
                ("NumberOfRetries", "0"),
                ("BufferSizeInMBs", "0.25"),
                ("BufferIntervalInSeconds", "5"),
            ]),
            &t,
        )
        .expect("test");
        assert_eq!((l.retries, l.buffer_size_bytes()), (0, 256 * 1024));
        assert!(LambdaProcessor::new(&p(&[]), &t).is_err());
        assert!(
            LambdaProcessor::new(&p(&[("LambdaArn", "f"), ("BufferSizeInMBs", "-1")]), &t).is_err()
        );
        assert!(
            LambdaProcessor::new(&p(&[("LambdaArn", "f"), ("NumberOfRetries", "x")]), &t).is_err()
        );
    }

    #[test]
    fn chunks_follow_the_buffer_size() {
        let t = FunctionTargets::new();
        let params = vec![
            ("LambdaArn".to_string(), "f".to_string()),
            ("BufferSizeInMBs".to_string(), "0.001".to_string()), // 1048 bytes
        ];
        let l = LambdaProcessor::new(&params, &t).expect("test");
        let recs: Vec<InRecord> = (0..5)
            .map(|i| InRecord {
                record_id: i.to_string(),
                data: Bytes::from(vec![b'x'; 500]),
                arrival_ms: 0,
                kinesis_metadata: None,
            })
            .collect();
        let sizes: Vec<usize> = l.chunks(recs).iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
        // A record larger than the buffer still goes, alone.
        let big = vec![InRecord {
            record_id: "b".into(),
            data: Bytes::from(vec![0u8; 5000]),
            arrival_ms: 0,
            kinesis_metadata: None,
        }];
        assert_eq!(l.chunks(big).len(), 1);
    }
}
