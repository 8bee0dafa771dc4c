//! The binary's TLS and open-mode rules: `riffle cert` writes a pair the
//! Rust SDK trusts over https, `--require-tls`, the open-mode banner, and
//! the refusal to listen on a non-loopback address in open mode.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::primitives::Blob;
use aws_smithy_http_client::tls;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `riffle serve` and what its banner said.
struct Riffle {
    child: Child,
    /// `http://...` or `https://...`.
    url: String,
    banner: Vec<String>,
}

impl Drop for Riffle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn riffle() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_riffle"));
    c.env("RIFFLE_LOG", "warn");
    c
}

/// Starts `riffle serve` with `args` and waits for its listening line.
fn serve(data_dir: &Path, args: &[&str]) -> Riffle {
    let mut child = riffle()
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    let mut url = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let trimmed = line.trim().to_string();
        banner.push(trimmed.clone());
        if let Some(rest) = trimmed.strip_prefix("listening on ") {
            url = Some(rest.split_whitespace().next().unwrap().to_string());
        }
        if trimmed.starts_with("try ") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Riffle {
        child,
        url: url.expect("riffle printed no listening address"),
        banner,
    }
}

fn https_client(endpoint: &str, ca_pem: &[u8]) -> aws_sdk_kinesis::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(
            tls::TlsContext::builder()
                .with_trust_store(tls::TrustStore::empty().with_pem_certificate(ca_pem))
                .build()
                .unwrap(),
        )
        .build_https();
    aws_sdk_kinesis::Client::from_conf(common::config_for(endpoint).http_client(http).build())
}

/// Open mode checks no signature, but the protocol core wants one present.
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd";

/// One raw HTTP/1.1 ListStreams with this Host; the status and body.
fn list_streams_with_host(addr: &str, host: &str) -> (u16, String) {
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: Kinesis_20131202.ListStreams\r\nX-Amz-Date: 20260101T000000Z\r\n\
         Authorization: {AUTH}\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    c.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    c.read_to_string(&mut raw).unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn riffle_cert_writes_a_pair_the_sdk_trusts() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("tls");
    let out = riffle()
        .args(["cert", "--days", "30", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let cert = std::fs::canonicalize(out_dir.join("cert.pem")).unwrap();
    let key = std::fs::canonicalize(out_dir.join("key.pem")).unwrap();
    for want in [
        cert.display().to_string(),
        key.display().to_string(),
        "--tls-cert".to_string(),
        "AWS_CA_BUNDLE=".to_string(),
    ] {
        assert!(text.contains(&want), "missing {want} in\n{text}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "key.pem is readable by others: {mode:o}");
    }
    // An existing pair is kept unless --force.
    let again = riffle()
        .arg("cert")
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let data = tmp.path().join("data");
    let server = serve(
        &data,
        &[
            "--listen",
            "127.0.0.1:0",
            "--transition-delay-ms",
            "0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--require-tls",
        ],
    );
    assert!(server.url.starts_with("https://"), "{:?}", server.banner);
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains("plaintext refused")),
        "{:?}",
        server.banner
    );
    let port = server.url.rsplit(':').next().unwrap().to_string();
    let ca = std::fs::read(&cert).unwrap();
    // The certificate names localhost and 127.0.0.1.
    for endpoint in [
        format!("https://localhost:{port}"),
        format!("https://127.0.0.1:{port}"),
    ] {
        let c = https_client(&endpoint, &ca);
        c.list_streams().send().await.unwrap();
    }
    let c = https_client(&format!("https://localhost:{port}"), &ca);
    c.create_stream()
        .stream_name("dev")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    c.put_record()
        .stream_name("dev")
        .partition_key("k")
        .data(Blob::new("hello"))
        .send()
        .await
        .unwrap();
    let s = c
        .describe_stream_summary()
        .stream_name("dev")
        .send()
        .await
        .unwrap();
    assert_eq!(s.stream_description_summary().unwrap().stream_name(), "dev");
    // Plaintext is refused with a 400 that names https.
    let (status, body) = list_streams_with_host(&format!("127.0.0.1:{port}"), "localhost");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("https://"), "{body}");
}

#[test]
fn open_mode_stays_on_loopback_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let refused = riffle()
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(tmp.path().join("data"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("open mode")
            && err.contains("--allow-open-network")
            && err.contains("--auth-config"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&refused.stdout).contains("listening on"));

    let server = serve(
        &tmp.path().join("data"),
        &["--listen", "0.0.0.0:0", "--allow-open-network"],
    );
    let banner = server.banner.join("\n");
    assert!(
        banner.contains("OPEN MODE: NO AUTHENTICATION") && banner.contains("WARNING"),
        "{banner}"
    );
    let port = server.url.rsplit(':').next().unwrap().to_string();
    let addr = format!("127.0.0.1:{port}");
    // DNS-rebinding protection: an unknown Host is refused, known ones served.
    let (status, body) = list_streams_with_host(&addr, "evil.example.com");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("AccessDeniedException") && body.contains("--allow-host"),
        "{body}"
    );
    let (status, body) = list_streams_with_host(&addr, &format!("localhost:{port}"));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn loopback_open_mode_banner_and_allow_host() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(
        &tmp.path().join("data"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--allow-host",
            "riffle.test",
            "--cors-origin",
            "http://localhost:3000",
        ],
    );
    assert!(server.url.starts_with("http://"));
    let banner = server.banner.join("\n");
    assert!(
        banner.contains("OPEN MODE: NO AUTHENTICATION")
            && banner.contains("http://localhost:3000")
            && banner.contains("riffle.test")
            && !banner.contains("WARNING"),
        "{banner}"
    );
    let addr = server.url.trim_start_matches("http://").to_string();
    assert_eq!(list_streams_with_host(&addr, "riffle.test").0, 200);
    assert_eq!(list_streams_with_host(&addr, "other.test").0, 403);
}
