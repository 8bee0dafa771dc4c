//! Domain-level tests of time-dependent behaviour (retention, iterator
//! expiry) on a real data directory, with a clock the test moves forward.
#![allow(clippy::unwrap_used)]

mod common;

use common::{base_config, config_with_sync, get_records, iterator, put_record, stream, SHARD0};
use riffle_model::*;
use riffle_streams::{Clock, Engine, ManualClock, StreamsError, SyncPolicy};
use std::sync::Arc;

const HOUR: i64 = 3_600_000;

fn engine(dir: &std::path::Path, clock: Arc<ManualClock>) -> Engine {
    let mut cfg = config_with_sync(dir, SyncPolicy::Always);
    cfg.log.segment_max_age_ms = 60_000;
    Engine::open_with_clock(cfg, clock).unwrap()
}

async fn create(e: &Engine, name: &str, shards: i64) {
    common::create(e, name, shards, None).await;
}

async fn put(e: &Engine, name: &str, data: &str) -> PutRecordOutput {
    put_record(e, name, "pk", data.as_bytes().to_vec())
        .await
        .unwrap()
}

async fn read_all(
    e: &Engine,
    name: &str,
    kind: ShardIteratorType,
    seq: Option<String>,
) -> Vec<String> {
    let it = iterator(e, name, SHARD0, kind, seq, None).await.unwrap();
    let out = get_records(e, it).await.unwrap();
    out.records
        .into_iter()
        .map(|r| String::from_utf8(r.data.0).unwrap())
        .collect()
}

#[tokio::test]
async fn retention_hides_expired_records_and_reclaims_their_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let e = engine(dir.path(), clock.clone());
    create(&e, "s", 1).await;
    let mut first_seq = None;
    for i in 0..50 {
        let out = put(&e, "s", &format!("old-{i}")).await;
        first_seq.get_or_insert(out.sequence_number);
    }
    assert_eq!(
        read_all(&e, "s", ShardIteratorType::TrimHorizon, None)
            .await
            .len(),
        50
    );
    let disk_before = e.stats().disk_bytes;

    clock.advance_ms(25 * HOUR);
    assert!(read_all(&e, "s", ShardIteratorType::TrimHorizon, None)
        .await
        .is_empty());
    // An iterator at an expired record starts at the trim horizon instead.
    assert!(
        read_all(&e, "s", ShardIteratorType::AtSequenceNumber, first_seq)
            .await
            .is_empty()
    );

    put(&e, "s", "new").await; // rolls the aged segment
    let freed = e.enforce_retention();
    assert!(freed > 0, "expired segment was not deleted");
    assert!(e.stats().disk_bytes < disk_before);
    assert_eq!(
        read_all(&e, "s", ShardIteratorType::TrimHorizon, None).await,
        ["new"]
    );
}

#[tokio::test]
async fn decreasing_retention_takes_effect_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let e = engine(dir.path(), clock.clone());
    create(&e, "s", 1).await;
    e.increase_retention(RetentionInput {
        stream: stream("s"),
        retention_period_hours: 48,
    })
    .await
    .unwrap();
    put(&e, "s", "a").await;
    clock.advance_ms(30 * HOUR);
    assert_eq!(
        read_all(&e, "s", ShardIteratorType::TrimHorizon, None).await,
        ["a"]
    );
    e.decrease_retention(RetentionInput {
        stream: stream("s"),
        retention_period_hours: 24,
    })
    .await
    .unwrap();
    assert!(read_all(&e, "s", ShardIteratorType::TrimHorizon, None)
        .await
        .is_empty());
}

#[tokio::test]
async fn iterators_expire_after_five_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let e = engine(dir.path(), clock.clone());
    create(&e, "s", 1).await;
    let it = iterator(&e, "s", SHARD0, ShardIteratorType::Latest, None, None)
        .await
        .unwrap();
    clock.advance_ms(299_000);
    let fresh = get_records(&e, it.clone()).await;
    assert!(fresh.is_ok());
    clock.advance_ms(2_000);
    match get_records(&e, it).await {
        Err(StreamsError::ExpiredIterator(m)) => {
            assert!(
                m.starts_with("Iterator expired. The iterator was created at time "),
                "{m}"
            );
            assert!(m.ends_with("which is further in the future than the tolerated delay of 300000 milliseconds."), "{m}");
        }
        other => panic!("expected ExpiredIterator, got {other:?}"),
    }
}

