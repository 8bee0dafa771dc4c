//! Control-plane end-to-end tests through the real Rust AWS SDK against the
//! real `riffle` binary: stream lifecycle, description, listing, retention,
//! tags, limits and validation, with AWS's exact error codes and messages.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::client::Waiters;
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::{Blob, DateTime};
use aws_sdk_kinesis::types::{
    EncryptionType, Shard, ShardFilter, ShardFilterType, ShardIteratorType, StreamMode,
    StreamModeDetails, StreamStatus,
};
use aws_sdk_kinesis::Client;
use common::kinesis::{
    arn, bits, check_seq_layout, create_stream, describe_shards, err, now_ms, sid, ACCOUNT,
};
use common::{no_retry_client_for, TestServer};
use std::time::Duration;

const MIB: usize = 1024 * 1024;

fn not_found(name: &str) -> String {
    format!("Stream {name} under account {ACCOUNT} not found.")
}

fn mode(m: StreamMode) -> StreamModeDetails {
    StreamModeDetails::builder().stream_mode(m).build().unwrap()
}

fn ids(shards: &[Shard]) -> Vec<String> {
    shards.iter().map(|s| s.shard_id().to_string()).collect()
}

fn shard_ids(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(sid).collect()
}

/// AWS's split of the hash space into `n` shards: `floor(2^128/n)` wide, the
/// last one ending at `2^128-1` (computed independently of the server).
fn expected_ranges(n: u128) -> Vec<(String, String)> {
    let mut width = u128::MAX / n;
    if u128::MAX % n == n - 1 {
        width += 1;
    }
    (0..n)
        .map(|i| {
            let end = if i == n - 1 {
                u128::MAX
            } else {
                width * (i + 1) - 1
            };
            ((width * i).to_string(), end.to_string())
        })
        .collect()
}

fn ranges(shards: &[Shard]) -> Vec<(String, String)> {
    shards
        .iter()
        .map(|s| {
            let r = s.hash_key_range().unwrap();
            (
                r.starting_hash_key().to_string(),
                r.ending_hash_key().to_string(),
            )
        })
        .collect()
}

/// Checks a sequence number is AWS's 56-digit "version 2" layout (what the
/// KCL's SequenceNumberValidator decodes) and returns (shard index, seq
/// index, shard creation secs).
fn check_seq(seq: &str) -> (u64, u64, u64) {
    let l = check_seq_layout(seq);
    (bits(&l, 4, 32), bits(&l, 80, 64), bits(&l, 148, 36))
}

#[tokio::test]
async fn create_stream_and_describe_three_shards() {
    let server = TestServer::start();
    let c = server.client().await;
    let before = now_ms();
    c.create_stream()
        .stream_name("three")
        .shard_count(3)
        .tags("team", "data")
        .tags("env", "test")
        .send()
        .await
        .unwrap();

    let out = c
        .describe_stream()
        .stream_name("three")
        .send()
        .await
        .unwrap();
    let d = out.stream_description().unwrap();
    assert_eq!(d.stream_name(), "three");
    assert_eq!(d.stream_arn(), arn("three"));
    assert_eq!(d.stream_status(), &StreamStatus::Active);
    assert_eq!(
        d.stream_mode_details().unwrap().stream_mode(),
        &StreamMode::Provisioned
    );
    assert!(!d.has_more_shards());
    assert_eq!(d.retention_period_hours(), 24);
    assert_eq!(d.encryption_type(), Some(&EncryptionType::None));
    assert_eq!(d.enhanced_monitoring().len(), 1);
    assert!(d.enhanced_monitoring()[0].shard_level_metrics().is_empty());
    let created = d.stream_creation_timestamp().secs();
    assert!(
        (created - before / 1000).abs() <= 5,
        "creation timestamp {created} vs now {before}"
    );

    let shards = d.shards();
    assert_eq!(ids(shards), shard_ids(0..3));
    // reference §3.4, verified against AWS.
    let expected = vec![
        (
            "0".to_string(),
            "113427455640312821154458202477256070484".to_string(),
        ),
        (
            "113427455640312821154458202477256070485".to_string(),
            "226854911280625642308916404954512140969".to_string(),
        ),
        (
            "226854911280625642308916404954512140970".to_string(),
            "340282366920938463463374607431768211455".to_string(),
        ),
    ];
    assert_eq!(ranges(shards), expected);
    assert_eq!(expected_ranges(3), expected);
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s.parent_shard_id(), None);
        assert_eq!(s.adjacent_parent_shard_id(), None);
        let r = s.sequence_number_range().unwrap();
        assert_eq!(
            r.ending_sequence_number(),
            None,
            "open shard has an EndingSequenceNumber"
        );
        let (shard, seq_ix, created_secs) = check_seq(r.starting_sequence_number());
        assert_eq!(shard, i as u64);
        assert_eq!(seq_ix, 0);
        assert!((created_secs as i64 - before / 1000).abs() <= 5);
    }
    let starts: std::collections::HashSet<_> = shards
        .iter()
        .map(|s| {
            s.sequence_number_range()
                .unwrap()
                .starting_sequence_number()
        })
        .collect();
    assert_eq!(
        starts.len(),
        3,
        "starting sequence numbers must differ per shard"
    );

    let tags = c
        .list_tags_for_stream()
        .stream_name("three")
        .send()
        .await
        .unwrap();
    let kv: Vec<(&str, Option<&str>)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(kv, vec![("env", Some("test")), ("team", Some("data"))]);
}

