//! Crash tests against the real `riffle` binary: every record the server
//! acknowledged must survive `kill -9`, exactly once, at the shard and
//! sequence number it was acknowledged with, in acknowledgement order.
//!
//! Run with `cargo test -p riffle --test crash -- --nocapture` to see the figures.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::timeout::TimeoutConfig;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, StreamStatus};
use aws_sdk_kinesis::Client;
use common::kinesis::{seq_cmp, trim_horizon};
use common::TestServer;
use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const STREAM: &str = "crash-stream";
const SHARDS: i32 = 4;
const PRODUCERS: u32 = 8;
const CYCLES: u32 = 3;
const WRITE_PHASE: Duration = Duration::from_millis(2500);

// ---------------------------------------------------------------- payloads

/// A record's identity: (producer id, counter). Counters are unique per producer
/// over the whole test, across kill cycles.
type RecId = (u32, u64);

const MAGIC: &[u8; 4] = b"RFL1";

/// The payload for a record: magic, producer id, counter, then a deterministic
/// filler of varied length covering every byte value (so binary data must
/// round-trip exactly). Every 97th record is larger (8 KiB) to vary batch sizes.
fn encode_data(id: RecId) -> Vec<u8> {
    let (p, c) = id;
    let filler = if c % 97 == 0 {
        8192
    } else {
        ((c * 37 + u64::from(p) * 11) % 300) as usize
    };
    let mut v = Vec::with_capacity(16 + filler);
    v.extend_from_slice(MAGIC);
    v.extend_from_slice(&p.to_be_bytes());
    v.extend_from_slice(&c.to_be_bytes());
    v.extend((0..filler).map(|i| (c as usize + i * 31 + p as usize) as u8));
    v
}

/// The identity encoded in `data`, if `data` is exactly what `encode_data` produced.
fn decode_data(data: &[u8]) -> Option<RecId> {
    if data.len() < 16 || &data[..4] != MAGIC {
        return None;
    }
    let p = u32::from_be_bytes(data[4..8].try_into().ok()?);
    let c = u64::from_be_bytes(data[8..16].try_into().ok()?);
    (encode_data((p, c)) == data).then_some((p, c))
}

/// xorshift64*: deterministic per producer, no extra dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Varied partition keys: private to the producer, shared between producers,
/// long (200+ characters) and non-ASCII.
fn partition_key(producer: u32, rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=3 => format!("p{producer}-key-{}", rng.below(5)),
        4..=6 => format!("shared-{}", rng.below(16)),
        7 => format!("long-{}-{}", "k".repeat(220), rng.below(3)),
        8 => format!("ключ-{}-é-{}", producer, rng.below(3)),
        _ => format!("user-{}", rng.below(1000)),
    }
}

// ---------------------------------------------------------------- clients

/// A client that never retries: a retried request could be written twice, and
/// a request the SDK retried after a kill must count as unacknowledged.
fn producer_client(endpoint: &str) -> Client {
    let conf = common::config_for(endpoint)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .build();
    Client::from_conf(conf)
}

async fn create_stream(client: &Client, shards: i32) {
    client
        .create_stream()
        .stream_name(STREAM)
        .shard_count(shards)
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = client
            .describe_stream_summary()
            .stream_name(STREAM)
            .send()
            .await
            .unwrap();
        if d.stream_description_summary().unwrap().stream_status() == &StreamStatus::Active {
            break;
        }
        assert!(Instant::now() < deadline, "stream did not become ACTIVE");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One record read back from the stream.
#[derive(Clone, Debug)]
struct Found {
    shard: String,
    seq: String,
    pk: String,
    data: Vec<u8>,
}

/// Every record of every shard, TRIM_HORIZON to the end, in shard order.
async fn read_all(client: &Client) -> BTreeMap<String, Vec<Found>> {
    let shards = client
        .list_shards()
        .stream_name(STREAM)
        .send()
        .await
        .unwrap();
    let ids: Vec<String> = shards
        .shards()
        .iter()
        .map(|s| s.shard_id().to_string())
        .collect();
    assert_eq!(
        ids.len(),
        SHARDS as usize,
        "shard list after restart: {ids:?}"
    );
    let mut out = BTreeMap::new();
    for id in ids {
        let mut it = trim_horizon(client, STREAM, &id).await;
        let mut recs = Vec::new();
        for _ in 0..100_000 {
            let r = client
                .get_records()
                .shard_iterator(&it)
                .limit(2000)
                .send()
                .await
                .unwrap();
            if r.records().is_empty() {
                assert_eq!(
                    r.millis_behind_latest(),
                    Some(0),
                    "empty GetRecords page before the tip of {id}"
                );
                break;
            }
            for rec in r.records() {
                recs.push(Found {
                    shard: id.clone(),
                    seq: rec.sequence_number().to_string(),
                    pk: rec
                        .partition_key()
                        .expect("every record has a PartitionKey")
                        .to_string(),
                    data: rec.data().as_ref().to_vec(),
                });
            }
            it = r
                .next_shard_iterator
                .expect("an open shard always has a next iterator");
        }
        out.insert(id, recs);
    }
    out
}

// ---------------------------------------------------------------- producers

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    PutRecord,
    PutRecords,
}