#[tokio::test]
async fn at_timestamp_finds_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let e = engine(dir.path(), clock.clone());
    create(&e, "s", 1).await;
    put(&e, "s", "a").await;
    clock.advance_ms(10_000);
    let t = clock.now_ms();
    put(&e, "s", "b").await;
    clock.advance_ms(10_000);
    put(&e, "s", "c").await;
    let it = iterator(
        &e,
        "s",
        SHARD0,
        ShardIteratorType::AtTimestamp,
        None,
        Some(Timestamp(t)),
    )
    .await
    .unwrap();
    let out = get_records(&e, it).await.unwrap();
    let got: Vec<_> = out.records.iter().map(|r| r.data.0.clone()).collect();
    assert_eq!(got, [b"b".to_vec(), b"c".to_vec()]);
    let future = iterator(
        &e,
        "s",
        SHARD0,
        ShardIteratorType::AtTimestamp,
        None,
        Some(Timestamp(clock.now_ms() + 60_000)),
    )
    .await;
    assert!(
        matches!(future, Err(StreamsError::InvalidArgument(m)) if m.starts_with("The timestampInMillis parameter cannot be greater than the currentTimestampInMillis."))
    );
}

#[tokio::test]
async fn reopen_restores_streams_settings_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let seq;
    {
        let e = engine(dir.path(), clock.clone());
        create(&e, "s", 2).await;
        e.increase_retention(RetentionInput {
            stream: stream("s"),
            retention_period_hours: 100,
        })
        .await
        .unwrap();
        e.add_tags(AddTagsToStreamInput {
            stream: stream("s"),
            tags: [("k".to_string(), "v".to_string())].into(),
        })
        .await
        .unwrap();
        seq = put(&e, "s", "kept").await.sequence_number;
    }
    let e = engine(dir.path(), clock);
    let d = e
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream: stream("s"),
        })
        .await
        .unwrap();
    assert_eq!(d.stream_description_summary.retention_period_hours, 100);
    assert_eq!(d.stream_description_summary.open_shard_count, 2);
    let tags = e
        .list_tags_for_stream(ListTagsForStreamInput {
            stream: stream("s"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(tags.tags.len(), 1);
    // The record went to whichever shard its key hashes to; find it there.
    let mut found = false;
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let Ok(it) = iterator(&e, "s", shard, ShardIteratorType::TrimHorizon, None, None).await
        else {
            continue;
        };
        let out = get_records(&e, it).await.unwrap();
        found |= out
            .records
            .iter()
            .any(|r| r.sequence_number == seq && r.data.0 == b"kept");
    }
    assert!(found, "record lost across reopen");
}

#[tokio::test]
async fn deleted_stream_data_is_removed_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let e = engine(dir.path(), clock);
    create(&e, "gone", 1).await;
    put(&e, "gone", "x").await;
    let streams_dir = dir.path().join("streams");
    assert_eq!(std::fs::read_dir(&streams_dir).unwrap().count(), 1);
    e.delete_stream(DeleteStreamInput {
        stream: stream("gone"),
        enforce_consumer_deletion: false,
    })
    .await
    .unwrap();
    assert_eq!(std::fs::read_dir(&streams_dir).unwrap().count(), 0);
    let err = e
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream: stream("gone"),
        })
        .await;
    assert!(
        matches!(err, Err(StreamsError::ResourceNotFound(m)) if m == "Stream gone under account 000000000000 not found.")
    );
}

fn on_demand_engine(dir: &std::path::Path, clock: Arc<ManualClock>) -> Engine {
    Engine::open_with_clock(base_config(dir), clock).unwrap()
}