#[tokio::test]
async fn on_demand_stream_gets_four_even_shards() {
    let server = TestServer::start();
    let c = server.client().await;
    c.create_stream()
        .stream_name("od")
        .stream_mode_details(mode(StreamMode::OnDemand))
        .send()
        .await
        .unwrap();
    let out = c.describe_stream().stream_name("od").send().await.unwrap();
    let d = out.stream_description().unwrap();
    assert_eq!(
        d.stream_mode_details().unwrap().stream_mode(),
        &StreamMode::OnDemand
    );
    assert_eq!(ids(d.shards()), shard_ids(0..4));
    assert_eq!(ranges(d.shards()), expected_ranges(4));
    let sum = c
        .describe_stream_summary()
        .stream_name("od")
        .send()
        .await
        .unwrap();
    let s = sum.stream_description_summary().unwrap();
    assert_eq!(s.open_shard_count(), 4);
    assert_eq!(
        s.stream_mode_details().unwrap().stream_mode(),
        &StreamMode::OnDemand
    );
    let limits = c.describe_limits().send().await.unwrap();
    assert_eq!(limits.on_demand_stream_count(), 1);

    // Other shard counts split the space the same way.
    create_stream(&c, "seven", 7).await;
    assert_eq!(
        ranges(&describe_shards(&c, "seven").await),
        expected_ranges(7)
    );
    create_stream(&c, "one", 1).await;
    assert_eq!(
        ranges(&describe_shards(&c, "one").await),
        vec![(
            "0".to_string(),
            "340282366920938463463374607431768211455".to_string()
        )]
    );
}

#[tokio::test]
async fn describe_stream_paginates_with_limit_and_exclusive_start() {
    let server = TestServer::start();
    let c = server.client().await;
    create_stream(&c, "paged", 5).await;
    let p1 = c
        .describe_stream()
        .stream_name("paged")
        .limit(2)
        .send()
        .await
        .unwrap();
    let d1 = p1.stream_description().unwrap();
    assert_eq!(ids(d1.shards()), shard_ids(0..2));
    assert!(d1.has_more_shards());
    let p2 = c
        .describe_stream()
        .stream_name("paged")
        .limit(2)
        .exclusive_start_shard_id(d1.shards()[1].shard_id())
        .send()
        .await
        .unwrap();
    let d2 = p2.stream_description().unwrap();
    assert_eq!(ids(d2.shards()), shard_ids(2..4));
    assert!(d2.has_more_shards());
    let p3 = c
        .describe_stream()
        .stream_arn(arn("paged"))
        .limit(2)
        .exclusive_start_shard_id(d2.shards()[1].shard_id())
        .send()
        .await
        .unwrap();
    let d3 = p3.stream_description().unwrap();
    assert_eq!(ids(d3.shards()), shard_ids(4..5));
    assert!(!d3.has_more_shards());
    // Past the last shard: nothing.
    let past = c
        .describe_stream()
        .stream_name("paged")
        .exclusive_start_shard_id("shardId-000000000004")
        .send()
        .await
        .unwrap();
    assert!(past.stream_description().unwrap().shards().is_empty());
    assert!(!past.stream_description().unwrap().has_more_shards());
    // Exactly the shard count as the limit: nothing more.
    let all = c
        .describe_stream()
        .stream_name("paged")
        .limit(5)
        .send()
        .await
        .unwrap();
    assert!(!all.stream_description().unwrap().has_more_shards());
    assert_eq!(all.stream_description().unwrap().shards().len(), 5);
}

#[tokio::test]
async fn describe_stream_summary_reports_defaults() {
    let server = TestServer::start();
    let c = server.client().await;
    create_stream(&c, "summ", 3).await;
    for out in [
        c.describe_stream_summary()
            .stream_name("summ")
            .send()
            .await
            .unwrap(),
        c.describe_stream_summary()
            .stream_arn(arn("summ"))
            .send()
            .await
            .unwrap(),
    ] {
        let s = out.stream_description_summary().unwrap();
        assert_eq!(s.stream_name(), "summ");
        assert_eq!(s.stream_arn(), arn("summ"));
        assert_eq!(s.stream_status(), &StreamStatus::Active);
        assert_eq!(s.open_shard_count(), 3);
        assert_eq!(s.retention_period_hours(), 24);
        assert_eq!(s.max_record_size_in_kib(), Some(1024));
        assert_eq!(
            s.stream_mode_details().unwrap().stream_mode(),
            &StreamMode::Provisioned
        );
        assert_eq!(s.encryption_type(), Some(&EncryptionType::None));
        assert_eq!(s.consumer_count(), Some(0));
        assert_eq!(s.enhanced_monitoring().len(), 1);
    }
    let (code, msg) = err(c.describe_stream_summary().stream_name("nope").send().await);
    assert_eq!(
        (code.as_str(), msg),
        ("ResourceNotFoundException", not_found("nope"))
    );
}

