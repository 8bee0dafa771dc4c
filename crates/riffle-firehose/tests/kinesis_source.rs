//! The Kinesis stream source against a real streams engine on a temp dir
//! and checkpoints in a real metadata database: start time, resharding
//! (parents first, per-key order), restart from checkpoints, deleted stream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use parking_lot::Mutex;
use riffle_firehose::source::{
    checkpoint, CheckpointStore, Checkpoints, CollectionCheckpointStore, KinesisSource,
    KinesisSourceConfig, RecordSink, ShardCheckpoint, SourceHandle, SourceRecord, SourceStatus,
};
use riffle_firehose::FirehoseError;
use riffle_meta::MetaDb;
use riffle_model::{
    CreateStreamInput, DeleteStreamInput, MergeShardsInput, SplitShardInput, StreamRef,
};
use riffle_streams::api::{AppendRecord, StreamId};
use riffle_streams::{Engine, EngineConfig};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Collects what the source delivers, one entry per `accept` call; can be
/// told to refuse (a full or broken buffer).
#[derive(Default)]
struct Collect {
    batches: Mutex<Vec<Vec<SourceRecord>>>,
    refuse: AtomicBool,
    refused: AtomicUsize,
}

impl RecordSink for Collect {
    async fn accept(&self, records: Vec<SourceRecord>) -> Result<(), FirehoseError> {
        if self.refuse.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(FirehoseError::ServiceUnavailable("Slow down.".into()));
        }
        self.batches.lock().push(records);
        Ok(())
    }
}

impl Collect {
    fn records(&self) -> Vec<SourceRecord> {
        self.batches.lock().iter().flatten().cloned().collect()
    }

    /// (key, n) of every record delivered, in delivery order.
    fn keyed(&self) -> Vec<(String, u32)> {
        self.records().iter().map(parse).collect()
    }
}

fn parse(r: &SourceRecord) -> (String, u32) {
    let text = std::str::from_utf8(&r.data).unwrap();
    let (k, n) = text.split_once(':').unwrap();
    assert_eq!(k, r.partition_key);
    (k.to_string(), n.parse().unwrap())
}

fn engine(dir: &Path) -> Arc<Engine> {
    let mut cfg = EngineConfig::new(dir);
    cfg.transition_delay_ms = 0;
    cfg.throughput_limits = false;
    Arc::new(Engine::open(cfg).unwrap())
}

fn stream(name: &str) -> StreamRef {
    StreamRef {
        name: Some(name.into()),
        arn: None,
    }
}

async fn create(e: &Engine, name: &str, shards: i64) -> StreamId {
    e.create_stream(CreateStreamInput {
        stream_name: name.into(),
        shard_count: Some(shards),
        ..Default::default()
    })
    .await
    .unwrap();
    e.stream_id(name).unwrap()
}

/// Appends `key:n` for n in `from..to`, for each key, interleaved.
async fn put(e: &Engine, id: &StreamId, keys: &[String], from: u32, to: u32) {
    let mut batch = Vec::new();
    for n in from..to {
        for k in keys {
            batch.push(AppendRecord {
                partition_key: k.clone(),
                explicit_hash_key: None,
                data: format!("{k}:{n}").into_bytes(),
            });
        }
    }
    for chunk in batch.chunks(500) {
        for r in e.append(id, chunk.to_vec()).await.unwrap() {
            r.unwrap();
        }
    }
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key-{i}")).collect()
}

/// Fast polling and small reads and batches, so that paging, the batch
/// budget and signals are all exercised.
fn config(stream: &str, start_ms: i64) -> KinesisSourceConfig {
    let mut c = KinesisSourceConfig::new(stream, start_ms);
    c.max_records_per_read = 7;
    c.max_batch_bytes = 600;
    c.min_read_interval = Duration::from_millis(10);
    c.discover_interval = Duration::from_millis(100);
    c.checkpoint_interval = Duration::from_millis(50);
    c.min_backoff = Duration::from_millis(10);
    c.max_backoff = Duration::from_millis(100);
    c
}