async fn open_shards(e: &Engine, name: &str) -> usize {
    let d = e
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream: stream(name),
        })
        .await
        .unwrap();
    d.stream_description_summary.open_shard_count as usize
}

async fn put_many(e: &Engine, name: &str, n: usize, size: usize, round: usize) {
    let records: Vec<PutRecordsEntry> = (0..n)
        .map(|i| PutRecordsEntry {
            data: vec![b'x'; size].into(),
            partition_key: format!("k-{round}-{i}"),
            explicit_hash_key: None,
        })
        .collect();
    for chunk in records.chunks(500) {
        let out = e
            .put_records(PutRecordsInput {
                stream: stream(name),
                records: chunk.to_vec(),
            })
            .await
            .unwrap();
        assert_eq!(out.failed_record_count, 0);
    }
}

#[tokio::test]
async fn on_demand_streams_split_hot_shards_and_stay_put_when_cold() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let e = on_demand_engine(dir.path(), clock.clone());
    for name in ["hot", "cold"] {
        e.create_stream(CreateStreamInput {
            stream_name: name.into(),
            stream_mode: Some(StreamMode::OnDemand),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(open_shards(&e, name).await, 4);
    }
    e.autoscale(); // first sample
    let mut grew_at = None;
    for round in 0..8 {
        // ~6 MiB/s spread over 4+ shards: every shard runs above 80% of 1 MiB/s.
        put_many(&e, "hot", 6000, 1024, round).await;
        put_many(&e, "cold", 10, 100, round).await;
        clock.advance_ms(1000);
        e.autoscale();
        if grew_at.is_none() && open_shards(&e, "hot").await > 4 {
            grew_at = Some(round);
        }
    }
    let hot = open_shards(&e, "hot").await;
    assert!(
        hot > 4,
        "a hot on-demand stream must grow, still {hot} shards"
    );
    assert!(
        grew_at.is_some_and(|r| r >= 1),
        "growth needs sustained load, not one sample"
    );
    assert_eq!(
        open_shards(&e, "cold").await,
        4,
        "a cold stream must not grow"
    );
    // The growth is real resharding: the parents are closed with children.
    let shards = e
        .list_shards(ListShardsInput {
            stream: stream("hot"),
            ..Default::default()
        })
        .await
        .unwrap()
        .shards;
    assert!(shards
        .iter()
        .any(|s| s.sequence_number_range.ending_sequence_number.is_some()));
    assert!(
        shards
            .iter()
            .filter(|s| s.parent_shard_id.is_some())
            .count()
            >= 2
    );
}

#[tokio::test]
async fn warm_throughput_pre_splits_an_on_demand_stream() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let e = on_demand_engine(dir.path(), clock);
    e.create_stream(CreateStreamInput {
        stream_name: "warm".into(),
        stream_mode: Some(StreamMode::OnDemand),
        ..Default::default()
    })
    .await
    .unwrap();
    let out = e
        .update_stream_warm_throughput(UpdateStreamWarmThroughputInput {
            stream: stream("warm"),
            warm_throughput_mibps: 10,
        })
        .await
        .unwrap();
    assert_eq!(out.warm_throughput.target_mibps, Some(10));
    for _ in 0..10 {
        e.autoscale();
    }
    assert_eq!(open_shards(&e, "warm").await, 10);
}