#[tokio::test]
async fn every_stream_operation_works_by_stream_arn() {
    let server = TestServer::start();
    let c = server.client().await;
    let name = "by-arn";
    let a = arn(name);
    create_stream(&c, name, 2).await;

    let d = c.describe_stream().stream_arn(&a).send().await.unwrap();
    assert_eq!(d.stream_description().unwrap().stream_name(), name);
    assert_eq!(d.stream_description().unwrap().shards().len(), 2);
    let s = c
        .describe_stream_summary()
        .stream_arn(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.stream_description_summary().unwrap().open_shard_count(),
        2
    );
    let ls = c.list_shards().stream_arn(&a).send().await.unwrap();
    assert_eq!(ids(ls.shards()), shard_ids(0..2));

    c.add_tags_to_stream()
        .stream_arn(&a)
        .tags("k1", "v1")
        .tags("k2", "v2")
        .send()
        .await
        .unwrap();
    c.remove_tags_from_stream()
        .stream_arn(&a)
        .tag_keys("k1")
        .send()
        .await
        .unwrap();
    let t = c
        .list_tags_for_stream()
        .stream_arn(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.tags().iter().map(|t| t.key()).collect::<Vec<_>>(),
        vec!["k2"]
    );

    c.increase_stream_retention_period()
        .stream_arn(&a)
        .retention_period_hours(72)
        .send()
        .await
        .unwrap();
    c.decrease_stream_retention_period()
        .stream_arn(&a)
        .retention_period_hours(48)
        .send()
        .await
        .unwrap();
    c.update_max_record_size()
        .stream_arn(&a)
        .max_record_size_in_kib(2048)
        .send()
        .await
        .unwrap();
    let s = c
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .unwrap();
    let s = s.stream_description_summary().unwrap();
    assert_eq!(s.retention_period_hours(), 48);
    assert_eq!(s.max_record_size_in_kib(), Some(2048));

    let put = c
        .put_record()
        .stream_arn(&a)
        .partition_key("pk")
        .data(Blob::new(b"one".to_vec()))
        .send()
        .await
        .unwrap();
    let entry = aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
        .partition_key("pk")
        .data(Blob::new(b"two".to_vec()))
        .build()
        .unwrap();
    let puts = c
        .put_records()
        .stream_arn(&a)
        .records(entry)
        .send()
        .await
        .unwrap();
    assert_eq!(puts.failed_record_count(), Some(0));
    assert_eq!(puts.records()[0].shard_id(), Some(put.shard_id()));
    let it = c
        .get_shard_iterator()
        .stream_arn(&a)
        .shard_id(put.shard_id())
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap();
    let recs = c
        .get_records()
        .stream_arn(&a)
        .shard_iterator(it.shard_iterator().unwrap())
        .send()
        .await
        .unwrap();
    let data: Vec<&[u8]> = recs.records().iter().map(|r| r.data().as_ref()).collect();
    assert_eq!(data, vec![&b"one"[..], &b"two"[..]]);

    // Both given and consistent is fine.
    c.describe_stream_summary()
        .stream_name(name)
        .stream_arn(&a)
        .send()
        .await
        .unwrap();
    // An ARN of a stream that does not exist.
    let (code, msg) = err(c.describe_stream().stream_arn(arn("ghost")).send().await);
    assert_eq!(
        (code.as_str(), msg),
        ("ResourceNotFoundException", not_found("ghost"))
    );

    c.delete_stream().stream_arn(&a).send().await.unwrap();
    let (code, msg) = err(c.describe_stream().stream_arn(&a).send().await);
    assert_eq!(
        (code.as_str(), msg),
        ("ResourceNotFoundException", not_found(name))
    );
}

