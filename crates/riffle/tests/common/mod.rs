//! Test harness: runs the real `riffle` binary on an ephemeral loopback port
//! with its own temporary data directory, and builds real AWS clients for it.
#![allow(dead_code, clippy::unwrap_used)]

pub mod firehose;
pub mod h2c;
pub mod kinesis;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestServer {
    child: Option<Child>,
    pub addr: String,
    data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    extra_args: Vec<String>,
    /// Environment variables for the server process (e.g. S3 credentials).
    envs: Vec<(String, String)>,
}

impl TestServer {
    /// A server with immediate stream transitions and a fresh data dir, and no
    /// per-shard throughput limits (most tests write faster than AWS allows).
    pub fn start() -> TestServer {
        Self::start_with(&["--transition-delay-ms", "0", "--no-throughput-limits"])
    }

    /// Like [`Self::start`] but with AWS's per-shard throughput limits enforced.
    pub fn start_limited() -> TestServer {
        Self::start_with(&["--transition-delay-ms", "0"])
    }

    pub fn start_with(args: &[&str]) -> TestServer {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let mut s = TestServer {
            child: None,
            addr: String::new(),
            data_dir,
            _tmp: Some(tmp),
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            envs: Vec::new(),
        };
        s.spawn();
        s
    }

    /// Like [`Self::start_with`], with extra environment variables for the server.
    pub fn start_with_env(args: &[&str], envs: &[(&str, &str)]) -> TestServer {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let mut s = TestServer {
            child: None,
            addr: String::new(),
            data_dir,
            _tmp: Some(tmp),
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        s.spawn();
        s
    }

    /// A server on an existing data dir (the caller keeps the directory alive).
    pub fn start_on(data_dir: &Path, args: &[&str]) -> TestServer {
        let mut s = TestServer {
            child: None,
            addr: String::new(),
            data_dir: data_dir.to_path_buf(),
            _tmp: None,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            envs: Vec::new(),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_riffle"))
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.extra_args)
            .env("RIFFLE_LOG", "warn")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn riffle");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut addr = None;
        while Instant::now() < deadline {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.trim().strip_prefix("listening on http://") {
                        addr = Some(rest.split_whitespace().next().unwrap().to_string());
                        break;
                    }
                }
                _ => break,
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.addr = addr.expect("riffle did not print its listening address");
        self.child = Some(child);
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kill -9 and start again on the same data dir and flags (new port).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// A Rust AWS SDK Kinesis client pointed at this server.
    pub async fn client(&self) -> aws_sdk_kinesis::Client {
        client_for(&self.endpoint()).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A client that surfaces throttling instead of retrying it (the SDK retries
/// ProvisionedThroughputExceededException by default).
pub async fn no_retry_client_for(endpoint: &str) -> aws_sdk_kinesis::Client {
    let conf = client_for(endpoint)
        .await
        .config()
        .to_builder()
        .retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_kinesis::Client::from_conf(conf)
}

pub async fn client_for(endpoint: &str) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::from_conf(config_for(endpoint).build())
}

/// The SDK config of [`client_for`] (test credentials, us-east-1, this
/// endpoint), for a caller to add to before building.
pub fn config_for(endpoint: &str) -> aws_sdk_kinesis::config::Builder {
    let creds = aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test");
    aws_sdk_kinesis::Config::builder()
        .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
        .region(aws_sdk_kinesis::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(endpoint)
}
