//! The engine API other services use (`riffle_streams::api`), exercised the
//! way Firehose and Analytics will: only `stream_id`, `append`, `shards`,
//! `read` and `append_signal` after the stream is created.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{base_config, create, stream};
use riffle_model::*;
use riffle_streams::api::{AppendRecord, Position, ShardInfo, StreamId};
use riffle_streams::{Engine, StreamsError};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

fn rec(key: &str, n: u32) -> AppendRecord {
    AppendRecord {
        partition_key: key.into(),
        explicit_hash_key: None,
        data: format!("{key}:{n}").into_bytes(),
    }
}

/// Appends `per_key` records for each of `keys`, interleaved, numbering each
/// key's records from `from`.
async fn append_round(e: &Engine, id: &StreamId, keys: &[String], from: u32, per_key: u32) {
    let mut batch = Vec::new();
    for n in from..from + per_key {
        for k in keys {
            batch.push(rec(k, n));
        }
    }
    let out = e.append(id, batch).await.unwrap();
    for r in &out {
        let a = r.as_ref().unwrap();
        assert!(a.shard_id.starts_with("shardId-"));
        assert_eq!(a.sequence_number.len(), 56);
    }
}

/// Reads one shard from its start to its end (closed) or its tip (open).
async fn drain(
    e: &Engine,
    id: &StreamId,
    shard: &str,
) -> (Vec<(String, u32)>, Option<Vec<ShardInfo>>) {
    let mut pos = Position::TrimHorizon;
    let mut got = Vec::new();
    loop {
        // Small pages, so following `next` across many reads is exercised.
        let batch = e.read(id, shard, &pos, 7, 1 << 20).await.unwrap();
        let empty = batch.records.is_empty();
        for r in batch.records {
            let text = String::from_utf8(r.data).unwrap();
            let (k, n) = text.split_once(':').unwrap();
            assert_eq!(k, r.partition_key);
            got.push((k.to_string(), n.parse().unwrap()));
        }
        match batch.next {
            None => return (got, Some(batch.child_shards)),
            Some(next) => {
                if empty {
                    return (got, None);
                }
                pos = next;
            }
        }
    }
}

#[tokio::test]
async fn follows_a_split_parents_first_and_reads_everything_once_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(base_config(dir.path())).unwrap();
    create(&e, "src", 1, None).await;
    let id = e.stream_id("src").unwrap();
    assert_eq!(
        e.stream_id("arn:aws:kinesis:us-east-1:000000000000:stream/src")
            .unwrap(),
        id
    );
    let keys: Vec<String> = (0..20).map(|i| format!("key-{i}")).collect();
    append_round(&e, &id, &keys, 0, 5).await;

    e.split_shard(SplitShardInput {
        stream: stream("src"),
        shard_to_split: "shardId-000000000000".into(),
        new_starting_hash_key: (1u128 << 127).to_string(),
    })
    .await
    .unwrap();
    append_round(&e, &id, &keys, 5, 5).await;

    let shards = e.shards(&id).unwrap();
    assert_eq!(shards.len(), 3);
    assert!(!shards[0].open);
    let children: Vec<&ShardInfo> = shards.iter().filter(|s| s.open).collect();
    assert_eq!(children.len(), 2);
    for c in &children {
        assert_eq!(
            c.parents().collect::<Vec<_>>(),
            vec!["shardId-000000000000"]
        );
    }
    assert_eq!(
        children[0].ending_hash_key + 1,
        children[1].starting_hash_key
    );

    // Parents first: a shard starts only when all its listed parents are done.
    let listed: BTreeSet<String> = shards.iter().map(|s| s.shard_id.clone()).collect();
    let mut done = BTreeSet::new();
    let mut per_key: HashMap<String, Vec<u32>> = HashMap::new();
    let mut followed_children = BTreeSet::new();
    for s in &shards {
        assert!(s.parents().all(|p| done.contains(p) || !listed.contains(p)));
        let (records, children) = drain(&e, &id, &s.shard_id).await;
        if let Some(children) = children {
            followed_children.extend(children.into_iter().map(|c| c.shard_id));
        }
        for (k, n) in records {
            per_key.entry(k).or_default().push(n);
        }
        done.insert(s.shard_id.clone());
    }
    // Appends count in the stream's PutRecords metrics like any PutRecords.
    let snap = e.metrics_snapshot();
    let src = snap.streams.iter().find(|s| s.name == "src").unwrap();
    assert_eq!(src.metrics.put_records_successful_records.get(), 200);
    let open_ids: BTreeSet<String> = children.iter().map(|c| c.shard_id.clone()).collect();
    assert_eq!(followed_children, open_ids);
    assert_eq!(per_key.len(), keys.len());
    for k in &keys {
        assert_eq!(per_key[k], (0..10).collect::<Vec<_>>(), "{k}");
    }
}

