//! `riffle`: a durable, self-hosted Amazon Kinesis Data Streams server.

mod audit_cmd;
mod audit_sink;
mod aws_call;
mod bench;
mod cert_cmd;
mod config;
mod firehose_cmd;
mod firehose_setup;
mod kms_cmd;
mod policy_cmd;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use config::{Config, Fsync, LogFormat, ServeArgs, DEFAULT_CONFIG};
use riffle_audit::{AuditConfig, AuditLog};
use riffle_server::{AuthMode, KinesisService, Security, ServerConfig, Service, TlsSettings};
use riffle_streams::{Engine, EngineConfig, LogConfig, SyncPolicy};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// Riffle serves the Amazon Kinesis Data Streams and Amazon Data Firehose APIs
/// on the AWS wire protocol, so the AWS CLI and SDKs work unchanged with
/// `--endpoint-url`. Records are kept in durable logs on local disk; Firehose
/// delivers them to S3-compatible storage (or a local directory) and HTTP endpoints.
///
/// Quick start:
///   riffle --data-dir ./riffle-data
///   aws --endpoint-url http://127.0.0.1:4567 kinesis create-stream --stream-name demo --shard-count 2
#[derive(Parser, Debug)]
#[command(name = "riffle", version, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

// Parsed once at startup; boxing the flags would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default when no command is given).
    Serve(ServeArgs),
    /// Print the default configuration file, with comments.
    Config,
    // About and long help come from `BenchArgs`' doc comment.
    Bench(bench::BenchArgs),
    /// IAM policy tools: `riffle policy simulate`.
    Policy(policy_cmd::PolicyArgs),
    // About and long help come from `AuditArgs`' doc comment.
    Audit(audit_cmd::AuditArgs),
    // About and long help come from `CertArgs`' doc comment.
    Cert(cert_cmd::CertArgs),
    /// Manage the local KMS keyring that encrypts streams at rest.
    Kms(kms_cmd::KmsArgs),
    /// Firehose tools: `riffle firehose redeliver NAME --from TIME`.
    Firehose(firehose_cmd::FirehoseArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Config) => {
            print!("{DEFAULT_CONFIG}");
            Ok(())
        }
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Bench(args)) => bench::main(args),
        Some(Command::Policy(args)) => std::process::exit(policy_cmd::main(args)),
        Some(Command::Audit(args)) => audit_cmd::main(args),
        Some(Command::Cert(args)) => cert_cmd::main(args),
        Some(Command::Kms(args)) => kms_cmd::main(args),
        Some(Command::Firehose(args)) => firehose_cmd::main(args),
        None => serve(cli.serve),
    }
}

fn serve(args: ServeArgs) -> Result<()> {
    let cfg = Config::resolve(&args)?;
    cfg.check_exposure()?;
    init_logging(cfg.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cfg))
}

/// Logs go to stderr, filtered by `RIFFLE_LOG` (default `info`; request
/// logs are at `debug`), as text or one JSON object per line.
fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("RIFFLE_LOG").unwrap_or_else(|_| "info".into());
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => fmt.init(),
        LogFormat::Json => fmt.json().flatten_event(true).init(),
    }
}

