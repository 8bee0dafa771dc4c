#![allow(clippy::unwrap_used)]
//! TLS and open mode's browser rules, over real sockets: the AWS SDK over
//! https trusting a test CA (HTTP/1.1 and h2 by ALPN, SubscribeToShard
//! included), TLS and plaintext on one port, plaintext refused under
//! `require_tls`, the limits over TLS, and CORS and `Host` in open mode.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{ShardIteratorType, StartingPosition, SubscribeToShardEventStream};
use aws_smithy_http_client::tls;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use riffle_server::{KinesisService, ServerConfig, Service, TlsSettings};
use riffle_streams::{Engine, EngineConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const JSON: &str = "application/x-amz-json-1.1";
/// Open mode checks no signature, but the protocol core wants one present.
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20200101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd";

/// A CA and a server certificate it signed for localhost and 127.0.0.1.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "Riffle test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

struct Server {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Kinesis on `bind` (port 0) with `cfg`, in the calling runtime.
async fn start_on(bind: &str, cfg: ServerConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut ecfg = EngineConfig::new(dir.path());
    ecfg.transition_delay_ms = 0;
    let engine = Arc::new(Engine::open(ecfg).unwrap());
    let services: Vec<Arc<dyn Service>> = vec![Arc::new(KinesisService::new(
        engine,
        Duration::from_secs(60),
    ))];
    let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(riffle_server::serve(listener, services, cfg, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        _dir: dir,
        stop: Some(stop),
    }
}

async fn start(cfg: ServerConfig) -> Server {
    start_on("127.0.0.1:0", cfg).await
}

fn tls_cfg(p: &Pki, require_tls: bool) -> ServerConfig {
    ServerConfig {
        tls: Some(TlsSettings::from_pem(p.cert_pem.as_bytes(), p.key_pem.as_bytes()).unwrap()),
        require_tls,
        ..ServerConfig::default()
    }
}

fn sdk_config(endpoint: &str) -> aws_sdk_kinesis::config::Builder {
    let creds = aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test");
    aws_sdk_kinesis::Config::builder()
        .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
        .region(aws_sdk_kinesis::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(endpoint)
}

/// The SDK over https, trusting only the test CA (the supported way in
/// aws-smithy-http-client 1.x: a TLS context with its own trust store).
fn https_client(s: &Server, ca_pem: &str) -> aws_sdk_kinesis::Client {
    let trust = tls::TrustStore::empty().with_pem_certificate(ca_pem.as_bytes());
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(
            tls::TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .unwrap(),
        )
        .build_https();
    let conf = sdk_config(&format!("https://localhost:{}", s.addr.port()))
        .http_client(http)
        .build();
    aws_sdk_kinesis::Client::from_conf(conf)
}

fn http_client(s: &Server) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::from_conf(sdk_config(&format!("http://{}", s.addr)).build())
}

fn client_tls(ca_pem: &str, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

async fn tls_connect(s: &Server, ca_pem: &str, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    client_tls(ca_pem, alpn)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

struct Resp {
    version: hyper::Version,
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Resp {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One request on `io` with hyper's client, HTTP/2 or HTTP/1.1.
async fn send<T>(io: T, h2: bool, req: Request<Full<Bytes>>) -> Resp
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let resp = if h2 {
        let (mut tx, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
                .await
                .unwrap();
        tokio::spawn(conn);
        tx.send_request(req).await.unwrap()
    } else {
        let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .unwrap();
        tokio::spawn(conn);
        tx.send_request(req).await.unwrap()
    };
    let status = resp.status();
    let version = resp.version();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Resp {
        version,
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn request(
    method: &str,
    uri: &str,
    host: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> Request<Full<Bytes>> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(h) = host {
        b = b.header("host", h);
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

fn list_streams(host: Option<&str>, extra: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut h = vec![
        ("content-type", JSON),
        ("x-amz-target", "Kinesis_20131202.ListStreams"),
        ("x-amz-date", "20200101T000000Z"),
        ("authorization", AUTH),
    ];
    h.extend_from_slice(extra);
    request("POST", "/", host, &h, "{}")
}

/// A plaintext HTTP/1.1 request on its own connection.
async fn plain(s: &Server, req: Request<Full<Bytes>>) -> Resp {
    send(TcpStream::connect(s.addr).await.unwrap(), false, req).await
}

async fn metrics_over_tls(s: &Server, ca_pem: &str) -> String {
    let io = tls_connect(s, ca_pem, &[b"http/1.1"]).await;
    send(
        io,
        false,
        request("GET", "/metrics", Some("localhost"), &[], ""),
    )
    .await
    .body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_over_https_and_plaintext_on_one_port() {
    let p = pki();
    let s = start(tls_cfg(&p, false)).await;
    let c = https_client(&s, &p.ca_pem);
    c.create_stream()
        .stream_name("tls")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let put = c
        .put_record()
        .stream_name("tls")
        .partition_key("pk")
        .data(Blob::new("over tls"))
        .send()
        .await
        .unwrap();
    let it = c
        .get_shard_iterator()
        .stream_name("tls")
        .shard_id(put.shard_id())
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap();
    let got = c
        .get_records()
        .shard_iterator(it.shard_iterator().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(got.records().len(), 1);
    assert_eq!(got.records()[0].data().as_ref(), b"over tls");

    // Plaintext on the same port sees the same server.
    let streams = http_client(&s).list_streams().send().await.unwrap();
    assert_eq!(streams.stream_names(), ["tls"]);

    // An SDK that does not trust the CA fails the handshake.
    let untrusting = https_client(&s, &pki().ca_pem);
    assert!(untrusting.list_streams().send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_picks_h2_and_subscribe_to_shard_streams_over_tls() {
    let p = pki();
    let s = start(tls_cfg(&p, true)).await;

    // ALPN: h2 when offered, else HTTP/1.1; each served in what it picked.
    let io = tls_connect(&s, &p.ca_pem, &[b"h2", b"http/1.1"]).await;
    assert_eq!(io.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut req = list_streams(None, &[]);
    *req.uri_mut() = format!("https://localhost:{}/", s.addr.port())
        .parse()
        .unwrap();
    let r = send(io, true, req).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.version, hyper::Version::HTTP_2);
    assert_eq!(r.json()["StreamNames"], serde_json::json!([]));
    let io = tls_connect(&s, &p.ca_pem, &[b"http/1.1"]).await;
    assert_eq!(io.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let r = send(io, false, list_streams(Some("localhost"), &[])).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // The SDK's SubscribeToShard over TLS (it needs HTTP/2) gets its event.
    let c = https_client(&s, &p.ca_pem);
    c.create_stream()
        .stream_name("efo")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let arn = c
        .describe_stream_summary()
        .stream_name("efo")
        .send()
        .await
        .unwrap()
        .stream_description_summary()
        .unwrap()
        .stream_arn()
        .to_string();
    let consumer = c
        .register_stream_consumer()
        .stream_arn(&arn)
        .consumer_name("tls")
        .send()
        .await
        .unwrap()
        .consumer()
        .unwrap()
        .consumer_arn()
        .to_string();
    let put = c
        .put_record()
        .stream_name("efo")
        .partition_key("pk")
        .data(Blob::new("pushed over h2"))
        .send()
        .await
        .unwrap();
    let mut out = c
        .subscribe_to_shard()
        .consumer_arn(&consumer)
        .shard_id(put.shard_id())
        .starting_position(
            StartingPosition::builder()
                .r#type(ShardIteratorType::TrimHorizon)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = tokio::time::timeout(left, out.event_stream.recv())
            .await
            .expect("no event within 10 s")
            .unwrap();
        match ev {
            Some(SubscribeToShardEventStream::SubscribeToShardEvent(ev))
                if !ev.records().is_empty() =>
            {
                assert_eq!(ev.records()[0].data().as_ref(), b"pushed over h2");
                break;
            }
            Some(_) => continue,
            None => panic!("the event stream ended without the record"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_is_refused_when_tls_is_required() {
    let p = pki();
    let s = start(tls_cfg(&p, true)).await;
    let r = plain(&s, list_streams(Some("localhost"), &[])).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("https://"), "{}", r.body);
    assert!(r.headers.contains_key("x-amz-id-2"));
    // The SDK over plaintext gets the same answer; over TLS it is served.
    assert!(http_client(&s).list_streams().send().await.is_err());
    https_client(&s, &p.ca_pem)
        .list_streams()
        .send()
        .await
        .unwrap();
    let m = metrics_over_tls(&s, &p.ca_pem).await;
    assert!(
        m.contains(r#"riffle_rejected_total{reason="plaintext"} "#)
            && !m.contains(r#"riffle_rejected_total{reason="plaintext"} 0"#),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_and_first_head_share_the_header_read_timeout() {
    let p = pki();
    let s = start(ServerConfig {
        header_read_timeout: Some(Duration::from_millis(400)),
        ..tls_cfg(&p, false)
    })
    .await;
    // A handshake that stalls after its first byte is cut.
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("the stalled handshake was not cut");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A completed handshake without a request is cut within the same budget.
    let mut io = tls_connect(&s, &p.ca_pem, &[b"http/1.1"]).await;
    let started = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(5), io.read(&mut buf))
        .await
        .expect("a silent TLS connection was not cut");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // A prompt client is served.
    let io = tls_connect(&s, &p.ca_pem, &[b"http/1.1"]).await;
    let r = send(io, false, list_streams(Some("localhost"), &[])).await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_answers_over_tls() {
    let p = pki();
    let s = start(ServerConfig {
        max_connections: 1,
        ..tls_cfg(&p, false)
    })
    .await;
    let held = tls_connect(&s, &p.ca_pem, &[b"http/1.1"]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let io = tls_connect(&s, &p.ca_pem, &[b"http/1.1"]).await;
    let r = send(io, false, list_streams(Some("localhost"), &[])).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["__type"], "ServiceUnavailableException");
    drop(held);
}

fn preflight(origin: &str) -> Request<Full<Bytes>> {
    request(
        "OPTIONS",
        "/",
        Some("localhost"),
        &[
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "x-amz-target,content-type",
            ),
        ],
        "",
    )
}

fn allow_headers(r: &Resp) -> Vec<String> {
    r.headers
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("access-control-allow"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_mode_cors_only_for_configured_origins() {
    let s = start(ServerConfig {
        cors_origins: vec!["http://localhost:3000".into()],
        ..ServerConfig::default()
    })
    .await;
    let r = plain(&s, preflight("http://evil.example.com")).await;
    assert!(allow_headers(&r).is_empty(), "{:?}", r.headers);
    assert!(r.headers.contains_key("x-amz-id-2"));
    let r = plain(&s, preflight("http://localhost:3000")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert_eq!(r.headers["access-control-allow-methods"], "POST");
    assert_eq!(
        r.headers["access-control-allow-headers"],
        "x-amz-target,content-type"
    );
    assert!(r.headers.contains_key("x-amz-id-2"));

    // Ordinary responses: the header only for a listed origin.
    let r = plain(
        &s,
        list_streams(Some("localhost"), &[("origin", "http://localhost:3000")]),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert!(r.headers.contains_key("x-amz-id-2"));
    let r = plain(
        &s,
        list_streams(Some("localhost"), &[("origin", "http://evil.example.com")]),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(allow_headers(&r).is_empty(), "{:?}", r.headers);

    // Nothing configured: no origin is allowed.
    let none = start(ServerConfig::default()).await;
    let r = plain(&none, preflight("http://localhost:3000")).await;
    assert!(allow_headers(&r).is_empty(), "{:?}", r.headers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_mode_refuses_unknown_hosts() {
    let p = pki();
    let s = start(ServerConfig {
        allowed_hosts: vec!["riffle.lan".into()],
        ..tls_cfg(&p, false)
    })
    .await;
    let port = s.addr.port();
    let r = plain(&s, list_streams(Some("evil.example.com"), &[])).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["__type"], "AccessDeniedException");
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("evil.example.com") && message.contains("--allow-host"),
        "{message}"
    );
    assert!(r.headers.contains_key("x-amz-id-2"));
    // Also /metrics, and HTTP/2's :authority over TLS.
    let r = plain(
        &s,
        request("GET", "/metrics", Some("evil.example.com:80"), &[], ""),
    )
    .await;
    assert_eq!(r.status, 403);
    let io = tls_connect(&s, &p.ca_pem, &[b"h2"]).await;
    let req = list_streams(None, &[]);
    let (mut parts, body) = req.into_parts();
    parts.uri = format!("https://evil.example.com:{port}/").parse().unwrap();
    let r = send(io, true, Request::from_parts(parts, body)).await;
    assert_eq!(r.status, 403, "{}", r.body);

    for ok in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "riffle.lan".to_string(),
        format!("RIFFLE.lan:{port}"),
    ] {
        let r = plain(&s, list_streams(Some(&ok), &[])).await;
        assert_eq!(r.status, 200, "{ok}: {}", r.body);
    }
    // The SDK (Host: localhost:port) is served over both transports.
    http_client(&s).list_streams().send().await.unwrap();
    https_client(&s, &p.ca_pem)
        .list_streams()
        .send()
        .await
        .unwrap();
}

/// The Host check accepts the address the client connected to, which it
/// learns from the request's `ConnInfo`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_mode_accepts_the_connections_own_address() {
    let Ok(probe) = std::net::TcpListener::bind("127.0.0.2:0") else {
        eprintln!("skipped: 127.0.0.2 is not a local address here");
        return;
    };
    drop(probe);
    let s = start_on("127.0.0.2:0", ServerConfig::default()).await;
    let port = s.addr.port();
    let r = plain(&s, list_streams(Some(&format!("127.0.0.2:{port}")), &[])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = plain(&s, list_streams(Some(&format!("127.0.0.3:{port}")), &[])).await;
    assert_eq!(r.status, 403, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_mode_answers_every_origin_and_host() {
    let s = start(ServerConfig {
        authenticated: true,
        ..ServerConfig::default()
    })
    .await;
    let r = plain(&s, preflight("http://evil.example.com")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    let r = plain(
        &s,
        list_streams(
            Some("evil.example.com"),
            &[("origin", "http://evil.example.com")],
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    assert!(r.headers.contains_key("x-amz-id-2"));
}
