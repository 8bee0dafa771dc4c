//! The HTTP endpoint destination against a real HTTP server on a loopback
//! ephemeral port that answers per scenario: what is sent (headers, body,
//! gzip), what counts as delivered, what is retried and how, and the
//! error records of a batch that is given up.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes as AxBytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use parking_lot::Mutex;
use riffle_firehose::destination::http::{
    DeliveryOutcome, ErrorCode, HttpDestination, HttpOptions, RecordRef, RetryPolicy,
};
use riffle_model::firehose::{
    HttpEndpointCommonAttribute, HttpEndpointConfiguration, HttpEndpointDestinationConfiguration,
    HttpEndpointRequestConfiguration, HttpEndpointRetryOptions,
};
use serde_json::{json, Value};

const ARN: &str = "arn:aws:firehose:us-east-1:123456789012:deliverystream/orders";

/// One request as the endpoint saw it.
#[derive(Clone, Debug)]
struct Hit {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    at: Instant,
}

impl Hit {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    fn request_id(&self) -> String {
        self.header("x-amz-firehose-request-id").unwrap_or_default()
    }

    /// The JSON body, gunzipped when the request says so.
    fn json(&self) -> Value {
        let raw = if self.header("content-encoding").as_deref() == Some("gzip") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&self.body[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            self.body.clone()
        };
        serde_json::from_slice(&raw).unwrap()
    }
}

/// What the endpoint answers to its `n`-th request (0-based).
struct Reply {
    status: u16,
    content_type: Option<&'static str>,
    body: String,
    delay: Duration,
    location: Option<&'static str>,
}

impl Reply {
    /// 200 echoing the request id, as the contract wants.
    fn ok(hit: &Hit) -> Reply {
        Reply::json(
            200,
            json!({"requestId": hit.request_id(), "timestamp": 1578090903599_i64}),
        )
    }

    fn json(status: u16, v: Value) -> Reply {
        Reply {
            status,
            content_type: Some("application/json"),
            body: v.to_string(),
            delay: Duration::ZERO,
            location: None,
        }
    }

    fn error(status: u16, hit: &Hit, msg: &str) -> Reply {
        Reply::json(
            status,
            json!({"requestId": hit.request_id(), "timestamp": 1578090903599_i64, "errorMessage": msg}),
        )
    }
}

type Responder = Arc<dyn Fn(usize, &Hit) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Endpoint {
    hits: Arc<Mutex<Vec<Hit>>>,
    responder: Responder,
}

async fn handle(
    State(ep): State<Endpoint>,
    uri: Uri,
    headers: HeaderMap,
    body: AxBytes,
) -> Response {
    let hit = Hit {
        path: uri.path().to_owned(),
        headers,
        body: body.to_vec(),
        at: Instant::now(),
    };
    let n = {
        let mut hits = ep.hits.lock();
        hits.push(hit.clone());
        hits.len() - 1
    };
    let reply = (ep.responder)(n, &hit);
    tokio::time::sleep(reply.delay).await;
    let mut resp = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    resp.headers_mut().remove("content-type");
    if let Some(ct) = reply.content_type {
        resp.headers_mut()
            .insert("content-type", ct.parse().unwrap());
    }
    if let Some(loc) = reply.location {
        resp.headers_mut().insert("location", loc.parse().unwrap());
    }
    resp
}

/// Starts an endpoint on 127.0.0.1:0; returns its base URL and its hits.
async fn endpoint(
    responder: impl Fn(usize, &Hit) -> Reply + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Hit>>>) {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let ep = Endpoint {
        hits: hits.clone(),
        responder: Arc::new(responder),
    };
    let app = axum::Router::new().fallback(handle).with_state(ep);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/ingest?x=1"), hits)
}

