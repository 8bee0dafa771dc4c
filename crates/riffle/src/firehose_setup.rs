//! Opens the Firehose engine from the server's configuration: its buffers
//! under `<data-dir>/firehose`, its metadata in the shared database, and
//! where delivered objects go (`--s3-endpoint`, else `--s3-dir`).

use crate::config::{Config, Fsync};
use anyhow::Result;
use riffle_firehose::destination::http::HttpOptions;
use riffle_firehose::engine::{DeliverySettings, SourceSupport, CHECKPOINT_TABLE};
use riffle_firehose::objects::{self, LocalDirStore, ObjectStore};
use riffle_firehose::process::FunctionTargets;
use riffle_firehose::{meta, Firehose, FirehoseConfig};
use riffle_log::{LogConfig, SyncPolicy};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub async fn open(
    cfg: &Config,
    data_dir: &Path,
    account_id: &str,
    db: &riffle_meta::MetaDb,
    streams: Arc<riffle_streams::Engine>,
) -> Result<Arc<Firehose>> {
    let mut fcfg = FirehoseConfig::new(data_dir.join("firehose"));
    fcfg.region = cfg.region.clone();
    fcfg.account_id = account_id.to_string();
    fcfg.transition_delay_ms = cfg.transition_delay_ms;
    fcfg.buffer_cap_bytes = cfg.firehose_buffer_cap_mb.saturating_mul(1 << 20);
    fcfg.replay_retention_ms = (cfg.firehose_replay_hours as i64).saturating_mul(3_600_000);
    fcfg.log = LogConfig {
        sync: match cfg.fsync {
            Fsync::Always => SyncPolicy::Always,
            Fsync::Interval(ms) => SyncPolicy::IntervalMs(ms),
            Fsync::Never => SyncPolicy::Never,
        },
        ..LogConfig::default()
    };
    let s3_dir = cfg.s3_dir.clone().unwrap_or_else(|| data_dir.join("s3"));
    if cfg.s3_endpoint.is_none() {
        // Leftovers of object writes a crash interrupted (never complete objects).
        let local = LocalDirStore::new(&s3_dir);
        let swept = tokio::task::spawn_blocking(move || local.sweep_temp_files()).await??;
        if swept > 0 {
            tracing::info!(files = swept, "firehose: removed unfinished object writes");
        }
    }
    let objects: Arc<dyn ObjectStore> = objects::open(cfg.s3_endpoint.as_deref(), s3_dir);
    let functions = FunctionTargets::from_flags(cfg.functions.iter().map(String::as_str))
        .map_err(|e| anyhow::anyhow!("--function: {e}"))?;
    let mut http = HttpOptions::default();
    if let Some(ms) = cfg.firehose_http_retry_ms {
        // Tests: an HTTP endpoint's whole retry duration, instead of its RetryOptions.
        http.retry.retry_duration = Some(Duration::from_millis(ms));
        http.retry.initial_backoff = Duration::from_millis((ms / 8).max(10));
    }
    if let Some(ms) = cfg.firehose_http_timeout_ms {
        // Tests: a slow endpoint times out in milliseconds instead of AWS's 3 minutes.
        http.retry.response_timeout = Duration::from_millis(ms.max(1));
    }
    let catalog = match &cfg.firehose_tables {
        Some(path) => riffle_firehose::convert::Catalog::load(path)
            .map_err(|e| anyhow::anyhow!("--firehose-tables {}: {e}", path.display()))?,
        None => riffle_firehose::convert::Catalog::default(),
    };
    let delivery = DeliverySettings {
        retry_initial: Duration::from_millis(cfg.firehose_retry_ms.max(1)),
        functions,
        http,
        catalog: Arc::new(catalog),
        active_partitions_limit: cfg.firehose_active_partitions.max(1) as usize,
        ..DeliverySettings::default()
    };
    let store = db.collection(meta::SERVICE, meta::TABLE)?;
    let progress = db.collection(meta::SERVICE, "progress")?;
    let sources = SourceSupport {
        streams,
        checkpoints: db.collection(meta::SERVICE, CHECKPOINT_TABLE)?,
    };
    Ok(tokio::task::spawn_blocking(move || {
        Firehose::open(fcfg, store, progress, objects, delivery, Some(sources))
    })
    .await??)
}
