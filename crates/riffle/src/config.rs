//! Configuration: built-in defaults, overridden by a TOML file, overridden by
//! environment variables, overridden by command-line flags.

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The commented default configuration printed by `riffle config`.
pub const DEFAULT_CONFIG: &str = r#"# Riffle configuration. Every key is optional; shown are the defaults.
# Precedence: command-line flag > environment variable > this file > default.

# Address to listen on for HTTP/1.1 and h2c. Port 0 picks a free port.  (RIFFLE_LISTEN, --listen)
listen = "127.0.0.1:4567"

# Where records and metadata live.  (RIFFLE_DATA_DIR, --data-dir)
data_dir = "./riffle-data"

# Region and account that appear in ARNs and error messages.  (RIFFLE_REGION, RIFFLE_ACCOUNT_ID)
region = "us-east-1"
account_id = "000000000000"

# Durability policy for record appends.  (RIFFLE_FSYNC, --fsync)
#   "always"        acknowledge a PutRecord(s) only after fdatasync (group commit); survives power loss
#   "interval:MS"   fdatasync at most every MS milliseconds; survives kill -9, may lose the last MS on power loss
#   "never"         leave flushing to the OS; survives kill -9 only
fsync = "always"

# How long streams stay CREATING, UPDATING or DELETING, in ms; 0 = immediate.  (RIFFLE_TRANSITION_DELAY_MS)
transition_delay_ms = 500

# Account-wide shard limit (LimitExceededException beyond it).  (RIFFLE_SHARD_LIMIT)
shard_limit = 20000

# Segment files roll at this size (bytes) or age (ms); retention deletes whole segments.
segment_max_bytes = 67108864
segment_max_age_ms = 3600000

# How often retention is enforced, in ms.  (RIFFLE_RETENTION_CHECK_MS)
retention_check_ms = 60000

# Largest accepted request body in bytes (HTTP 413 beyond).
max_request_bytes = 16777216

# Enhanced fan-out consumers per stream (AWS: 20).  (RIFFLE_MAX_CONSUMERS, --max-consumers)
max_consumers = 20

# A SubscribeToShard event stream ends after this many ms (AWS: 5 minutes).  (RIFFLE_SUBSCRIPTION_LIFETIME_MS)
subscription_lifetime_ms = 300000

# Enforce AWS's per-shard throughput limits: 1 MiB/s and 1,000 records/s in, 2 MiB/s and
# 5 GetRecords calls/s out (ProvisionedThroughputExceededException beyond), so applications meet
# throttling here as on AWS. false turns them off.  (RIFFLE_NO_THROUGHPUT_LIMITS=true, --no-throughput-limits)
throughput_limits = true

# Open connections at once; more are answered 503 (ServiceUnavailableException) and closed.
# The soft open-file limit is raised toward this at startup (a warning says if it cannot be).
# (RIFFLE_MAX_CONNECTIONS, --max-connections)
max_connections = 10000

# Requests processed at once (up to max_request_bytes of body each); more are answered at once
# with 503 ServiceUnavailableException, which the AWS SDKs retry with backoff. A SubscribeToShard
# event stream counts only until it has started.  (RIFFLE_MAX_CONCURRENT_REQUESTS, --max-concurrent-requests)
max_concurrent_requests = 512

# Once the first byte of a request arrives, its head must be complete within this many ms,
# else the connection is closed (slow clients cannot hold it). 0 = no limit.
# (RIFFLE_HEADER_READ_TIMEOUT_MS, --header-read-timeout-ms)
header_read_timeout_ms = 10000

# A connection with no request in flight is closed after this many ms (HTTP/2: with GOAWAY).
# Longer than the AWS SDKs' own pool idle times (60-90 s), so that clients close first and never
# send a request on a connection the server is closing. 0 = never.  (RIFFLE_IDLE_TIMEOUT_MS, --idle-timeout-ms)
idle_timeout_ms = 120000

# A request body must arrive in full within this many ms after its head, else 408
# RequestTimeoutException and the connection is closed. The largest PutRecords (~13.4 MiB)
# then needs ~230 KB/s; raise it for slower links. Responses are never cut. 0 = no limit.
# (RIFFLE_BODY_TIMEOUT_MS, --body-timeout-ms)
body_timeout_ms = 60000

# TLS: a PEM certificate chain (leaf first) and its PEM private key; both or neither.
# With them the port serves HTTPS (HTTP/1.1 and HTTP/2 by ALPN) and, unless require_tls,
# plaintext too. `riffle cert` writes a self-signed pair for localhost.
# (RIFFLE_TLS_CERT, --tls-cert; RIFFLE_TLS_KEY, --tls-key)
# tls_cert = "cert.pem"
# tls_key = "key.pem"

