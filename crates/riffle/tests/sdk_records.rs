//! Data-plane end-to-end tests through the real Rust AWS SDK against the real
//! `riffle` binary: routing, sequence numbers, iterators, reads, errors and
//! durability across a restart.
//!
//! ExpiredIteratorException needs a five-minute wait and is covered by a
//! domain-level test with a manual clock instead.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::{Blob, DateTime};
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, Record, Shard, ShardIteratorType};
use aws_sdk_kinesis::Client;
use common::kinesis::{
    arn, bits, check_seq_layout, create_stream, describe_shards, err, now_ms, put_record, seq_cmp,
    sid,
};
use common::TestServer;
use md5::{Digest, Md5};
use std::collections::BTreeMap;
use std::time::Duration;

const MIB: usize = 1024 * 1024;

fn md5_hash(pk: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(pk.as_bytes()).into())
}

/// Checks a sequence number is AWS's 56-digit "version 2" layout, the one the
/// KCL's SequenceNumberValidator decodes, and returns (shard index, record secs).
fn check_seq(seq: &str) -> (u32, u64) {
    let l = check_seq_layout(seq);
    (bits(&l, 4, 32) as u32, bits(&l, 36, 36))
}

async fn create(c: &Client, name: &str, shards: i32) -> Vec<Shard> {
    create_stream(c, name, shards).await;
    describe_shards(c, name).await
}

/// The shard whose hash range holds `hash`.
fn owner(shards: &[Shard], hash: u128) -> String {
    let owners: Vec<&str> = shards
        .iter()
        .filter(|s| {
            let r = s.hash_key_range().unwrap();
            let lo: u128 = r.starting_hash_key().parse().unwrap();
            let hi: u128 = r.ending_hash_key().parse().unwrap();
            lo <= hash && hash <= hi
        })
        .map(|s| s.shard_id())
        .collect();
    assert_eq!(owners.len(), 1, "hash {hash} owned by {owners:?}");
    owners[0].to_string()
}

async fn iterator(
    c: &Client,
    stream: &str,
    shard: &str,
    ty: ShardIteratorType,
    seq: Option<&str>,
    ts: Option<DateTime>,
) -> String {
    let out = c
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(ty)
        .set_starting_sequence_number(seq.map(str::to_string))
        .set_timestamp(ts)
        .send()
        .await
        .unwrap();
    out.shard_iterator().expect("a ShardIterator").to_string()
}

/// Follows NextShardIterator until caught up; returns every record read.
async fn drain(c: &Client, mut it: String) -> Vec<Record> {
    let mut all = Vec::new();
    for _ in 0..1000 {
        let out = c.get_records().shard_iterator(&it).send().await.unwrap();
        let n = out.records().len();
        all.extend(out.records().to_vec());
        it = out
            .next_shard_iterator()
            .expect("open shards always give a NextShardIterator")
            .to_string();
        if n == 0 && out.millis_behind_latest() == Some(0) {
            return all;
        }
    }
    panic!("never caught up");
}

async fn read_all(c: &Client, stream: &str, shard: &str) -> Vec<Record> {
    let it = iterator(c, stream, shard, ShardIteratorType::TrimHorizon, None, None).await;
    drain(c, it).await
}

fn datas(recs: &[Record]) -> Vec<Vec<u8>> {
    recs.iter().map(|r| r.data().as_ref().to_vec()).collect()
}

fn seqs(recs: &[Record]) -> Vec<String> {
    recs.iter()
        .map(|r| r.sequence_number().to_string())
        .collect()
}

#[tokio::test]
async fn put_record_routes_by_md5_of_the_partition_key() {
    let server = TestServer::start();
    let c = server.client().await;
    let shards = create(&c, "route", 3).await;
    let mut seen = BTreeMap::new();
    for i in 0..60 {
        let pk = format!("key-{i}");
        let (shard, seq) = put_record(&c, "route", &pk, pk.as_bytes()).await;
        assert_eq!(shard, owner(&shards, md5_hash(&pk)), "partition key {pk}");
        let (enc_shard, rec_secs) = check_seq(&seq);
        assert_eq!(
            sid(enc_shard),
            shard,
            "sequence number {seq} must encode its shard"
        );
        assert!(
            (rec_secs as i64 - now_ms() / 1000).abs() <= 5,
            "record time in {seq}"
        );
        *seen.entry(shard).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 3, "60 keys should reach all 3 shards: {seen:?}");
    // Unicode partition keys hash their UTF-8 bytes.
    for pk in ["ключ", "😀 emoji", "日本語のキー"] {
        let (shard, _) = put_record(&c, "route", pk, b"u").await;
        assert_eq!(shard, owner(&shards, md5_hash(pk)), "partition key {pk}");
    }
}

