//! Resharding through the Rust SDK against the real binary: SplitShard,
//! MergeShards and UpdateShardCount with AWS's lineage, shard-end signalling
//! (no NextShardIterator, non-empty ChildShards), ListShards filters, the
//! errors, an exactly-once / per-key-order consumer across several reshards,
//! and a SIGKILL in the middle of a reshard.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::client::Waiters;
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{Shard, ShardFilter, ShardFilterType, ShardIteratorType};
use aws_sdk_kinesis::Client;
use common::kinesis::{create_stream, list_all_shards, put_record, sid, trim_horizon};
use common::TestServer;
use std::collections::{BTreeMap, HashMap, HashSet};

const MAX: u128 = u128::MAX;

/// The `(code, message)` of a call that must fail; unlike
/// [`common::kinesis::err`], a missing code reads as "" rather than panicking.
fn err<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, E>,
) -> (String, String) {
    let e = r.expect_err("the call should have failed");
    (
        e.code().unwrap_or_default().to_string(),
        e.message().unwrap_or_default().to_string(),
    )
}

fn range(s: &Shard) -> (u128, u128) {
    let r = s.hash_key_range().unwrap();
    (
        r.starting_hash_key().parse().unwrap(),
        r.ending_hash_key().parse().unwrap(),
    )
}

fn open(shards: &[Shard]) -> Vec<&Shard> {
    shards
        .iter()
        .filter(|s| {
            s.sequence_number_range()
                .unwrap()
                .ending_sequence_number()
                .is_none()
        })
        .collect()
}

/// Open shards tile the hash space exactly once.
fn assert_partition(shards: &[Shard]) {
    let mut r: Vec<(u128, u128)> = open(shards).into_iter().map(range).collect();
    r.sort_unstable();
    assert_eq!(r.first().unwrap().0, 0);
    assert_eq!(r.last().unwrap().1, MAX);
    for w in r.windows(2) {
        assert_eq!(
            w[0].1 + 1,
            w[1].0,
            "open shards must tile the hash space: {r:?}"
        );
    }
}

async fn put(c: &Client, stream: &str, pk: &str, data: &str) -> (String, String) {
    put_record(c, stream, pk, data.as_bytes()).await
}

/// Reads a shard from TRIM_HORIZON. For a closed shard: until the end
/// (asserting the shard-end contract); for an open one: until caught up.
async fn read_shard(
    c: &Client,
    stream: &str,
    shard: &str,
) -> (Vec<(String, String, String)>, Option<Vec<String>>) {
    let mut it = trim_horizon(c, stream, shard).await;
    let mut recs = Vec::new();
    for _ in 0..10_000 {
        let out = c.get_records().shard_iterator(&it).send().await.unwrap();
        for r in out.records() {
            recs.push((
                r.partition_key().unwrap_or_default().to_string(),
                String::from_utf8(r.data().as_ref().to_vec()).unwrap(),
                r.sequence_number().to_string(),
            ));
        }
        match out.next_shard_iterator() {
            Some(next) => {
                assert!(
                    out.child_shards().is_empty(),
                    "ChildShards must be empty while NextShardIterator is set"
                );
                if out.records().is_empty() && out.millis_behind_latest() == Some(0) {
                    return (recs, None);
                }
                it = next.to_string();
            }
            None => {
                let children = out.child_shards();
                assert!(!children.is_empty(), "shard end must carry ChildShards");
                for ch in children {
                    assert!(
                        !ch.parent_shards().is_empty(),
                        "every ChildShard names its parents"
                    );
                    assert!(ch.parent_shards().contains(&shard.to_string()));
                }
                return (
                    recs,
                    Some(children.iter().map(|c| c.shard_id().to_string()).collect()),
                );
            }
        }
    }
    panic!("shard {shard} never ended or caught up");
}