# Refuse plaintext connections (answered 400 naming https, then closed). Needs tls_cert.
# (RIFFLE_REQUIRE_TLS=true, --require-tls)
require_tls = false

# Authentication and IAM configuration. Without it Riffle runs in open mode: no
# authentication, loopback addresses only (unless allow_open_network), CORS only for
# cors_origins and requests only for known Host names.  (RIFFLE_AUTH_CONFIG, --auth-config)
# auth_config = "auth.toml"

# With auth_config: "enforce" denies what the policies do not allow; "audit" allows it
# and logs what would have been denied.  (RIFFLE_AUTH_MODE, --auth-mode)
auth_mode = "enforce"

# The audit trail: one CloudTrail record per API call (allowed or refused) under
# <data_dir>/audit/AWSLogs/... as .json.gz files; read them with `riffle audit`.
# Management events are durable before the response; data events (PutRecord(s),
# GetRecords, GetShardIterator, SubscribeToShard) within 1 s.
# (RIFFLE_NO_AUDIT=true / --no-audit turns it off)
audit = true
# Record data events too.  (RIFFLE_NO_AUDIT_DATA_EVENTS=true, --no-audit-data-events)
audit_data_events = true
# Days finished audit files are kept; 0 keeps them forever.  (RIFFLE_AUDIT_RETENTION_DAYS, --audit-retention-days)
audit_retention_days = 90
# Also put every audit record (its JSON, partition key = eventID) into this Riffle stream,
# which you create; records are dropped with a warning while it does not exist.
# (RIFFLE_AUDIT_STREAM, --audit-stream)
# audit_stream = "audit-trail"

# Firehose: delivered objects go to an S3-compatible server at this URL (credentials from
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, region from AWS_REGION);
# without it, to the local directory s3_dir, as <s3_dir>/<bucket>/<key>.
# (RIFFLE_S3_ENDPOINT, --s3-endpoint)
# s3_endpoint = "http://127.0.0.1:9000"
# Default: <data_dir>/s3.  (RIFFLE_S3_DIR, --s3-dir)
# s3_dir = "riffle-data/s3"

# Undelivered MiB a delivery stream may buffer on disk (its destination down) before
# PutRecord(Batch) answer ServiceUnavailableException "Slow down.".
# (RIFFLE_FIREHOSE_BUFFER_CAP_MB, --firehose-buffer-cap-mb)
firehose_buffer_cap_mb = 1024

# Hours delivered Firehose records stay in the buffer for `riffle firehose redeliver`.
# (RIFFLE_FIREHOSE_REPLAY_HOURS, --firehose-replay-hours)
firehose_replay_hours = 24

# First retry delay after a failed delivery, doubling up to 60 s.
# (RIFFLE_FIREHOSE_RETRY_MS, --firehose-retry-ms)
firehose_retry_ms = 1000

# Table definitions that a DataFormatConversionConfiguration's SchemaConfiguration
# (DatabaseName, TableName) names, in place of AWS Glue (see the README's Firehose
# section for the format).  (RIFFLE_FIREHOSE_TABLES, --firehose-tables)
# firehose_tables = "tables.toml"

# Active partitions a dynamically partitioned delivery stream may have (AWS's quota: 500).
# (RIFFLE_FIREHOSE_ACTIVE_PARTITIONS, --firehose-active-partitions)
firehose_active_partitions = 500

# Open mode: allow listening on a non-loopback address, so anyone who can reach it can
# read and write every stream.  (RIFFLE_ALLOW_OPEN_NETWORK=true, --allow-open-network)
allow_open_network = false

# Open mode: web origins allowed by CORS, e.g. ["http://localhost:3000"]; "*" allows any.
# Others get no Access-Control-Allow-* headers.  (RIFFLE_CORS_ORIGINS=a,b; --cors-origin, repeatable)
cors_origins = []

# Open mode: Host names accepted besides localhost, 127.0.0.1, [::1] and the address a client
# connected to ("name" for any port, "name:port" for one); others get 403 (DNS-rebinding
# protection).  (RIFFLE_ALLOW_HOSTS=a,b; --allow-host, repeatable)
allow_hosts = []

# Log lines on stderr: "text" or "json" (one object per line). RIFFLE_LOG sets the filter;
# per-request logs (request_id, op, status, error, latency_us, stream) are at debug level,
# e.g. RIFFLE_LOG=info,riffle_server=debug.  (RIFFLE_LOG_FORMAT, --log-format)
log_format = "text"