fn meta_db(dir: &Path) -> MetaDb {
    std::fs::create_dir_all(dir).unwrap();
    MetaDb::open_in(dir).unwrap()
}

fn store(db: &MetaDb, key: &str) -> Arc<CollectionCheckpointStore> {
    let coll = db
        .collection::<Checkpoints>("firehose", checkpoint::TABLE)
        .unwrap();
    Arc::new(CollectionCheckpointStore::new(coll, key))
}

fn start(
    e: &Arc<Engine>,
    cfg: KinesisSourceConfig,
    sink: &Arc<Collect>,
    store: Arc<dyn CheckpointStore>,
) -> SourceHandle {
    KinesisSource::new(e.clone(), cfg, sink.clone(), store).spawn()
}

/// Waits up to 20 s for `cond`.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Every (key, n) for n in `from..to`.
fn expected(keys: &[String], from: u32, to: u32) -> BTreeSet<(String, u32)> {
    keys.iter()
        .flat_map(|k| (from..to).map(move |n| (k.clone(), n)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_records_from_the_start_time_on_and_none_before() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir.path().join("streams"));
    let db = meta_db(&dir.path().join("meta"));
    let id = create(&e, "src", 2).await;
    let ks = keys(10);

    put(&e, &id, &ks, 0, 3).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let start_ms = e.now_ms();
    // Records after the start time but before the task runs (a restart).
    put(&e, &id, &ks, 3, 6).await;

    let sink = Arc::new(Collect::default());
    // No periodic re-listing during the test: only append signals wake it.
    let mut cfg = config("src", start_ms);
    cfg.discover_interval = Duration::from_secs(600);
    let h = start(&e, cfg, &sink, store(&db, "ds-1"));
    until("records 3..6", || sink.records().len() >= 30).await;
    // Idle now; records put while it runs wake the shards they go to.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let put_at = std::time::Instant::now();
    put(&e, &id, &ks, 6, 9).await;
    let want = expected(&ks, 3, 9);
    until("records 3..9", || sink.records().len() >= want.len()).await;
    assert!(
        put_at.elapsed() < Duration::from_secs(2),
        "{:?}",
        put_at.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.current(), SourceStatus::Running);
    h.stop().await;

    let got = sink.keyed();
    assert_eq!(got.len(), want.len(), "no duplicates in a clean run");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), want);

    // Each batch stays within the budget (plus at most one record).
    for b in sink.batches.lock().iter() {
        let bytes: usize = b.iter().map(|r| r.data.len() + r.partition_key.len()).sum();
        let last = b.last().map_or(0, |r| r.data.len() + r.partition_key.len());
        assert!(bytes <= 600 + last, "a batch of {bytes} bytes");
    }

    // Metadata for the Lambda event, as AWS spells it.
    let r = &sink.records()[0];
    assert!(r.shard_id.starts_with("shardId-00000000000"));
    assert_eq!(r.sequence_number.len(), 56);
    assert!(r.arrival_ms >= start_ms);
    let json = serde_json::to_value(r.kinesis_record_metadata()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "shardId": r.shard_id,
            "partitionKey": r.partition_key,
            "approximateArrivalTimestamp": r.arrival_ms,
            "sequenceNumber": r.sequence_number,
            "subsequenceNumber": 0,
        })
    );
}