/// An acknowledged record.
#[derive(Clone, Debug)]
struct Acked {
    id: RecId,
    pk: String,
    shard: String,
    seq: String,
    via: Via,
    /// Producer-wide request number (monotonic over the whole test) and the
    /// record's position in its request: the producer's acknowledgement order.
    order: (u64, usize),
}

#[derive(Default)]
struct ProducerReport {
    acked: Vec<Acked>,
    /// Records sent in requests that failed (or entries that failed).
    unacked: Vec<RecId>,
    /// Failures observed before the kill began: these are server bugs.
    errors_before_kill: Vec<String>,
    requests_failed_at_kill: u64,
    requests_ok: u64,
}

struct ProducerState {
    id: u32,
    rng: Rng,
    next_counter: u64,
    next_request: u64,
    /// Last acknowledged sequence number per partition key (SequenceNumberForOrdering).
    last_seq: HashMap<String, String>,
}

async fn run_producer(
    mut st: ProducerState,
    endpoint: String,
    stop: Arc<AtomicBool>,
    killing: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
) -> (ProducerState, ProducerReport) {
    let client = producer_client(&endpoint);
    let mut rep = ProducerReport::default();
    while !stop.load(Ordering::SeqCst) {
        let req = st.next_request;
        st.next_request += 1;
        if st.rng.below(3) == 0 {
            // PutRecord, with SequenceNumberForOrdering when this key was written before.
            let id = (st.id, st.next_counter);
            st.next_counter += 1;
            let pk = partition_key(st.id, &mut st.rng);
            let mut call = client
                .put_record()
                .stream_name(STREAM)
                .partition_key(&pk)
                .data(Blob::new(encode_data(id)));
            if let Some(prev) = st.last_seq.get(&pk) {
                call = call.sequence_number_for_ordering(prev);
            }
            in_flight.fetch_add(1, Ordering::SeqCst);
            let res = call.send().await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            match res {
                Ok(out) => {
                    rep.requests_ok += 1;
                    st.last_seq
                        .insert(pk.clone(), out.sequence_number().to_string());
                    rep.acked.push(Acked {
                        id,
                        pk,
                        shard: out.shard_id().to_string(),
                        seq: out.sequence_number().to_string(),
                        via: Via::PutRecord,
                        order: (req, 0),
                    });
                }
                Err(e) => {
                    rep.unacked.push(id);
                    if killing.load(Ordering::SeqCst) {
                        rep.requests_failed_at_kill += 1;
                    } else {
                        rep.errors_before_kill
                            .push(format!("PutRecord {id:?}: {e:?}"));
                    }
                }
            }
        } else {
            let n = 10 + st.rng.below(41) as usize;
            let mut ids = Vec::with_capacity(n);
            let mut pks = Vec::with_capacity(n);
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let id = (st.id, st.next_counter);
                st.next_counter += 1;
                let pk = partition_key(st.id, &mut st.rng);
                entries.push(
                    PutRecordsRequestEntry::builder()
                        .data(Blob::new(encode_data(id)))
                        .partition_key(&pk)
                        .build()
                        .unwrap(),
                );
                ids.push(id);
                pks.push(pk);
            }
            in_flight.fetch_add(1, Ordering::SeqCst);
            let res = client
                .put_records()
                .stream_name(STREAM)
                .set_records(Some(entries))
                .send()
                .await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            match res {
                Ok(out) => {
                    rep.requests_ok += 1;
                    let results = out.records();
                    if results.len() != n {
                        rep.errors_before_kill.push(format!(
                            "PutRecords answered {} entries for {n} records",
                            results.len()
                        ));
                        rep.unacked.extend(ids);
                        continue;
                    }
                    let failed = results.iter().filter(|r| r.error_code().is_some()).count();
                    if out.failed_record_count() != Some(failed as i32) {
                        rep.errors_before_kill.push(format!(
                            "PutRecords FailedRecordCount {:?} but {failed} entries failed",
                            out.failed_record_count()
                        ));
                    }
                    for (k, ((id, pk), r)) in ids.into_iter().zip(pks).zip(results).enumerate() {
                        match (r.error_code(), r.shard_id(), r.sequence_number()) {
                            (None, Some(shard), Some(seq)) => {
                                st.last_seq.insert(pk.clone(), seq.to_string());
                                rep.acked.push(Acked {
                                    id,
                                    pk,
                                    shard: shard.to_string(),
                                    seq: seq.to_string(),
                                    via: Via::PutRecords,
                                    order: (req, k),
                                });
                            }
                            _ => {
                                // A failed entry inside a successful response is never caused
                                // by the kill (the response did arrive).
                                rep.errors_before_kill
                                    .push(format!("PutRecords entry {id:?} failed: {r:?}"));
                                rep.unacked.push(id);
                            }
                        }
                    }
                }
                Err(e) => {
                    rep.unacked.extend(ids);
                    if killing.load(Ordering::SeqCst) {
                        rep.requests_failed_at_kill += 1;
                    } else {
                        rep.errors_before_kill.push(format!("PutRecords: {e:?}"));
                    }
                }
            }
        }
    }
    (st, rep)
}

