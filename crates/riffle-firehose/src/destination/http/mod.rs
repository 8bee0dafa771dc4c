//! The HTTP endpoint destination: the Firehose HTTP delivery contract
//! (Firehose guide, `httpdeliveryrequestresponse`; reference §5.10).
//!
//! One [`HttpDestination`] per delivery stream configuration. The delivery
//! loop hands it a batch (already processed, at most
//! [`MAX_RECORDS_PER_REQUEST`] records, sized by the buffering hints) and a
//! request id derived from the batch's identity in the buffer, so that the
//! id survives a restart; [`HttpDestination::deliver`] POSTs the batch and
//! retries it as AWS does until it is delivered, refused for good (413) or
//! the retry duration is spent. A failed batch becomes
//! [`FailedRecord`]s for the `http-endpoint-failed` error output with
//! [`DeliveryFailure::failed_records`].
//!
//! Departures from AWS, on purpose: plain `http://` URLs and any port are
//! accepted (AWS wants HTTPS on 443) so that local endpoints work; the
//! timings can be shrunk with a [`RetryPolicy`] for tests.

mod request;
mod response;
mod retry;

use std::error::Error as StdError;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use riffle_model::firehose::HttpEndpointDestinationConfiguration;

pub use request::{
    HEADER_ACCESS_KEY, HEADER_COMMON_ATTRIBUTES, HEADER_PROTOCOL_VERSION, HEADER_REQUEST_ID,
    HEADER_SOURCE_ARN, PROTOCOL_VERSION,
};
pub use response::{AttemptError, ErrorCode, MAX_RESPONSE_BYTES};
pub use retry::{
    RetryPolicy, DEFAULT_INITIAL_BACKOFF, DEFAULT_MAX_BACKOFF, DEFAULT_RESPONSE_TIMEOUT,
    DEFAULT_RETRY_DURATION,
};

use super::FailedRecord;
use crate::FirehoseError;

/// AWS's limit of records in one request body (`records` has 1..10000
/// entries). The caller splits larger batches.
pub const MAX_RECORDS_PER_REQUEST: usize = 10_000;

/// The error output type of this destination (`!{firehose:error-output-type}`).
pub const ERROR_OUTPUT_TYPE: &str = "http-endpoint-failed";

/// How a batch ended.
#[derive(Clone, Debug, PartialEq)]
pub enum DeliveryOutcome {
    /// The endpoint answered 200 with its `requestId` on attempt `attempts`.
    Delivered { attempts: u32 },
    /// Given up: 413, or the retry duration is spent.
    Failed(DeliveryFailure),
}

/// The last error of a batch that could not be delivered.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryFailure {
    /// Attempts made (the first one included).
    pub attempts: u32,
    pub error_code: ErrorCode,
    /// AWS's wording of the last error (goes into the error records).
    pub error_message: String,
    /// The endpoint's last status, if it answered.
    pub status: Option<u16>,
    /// 413: AWS neither retries the batch nor writes it to the error output.
    pub permanent: bool,
    /// Epoch milliseconds when the last attempt ended.
    pub attempt_ending_ms: i64,
    /// What exactly went wrong last, for logs (AWS's message is generic).
    pub detail: String,
}

/// Where a record came from, for the `dataId`/`subsequenceNumber` fields of
/// its error record (`"dataId":"<sequence>.<subsequence>"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordRef {
    /// The record's sequence number or buffer position, as a decimal string.
    pub sequence: String,
    /// Its index inside a KPL aggregate; 0 otherwise.
    pub subsequence: u64,
}