#[tokio::test]
async fn explicit_hash_key_routes_and_is_range_checked() {
    let server = TestServer::start();
    let c = server.client().await;
    let shards = create(&c, "ehk", 3).await;
    let cases = [
        ("0", 0),
        ("113427455640312821154458202477256070484", 0),
        ("113427455640312821154458202477256070485", 1),
        ("226854911280625642308916404954512140969", 1),
        ("226854911280625642308916404954512140970", 2),
        ("340282366920938463463374607431768211455", 2),
    ];
    for (ehk, want) in cases {
        // A partition key that by itself would hash elsewhere.
        let pk = (0..)
            .map(|i| format!("pk{i}"))
            .find(|pk| owner(&shards, md5_hash(pk)) != sid(want))
            .unwrap();
        let out = c
            .put_record()
            .stream_name("ehk")
            .partition_key(&pk)
            .explicit_hash_key(ehk)
            .data(Blob::new(b"e".to_vec()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.shard_id(), sid(want), "ExplicitHashKey {ehk}");
        let entry = PutRecordsRequestEntry::builder()
            .partition_key(&pk)
            .explicit_hash_key(ehk)
            .data(Blob::new(b"e".to_vec()))
            .build()
            .unwrap();
        let outs = c
            .put_records()
            .stream_name("ehk")
            .records(entry)
            .send()
            .await
            .unwrap();
        assert_eq!(
            outs.records()[0].shard_id(),
            Some(sid(want).as_str()),
            "PutRecords ExplicitHashKey {ehk}"
        );
    }

    let too_big = "340282366920938463463374607431768211456";
    let (code, msg) = err(c
        .put_record()
        .stream_name("ehk")
        .partition_key("k")
        .explicit_hash_key(too_big)
        .data(Blob::new(b"x".to_vec()))
        .send()
        .await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        format!("Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {too_big}")
    );
    // PutRecords rejects the whole request.
    let good = PutRecordsRequestEntry::builder()
        .partition_key("k")
        .data(Blob::new(b"ok".to_vec()))
        .build()
        .unwrap();
    let bad = PutRecordsRequestEntry::builder()
        .partition_key("k")
        .explicit_hash_key(too_big)
        .data(Blob::new(b"x".to_vec()))
        .build()
        .unwrap();
    let (code, msg) = err(c
        .put_records()
        .stream_name("ehk")
        .records(good)
        .records(bad)
        .send()
        .await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        format!("Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {too_big}")
    );
    let total: usize = {
        let mut n = 0;
        for s in &shards {
            n += read_all(&c, "ehk", s.shard_id()).await.len();
        }
        n
    };
    assert_eq!(total, 12, "the rejected calls wrote nothing");
}

#[tokio::test]
async fn sequence_numbers_strictly_increase_per_shard() {
    let server = TestServer::start();
    let c = server.client().await;
    create(&c, "seq", 2).await;
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    let mut all = std::collections::HashSet::new();
    for i in 0..80 {
        let pk = format!("p{}", i % 7);
        let (shard, seq) = put_record(&c, "seq", &pk, &[i as u8]).await;
        check_seq(&seq);
        if let Some(prev) = last.get(&shard) {
            assert_eq!(
                seq_cmp(prev, &seq),
                std::cmp::Ordering::Less,
                "{seq} after {prev} on {shard}"
            );
        }
        assert!(all.insert(seq.clone()), "duplicate sequence number {seq}");
        last.insert(shard, seq);
    }
    // Reads return them in that order.
    for shard in last.keys() {
        let recs = read_all(&c, "seq", shard).await;
        let s = seqs(&recs);
        assert!(
            s.windows(2).all(|w| seq_cmp(&w[0], &w[1]).is_lt()),
            "read order on {shard}"
        );
        assert_eq!(s.last(), last.get(shard));
    }
}

#[tokio::test]
async fn put_records_500_in_order() {
    let server = TestServer::start();
    let c = server.client().await;
    let shards = create(&c, "batch", 4).await;
    let entries: Vec<PutRecordsRequestEntry> = (0..500)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .partition_key(format!("pk-{}", i % 37))
                .data(Blob::new(format!("record-{i}").into_bytes()))
                .build()
                .unwrap()
        })
        .collect();
    let out = c
        .put_records()
        .stream_name("batch")
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count(), Some(0));
    assert_eq!(out.records().len(), 500);
    let mut by_seq = BTreeMap::new();
    let mut last_per_shard: BTreeMap<String, String> = BTreeMap::new();
    for (i, r) in out.records().iter().enumerate() {
        assert_eq!(r.error_code(), None, "record {i}");
        let shard = r.shard_id().expect("ShardId on success");
        let seq = r.sequence_number().expect("SequenceNumber on success");
        // The i-th result belongs to the i-th request entry.
        assert_eq!(
            shard,
            owner(&shards, md5_hash(&format!("pk-{}", i % 37))),
            "result {i} out of order"
        );
        let (enc, _) = check_seq(seq);
        assert_eq!(sid(enc), shard);
        if let Some(prev) = last_per_shard.get(shard) {
            assert!(
                seq_cmp(prev, seq).is_lt(),
                "request order within {shard} not kept at {i}"
            );
        }
        last_per_shard.insert(shard.to_string(), seq.to_string());
        by_seq.insert(seq.to_string(), (shard.to_string(), i));
    }
    assert_eq!(by_seq.len(), 500, "sequence numbers must be unique");
    let mut read = 0;
    for s in &shards {
        for r in read_all(&c, "batch", s.shard_id()).await {
            let (shard, i) = by_seq.get(r.sequence_number()).expect("a record we wrote");
            assert_eq!(shard, s.shard_id());
            assert_eq!(r.data().as_ref(), format!("record-{i}").as_bytes());
            assert_eq!(r.partition_key(), Some(format!("pk-{}", i % 37).as_str()));
            read += 1;
        }
    }
    assert_eq!(read, 500);
}

