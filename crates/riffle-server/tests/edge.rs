#![allow(clippy::unwrap_used)]
//! The edge with several services: a service written here, unknown to the
//! server crate, is served beside Kinesis on one port, over a real socket,
//! through the same core (decode, routing, responses, metrics, health).

use riffle_protocol::schema::{req, Con, Member, Ty};
use riffle_protocol::{Call, EventKind, OperationSpec, ServiceSpec, JSON_CONTENT_TYPE};
use riffle_server::{BoxFuture, KinesisService, Reply, RequestContext, ServerConfig, Service};
use riffle_streams::{Engine, EngineConfig};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

static ECHO_INPUT: &[Member] = &[req("Name", Ty::Str, &[Con::MinLen(1), Con::MaxLen(16)])];

static ECHO: ServiceSpec = ServiceSpec {
    target_prefix: "Echo_20200101",
    iam_prefix: "echo",
    event_source: "echo.amazonaws.com",
    botocore_model: ("echo", "2020-01-01"),
    operations: &[OperationSpec {
        name: "Echo",
        input: ECHO_INPUT,
        event: EventKind::Data,
        read_only: true,
    }],
};

/// Answers `{"Name": n}` with `{"Hello": n}`; `Name: "fail"` is a ResourceNotFound.
#[derive(Default)]
struct Echo {
    maintained: AtomicUsize,
}

impl Service for Echo {
    fn spec(&self) -> &'static ServiceSpec {
        &ECHO
    }
    fn call<'s>(&'s self, mut call: Call<'_>, _ctx: Arc<RequestContext>) -> BoxFuture<'s, Reply> {
        let name = call.fields.string("Name").unwrap_or_default();
        let format = call.format;
        Box::pin(async move {
            if name == "fail" {
                return Reply::error(format, &riffle_model::ApiError::resource_not_found("no"));
            }
            let body = serde_json::json!({ "Hello": name })
                .to_string()
                .into_bytes();
            Reply::wire(riffle_protocol::WireResponse {
                status: 200,
                content_type: Some(format.content_type()),
                body,
                error_code: None,
            })
        })
    }
    fn maintain(&self) {
        self.maintained.fetch_add(1, Ordering::Relaxed);
    }
}

struct Server {
    addr: std::net::SocketAddr,
    echo: Arc<Echo>,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EngineConfig::new(dir.path());
    cfg.transition_delay_ms = 0;
    let engine = Arc::new(Engine::open(cfg).unwrap());
    let echo = Arc::new(Echo::default());
    let services: Vec<Arc<dyn Service>> = vec![
        Arc::new(KinesisService::new(engine, Duration::from_secs(60))),
        echo.clone(),
    ];
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let shutdown = async move {
                let _ = stopped.await;
            };
            // Requests here are signed, as with an auth configuration: CORS
            // answers as AWS does (open mode's rules are tested in tls.rs).
            let cfg = ServerConfig {
                authenticated: true,
                ..ServerConfig::default()
            };
            riffle_server::serve(listener, services, cfg, shutdown)
                .await
                .unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    Server {
        addr,
        echo,
        _dir: dir,
        stop: Some(stop),
        thread: Some(thread),
    }
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One HTTP/1.1 request on its own connection.
fn http(s: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    c.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_string(),
    }
}

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20200101/us-east-1/x/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd";

fn aws(s: &Server, target: &str, body: &str) -> Resp {
    http(
        s,
        "POST",
        "/",
        &[
            ("Content-Type", JSON_CONTENT_TYPE),
            ("X-Amz-Target", target),
            ("X-Amz-Date", "20200101T000000Z"),
            ("Authorization", AUTH),
        ],
        body,
    )
}

#[test]
fn two_services_on_one_port() {
    let s = start();
    let r = aws(&s, "Echo_20200101.Echo", r#"{"Name":"riffle"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["Hello"], "riffle");
    assert_eq!(r.header("content-type"), Some(JSON_CONTENT_TYPE));
    assert!(r.header("x-amzn-RequestId").is_some());
    assert!(r.header("x-amz-id-2").is_some());

    // Its schema is enforced by the core, its errors rendered by the edge.
    let r = aws(&s, "Echo_20200101.Echo", r#"{"Name":""}"#);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__type"], "ValidationException");
    let r = aws(&s, "Echo_20200101.Echo", r#"{"Name":"fail"}"#);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__type"], "ResourceNotFoundException");

    // Kinesis beside it.
    let r = aws(
        &s,
        "Kinesis_20131202.CreateStream",
        r#"{"StreamName":"a","ShardCount":1}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = aws(&s, "Kinesis_20131202.ListStreams", "{}");
    assert_eq!(r.json()["StreamNames"], serde_json::json!(["a"]));

    // Unknown prefix, unknown operation of a known service, wrong service's operation.
    for target in [
        "Nope_20200101.Echo",
        "Echo_20200101.ListStreams",
        "Kinesis_20131202.Echo",
    ] {
        let r = aws(&s, target, "{}");
        assert_eq!(r.status, 400, "{target}");
        assert_eq!(
            r.json(),
            serde_json::json!({"__type": "UnknownOperationException"}),
            "{target}"
        );
    }
    // Any other content type: AWS's 404.
    let r = http(
        &s,
        "POST",
        "/",
        &[
            ("Content-Type", "text/plain"),
            ("X-Amz-Target", "Echo_20200101.Echo"),
        ],
        "{}",
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.body, "<UnknownOperationException/>\n");

    // Metrics: requests counted per service and operation, with the error
    // code carried by the reply.
    let m = http(&s, "GET", "/metrics", &[], "").body;
    for want in [
        r#"riffle_requests_total{service="echo",operation="Echo",status="200",error=""} 1"#,
        r#"riffle_requests_total{service="echo",operation="Echo",status="400",error="ValidationException"} 1"#,
        r#"riffle_requests_total{service="echo",operation="Echo",status="400",error="ResourceNotFoundException"} 1"#,
        r#"riffle_requests_total{service="kinesis",operation="CreateStream",status="200",error=""} 1"#,
        r#"riffle_requests_total{service="unknown",operation="unknown",status="400",error="UnknownOperationException"} 3"#,
        r#"riffle_requests_total{service="echo",operation="Echo",status="404",error="UnknownOperationException"} 1"#,
    ] {
        assert!(m.contains(want), "missing {want} in\n{m}");
    }
    // Health covers every service; the maintenance loop runs every service.
    assert_eq!(http(&s, "GET", "/health/ready", &[], "").status, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while s.echo.maintained.load(Ordering::Relaxed) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "Echo was never maintained"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn cors_responses_carry_aws_headers() {
    let s = start();
    let r = http(
        &s,
        "OPTIONS",
        "/",
        &[
            ("Origin", "http://example.test"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "x-amz-target,content-type",
            ),
        ],
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("x-amz-target,content-type")
    );
    assert!(r.header("x-amzn-RequestId").is_some());
    // Every response carries x-amz-id-2, with or without Origin (AWS does).
    let r = http(
        &s,
        "POST",
        "/",
        &[
            ("Origin", "http://example.test"),
            ("Content-Type", JSON_CONTENT_TYPE),
            ("X-Amz-Target", "Echo_20200101.Echo"),
            ("X-Amz-Date", "20200101T000000Z"),
            ("Authorization", AUTH),
        ],
        r#"{"Name":"x"}"#,
    );
    assert_eq!(r.status, 200);
    assert!(r.header("x-amz-id-2").is_some());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r
        .header("access-control-expose-headers")
        .is_some_and(|h| h.contains("x-amz-id-2")));
}
