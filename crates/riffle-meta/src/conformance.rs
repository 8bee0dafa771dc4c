//! The behaviour every store implementation must have, as generic test
//! functions: the redb implementation runs them in this crate's tests, and a
//! PostgreSQL or etcd implementation calls the same functions (feature
//! `conformance`). They panic on the first deviation.
//!
//! Each takes a factory returning a new, empty store on every call.

use crate::{Collection, MetaError, ShardMeta, StreamMeta, StreamState, StreamStore, Versioned};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::sync::Arc;

/// The document type [`collection`] stores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestDoc {
    pub owner: String,
    pub counter: u64,
    pub tags: Vec<String>,
}

fn doc(owner: &str, counter: u64) -> TestDoc {
    TestDoc {
        owner: owner.into(),
        counter,
        tags: vec!["ü\"\\\n".into(), String::new()],
    }
}

#[track_caller]
fn ok<T>(r: Result<T, MetaError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("store call failed: {e}"),
    }
}

#[track_caller]
fn get<T: Debug>(c: &dyn Collection<T>, key: &str) -> Option<Versioned<T>> {
    ok(c.get(key))
}

#[track_caller]
fn keys<T>(c: &dyn Collection<T>, prefix: &str) -> Vec<String> {
    ok(c.list(prefix)).into_iter().map(|(k, _)| k).collect()
}

/// Every [`Collection`] contract: versions, create-if-absent, put,
/// compare-and-swap, delete, ordering and prefixes, concurrent CAS.
pub fn collection(fresh: &dyn Fn() -> Arc<dyn Collection<TestDoc>>) {
    let c = fresh();
    let c = c.as_ref();
    assert_eq!(get(c, "a"), None);
    assert!(keys(c, "").is_empty());

    // create: version 1, only if absent.
    assert!(ok(c.create("a", &doc("x", 0))));
    assert!(!ok(c.create("a", &doc("y", 9))));
    assert_eq!(
        get(c, "a"),
        Some(Versioned {
            version: 1,
            doc: doc("x", 0)
        })
    );

    // put: version + 1, or 1 when new.
    assert_eq!(ok(c.put("a", &doc("x", 1))), 2);
    assert_eq!(ok(c.put("n", &doc("n", 0))), 1);
    assert_eq!(
        get(c, "a"),
        Some(Versioned {
            version: 2,
            doc: doc("x", 1)
        })
    );

    // compare-and-swap.
    assert_eq!(ok(c.compare_and_swap("a", 1, &doc("stale", 0))), None);
    assert_eq!(get(c, "a").map(|v| v.doc), Some(doc("x", 1)));
    assert_eq!(ok(c.compare_and_swap("a", 2, &doc("x", 2))), Some(3));
    assert_eq!(
        get(c, "a"),
        Some(Versioned {
            version: 3,
            doc: doc("x", 2)
        })
    );
    assert_eq!(ok(c.compare_and_swap("missing", 0, &doc("m", 0))), None);
    assert_eq!(ok(c.compare_and_swap("missing", 1, &doc("m", 0))), None);
    assert_eq!(get(c, "missing"), None);

    // delete and compare-and-delete.
    assert!(!ok(c.compare_and_delete("a", 2)));
    assert!(get(c, "a").is_some());
    assert!(ok(c.compare_and_delete("a", 3)));
    assert_eq!(get(c, "a"), None);
    assert!(!ok(c.compare_and_delete("a", 3)));
    assert!(ok(c.delete("n")));
    assert!(!ok(c.delete("n")));
    // A re-created document starts again at version 1.
    assert!(ok(c.create("a", &doc("again", 0))));
    assert_eq!(get(c, "a").map(|v| v.version), Some(1));

    // Bytewise key order; prefixes.
    for k in ["é", "b0", "b/2", "B", "b/1", "b", "a/"] {
        ok(c.put(k, &doc(k, 0)));
    }
    assert_eq!(keys(c, ""), ["B", "a", "a/", "b", "b/1", "b/2", "b0", "é"]);
    assert_eq!(keys(c, "b/"), ["b/1", "b/2"]);
    assert_eq!(keys(c, "b"), ["b", "b/1", "b/2", "b0"]);
    assert!(keys(c, "zz").is_empty());
    let listed = ok(c.list("é"));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1.doc, doc("é", 0));

    // Stores are independent.
    let other = fresh();
    assert!(keys(other.as_ref(), "").is_empty());

    concurrent_compare_and_swap(fresh());
}