#[tokio::test]
async fn shard_iterator_types_start_at_the_right_record() {
    let server = TestServer::start();
    let c = server.client().await;
    let name = "iters";
    create(&c, name, 1).await;
    let shard = sid(0);
    let t0 = DateTime::from_millis(now_ms() - 60_000);

    let mut seq = Vec::new();
    for i in 0..3 {
        seq.push(
            put_record(&c, name, "k", format!("a{i}").as_bytes())
                .await
                .1,
        );
    }
    let latest = iterator(&c, name, &shard, ShardIteratorType::Latest, None, None).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let between = now_ms();
    tokio::time::sleep(Duration::from_millis(150)).await;
    for i in 0..3 {
        seq.push(
            put_record(&c, name, "k", format!("b{i}").as_bytes())
                .await
                .1,
        );
    }
    let names = |r: &[Record]| -> Vec<String> {
        datas(r)
            .into_iter()
            .map(|d| String::from_utf8(d).unwrap())
            .collect()
    };

    let th = iterator(&c, name, &shard, ShardIteratorType::TrimHorizon, None, None).await;
    assert_eq!(
        names(&drain(&c, th).await),
        ["a0", "a1", "a2", "b0", "b1", "b2"]
    );

    // LATEST taken before the b-records sees exactly them; a fresh LATEST sees nothing.
    assert_eq!(names(&drain(&c, latest).await), ["b0", "b1", "b2"]);
    let fresh = iterator(&c, name, &shard, ShardIteratorType::Latest, None, None).await;
    let out = c.get_records().shard_iterator(&fresh).send().await.unwrap();
    assert!(out.records().is_empty());
    assert_eq!(out.millis_behind_latest(), Some(0));

    let at = iterator(
        &c,
        name,
        &shard,
        ShardIteratorType::AtSequenceNumber,
        Some(&seq[2]),
        None,
    )
    .await;
    assert_eq!(names(&drain(&c, at).await), ["a2", "b0", "b1", "b2"]);
    let after = iterator(
        &c,
        name,
        &shard,
        ShardIteratorType::AfterSequenceNumber,
        Some(&seq[2]),
        None,
    )
    .await;
    assert_eq!(names(&drain(&c, after).await), ["b0", "b1", "b2"]);
    let after_last = iterator(
        &c,
        name,
        &shard,
        ShardIteratorType::AfterSequenceNumber,
        Some(&seq[5]),
        None,
    )
    .await;
    assert!(drain(&c, after_last).await.is_empty());
    let at_first = iterator(
        &c,
        name,
        &shard,
        ShardIteratorType::AtSequenceNumber,
        Some(&seq[0]),
        None,
    )
    .await;
    assert_eq!(names(&drain(&c, at_first).await).len(), 6);

    let ts = iterator(
        &c,
        name,
        &shard,
        ShardIteratorType::AtTimestamp,
        None,
        Some(DateTime::from_millis(between)),
    )
    .await;
    assert_eq!(names(&drain(&c, ts).await), ["b0", "b1", "b2"]);
    // At a record's own arrival time: that record is included.
    let all = read_all(&c, name, &shard).await;
    let b0_time = *all[3].approximate_arrival_timestamp().unwrap();
    let ts = iterator(
        &c,
        name,
        &shard,
        ShardIteratorType::AtTimestamp,
        None,
        Some(b0_time),
    )
    .await;
    assert_eq!(names(&drain(&c, ts).await), ["b0", "b1", "b2"]);
    // Before the stream existed: everything (trim horizon).
    let ts = iterator(
        &c,
        name,
        &shard,
        ShardIteratorType::AtTimestamp,
        None,
        Some(t0),
    )
    .await;
    assert_eq!(names(&drain(&c, ts).await).len(), 6);
    // Now: nothing yet, but later records show up.
    let ts_now = iterator(
        &c,
        name,
        &shard,
        ShardIteratorType::AtTimestamp,
        None,
        Some(DateTime::from_millis(now_ms())),
    )
    .await;
    put_record(&c, name, "k", b"c0").await;
    assert_eq!(names(&drain(&c, ts_now).await), ["c0"]);
}