# Firehose Lambda processors: function ARN (or name) -> an http(s):// URL that takes the
# event as a POST (a Lambda runtime interface emulator's invocation URL works), or
# "cmd:COMMAND", run with the event on stdin and the answer on stdout. Keep this table last.
# (--function FUNCTION=TARGET, repeatable)
# [functions]
# "arn:aws:lambda:us-east-1:000000000000:function:transform" = "http://127.0.0.1:9000/2015-03-31/functions/function/invocations"
# "enrich" = "cmd:python3 enrich.py"
"#;

/// The `serve` flags. Each is optional so the file and defaults can fill in.
#[derive(Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// TOML configuration file (see `riffle config`).
    #[arg(long, env = "RIFFLE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:4567]
    #[arg(long, env = "RIFFLE_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Data directory [default: ./riffle-data]
    #[arg(long, env = "RIFFLE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Region used in ARNs [default: us-east-1]
    #[arg(long, env = "RIFFLE_REGION")]
    pub region: Option<String>,
    /// 12-digit account id used in ARNs and messages [default: 000000000000]
    #[arg(long, env = "RIFFLE_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// Durability: always | interval:MS | never [default: always]
    #[arg(long, env = "RIFFLE_FSYNC", value_name = "POLICY")]
    pub fsync: Option<String>,
    /// How long CREATING/UPDATING/DELETING last in ms; 0 = immediate [default: 500]
    #[arg(long, env = "RIFFLE_TRANSITION_DELAY_MS", value_name = "N")]
    pub transition_delay_ms: Option<u64>,
    /// Account-wide shard limit [default: 20000]
    #[arg(long, env = "RIFFLE_SHARD_LIMIT", value_name = "N")]
    pub shard_limit: Option<i64>,
    /// How often retention is enforced, in ms [default: 60000]
    #[arg(long, env = "RIFFLE_RETENTION_CHECK_MS", value_name = "MS")]
    pub retention_check_ms: Option<u64>,
    /// Enhanced fan-out consumers per stream [default: 20]
    #[arg(long, env = "RIFFLE_MAX_CONSUMERS", value_name = "N")]
    pub max_consumers: Option<usize>,
    /// How long a SubscribeToShard stream lasts, in ms [default: 300000]
    #[arg(long, env = "RIFFLE_SUBSCRIPTION_LIFETIME_MS", value_name = "MS")]
    pub subscription_lifetime_ms: Option<u64>,
    /// Turn off the per-shard throughput limits (1 MiB/s, 1,000 records/s in; 2 MiB/s, 5 reads/s out)
    #[arg(long, env = "RIFFLE_NO_THROUGHPUT_LIMITS")]
    pub no_throughput_limits: bool,
    /// Open connections at once; more get 503 and are closed [default: 10000]
    #[arg(long, env = "RIFFLE_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Requests processed at once; more get 503 ServiceUnavailableException [default: 512]
    #[arg(long, env = "RIFFLE_MAX_CONCURRENT_REQUESTS", value_name = "N")]
    pub max_concurrent_requests: Option<usize>,
    /// A request head must arrive within this once started, in ms; 0 = no limit [default: 10000]
    #[arg(long, env = "RIFFLE_HEADER_READ_TIMEOUT_MS", value_name = "MS")]
    pub header_read_timeout_ms: Option<u64>,
    /// Close connections with no request in flight after this, in ms; 0 = never [default: 120000]
    #[arg(long, env = "RIFFLE_IDLE_TIMEOUT_MS", value_name = "MS")]
    pub idle_timeout_ms: Option<u64>,
    /// A request body must arrive within this, in ms, else 408; 0 = no limit [default: 60000]
    #[arg(long, env = "RIFFLE_BODY_TIMEOUT_MS", value_name = "MS")]
    pub body_timeout_ms: Option<u64>,
    /// Log format on stderr: text | json [default: text]
    #[arg(long, env = "RIFFLE_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// PEM certificate chain to serve TLS with (with --tls-key) [default: none]
    #[arg(long, env = "RIFFLE_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert [default: none]
    #[arg(long, env = "RIFFLE_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Refuse plaintext connections (needs --tls-cert and --tls-key)
    #[arg(long, env = "RIFFLE_REQUIRE_TLS")]
    pub require_tls: bool,
    /// Open mode: a web origin CORS allows, e.g. http://localhost:3000; '*' = any; repeatable [default: none]
    #[arg(
        long = "cors-origin",
        env = "RIFFLE_CORS_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// Open mode: another Host name to answer (name or name:port); repeatable [default: none]
    #[arg(
        long = "allow-host",
        env = "RIFFLE_ALLOW_HOSTS",
        value_name = "HOST",
        value_delimiter = ','
    )]
    pub allow_hosts: Vec<String>,
    /// Authentication/IAM configuration; without it Riffle runs in open mode [default: none]
    #[arg(long, env = "RIFFLE_AUTH_CONFIG", value_name = "FILE")]
    pub auth_config: Option<PathBuf>,
    /// With --auth-config: enforce | audit [default: enforce]
    #[arg(long, env = "RIFFLE_AUTH_MODE", value_name = "MODE")]
    pub auth_mode: Option<String>,
    /// Open mode: allow listening on a non-loopback address
    #[arg(long, env = "RIFFLE_ALLOW_OPEN_NETWORK")]
    pub allow_open_network: bool,
    /// Turn the audit trail (<data-dir>/audit, CloudTrail format) off
    #[arg(long, env = "RIFFLE_NO_AUDIT")]
    pub no_audit: bool,
    /// Record only management events in the audit trail, not data events
    #[arg(long, env = "RIFFLE_NO_AUDIT_DATA_EVENTS")]
    pub no_audit_data_events: bool,
    /// Days finished audit files are kept; 0 = forever [default: 90]
    #[arg(long, env = "RIFFLE_AUDIT_RETENTION_DAYS", value_name = "DAYS")]
    pub audit_retention_days: Option<u64>,
    /// Also put every audit record into this stream (create it yourself) [default: none]
    #[arg(long, env = "RIFFLE_AUDIT_STREAM", value_name = "STREAM")]
    pub audit_stream: Option<String>,
    /// Firehose: deliver objects to the S3-compatible server at this URL (credentials from the AWS_* env vars) [default: the local s3 dir]
    #[arg(long, env = "RIFFLE_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Firehose: without --s3-endpoint, objects go to DIR/<bucket>/<key> [default: <data-dir>/s3]
    #[arg(long, env = "RIFFLE_S3_DIR", value_name = "DIR")]
    pub s3_dir: Option<PathBuf>,
    /// Firehose: undelivered MiB per delivery stream before puts get "Slow down." [default: 1024]
    #[arg(long, env = "RIFFLE_FIREHOSE_BUFFER_CAP_MB", value_name = "MB")]
    pub firehose_buffer_cap_mb: Option<u64>,
    /// Firehose: hours delivered records are kept for redelivery [default: 24]
    #[arg(long, env = "RIFFLE_FIREHOSE_REPLAY_HOURS", value_name = "HOURS")]
    pub firehose_replay_hours: Option<u64>,
    /// Firehose: first retry delay after a failed delivery, doubling up to 60 s [default: 1000]
    #[arg(long, env = "RIFFLE_FIREHOSE_RETRY_MS", value_name = "MS")]
    pub firehose_retry_ms: Option<u64>,
    /// Firehose: table definitions for record format conversion, in place of AWS Glue [default: none]
    #[arg(long, env = "RIFFLE_FIREHOSE_TABLES", value_name = "FILE")]
    pub firehose_tables: Option<PathBuf>,
    /// Firehose: active partitions per dynamically partitioned delivery stream [default: 500]
    #[arg(long, env = "RIFFLE_FIREHOSE_ACTIVE_PARTITIONS", value_name = "N")]
    pub firehose_active_partitions: Option<u64>,
    /// Firehose: map a Lambda function (ARN or name) to an http(s):// URL or a `cmd:COMMAND` (repeatable)
    #[arg(long = "function", value_name = "FUNCTION=TARGET")]
    pub functions: Vec<String>,
    /// Firehose (tests): spend at most MS retrying an HTTP endpoint, instead of its RetryOptions [default: RetryOptions]
    #[arg(
        long,
        env = "RIFFLE_FIREHOSE_HTTP_RETRY_MS",
        value_name = "MS",
        hide = true
    )]
    pub firehose_http_retry_ms: Option<u64>,
    /// Firehose (tests): how long an HTTP endpoint has to answer one request [default: 180000, AWS's 3 min]
    #[arg(
        long,
        env = "RIFFLE_FIREHOSE_HTTP_TIMEOUT_MS",
        value_name = "MS",
        hide = true
    )]
    pub firehose_http_timeout_ms: Option<u64>,
}

