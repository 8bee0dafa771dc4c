//! The Kinesis JSON wire protocol as `riffle bench` speaks it: raw HTTP with
//! hand-built bodies, so the client costs the same against every server.

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::time::{Duration, Instant};

/// Well-formed SigV4 shape; servers that check only the format accept it.
const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Clone)]
pub struct Wire {
    client: reqwest::Client,
    endpoint: String,
    signer: Option<std::sync::Arc<Signer>>,
}

/// Real SigV4 signatures (riffle-auth's canonical form, the same the
/// verifier computes), for servers in enforce mode.
struct Signer {
    access_key_id: String,
    secret: String,
    region: String,
    /// `host[:port]` of the endpoint, as the client sends it.
    host: String,
}

impl Signer {
    /// `(x-amz-date, authorization)` for one request.
    fn sign(&self, target: &str, body: &[u8]) -> Result<(String, String)> {
        let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let authorization = crate::aws_call::authorization(
            &crate::aws_call::Signing {
                access_key_id: &self.access_key_id,
                secret: &self.secret,
                session_token: None,
                region: &self.region,
                service: "kinesis",
                host: &self.host,
            },
            target,
            &date,
            body,
        )?;
        Ok((date, authorization))
    }
}

/// A non-200 answer.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub error_type: String,
    pub body: String,
}

impl Refused {
    /// Worth retrying after a pause: throttling or a transient server error.
    pub fn retryable(&self) -> bool {
        self.status >= 500
            || self.error_type.contains("ProvisionedThroughputExceeded")
            || self.error_type.contains("LimitExceeded")
            || self.error_type.contains("ResourceInUse")
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.body)
    }
}

