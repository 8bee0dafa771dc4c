//! `S3Store` and the S3 destination against a real S3-compatible server on
//! loopback: moto's server mode (`pip install 'moto[server]'`; scripts/test.sh
//! and .ci/run install it). A server that cannot start fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use riffle_firehose::destination::s3::{batch_seed, ErrorOutputType, S3Destination};
use riffle_firehose::destination::FailedRecord;
use riffle_firehose::objects::{ObjectError, ObjectStore, S3Config, S3Store};

/// The moto server process, killed (by its own id) when the test ends.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("pick a free loopback port")
        .port();
    let child = Command::new("python3")
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 -m moto.server ({e}); install it with: pip install 'moto[server]'"));
    let mut moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = moto.child.try_wait().expect("poll moto") {
            let mut err = String::new();
            if let Some(mut stderr) = moto.child.stderr.take() {
                let _ = stderr.read_to_string(&mut err);
            }
            panic!(
                "moto server exited with {status} before listening; \
                 install it with: pip install 'moto[server]'\n{err}"
            );
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return moto;
        }
        assert!(
            Instant::now() < deadline,
            "moto server did not listen on 127.0.0.1:{port} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// CreateBucket as a bare HTTP request (moto takes it unsigned; object_store
/// has no bucket operations).
fn create_bucket(port: u16, bucket: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200"),
        "{reply}"
    );
}

fn store(port: u16) -> S3Store {
    S3Store::new(S3Config {
        endpoint: format!("http://127.0.0.1:{port}"),
        region: "us-east-1".into(),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        session_token: None,
    })
}

#[tokio::test]
async fn s3_store_puts_gets_lists_and_overwrites_on_a_real_server() {
    let moto = start_moto();
    create_bucket(moto.port, "riffle-test");
    let s3 = store(moto.port);

    assert_eq!(s3.get("riffle-test", "nothing/here").await.unwrap(), None);
    assert!(s3.list("riffle-test", "").await.unwrap().is_empty());

    s3.put("riffle-test", "a/x", Bytes::from_static(b"one"))
        .await
        .unwrap();
    s3.put("riffle-test", "a/y/z", Bytes::from_static(b"two"))
        .await
        .unwrap();
    s3.put("riffle-test", "ab", Bytes::from_static(b"three"))
        .await
        .unwrap();
    s3.put(
        "riffle-test",
        "year=2018/a b.gz",
        Bytes::from_static(b"four"),
    )
    .await
    .unwrap();

    assert_eq!(
        s3.get("riffle-test", "a/y/z").await.unwrap().unwrap(),
        &b"two"[..]
    );
    assert_eq!(
        s3.get("riffle-test", "year=2018/a b.gz")
            .await
            .unwrap()
            .unwrap(),
        &b"four"[..]
    );
    assert_eq!(
        s3.list("riffle-test", "").await.unwrap(),
        ["a/x", "a/y/z", "ab", "year=2018/a b.gz"]
    );
    // A string prefix, as S3's: "a" matches "ab", "a/" does not, and a
    // prefix ending mid-segment works.
    assert_eq!(
        s3.list("riffle-test", "a").await.unwrap(),
        ["a/x", "a/y/z", "ab"]
    );
    assert_eq!(
        s3.list("riffle-test", "a/").await.unwrap(),
        ["a/x", "a/y/z"]
    );
    assert_eq!(s3.list("riffle-test", "a/y/").await.unwrap(), ["a/y/z"]);
    assert_eq!(
        s3.list("riffle-test", "year=2018/a").await.unwrap(),
        ["year=2018/a b.gz"]
    );

    // Overwrite: still one object, with the new bytes.
    s3.put("riffle-test", "a/x", Bytes::from_static(b"replaced"))
        .await
        .unwrap();
    assert_eq!(
        s3.get("riffle-test", "a/x").await.unwrap().unwrap(),
        &b"replaced"[..]
    );
    assert_eq!(s3.list("riffle-test", "a/x").await.unwrap(), ["a/x"]);

    // A large object in one PUT.
    let big = Bytes::from(vec![7u8; 6 << 20]);
    s3.put("riffle-test", "big", big.clone()).await.unwrap();
    assert_eq!(s3.get("riffle-test", "big").await.unwrap().unwrap(), big);

    // Without credentials requests go unsigned (a local server that allows it).
    let anonymous = S3Store::new(S3Config {
        access_key_id: None,
        secret_access_key: None,
        ..s3.config().clone()
    });
    anonymous
        .put("riffle-test", "anon", Bytes::from_static(b"a"))
        .await
        .unwrap();
    assert_eq!(
        s3.get("riffle-test", "anon").await.unwrap().unwrap(),
        &b"a"[..]
    );

    // A bucket that does not exist is an error of the store, not "no object".
    let err = s3
        .put("no-such-bucket", "k", Bytes::new())
        .await
        .unwrap_err();
    assert!(matches!(err, ObjectError::S3 { .. }), "{err}");
    // Keys that would not round-trip are refused before any request.
    let err = s3
        .put("riffle-test", "a//b", Bytes::new())
        .await
        .unwrap_err();
    assert!(matches!(err, ObjectError::Key { .. }), "{err}");
}