#[tokio::test]
async fn list_streams_paginates_with_limit_and_next_token() {
    let server = TestServer::start();
    let c = server.client().await;
    let empty = c.list_streams().send().await.unwrap();
    assert!(empty.stream_names().is_empty());
    assert!(!empty.has_more_streams());

    // Created out of order; listed sorted.
    for n in ["ls-c", "ls-a", "ls-e", "ls-b", "ls-d"] {
        create_stream(&c, n, 1).await;
    }
    let p1 = c.list_streams().limit(2).send().await.unwrap();
    assert_eq!(p1.stream_names(), ["ls-a", "ls-b"]);
    assert!(p1.has_more_streams());
    let tok = p1
        .next_token()
        .expect("a NextToken when HasMoreStreams")
        .to_string();
    let sums = p1.stream_summaries();
    assert_eq!(sums.len(), 2);
    for (s, n) in sums.iter().zip(["ls-a", "ls-b"]) {
        assert_eq!(s.stream_name(), n);
        assert_eq!(s.stream_arn(), arn(n));
        assert_eq!(s.stream_status(), &StreamStatus::Active);
        assert_eq!(
            s.stream_mode_details().unwrap().stream_mode(),
            &StreamMode::Provisioned
        );
        let t = s
            .stream_creation_timestamp()
            .expect("StreamCreationTimestamp in summaries")
            .secs();
        assert!((t - now_ms() / 1000).abs() <= 30);
    }
    let p2 = c
        .list_streams()
        .limit(2)
        .next_token(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(p2.stream_names(), ["ls-c", "ls-d"]);
    assert!(p2.has_more_streams());
    let p3 = c
        .list_streams()
        .limit(2)
        .next_token(p2.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(p3.stream_names(), ["ls-e"]);
    assert!(!p3.has_more_streams());
    assert_eq!(p3.next_token(), None);
    assert_eq!(p3.stream_summaries().len(), 1);

    let all = c.list_streams().send().await.unwrap();
    assert_eq!(all.stream_names(), ["ls-a", "ls-b", "ls-c", "ls-d", "ls-e"]);
    assert!(!all.has_more_streams());
    let after = c
        .list_streams()
        .exclusive_start_stream_name("ls-c")
        .send()
        .await
        .unwrap();
    assert_eq!(after.stream_names(), ["ls-d", "ls-e"]);
    // The SDK's paginator follows the same tokens.
    let mut names = Vec::new();
    let mut pages = c.list_streams().limit(2).into_paginator().send();
    while let Some(page) = pages.next().await {
        names.extend(page.unwrap().stream_names().to_vec());
    }
    assert_eq!(names, ["ls-a", "ls-b", "ls-c", "ls-d", "ls-e"]);
}

#[tokio::test]
async fn list_shards_paginates_and_filters() {
    let server = TestServer::start();
    let c = server.client().await;
    create_stream(&c, "lsh", 4).await;

    let all = c.list_shards().stream_name("lsh").send().await.unwrap();
    assert_eq!(ids(all.shards()), shard_ids(0..4));
    assert_eq!(all.next_token(), None);
    assert_eq!(ranges(all.shards()), expected_ranges(4));
    assert_eq!(all.shards(), describe_shards(&c, "lsh").await.as_slice());

    // MaxResults + NextToken (the token alone names the stream).
    let p1 = c
        .list_shards()
        .stream_name("lsh")
        .max_results(3)
        .send()
        .await
        .unwrap();
    assert_eq!(ids(p1.shards()), shard_ids(0..3));
    let tok = p1.next_token().expect("NextToken when more shards remain");
    let p2 = c.list_shards().next_token(tok).send().await.unwrap();
    assert_eq!(ids(p2.shards()), shard_ids(3..4));
    assert_eq!(p2.next_token(), None);

    let ex = c
        .list_shards()
        .stream_name("lsh")
        .exclusive_start_shard_id("shardId-000000000001")
        .send()
        .await;
    assert_eq!(ids(ex.unwrap().shards()), shard_ids(2..4));

    let now = DateTime::from_millis(now_ms());
    let filter = |t: ShardFilterType| ShardFilter::builder().r#type(t).build().unwrap();
    let with_ts = |t: ShardFilterType| {
        ShardFilter::builder()
            .r#type(t)
            .timestamp(now)
            .build()
            .unwrap()
    };
    for f in [
        filter(ShardFilterType::AtLatest),
        filter(ShardFilterType::AtTrimHorizon),
        filter(ShardFilterType::FromTrimHorizon),
        with_ts(ShardFilterType::AtTimestamp),
        with_ts(ShardFilterType::FromTimestamp),
    ] {
        let out = c
            .list_shards()
            .stream_name("lsh")
            .shard_filter(f.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(ids(out.shards()), shard_ids(0..4), "filter {f:?}");
        // The filter carries over in the NextToken.
        let p1 = c
            .list_shards()
            .stream_name("lsh")
            .shard_filter(f.clone())
            .max_results(2)
            .send()
            .await
            .unwrap();
        assert_eq!(ids(p1.shards()), shard_ids(0..2), "filter {f:?}");
        let p2 = c
            .list_shards()
            .next_token(p1.next_token().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(ids(p2.shards()), shard_ids(2..4), "filter {f:?}");
        assert_eq!(p2.next_token(), None);
    }
    let after = ShardFilter::builder()
        .r#type(ShardFilterType::AfterShardId)
        .shard_id("shardId-000000000001")
        .build()
        .unwrap();
    let out = c
        .list_shards()
        .stream_name("lsh")
        .shard_filter(after.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(ids(out.shards()), shard_ids(2..4));
    let p1 = c
        .list_shards()
        .stream_name("lsh")
        .shard_filter(after)
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert_eq!(ids(p1.shards()), shard_ids(2..3));
    let p2 = c
        .list_shards()
        .next_token(p1.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ids(p2.shards()), shard_ids(3..4));

    // By ARN, one shard per page.
    let mut page = c
        .list_shards()
        .stream_arn(arn("lsh"))
        .max_results(1)
        .send()
        .await
        .unwrap();
    let mut got = ids(page.shards());
    while let Some(tok) = page.next_token().map(str::to_string) {
        page = c.list_shards().next_token(tok).send().await.unwrap();
        got.extend(ids(page.shards()));
    }
    assert_eq!(got, shard_ids(0..4));

    let (code, msg) = err(c
        .list_shards()
        .stream_name("lsh")
        .next_token(tok)
        .send()
        .await);
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "InvalidArgumentException",
            "NextToken and StreamName cannot be provided together."
        )
    );
    let (code, msg) = err(c.list_shards().send().await);
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "InvalidArgumentException",
            "Either NextToken or StreamName should be provided."
        )
    );
    let (code, msg) = err(c.list_shards().stream_name("ghost").send().await);
    assert_eq!(
        (code.as_str(), msg),
        ("ResourceNotFoundException", not_found("ghost"))
    );
}

#[tokio::test]
async fn retention_period_changes_and_errors() {
    let server = TestServer::start();
    let c = server.client().await;
    let name = "ret";
    create_stream(&c, name, 1).await;
    let retention = |c: Client| async move {
        let s = c
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .unwrap();
        s.stream_description_summary()
            .unwrap()
            .retention_period_hours()
    };
    assert_eq!(retention(c.clone()).await, 24);
    let inc = |h: i32| {
        c.increase_stream_retention_period()
            .stream_name(name)
            .retention_period_hours(h)
            .send()
    };
    let dec = |h: i32| {
        c.decrease_stream_retention_period()
            .stream_name(name)
            .retention_period_hours(h)
            .send()
    };

    inc(48).await.unwrap();
    assert_eq!(retention(c.clone()).await, 48);
    let d = c.describe_stream().stream_name(name).send().await.unwrap();
    assert_eq!(d.stream_description().unwrap().retention_period_hours(), 48);
    // Same value is allowed both ways.
    inc(48).await.unwrap();
    dec(48).await.unwrap();

    let (code, msg) = err(inc(36).await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        "Requested retention period (36 hours) for stream ret can not be shorter than existing retention period (48 hours). Use DecreaseRetentionPeriod API."
    );
    let (code, msg) = err(inc(23).await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(msg, "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short.");
    let (code, msg) = err(inc(8761).await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(msg, "Maximum allowed retention period is 8760 hours. Requested retention period (8761 hours) is too long.");

    let (code, msg) = err(dec(72).await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        "Requested retention period (72 hours) for stream ret can not be longer than existing retention period (48 hours). Use IncreaseRetentionPeriod API."
    );
    let (code, msg) = err(dec(23).await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(msg, "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short.");
    let (code, msg) = err(dec(8761).await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(msg, "Maximum allowed retention period is 8760 hours. Requested retention period (8761 hours) is too long.");
    assert_eq!(
        retention(c.clone()).await,
        48,
        "failed calls must not change retention"
    );

    inc(8760).await.unwrap();
    assert_eq!(retention(c.clone()).await, 8760);
    dec(24).await.unwrap();
    assert_eq!(retention(c.clone()).await, 24);

    let (code, msg) = err(c
        .increase_stream_retention_period()
        .stream_name("ghost")
        .retention_period_hours(48)
        .send()
        .await);
    assert_eq!(
        (code.as_str(), msg),
        ("ResourceNotFoundException", not_found("ghost"))
    );
}

#[tokio::test]
async fn stream_tags_add_list_remove_and_limits() {
    let server = TestServer::start();
    let c = server.client().await;
    let name = "tagged";
    create_stream(&c, name, 1).await;
    let empty = c
        .list_tags_for_stream()
        .stream_name(name)
        .send()
        .await
        .unwrap();
    assert!(empty.tags().is_empty());
    assert!(!empty.has_more_tags());

    c.add_tags_to_stream()
        .stream_name(name)
        .tags("zeta", "26")
        .tags("alpha", "1")
        .tags("mu", "12")
        .tags("beta", "")
        .tags("unicode ключ", "wert_. /=+-@")
        .send()
        .await
        .unwrap();
    let all = c
        .list_tags_for_stream()
        .stream_name(name)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = all.tags().iter().map(|t| t.key()).collect();
    assert_eq!(
        keys,
        ["alpha", "beta", "mu", "unicode ключ", "zeta"],
        "tags sorted by key"
    );
    assert_eq!(all.tags()[0].value(), Some("1"));
    assert_eq!(all.tags()[3].value(), Some("wert_. /=+-@"));
    assert!(!all.has_more_tags());

    let p1 = c
        .list_tags_for_stream()
        .stream_name(name)
        .limit(2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        p1.tags().iter().map(|t| t.key()).collect::<Vec<_>>(),
        ["alpha", "beta"]
    );
    assert!(p1.has_more_tags());
    let p2 = c
        .list_tags_for_stream()
        .stream_name(name)
        .limit(2)
        .exclusive_start_tag_key("beta")
        .send()
        .await
        .unwrap();
    assert_eq!(
        p2.tags().iter().map(|t| t.key()).collect::<Vec<_>>(),
        ["mu", "unicode ключ"]
    );
    assert!(p2.has_more_tags());
    let p3 = c
        .list_tags_for_stream()
        .stream_name(name)
        .limit(2)
        .exclusive_start_tag_key("unicode ключ")
        .send()
        .await
        .unwrap();
    assert_eq!(
        p3.tags().iter().map(|t| t.key()).collect::<Vec<_>>(),
        ["zeta"]
    );
    assert!(!p3.has_more_tags());

    // Overwrite, then remove (a missing key is ignored).
    c.add_tags_to_stream()
        .stream_name(name)
        .tags("alpha", "one")
        .send()
        .await
        .unwrap();
    c.remove_tags_from_stream()
        .stream_name(name)
        .tag_keys("mu")
        .tag_keys("not-there")
        .send()
        .await
        .unwrap();
    let all = c
        .list_tags_for_stream()
        .stream_name(name)
        .send()
        .await
        .unwrap();
    let kv: Vec<(&str, Option<&str>)> = all.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(
        kv,
        [
            ("alpha", Some("one")),
            ("beta", Some("")),
            ("unicode ключ", Some("wert_. /=+-@")),
            ("zeta", Some("26"))
        ]
    );

    let invalid =
        "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.";
    for (k, v) in [("bad*key", "v"), ("key", "bad#value"), ("semi;colon", "v")] {
        let (code, msg) = err(c
            .add_tags_to_stream()
            .stream_name(name)
            .tags(k, v)
            .send()
            .await);
        assert_eq!(
            (code.as_str(), msg.as_str()),
            ("InvalidArgumentException", invalid),
            "tag {k}={v}"
        );
    }

    // 50 tags per stream: 4 present + 46 more is fine, one more is not.
    let mut add = c.add_tags_to_stream().stream_name(name);
    for i in 0..46 {
        add = add.tags(format!("k{i:02}"), "v");
    }
    add.send().await.unwrap();
    let limit_msg = format!(
        "Failed to add tags to stream {name} under account {ACCOUNT} because a given stream cannot have more than 50 tags associated with it."
    );
    let (code, msg) = err(c
        .add_tags_to_stream()
        .stream_name(name)
        .tags("one-too-many", "v")
        .send()
        .await);
    assert_eq!(
        (code.as_str(), msg),
        ("InvalidArgumentException", limit_msg.clone())
    );
    // Overwriting an existing key at the limit is still fine.
    c.add_tags_to_stream()
        .stream_name(name)
        .tags("k00", "changed")
        .send()
        .await
        .unwrap();
    let mut n = 0;
    let mut start: Option<String> = None;
    loop {
        let mut req = c.list_tags_for_stream().stream_name(name).limit(50);
        if let Some(s) = &start {
            req = req.exclusive_start_tag_key(s);
        }
        let page = req.send().await.unwrap();
        n += page.tags().len();
        start = page.tags().last().map(|t| t.key().to_string());
        if !page.has_more_tags() {
            break;
        }
    }
    assert_eq!(n, 50);

    // CreateStream with more than 50 tags.
    let mut cr = c
        .create_stream()
        .stream_name("too-many-tags")
        .shard_count(1);
    for i in 0..51 {
        cr = cr.tags(format!("k{i:02}"), "v");
    }
    let (code, msg) = err(cr.send().await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        format!("Failed to add tags to stream too-many-tags under account {ACCOUNT} because a given stream cannot have more than 50 tags associated with it.")
    );
    let (code, _) = err(c
        .describe_stream()
        .stream_name("too-many-tags")
        .send()
        .await);
    assert_eq!(code, "ResourceNotFoundException");

    let (code, msg) = err(c.list_tags_for_stream().stream_name("ghost").send().await);
    assert_eq!(
        (code.as_str(), msg),
        ("ResourceNotFoundException", not_found("ghost"))
    );
}

#[tokio::test]
async fn resource_tags_by_arn() {
    let server = TestServer::start();
    let c = server.client().await;
    let name = "res-tags";
    let a = arn(name);
    c.create_stream()
        .stream_name(name)
        .shard_count(1)
        .tags("created", "yes")
        .send()
        .await
        .unwrap();

    c.tag_resource()
        .resource_arn(&a)
        .tags("b", "2")
        .tags("a", "1")
        .send()
        .await
        .unwrap();
    let t = c
        .list_tags_for_resource()
        .resource_arn(&a)
        .send()
        .await
        .unwrap();
    let kv: Vec<(&str, Option<&str>)> = t.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(
        kv,
        [("a", Some("1")), ("b", Some("2")), ("created", Some("yes"))]
    );
    // Both APIs see the same tags.
    let s = c
        .list_tags_for_stream()
        .stream_name(name)
        .send()
        .await
        .unwrap();
    assert_eq!(s.tags(), t.tags());

    c.untag_resource()
        .resource_arn(&a)
        .tag_keys("created")
        .tag_keys("absent")
        .send()
        .await
        .unwrap();
    let t = c
        .list_tags_for_resource()
        .resource_arn(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.tags().iter().map(|t| t.key()).collect::<Vec<_>>(),
        ["a", "b"]
    );

    let (code, msg) = err(c
        .tag_resource()
        .resource_arn(&a)
        .tags("a!", "x")
        .send()
        .await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @."
    );
    let mut tr = c.tag_resource().resource_arn(&a);
    for i in 0..49 {
        tr = tr.tags(format!("t{i:02}"), "v");
    }
    let (code, msg) = err(tr.send().await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        format!("Failed to add tags to stream {name} under account {ACCOUNT} because a given stream cannot have more than 50 tags associated with it.")
    );

    let (code, msg) = err(c
        .list_tags_for_resource()
        .resource_arn(arn("ghost"))
        .send()
        .await);
    assert_eq!(
        (code.as_str(), msg),
        ("ResourceNotFoundException", not_found("ghost"))
    );
    let (code, _) = err(c
        .tag_resource()
        .resource_arn(arn("ghost"))
        .tags("a", "b")
        .send()
        .await);
    assert_eq!(code, "ResourceNotFoundException");
}

#[tokio::test]
async fn describe_limits_and_shard_limit() {
    // Throughput limits off: AWS allows one DescribeLimits a second and this
    // no-retry client calls it back to back; the shard limit is what is tested.
    let server = TestServer::start_with(&[
        "--transition-delay-ms",
        "0",
        "--shard-limit",
        "5",
        "--no-throughput-limits",
    ]);
    let c = no_retry_client_for(&server.endpoint()).await;
    let l = c.describe_limits().send().await.unwrap();
    assert_eq!(
        (
            l.shard_limit(),
            l.open_shard_count(),
            l.on_demand_stream_count()
        ),
        (5, 0, 0)
    );
    assert!(l.on_demand_stream_count_limit() > 0);

    let (code, msg) = err(c
        .create_stream()
        .stream_name("six")
        .shard_count(6)
        .send()
        .await);
    assert_eq!(code, "LimitExceededException");
    assert_eq!(
        msg,
        "This request would exceed the shard limit for the account 000000000000 in us-east-1. Current shard count for the account: 0. Limit: 5. Number of additional shards that would have resulted from this request: 6. Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits."
    );
    let (code, _) = err(c.describe_stream().stream_name("six").send().await);
    assert_eq!(
        code, "ResourceNotFoundException",
        "a rejected stream must not exist"
    );

    create_stream(&c, "two", 2).await;
    assert_eq!(
        c.describe_limits().send().await.unwrap().open_shard_count(),
        2
    );
    let (code, msg) = err(c
        .create_stream()
        .stream_name("four")
        .shard_count(4)
        .send()
        .await);
    assert_eq!(code, "LimitExceededException");
    assert!(
        msg.contains("Current shard count for the account: 2. Limit: 5. Number of additional shards that would have resulted from this request: 4."),
        "{msg}"
    );
    create_stream(&c, "three", 3).await; // exactly at the limit
    assert_eq!(
        c.describe_limits().send().await.unwrap().open_shard_count(),
        5
    );
    let (code, _) = err(c
        .create_stream()
        .stream_name("one")
        .shard_count(1)
        .send()
        .await);
    assert_eq!(code, "LimitExceededException");

    c.delete_stream().stream_name("two").send().await.unwrap();
    assert_eq!(
        c.describe_limits().send().await.unwrap().open_shard_count(),
        3
    );
    create_stream(&c, "one", 1).await;
    assert_eq!(
        c.describe_limits().send().await.unwrap().open_shard_count(),
        4
    );
}

#[tokio::test]
async fn update_max_record_size_raises_the_record_limit() {
    let server = TestServer::start();
    let c = server.client().await;
    let name = "big";
    create_stream(&c, name, 1).await;
    let put = |size: usize| {
        c.put_record()
            .stream_name(name)
            .partition_key("k")
            .data(Blob::new(vec![7u8; size]))
            .send()
    };
    // Data + partition key ("k", 1 byte) is what counts.
    put(MIB - 1).await.unwrap();
    let e = put(MIB)
        .await
        .expect_err("1 MiB of data plus a key exceeds the default 1 MiB limit");
    assert!(
        matches!(
            e.code(),
            Some("InvalidArgumentException") | Some("ValidationException")
        ),
        "unexpected error {e:?}"
    );
    let big = 3 * MIB / 2;
    let e = put(big)
        .await
        .expect_err("1.5 MiB is above the default limit");
    assert!(
        matches!(
            e.code(),
            Some("InvalidArgumentException") | Some("ValidationException")
        ),
        "{e:?}"
    );

    c.update_max_record_size()
        .stream_arn(arn(name))
        .max_record_size_in_kib(2048)
        .send()
        .await
        .unwrap();
    let s = c
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.stream_description_summary()
            .unwrap()
            .max_record_size_in_kib(),
        Some(2048)
    );

    let ok = put(big).await.unwrap();
    put(2 * MIB - 1).await.unwrap();
    let e = put(2 * MIB)
        .await
        .expect_err("2 MiB of data plus a key exceeds 2048 KiB");
    assert!(
        matches!(
            e.code(),
            Some("InvalidArgumentException") | Some("ValidationException")
        ),
        "{e:?}"
    );
    let e = put(2 * MIB + 4096).await.expect_err("above the new limit");
    assert!(
        matches!(
            e.code(),
            Some("InvalidArgumentException") | Some("ValidationException")
        ),
        "{e:?}"
    );

    // The large record reads back whole.
    let it = c
        .get_shard_iterator()
        .stream_name(name)
        .shard_id(ok.shard_id())
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .starting_sequence_number(ok.sequence_number())
        .send()
        .await
        .unwrap();
    let recs = c
        .get_records()
        .shard_iterator(it.shard_iterator().unwrap())
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(recs.records().len(), 1);
    assert_eq!(recs.records()[0].sequence_number(), ok.sequence_number());
    assert_eq!(recs.records()[0].data().as_ref(), vec![7u8; big].as_slice());

    // Back down to 1 MiB: the large size is rejected again.
    c.update_max_record_size()
        .stream_arn(arn(name))
        .max_record_size_in_kib(1024)
        .send()
        .await
        .unwrap();
    put(big).await.expect_err("limit lowered again");

    // The model's range is 1024..10240 KiB.
    for (v, constraint) in [
        (1023, "Member must have value greater than or equal to 1024"),
        (10241, "Member must have value less than or equal to 10240"),
    ] {
        let (code, msg) = err(c
            .update_max_record_size()
            .stream_arn(arn(name))
            .max_record_size_in_kib(v)
            .send()
            .await);
        assert_eq!(code, "ValidationException");
        assert_eq!(
            msg,
            format!("1 validation error detected: Value '{v}' at 'maxRecordSizeInKiB' failed to satisfy constraint: {constraint}")
        );
    }

    // CreateStream can set the limit directly.
    c.create_stream()
        .stream_name("big10")
        .shard_count(1)
        .max_record_size_in_kib(10240)
        .send()
        .await
        .unwrap();
    let s = c
        .describe_stream_summary()
        .stream_name("big10")
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.stream_description_summary()
            .unwrap()
            .max_record_size_in_kib(),
        Some(10240)
    );
    c.put_record()
        .stream_name("big10")
        .partition_key("k")
        .data(Blob::new(vec![1u8; 5 * MIB]))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn delete_stream_then_not_found() {
    let server = TestServer::start();
    let c = server.client().await;
    create_stream(&c, "doomed", 2).await;
    create_stream(&c, "kept", 1).await;
    c.delete_stream()
        .stream_name("doomed")
        .send()
        .await
        .unwrap();
    let (code, msg) = err(c.describe_stream().stream_name("doomed").send().await);
    assert_eq!(code, "ResourceNotFoundException");
    assert_eq!(msg, "Stream doomed under account 000000000000 not found.");
    let (code, msg) = err(c.delete_stream().stream_name("doomed").send().await);
    assert_eq!(
        (code.as_str(), msg),
        ("ResourceNotFoundException", not_found("doomed"))
    );
    let (code, msg) = err(c
        .put_record()
        .stream_name("doomed")
        .partition_key("k")
        .data(Blob::new(b"x".to_vec()))
        .send()
        .await);
    assert_eq!(
        (code.as_str(), msg),
        ("ResourceNotFoundException", not_found("doomed"))
    );
    let l = c.list_streams().send().await.unwrap();
    assert_eq!(l.stream_names(), ["kept"]);

    // The name can be reused, and the new stream starts empty.
    c.put_record()
        .stream_name("kept")
        .partition_key("k")
        .data(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap();
    create_stream(&c, "doomed", 1).await;
    let it = c
        .get_shard_iterator()
        .stream_name("doomed")
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap();
    let recs = c
        .get_records()
        .shard_iterator(it.shard_iterator().unwrap())
        .send()
        .await
        .unwrap();
    assert!(recs.records().is_empty());
    assert_eq!(describe_shards(&c, "doomed").await.len(), 1);
}

#[tokio::test]
async fn create_duplicate_stream_is_in_use() {
    let server = TestServer::start();
    let c = server.client().await;
    create_stream(&c, "dup", 1).await;
    let (code, msg) = err(c
        .create_stream()
        .stream_name("dup")
        .shard_count(2)
        .send()
        .await);
    assert_eq!(code, "ResourceInUseException");
    assert_eq!(msg, "Stream dup under account 000000000000 already exists.");
    assert_eq!(
        describe_shards(&c, "dup").await.len(),
        1,
        "the original stream is untouched"
    );
}

#[tokio::test]
async fn validation_errors() {
    let server = TestServer::start();
    let c = server.client().await;
    let (code, msg) = err(c
        .create_stream()
        .stream_name("bad name!")
        .shard_count(1)
        .send()
        .await);
    assert_eq!(code, "ValidationException");
    assert_eq!(
        msg,
        "1 validation error detected: Value 'bad name!' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
    );
    let (code, msg) = err(c
        .create_stream()
        .stream_name("zero")
        .shard_count(0)
        .send()
        .await);
    assert_eq!(code, "ValidationException");
    assert_eq!(
        msg,
        "1 validation error detected: Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1"
    );
    let long = "x".repeat(129);
    let (code, msg) = err(c
        .create_stream()
        .stream_name(&long)
        .shard_count(1)
        .send()
        .await);
    assert_eq!(code, "ValidationException");
    assert_eq!(
        msg,
        format!("1 validation error detected: Value '{long}' at 'streamName' failed to satisfy constraint: Member must have length less than or equal to 128")
    );
    let (code, msg) = err(c.describe_stream().stream_name("bad name!").send().await);
    assert_eq!(code, "ValidationException");
    assert!(
        msg.contains("at 'streamName' failed to satisfy constraint"),
        "{msg}"
    );
    assert!(
        c.list_streams()
            .send()
            .await
            .unwrap()
            .stream_names()
            .is_empty(),
        "nothing was created"
    );
    // A 128-character name is fine.
    create_stream(&c, &"y".repeat(128), 1).await;
}

#[tokio::test]
async fn stream_lifecycle_with_transition_delay() {
    let server = TestServer::start_with(&["--transition-delay-ms", "1500"]);
    let c = server.client().await;
    let name = "slow";
    create_stream(&c, name, 2).await;

    let d = c.describe_stream().stream_name(name).send().await.unwrap();
    let d = d.stream_description().unwrap();
    assert_eq!(d.stream_status(), &StreamStatus::Creating);
    assert!(d.shards().is_empty(), "CREATING streams show no shards");
    assert!(!d.has_more_shards());
    assert_eq!(d.retention_period_hours(), 24);
    let l = c.list_streams().send().await.unwrap();
    assert_eq!(
        l.stream_summaries()[0].stream_status(),
        &StreamStatus::Creating
    );

    let (code, msg) = err(c
        .put_record()
        .stream_name(name)
        .partition_key("k")
        .data(Blob::new(b"x".to_vec()))
        .send()
        .await);
    assert_eq!(
        (code.as_str(), msg),
        ("ResourceNotFoundException", not_found(name))
    );
    let entry = aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
        .partition_key("k")
        .data(Blob::new(b"x".to_vec()))
        .build()
        .unwrap();
    let (code, msg) = err(c
        .put_records()
        .stream_name(name)
        .records(entry)
        .send()
        .await);
    assert_eq!(
        (code.as_str(), msg),
        ("ResourceNotFoundException", not_found(name))
    );
    let (code, msg) = err(c
        .get_shard_iterator()
        .stream_name(name)
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await);
    assert_eq!(code, "ResourceNotFoundException");
    assert_eq!(
        msg,
        "Shard shardId-000000000000 in stream slow under account 000000000000 does not exist"
    );
    let (code, msg) = err(c
        .create_stream()
        .stream_name(name)
        .shard_count(2)
        .send()
        .await);
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "ResourceInUseException",
            "Stream slow under account 000000000000 already exists."
        )
    );

    let created = std::time::Instant::now();
    let fin = c
        .wait_until_stream_exists()
        .stream_name(name)
        .wait(Duration::from_secs(60))
        .await
        .unwrap();
    let out = fin.as_result().unwrap();
    let d = out.stream_description().unwrap();
    assert_eq!(d.stream_status(), &StreamStatus::Active);
    assert_eq!(ids(d.shards()), shard_ids(0..2));
    assert!(
        created.elapsed() >= Duration::from_millis(1000),
        "became ACTIVE before the delay"
    );
    c.put_record()
        .stream_name(name)
        .partition_key("k")
        .data(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap();

    c.delete_stream().stream_name(name).send().await.unwrap();
    let d = c.describe_stream().stream_name(name).send().await.unwrap();
    assert_eq!(
        d.stream_description().unwrap().stream_status(),
        &StreamStatus::Deleting
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match c.describe_stream().stream_name(name).send().await {
            Ok(out) => {
                assert_eq!(
                    out.stream_description().unwrap().stream_status(),
                    &StreamStatus::Deleting
                );
                assert!(
                    std::time::Instant::now() < deadline,
                    "stream never went away"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => {
                assert_eq!(e.code(), Some("ResourceNotFoundException"));
                break;
            }
        }
    }
    c.wait_until_stream_not_exists()
        .stream_name(name)
        .wait(Duration::from_secs(30))
        .await
        .unwrap();
    assert!(c
        .list_streams()
        .send()
        .await
        .unwrap()
        .stream_names()
        .is_empty());
}
