//! Firehose test helpers: an SDK client for the test server, waiting for
//! ACTIVE, reading delivered objects back (the local S3 directory or an
//! S3-compatible server), decoding every `CompressionFormat`, and moto's
//! S3 server on a loopback port.

use super::TestServer;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::{
    BufferingHints, DeliveryStreamDescription, DeliveryStreamStatus, Record,
};
use aws_sdk_firehose::Client;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The account of a server started without an auth config.
pub const ACCOUNT: &str = "000000000000";
pub const ROLE: &str = "arn:aws:iam::000000000000:role/firehose-role";

/// A Firehose client for `server`: test credentials, us-east-1, no retries.
pub fn client(server: &TestServer) -> Client {
    let creds = aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test");
    let conf = aws_sdk_firehose::Config::builder()
        .behavior_version(aws_sdk_firehose::config::BehaviorVersion::latest())
        .region(aws_sdk_firehose::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(server.endpoint())
        .retry_config(aws_sdk_firehose::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

pub fn stream_arn(name: &str) -> String {
    format!("arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/{name}")
}

pub fn hints(size_mb: i32, interval_s: i32) -> BufferingHints {
    BufferingHints::builder()
        .size_in_mbs(size_mb)
        .interval_in_seconds(interval_s)
        .build()
}

pub fn record(data: impl Into<Vec<u8>>) -> Record {
    Record::builder()
        .data(Blob::new(data.into()))
        .build()
        .unwrap()
}

pub async fn wait_active(c: &Client, name: &str) -> DeliveryStreamDescription {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = c
            .describe_delivery_stream()
            .delivery_stream_name(name)
            .send()
            .await
            .unwrap()
            .delivery_stream_description()
            .unwrap()
            .clone();
        if d.delivery_stream_status() == &DeliveryStreamStatus::Active {
            return d;
        }
        assert!(Instant::now() < deadline, "{name} never ACTIVE: {d:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// PutRecordBatch of `records` in requests of `per_call`, asserting none failed.
pub async fn put_all(c: &Client, name: &str, records: &[Vec<u8>], per_call: usize) {
    for chunk in records.chunks(per_call) {
        let out = c
            .put_record_batch()
            .delivery_stream_name(name)
            .set_records(Some(chunk.iter().map(|r| record(r.clone())).collect()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_put_count(), 0, "{out:?}");
    }
}

/// `{key: bytes}` of every file under `bucket_dir` (`DATA_DIR/s3/BUCKET`),
/// keys with `/`. The local store's files being written (names containing
/// `.riffle-tmp-`) are not objects yet and are skipped.
pub fn local_objects(bucket_dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.to_string_lossy().contains(".riffle-tmp-") {
                continue;
            } else if let Ok(bytes) = std::fs::read(&path) {
                let key = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(key, bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(bucket_dir, bucket_dir, &mut out);
    out
}

/// Polls `read` until `done` holds for its result or `within` passes;
/// returns the last result either way (the caller asserts).
pub async fn poll<T>(
    within: Duration,
    mut read: impl FnMut() -> T,
    mut done: impl FnMut(&T) -> bool,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let got = read();
        if done(&got) || Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `.gz` of GZIP objects.
pub fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("a gzip stream");
    out
}

/// The `.snappy` of Snappy objects: the Snappy framing format.
pub fn unsnappy(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    snap::read::FrameDecoder::new(data)
        .read_to_end(&mut out)
        .expect("a Snappy framed stream");
    out
}

/// The `.hsnappy` of HADOOP_SNAPPY objects: per block a big-endian u32
/// uncompressed length, a big-endian u32 compressed length, a raw block.
pub fn unhadoop_snappy(mut data: &[u8]) -> Vec<u8> {
    let u32_at = |d: &[u8]| u32::from_be_bytes(d[..4].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    while !data.is_empty() {
        assert!(data.len() >= 8, "a truncated Hadoop Snappy block header");
        let raw_len = u32_at(data);
        let block_len = u32_at(&data[4..]);
        let block = &data[8..8 + block_len];
        let raw = snap::raw::Decoder::new()
            .decompress_vec(block)
            .expect("a raw Snappy block");
        assert_eq!(raw.len(), raw_len, "the block's stated length");
        out.extend_from_slice(&raw);
        data = &data[8 + block_len..];
    }
    out
}

/// The `.zip` of ZIP objects: (entry names, concatenated entry contents).
pub fn unzip(data: &[u8]) -> (Vec<String>, Vec<u8>) {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(data)).expect("a zip archive");
    let mut names = Vec::new();
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        names.push(f.name().to_string());
        f.read_to_end(&mut out).unwrap();
    }
    (names, out)
}

/// Checks `<name>-<version>-YYYY-MM-dd-HH-mm-ss-<uuid><ext>` (the part of a
/// key after the prefix) and returns its time stamp, which must be about now.
pub fn check_object_name(
    object: &str,
    name: &str,
    version: &str,
    ext: &str,
) -> chrono::DateTime<chrono::Utc> {
    let rest = object
        .strip_prefix(&format!("{name}-{version}-"))
        .unwrap_or_else(|| panic!("{object}: starts {name}-{version}-"));
    let rest = rest
        .strip_suffix(ext)
        .unwrap_or_else(|| panic!("{object}: ends with {ext:?}"));
    assert_eq!(rest.len(), 20 + 36, "{object}: a time stamp and a UUID");
    let (stamp, uuid) = rest.split_at(20);
    let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{object}: a UUID");
    assert!(
        uuid.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()),
        "{object}"
    );
    let when =
        chrono::NaiveDateTime::parse_from_str(stamp.trim_end_matches('-'), "%Y-%m-%d-%H-%M-%S")
            .unwrap_or_else(|e| panic!("{object}: {e}"))
            .and_utc();
    let skew = (chrono::Utc::now() - when).num_seconds().abs();
    assert!(
        skew < 120,
        "{object}: the time stamp is now, in UTC ({skew} s off)"
    );
    when
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// moto's S3 server (`python3 -m moto.server`), killed by its own id on drop.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto on a free loopback port; a moto that cannot start fails
    /// the test with how to install it.
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run python3 -m moto.server ({e}); pip install 'moto[server]'")
            });
        let mut moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = moto.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut stderr) = moto.child.stderr.take() {
                    let _ = stderr.read_to_string(&mut err);
                }
                panic!("moto exited with {status}; pip install 'moto[server]'\n{err}");
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return moto;
            }
            assert!(
                Instant::now() < deadline,
                "moto did not listen on {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// CreateBucket as a bare HTTP request (moto takes it unsigned).
    pub fn create_bucket(&self, bucket: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(
            reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200"),
            "{reply}"
        );
    }
}