#[tokio::test]
async fn get_records_limit_chaining_and_round_trip() {
    let server = TestServer::start();
    let c = server.client().await;
    let name = "chain";
    create(&c, name, 1).await;
    let shard = sid(0);
    let binary: Vec<u8> = (0..=255u8).collect();
    let mut payloads: Vec<Vec<u8>> = vec![
        Vec::new(),
        binary.clone(),
        vec![0u8; 3],
        b"\xff\xfe\x00\x01".to_vec(),
    ];
    for i in 0..21 {
        payloads.push(format!("payload {i}").into_bytes());
    }
    let keys: Vec<String> = (0..payloads.len())
        .map(|i| {
            if i == 2 {
                "ключ 😀".into()
            } else {
                format!("k{i}")
            }
        })
        .collect();
    let before = now_ms();
    let mut written = Vec::new();
    for (k, p) in keys.iter().zip(&payloads) {
        written.push(put_record(&c, name, k, p).await.1);
    }
    assert_eq!(payloads.len(), 25);

    let mut it = iterator(&c, name, &shard, ShardIteratorType::TrimHorizon, None, None).await;
    let mut got: Vec<Record> = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let out = c
            .get_records()
            .shard_iterator(&it)
            .limit(10)
            .send()
            .await
            .unwrap();
        sizes.push(out.records().len());
        got.extend(out.records().to_vec());
        it = out.next_shard_iterator().unwrap().to_string();
        assert!(out.child_shards().is_empty());
        if got.len() < 25 {
            assert!(!out.records().is_empty(), "empty page before the end");
        } else {
            // Caught up.
            assert_eq!(out.millis_behind_latest(), Some(0));
            let more = c
                .get_records()
                .shard_iterator(&it)
                .limit(10)
                .send()
                .await
                .unwrap();
            assert!(more.records().is_empty());
            assert_eq!(more.millis_behind_latest(), Some(0));
            assert!(more.next_shard_iterator().is_some());
            break;
        }
    }
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(datas(&got), payloads, "data must round-trip byte for byte");
    assert_eq!(seqs(&got), written);
    let after = now_ms();
    for (r, k) in got.iter().zip(&keys) {
        assert_eq!(r.partition_key(), Some(k.as_str()));
        let t = r
            .approximate_arrival_timestamp()
            .expect("ApproximateArrivalTimestamp")
            .to_millis()
            .unwrap();
        assert!(
            t >= before - 1000 && t <= after + 1000,
            "arrival {t} not within [{before}, {after}]"
        );
    }

    // Limit 1 walks one record at a time.
    let mut it = iterator(
        &c,
        name,
        &shard,
        ShardIteratorType::AtSequenceNumber,
        Some(&written[5]),
        None,
    )
    .await;
    for want in &written[5..8] {
        let out = c
            .get_records()
            .shard_iterator(&it)
            .limit(1)
            .send()
            .await
            .unwrap();
        assert_eq!(seqs(out.records()), std::slice::from_ref(want));
        it = out.next_shard_iterator().unwrap().to_string();
    }
}