// ---------------------------------------------------------------- verification

/// What must be true after every restart, accumulated over the cycles.
#[derive(Default)]
struct Ledger {
    /// Records that must be present, with the shard and sequence number they
    /// must have: every acknowledged record, and every record that was ever
    /// read back (once seen, a record may not disappear or move).
    required: HashMap<RecId, (String, String, String)>,
    /// Every acknowledged record, for the ordering checks.
    acked: Vec<Acked>,
    /// Every record ever sent, acknowledged or not.
    attempted: HashSet<RecId>,
    /// How many records were found although their request failed (allowed: written,
    /// then killed before the answer left).
    unacked_present: usize,
}

struct CycleFigures {
    acked_total: usize,
    found_total: usize,
    unacked_present_new: usize,
}

/// Checks the stream's full contents against the ledger; returns the figures
/// and registers newly seen unacknowledged records as required from now on.
/// `unacked_now` holds the records of this cycle's failed requests: the only ones
/// that may show up without having been acknowledged or seen before.
fn verify(
    ledger: &mut Ledger,
    contents: &BTreeMap<String, Vec<Found>>,
    unacked_now: &HashSet<RecId>,
    cycle: u32,
) -> CycleFigures {
    let mut seen: HashMap<RecId, Found> = HashMap::new();
    // Position of each record inside its shard, for the ordering check.
    let mut position: HashMap<RecId, usize> = HashMap::new();
    let mut seen_seqs: HashSet<String> = HashSet::new();
    let mut pk_shard: HashMap<String, String> = HashMap::new();
    for (shard, recs) in contents {
        for (i, r) in recs.iter().enumerate() {
            let id = decode_data(&r.data).unwrap_or_else(|| {
                panic!("cycle {cycle}: {shard} holds a record whose data was never written (seq {}, {} bytes)", r.seq, r.data.len())
            });
            assert!(
                ledger.attempted.contains(&id),
                "cycle {cycle}: record {id:?} in {shard} was never sent"
            );
            if let Some(prev) = seen.get(&id) {
                panic!(
                    "cycle {cycle}: record {id:?} appears twice: {} seq {} and {} seq {}",
                    prev.shard, prev.seq, r.shard, r.seq
                );
            }
            assert!(
                seen_seqs.insert(r.seq.clone()),
                "cycle {cycle}: sequence number {} appears twice",
                r.seq
            );
            if i > 0 {
                let before = &recs[i - 1].seq;
                assert_eq!(
                    seq_cmp(before, &r.seq),
                    CmpOrdering::Less,
                    "cycle {cycle}: sequence numbers in {shard} do not strictly increase at position {i}: {before} then {}",
                    r.seq
                );
            }
            // A partition key always hashes to the same shard (no resharding here).
            let s = pk_shard
                .entry(r.pk.clone())
                .or_insert_with(|| shard.clone());
            assert_eq!(
                s, shard,
                "cycle {cycle}: partition key {:?} found in two shards",
                r.pk
            );
            position.insert(id, i);
            seen.insert(id, r.clone());
        }
    }

    // Every required record is present, unchanged.
    let mut missing = Vec::new();
    for (id, (shard, seq, pk)) in &ledger.required {
        match seen.get(id) {
            None => missing.push((*id, shard.clone(), seq.clone())),
            Some(f) => {
                assert_eq!(
                    (&f.shard, &f.seq, &f.pk),
                    (shard, seq, pk),
                    "cycle {cycle}: record {id:?} came back at a different shard / sequence number / key than acknowledged"
                );
            }
        }
    }
    if !missing.is_empty() {
        missing.sort();
        panic!(
            "cycle {cycle}: {} of {} required (acknowledged) records are missing after kill -9; first few: {:?}",
            missing.len(),
            ledger.required.len(),
            &missing[..missing.len().min(10)]
        );
    }

    // Records present without acknowledgement: allowed, but from now on required.
    let mut new_unacked = 0;
    for (id, f) in &seen {
        if !ledger.required.contains_key(id) {
            assert!(
                unacked_now.contains(id),
                "cycle {cycle}: record {id:?} appeared although it was neither acknowledged nor in flight at this kill"
            );
            new_unacked += 1;
            ledger
                .required
                .insert(*id, (f.shard.clone(), f.seq.clone(), f.pk.clone()));
        }
    }
    ledger.unacked_present += new_unacked;

    // Ordering: per producer and partition key, records appear in the order the
    // producer had them acknowledged. Producers are sequential, so this holds for
    // PutRecord (the documented guarantee) and across requests; inside one
    // PutRecords request, records of one key keep request order (one shard).
    let mut by_key: HashMap<(u32, &str), Vec<&Acked>> = HashMap::new();
    for a in &ledger.acked {
        by_key.entry((a.id.0, a.pk.as_str())).or_default().push(a);
    }
    let mut put_record_pairs = 0usize;
    for ((producer, pk), mut list) in by_key {
        list.sort_by_key(|a| a.order);
        for w in list.windows(2) {
            let (a, b) = (w[0], w[1]);
            assert_eq!(
                a.shard, b.shard,
                "cycle {cycle}: key {pk:?} acknowledged on two shards"
            );
            let (pa, pb) = (position[&a.id], position[&b.id]);
            assert!(
                pa < pb,
                "cycle {cycle}: producer {producer} key {pk:?}: {:?} (acked {:?} via {:?}, seq {}) appears after {:?} (acked {:?} via {:?}, seq {})",
                a.id, a.order, a.via, a.seq, b.id, b.order, b.via, b.seq
            );
            assert_eq!(
                seq_cmp(&a.seq, &b.seq),
                CmpOrdering::Less,
                "cycle {cycle}: producer {producer} key {pk:?}: acknowledged sequence numbers out of order"
            );
            if a.via == Via::PutRecord && b.via == Via::PutRecord {
                put_record_pairs += 1;
            }
        }
    }
    assert!(
        put_record_pairs > 0,
        "cycle {cycle}: no PutRecord pairs on one key to check the order of"
    );

    CycleFigures {
        acked_total: ledger.acked.len(),
        found_total: seen.len(),
        unacked_present_new: new_unacked,
    }
}