/// The account ARNs name when neither a flag nor an auth config says.
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    /// `[functions]` table: function ARN or name → URL or `cmd:COMMAND`.
    functions: Option<std::collections::BTreeMap<String, String>>,
    s3_endpoint: Option<String>,
    s3_dir: Option<PathBuf>,
    firehose_buffer_cap_mb: Option<u64>,
    firehose_replay_hours: Option<u64>,
    firehose_retry_ms: Option<u64>,
    firehose_tables: Option<PathBuf>,
    firehose_active_partitions: Option<u64>,
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    region: Option<String>,
    account_id: Option<String>,
    fsync: Option<String>,
    transition_delay_ms: Option<u64>,
    shard_limit: Option<i64>,
    segment_max_bytes: Option<u64>,
    segment_max_age_ms: Option<i64>,
    retention_check_ms: Option<u64>,
    max_request_bytes: Option<usize>,
    throughput_limits: Option<bool>,
    max_consumers: Option<usize>,
    subscription_lifetime_ms: Option<u64>,
    max_connections: Option<usize>,
    max_concurrent_requests: Option<usize>,
    header_read_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    body_timeout_ms: Option<u64>,
    log_format: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    require_tls: Option<bool>,
    cors_origins: Option<Vec<String>>,
    allow_hosts: Option<Vec<String>>,
    auth_config: Option<PathBuf>,
    auth_mode: Option<String>,
    allow_open_network: Option<bool>,
    audit: Option<bool>,
    audit_data_events: Option<bool>,
    audit_retention_days: Option<u64>,
    audit_stream: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn parse(s: &str) -> Result<LogFormat> {
        match s.trim() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => bail!("unknown log format {other:?}: use text or json"),
        }
    }
}