#[tokio::test]
async fn capacity_mode_switches_twice_a_day_and_counts_on_demand_streams() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let e = on_demand_engine(dir.path(), clock.clone());
    create(&e, "m", 2).await;
    let arn = "arn:aws:kinesis:us-east-1:000000000000:stream/m".to_string();
    let switch = |mode| UpdateStreamModeInput {
        stream_arn: arn.clone(),
        stream_mode: mode,
        warm_throughput_mibps: None,
    };
    assert_eq!(e.describe_limits().await.unwrap().on_demand_stream_count, 0);
    e.update_stream_mode(switch(StreamMode::OnDemand))
        .await
        .unwrap();
    let s = e
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream: stream("m"),
        })
        .await
        .unwrap();
    assert_eq!(
        s.stream_description_summary.stream_mode_details.stream_mode,
        StreamMode::OnDemand
    );
    assert_eq!(e.describe_limits().await.unwrap().on_demand_stream_count, 1);
    // Resharding APIs are provisioned-only.
    let split = e
        .split_shard(SplitShardInput {
            stream: stream("m"),
            shard_to_split: "shardId-000000000000".into(),
            new_starting_hash_key: "1000".into(),
        })
        .await;
    assert!(matches!(split, Err(StreamsError::InvalidArgument(_))));
    e.update_stream_mode(switch(StreamMode::Provisioned))
        .await
        .unwrap();
    let third = e.update_stream_mode(switch(StreamMode::OnDemand)).await;
    assert!(
        matches!(third, Err(StreamsError::LimitExceeded(_))),
        "{third:?}"
    );
    clock.advance_ms(25 * HOUR);
    e.update_stream_mode(switch(StreamMode::OnDemand))
        .await
        .unwrap();
}

/// Closed shards whose records are all past retention leave ListShards and
/// DescribeStream and their files are deleted, as on AWS (KDS guide: a shard
/// is EXPIRED once all its data is past retention and is no longer listed);
/// DescribeStreamSummary's OpenShardCount is unaffected.
#[tokio::test]
async fn expired_closed_shards_are_removed_with_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let e = engine(dir.path(), clock.clone());
    create(&e, "s", 2).await;
    for i in 0..20 {
        put_record(&e, "s", &format!("pk-{i}"), b"old".to_vec())
            .await
            .unwrap();
    }
    e.merge_shards(MergeShardsInput {
        stream: stream("s"),
        shard_to_merge: "shardId-000000000000".into(),
        adjacent_shard_to_merge: "shardId-000000000001".into(),
    })
    .await
    .unwrap();
    let shard_dirs = |name: &str| -> usize {
        fn walk(p: &std::path::Path, name: &str, n: &mut usize) {
            for entry in std::fs::read_dir(p).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    if path.file_name().is_some_and(|f| f == name) {
                        *n += 1;
                    }
                    walk(&path, name, n);
                }
            }
        }
        let mut n = 0;
        walk(dir.path(), name, &mut n);
        n
    };
    let ids =
        |shards: &[Shard]| -> Vec<String> { shards.iter().map(|s| s.shard_id.clone()).collect() };
    assert_eq!(list_ids(&e).await.len(), 3);
    assert_eq!(shard_dirs("000000000000"), 1);

    // Still within retention: the closed parents stay, files and all.
    clock.advance_ms(23 * HOUR);
    e.enforce_retention();
    assert_eq!(list_ids(&e).await.len(), 3);
    assert_eq!(shard_dirs("000000000000"), 1);

    clock.advance_ms(2 * HOUR);
    let freed = e.enforce_retention();
    assert!(freed > 0, "the expired shards' files were not counted");
    assert_eq!(list_ids(&e).await, ["shardId-000000000002"]);
    let described = e
        .describe_stream(DescribeStreamInput {
            stream: stream("s"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        ids(&described.stream_description.shards),
        ["shardId-000000000002"]
    );
    // The child still names its parents.
    let child = &described.stream_description.shards[0];
    assert_eq!(
        child.parent_shard_id.as_deref(),
        Some("shardId-000000000000")
    );
    assert_eq!(
        child.adjacent_parent_shard_id.as_deref(),
        Some("shardId-000000000001")
    );
    let summary = e
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream: stream("s"),
        })
        .await
        .unwrap();
    assert_eq!(summary.stream_description_summary.open_shard_count, 1);
    assert_eq!(
        shard_dirs("000000000000"),
        0,
        "expired shard's directory is still there"
    );
    assert_eq!(shard_dirs("000000000001"), 0);
    assert_eq!(shard_dirs("000000000002"), 1);
    match iterator(&e, "s", SHARD0, ShardIteratorType::TrimHorizon, None, None).await {
        Err(StreamsError::ResourceNotFound(_)) => {}
        other => panic!("iterator on an expired shard: {other:?}"),
    }
    // The open child still works, and a restart does not bring the parents back.
    put_record(&e, "s", "pk", b"new".to_vec()).await.unwrap();
    drop(e);
    let e = engine(dir.path(), clock.clone());
    assert_eq!(list_ids(&e).await, ["shardId-000000000002"]);
}