impl DeliveryFailure {
    /// The error records for `http-endpoint-failed/`, one per record:
    /// `attemptsMade`, `arrivalTimestamp`, `errorCode`, `errorMessage`,
    /// `attemptEndingTimestamp`, `rawData`, plus `subsequenceNumber` and
    /// `dataId` in `extra` (in AWS's order). `records`, `arrival_ms` and
    /// `refs` are parallel slices (the shortest one bounds the output).
    /// The `subsequenceNumber` extra is a decimal string: AWS writes it as
    /// a JSON number.
    pub fn failed_records(
        &self,
        records: &[Bytes],
        arrival_ms: &[i64],
        refs: &[RecordRef],
    ) -> Vec<FailedRecord> {
        debug_assert!(records.len() == arrival_ms.len() && records.len() == refs.len());
        records
            .iter()
            .zip(arrival_ms)
            .zip(refs)
            .map(|((raw, &arrival), r)| FailedRecord {
                raw_data: raw.clone(),
                arrival_ms: arrival,
                attempts_made: self.attempts,
                attempt_ending_ms: self.attempt_ending_ms,
                error_code: self.error_code.as_str().to_owned(),
                error_message: self.error_message.clone(),
                extra: vec![
                    ("subsequenceNumber", r.subsequence.to_string()),
                    ("dataId", format!("{}.{}", r.sequence, r.subsequence)),
                ],
            })
            .collect()
    }
}

/// How Riffle reaches HTTP endpoints, beyond the delivery stream's
/// configuration: timings, and CAs to trust besides the system's (a local
/// endpoint with a private CA; AWS only reaches public certificates).
#[derive(Clone, Debug, Default)]
pub struct HttpOptions {
    pub retry: RetryPolicy,
    /// PEM bundle of extra trusted root certificates.
    pub extra_root_ca_pem: Option<Vec<u8>>,
}

/// A configured HTTP endpoint. Cheap to share (`reqwest::Client` pools
/// connections inside); `deliver` holds no state between calls and may be
/// cancelled by dropping its future.
pub struct HttpDestination {
    client: reqwest::Client,
    url: reqwest::Url,
    /// Every header but the request id (access key marked sensitive).
    headers: HeaderMap,
    gzip: bool,
    source_arn: String,
    endpoint_name: Option<String>,
    retry_duration: Duration,
    policy: RetryPolicy,
}