#[tokio::test]
async fn records_are_readable_immediately_after_put() {
    let server = TestServer::start();
    let c = server.client().await;
    let name = "now";
    create(&c, name, 2).await;
    let mut tails = BTreeMap::new();
    for s in [sid(0), sid(1)] {
        let it = iterator(&c, name, &s, ShardIteratorType::Latest, None, None).await;
        tails.insert(s, it);
    }
    for i in 0..30 {
        let data = format!("r{i}").into_bytes();
        let (shard, seq) = put_record(&c, name, &format!("k{i}"), &data).await;
        // From a LATEST iterator taken earlier.
        let it = tails.get(&shard).unwrap().clone();
        let out = c.get_records().shard_iterator(&it).send().await.unwrap();
        assert_eq!(
            seqs(out.records()),
            std::slice::from_ref(&seq),
            "record {i} not visible right after PutRecord"
        );
        assert_eq!(out.records()[0].data().as_ref(), data.as_slice());
        tails.insert(
            shard.clone(),
            out.next_shard_iterator().unwrap().to_string(),
        );
        // And at its own sequence number.
        let at = iterator(
            &c,
            name,
            &shard,
            ShardIteratorType::AtSequenceNumber,
            Some(&seq),
            None,
        )
        .await;
        let out = c
            .get_records()
            .shard_iterator(&at)
            .limit(1)
            .send()
            .await
            .unwrap();
        assert_eq!(seqs(out.records()), [seq]);
    }
}