async fn list_ids(e: &Engine) -> Vec<String> {
    e.list_shards(ListShardsInput {
        stream: stream("s"),
        ..Default::default()
    })
    .await
    .unwrap()
    .shards
    .into_iter()
    .map(|s| s.shard_id)
    .collect()
}

/// On-demand streams shrink: adjacent shards cold (below 20% of a shard's
/// write capacity) for the cold period are merged, lower shard first, one
/// merge per stream per pass, never below 4 open shards or the warm
/// throughput; shards with traffic or not yet cold for long enough stay.
#[tokio::test]
async fn on_demand_streams_merge_cold_shards_down_to_the_floor() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let mut cfg = base_config(dir.path());
    cfg.on_demand_cold_period_ms = 10_000;
    let e = Engine::open_with_clock(cfg, clock.clone()).unwrap();
    for (name, warm) in [("plain", None), ("warm", Some(6))] {
        create(&e, name, 8).await;
        e.update_stream_mode(UpdateStreamModeInput {
            stream_arn: format!("arn:aws:kinesis:us-east-1:000000000000:stream/{name}"),
            stream_mode: StreamMode::OnDemand,
            warm_throughput_mibps: warm,
        })
        .await
        .unwrap();
        assert_eq!(open_shards(&e, name).await, 8);
    }
    e.autoscale(); // first sample
                   // Cold, but not yet for the cold period: nothing merges.
    for _ in 0..9 {
        clock.advance_ms(1000);
        assert_eq!(e.autoscale(), 0, "merged before the cold period");
    }
    assert_eq!(open_shards(&e, "plain").await, 8);
    for _ in 0..60 {
        clock.advance_ms(1000);
        e.autoscale();
    }
    assert_eq!(
        open_shards(&e, "plain").await,
        4,
        "shrinks to 4 and no further"
    );
    assert_eq!(
        open_shards(&e, "warm").await,
        6,
        "warm throughput of 6 MiB/s keeps 6"
    );

    // The shrink is real MergeShards: children name the lower parent first.
    let shards = e
        .list_shards(ListShardsInput {
            stream: stream("plain"),
            ..Default::default()
        })
        .await
        .unwrap()
        .shards;
    let open: Vec<&Shard> = shards
        .iter()
        .filter(|s| s.sequence_number_range.ending_sequence_number.is_none())
        .collect();
    assert_eq!(open.len(), 4);
    let start = |id: &str| -> u128 {
        shards
            .iter()
            .find(|s| s.shard_id == id)
            .unwrap()
            .hash_key_range
            .starting_hash_key
            .parse()
            .unwrap()
    };
    for s in &open {
        let (p, a) = (
            s.parent_shard_id.as_deref().unwrap(),
            s.adjacent_parent_shard_id.as_deref().unwrap(),
        );
        assert!(
            start(p) < start(a),
            "{} merged with the upper shard first",
            s.shard_id
        );
    }
}

/// A shard carrying writes is not merged even when its neighbour is cold.
#[tokio::test]
async fn on_demand_shards_with_traffic_are_not_merged() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let mut cfg = base_config(dir.path());
    cfg.on_demand_cold_period_ms = 2_000;
    let e = Engine::open_with_clock(cfg, clock.clone()).unwrap();
    create(&e, "busy", 5).await;
    e.update_stream_mode(UpdateStreamModeInput {
        stream_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/busy".into(),
        stream_mode: StreamMode::OnDemand,
        warm_throughput_mibps: None,
    })
    .await
    .unwrap();
    e.autoscale();
    for round in 0..10 {
        // ~400 records/s on every shard: 40% of a shard's record capacity.
        put_many(&e, "busy", 2000, 10, round).await;
        clock.advance_ms(1000);
        e.autoscale();
    }
    assert_eq!(open_shards(&e, "busy").await, 5, "warm shards were merged");
}