#[tokio::test]
async fn a_reader_is_woken_by_an_append_and_resumes_after_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let e = std::sync::Arc::new(Engine::open(base_config(dir.path())).unwrap());
    create(&e, "w", 1, None).await;
    let id = e.stream_id("w").unwrap();
    let shard = e.shards(&id).unwrap()[0].shard_id.clone();

    let mut signal = e.append_signal(&id, &shard).unwrap();
    let first = e
        .read(&id, &shard, &Position::Latest, 100, 1 << 20)
        .await
        .unwrap();
    assert!(first.records.is_empty());
    let next = first.next.clone().unwrap();

    let writer = {
        let (e, id) = (e.clone(), id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            e.append(&id, vec![rec("a", 1), rec("a", 2)]).await.unwrap()
        })
    };
    let woke = tokio::time::timeout(Duration::from_secs(10), signal.changed())
        .await
        .expect("no wake-up after an append");
    assert!(woke);
    writer.await.unwrap();
    let batch = e.read(&id, &shard, &next, 100, 1 << 20).await.unwrap();
    let data: Vec<Vec<u8>> = batch.records.iter().map(|r| r.data.clone()).collect();
    assert_eq!(data, vec![b"a:1".to_vec(), b"a:2".to_vec()]);

    // Resuming after the first record's sequence number yields only the second.
    let after = Position::AfterSequenceNumber(batch.records[0].sequence_number.clone());
    let rest = e.read(&id, &shard, &after, 100, 1 << 20).await.unwrap();
    assert_eq!(rest.records.len(), 1);
    assert_eq!(rest.records[0].data, b"a:2".to_vec());

    // AT_TIMESTAMP at the first record's arrival finds both.
    let at = Position::AtTimestamp(batch.records[0].arrival_ms);
    let from_ts = e.read(&id, &shard, &at, 100, 1 << 20).await.unwrap();
    assert_eq!(from_ts.records.len(), 2);
}

#[tokio::test]
async fn identities_are_checked_by_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(base_config(dir.path())).unwrap();
    assert!(matches!(
        e.stream_id("nope"),
        Err(StreamsError::ResourceNotFound(_))
    ));
    assert!(matches!(
        e.stream_id("arn:aws:kinesis:eu-west-1:000000000000:stream/x"),
        Err(StreamsError::ResourceNotFound(_))
    ));
    create(&e, "again", 1, None).await;
    let old = e.stream_id("again").unwrap();
    assert!(matches!(
        e.read(
            &old,
            "shardId-000000000009",
            &Position::TrimHorizon,
            10,
            1000
        )
        .await,
        Err(StreamsError::ResourceNotFound(_))
    ));
    e.delete_stream(DeleteStreamInput {
        stream: stream("again"),
        enforce_consumer_deletion: false,
    })
    .await
    .unwrap();
    create(&e, "again", 1, None).await;
    // The same name is another stream now: the old identity no longer works.
    assert!(matches!(
        e.append(&old, vec![rec("k", 0)]).await,
        Err(StreamsError::ResourceNotFound(_))
    ));
    assert!(matches!(
        e.shards(&old),
        Err(StreamsError::ResourceNotFound(_))
    ));
    let new = e.stream_id("again").unwrap();
    assert_ne!(new, old);
    // An oversized record fails the whole append, as in PutRecords.
    let big = AppendRecord {
        partition_key: "k".into(),
        explicit_hash_key: None,
        data: vec![0; 1024 * 1024 + 1],
    };
    assert!(matches!(
        e.append(&new, vec![big]).await,
        Err(StreamsError::InvalidArgument(_))
    ));
    let bad_hash = AppendRecord {
        explicit_hash_key: Some("-1".into()),
        ..rec("k", 0)
    };
    assert!(matches!(
        e.append(&new, vec![bad_hash]).await,
        Err(StreamsError::InvalidArgument(_))
    ));
}