impl std::fmt::Debug for HttpDestination {
    // By hand: the URL (sensitive in AWS's model) and the access key stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpDestination")
            .field("endpoint_name", &self.endpoint_name)
            .field("source_arn", &self.source_arn)
            .field("gzip", &self.gzip)
            .field("retry_duration", &self.retry_duration)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl HttpDestination {
    /// A destination with AWS's timings. `source_arn` is the delivery
    /// stream's ARN (`X-Amz-Firehose-Source-Arn`).
    pub fn new(
        cfg: &HttpEndpointDestinationConfiguration,
        source_arn: String,
    ) -> Result<Self, FirehoseError> {
        Self::with_policy(cfg, source_arn, RetryPolicy::default())
    }

    /// A destination with the given timings (tests, `--firehose-http-*` flags).
    pub fn with_policy(
        cfg: &HttpEndpointDestinationConfiguration,
        source_arn: String,
        policy: RetryPolicy,
    ) -> Result<Self, FirehoseError> {
        Self::with_options(
            cfg,
            source_arn,
            HttpOptions {
                retry: policy,
                ..HttpOptions::default()
            },
        )
    }

    /// A destination with the given timings and extra trusted CAs.
    pub fn with_options(
        cfg: &HttpEndpointDestinationConfiguration,
        source_arn: String,
        options: HttpOptions,
    ) -> Result<Self, FirehoseError> {
        let HttpOptions {
            retry: policy,
            extra_root_ca_pem,
        } = options;
        let endpoint = &cfg.endpoint_configuration;
        let url = reqwest::Url::parse(&endpoint.url).map_err(|e| {
            FirehoseError::InvalidArgument(format!("HTTP endpoint URL is not a valid URL: {e}"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FirehoseError::InvalidArgument(format!(
                "HTTP endpoint URL must use http or https, not {}",
                url.scheme()
            )));
        }
        let request_cfg = cfg.request_configuration.as_ref();
        let gzip = request_cfg
            .and_then(|r| r.content_encoding.as_deref())
            .is_some_and(|e| e == "GZIP");
        let attrs = request_cfg
            .and_then(|r| r.common_attributes.as_deref())
            .unwrap_or(&[]);

        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static(HEADER_PROTOCOL_VERSION),
            HeaderValue::from_static(PROTOCOL_VERSION),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        headers.insert(
            HeaderName::from_static(HEADER_SOURCE_ARN),
            header_value(&source_arn, "the delivery stream ARN")?,
        );
        if let Some(key) = &endpoint.access_key {
            let mut v = header_value(key, "the access key")?;
            v.set_sensitive(true);
            headers.insert(HeaderName::from_static(HEADER_ACCESS_KEY), v);
        }
        headers.insert(
            HeaderName::from_static(HEADER_COMMON_ATTRIBUTES),
            header_value(&request::common_attributes(attrs), "the common attributes")?,
        );

        let mut builder = reqwest::Client::builder()
            // "The Firehose server does NOT follow redirects."
            .redirect(reqwest::redirect::Policy::none())
            // HTTP/1.1 whatever ALPN offers: what endpoints written for
            // Firehose expect, and deterministic when the binary's other
            // reqwest users turn HTTP/2 on (features unify).
            .http1_only()
            .connect_timeout(policy.response_timeout);
        if let Some(pem) = extra_root_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                FirehoseError::InvalidArgument(format!("HTTP endpoint CA certificates: {e}"))
            })?;
            if certs.is_empty() {
                return Err(FirehoseError::InvalidArgument(
                    "HTTP endpoint CA certificates: no certificate in the PEM".to_owned(),
                ));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let client = builder
            .build()
            .map_err(|e| FirehoseError::Internal(format!("HTTP endpoint client: {e}")))?;
        let retry_duration = policy.retry_duration(
            cfg.retry_options
                .as_ref()
                .and_then(|r| r.duration_in_seconds),
        );
        Ok(HttpDestination {
            client,
            url,
            headers,
            gzip,
            source_arn,
            endpoint_name: endpoint.name.clone(),
            retry_duration,
            policy,
        })
    }

    /// The retry budget in force (`RetryOptions.DurationInSeconds` or the override).
    pub fn retry_duration(&self) -> Duration {
        self.retry_duration
    }

    /// Delivers one batch under `request_id` (sent unchanged on every
    /// attempt, in the header and the body). Retries every failure but a
    /// 413 with exponential backoff while the retry budget lasts; the
    /// budget starts after the first failure and counts only the waits
    /// between attempts, not the time spent waiting for responses (AWS's
    /// definition of `DurationInSeconds`). The last wait is shortened to
    /// what is left of the budget, so the last attempt starts when the
    /// budget is exactly spent. An empty batch is delivered without a
    /// request (AWS requires at least one record). `Err` only for what is
    /// the caller's bug (over [`MAX_RECORDS_PER_REQUEST`] records, a request
    /// id that cannot be a header value); the endpoint's failures are a
    /// `Failed` outcome.
    pub async fn deliver(
        &self,
        request_id: &str,
        records: &[Bytes],
    ) -> Result<DeliveryOutcome, FirehoseError> {
        if records.is_empty() {
            return Ok(DeliveryOutcome::Delivered { attempts: 0 });
        }
        if records.len() > MAX_RECORDS_PER_REQUEST {
            return Err(FirehoseError::Internal(format!(
                "an HTTP endpoint request holds at most {MAX_RECORDS_PER_REQUEST} records, not {}",
                records.len()
            )));
        }
        let id_header = header_value(request_id, "the request id")?;
        let body = self.encode(request_id, records)?;
        let mut attempts = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            attempts += 1;
            let result = self.attempt(request_id, &id_header, body.clone()).await;
            let err = match result {
                Ok(()) => return Ok(DeliveryOutcome::Delivered { attempts }),
                Err(e) => e,
            };
            tracing::warn!(
                delivery_stream = %self.source_arn,
                endpoint = self.endpoint_name.as_deref().unwrap_or(""),
                request_id,
                attempt = attempts,
                error_code = err.code.as_str(),
                status = err.status,
                detail = %err.detail,
                "HTTP endpoint delivery attempt failed"
            );
            if err.permanent || waited >= self.retry_duration {
                return Ok(DeliveryOutcome::Failed(DeliveryFailure {
                    attempts,
                    error_code: err.code,
                    error_message: err.message,
                    status: err.status,
                    permanent: err.permanent,
                    attempt_ending_ms: now_ms(),
                    detail: err.detail,
                }));
            }
            let wait = self
                .policy
                .backoff(attempts - 1)
                .min(self.retry_duration - waited);
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    /// The request body, gzipped if configured.
    fn encode(&self, request_id: &str, records: &[Bytes]) -> Result<Bytes, FirehoseError> {
        let body = request::body(request_id, now_ms(), records);
        Ok(Bytes::from(if self.gzip {
            request::gzip(&body)?
        } else {
            body
        }))
    }

    /// One POST, judged; the whole exchange (connect, send, response body)
    /// is bounded by the response timeout.
    async fn attempt(
        &self,
        request_id: &str,
        id_header: &HeaderValue,
        body: Bytes,
    ) -> Result<(), AttemptError> {
        let exchange = async {
            let resp = self
                .client
                .post(self.url.clone())
                .headers(self.headers.clone())
                .header(HEADER_REQUEST_ID, id_header.clone())
                .body(body)
                .send()
                .await
                .map_err(|e| transport_error(&e))?;
            let status = resp.status().as_u16();
            let content_type = header_str(resp.headers(), CONTENT_TYPE);
            let content_encoding = header_str(resp.headers(), CONTENT_ENCODING);
            let body = read_limited(resp).await?;
            response::judge(
                request_id,
                status,
                content_type.as_deref(),
                content_encoding.as_deref(),
                &body,
            )
        };
        let started = Instant::now();
        match tokio::time::timeout(self.policy.response_timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(AttemptError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "The endpoint did not respond within {} seconds.",
                    self.policy.response_timeout.as_secs_f64()
                ),
                format!("no complete response after {:?}", started.elapsed()),
            )),
        }
    }
}

/// Reads the response body, refusing more than [`MAX_RESPONSE_BYTES`].
async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, AttemptError> {
    let too_large = || {
        AttemptError::new(
            ErrorCode::ResponseTooLarge,
            "The response received from the endpoint is too large. The response must be less \
             than 1 MiB."
                .to_owned(),
            "response body over 1 MiB",
        )
    };
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(&e))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Maps a client error to AWS's codes by walking its sources.
fn transport_error(e: &reqwest::Error) -> AttemptError {
    let detail = error_chain(e);
    let tls = chain_has(e, |err| err.is::<rustls::Error>());
    if tls {
        return AttemptError::new(
            ErrorCode::SslHandshakeFailure,
            "Could not complete the SSL handshake with the endpoint destination.".to_owned(),
            detail,
        );
    }
    if e.is_connect() {
        return AttemptError::new(
            ErrorCode::ConnectionFailed,
            "Could not establish a connection with the endpoint destination.".to_owned(),
            detail,
        );
    }
    if e.is_timeout() {
        return AttemptError::new(
            ErrorCode::RequestTimeout,
            "The endpoint did not respond in time.".to_owned(),
            detail,
        );
    }
    let malformed = chain_has(e, |err| {
        err.downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_parse() || h.is_parse_status())
    });
    if malformed {
        return AttemptError::new(
            ErrorCode::InvalidResponseFromDestination,
            "The response received from the specified endpoint is invalid. Contact the owner of \
             the endpoint to resolve the issue. The response is not valid HTTP."
                .to_owned(),
            detail,
        );
    }
    AttemptError::new(
        ErrorCode::ConnectionReset,
        "The connection to the endpoint destination was reset or closed prematurely.".to_owned(),
        detail,
    )
}