fn config(url: &str, retry_secs: Option<i64>) -> HttpEndpointDestinationConfiguration {
    HttpEndpointDestinationConfiguration {
        endpoint_configuration: HttpEndpointConfiguration {
            url: url.to_owned(),
            name: Some("test endpoint".into()),
            access_key: None,
        },
        retry_options: retry_secs.map(|s| HttpEndpointRetryOptions {
            duration_in_seconds: Some(s),
        }),
        ..Default::default()
    }
}

/// Short timings: 20 ms initial backoff, 80 ms cap, 2 s response timeout.
fn fast() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(80),
        response_timeout: Duration::from_secs(2),
        retry_duration: None,
    }
}

fn fast_with_budget(budget: Duration) -> RetryPolicy {
    RetryPolicy {
        retry_duration: Some(budget),
        ..fast()
    }
}

fn records() -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"hello"),
        Bytes::from_static(b"hello world"),
        Bytes::new(),
        Bytes::from((0u8..=255).collect::<Vec<u8>>()),
    ]
}

fn decoded_records(v: &Value) -> Vec<Vec<u8>> {
    v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            base64::engine::general_purpose::STANDARD
                .decode(r["data"].as_str().unwrap())
                .unwrap()
        })
        .collect()
}

fn failure(outcome: DeliveryOutcome) -> riffle_firehose::destination::http::DeliveryFailure {
    match outcome {
        DeliveryOutcome::Failed(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn success_sends_the_contract_headers_and_body() {
    let (url, hits) = endpoint(|_, hit| Reply::ok(hit)).await;
    let mut cfg = config(&url, None);
    cfg.endpoint_configuration.access_key = Some("my-api-key".into());
    cfg.request_configuration = Some(HttpEndpointRequestConfiguration {
        content_encoding: Some("NONE".into()),
        common_attributes: Some(vec![
            HttpEndpointCommonAttribute {
                attribute_name: "deployment-context".into(),
                attribute_value: "pre-prod-gamma".into(),
            },
            HttpEndpointCommonAttribute {
                attribute_name: "device-types".into(),
                attribute_value: String::new(),
            },
        ]),
    });
    let dest = HttpDestination::with_policy(&cfg, ARN.into(), fast()).unwrap();
    let before = chrono::Utc::now().timestamp_millis();
    let out = dest.deliver("batch-0001", &records()).await.unwrap();
    assert_eq!(out, DeliveryOutcome::Delivered { attempts: 1 });

    let hits = hits.lock();
    assert_eq!(hits.len(), 1);
    let h = &hits[0];
    assert_eq!(h.path, "/ingest");
    assert_eq!(
        h.header("x-amz-firehose-protocol-version").as_deref(),
        Some("1.0")
    );
    assert_eq!(h.request_id(), "batch-0001");
    assert_eq!(h.header("x-amz-firehose-source-arn").as_deref(), Some(ARN));
    assert_eq!(
        h.header("x-amz-firehose-access-key").as_deref(),
        Some("my-api-key")
    );
    assert_eq!(
        h.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(h.header("content-encoding"), None);
    assert_eq!(
        h.header("content-length").as_deref(),
        Some(h.body.len().to_string().as_str())
    );
    let attrs: Value =
        serde_json::from_str(&h.header("x-amz-firehose-common-attributes").unwrap()).unwrap();
    assert_eq!(
        attrs,
        json!({"commonAttributes": {"deployment-context": "pre-prod-gamma", "device-types": ""}})
    );
    let v = h.json();
    assert_eq!(v["requestId"], "batch-0001");
    let ts = v["timestamp"].as_i64().unwrap();
    assert!(ts >= before && ts <= chrono::Utc::now().timestamp_millis());
    let want: Vec<Vec<u8>> = records().iter().map(|r| r.to_vec()).collect();
    assert_eq!(decoded_records(&v), want);
}

#[tokio::test]
async fn without_access_key_or_attributes_the_header_is_absent_and_attributes_empty() {
    let (url, hits) = endpoint(|_, hit| Reply::ok(hit)).await;
    let dest = HttpDestination::with_policy(&config(&url, None), ARN.into(), fast()).unwrap();
    let out = dest.deliver("r", &records()[..1]).await.unwrap();
    assert_eq!(out, DeliveryOutcome::Delivered { attempts: 1 });
    let h = &hits.lock()[0];
    assert_eq!(h.header("x-amz-firehose-access-key"), None);
    assert_eq!(
        h.header("x-amz-firehose-common-attributes").as_deref(),
        Some(r#"{"commonAttributes":{}}"#)
    );
}

#[tokio::test]
async fn gzip_content_encoding_compresses_the_body() {
    let (url, hits) = endpoint(|_, hit| Reply::ok(hit)).await;
    let mut cfg = config(&url, None);
    cfg.request_configuration = Some(HttpEndpointRequestConfiguration {
        content_encoding: Some("GZIP".into()),
        common_attributes: None,
    });
    let dest = HttpDestination::with_policy(&cfg, ARN.into(), fast()).unwrap();
    let big: Vec<Bytes> = (0..200)
        .map(|i| Bytes::from(format!("{{\"n\":{i}}}\n")))
        .collect();
    let out = dest.deliver("gz-1", &big).await.unwrap();
    assert_eq!(out, DeliveryOutcome::Delivered { attempts: 1 });
    let h = &hits.lock()[0];
    assert_eq!(h.header("content-encoding").as_deref(), Some("gzip"));
    assert_eq!(&h.body[..2], &[0x1f, 0x8b], "gzip magic");
    let v = h.json();
    assert_eq!(v["requestId"], "gz-1");
    let want: Vec<Vec<u8>> = big.iter().map(|r| r.to_vec()).collect();
    assert_eq!(decoded_records(&v), want);
}

#[tokio::test]
async fn server_errors_are_retried_with_the_same_request_id() {
    let (url, hits) = endpoint(|n, hit| {
        if n < 2 {
            Reply::error(500, hit, "try later")
        } else {
            Reply::ok(hit)
        }
    })
    .await;
    let dest = HttpDestination::with_policy(&config(&url, Some(60)), ARN.into(), fast()).unwrap();
    let out = dest.deliver("stable-id-42", &records()).await.unwrap();
    assert_eq!(out, DeliveryOutcome::Delivered { attempts: 3 });
    let hits = hits.lock();
    assert_eq!(hits.len(), 3);
    for h in hits.iter() {
        assert_eq!(h.request_id(), "stable-id-42");
        assert_eq!(h.json()["requestId"], "stable-id-42");
    }
    // Backoff: ≥ 20 ms × 0.85 before the first retry, ≥ 40 ms × 0.85 before the second.
    assert!(hits[1].at - hits[0].at >= Duration::from_millis(17));
    assert!(hits[2].at - hits[1].at >= Duration::from_millis(34));
}

#[tokio::test]
async fn a_non_200_success_status_is_a_failure_and_retried() {
    let (url, hits) = endpoint(|n, hit| {
        if n == 0 {
            Reply::json(202, json!({"requestId": hit.request_id(), "timestamp": 1}))
        } else {
            Reply::ok(hit)
        }
    })
    .await;
    let dest = HttpDestination::with_policy(&config(&url, Some(60)), ARN.into(), fast()).unwrap();
    let out = dest.deliver("r202", &records()).await.unwrap();
    assert_eq!(out, DeliveryOutcome::Delivered { attempts: 2 });
    assert_eq!(hits.lock().len(), 2);

    // With no retry budget, the 202 is the outcome.
    let (url, _) =
        endpoint(|_, hit| Reply::json(202, json!({"requestId": hit.request_id(), "timestamp": 1})))
            .await;
    let dest = HttpDestination::with_policy(&config(&url, Some(0)), ARN.into(), fast()).unwrap();
    let f = failure(dest.deliver("r202b", &records()).await.unwrap());
    assert_eq!(f.attempts, 1);
    assert_eq!(f.error_code, ErrorCode::DestinationException);
    assert_eq!(f.status, Some(202));
    assert!(!f.permanent);
    assert_eq!(
        f.error_message,
        r#"Received the following response from the endpoint destination. {"requestId":"r202b","timestamp":1}"#
    );
}

#[tokio::test]
async fn a_200_with_the_wrong_request_id_is_an_invalid_response() {
    let (url, hits) =
        endpoint(|_, _| Reply::json(200, json!({"requestId": "someone-else", "timestamp": 1})))
            .await;
    let dest = HttpDestination::with_policy(
        &config(&url, None),
        ARN.into(),
        fast_with_budget(Duration::from_millis(100)),
    )
    .unwrap();
    let f = failure(dest.deliver("mine", &records()).await.unwrap());
    assert_eq!(f.error_code, ErrorCode::InvalidResponseFromDestination);
    assert!(f.attempts >= 2, "retried: {}", f.attempts);
    assert_eq!(hits.lock().len() as u32, f.attempts);
    assert!(f
        .error_message
        .contains("Response for request mine is not recognized as valid JSON"));
    assert!(f
        .error_message
        .ends_with(r#"Raw response received: 200 {"requestId":"someone-else","timestamp":1}"#));
}

#[tokio::test]
async fn a_200_without_json_content_type_is_an_invalid_response() {
    let (url, _) = endpoint(|_, hit| Reply {
        content_type: None,
        ..Reply::ok(hit)
    })
    .await;
    let dest = HttpDestination::with_policy(&config(&url, Some(0)), ARN.into(), fast()).unwrap();
    let f = failure(dest.deliver("ct", &records()).await.unwrap());
    assert_eq!(f.error_code, ErrorCode::InvalidResponseFromDestination);
}

#[tokio::test]
async fn payload_too_large_is_permanent_and_not_retried() {
    let (url, hits) = endpoint(|_, hit| Reply::error(413, hit, "Payload too large")).await;
    let dest = HttpDestination::with_policy(&config(&url, Some(3600)), ARN.into(), fast()).unwrap();
    let f = failure(dest.deliver("big", &records()).await.unwrap());
    assert!(f.permanent);
    assert_eq!(f.attempts, 1);
    assert_eq!(f.status, Some(413));
    assert_eq!(f.error_code, ErrorCode::DestinationException);
    assert!(f.error_message.contains("Payload too large"));
    // Give a wrongly scheduled retry the time to show up.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(hits.lock().len(), 1);
}

#[tokio::test]
async fn a_slow_response_times_out_and_is_retried() {
    let (url, hits) = endpoint(|n, hit| Reply {
        delay: if n == 0 {
            Duration::from_secs(3)
        } else {
            Duration::ZERO
        },
        ..Reply::ok(hit)
    })
    .await;
    let policy = RetryPolicy {
        response_timeout: Duration::from_millis(300),
        ..fast()
    };
    let dest = HttpDestination::with_policy(&config(&url, Some(60)), ARN.into(), policy).unwrap();
    let started = Instant::now();
    let out = dest.deliver("slow", &records()).await.unwrap();
    assert_eq!(out, DeliveryOutcome::Delivered { attempts: 2 });
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(
        took < Duration::from_secs(3),
        "did not wait for the slow answer: {took:?}"
    );
    {
        let hits = hits.lock();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].request_id(), hits[1].request_id());
    }

    // Always slow, no budget: the outcome is a timeout.
    let (url, _) = endpoint(|_, hit| Reply {
        delay: Duration::from_secs(3),
        ..Reply::ok(hit)
    })
    .await;
    let policy = RetryPolicy {
        response_timeout: Duration::from_millis(200),
        ..fast()
    };
    let dest = HttpDestination::with_policy(&config(&url, Some(0)), ARN.into(), policy).unwrap();
    let f = failure(dest.deliver("slow2", &records()).await.unwrap());
    assert_eq!(f.error_code, ErrorCode::RequestTimeout);
    assert_eq!(f.attempts, 1);
}

#[tokio::test]
async fn an_endpoint_that_never_succeeds_is_given_up_after_the_retry_duration() {
    let (url, hits) = endpoint(|_, hit| Reply::error(503, hit, "Unavailable")).await;
    // DurationInSeconds = 1 from the configuration; backoff 100 ms, 200 ms, then 300 ms (cap).
    let policy = RetryPolicy {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(300),
        response_timeout: Duration::from_secs(2),
        retry_duration: None,
    };
    let dest = HttpDestination::with_policy(&config(&url, Some(1)), ARN.into(), policy).unwrap();
    assert_eq!(dest.retry_duration(), Duration::from_secs(1));
    let recs = records();
    let started = Instant::now();
    let f = failure(dest.deliver("doomed", &recs).await.unwrap());
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // Waits of ~100, ~200, ~300, ~300 then the rest of the second: 5 or 6 attempts.
    assert!((5..=7).contains(&f.attempts), "attempts {}", f.attempts);
    assert_eq!(hits.lock().len() as u32, f.attempts);
    assert!(hits.lock().iter().all(|h| h.request_id() == "doomed"));
    assert_eq!(f.error_code, ErrorCode::DestinationException);
    assert!(!f.permanent);
    let now = chrono::Utc::now().timestamp_millis();
    assert!(f.attempt_ending_ms <= now && f.attempt_ending_ms > now - 5_000);

    let arrival: Vec<i64> = (0..recs.len() as i64)
        .map(|i| 1_594_265_943_615 + i)
        .collect();
    let refs: Vec<RecordRef> = (0..recs.len())
        .map(|i| RecordRef {
            sequence: format!("4960735736127174081141866428069304427482162288001233718{i}"),
            subsequence: 0,
        })
        .collect();
    let failed = f.failed_records(&recs, &arrival, &refs);
    assert_eq!(failed.len(), recs.len());
    for (i, r) in failed.iter().enumerate() {
        assert_eq!(r.raw_data, recs[i]);
        assert_eq!(r.arrival_ms, arrival[i]);
        assert_eq!(r.attempts_made, f.attempts);
        assert_eq!(r.attempt_ending_ms, f.attempt_ending_ms);
        assert_eq!(r.error_code, "HttpEndpoint.DestinationException");
        assert_eq!(
            r.error_message,
            r#"Received the following response from the endpoint destination. {"errorMessage":"Unavailable","requestId":"doomed","timestamp":1578090903599}"#
        );
        assert_eq!(r.extra[0], ("subsequenceNumber", "0".to_owned()));
        assert_eq!(r.extra[1], ("dataId", format!("{}.0", refs[i].sequence)));
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (url, hits) = endpoint(|n, hit| {
        if n == 0 {
            Reply {
                status: 307,
                content_type: None,
                body: String::new(),
                delay: Duration::ZERO,
                location: Some("/elsewhere"),
            }
        } else {
            Reply::ok(hit)
        }
    })
    .await;
    let dest = HttpDestination::with_policy(&config(&url, Some(0)), ARN.into(), fast()).unwrap();
    let f = failure(dest.deliver("redir", &records()).await.unwrap());
    assert_eq!(f.error_code, ErrorCode::InvalidResponseFromDestination);
    assert_eq!(f.status, Some(307));
    let hits = hits.lock();
    assert_eq!(hits.len(), 1, "the redirect was followed");
    assert_eq!(hits[0].path, "/ingest");
}

#[tokio::test]
async fn a_refused_connection_is_connection_failed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/");
    let dest = HttpDestination::with_policy(
        &config(&url, None),
        ARN.into(),
        fast_with_budget(Duration::from_millis(60)),
    )
    .unwrap();
    let f = failure(dest.deliver("nobody", &records()).await.unwrap());
    assert_eq!(f.error_code, ErrorCode::ConnectionFailed);
    assert!(f.attempts >= 2, "retried: {}", f.attempts);
    assert_eq!(f.status, None);
}

#[tokio::test]
async fn a_response_over_one_mib_is_too_large() {
    let (url, _) = endpoint(|_, _| Reply {
        status: 200,
        content_type: Some("application/json"),
        body: "x".repeat(2 << 20),
        delay: Duration::ZERO,
        location: None,
    })
    .await;
    let dest = HttpDestination::with_policy(&config(&url, Some(0)), ARN.into(), fast()).unwrap();
    let f = failure(dest.deliver("huge", &records()).await.unwrap());
    assert_eq!(f.error_code, ErrorCode::ResponseTooLarge);
}

#[tokio::test]
async fn an_empty_batch_sends_nothing() {
    let (url, hits) = endpoint(|_, hit| Reply::ok(hit)).await;
    let dest = HttpDestination::with_policy(&config(&url, None), ARN.into(), fast()).unwrap();
    let out = dest.deliver("empty", &[]).await.unwrap();
    assert_eq!(out, DeliveryOutcome::Delivered { attempts: 0 });
    assert!(hits.lock().is_empty());
}

#[tokio::test]
async fn a_connection_closed_without_response_is_connection_reset() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        while let Ok((mut sock, _)) = listener.accept().await {
            // Read part of the request, then hang up without a word.
            let mut buf = [0u8; 64];
            let _ = sock.read(&mut buf).await;
            drop(sock);
        }
    });
    let dest = HttpDestination::with_policy(
        &config(&format!("http://{addr}/"), Some(0)),
        ARN.into(),
        fast(),
    )
    .unwrap();
    let f = failure(dest.deliver("hangup", &records()).await.unwrap());
    assert_eq!(f.error_code, ErrorCode::ConnectionReset);
    assert_eq!(f.status, None);
}

/// A CA and a server certificate it signed for 127.0.0.1.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "Riffle firehose test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// TLS in front of axum: the handshake happens in `accept`.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((sock, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(sock).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An https endpoint answering per `responder`, with `pki`'s certificate.
async fn tls_endpoint(
    pki: &Pki,
    responder: impl Fn(usize, &Hit) -> Reply + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Hit>>>) {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = vec![CertificateDer::from_pem_slice(pki.cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let hits = Arc::new(Mutex::new(Vec::new()));
    let ep = Endpoint {
        hits: hits.clone(),
        responder: Arc::new(responder),
    };
    let app = axum::Router::new().fallback(handle).with_state(ep);
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(cfg)),
    };
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("https://{addr}/tls"), hits)
}

#[tokio::test]
async fn https_endpoints_work_with_a_trusted_ca() {
    let pki = pki();
    let (url, hits) = tls_endpoint(&pki, |_, hit| Reply::ok(hit)).await;
    let mut cfg = config(&url, Some(0));
    cfg.endpoint_configuration.access_key = Some("tls-key".into());
    let options = HttpOptions {
        retry: fast(),
        extra_root_ca_pem: Some(pki.ca_pem.clone().into_bytes()),
    };
    let dest = HttpDestination::with_options(&cfg, ARN.into(), options).unwrap();
    let out = dest.deliver("over-tls", &records()).await.unwrap();
    assert_eq!(out, DeliveryOutcome::Delivered { attempts: 1 });
    let hits = hits.lock();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].path, "/tls");
    assert_eq!(
        hits[0].header("x-amz-firehose-access-key").as_deref(),
        Some("tls-key")
    );
    assert_eq!(hits[0].json()["requestId"], "over-tls");
}

#[tokio::test]
async fn an_untrusted_certificate_is_an_ssl_handshake_failure() {
    let pki = pki();
    let (url, hits) = tls_endpoint(&pki, |_, hit| Reply::ok(hit)).await;
    // System roots only: the test CA is unknown.
    let dest = HttpDestination::with_policy(&config(&url, Some(0)), ARN.into(), fast()).unwrap();
    let f = failure(dest.deliver("untrusted", &records()).await.unwrap());
    assert_eq!(f.error_code, ErrorCode::SslHandshakeFailure, "{f:?}");
    assert!(hits.lock().is_empty());
}