#[tokio::test]
async fn s3_destination_delivers_to_a_real_server() {
    let moto = start_moto();
    create_bucket(moto.port, "deliveries");
    let s3: Arc<dyn ObjectStore> = Arc::new(store(moto.port));
    let cfg = serde_json::from_value(serde_json::json!({
        "RoleARN": "arn:aws:iam::123456789012:role/firehose",
        "BucketARN": "arn:aws:s3:::deliveries",
        "Prefix": "orders/",
        "ErrorOutputPrefix": "failed/!{firehose:error-output-type}/!{timestamp:yyyy}/",
        "CompressionFormat": "GZIP",
    }))
    .unwrap();
    let dest = S3Destination::new(s3.clone(), "orders-stream", &cfg).unwrap();
    let t = 1_535_365_805_123; // 2018-08-27T10:30:05.123Z
    let seed = batch_seed("uid-1", 42);
    let records = [
        Bytes::from_static(b"{\"id\":1}\n"),
        Bytes::from_static(b"{\"id\":2}\n"),
    ];

    let key = dest.write(seed, t, 1, &records).await.unwrap().unwrap();
    assert!(
        key.starts_with("orders/2018/08/27/10/orders-stream-1-2018-08-27-10-30-05-")
            && key.ends_with(".gz"),
        "{key}"
    );
    // Delivered again after a "crash": the same object, not a second one.
    assert_eq!(
        dest.write(seed, t, 1, &records).await.unwrap().unwrap(),
        key
    );
    assert_eq!(
        s3.list("deliveries", "orders/").await.unwrap(),
        vec![key.clone()]
    );

    let body = s3.get("deliveries", &key).await.unwrap().unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "{\"id\":1}\n{\"id\":2}\n");

    let failed = FailedRecord {
        raw_data: Bytes::from_static(b"{\"id\":3}"),
        arrival_ms: t,
        attempts_made: 3,
        attempt_ending_ms: t + 1000,
        error_code: "Lambda.ProcessingFailed".into(),
        error_message: "The record was marked ProcessingFailed".into(),
        extra: vec![(
            "lambdaArn",
            "arn:aws:lambda:us-east-1:123456789012:function:t".into(),
        )],
    };
    let err_key = dest
        .write_errors(ErrorOutputType::ProcessingFailed, seed, t, 1, &[failed])
        .await
        .unwrap()
        .unwrap();
    assert!(
        err_key.starts_with("failed/processing-failed/2018/orders-stream-1-"),
        "{err_key}"
    );
    let body = s3.get("deliveries", &err_key).await.unwrap().unwrap();
    let mut line = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(v["errorCode"], "Lambda.ProcessingFailed");
    assert_eq!(v["rawData"], "eyJpZCI6M30=");
}