/// What an auth configuration does with a request its policies do not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Deny it.
    Enforce,
    /// Allow it and log that it would have been denied.
    Audit,
}

impl AuthMode {
    pub fn parse(s: &str) -> Result<AuthMode> {
        match s.trim() {
            "enforce" => Ok(AuthMode::Enforce),
            "audit" => Ok(AuthMode::Audit),
            other => bail!("unknown auth mode {other:?}: use enforce or audit"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    Always,
    Interval(u64),
    Never,
}

impl Fsync {
    pub fn parse(s: &str) -> Result<Fsync> {
        Ok(match s.trim() {
            "always" => Fsync::Always,
            "never" => Fsync::Never,
            other => match other.strip_prefix("interval:") {
                Some(ms) => Fsync::Interval(
                    ms.parse()
                        .with_context(|| format!("bad fsync interval in {other:?}"))?,
                ),
                None => bail!("unknown fsync policy {other:?}: use always, interval:MS or never"),
            },
        })
    }

    pub fn describe(self) -> String {
        match self {
            Fsync::Always => "fsync=always: acknowledged after fdatasync (group commit); survives kill -9 and power loss".into(),
            Fsync::Interval(ms) => format!("fsync=interval:{ms}: fdatasync every {ms} ms; survives kill -9, power loss may drop the last {ms} ms"),
            Fsync::Never => "fsync=never: the OS flushes; survives kill -9, not power loss".into(),
        }
    }
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    pub data_dir: PathBuf,
    pub region: String,
    pub account_id: String,
    pub fsync: Fsync,
    pub transition_delay_ms: u64,
    pub shard_limit: i64,
    pub s3_endpoint: Option<String>,
    /// `None`: `<data_dir>/s3`.
    pub s3_dir: Option<PathBuf>,
    pub firehose_buffer_cap_mb: u64,
    pub firehose_replay_hours: u64,
    pub firehose_retry_ms: u64,
    pub firehose_tables: Option<PathBuf>,
    pub firehose_active_partitions: u64,
    /// `FUNCTION=TARGET` mappings: the config file's, then the flags'.
    pub functions: Vec<String>,
    pub firehose_http_retry_ms: Option<u64>,
    pub firehose_http_timeout_ms: Option<u64>,
    pub segment_max_bytes: u64,
    pub segment_max_age_ms: i64,
    pub retention_check_ms: u64,
    pub max_request_bytes: usize,
    pub throughput_limits: bool,
    pub max_consumers: usize,
    pub subscription_lifetime_ms: u64,
    pub max_connections: usize,
    pub max_concurrent_requests: usize,
    /// 0 = no limit, for each of the three timeouts.
    pub header_read_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub body_timeout_ms: u64,
    pub log_format: LogFormat,
    /// Both or neither.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub require_tls: bool,
    pub cors_origins: Vec<String>,
    pub allow_hosts: Vec<String>,
    /// `None`: open mode.
    pub auth_config: Option<PathBuf>,
    /// Meaningful only with `auth_config`.
    pub auth_mode: AuthMode,
    pub allow_open_network: bool,
    /// The audit trail is written.
    pub audit: bool,
    pub audit_data_events: bool,
    /// 0 = keep forever.
    pub audit_retention_days: u64,
    pub audit_stream: Option<String>,
}

impl Config {
    pub fn resolve(args: &ServeArgs) -> Result<Config> {
        let file = match &args.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let fsync = Fsync::parse(
            args.fsync
                .as_deref()
                .or(file.fsync.as_deref())
                .unwrap_or("always"),
        )?;
        let log_format = LogFormat::parse(
            args.log_format
                .as_deref()
                .or(file.log_format.as_deref())
                .unwrap_or("text"),
        )?;
        let account_id = args
            .account_id
            .clone()
            .or(file.account_id)
            .unwrap_or_else(|| DEFAULT_ACCOUNT_ID.into());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("account id must be 12 digits, got {account_id:?}");
        }
        let max_connections = args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(10_000);
        if max_connections == 0 {
            bail!("max connections must be at least 1 (--max-connections, RIFFLE_MAX_CONNECTIONS, max_connections)");
        }
        let max_concurrent_requests = args
            .max_concurrent_requests
            .or(file.max_concurrent_requests)
            .unwrap_or(512);
        if max_concurrent_requests == 0 {
            bail!("max concurrent requests must be at least 1 (--max-concurrent-requests, RIFFLE_MAX_CONCURRENT_REQUESTS, max_concurrent_requests)");
        }
        let tls_cert = args.tls_cert.clone().or(file.tls_cert);
        let tls_key = args.tls_key.clone().or(file.tls_key);
        if tls_cert.is_some() != tls_key.is_some() {
            bail!("TLS needs both a certificate and its key: give --tls-cert and --tls-key together (or tls_cert and tls_key in the file)");
        }
        let require_tls = args.require_tls || file.require_tls.unwrap_or(false);
        if require_tls && tls_cert.is_none() {
            bail!("--require-tls needs --tls-cert and --tls-key (`riffle cert` writes a development pair)");
        }
        let auth_config = args.auth_config.clone().or(file.auth_config);
        let auth_mode = match args.auth_mode.as_deref().or(file.auth_mode.as_deref()) {
            Some(m) => {
                let mode = AuthMode::parse(m)?;
                if auth_config.is_none() && args.auth_mode.is_some() {
                    bail!("--auth-mode needs --auth-config FILE: without one Riffle runs in open mode, with no authentication to enforce or audit");
                }
                mode
            }
            None => AuthMode::Enforce,
        };
        // Flags (or their env var) replace the file's list.
        let list = |flag: &[String], file: Option<Vec<String>>| -> Vec<String> {
            if flag.is_empty() {
                file.unwrap_or_default()
            } else {
                flag.to_vec()
            }
        };
        let cors_origins = list(&args.cors_origins, file.cors_origins);
        let allow_hosts = list(&args.allow_hosts, file.allow_hosts);
        Ok(Config {
            listen: args
                .listen
                .clone()
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:4567".into()),
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./riffle-data")),
            region: args
                .region
                .clone()
                .or(file.region)
                .unwrap_or_else(|| "us-east-1".into()),
            account_id,
            fsync,
            transition_delay_ms: args
                .transition_delay_ms
                .or(file.transition_delay_ms)
                .unwrap_or(500),
            shard_limit: args.shard_limit.or(file.shard_limit).unwrap_or(20_000),
            segment_max_bytes: file.segment_max_bytes.unwrap_or(64 * 1024 * 1024),
            segment_max_age_ms: file.segment_max_age_ms.unwrap_or(3_600_000),
            retention_check_ms: args
                .retention_check_ms
                .or(file.retention_check_ms)
                .unwrap_or(60_000),
            max_request_bytes: file.max_request_bytes.unwrap_or(16 * 1024 * 1024),
            // The flag (or its env var) can only turn limits off; the file can do either.
            throughput_limits: !args.no_throughput_limits && file.throughput_limits.unwrap_or(true),
            max_consumers: args.max_consumers.or(file.max_consumers).unwrap_or(20),
            subscription_lifetime_ms: args
                .subscription_lifetime_ms
                .or(file.subscription_lifetime_ms)
                .unwrap_or(300_000),
            max_connections,
            max_concurrent_requests,
            header_read_timeout_ms: args
                .header_read_timeout_ms
                .or(file.header_read_timeout_ms)
                .unwrap_or(10_000),
            idle_timeout_ms: args
                .idle_timeout_ms
                .or(file.idle_timeout_ms)
                .unwrap_or(120_000),
            body_timeout_ms: args
                .body_timeout_ms
                .or(file.body_timeout_ms)
                .unwrap_or(60_000),
            log_format,
            tls_cert,
            tls_key,
            require_tls,
            cors_origins,
            allow_hosts,
            auth_config,
            auth_mode,
            allow_open_network: args.allow_open_network || file.allow_open_network.unwrap_or(false),
            // Flags can only turn auditing off; the file can do either.
            audit: !args.no_audit && file.audit.unwrap_or(true),
            audit_data_events: !args.no_audit_data_events && file.audit_data_events.unwrap_or(true),
            audit_retention_days: args
                .audit_retention_days
                .or(file.audit_retention_days)
                .unwrap_or(90),
            audit_stream: args.audit_stream.clone().or(file.audit_stream),
            s3_endpoint: args.s3_endpoint.clone().or(file.s3_endpoint),
            s3_dir: args.s3_dir.clone().or(file.s3_dir),
            firehose_buffer_cap_mb: args
                .firehose_buffer_cap_mb
                .or(file.firehose_buffer_cap_mb)
                .unwrap_or(1024),
            firehose_replay_hours: args
                .firehose_replay_hours
                .or(file.firehose_replay_hours)
                .unwrap_or(24),
            firehose_retry_ms: args
                .firehose_retry_ms
                .or(file.firehose_retry_ms)
                .unwrap_or(1000),
            firehose_tables: args.firehose_tables.clone().or(file.firehose_tables),
            firehose_active_partitions: args
                .firehose_active_partitions
                .or(file.firehose_active_partitions)
                .unwrap_or(500),
            functions: file
                .functions
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .chain(args.functions.iter().cloned())
                .collect(),
            firehose_http_retry_ms: args.firehose_http_retry_ms,
            firehose_http_timeout_ms: args.firehose_http_timeout_ms,
        })
    }

    /// Open mode: no auth configuration, so no request is authenticated.
    pub fn open_mode(&self) -> bool {
        self.auth_config.is_none()
    }

    /// Open mode listens on loopback addresses only, unless
    /// `--allow-open-network`: otherwise anyone on the network could read and
    /// write every stream. An address that does not resolve is left for the
    /// bind to report.
    pub fn check_exposure(&self) -> Result<()> {
        if !self.open_mode() || self.allow_open_network {
            return Ok(());
        }
        let Ok(addrs) = std::net::ToSocketAddrs::to_socket_addrs(self.listen.as_str()) else {
            return Ok(());
        };
        if let Some(exposed) = addrs.into_iter().find(|a| !a.ip().is_loopback()) {
            bail!(
                "refusing to listen on {} ({}) in open mode: without --auth-config there is no authentication, \
                 so anyone who can reach that address could read and write every stream. \
                 Listen on a loopback address (--listen 127.0.0.1:4567), give --auth-config FILE, \
                 or pass --allow-open-network if this network is trusted",
                self.listen,
                exposed.ip()
            );
        }
        Ok(())
    }
}

fn load_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_config_text_parses_and_matches_defaults() {
        let file: FileConfig = toml::from_str(DEFAULT_CONFIG).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("riffle.toml");
        std::fs::write(&path, DEFAULT_CONFIG).unwrap();
        let from_file = Config::resolve(&ServeArgs {
            config: Some(path),
            ..Default::default()
        })
        .unwrap();
        let defaults = Config::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(format!("{from_file:?}"), format!("{defaults:?}"));
        assert_eq!(file.fsync.as_deref(), Some("always"));
    }

    #[test]
    fn flags_beat_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("riffle.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nfsync = \"never\"\n").unwrap();
        let args = ServeArgs {
            config: Some(path),
            listen: Some("127.0.0.1:2".into()),
            ..Default::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.listen, "127.0.0.1:2");
        assert_eq!(c.fsync, Fsync::Never);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("riffle.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        assert!(Config::resolve(&ServeArgs {
            config: Some(path),
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn throughput_limits_default_on_and_turn_off() {
        assert!(
            Config::resolve(&ServeArgs::default())
                .unwrap()
                .throughput_limits
        );
        let off = ServeArgs {
            no_throughput_limits: true,
            ..Default::default()
        };
        assert!(!Config::resolve(&off).unwrap().throughput_limits);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("riffle.toml");
        std::fs::write(&path, "throughput_limits = false\n").unwrap();
        let file = ServeArgs {
            config: Some(path),
            ..Default::default()
        };
        assert!(!Config::resolve(&file).unwrap().throughput_limits);
    }

    #[test]
    fn log_format_from_flag_or_file() {
        assert_eq!(
            Config::resolve(&ServeArgs::default()).unwrap().log_format,
            LogFormat::Text
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("riffle.toml");
        std::fs::write(&path, "log_format = \"json\"\n").unwrap();
        let file = ServeArgs {
            config: Some(path),
            ..Default::default()
        };
        assert_eq!(Config::resolve(&file).unwrap().log_format, LogFormat::Json);
        let bad = ServeArgs {
            log_format: Some("yaml".into()),
            ..Default::default()
        };
        assert!(Config::resolve(&bad).is_err());
    }

    #[test]
    fn connection_limits_from_flag_or_file() {
        let d = Config::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(
            (
                d.max_connections,
                d.max_concurrent_requests,
                d.header_read_timeout_ms,
                d.idle_timeout_ms,
                d.body_timeout_ms
            ),
            (10_000, 512, 10_000, 120_000, 60_000)
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("riffle.toml");
        std::fs::write(&path, "max_connections = 7\nidle_timeout_ms = 0\n").unwrap();
        let args = ServeArgs {
            config: Some(path),
            max_concurrent_requests: Some(3),
            ..Default::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(
            (
                c.max_connections,
                c.max_concurrent_requests,
                c.idle_timeout_ms
            ),
            (7, 3, 0)
        );
        let zero = ServeArgs {
            max_connections: Some(0),
            ..Default::default()
        };
        assert!(Config::resolve(&zero).is_err());
    }

    #[test]
    fn tls_and_open_mode_settings() {
        let d = Config::resolve(&ServeArgs::default()).unwrap();
        assert!(d.open_mode());
        assert_eq!(
            (d.tls_cert.clone(), d.require_tls, d.auth_mode),
            (None, false, AuthMode::Enforce)
        );
        assert!(d.cors_origins.is_empty() && d.allow_hosts.is_empty());
        d.check_exposure().unwrap();

        let only_cert = ServeArgs {
            tls_cert: Some("c.pem".into()),
            ..Default::default()
        };
        assert!(Config::resolve(&only_cert).is_err());
        let require_without_tls = ServeArgs {
            require_tls: true,
            ..Default::default()
        };
        assert!(Config::resolve(&require_without_tls).is_err());
        let mode_without_config = ServeArgs {
            auth_mode: Some("audit".into()),
            ..Default::default()
        };
        assert!(Config::resolve(&mode_without_config).is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("riffle.toml");
        std::fs::write(
            &path,
            "tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\nrequire_tls = true\n\
             cors_origins = [\"http://a\", \"http://b\"]\nallow_hosts = [\"box.lan\"]\n\
             auth_config = \"auth.toml\"\nauth_mode = \"audit\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            allow_hosts: vec!["x.lan".into(), "y.lan:1".into()],
            ..Default::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.tls_cert, Some(PathBuf::from("c.pem")));
        assert!(c.require_tls);
        assert_eq!(c.cors_origins, vec!["http://a", "http://b"]);
        // Flags replace the file's list.
        assert_eq!(c.allow_hosts, vec!["x.lan", "y.lan:1"]);
        assert_eq!(c.auth_mode, AuthMode::Audit);
        assert!(!c.open_mode());
        assert!(AuthMode::parse("permissive").is_err());
    }

    #[test]
    fn open_mode_stays_on_loopback_unless_allowed() {
        let at = |listen: &str, allow: bool| {
            Config::resolve(&ServeArgs {
                listen: Some(listen.into()),
                allow_open_network: allow,
                ..Default::default()
            })
            .unwrap()
        };
        at("127.0.0.1:0", false).check_exposure().unwrap();
        at("[::1]:0", false).check_exposure().unwrap();
        let e = at("0.0.0.0:4567", false).check_exposure().unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("--allow-open-network") && text.contains("--auth-config"),
            "{text}"
        );
        at("0.0.0.0:4567", true).check_exposure().unwrap();
        // With an auth configuration the address is the operator's choice.
        let authed = Config::resolve(&ServeArgs {
            listen: Some("0.0.0.0:4567".into()),
            auth_config: Some("auth.toml".into()),
            ..Default::default()
        })
        .unwrap();
        authed.check_exposure().unwrap();
    }

    #[test]
    fn fsync_policies() {
        assert_eq!(Fsync::parse("interval:50").unwrap(), Fsync::Interval(50));
        assert!(Fsync::parse("sometimes").is_err());
    }
}