/// Threads incrementing one counter with read + compare-and-swap lose no
/// update: each swap is atomic against every other.
fn concurrent_compare_and_swap(c: Arc<dyn Collection<TestDoc>>) {
    const THREADS: u64 = 4;
    const EACH: u64 = 10;
    assert!(ok(c.create("counter", &doc("none", 0))));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut done = 0;
                while done < EACH {
                    let Some(cur) = ok(c.get("counter")) else {
                        panic!("counter vanished");
                    };
                    let next = doc(&format!("t{t}"), cur.doc.counter + 1);
                    if ok(c.compare_and_swap("counter", cur.version, &next)).is_some() {
                        done += 1;
                    }
                }
            })
        })
        .collect();
    for h in handles {
        if h.join().is_err() {
            panic!("a CAS thread panicked");
        }
    }
    let end = get(c.as_ref(), "counter");
    assert_eq!(end.as_ref().map(|v| v.doc.counter), Some(THREADS * EACH));
    assert_eq!(end.map(|v| v.version), Some(THREADS * EACH + 1));
}

/// A pseudo-random sequence of `steps` operations (from `seed`), each
/// checked against an in-memory model of the collection.
pub fn collection_model(fresh: &dyn Fn() -> Arc<dyn Collection<TestDoc>>, seed: u64, steps: usize) {
    use std::collections::BTreeMap;
    const KEYS: [&str; 6] = ["a", "a/1", "a/2", "ab", "b", "é"];
    const PREFIXES: [&str; 5] = ["", "a", "a/", "b", "z"];
    let c = fresh();
    let c = c.as_ref();
    let mut model: BTreeMap<String, Versioned<TestDoc>> = BTreeMap::new();
    let mut state = seed | 1;
    let mut next = move |n: usize| {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for step in 0..steps {
        let key = KEYS[next(KEYS.len())];
        let d = doc(key, step as u64);
        let current = model.get(key).map(|v| v.version);
        // A version that is right about half the time.
        let guess = match (current, next(3)) {
            (Some(v), 0 | 1) => v,
            (Some(v), _) => v + 1,
            (None, n) => n as u64,
        };
        let at = format!("seed {seed} step {step}");
        match next(7) {
            0 => assert_eq!(get(c, key), model.get(key).cloned(), "{at}: get {key}"),
            1 => {
                let prefix = PREFIXES[next(PREFIXES.len())];
                let want: Vec<(String, Versioned<TestDoc>)> = model
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(ok(c.list(prefix)), want, "{at}: list {prefix:?}");
            }
            2 => {
                let created = current.is_none();
                assert_eq!(ok(c.create(key, &d)), created, "{at}: create {key}");
                if created {
                    model.insert(key.into(), Versioned { version: 1, doc: d });
                }
            }
            3 => {
                let version = current.map_or(1, |v| v + 1);
                assert_eq!(ok(c.put(key, &d)), version, "{at}: put {key}");
                model.insert(key.into(), Versioned { version, doc: d });
            }
            4 => {
                let swapped = (current == Some(guess)).then_some(guess + 1);
                assert_eq!(
                    ok(c.compare_and_swap(key, guess, &d)),
                    swapped,
                    "{at}: compare_and_swap {key} at {guess}"
                );
                if let Some(version) = swapped {
                    model.insert(key.into(), Versioned { version, doc: d });
                }
            }
            5 => {
                assert_eq!(ok(c.delete(key)), current.is_some(), "{at}: delete {key}");
                model.remove(key);
            }
            _ => {
                let deleted = current == Some(guess);
                assert_eq!(
                    ok(c.compare_and_delete(key, guess)),
                    deleted,
                    "{at}: compare_and_delete {key} at {guess}"
                );
                if deleted {
                    model.remove(key);
                }
            }
        }
    }
    let want: Vec<(String, Versioned<TestDoc>)> = model.into_iter().collect();
    assert_eq!(ok(c.list("")), want, "seed {seed}: final contents");
}

/// A stream record with one shard, as the engine writes it.
pub fn sample_stream(name: &str) -> StreamMeta {
    StreamMeta {
        name: name.into(),
        uid: format!("{name}-1"),
        created_ms: 1_700_000_000_000,
        state: StreamState::Active,
        until_ms: None,
        retention_hours: 24,
        mode: "PROVISIONED".into(),
        max_record_size_kib: 1024,
        shards: vec![ShardMeta {
            index: 0,
            starting_hash_key: "0".into(),
            ending_hash_key: "340282366920938463463374607431768211455".into(),
            created_ms: 1_700_000_000_000,
            parent: None,
            adjacent_parent: None,
            closed_ms: None,
            end_offset: None,
            seq_after_parents: false,
        }],
        next_shard_index: 1,
        tags: Default::default(),
        encryption_key: None,
        data_keys: Vec::new(),
        shard_level_metrics: vec![],
        warm_throughput_mibps: None,
        consumers: vec![],
        resource_policy: None,
        pending_reshard: None,
        shard_count_updates: vec![],
        mode_updates: vec![],
    }
}

/// Every [`StreamStore`] contract.
pub fn stream_store(fresh: &dyn Fn() -> Arc<dyn StreamStore>) {
    let s = fresh();
    assert!(ok(s.list_streams()).is_empty());
    assert_eq!(ok(s.get_stream("a")), None);

    assert!(ok(s.create_stream(&sample_stream("b"))));
    assert!(ok(s.create_stream(&sample_stream("a"))));
    assert!(ok(s.create_stream(&sample_stream("B"))));
    let mut dup = sample_stream("a");
    dup.uid = "other".into();
    assert!(!ok(s.create_stream(&dup)));
    assert_eq!(ok(s.get_stream("a")), Some(sample_stream("a")));
    let names: Vec<String> = ok(s.list_streams()).into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["B", "a", "b"]);

    // put replaces the whole record, nested parts included.
    let mut changed = sample_stream("a");
    changed.retention_hours = 48;
    changed.tags.insert("team".into(), "meta".into());
    changed.consumers.push(crate::ConsumerMeta {
        name: "c".into(),
        created_ms: 5,
        state: crate::ConsumerState::Active,
        until_ms: None,
        tags: Default::default(),
        resource_policy: None,
    });
    changed.pending_reshard = Some(crate::Reshard::Merge {
        shard: 0,
        adjacent: 1,
    });
    ok(s.put_stream(&changed));
    assert_eq!(ok(s.get_stream("a")), Some(changed));
    ok(s.put_stream(&sample_stream("new")));
    assert_eq!(ok(s.get_stream("new")), Some(sample_stream("new")));

    ok(s.delete_stream("a"));
    assert_eq!(ok(s.get_stream("a")), None);
    ok(s.delete_stream("a"));
    let names: Vec<String> = ok(s.list_streams()).into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["B", "b", "new"]);
    assert!(ok(s.create_stream(&sample_stream("a"))));

    assert_eq!(ok(s.get_setting("k")), None);
    ok(s.put_setting("k", "v 1 2"));
    ok(s.put_setting("other", ""));
    assert_eq!(ok(s.get_setting("k")).as_deref(), Some("v 1 2"));
    ok(s.put_setting("k", "w"));
    assert_eq!(ok(s.get_setting("k")).as_deref(), Some("w"));
    assert_eq!(ok(s.get_setting("other")).as_deref(), Some(""));

    let other = fresh();
    assert!(ok(other.list_streams()).is_empty());
    assert_eq!(ok(other.get_setting("k")), None);
}