#[tokio::test]
async fn split_shard_closes_the_parent_and_links_children() {
    let server = TestServer::start();
    let c = server.client().await;
    create_stream(&c, "split", 1).await;
    let (s0, before) = put(&c, "split", "a", "before").await;
    assert_eq!(s0, sid(0));
    let mid = 1u128 << 127;
    c.split_shard()
        .stream_name("split")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key(mid.to_string())
        .send()
        .await
        .unwrap();
    let all = list_all_shards(&c, "split").await;
    assert_eq!(all.len(), 3);
    let parent = &all[0];
    let end = parent
        .sequence_number_range()
        .unwrap()
        .ending_sequence_number()
        .expect("parent closed");
    assert_eq!(end.len(), 56);
    assert_eq!(
        (all[1].shard_id(), all[2].shard_id()),
        (sid(1).as_str(), sid(2).as_str())
    );
    assert_eq!(range(&all[1]), (0, mid - 1));
    assert_eq!(range(&all[2]), (mid, MAX));
    for ch in &all[1..] {
        assert_eq!(ch.parent_shard_id(), Some(sid(0).as_str()));
        assert_eq!(ch.adjacent_parent_shard_id(), None);
    }
    assert_partition(&all);
    // New writes go to the children; the parent keeps its records and ends with ChildShards.
    let (s, after) = put(&c, "split", "a", "after").await;
    assert_ne!(s, sid(0));
    let (recs, children) = read_shard(&c, "split", &sid(0)).await;
    assert_eq!(recs, vec![("a".into(), "before".into(), before)]);
    assert_eq!(children.unwrap(), vec![sid(1), sid(2)]);
    let (recs, children) = read_shard(&c, "split", &s).await;
    assert_eq!(recs, vec![("a".into(), "after".into(), after)]);
    assert!(children.is_none());
    // DescribeStream agrees and the summary counts open shards.
    let d = c
        .describe_stream_summary()
        .stream_name("split")
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.stream_description_summary().unwrap().open_shard_count(),
        2
    );
    // LATEST on the closed parent gives an iterator straight at its end.
    let it = c
        .get_shard_iterator()
        .stream_name("split")
        .shard_id(sid(0))
        .shard_iterator_type(ShardIteratorType::Latest)
        .send()
        .await
        .unwrap();
    let out = c
        .get_records()
        .shard_iterator(it.shard_iterator().unwrap())
        .send()
        .await
        .unwrap();
    assert!(out.next_shard_iterator().is_none());
    assert_eq!(out.child_shards().len(), 2);
}

#[tokio::test]
async fn merge_shards_links_both_parents() {
    let server = TestServer::start();
    let c = server.client().await;
    create_stream(&c, "merge", 3).await;
    let (code, msg) = err(c
        .merge_shards()
        .stream_name("merge")
        .shard_to_merge(sid(0))
        .adjacent_shard_to_merge(sid(2))
        .send()
        .await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        "Shards shardId-000000000000 and shardId-000000000002 in stream merge under account 000000000000 are not an adjacent pair of shards eligible for merging"
    );
    c.merge_shards()
        .stream_name("merge")
        .shard_to_merge(sid(1))
        .adjacent_shard_to_merge(sid(2))
        .send()
        .await
        .unwrap();
    let all = list_all_shards(&c, "merge").await;
    assert_eq!(all.len(), 4);
    let child = &all[3];
    assert_eq!(child.shard_id(), sid(3));
    assert_eq!(child.parent_shard_id(), Some(sid(1).as_str()));
    assert_eq!(child.adjacent_parent_shard_id(), Some(sid(2).as_str()));
    assert_eq!(range(child), (range(&all[1]).0, MAX));
    assert_partition(&all);
    for parent in [sid(1), sid(2)] {
        let (_, children) = read_shard(&c, "merge", &parent).await;
        assert_eq!(children.unwrap(), vec![sid(3)]);
    }
    // A closed shard cannot be merged again.
    let (code, _) = err(c
        .merge_shards()
        .stream_name("merge")
        .shard_to_merge(sid(0))
        .adjacent_shard_to_merge(sid(1))
        .send()
        .await);
    assert_eq!(code, "InvalidArgumentException");
}