/// Whether `e` or any error under it satisfies `pred`. Descends into the
/// error an `io::Error` wraps (its `source()` skips it; hyper-rustls wraps
/// rustls's error in two of them).
fn chain_has(e: &reqwest::Error, pred: impl Fn(&(dyn StdError + 'static)) -> bool) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if pred(err) {
            return true;
        }
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => err.source(),
        };
    }
    false
}

/// `a: b: c` of an error and its sources, for the log line.
fn error_chain(e: &reqwest::Error) -> String {
    // reqwest's own Display carries the URL; sources only, as the URL may hold secrets.
    let mut parts = Vec::new();
    let mut cur = e.source();
    while let Some(err) = cur {
        parts.push(err.to_string());
        cur = err.source();
    }
    if parts.is_empty() {
        "request failed".to_owned()
    } else {
        parts.join(": ")
    }
}

fn header_str(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn header_value(v: &str, what: &str) -> Result<HeaderValue, FirehoseError> {
    HeaderValue::from_bytes(v.as_bytes()).map_err(|_| {
        FirehoseError::InvalidArgument(format!(
            "{what} cannot be sent in an HTTP header (control characters)"
        ))
    })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn failed_records_follow_aws_error_record_fields() {
        let f = DeliveryFailure {
            attempts: 5,
            error_code: ErrorCode::DestinationException,
            error_message: "Received the following response from the endpoint destination. {}"
                .into(),
            status: Some(500),
            permanent: false,
            attempt_ending_ms: 1594266081318,
            detail: String::new(),
        };
        let recs = [
            Bytes::from_static(b"sample raw data"),
            Bytes::from_static(b"2"),
        ];
        let refs = [
            RecordRef {
                sequence: "49607357361271740811418664280693044274821622880012337186".into(),
                subsequence: 0,
            },
            RecordRef {
                sequence: "7".into(),
                subsequence: 3,
            },
        ];
        let out = f.failed_records(&recs, &[1594265943615, 1594265943616], &refs);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].raw_data, recs[0]);
        assert_eq!(out[0].arrival_ms, 1594265943615);
        assert_eq!(out[0].attempts_made, 5);
        assert_eq!(out[0].attempt_ending_ms, 1594266081318);
        assert_eq!(out[0].error_code, "HttpEndpoint.DestinationException");
        assert_eq!(out[0].error_message, f.error_message);
        assert_eq!(
            out[0].extra,
            vec![
                ("subsequenceNumber", "0".to_owned()),
                (
                    "dataId",
                    "49607357361271740811418664280693044274821622880012337186.0".to_owned()
                )
            ]
        );
        assert_eq!(
            out[1].extra,
            vec![
                ("subsequenceNumber", "3".to_owned()),
                ("dataId", "7.3".to_owned())
            ]
        );
    }

    #[test]
    fn configuration_errors_are_invalid_arguments() {
        let mut cfg = HttpEndpointDestinationConfiguration::default();
        cfg.endpoint_configuration.url = "ftp://example.com/".into();
        assert!(matches!(
            HttpDestination::new(&cfg, "arn".into()),
            Err(FirehoseError::InvalidArgument(_))
        ));
        cfg.endpoint_configuration.url = "not a url".into();
        assert!(matches!(
            HttpDestination::new(&cfg, "arn".into()),
            Err(FirehoseError::InvalidArgument(_))
        ));
        cfg.endpoint_configuration.url = "http://127.0.0.1:1/x".into();
        cfg.endpoint_configuration.access_key = Some("a\nb".into());
        assert!(matches!(
            HttpDestination::new(&cfg, "arn".into()),
            Err(FirehoseError::InvalidArgument(_))
        ));
    }

    #[test]
    fn debug_output_hides_the_access_key_and_url() {
        let mut cfg = HttpEndpointDestinationConfiguration::default();
        cfg.endpoint_configuration.url = "https://example.com/?token=urlsecret".into();
        cfg.endpoint_configuration.access_key = Some("s3cr3t-key".into());
        let d = HttpDestination::new(&cfg, "arn:aws:firehose:us-east-1:1:deliverystream/x".into())
            .unwrap();
        let dbg = format!("{d:?}");
        assert!(!dbg.contains("s3cr3t-key"), "{dbg}");
        assert!(!dbg.contains("urlsecret"), "{dbg}");
        assert_eq!(d.retry_duration(), DEFAULT_RETRY_DURATION);
    }
}
