//! `riffle`: a durable, self-hosted Amazon Kinesis Data Streams server.

mod bench;
mod config;
mod kms_cmd;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use config::{Config, Fsync, LogFormat, ServeArgs, DEFAULT_CONFIG};
use riffle_server::{KinesisService, ServerConfig, Service};
use riffle_streams::{Engine, EngineConfig, LogConfig, SyncPolicy};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// Riffle serves the Amazon Kinesis Data Streams API on the AWS wire protocol,
/// so the AWS CLI and SDKs work unchanged with `--endpoint-url`. Records are
/// kept in durable per-shard logs on local disk.
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
    /// Manage the local KMS keyring that encrypts streams at rest.
    Kms(kms_cmd::KmsArgs),
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
        Some(Command::Kms(args)) => kms_cmd::main(args),
        None => serve(cli.serve),
    }
}

fn serve(args: ServeArgs) -> Result<()> {
    let cfg = Config::resolve(&args)?;
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
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create data directory {}", cfg.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&cfg.data_dir)?;
    let mut ecfg = EngineConfig::new(&data_dir);
    ecfg.region = cfg.region.clone();
    ecfg.account_id = cfg.account_id.clone();
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
    let engine = tokio::task::spawn_blocking(move || -> Result<Engine> {
        let meta = riffle_meta::MetaDb::open_in(&ecfg.data_dir)?;
        Ok(Engine::open_with(
            ecfg,
            meta.streams(),
            Arc::new(riffle_streams::SystemClock),
        )?)
    })
    .await?
    .with_context(|| format!("cannot open data directory {}", data_dir.display()))?;
    let engine = Arc::new(engine);
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
        "riffle {} - Amazon Kinesis Data Streams API",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(out, "  listening on http://{addr} (HTTP/1.1 and h2c)")?;
    writeln!(
        out,
        "  metrics      http://{addr}/metrics, health at /health/live and /health/ready"
    )?;
    writeln!(
        out,
        "  data dir     {} ({} streams, {} shards, {} bytes; recovered in {} ms)",
        data_dir.display(),
        stats.streams,
        stats.shards,
        stats.disk_bytes,
        started.elapsed().as_millis()
    )?;
    writeln!(out, "  durability   {}", cfg.fsync.describe())?;
    writeln!(out, "  account      {} in {}", cfg.account_id, cfg.region)?;
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
    writeln!(
        out,
        "  try          aws --endpoint-url http://{addr} kinesis list-streams"
    )?;
    out.flush()?;
    drop(out);

    let server_cfg = ServerConfig {
        max_request_bytes: cfg.max_request_bytes,
        max_connections: cfg.max_connections,
        max_concurrent_requests: cfg.max_concurrent_requests,
        header_read_timeout: millis_or_none(cfg.header_read_timeout_ms),
        idle_timeout: millis_or_none(cfg.idle_timeout_ms),
        body_timeout: millis_or_none(cfg.body_timeout_ms),
    };
    let kinesis = KinesisService::new(
        engine,
        Duration::from_millis(cfg.retention_check_ms.max(100)),
    );
    let services: Vec<Arc<dyn Service>> = vec![Arc::new(kinesis)];
    riffle_server::serve(listener, services, server_cfg, shutdown_signal()).await?;
    tracing::info!("stopped; every acknowledged record is on disk");
    Ok(())
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
