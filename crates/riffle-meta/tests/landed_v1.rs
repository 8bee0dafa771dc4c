//! Migration of a `meta.redb` written by the landed format (schema version 1,
//! commit c6684f4) — see `crates/riffle/tests/fixtures/landed-v1/README.md`.
#![allow(clippy::unwrap_used)]

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use riffle_meta::{ConsumerState, MetaDb, Opened, StreamMeta, StreamState, SCHEMA_VERSION};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../riffle/tests/fixtures/landed-v1/data/meta.redb"
);

fn copy_fixture(dir: &Path) -> PathBuf {
    let path = dir.join("meta.redb");
    std::fs::copy(FIXTURE, &path).unwrap();
    path
}

type Raw = (
    BTreeMap<String, serde_json::Value>,
    BTreeMap<String, String>,
);

/// The v1 tables, read with redb directly: what the migration must keep.
fn read_v1(path: &Path) -> Raw {
    let db = Database::open(path).unwrap();
    let tx = db.begin_read().unwrap();
    let streams: TableDefinition<&str, &[u8]> = TableDefinition::new("streams");
    let settings: TableDefinition<&str, &str> = TableDefinition::new("settings");
    let mut s = BTreeMap::new();
    for row in tx.open_table(streams).unwrap().iter().unwrap() {
        let (k, v) = row.unwrap();
        s.insert(
            k.value().to_string(),
            serde_json::from_slice(v.value()).unwrap(),
        );
    }
    let mut t = BTreeMap::new();
    for row in tx.open_table(settings).unwrap().iter().unwrap() {
        let (k, v) = row.unwrap();
        t.insert(k.value().to_string(), v.value().to_string());
    }
    (s, t)
}

fn read_v2(db: &MetaDb) -> Raw {
    let streams = db
        .collection::<serde_json::Value>("kinesis", "streams")
        .unwrap()
        .list("")
        .unwrap()
        .into_iter()
        .map(|(k, v)| {
            assert_eq!(v.version, 1, "{k}");
            (k, v.doc)
        })
        .collect();
    let settings = db
        .collection::<String>("kinesis", "settings")
        .unwrap()
        .list("")
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.doc))
        .collect();
    (streams, settings)
}

#[test]
fn landed_fixture_migrates_to_current_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_fixture(dir.path());
    let v1 = read_v1(&path);
    assert_eq!(v1.0.len(), 2);
    assert_eq!(v1.1.len(), 1);

    {
        let db = MetaDb::open(&path).unwrap();
        assert_eq!(db.opened(), Opened::Migrated { from: 1 });
        assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
        // Every record, field for field (also fields this code does not know).
        assert_eq!(read_v2(&db), v1);

        let streams = db.streams();
        let all = streams.list_streams().unwrap();
        let names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["fixture-tagged", "fixture-two"]);
        for m in &all {
            let typed: StreamMeta = serde_json::from_value(v1.0[&m.name].clone()).unwrap();
            assert_eq!(&typed, m);
            assert_eq!(m.state, StreamState::Active);
        }
        let two = streams.get_stream("fixture-two").unwrap().unwrap();
        assert_eq!(two.shards.len(), 2);
        assert_eq!(two.retention_hours, 24);
        assert_eq!(two.shard_level_metrics, ["IncomingBytes"]);
        let tagged = streams.get_stream("fixture-tagged").unwrap().unwrap();
        assert_eq!(tagged.retention_hours, 48);
        assert_eq!(
            tagged.tags,
            BTreeMap::from([
                ("env".to_string(), "fixture".to_string()),
                ("team".to_string(), "meta".to_string())
            ])
        );
        assert_eq!(tagged.consumers.len(), 1);
        assert_eq!(tagged.consumers[0].name, "fixture-consumer");
        assert_eq!(tagged.consumers[0].state, ConsumerState::Active);
        let (key, value) = v1.1.iter().next().unwrap();
        assert_eq!(streams.get_setting(key).unwrap().as_ref(), Some(value));
        assert!(value.starts_with("ENABLED "), "{value}");
    }

    // Reopening is a no-op: already current, same content.
    let db = MetaDb::open(&path).unwrap();
    assert_eq!(db.opened(), Opened::Current);
    assert_eq!(read_v2(&db), v1);
}

#[test]
fn landed_fixture_through_the_old_entry_point() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_fixture(dir.path());
    let store = riffle_meta::RedbStore::open(&path).unwrap();
    assert_eq!(store.db().opened(), Opened::Migrated { from: 1 });
    let store: &dyn riffle_meta::MetaStore = &store;
    assert_eq!(store.list_streams().unwrap().len(), 2);
}