async fn run(cfg: Config) -> Result<()> {
    // Read before anything is opened, so a bad path fails at once.
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => Some(TlsSettings::from_pem_files(cert, key)?),
        _ => None,
    };
    // The auth config decides the account every ARN is in.
    let security = match &cfg.auth_config {
        None => Arc::new(Security::open(&cfg.region, &cfg.account_id)),
        Some(path) => {
            let mode = match cfg.auth_mode {
                config::AuthMode::Enforce => AuthMode::Enforce,
                config::AuthMode::Audit => AuthMode::Audit,
            };
            let security = Security::load(path, mode, &cfg.region)
                .map_err(|e| anyhow::anyhow!("cannot load the auth config: {e}"))?;
            if cfg.account_id != config::DEFAULT_ACCOUNT_ID
                && cfg.account_id != security.account_id()
            {
                anyhow::bail!(
                    "--account-id {} differs from the auth config's account_id {}: set one of them",
                    cfg.account_id,
                    security.account_id()
                );
            }
            Arc::new(security)
        }
    };
    let account_id = security.account_id().to_string();
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create data directory {}", cfg.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&cfg.data_dir)?;
    let mut ecfg = EngineConfig::new(&data_dir);
    ecfg.region = cfg.region.clone();
    ecfg.account_id = account_id.clone();
    ecfg.transition_delay_ms = cfg.transition_delay_ms;
    ecfg.shard_limit = cfg.shard_limit;
    ecfg.throughput_limits = cfg.throughput_limits;
    ecfg.max_consumers_per_stream = cfg.max_consumers;
    ecfg.subscription_lifetime_ms = cfg.subscription_lifetime_ms;
    ecfg.log = LogConfig {
        segment_max_bytes: cfg.segment_max_bytes,
        segment_max_age_ms: cfg.segment_max_age_ms,
        sync: match cfg.fsync {
            Fsync::Always => SyncPolicy::Always,
            Fsync::Interval(ms) => SyncPolicy::IntervalMs(ms),
            Fsync::Never => SyncPolicy::Never,
        },
        ..LogConfig::default()
    };
    let started = std::time::Instant::now();
    // One metadata database for every service; Kinesis gets its store.
    let (engine, meta) =
        tokio::task::spawn_blocking(move || -> Result<(Engine, riffle_meta::MetaDb)> {
            let meta = riffle_meta::MetaDb::open_in(&ecfg.data_dir)?;
            let engine =
                Engine::open_with(ecfg, meta.streams(), Arc::new(riffle_streams::SystemClock))?;
            Ok((engine, meta))
        })
        .await?
        .with_context(|| format!("cannot open data directory {}", data_dir.display()))?;
    let engine = Arc::new(engine);
    let firehose = firehose_setup::open(&cfg, &data_dir, &account_id, &meta, engine.clone())
        .await
        .with_context(|| {
            format!(
                "cannot open Firehose in {}",
                data_dir.join("firehose").display()
            )
        })?;
    drop(meta);
    let firehose_streams = firehose.stream_count();
    let audit = if cfg.audit {
        let mut acfg = AuditConfig::new(data_dir.join("audit"), &account_id, &cfg.region);
        acfg.data_events = cfg.audit_data_events;
        acfg.retention = (cfg.audit_retention_days > 0)
            .then(|| Duration::from_secs(cfg.audit_retention_days * 86_400));
        let log = tokio::task::spawn_blocking(move || AuditLog::open(acfg))
            .await?
            .with_context(|| {
                format!(
                    "cannot open the audit trail in {}",
                    data_dir.join("audit").display()
                )
            })?;
        Some(Arc::new(log))
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another server using it? try --listen 127.0.0.1:0)",
                cfg.listen
            )
        })?;
    let addr = listener.local_addr()?;
    let stats = engine.stats();

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "riffle {} - Amazon Kinesis Data Streams and Amazon Data Firehose APIs",
        env!("CARGO_PKG_VERSION")
    )?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    match (&tls, cfg.require_tls) {
        (None, _) => writeln!(out, "  listening on http://{addr} (HTTP/1.1 and h2c)")?,
        (Some(_), true) => writeln!(
            out,
            "  listening on https://{addr} (HTTP/1.1 and HTTP/2 over TLS; plaintext refused)"
        )?,
        (Some(_), false) => writeln!(
            out,
            "  listening on https://{addr} (HTTP/1.1 and HTTP/2 over TLS; plaintext http:// on the same port)"
        )?,
    }
    writeln!(
        out,
        "  metrics      {scheme}://{addr}/metrics, health at /health/live and /health/ready"
    )?;
    match &cfg.auth_config {
        None => {
            writeln!(
                out,
                "  auth         OPEN MODE: NO AUTHENTICATION - any client that can connect may read and write every stream"
            )?;
            let origins = if cfg.cors_origins.is_empty() {
                "none".to_string()
            } else {
                cfg.cors_origins.join(", ")
            };
            let mut hosts = "localhost, 127.0.0.1, [::1], the listen address".to_string();
            for h in &cfg.allow_hosts {
                hosts.push_str(", ");
                hosts.push_str(h);
            }
            writeln!(
                out,
                "  browsers     CORS origins: {origins}; Host must be one of: {hosts}"
            )?;
            if !addr.ip().is_loopback() {
                writeln!(
                    out,
                    "  WARNING      open mode on a non-loopback address (--allow-open-network): anyone who can reach {addr} has full access"
                )?;
            }
        }
        Some(path) => writeln!(
            out,
            "  auth         {} ({} mode)",
            path.display(),
            match cfg.auth_mode {
                config::AuthMode::Enforce => "enforce",
                config::AuthMode::Audit => "audit",
            }
        )?,
    }
    writeln!(
        out,
        "  data dir     {} ({} streams, {} shards, {} bytes; recovered in {} ms)",
        data_dir.display(),
        stats.streams,
        stats.shards,
        stats.disk_bytes,
        started.elapsed().as_millis()
    )?;
    writeln!(
        out,
        "  firehose     {} delivery streams; objects to {}",
        firehose_streams,
        match &cfg.s3_endpoint {
            Some(e) => format!("the S3-compatible server at {e}"),
            None => format!(
                "{}/<bucket>/<key>",
                cfg.s3_dir
                    .clone()
                    .unwrap_or_else(|| data_dir.join("s3"))
                    .display()
            ),
        }
    )?;
    writeln!(out, "  durability   {}", cfg.fsync.describe())?;
    writeln!(out, "  account      {} in {}", account_id, cfg.region)?;
    match &audit {
        Some(a) => writeln!(
            out,
            "  audit        {} (CloudTrail format; {}; read with `riffle audit`)",
            a.dir().display(),
            if cfg.audit_data_events {
                "management and data events"
            } else {
                "management events only"
            }
        )?,
        None => writeln!(out, "  audit        off (--no-audit)")?,
    }
    if let (Some(_), Some(stream)) = (&audit, &cfg.audit_stream) {
        writeln!(out, "  audit copy   every record also into stream {stream}")?;
    }
    if cfg.throughput_limits {
        writeln!(out, "  limits       per-shard throughput limits enforced (1 MiB/s, 1000 records/s in; 2 MiB/s, 5 reads/s out)")?;
    } else {
        writeln!(
            out,
            "  limits       per-shard throughput limits off (--no-throughput-limits)"
        )?;
    }
    let ms = |v: u64| {
        if v == 0 {
            "off".to_string()
        } else {
            format!("{v} ms")
        }
    };
    writeln!(
        out,
        "  connections  at most {}, {} requests at once (503 beyond); read timeouts: head {}, idle {}, body {}",
        cfg.max_connections,
        cfg.max_concurrent_requests,
        ms(cfg.header_read_timeout_ms),
        ms(cfg.idle_timeout_ms),
        ms(cfg.body_timeout_ms)
    )?;
    match &cfg.tls_cert {
        Some(cert) => writeln!(
            out,
            "  try          AWS_CA_BUNDLE={} aws --endpoint-url https://{addr} kinesis list-streams",
            cert.display()
        )?,
        None => writeln!(
            out,
            "  try          aws --endpoint-url http://{addr} kinesis list-streams"
        )?,
    }
    out.flush()?;
    drop(out);

    let server_cfg = ServerConfig {
        max_request_bytes: cfg.max_request_bytes,
        max_connections: cfg.max_connections,
        max_concurrent_requests: cfg.max_concurrent_requests,
        header_read_timeout: millis_or_none(cfg.header_read_timeout_ms),
        idle_timeout: millis_or_none(cfg.idle_timeout_ms),
        body_timeout: millis_or_none(cfg.body_timeout_ms),
        tls,
        require_tls: cfg.require_tls,
        // Turns the open-mode browser rules off: every request is signed.
        authenticated: cfg.auth_config.is_some(),
        security: Some(security.clone()),
        audit_sink: match (&audit, &cfg.audit_stream) {
            (Some(_), Some(stream)) => Some(Arc::new(audit_sink::StreamSink::new(
                engine.clone(),
                stream.clone(),
            )) as Arc<dyn riffle_server::AuditSink>),
            _ => None,
        },
        audit,
        cors_origins: cfg.cors_origins.clone(),
        allowed_hosts: cfg.allow_hosts.clone(),
    };
    let kinesis = KinesisService::new(
        engine,
        Duration::from_millis(cfg.retention_check_ms.max(100)),
    );
    let services: Vec<Arc<dyn Service>> = vec![
        Arc::new(kinesis),
        Arc::new(riffle_server::FirehoseService::new(firehose.clone())),
        Arc::new(riffle_server::FirehoseAdminService::new(firehose)),
    ];
    let reload = tokio::spawn(reload_on_sighup(security));
    riffle_server::serve(listener, services, server_cfg, shutdown_signal()).await?;
    reload.abort();
    tracing::info!("stopped; every acknowledged record is on disk");
    Ok(())
}

/// SIGHUP re-reads the auth config; a config that fails to load is
/// reported and the running one kept.
async fn reload_on_sighup(security: Arc<Security>) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match security.reload() {
                Ok(()) => tracing::info!("SIGHUP: auth config reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: auth config not reloaded; the previous one stays")
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = security;
}

/// 0 ms turns a timeout off.
fn millis_or_none(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