// ---------------------------------------------------------------- tests

/// 8 concurrent producers, kill -9 mid-flight, restart, verify, write more; three times.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_records_survive_repeated_kill9() {
    let started = Instant::now();
    // Default durability (--fsync always).
    let mut server = TestServer::start();
    create_stream(&server.client().await, SHARDS).await;

    let mut producers: Vec<ProducerState> = (0..PRODUCERS)
        .map(|id| ProducerState {
            id,
            rng: Rng::new(u64::from(id) + 1),
            next_counter: 0,
            next_request: 0,
            last_seq: HashMap::new(),
        })
        .collect();
    let mut ledger = Ledger::default();

    for cycle in 1..=CYCLES {
        let stop = Arc::new(AtomicBool::new(false));
        let killing = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let first_counters: Vec<u64> = producers.iter().map(|p| p.next_counter).collect();
        let tasks: Vec<_> = producers
            .drain(..)
            .map(|st| {
                tokio::spawn(run_producer(
                    st,
                    server.endpoint(),
                    stop.clone(),
                    killing.clone(),
                    in_flight.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(WRITE_PHASE).await;
        killing.store(true, Ordering::SeqCst);
        // Requests sent and not yet answered the instant before SIGKILL.
        let in_flight_at_kill = in_flight.load(Ordering::SeqCst);
        server.kill9();
        stop.store(true, Ordering::SeqCst);

        let mut acked_now = 0usize;
        let mut unacked_now: HashSet<RecId> = HashSet::new();
        let mut failed_at_kill = 0u64;
        let mut requests_ok = 0u64;
        let mut errors = Vec::new();
        for t in tasks {
            let (st, rep) = t.await.unwrap();
            for c in first_counters[st.id as usize]..st.next_counter {
                ledger.attempted.insert((st.id, c));
            }
            acked_now += rep.acked.len();
            unacked_now.extend(rep.unacked);
            failed_at_kill += rep.requests_failed_at_kill;
            requests_ok += rep.requests_ok;
            errors.extend(rep.errors_before_kill);
            for a in rep.acked {
                ledger
                    .required
                    .insert(a.id, (a.shard.clone(), a.seq.clone(), a.pk.clone()));
                ledger.acked.push(a);
            }
            producers.push(st);
        }
        producers.sort_by_key(|p| p.id);
        assert!(
            errors.is_empty(),
            "cycle {cycle}: requests failed before the kill: {errors:#?}"
        );
        assert!(
            acked_now >= 500,
            "cycle {cycle}: only {acked_now} records acknowledged in {WRITE_PHASE:?}"
        );
        assert!(
            in_flight_at_kill >= 1 && failed_at_kill >= 1,
            "cycle {cycle}: no request was in flight at the kill, so the kill did not test anything"
        );

        let restart_at = Instant::now();
        server.restart();
        let recovery = restart_at.elapsed();
        let client = server.client().await;
        let contents = read_all(&client).await;
        let fig = verify(&mut ledger, &contents, &unacked_now, cycle);
        println!(
            "crash cycle {cycle}: {requests_ok} requests acknowledged, {in_flight_at_kill} in flight at the kill, {failed_at_kill} failed at/after it; \
             records acknowledged this cycle {acked_now} (total {}), unacknowledged this cycle {}; \
             after restart ({} ms) found {} records, of which unacknowledged-but-present {} (total {})",
            fig.acked_total,
            unacked_now.len(),
            recovery.as_millis(),
            fig.found_total,
            fig.unacked_present_new,
            ledger.unacked_present
        );
        assert_eq!(
            fig.found_total,
            fig.acked_total + ledger.unacked_present,
            "cycle {cycle}: found records = acknowledged + unacknowledged-but-present"
        );
    }

    // After the last restart the server keeps appending after the recovered tail.
    let client = server.client().await;
    let before = read_all(&client).await;
    for (i, pk) in [
        "after-0", "after-1", "after-2", "after-3", "after-4", "after-5",
    ]
    .iter()
    .enumerate()
    {
        let out = client
            .put_record()
            .stream_name(STREAM)
            .partition_key(*pk)
            .data(Blob::new(format!("tail {i}").into_bytes()))
            .send()
            .await
            .unwrap();
        if let Some(last) = before[out.shard_id()].last() {
            assert_eq!(
                seq_cmp(&last.seq, out.sequence_number()),
                CmpOrdering::Less,
                "a write after recovery got a sequence number not above the recovered tail of {}",
                out.shard_id()
            );
        }
    }
    println!(
        "crash test total runtime {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A PutRecords (then a PutRecord) immediately followed by SIGKILL, leaving no
/// time for any background flush; the records must be there after restart.
async fn immediate_kill_after_ack(fsync: &str) {
    let started = Instant::now();
    let mut server = TestServer::start_with(&[
        "--transition-delay-ms",
        "0",
        "--fsync",
        fsync,
        "--no-throughput-limits",
    ]);
    create_stream(&server.client().await, SHARDS).await;
    let mut expected: HashMap<RecId, (String, String, String)> = HashMap::new();
    let mut rng = Rng::new(99);

    // Round 1: one PutRecords of 500 records across all shards, then kill -9 at once.
    let client = producer_client(&server.endpoint());
    let mut entries = Vec::new();
    let mut meta = Vec::new();
    for c in 0..500u64 {
        let id = (100, c);
        let pk = partition_key(100, &mut rng);
        entries.push(
            PutRecordsRequestEntry::builder()
                .data(Blob::new(encode_data(id)))
                .partition_key(&pk)
                .build()
                .unwrap(),
        );
        meta.push((id, pk));
    }
    let out = client
        .put_records()
        .stream_name(STREAM)
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    server.kill9();
    assert_eq!(
        out.failed_record_count(),
        Some(0),
        "{fsync}: PutRecords had failures"
    );
    assert_eq!(out.records().len(), 500);
    for ((id, pk), r) in meta.into_iter().zip(out.records()) {
        expected.insert(
            id,
            (
                r.shard_id().unwrap().to_string(),
                r.sequence_number().unwrap().to_string(),
                pk,
            ),
        );
    }
    let shards_used: HashSet<&str> = expected.values().map(|v| v.0.as_str()).collect();
    assert_eq!(
        shards_used.len(),
        SHARDS as usize,
        "{fsync}: the batch should span every shard"
    );

    // Round 2: restart, a single PutRecord, kill -9 at once.
    server.restart();
    let client = producer_client(&server.endpoint());
    let id = (101, 0);
    let out = client
        .put_record()
        .stream_name(STREAM)
        .partition_key("single")
        .data(Blob::new(encode_data(id)))
        .send()
        .await
        .unwrap();
    server.kill9();
    expected.insert(
        id,
        (
            out.shard_id().to_string(),
            out.sequence_number().to_string(),
            "single".to_string(),
        ),
    );

    server.restart();
    let contents = read_all(&server.client().await).await;
    let mut found: HashMap<RecId, Found> = HashMap::new();
    for (shard, recs) in &contents {
        for w in recs.windows(2) {
            assert_eq!(
                seq_cmp(&w[0].seq, &w[1].seq),
                CmpOrdering::Less,
                "{fsync}: {shard} out of order"
            );
        }
        for r in recs {
            let id = decode_data(&r.data)
                .unwrap_or_else(|| panic!("{fsync}: garbage record in {shard}"));
            assert!(
                found.insert(id, r.clone()).is_none(),
                "{fsync}: record {id:?} appears twice"
            );
        }
    }
    let missing: Vec<_> = expected
        .keys()
        .filter(|id| !found.contains_key(id))
        .collect();
    println!(
        "immediate kill (--fsync {fsync}): acknowledged {}, found {} after restart, missing {} ({:.1} s)",
        expected.len(),
        found.len(),
        missing.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        missing.is_empty(),
        "{fsync}: {} acknowledged records lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(
        found.len(),
        expected.len(),
        "{fsync}: records found that were never acknowledged"
    );
    for (id, (shard, seq, pk)) in &expected {
        let f = &found[id];
        assert_eq!(
            (&f.shard, &f.seq, &f.pk),
            (shard, seq, pk),
            "{fsync}: record {id:?} moved"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_records_survive_immediate_kill9_fsync_always() {
    immediate_kill_after_ack("always").await;
}

/// `interval` promises kill -9 safety (only power loss may lose the last interval):
/// with a one-minute interval, no background flush runs before the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_records_survive_immediate_kill9_fsync_interval() {
    immediate_kill_after_ack("interval:60000").await;
}

/// `never` also promises kill -9 safety (the OS page cache survives the process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_records_survive_immediate_kill9_fsync_never() {
    immediate_kill_after_ack("never").await;
}

#[test]
fn payload_codec_round_trips_and_rejects_garbage() {
    for id in [(0, 0), (7, 96), (7, 97), (3, 123_456_789)] {
        assert_eq!(decode_data(&encode_data(id)), Some(id));
    }
    let mut d = encode_data((1, 5));
    let last = d.len() - 1;
    d[last] ^= 1;
    assert_eq!(decode_data(&d), None);
    assert_eq!(decode_data(b"RFL1"), None);
    assert_eq!(seq_cmp("9", "10"), CmpOrdering::Less);
    assert_eq!(seq_cmp("21", "12"), CmpOrdering::Greater);
}

/// The verifier itself must reject lost, duplicated, moved, reordered and
/// phantom records; otherwise the crash test could not fail.
#[test]
fn verifier_rejects_broken_contents() {
    const S0: &str = "shardId-000000000000";
    let acked = |c: u64, seq: &str| Acked {
        id: (0, c),
        pk: "a".into(),
        shard: S0.into(),
        seq: seq.into(),
        via: Via::PutRecord,
        order: (c, 0),
    };
    let found = |c: u64, seq: &str| Found {
        shard: S0.into(),
        seq: seq.into(),
        pk: "a".into(),
        data: encode_data((0, c)),
    };
    let ledger_with = |seqs: [&str; 3]| {
        let mut l = Ledger::default();
        for a in [acked(0, seqs[0]), acked(1, seqs[1]), acked(2, seqs[2])] {
            l.required
                .insert(a.id, (a.shard.clone(), a.seq.clone(), a.pk.clone()));
            l.attempted.insert(a.id);
            l.acked.push(a);
        }
        l.attempted.insert((0, 3)); // sent, never acknowledged
        l
    };
    let in_flight: HashSet<RecId> = [(0, 3)].into();
    let check_with = |seqs: [&str; 3], recs: Vec<Found>, in_flight: &HashSet<RecId>| {
        let contents: BTreeMap<String, Vec<Found>> = [(S0.to_string(), recs)].into();
        std::panic::catch_unwind(|| {
            let mut l = ledger_with(seqs);
            verify(&mut l, &contents, in_flight, 1).found_total
        })
    };
    let check = |recs: Vec<Found>, in_flight: &HashSet<RecId>| {
        check_with(["10", "11", "12"], recs, in_flight)
    };

    println!("(any panic messages from this test are expected: each is a broken case the verifier must reject)");
    // Intact, and intact plus the in-flight record: accepted.
    assert_eq!(
        check(
            vec![found(0, "10"), found(1, "11"), found(2, "12")],
            &in_flight
        )
        .unwrap(),
        3
    );
    assert_eq!(
        check(
            vec![
                found(0, "10"),
                found(1, "11"),
                found(2, "12"),
                found(3, "13")
            ],
            &in_flight
        )
        .unwrap(),
        4
    );
    // Lost.
    assert!(check(vec![found(0, "10"), found(2, "12")], &in_flight).is_err());
    // Duplicated.
    assert!(check(
        vec![
            found(0, "10"),
            found(1, "11"),
            found(1, "12"),
            found(2, "13")
        ],
        &in_flight
    )
    .is_err());
    // Moved to another sequence number.
    assert!(check(
        vec![found(0, "10"), found(1, "11"), found(2, "14")],
        &in_flight
    )
    .is_err());
    // Sequence numbers not increasing.
    assert!(check(
        vec![found(0, "10"), found(2, "12"), found(1, "11")],
        &in_flight
    )
    .is_err());
    // Unacknowledged record that was not in flight at this kill.
    assert!(check(
        vec![
            found(0, "10"),
            found(1, "11"),
            found(2, "12"),
            found(3, "13")
        ],
        &HashSet::new()
    )
    .is_err());
    // The server acknowledged the later PutRecord with the lower sequence number:
    // everything is where it was acknowledged, but not in acknowledgement order.
    assert!(check_with(
        ["10", "12", "11"],
        vec![found(0, "10"), found(2, "11"), found(1, "12")],
        &in_flight
    )
    .is_err());
    // Corrupted data.
    let mut bad = found(2, "12");
    bad.data[20] ^= 0xff;
    assert!(check(vec![found(0, "10"), found(1, "11"), bad], &in_flight).is_err());
}
