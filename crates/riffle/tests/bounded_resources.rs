//! Bounded resources at the edge, against the real binary over loopback:
//! idle and slowloris connections cannot stop a new client from being served
//! and are closed by the read timeouts; the connection and concurrent-request
//! limits answer 503 ServiceUnavailableException; a slow body gets 408; a
//! SubscribeToShard stream neither holds a request slot nor is cut by the idle
//! timeout.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::types::{ShardIteratorType, StartingPosition};
use common::kinesis::{arn, create_stream};
use common::TestServer;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=abcd";

/// The head of a Kinesis JSON request whose body is `len` bytes.
fn head(target: &str, len: usize, close: bool) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nx-amz-target: Kinesis_20131202.{target}\r\n\
         content-type: application/x-amz-json-1.1\r\nx-amz-date: 20260101T000000Z\r\n\
         authorization: {AUTH}\r\ncontent-length: {len}\r\n{}\r\n",
        if close { "connection: close\r\n" } else { "" }
    )
}

/// Reads a response until the server closes the connection (bounded).
fn read_all(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    s.set_read_timeout(Some(within)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "reading the response: {e} (got so far: {:?})",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    out
}

/// (status, headers, body) of one HTTP/1.1 response.
fn parse(resp: &[u8]) -> (u16, String, String) {
    let text = String::from_utf8_lossy(resp).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// One ListStreams on a new connection: status, body and how long it took
/// from connect to the last byte.
fn list_streams(addr: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(format!("{}{{}}", head("ListStreams", 2, true)).as_bytes())
        .unwrap();
    let resp = read_all(&mut s, Duration::from_secs(5));
    let took = started.elapsed();
    let (status, _, body) = parse(&resp);
    (status, body, took)
}

/// One sample of `/metrics`, e.g. `riffle_rejected_total{reason="body_timeout"}`; 0 if absent.
fn metric(addr: &str, series: &str) -> f64 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let resp = read_all(&mut s, Duration::from_secs(5));
    let (_, _, body) = parse(&resp);
    body.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// Waits until the server closes `s` (EOF or reset) and returns when, or
/// `None` if it is still open at `deadline`. Data the server sends first is skipped.
fn closed_by(s: &TcpStream, deadline: Instant) -> Option<Instant> {
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match (&*s).read(&mut buf) {
            Ok(0) => return Some(Instant::now()),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return Some(Instant::now())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            Err(e) => panic!("unexpected read error: {e}"),
        }
    }
}

/// True while the server has neither closed `s` nor sent anything on it.
fn still_open(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1];
    let open = matches!(s.peek(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    open
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
}

#[test]
fn idle_and_slowloris_connections_do_not_stop_a_new_client_and_are_closed_by_the_timeouts() {
    const IDLE: usize = 2_000;
    const TRICKLING: usize = 50;
    const IDLE_MS: u64 = 6_000;
    const HEAD_MS: u64 = 4_000;
    // Both ends of 2,050 connections live in this process and the server.
    let _ = rlimit::increase_nofile_limit(8_192);
    let server = TestServer::start_with(&[
        "--transition-delay-ms",
        "0",
        "--no-throughput-limits",
        "--idle-timeout-ms",
        &IDLE_MS.to_string(),
        "--header-read-timeout-ms",
        &HEAD_MS.to_string(),
    ]);
    let addr = server.addr.clone();

    // 2,000 connections that never send a byte, in batches: a request served
    // after each batch shows the server has accepted it (accepts are FIFO).
    let idle_opened = Instant::now();
    let mut idle: Vec<TcpStream> = Vec::with_capacity(IDLE);
    while idle.len() < IDLE {
        for _ in 0..500.min(IDLE - idle.len()) {
            let s = TcpStream::connect(&addr).unwrap_or_else(|e| {
                panic!("idle connection {}: {e} (ulimit -n too low?)", idle.len())
            });
            idle.push(s);
        }
        let (status, body, _) = list_streams(&addr);
        assert_eq!(status, 200, "{body}");
    }
    // And a few h2c connections with no stream open (preface and SETTINGS only).
    let h2_idle: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
                .unwrap();
            s
        })
        .collect();
    let idle_done = Instant::now();

    // 50 connections sending a request head one byte per second (the last 5
    // an HTTP/2 preface instead: slow before the protocol is even known).
    let trickling: Arc<Vec<TcpStream>> = Arc::new(
        (0..TRICKLING)
            .map(|_| TcpStream::connect(&addr).unwrap())
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let first_byte = Instant::now();
    let writer = {
        let (conns, stop) = (trickling.clone(), stop.clone());
        std::thread::spawn(move || {
            let h1 = head("ListStreams", 2, false).into_bytes();
            let h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
            for i in 0..20 {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                for (n, mut c) in conns.iter().enumerate() {
                    let b = if n + 5 >= TRICKLING { h2[i] } else { h1[i] };
                    let _ = c.write(&[b]);
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));

    // A new client is served at once, several times; keep the best.
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let (status, body, took) = list_streams(&addr);
        assert_eq!(status, 200, "{body}");
        assert!(json(&body)["StreamNames"].is_array(), "{body}");
        latencies.push(took);
    }
    let best = *latencies.iter().min().unwrap();
    eprintln!(
        "{IDLE} idle + {TRICKLING} trickling connections (opened in {:?}): new client latencies {latencies:?}, best {best:?}",
        idle_done - idle_opened
    );
    assert!(
        best < Duration::from_millis(100),
        "a new client took {best:?} (best of {latencies:?}) under the slowloris load"
    );

    // The load was really there while the client was served.
    let checked_at = Instant::now();
    let open_idle = idle.iter().filter(|s| still_open(s)).count();
    let open_trickling = trickling.iter().filter(|s| still_open(s)).count();
    assert!(
        checked_at < idle_opened + Duration::from_millis(IDLE_MS - 500),
        "setup too slow to check the idle connections before their timeout ({:?})",
        checked_at - idle_opened
    );
    assert_eq!(
        open_idle, IDLE,
        "idle connections closed before the idle timeout"
    );
    if checked_at < first_byte + Duration::from_millis(HEAD_MS - 500) {
        assert_eq!(
            open_trickling, TRICKLING,
            "trickling connections closed too early"
        );
    }

    // Then the trickling ones are closed by the header-read timeout...
    let slack = Duration::from_millis(2_000);
    let head_deadline = first_byte + Duration::from_millis(HEAD_MS) + slack;
    let mut last_trickling_close = first_byte;
    for (i, s) in trickling.iter().enumerate() {
        let at = closed_by(s, head_deadline).unwrap_or_else(|| {
            panic!("trickling connection {i} still open {:?} after its first byte (header-read timeout {HEAD_MS} ms)", first_byte.elapsed())
        });
        assert!(
            at >= first_byte + Duration::from_millis(HEAD_MS - 200) || i > 0,
            "trickling connection closed after {:?}, before the {HEAD_MS} ms timeout",
            at - first_byte
        );
        last_trickling_close = last_trickling_close.max(at);
    }
    stop.store(true, Ordering::Relaxed);
    // ...and the idle ones by the idle timeout.
    let idle_deadline = idle_done + Duration::from_millis(IDLE_MS) + slack;
    let mut first_close = None;
    for (i, s) in idle.iter().enumerate() {
        let at = closed_by(s, idle_deadline).unwrap_or_else(|| {
            panic!("idle connection {i} still open {:?} after it was opened (idle timeout {IDLE_MS} ms)", idle_opened.elapsed())
        });
        first_close.get_or_insert(at);
    }
    for (i, s) in h2_idle.iter().enumerate() {
        assert!(
            closed_by(s, idle_deadline).is_some(),
            "h2c connection {i} with no stream still open {:?} after it was opened (idle timeout {IDLE_MS} ms)",
            idle_opened.elapsed()
        );
    }
    let first_close = first_close.unwrap();
    assert!(
        first_close >= idle_opened + Duration::from_millis(IDLE_MS - 200),
        "the first idle connection closed after {:?}, before the {IDLE_MS} ms idle timeout",
        first_close - idle_opened
    );
    eprintln!(
        "trickling closed within {:?} of their first byte, idle closed {:?}..{:?} after opening",
        last_trickling_close - first_byte,
        first_close - idle_opened,
        idle_opened.elapsed()
    );
    writer.join().unwrap();

    // The server still serves after all that.
    let (status, body, _) = list_streams(&addr);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn requests_over_max_concurrent_requests_get_503_service_unavailable() {
    let server = TestServer::start_with(&[
        "--transition-delay-ms",
        "0",
        "--no-throughput-limits",
        "--max-concurrent-requests",
        "2",
    ]);
    let addr = server.addr.clone();
    // Two requests in progress: heads sent, bodies still to come.
    let holders: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(format!("{}{{", head("ListStreams", 2, false)).as_bytes())
                .unwrap();
            s
        })
        .collect();
    // Both hold their slot (metrics are served outside the limit).
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&addr, "riffle_requests_in_flight") < 2.0 {
        assert!(
            Instant::now() < deadline,
            "the two held requests never took their slots"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        metric(&addr, "riffle_requests_in_flight"),
        2.0,
        "/metrics itself takes no slot"
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(10);
    let mut seen = Vec::new();
    let (status, body, took) = loop {
        let (status, body, took) = list_streams(&addr);
        seen.push((status, took));
        if status == 503 || Instant::now() > deadline {
            break (status, body, took);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        status,
        503,
        "a third concurrent request was not refused within {:?}: {body} (status, latency of each try: {seen:?})",
        started.elapsed()
    );
    let v = json(&body);
    assert_eq!(v["__type"], "ServiceUnavailableException", "{body}");
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains("--max-concurrent-requests") && msg.contains('2'),
        "{msg}"
    );
    assert!(took < Duration::from_secs(1), "the 503 took {took:?}");

    // The AWS SDK reads it as ServiceUnavailableException (and, by default, retries it).
    let endpoint = server.endpoint();
    let (code, message) = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let c = common::no_retry_client_for(&endpoint).await;
        common::kinesis::err(c.list_streams().send().await)
    });
    assert_eq!(code, "ServiceUnavailableException", "{message}");
    assert!(message.contains("--max-concurrent-requests"), "{message}");

    // Finishing one in-flight request frees its slot.
    let mut holders = holders;
    let mut first = holders.remove(0);
    first.write_all(b"}").unwrap();
    let mut buf = [0u8; 12];
    first.read_exact(&mut buf).unwrap();
    assert_eq!(
        &buf, b"HTTP/1.1 200",
        "the held request itself was answered"
    );
    let (status, body, _) = list_streams(&addr);
    assert_eq!(status, 200, "a slot freed by a finished request: {body}");
    assert_eq!(
        metric(&addr, "riffle_requests_in_flight"),
        1.0,
        "the second held request still holds its slot"
    );
    drop(holders);
    assert!(
        metric(
            &addr,
            r#"riffle_rejected_total{reason="max_concurrent_requests"}"#
        ) >= 2.0,
        "the refusals are counted"
    );
}

#[test]
fn a_body_sent_too_slowly_gets_408_and_the_connection_is_closed() {
    let server = TestServer::start_with(&[
        "--transition-delay-ms",
        "0",
        "--no-throughput-limits",
        "--body-timeout-ms",
        "1000",
    ]);
    let mut s = TcpStream::connect(&server.addr).unwrap();
    let started = Instant::now();
    s.write_all(head("ListStreams", 20, false).as_bytes())
        .unwrap();
    s.write_all(b"{").unwrap();
    // A body byte every 300 ms: steady, but far too slow for 20 bytes in 1 s.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (mut w, stop) = (s.try_clone().unwrap(), stop.clone());
        std::thread::spawn(move || {
            for _ in 0..15 {
                if stop.load(Ordering::Relaxed) || w.write_all(b" ").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    let resp = read_all(&mut s, Duration::from_secs(5));
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let (status, headers, body) = parse(&resp);
    assert_eq!(status, 408, "{body}");
    assert!(headers.contains("x-amzn-requestid:"), "{headers}");
    let v = json(&body);
    assert_eq!(v["__type"], "RequestTimeoutException", "{body}");
    assert!(
        v["message"].as_str().unwrap().contains("--body-timeout-ms"),
        "{body}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(3_000),
        "408 after {took:?} with a 1000 ms body timeout"
    );
    // read_all returned because the server closed the connection.
    assert!(closed_by(&s, Instant::now() + Duration::from_secs(1)).is_some());
    assert_eq!(
        metric(
            &server.addr,
            r#"riffle_rejected_total{reason="body_timeout"}"#
        ),
        1.0
    );
}

#[test]
fn connections_over_max_connections_get_503_and_are_closed() {
    let server = TestServer::start_with(&[
        "--transition-delay-ms",
        "0",
        "--no-throughput-limits",
        "--max-connections",
        "3",
    ]);
    let addr = server.addr.clone();
    let held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    // Each held connection was accepted once a request on it is answered.
    for mut s in held.iter() {
        s.write_all(format!("{}{{}}", head("ListStreams", 2, false)).as_bytes())
            .unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
    }
    let (status, body, took) = list_streams(&addr);
    assert_eq!(status, 503, "a fourth connection was served: {body}");
    let v = json(&body);
    assert_eq!(v["__type"], "ServiceUnavailableException", "{body}");
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains("--max-connections") && msg.contains('3'),
        "{msg}"
    );
    assert!(took < Duration::from_secs(1), "the 503 took {took:?}");

    // Closing one frees its slot (bounded wait for the server to notice).
    drop(held.into_iter().next());
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        let (status, _, _) = list_streams(&addr);
        if status == 200 || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status, 200, "a connection slot was not freed");
    assert!(
        metric(&addr, r#"riffle_rejected_total{reason="max_connections"}"#) >= 1.0,
        "the refused connection is counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_holds_no_request_slot_and_outlives_the_idle_timeout() {
    let server = TestServer::start_with(&[
        "--transition-delay-ms",
        "0",
        "--no-throughput-limits",
        "--max-concurrent-requests",
        "1",
        "--idle-timeout-ms",
        "1000",
    ]);
    let c = server.client().await;
    create_stream(&c, "s", 1).await;
    let consumer = c
        .register_stream_consumer()
        .stream_arn(arn("s"))
        .consumer_name("c")
        .send()
        .await
        .unwrap()
        .consumer()
        .unwrap()
        .consumer_arn()
        .to_string();
    let mut events = c
        .subscribe_to_shard()
        .consumer_arn(&consumer)
        .shard_id("shardId-000000000000")
        .starting_position(
            StartingPosition::builder()
                .r#type(ShardIteratorType::Latest)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // With the one request slot free, other requests are served meanwhile.
    let addr = server.addr.clone();
    let (status, body, _) = tokio::task::spawn_blocking(move || list_streams(&addr))
        .await
        .unwrap();
    assert_eq!(
        status, 200,
        "the subscription holds the only request slot: {body}"
    );
    // The stream keeps delivering (heartbeats every ~2 s) well past the 1 s
    // idle timeout: it is a request in flight, never idle.
    let started = Instant::now();
    let mut got = 0;
    while started.elapsed() < Duration::from_millis(4_500) {
        match tokio::time::timeout(Duration::from_secs(4), events.event_stream.recv()).await {
            Ok(Ok(Some(_))) => got += 1,
            other => panic!(
                "the subscription ended after {:?}: {other:?}",
                started.elapsed()
            ),
        }
    }
    assert!(got >= 2, "only {got} events in {:?}", started.elapsed());
}

/// Starts the binary by itself (not through [`TestServer`]), optionally under
/// `ulimit -n FD_LIMIT`; returns it, its address and its data dir.
fn spawn_riffle(
    fd_limit: Option<u32>,
    args: &[&str],
) -> (std::process::Child, String, tempfile::TempDir) {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(match fd_limit {
            Some(n) => format!("ulimit -n {n} && exec \"$0\" \"$@\""),
            None => "exec \"$0\" \"$@\"".to_string(),
        })
        .arg(env!("CARGO_BIN_EXE_riffle"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path().join("data"))
        .args(args)
        .env("RIFFLE_LOG", "warn")
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let addr = lines
        .by_ref()
        .take(20)
        .map_while(Result::ok)
        .find_map(|l| {
            l.trim()
                .strip_prefix("listening on http://")
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_string)
        })
        .expect("riffle did not print its listening address");
    std::thread::spawn(move || for _ in lines {});
    (child, addr, tmp)
}

#[test]
fn a_low_open_file_limit_lowers_the_connection_limit_instead_of_failing_accepts() {
    // 200 descriptors: a quarter is kept for data files, 150 for connections.
    let (mut child, addr, _tmp) = spawn_riffle(
        Some(200),
        &["--transition-delay-ms", "0", "--no-throughput-limits"],
    );
    let held: Vec<TcpStream> = (0..150)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // The last one was accepted once a request on it is answered.
    let mut last = held.last().unwrap();
    last.write_all(format!("{}{{}}", head("ListStreams", 2, false)).as_bytes())
        .unwrap();
    let mut buf = [0u8; 12];
    last.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    let (status, body, _) = list_streams(&addr);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        status, 503,
        "connection 151 under a 200-descriptor limit: {body}"
    );
    let msg = json(&body)["message"].as_str().unwrap().to_string();
    assert!(msg.contains("limit of 150 open connections"), "{msg}");
}

#[test]
fn shutdown_closes_idle_connections_and_the_server_exits() {
    let (mut child, addr, _tmp) = spawn_riffle(
        None,
        &[
            "--no-throughput-limits",
            "--idle-timeout-ms",
            "0",
            "--header-read-timeout-ms",
            "0",
        ],
    );
    // With the idle and header timeouts off, only the shutdown can close these.
    let silent = TcpStream::connect(&addr).unwrap();
    let mut kept_alive = TcpStream::connect(&addr).unwrap();
    kept_alive
        .write_all(format!("{}{{}}", head("ListStreams", 2, false)).as_bytes())
        .unwrap();
    let mut buf = [0u8; 12];
    kept_alive.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    let mut h2 = TcpStream::connect(&addr).unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let sent = Instant::now();
    let deadline = sent + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not exit within 5 s of SIGTERM with idle connections open");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    eprintln!("exited {:?} after SIGTERM", sent.elapsed());
    for (name, s) in [
        ("silent", &silent),
        ("keep-alive", &kept_alive),
        ("h2", &h2),
    ] {
        assert!(
            closed_by(s, Instant::now() + Duration::from_secs(1)).is_some(),
            "{name} connection still open after the server exited"
        );
    }
}