impl Wire {
    pub fn new(endpoint: &str, http2: bool) -> Result<Wire> {
        let mut b = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30));
        if http2 {
            b = b.http2_prior_knowledge();
        } else {
            b = b.http1_only();
        }
        Ok(Wire {
            client: b.build().context("cannot build the HTTP client")?,
            endpoint: endpoint.to_string(),
            signer: None,
        })
    }

    /// Signs every request as `access_key_id` with real SigV4.
    pub fn signed(mut self, access_key_id: &str, secret: &str, region: &str) -> Result<Wire> {
        let url = reqwest::Url::parse(&self.endpoint)
            .with_context(|| format!("bad endpoint {}", self.endpoint))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => bail!("endpoint {} names no host", self.endpoint),
        };
        self.signer = Some(std::sync::Arc::new(Signer {
            access_key_id: access_key_id.to_string(),
            secret: secret.to_string(),
            region: region.to_string(),
            host,
        }));
        Ok(self)
    }

    fn request(&self, op: &str, body: Vec<u8>) -> Result<reqwest::RequestBuilder> {
        let target = format!("Kinesis_20131202.{op}");
        let (date, authorization) = match &self.signer {
            Some(s) => s.sign(&target, &body)?,
            None => ("20260101T000000Z".to_string(), AUTHORIZATION.to_string()),
        };
        Ok(self
            .client
            .post(&self.endpoint)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .header("x-amz-date", date)
            .header("authorization", authorization)
            .body(body))
    }

    /// One call; `Ok(Err(_))` is a well-formed refusal, `Err` a transport failure.
    pub async fn call(&self, op: &str, body: Vec<u8>) -> Result<Result<Bytes, Refused>> {
        let resp = self
            .request(op, body)?
            .send()
            .await
            .with_context(|| format!("{op} to {}", self.endpoint))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.with_context(|| format!("{op} body"))?;
        if status == 200 {
            return Ok(Ok(bytes));
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let error_type = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["__type"].as_str().map(str::to_string))
            .unwrap_or_default();
        Ok(Err(Refused {
            status,
            error_type,
            body: text,
        }))
    }

    /// A control-plane call that must succeed (retrying throttling).
    pub async fn control(&self, op: &str, body: &Value) -> Result<Value> {
        let raw = serde_json::to_vec(body)?;
        for attempt in 0.. {
            match self.call(op, raw.clone()).await? {
                Ok(b) if b.is_empty() => return Ok(Value::Null),
                Ok(b) => return serde_json::from_slice(&b).with_context(|| format!("{op} reply")),
                Err(r) if r.retryable() && attempt < 50 => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(r) => bail!("{op}: {r}"),
            }
        }
        bail!("{op}: gave up")
    }

    /// A streamed response (SubscribeToShard).
    pub async fn stream(
        &self,
        op: &str,
        body: &Value,
    ) -> Result<Result<reqwest::Response, Refused>> {
        let resp = self
            .request(op, serde_json::to_vec(body)?)?
            .send()
            .await
            .with_context(|| format!("{op} to {}", self.endpoint))?;
        if resp.status().as_u16() == 200 {
            return Ok(Ok(resp));
        }
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap_or_default();
        let error_type = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["__type"].as_str().map(str::to_string))
            .unwrap_or_default();
        Ok(Err(Refused {
            status,
            error_type,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }))
    }

    pub async fn create_stream(&self, stream: &str, shards: u32) -> Result<()> {
        self.control(
            "CreateStream",
            &json!({"StreamName": stream, "ShardCount": shards}),
        )
        .await
        .map(|_| ())
    }

    /// StartStreamEncryption with a KMS key id or alias (encryption at rest).
    pub async fn start_stream_encryption(&self, stream: &str, key_id: &str) -> Result<()> {
        self.control(
            "StartStreamEncryption",
            &json!({"StreamName": stream, "EncryptionType": "KMS", "KeyId": key_id}),
        )
        .await
        .map(|_| ())
    }

    /// Waits for ACTIVE; returns the stream ARN.
    pub async fn wait_active(&self, stream: &str, within: Duration) -> Result<String> {
        let deadline = Instant::now() + within;
        loop {
            let d = self
                .control("DescribeStream", &json!({"StreamName": stream, "Limit": 1}))
                .await?;
            let desc = &d["StreamDescription"];
            if desc["StreamStatus"] == "ACTIVE" {
                return Ok(desc["StreamARN"].as_str().unwrap_or_default().to_string());
            }
            if Instant::now() > deadline {
                bail!("stream {stream} is not ACTIVE after {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The stream's open shards, in id order.
    pub async fn list_shards(&self, stream: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut body = json!({"StreamName": stream});
        loop {
            let v = self.control("ListShards", &body).await?;
            for s in v["Shards"].as_array().into_iter().flatten() {
                let open = s["SequenceNumberRange"]["EndingSequenceNumber"].is_null();
                if let (Some(id), true) = (s["ShardId"].as_str(), open) {
                    out.push(id.to_string());
                }
            }
            match v["NextToken"].as_str() {
                Some(t) => body = json!({"NextToken": t}),
                None => break,
            }
        }
        out.sort();
        if out.is_empty() {
            bail!("stream {stream} has no open shards");
        }
        Ok(out)
    }

    pub async fn shard_iterator(&self, stream: &str, shard: &str) -> Result<String> {
        let v = self
            .control(
                "GetShardIterator",
                &json!({"StreamName": stream, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}),
            )
            .await?;
        v["ShardIterator"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("GetShardIterator returned no iterator"))
    }

    /// Registers (or finds) a consumer and waits for it to be ACTIVE; returns its ARN.
    pub async fn consumer(&self, stream_arn: &str, name: &str) -> Result<String> {
        let body = json!({"StreamARN": stream_arn, "ConsumerName": name});
        let raw = serde_json::to_vec(&body)?;
        let arn = match self.call("RegisterStreamConsumer", raw).await? {
            Ok(b) => serde_json::from_slice::<Value>(&b)?["Consumer"]["ConsumerARN"]
                .as_str()
                .map(str::to_string),
            Err(r) if r.error_type.contains("ResourceInUse") => None,
            Err(r) => bail!("RegisterStreamConsumer: {r}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let q = match &arn {
                Some(a) => json!({"ConsumerARN": a}),
                None => body.clone(),
            };
            let d = self.control("DescribeStreamConsumer", &q).await?;
            let desc = &d["ConsumerDescription"];
            if desc["ConsumerStatus"] == "ACTIVE" {
                return desc["ConsumerARN"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| anyhow!("DescribeStreamConsumer returned no ARN"));
            }
            if Instant::now() > deadline {
                bail!("consumer {name} is not ACTIVE after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn delete_stream(&self, stream: &str) -> Result<()> {
        self.control(
            "DeleteStream",
            &json!({"StreamName": stream, "EnforceConsumerDeletion": true}),
        )
        .await
        .map(|_| ())
    }
}

/// `"text"` as a JSON string literal.
pub fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

#[derive(Deserialize)]
pub struct PutRecordsOut {
    #[serde(rename = "FailedRecordCount", default)]
    pub failed: u64,
    #[serde(rename = "Records", default)]
    pub records: Vec<PutResult>,
}

#[derive(Deserialize)]
pub struct PutResult {
    #[serde(rename = "ErrorCode", default)]
    pub error_code: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
pub struct RecordOut<'a> {
    #[serde(rename = "Data", borrow)]
    pub data: Cow<'a, str>,
}

#[derive(Deserialize)]
pub struct GetRecordsOut<'a> {
    #[serde(rename = "Records", borrow, default)]
    pub records: Vec<RecordOut<'a>>,
    #[serde(rename = "NextShardIterator", default)]
    pub next: Option<String>,
    #[serde(rename = "MillisBehindLatest", default)]
    pub behind: Option<u64>,
}

#[derive(Deserialize)]
pub struct SubscribeEventOut<'a> {
    #[serde(rename = "Records", borrow, default)]
    pub records: Vec<RecordOut<'a>>,
    #[serde(rename = "ContinuationSequenceNumber", default)]
    pub continuation: Option<String>,
}