#[tokio::test]
async fn data_plane_errors() {
    let server = TestServer::start();
    let c = server.client().await;
    let name = "errs";
    create(&c, name, 3).await;
    // A sequence number of shard 1.
    let mut seq1 = None;
    for i in 0..200 {
        let (shard, seq) = put_record(&c, name, &format!("k-{i}"), b"x").await;
        if shard == sid(1) {
            seq1 = Some(seq);
            break;
        }
    }
    let seq1 = seq1.expect("some key lands on shard 1");

    let (code, msg) = err(c
        .put_record()
        .stream_name("ghost")
        .partition_key("k")
        .data(Blob::new(b"x".to_vec()))
        .send()
        .await);
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "ResourceNotFoundException",
            "Stream ghost under account 000000000000 not found."
        )
    );
    let entry = PutRecordsRequestEntry::builder()
        .partition_key("k")
        .data(Blob::new(b"x".to_vec()))
        .build()
        .unwrap();
    let (code, msg) = err(c
        .put_records()
        .stream_name("ghost")
        .records(entry)
        .send()
        .await);
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "ResourceNotFoundException",
            "Stream ghost under account 000000000000 not found."
        )
    );

    let gsi = |stream: &str, shard: &str, ty: ShardIteratorType| {
        c.get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard)
            .shard_iterator_type(ty)
    };
    let (code, msg) = err(gsi("ghost", &sid(0), ShardIteratorType::TrimHorizon)
        .send()
        .await);
    assert_eq!(code, "ResourceNotFoundException");
    assert_eq!(
        msg,
        "Shard shardId-000000000000 in stream ghost under account 000000000000 does not exist"
    );
    let (code, msg) = err(
        gsi(name, "shardId-000000000009", ShardIteratorType::TrimHorizon)
            .send()
            .await,
    );
    assert_eq!(code, "ResourceNotFoundException");
    assert_eq!(
        msg,
        "Shard shardId-000000000009 in stream errs under account 000000000000 does not exist"
    );
    // Short shard ids are normalised, in errors and in lookups.
    let (code, msg) = err(gsi(name, "shardId-9", ShardIteratorType::TrimHorizon)
        .send()
        .await);
    assert_eq!(code, "ResourceNotFoundException");
    assert_eq!(
        msg,
        "Shard shardId-000000000009 in stream errs under account 000000000000 does not exist"
    );
    let it = gsi(name, "shardId-1", ShardIteratorType::AtSequenceNumber)
        .starting_sequence_number(&seq1)
        .send()
        .await
        .unwrap();
    let out = c
        .get_records()
        .shard_iterator(it.shard_iterator().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(seqs(out.records()), std::slice::from_ref(&seq1));

    for garbage in [
        "garbage-iterator",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "!!!!",
    ] {
        let (code, msg) = err(c.get_records().shard_iterator(garbage).send().await);
        assert_eq!(
            (code.as_str(), msg.as_str()),
            ("InvalidArgumentException", "Invalid ShardIterator."),
            "{garbage}"
        );
    }
    // A real iterator with one character changed.
    let real = iterator(
        &c,
        name,
        &sid(0),
        ShardIteratorType::TrimHorizon,
        None,
        None,
    )
    .await;
    let mut mangled: Vec<char> = real.chars().collect();
    let mid = mangled.len() / 2;
    mangled[mid] = if mangled[mid] == 'A' { 'B' } else { 'A' };
    let mangled: String = mangled.into_iter().collect();
    let (code, msg) = err(c.get_records().shard_iterator(&mangled).send().await);
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("InvalidArgumentException", "Invalid ShardIterator.")
    );

    let (code, msg) = err(gsi(name, &sid(0), ShardIteratorType::AtSequenceNumber)
        .starting_sequence_number(&seq1)
        .send()
        .await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        "Invalid StartingSequenceNumber. It encodes shardId-000000000001, while it was used in a call to a shard with shardId-000000000000"
    );
    let (code, msg) = err(gsi(name, &sid(2), ShardIteratorType::AfterSequenceNumber)
        .starting_sequence_number(&seq1)
        .send()
        .await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        "Invalid StartingSequenceNumber. It encodes shardId-000000000001, while it was used in a call to a shard with shardId-000000000002"
    );

    let must = "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber.";
    let (code, msg) = err(gsi(name, &sid(1), ShardIteratorType::AtSequenceNumber)
        .send()
        .await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        format!("{must} Request specified AT_SEQUENCE_NUMBER and no StartingSequenceNumber.")
    );
    let (code, msg) = err(gsi(name, &sid(1), ShardIteratorType::AfterSequenceNumber)
        .send()
        .await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        format!("{must} Request specified AFTER_SEQUENCE_NUMBER and no StartingSequenceNumber.")
    );
    let (code, msg) = err(gsi(name, &sid(1), ShardIteratorType::Latest)
        .starting_sequence_number(&seq1)
        .send()
        .await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        format!("{must} Request specified LATEST and also a StartingSequenceNumber.")
    );
    let (code, msg) = err(gsi(name, &sid(1), ShardIteratorType::TrimHorizon)
        .starting_sequence_number(&seq1)
        .send()
        .await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        format!("{must} Request specified TRIM_HORIZON and also a StartingSequenceNumber.")
    );

    let (code, msg) = err(gsi(name, &sid(1), ShardIteratorType::AtTimestamp)
        .send()
        .await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter."
    );
    // An id that is not a shard id at all.
    let (code, msg) = err(gsi(name, "foo", ShardIteratorType::TrimHorizon)
        .send()
        .await);
    assert_eq!(code, "ResourceNotFoundException");
    assert_eq!(
        msg,
        "Could not find shard foo in stream errs under account 000000000000."
    );

    // SequenceNumberForOrdering must be a sequence number AWS can decode (a
    // layout version 4 is not; a small number like 12345 is AWS's old version
    // 0 and accepted); a real one orders the put.
    let (code, msg) = err(c
        .put_record()
        .stream_name(name)
        .partition_key("k")
        .sequence_number_for_ordering("49039857307708443467467104868809893875799651909875269636")
        .data(Blob::new(b"x".to_vec()))
        .send()
        .await);
    assert_eq!(code, "InvalidArgumentException");
    assert_eq!(
        msg,
        "ExclusiveMinimumSequenceNumber 49039857307708443467467104868809893875799651909875269636 used in PutRecord on stream errs under account 000000000000 is invalid."
    );
    let first = c
        .put_record()
        .stream_name(name)
        .partition_key("ordered")
        .data(Blob::new(b"1".to_vec()))
        .send()
        .await
        .unwrap();
    let second = c
        .put_record()
        .stream_name(name)
        .partition_key("ordered")
        .sequence_number_for_ordering(first.sequence_number())
        .data(Blob::new(b"2".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(second.shard_id(), first.shard_id());
    assert!(seq_cmp(first.sequence_number(), second.sequence_number()).is_lt());

    // An iterator of a deleted stream, even once the name is reused.
    let stale = iterator(
        &c,
        name,
        &sid(0),
        ShardIteratorType::TrimHorizon,
        None,
        None,
    )
    .await;
    c.delete_stream().stream_name(name).send().await.unwrap();
    let (code, _) = err(c.get_records().shard_iterator(&stale).send().await);
    assert_eq!(code, "ResourceNotFoundException");
    c.create_stream()
        .stream_name(name)
        .shard_count(3)
        .send()
        .await
        .unwrap();
    let (code, _) = err(c.get_records().shard_iterator(&stale).send().await);
    assert_eq!(
        code, "ResourceNotFoundException",
        "an old incarnation's iterator must not read the new stream"
    );

    let future = now_ms() + 3_600_000;
    let (code, msg) = err(gsi(name, &sid(1), ShardIteratorType::AtTimestamp)
        .timestamp(DateTime::from_millis(future))
        .send()
        .await);
    assert_eq!(code, "InvalidArgumentException");
    let prefix = format!(
        "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {future}, currentTimestampInMillis: "
    );
    let current: i64 = msg
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("unexpected message {msg}"))
        .parse()
        .unwrap_or_else(|_| panic!("unexpected message {msg}"));
    assert!(
        (current - now_ms()).abs() < 10_000,
        "currentTimestampInMillis {current}"
    );
}

