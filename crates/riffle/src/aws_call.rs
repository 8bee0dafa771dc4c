//! A small AWS JSON-protocol client for Riffle's own commands (`riffle
//! firehose ...`): one POST per call with `X-Amz-Target`, signed with real
//! SigV4 when credentials are given (flags or the AWS_* environment
//! variables), else with a well-formed placeholder that open mode accepts.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// Placeholder `Authorization` for open mode (its form is checked, not its signature).
const UNSIGNED: &str = "AWS4-HMAC-SHA256 Credential=AKIDRIFFLE/20260101/us-east-1/firehose/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000";

pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Credentials {
    /// From the flags, else `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`.
    pub fn resolve(access_key_id: Option<String>, secret: Option<String>) -> Option<Self> {
        let ak = access_key_id.or_else(|| std::env::var("AWS_ACCESS_KEY_ID").ok())?;
        let sk = secret.or_else(|| std::env::var("AWS_SECRET_ACCESS_KEY").ok())?;
        Some(Credentials {
            access_key_id: ak,
            secret_access_key: sk,
            session_token: std::env::var("AWS_SESSION_TOKEN").ok(),
        })
    }
}

pub struct AwsClient {
    http: reqwest::Client,
    endpoint: String,
    host: String,
    region: String,
    /// SigV4 signing name, e.g. `firehose`.
    service: String,
    credentials: Option<Credentials>,
}

/// An AWS error answer: HTTP status, `__type` and message.
#[derive(Debug)]
pub struct AwsError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {}): {}", self.code, self.status, self.message)
    }
}

impl AwsClient {
    pub fn new(
        endpoint: &str,
        region: &str,
        service: &str,
        credentials: Option<Credentials>,
    ) -> Result<Self> {
        let url =
            reqwest::Url::parse(endpoint).with_context(|| format!("bad endpoint {endpoint}"))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => bail!("endpoint {endpoint} names no host"),
        };
        Ok(AwsClient {
            http: reqwest::Client::builder()
                .build()
                .context("cannot build the HTTP client")?,
            endpoint: endpoint.to_string(),
            host,
            region: region.to_string(),
            service: service.to_string(),
            credentials,
        })
    }

    /// One call of `target` (`Prefix.Operation`); `Ok(Err(_))` is AWS's refusal.
    pub async fn call(&self, target: &str, body: &Value) -> Result<Result<Value, AwsError>> {
        let body = serde_json::to_vec(body)?;
        let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let authorization = match &self.credentials {
            Some(c) => self.sign(c, target, &date, &body)?,
            None => UNSIGNED.to_string(),
        };
        let mut req = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .header("x-amz-date", &date)
            .header("authorization", authorization);
        if let Some(t) = self
            .credentials
            .as_ref()
            .and_then(|c| c.session_token.as_ref())
        {
            req = req.header("x-amz-security-token", t);
        }
        let resp = req.body(body).send().await.with_context(|| {
            format!(
                "cannot reach {} (is `riffle serve` running there?)",
                self.endpoint
            )
        })?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.context("reading the answer")?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status == 200 {
            return Ok(Ok(v));
        }
        let code = v["__type"]
            .as_str()
            .unwrap_or("")
            .rsplit('#')
            .next()
            .unwrap_or("")
            .to_string();
        let message = v["message"]
            .as_str()
            .or(v["Message"].as_str())
            .unwrap_or("")
            .to_string();
        Ok(Err(AwsError {
            status,
            code,
            message,
        }))
    }

    fn sign(&self, c: &Credentials, target: &str, date: &str, body: &[u8]) -> Result<String> {
        authorization(
            &Signing {
                access_key_id: &c.access_key_id,
                secret: &c.secret_access_key,
                session_token: c.session_token.as_deref(),
                region: &self.region,
                service: &self.service,
                host: &self.host,
            },
            target,
            date,
            body,
        )
    }
}

/// Who signs, and for what: the pieces of a SigV4 scope and the `Host` header.
pub struct Signing<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub session_token: Option<&'a str>,
    pub region: &'a str,
    /// The signing name, e.g. `kinesis` or `firehose`.
    pub service: &'a str,
    /// `host[:port]` as the client sends it.
    pub host: &'a str,
}

/// The `Authorization` header of an AWS JSON-protocol POST (content type,
/// host, date, token if any and target signed), in riffle-auth's canonical
/// form, the same the server's verifier computes. `date` is `x-amz-date`.
pub fn authorization(k: &Signing<'_>, target: &str, date: &str, body: &[u8]) -> Result<String> {
    use riffle_auth::sigv4::{canonicalize, sign, SignedRequest};
    let day = date.get(..8).unwrap_or(date);
    let signed_headers = if k.session_token.is_some() {
        "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
    } else {
        "content-type;host;x-amz-date;x-amz-target"
    };
    let scope = format!(
        "AWS4-HMAC-SHA256 Credential={}/{day}/{}/{}/aws4_request, SignedHeaders={signed_headers}, Signature=",
        k.access_key_id, k.region, k.service
    );
    let provisional = format!("{scope}{}", "0".repeat(64));
    let mut headers: Vec<(&str, &[u8])> = vec![
        ("content-type", b"application/x-amz-json-1.1"),
        ("host", k.host.as_bytes()),
        ("x-amz-date", date.as_bytes()),
    ];
    if let Some(t) = k.session_token {
        headers.push(("x-amz-security-token", t.as_bytes()));
    }
    headers.push(("x-amz-target", target.as_bytes()));
    headers.push(("authorization", provisional.as_bytes()));
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: None,
        headers: &headers,
        body,
    };
    let canonical = canonicalize(&req).map_err(|e| anyhow!("cannot sign: {}", e.message()))?;
    let signature = sign(
        k.secret,
        day,
        k.region,
        k.service,
        &canonical.string_to_sign,
    )
    .map_err(|e| anyhow!("cannot sign: {}", e.message()))?;
    Ok(format!("{scope}{signature}"))
}