#[tokio::test]
async fn update_shard_count_scales_uniformly_with_lineage() {
    let server = TestServer::start();
    let c = server.client().await;
    create_stream(&c, "usc", 2).await;
    let out = c
        .update_shard_count()
        .stream_name("usc")
        .target_shard_count(4)
        .scaling_type(aws_sdk_kinesis::types::ScalingType::UniformScaling)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (out.current_shard_count(), out.target_shard_count()),
        (Some(2), Some(4))
    );
    assert_eq!(
        out.stream_arn(),
        Some("arn:aws:kinesis:us-east-1:000000000000:stream/usc")
    );
    let all = list_all_shards(&c, "usc").await;
    assert_eq!(open(&all).len(), 4);
    assert_partition(&all);
    let quarter = 1u128 << 126;
    let mut r: Vec<_> = open(&all).into_iter().map(range).collect();
    r.sort_unstable();
    assert_eq!(
        r,
        vec![
            (0, quarter - 1),
            (quarter, 2 * quarter - 1),
            (2 * quarter, 3 * quarter - 1),
            (3 * quarter, MAX)
        ]
    );
    for s in open(&all) {
        assert!(
            s.parent_shard_id().is_some(),
            "every new shard names its parent"
        );
    }
    // 4 -> 2: pairs merge, each child with both parents.
    c.update_shard_count()
        .stream_name("usc")
        .target_shard_count(2)
        .scaling_type(aws_sdk_kinesis::types::ScalingType::UniformScaling)
        .send()
        .await
        .unwrap();
    let all = list_all_shards(&c, "usc").await;
    assert_eq!(open(&all).len(), 2);
    assert_partition(&all);
    for s in open(&all) {
        assert!(s.parent_shard_id().is_some() && s.adjacent_parent_shard_id().is_some());
    }
    // More than double or less than half is refused.
    let (code, _) = err(c
        .update_shard_count()
        .stream_name("usc")
        .target_shard_count(5)
        .scaling_type(aws_sdk_kinesis::types::ScalingType::UniformScaling)
        .send()
        .await);
    assert_eq!(code, "LimitExceededException");
    // ListShards filters: AT_LATEST is the open shards only; AT_TRIM_HORIZON the original two.
    let latest = c
        .list_shards()
        .stream_name("usc")
        .shard_filter(
            ShardFilter::builder()
                .r#type(ShardFilterType::AtLatest)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(latest.shards().len(), 2);
    let th = c
        .list_shards()
        .stream_name("usc")
        .shard_filter(
            ShardFilter::builder()
                .r#type(ShardFilterType::AtTrimHorizon)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = th
        .shards()
        .iter()
        .map(|s| s.shard_id().to_string())
        .collect();
    assert_eq!(ids, vec![sid(0), sid(1)]);
}

#[tokio::test]
async fn resharding_errors_match_aws() {
    let server = TestServer::start();
    let c = server.client().await;
    create_stream(&c, "errs", 1).await;
    let split = |stream: &str, shard: String, key: &str| {
        c.split_shard()
            .stream_name(stream)
            .shard_to_split(shard)
            .new_starting_hash_key(key)
            .send()
    };
    let (code, msg) = err(split("errs", sid(0), "1").await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        "NewStartingHashKey 1 used in SplitShard() on shard shardId-000000000000 in stream errs under account 000000000000 is not both greater than one plus the shard's StartingHashKey 0 and less than the shard's EndingHashKey 340282366920938463463374607431768211455."
    );
    let (code, msg) = err(split("errs", sid(5), "100").await);
    assert_eq!(code, "ResourceNotFoundException");
    assert_eq!(
        msg,
        "Could not find shard shardId-000000000005 in stream errs under account 000000000000."
    );
    let (code, _) = err(split("nope", sid(0), "100").await);
    assert_eq!(code, "ResourceNotFoundException");
    // On-demand streams don't take resharding calls.
    c.create_stream()
        .stream_name("od")
        .stream_mode_details(
            aws_sdk_kinesis::types::StreamModeDetails::builder()
                .stream_mode(aws_sdk_kinesis::types::StreamMode::OnDemand)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (code, _) = err(split("od", sid(0), "100").await);
    assert_eq!(code, "InvalidArgumentException");
}

#[tokio::test]
async fn reshard_with_delay_passes_through_updating() {
    let server =
        TestServer::start_with(&["--transition-delay-ms", "1500", "--no-throughput-limits"]);
    let c = server.client().await;
    create_stream(&c, "slow", 1).await;
    c.wait_until_stream_exists()
        .stream_name("slow")
        .wait(std::time::Duration::from_secs(30))
        .await
        .unwrap();
    c.split_shard()
        .stream_name("slow")
        .shard_to_split(sid(0))
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .unwrap();
    let d = c
        .describe_stream()
        .stream_name("slow")
        .send()
        .await
        .unwrap();
    let desc = d.stream_description().unwrap();
    assert_eq!(desc.stream_status().as_str(), "UPDATING");
    assert_eq!(
        desc.shards().len(),
        1,
        "the split happens when UPDATING ends"
    );
    // Writes keep working while UPDATING; another reshard is refused.
    put(&c, "slow", "k", "during").await;
    let (code, msg) = err(c
        .split_shard()
        .stream_name("slow")
        .shard_to_split(sid(0))
        .new_starting_hash_key("100")
        .send()
        .await);
    assert_eq!(code, "ResourceInUseException");
    assert_eq!(
        msg,
        "Stream slow under account 000000000000 not ACTIVE, instead in state UPDATING"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    let all = list_all_shards(&c, "slow").await;
    assert_eq!(all.len(), 3);
    let (recs, children) = read_shard(&c, "slow", &sid(0)).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(children.unwrap().len(), 2);
}

/// Reads every shard, parents before children (what the KCL does), and
/// returns the records in consumption order.
async fn consume_all(c: &Client, stream: &str) -> Vec<(String, String, String)> {
    let all = list_all_shards(c, stream).await;
    let parents: HashMap<String, Vec<String>> = all
        .iter()
        .map(|s| {
            let p: Vec<String> = s
                .parent_shard_id()
                .iter()
                .chain(s.adjacent_parent_shard_id().iter())
                .map(|x| x.to_string())
                .collect();
            (s.shard_id().to_string(), p)
        })
        .collect();
    let mut done: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    while done.len() < all.len() {
        let ready: Vec<String> = all
            .iter()
            .map(|s| s.shard_id().to_string())
            .filter(|id| {
                !done.contains(id)
                    && parents[id]
                        .iter()
                        .all(|p| done.contains(p) || !parents.contains_key(p))
            })
            .collect();
        assert!(!ready.is_empty(), "lineage has a cycle");
        for id in ready {
            let (recs, _) = read_shard(c, stream, &id).await;
            out.extend(recs);
            done.insert(id);
        }
    }
    out
}

#[tokio::test]
async fn consumer_reading_parents_first_sees_every_record_once_in_key_order() {
    let server = TestServer::start();
    let c = server.client().await;
    create_stream(&c, "order", 2).await;
    let writer = {
        let c = c.clone();
        tokio::spawn(async move {
            let mut acked: Vec<(String, String, String)> = Vec::new();
            for i in 0..600 {
                let pk = format!("key-{}", i % 17);
                let data = format!("{pk}:{i}");
                let (_, seq) = put(&c, "order", &pk, &data).await;
                acked.push((pk, data, seq));
            }
            acked
        })
    };
    // Reshard several times while the writer runs.
    let scaling = aws_sdk_kinesis::types::ScalingType::UniformScaling;
    for target in [4, 3, 5, 3] {
        tokio::time::sleep(std::time::Duration::from_millis(80)).await;
        c.update_shard_count()
            .stream_name("order")
            .target_shard_count(target)
            .scaling_type(scaling.clone())
            .send()
            .await
            .unwrap();
    }
    let all = list_all_shards(&c, "order").await;
    let mut open_now: Vec<_> = open(&all).into_iter().map(range).collect();
    open_now.sort_unstable();
    let victim = open(&all)[0].shard_id().to_string();
    let (lo, hi) = range(open(&all)[0]);
    c.split_shard()
        .stream_name("order")
        .shard_to_split(&victim)
        .new_starting_hash_key((lo + (hi - lo) / 2).to_string())
        .send()
        .await
        .unwrap();
    let acked = writer.await.unwrap();
    assert_partition(&list_all_shards(&c, "order").await);

    let consumed = consume_all(&c, "order").await;
    // Exactly once.
    let mut seen: HashSet<&str> = HashSet::new();
    for (_, _, seq) in &consumed {
        assert!(seen.insert(seq.as_str()), "record {seq} consumed twice");
    }
    assert_eq!(
        consumed.len(),
        acked.len(),
        "every acknowledged record is consumed, nothing else"
    );
    let consumed_set: HashSet<(&str, &str, &str)> = consumed
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    for (pk, data, seq) in &acked {
        assert!(
            consumed_set.contains(&(pk.as_str(), data.as_str(), seq.as_str())),
            "acknowledged record {data} missing"
        );
    }
    // Per-key order equals write order.
    let mut by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (pk, data, _) in &consumed {
        by_key.entry(pk.as_str()).or_default().push(data.as_str());
    }
    let mut expected: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (pk, data, _) in &acked {
        expected.entry(pk.as_str()).or_default().push(data.as_str());
    }
    assert_eq!(by_key, expected, "per-key order must survive resharding");
}

#[tokio::test]
async fn sigkill_during_a_reshard_leaves_a_consistent_stream() {
    // A pending reshard (UPDATING) survives the kill and is applied after restart.
    let mut server =
        TestServer::start_with(&["--transition-delay-ms", "1000", "--no-throughput-limits"]);
    let c = server.client().await;
    create_stream(&c, "crash", 2).await;
    c.wait_until_stream_exists()
        .stream_name("crash")
        .wait(std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let mut acked = Vec::new();
    for i in 0..50 {
        acked.push(put(&c, "crash", &format!("k{i}"), &format!("v{i}")).await);
    }
    c.update_shard_count()
        .stream_name("crash")
        .target_shard_count(4)
        .scaling_type(aws_sdk_kinesis::types::ScalingType::UniformScaling)
        .send()
        .await
        .unwrap();
    server.restart();
    let c = server.client().await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let d = c
        .describe_stream_summary()
        .stream_name("crash")
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.stream_description_summary()
            .unwrap()
            .stream_status()
            .as_str(),
        "ACTIVE"
    );
    let all = list_all_shards(&c, "crash").await;
    assert_eq!(open(&all).len(), 4);
    assert_partition(&all);
    let consumed = consume_all(&c, "crash").await;
    let seqs: HashSet<String> = consumed.iter().map(|r| r.2.clone()).collect();
    for (_, seq) in &acked {
        assert!(seqs.contains(seq));
    }
    assert_eq!(consumed.len(), acked.len());

    // Immediate reshards racing writers, killed at an arbitrary point: after
    // restart the partition is exact and every acknowledged record is there once.
    let mut server = TestServer::start();
    let c = server.client().await;
    create_stream(&c, "race", 2).await;
    let writer = {
        let c = c.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0.. {
                match c
                    .put_record()
                    .stream_name("race")
                    .partition_key(format!("k{}", i % 13))
                    .data(Blob::new(format!("v{i}").into_bytes()))
                    .send()
                    .await
                {
                    Ok(o) => acked.push(o.sequence_number().to_string()),
                    Err(_) => return acked,
                }
            }
            acked
        })
    };
    let scaling = aws_sdk_kinesis::types::ScalingType::UniformScaling;
    for target in [4, 2, 3, 6] {
        c.update_shard_count()
            .stream_name("race")
            .target_shard_count(target)
            .scaling_type(scaling.clone())
            .send()
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    }
    server.kill9();
    let acked = writer.await.unwrap();
    assert!(acked.len() > 10, "the writer made progress before the kill");
    server.restart();
    let c = server.client().await;
    let all = list_all_shards(&c, "race").await;
    assert_partition(&all);
    let consumed = consume_all(&c, "race").await;
    let mut seen = HashSet::new();
    for (_, _, seq) in &consumed {
        assert!(seen.insert(seq.clone()), "duplicate after crash");
    }
    for seq in &acked {
        assert!(seen.contains(seq), "acknowledged record {seq} lost");
    }
}