#[tokio::test]
async fn oversized_records_are_rejected() {
    let server = TestServer::start();
    let c = server.client().await;
    let name = "size";
    create(&c, name, 1).await;
    // Exactly 1 MiB of data plus key is accepted.
    let key = "kk";
    c.put_record()
        .stream_name(name)
        .partition_key(key)
        .data(Blob::new(vec![1u8; MIB - key.len()]))
        .send()
        .await
        .unwrap();
    let e = c
        .put_record()
        .stream_name(name)
        .partition_key(key)
        .data(Blob::new(vec![1u8; MIB - key.len() + 1]))
        .send()
        .await
        .expect_err("one byte over 1 MiB");
    assert!(
        matches!(
            e.code(),
            Some("InvalidArgumentException") | Some("ValidationException")
        ),
        "{e:?}"
    );
    let e = c
        .put_record()
        .stream_name(name)
        .partition_key("k")
        .data(Blob::new(vec![1u8; MIB + 100]))
        .send()
        .await
        .expect_err("over 1 MiB");
    assert!(
        matches!(
            e.code(),
            Some("InvalidArgumentException") | Some("ValidationException")
        ),
        "{e:?}"
    );
    // In a batch, too.
    let small = PutRecordsRequestEntry::builder()
        .partition_key("k")
        .data(Blob::new(b"s".to_vec()))
        .build()
        .unwrap();
    let huge = PutRecordsRequestEntry::builder()
        .partition_key("k")
        .data(Blob::new(vec![2u8; MIB + 1]))
        .build()
        .unwrap();
    let e = c
        .put_records()
        .stream_name(name)
        .records(small)
        .records(huge)
        .send()
        .await
        .expect_err("oversized entry");
    assert!(
        matches!(
            e.code(),
            Some("InvalidArgumentException") | Some("ValidationException")
        ),
        "{e:?}"
    );
    let recs = read_all(&c, name, &sid(0)).await;
    assert_eq!(recs.len(), 1, "only the 1 MiB record was stored");
    assert_eq!(recs[0].data().as_ref().len(), MIB - key.len());
}