/// Asserts per-key order and, globally, that no record of a child shard
/// was delivered before the last record of any of its parents.
fn assert_order(got: &[SourceRecord], parents: &HashMap<&str, Vec<&str>>) {
    let mut last_n: HashMap<String, u32> = HashMap::new();
    for r in got {
        let (k, n) = parse(r);
        if let Some(prev) = last_n.insert(k.clone(), n) {
            assert!(n > prev, "{k}: {n} delivered after {prev}");
        }
    }
    let first_of = |s: &str| got.iter().position(|r| r.shard_id == s);
    let last_of = |s: &str| got.iter().rposition(|r| r.shard_id == s);
    for (child, ps) in parents {
        let Some(first) = first_of(child) else {
            continue;
        };
        for p in ps {
            if let Some(last) = last_of(p) {
                assert!(
                    last < first,
                    "{child} delivered before its parent {p} ended"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_a_split_and_a_merge_parents_first_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir.path().join("streams"));
    let db = meta_db(&dir.path().join("meta"));
    let id = create(&e, "src", 1).await;
    let ks = keys(20);
    let start_ms = e.now_ms();
    let sink = Arc::new(Collect::default());
    let h = start(&e, config("src", start_ms), &sink, store(&db, "ds-1"));

    put(&e, &id, &ks, 0, 5).await;
    e.split_shard(SplitShardInput {
        stream: stream("src"),
        shard_to_split: "shardId-000000000000".into(),
        new_starting_hash_key: (1u128 << 127).to_string(),
    })
    .await
    .unwrap();
    put(&e, &id, &ks, 5, 10).await;
    e.merge_shards(MergeShardsInput {
        stream: stream("src"),
        shard_to_merge: "shardId-000000000001".into(),
        adjacent_shard_to_merge: "shardId-000000000002".into(),
    })
    .await
    .unwrap();
    put(&e, &id, &ks, 10, 15).await;

    let want = expected(&ks, 0, 15);
    until("every record", || {
        sink.keyed().into_iter().collect::<BTreeSet<_>>() == want
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.stop().await;

    let got = sink.records();
    assert_eq!(got.len(), want.len(), "no duplicates in a clean run");
    let shards: BTreeSet<&str> = got.iter().map(|r| r.shard_id.as_str()).collect();
    assert_eq!(
        shards,
        BTreeSet::from([
            "shardId-000000000000",
            "shardId-000000000001",
            "shardId-000000000002",
            "shardId-000000000003"
        ])
    );
    let parents = HashMap::from([
        ("shardId-000000000001", vec!["shardId-000000000000"]),
        ("shardId-000000000002", vec!["shardId-000000000000"]),
        (
            "shardId-000000000003",
            vec!["shardId-000000000001", "shardId-000000000002"],
        ),
    ]);
    assert_order(&got, &parents);

    // The closed shards are checkpointed as finished, the open one by position.
    let saved = store(&db, "ds-1").load().unwrap();
    for s in [
        "shardId-000000000000",
        "shardId-000000000001",
        "shardId-000000000002",
    ] {
        assert_eq!(saved.shards.get(s), Some(&ShardCheckpoint::Finished), "{s}");
    }
    let last3 = got
        .iter()
        .rev()
        .find(|r| r.shard_id == "shardId-000000000003")
        .unwrap();
    assert_eq!(
        saved.shards.get("shardId-000000000003"),
        Some(&ShardCheckpoint::After(last3.sequence_number.clone()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resharding_under_a_running_producer_loses_and_reorders_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir.path().join("streams"));
    let db = meta_db(&dir.path().join("meta"));
    let id = create(&e, "src", 2).await;
    let ks = keys(16);
    let sink = Arc::new(Collect::default());
    let mut c = config("src", e.now_ms());
    c.max_batch_bytes = 4096;
    let h = start(&e, c, &sink, store(&db, "ds-1"));

    // One record per key per round, while the shards split and merge.
    let producer = {
        let (e, id, ks) = (e.clone(), id.clone(), ks.clone());
        tokio::spawn(async move {
            for n in 0..150 {
                put(&e, &id, &ks, n, n + 1).await;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    e.split_shard(SplitShardInput {
        stream: stream("src"),
        shard_to_split: "shardId-000000000000".into(),
        new_starting_hash_key: (1u128 << 126).to_string(),
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    e.merge_shards(MergeShardsInput {
        stream: stream("src"),
        shard_to_merge: "shardId-000000000003".into(),
        adjacent_shard_to_merge: "shardId-000000000001".into(),
    })
    .await
    .unwrap();
    producer.await.unwrap();

    let want = expected(&ks, 0, 150);
    until("every record", || sink.records().len() >= want.len()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.stop().await;
    let got = sink.records();
    assert_eq!(got.len(), want.len());
    assert_eq!(got.iter().map(parse).collect::<BTreeSet<_>>(), want);
    let parents = HashMap::from([
        ("shardId-000000000002", vec!["shardId-000000000000"]),
        ("shardId-000000000003", vec!["shardId-000000000000"]),
        (
            "shardId-000000000004",
            vec!["shardId-000000000003", "shardId-000000000001"],
        ),
    ]);
    assert_order(&got, &parents);
    let shards: BTreeSet<&str> = got.iter().map(|r| r.shard_id.as_str()).collect();
    assert_eq!(shards.len(), 5, "{shards:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_started_after_resharding_catches_up_parents_first() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir.path().join("streams"));
    let db = meta_db(&dir.path().join("meta"));
    let id = create(&e, "src", 2).await;
    let ks = keys(30);
    let start_ms = e.now_ms();
    put(&e, &id, &ks, 0, 4).await;
    e.split_shard(SplitShardInput {
        stream: stream("src"),
        shard_to_split: "shardId-000000000001".into(),
        new_starting_hash_key: ((1u128 << 127) + (1u128 << 126)).to_string(),
    })
    .await
    .unwrap();
    put(&e, &id, &ks, 4, 8).await;
    e.merge_shards(MergeShardsInput {
        stream: stream("src"),
        shard_to_merge: "shardId-000000000000".into(),
        adjacent_shard_to_merge: "shardId-000000000002".into(),
    })
    .await
    .unwrap();
    put(&e, &id, &ks, 8, 12).await;

    let sink = Arc::new(Collect::default());
    let h = start(&e, config("src", start_ms), &sink, store(&db, "ds-1"));
    let want = expected(&ks, 0, 12);
    until("every record", || sink.records().len() >= want.len()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.stop().await;

    let got = sink.records();
    assert_eq!(got.len(), want.len());
    assert_eq!(got.iter().map(parse).collect::<BTreeSet<_>>(), want);
    let parents = HashMap::from([
        ("shardId-000000000002", vec!["shardId-000000000001"]),
        ("shardId-000000000003", vec!["shardId-000000000001"]),
        (
            "shardId-000000000004",
            vec!["shardId-000000000000", "shardId-000000000002"],
        ),
    ]);
    assert_order(&got, &parents);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_the_last_checkpoint_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir.path().join("streams"));
    let meta_dir = dir.path().join("meta");
    let id = create(&e, "src", 2).await;
    let ks = keys(10);
    let start_ms = e.now_ms();

    // First run: 0..3 accepted; then the buffer refuses 3..6 and the source
    // stops (as in a crash) before they were ever accepted.
    let first = Arc::new(Collect::default());
    {
        let db = meta_db(&meta_dir);
        let h = start(&e, config("src", start_ms), &first, store(&db, "ds-1"));
        put(&e, &id, &ks, 0, 3).await;
        let want = expected(&ks, 0, 3);
        until("records 0..3", || first.records().len() >= want.len()).await;
        // The checkpoint is saved right after the accept; let it land.
        tokio::time::sleep(Duration::from_millis(100)).await;
        first.refuse.store(true, Ordering::SeqCst);
        put(&e, &id, &ks, 3, 6).await;
        until("a refused batch", || {
            first.refused.load(Ordering::SeqCst) >= 2
        })
        .await;
        h.stop().await;
        assert_eq!(first.keyed().into_iter().collect::<BTreeSet<_>>(), want);
        let saved = store(&db, "ds-1").load().unwrap();
        assert_eq!(saved.shards.len(), 2, "{saved:?}");
    }
    // While no source runs.
    put(&e, &id, &ks, 6, 9).await;

    // Second run on a reopened metadata database: it resumes after the
    // checkpoint, so it delivers 3..9 and nothing from before.
    let second = Arc::new(Collect::default());
    let db = meta_db(&meta_dir);
    let h = start(&e, config("src", start_ms), &second, store(&db, "ds-1"));
    let want = expected(&ks, 3, 9);
    until("records 3..9", || second.records().len() >= want.len()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.stop().await;
    let got = second.keyed();
    assert_eq!(got.len(), want.len());
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), want);

    // A delivery stream with another key starts from its own start time.
    let third = Arc::new(Collect::default());
    let later = e.now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let h = start(&e, config("src", later), &third, store(&db, "ds-2"));
    put(&e, &id, &ks, 9, 10).await;
    until("record 9", || third.records().len() >= ks.len()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.stop().await;
    assert_eq!(
        third.keyed().into_iter().collect::<BTreeSet<_>>(),
        expected(&ks, 9, 10)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_redelivers_from_the_saved_checkpoint_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir.path().join("streams"));
    let db = meta_db(&dir.path().join("meta"));
    let id = create(&e, "src", 2).await;
    let ks = keys(10);
    let start_ms = e.now_ms();

    // Checkpoints saved once, then never again before the "crash".
    let mut c = config("src", start_ms);
    c.checkpoint_interval = Duration::from_secs(3600);
    let first = Arc::new(Collect::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (status_tx, _status_rx) = tokio::sync::watch::channel(SourceStatus::Starting);
    let source = KinesisSource::new(e.clone(), c, first.clone(), store(&db, "ds-1"));
    let task = tokio::spawn(source.run(stop_rx, status_tx));
    put(&e, &id, &ks, 0, 3).await;
    until("records 0..3", || first.records().len() >= 30).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    put(&e, &id, &ks, 3, 6).await;
    until("records 3..6", || first.records().len() >= 60).await;
    // A crash: the task is gone without its final save.
    task.abort();
    let _ = task.await;
    drop(stop_tx);
    let saved = store(&db, "ds-1").load().unwrap();
    assert!(!saved.shards.is_empty());

    put(&e, &id, &ks, 6, 9).await;
    let second = Arc::new(Collect::default());
    let h = start(&e, config("src", start_ms), &second, store(&db, "ds-1"));
    until("records 6..9", || {
        let got: BTreeSet<_> = second.keyed().into_iter().collect();
        expected(&ks, 6, 9).is_subset(&got)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.stop().await;

    let a: BTreeSet<_> = first.keyed().into_iter().collect();
    let b: BTreeSet<_> = second.keyed().into_iter().collect();
    assert_eq!(
        a.union(&b).cloned().collect::<BTreeSet<_>>(),
        expected(&ks, 0, 9)
    );
    // What came after the one saved checkpoint is delivered again (at least once).
    assert!(
        !a.is_disjoint(&b),
        "nothing was redelivered after the crash"
    );
    assert_order(&second.records(), &HashMap::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_stream_stops_the_source_with_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir.path().join("streams"));
    let db = meta_db(&dir.path().join("meta"));
    let id = create(&e, "src", 2).await;
    let ks = keys(4);
    let sink = Arc::new(Collect::default());
    let h = start(&e, config("src", e.now_ms()), &sink, store(&db, "ds-1"));
    put(&e, &id, &ks, 0, 2).await;
    until("records", || sink.records().len() >= 8).await;

    e.delete_stream(DeleteStreamInput {
        stream: stream("src"),
        enforce_consumer_deletion: false,
    })
    .await
    .unwrap();
    let mut status = h.status();
    until("the source to end", || h.is_finished()).await;
    let SourceStatus::Failed(f) = status.borrow_and_update().clone() else {
        panic!("status {:?}", h.current());
    };
    let d = f.failure_description();
    assert_eq!(d.r#type, "UNKNOWN_ERROR");
    assert!(d.details.contains("src"), "{}", d.details);

    // A stream re-created under the same name is another stream: a source
    // that never saw it still starts; one for a missing stream fails at once.
    let missing = start(
        &e,
        config("arn:aws:kinesis:us-east-1:000000000000:stream/nope", 0),
        &Arc::new(Collect::default()),
        store(&db, "ds-2"),
    );
    until("the missing-stream source to end", || missing.is_finished()).await;
    assert!(matches!(missing.current(), SourceStatus::Failed(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_reads_back_off_and_deliver_everything_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EngineConfig::new(dir.path().join("streams"));
    cfg.transition_delay_ms = 0;
    cfg.throughput_limits = true;
    let e = Arc::new(Engine::open(cfg).unwrap());
    let db = meta_db(&dir.path().join("meta"));
    let id = create(&e, "src", 1).await;
    let start_ms = e.now_ms();
    let ks = keys(4);
    put(&e, &id, &ks, 0, 25).await;

    // Ten-record reads back to back: more than 5 GetRecords a second.
    let mut c = config("src", start_ms);
    c.max_records_per_read = 10;
    c.max_batch_bytes = 1 << 20;
    c.min_read_interval = Duration::ZERO;
    let sink = Arc::new(Collect::default());
    let h = start(&e, c, &sink, store(&db, "ds-1"));
    until("every record", || sink.records().len() >= 100).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.stop().await;

    let throttled: u64 = e
        .metrics_snapshot()
        .streams
        .iter()
        .flat_map(|s| s.shards.iter())
        .map(|s| s.read_throttled)
        .sum();
    assert!(throttled > 0, "the reads were never throttled");
    let got = sink.keyed();
    assert_eq!(got.len(), 100);
    assert_eq!(
        got.iter().cloned().collect::<BTreeSet<_>>(),
        expected(&ks, 0, 25)
    );
    assert_order(&sink.records(), &HashMap::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_a_creating_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EngineConfig::new(dir.path().join("streams"));
    cfg.transition_delay_ms = 300;
    cfg.throughput_limits = false;
    let e = Arc::new(Engine::open(cfg).unwrap());
    let db = meta_db(&dir.path().join("meta"));
    e.create_stream(CreateStreamInput {
        stream_name: "src".into(),
        shard_count: Some(2),
        ..Default::default()
    })
    .await
    .unwrap();
    let id = e.stream_id("src").unwrap();
    let sink = Arc::new(Collect::default());
    let h = start(&e, config("src", e.now_ms()), &sink, store(&db, "ds-1"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        matches!(h.current(), SourceStatus::Retrying { .. }),
        "{:?}",
        h.current()
    );
    until("ACTIVE", || e.shards(&id).is_ok()).await;
    let ks = keys(5);
    put(&e, &id, &ks, 0, 2).await;
    until("records", || sink.records().len() >= 10).await;
    assert_eq!(h.current(), SourceStatus::Running);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_round_trip_through_the_collection() {
    let dir = tempfile::tempdir().unwrap();
    let db = MetaDb::open_in(dir.path()).unwrap();
    let s = store(&db, "uid-1");
    assert_eq!(s.load().unwrap(), Checkpoints::default());
    let c = Checkpoints {
        shards: BTreeMap::from([
            ("shardId-000000000000".into(), ShardCheckpoint::Finished),
            (
                "shardId-000000000001".into(),
                ShardCheckpoint::After("4959".into()),
            ),
        ]),
    };
    s.save(&c).unwrap();
    assert_eq!(s.load().unwrap(), c);
    assert_eq!(store(&db, "uid-2").load().unwrap(), Checkpoints::default());
    assert!(s.remove().unwrap());
    assert_eq!(s.load().unwrap(), Checkpoints::default());
}