#[tokio::test]
async fn restart_keeps_streams_tags_retention_and_records() {
    let mut server = TestServer::start();
    let c = server.client().await;
    let shards_a = create(&c, "keep-a", 3).await;
    create(&c, "keep-b", 1).await;
    c.add_tags_to_stream()
        .stream_name("keep-a")
        .tags("owner", "me")
        .tags("tier", "gold")
        .send()
        .await
        .unwrap();
    c.increase_stream_retention_period()
        .stream_name("keep-a")
        .retention_period_hours(72)
        .send()
        .await
        .unwrap();
    c.update_max_record_size()
        .stream_arn(arn("keep-b"))
        .max_record_size_in_kib(2048)
        .send()
        .await
        .unwrap();
    for i in 0..60 {
        put_record(
            &c,
            "keep-a",
            &format!("key{i}"),
            format!("value {i}").as_bytes(),
        )
        .await;
    }
    let entries: Vec<PutRecordsRequestEntry> = (0..100)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .partition_key(format!("b{i}"))
                .data(Blob::new(vec![i as u8; i]))
                .build()
                .unwrap()
        })
        .collect();
    c.put_records()
        .stream_name("keep-b")
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    let big = put_record(&c, "keep-b", "big", &vec![9u8; MIB + 10]).await;

    let snapshot = |c: Client| async move {
        let mut recs = BTreeMap::new();
        for (stream, n) in [("keep-a", 3), ("keep-b", 1)] {
            for i in 0..n {
                let r: Vec<(String, Vec<u8>, Option<String>, i64)> = read_all(&c, stream, &sid(i))
                    .await
                    .iter()
                    .map(|r| {
                        (
                            r.sequence_number().to_string(),
                            r.data().as_ref().to_vec(),
                            r.partition_key().map(str::to_string),
                            r.approximate_arrival_timestamp()
                                .unwrap()
                                .to_millis()
                                .unwrap(),
                        )
                    })
                    .collect();
                recs.insert((stream, i), r);
            }
        }
        recs
    };
    let before = snapshot(c.clone()).await;
    assert_eq!(before.values().map(Vec::len).sum::<usize>(), 161);
    // An iterator issued before the restart, positioned mid-shard.
    let mid_seq = before.get(&("keep-b", 0)).unwrap()[50].0.clone();
    let old_it = iterator(
        &c,
        "keep-b",
        &sid(0),
        ShardIteratorType::AtSequenceNumber,
        Some(&mid_seq),
        None,
    )
    .await;

    server.restart();
    let c = server.client().await;
    let l = c.list_streams().send().await.unwrap();
    assert_eq!(l.stream_names(), ["keep-a", "keep-b"]);
    let d = c
        .describe_stream()
        .stream_name("keep-a")
        .send()
        .await
        .unwrap();
    let d = d.stream_description().unwrap();
    assert_eq!(
        d.shards(),
        shards_a.as_slice(),
        "shards, hash ranges and starting sequence numbers survive"
    );
    assert_eq!(d.retention_period_hours(), 72);
    let tags = c
        .list_tags_for_stream()
        .stream_name("keep-a")
        .send()
        .await
        .unwrap();
    let kv: Vec<(&str, Option<&str>)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(kv, [("owner", Some("me")), ("tier", Some("gold"))]);
    let s = c
        .describe_stream_summary()
        .stream_name("keep-b")
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.stream_description_summary()
            .unwrap()
            .max_record_size_in_kib(),
        Some(2048)
    );

    let after = snapshot(c.clone()).await;
    let out = c
        .get_records()
        .shard_iterator(&old_it)
        .limit(2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        seqs(out.records())[0],
        mid_seq,
        "a pre-restart iterator keeps its position"
    );
    let at = iterator(
        &c,
        "keep-b",
        &sid(0),
        ShardIteratorType::AfterSequenceNumber,
        Some(&mid_seq),
        None,
    )
    .await;
    let out = c
        .get_records()
        .shard_iterator(&at)
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        seqs(out.records())[0],
        before.get(&("keep-b", 0)).unwrap()[51].0
    );
    assert_eq!(
        after, before,
        "every record survives with its sequence number, data, key and arrival time"
    );
    let at = iterator(
        &c,
        "keep-b",
        &big.0,
        ShardIteratorType::AtSequenceNumber,
        Some(&big.1),
        None,
    )
    .await;
    let out = c.get_records().shard_iterator(&at).send().await.unwrap();
    assert_eq!(out.records()[0].data().as_ref().len(), MIB + 10);

    // New writes continue after the old ones.
    let last_b = before
        .get(&("keep-b", 0))
        .unwrap()
        .last()
        .unwrap()
        .0
        .clone();
    let (_, new_seq) = put_record(&c, "keep-b", "x", b"after restart").await;
    assert!(
        seq_cmp(&last_b, &new_seq).is_lt(),
        "{new_seq} must follow {last_b}"
    );

    // And a second restart keeps those too.
    server.restart();
    let c = server.client().await;
    let recs = read_all(&c, "keep-b", &sid(0)).await;
    assert_eq!(recs.len(), 102);
    assert_eq!(recs.last().unwrap().sequence_number(), new_seq);
    assert_eq!(recs.last().unwrap().data().as_ref(), b"after restart");
}
