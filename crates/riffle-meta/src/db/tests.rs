#![allow(clippy::unwrap_used)]

use super::*;
use crate::conformance::{self, sample_stream, TestDoc};
use crate::RedbStore;
use redb::ReadableTableMetadata;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A factory of fresh databases in one temporary directory.
struct Fresh {
    dir: tempfile::TempDir,
    n: AtomicUsize,
}

impl Fresh {
    fn new() -> Fresh {
        Fresh {
            dir: tempfile::tempdir().unwrap(),
            n: AtomicUsize::new(0),
        }
    }
    fn path(&self) -> PathBuf {
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        self.dir.path().join(format!("{n}.redb"))
    }
}

#[test]
fn conformance_collection_on_redb() {
    let f = Fresh::new();
    conformance::collection(&|| {
        MetaDb::open(&f.path())
            .unwrap()
            .collection::<TestDoc>("test", "docs")
            .unwrap()
    });
}

#[test]
fn conformance_collection_model_on_redb() {
    let f = Fresh::new();
    for seed in [1, 2, 0x5eed] {
        conformance::collection_model(
            &|| {
                MetaDb::open(&f.path())
                    .unwrap()
                    .collection::<TestDoc>("test", "model")
                    .unwrap()
            },
            seed,
            150,
        );
    }
}

#[test]
fn conformance_stream_store_on_redb() {
    let f = Fresh::new();
    conformance::stream_store(&|| MetaDb::open(&f.path()).unwrap().streams());
    conformance::stream_store(&|| Arc::new(RedbStore::open(&f.path()).unwrap()));
}

fn table_names(path: &Path) -> Vec<String> {
    let db = Database::open(path).unwrap();
    let tx = db.begin_read().unwrap();
    let mut names: Vec<String> = tx
        .list_tables()
        .unwrap()
        .map(|t| t.name().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn new_database_is_current_and_reopens_without_writing() {
    let f = Fresh::new();
    let path = f.path();
    {
        let db = MetaDb::open(&path).unwrap();
        assert_eq!(db.opened(), Opened::Created);
        assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
        db.streams().create_stream(&sample_stream("s")).unwrap();
        db.streams().put_setting("k", "v").unwrap();
    }
    assert_eq!(
        table_names(&path),
        [
            "kinesis.settings",
            "kinesis.streams",
            "riffle_meta",
            "streams"
        ]
    );
    let db = MetaDb::open(&path).unwrap();
    assert_eq!(db.opened(), Opened::Current);
    assert_eq!(
        db.streams().get_stream("s").unwrap(),
        Some(sample_stream("s"))
    );
    assert_eq!(db.streams().get_setting("k").unwrap().as_deref(), Some("v"));
}

/// Writes a database in the first release's format (what `RedbStore` wrote
/// before schema versions), with raw records.
fn write_v1(path: &Path, streams: &[(&str, &[u8])], settings: &[(&str, &str)]) {
    let db = Database::create(path).unwrap();
    let tx = db.begin_write().unwrap();
    {
        let mut t = tx.open_table(V1_STREAMS).unwrap();
        for (k, v) in streams {
            t.insert(*k, *v).unwrap();
        }
        let mut t = tx.open_table(V1_SETTINGS).unwrap();
        for (k, v) in settings {
            t.insert(*k, *v).unwrap();
        }
    }
    tx.commit().unwrap();
}

#[test]
fn migrates_v1_in_one_step() {
    let f = Fresh::new();
    let path = f.path();
    let a = serde_json::to_vec(&sample_stream("a")).unwrap();
    let mut b = sample_stream("b");
    b.retention_hours = 48;
    let b_json = serde_json::to_vec(&b).unwrap();
    write_v1(
        &path,
        &[("b", &b_json), ("a", &a)],
        &[("billing", "ENABLED 1 0 2"), ("x", "")],
    );
    {
        let db = MetaDb::open(&path).unwrap();
        assert_eq!(db.opened(), Opened::Migrated { from: 1 });
        assert_eq!(db.schema_version().unwrap(), 2);
        let s = db.streams();
        assert_eq!(s.list_streams().unwrap(), [sample_stream("a"), b.clone()]);
        assert_eq!(
            s.get_setting("billing").unwrap().as_deref(),
            Some("ENABLED 1 0 2")
        );
        assert_eq!(s.get_setting("x").unwrap().as_deref(), Some(""));
        // Migrated documents start at version 1.
        let c = db.collection::<StreamMeta>("kinesis", "streams").unwrap();
        assert_eq!(c.get("b").unwrap().map(|v| v.version), Some(1));
    }
    assert_eq!(
        table_names(&path),
        [
            "kinesis.settings",
            "kinesis.streams",
            "riffle_meta",
            "streams"
        ]
    );
    let db = MetaDb::open(&path).unwrap();
    assert_eq!(db.opened(), Opened::Current);
    assert_eq!(db.streams().list_streams().unwrap().len(), 2);
}

#[test]
fn empty_v1_database_migrates() {
    let f = Fresh::new();
    let path = f.path();
    write_v1(&path, &[], &[]);
    let db = MetaDb::open(&path).unwrap();
    assert_eq!(db.opened(), Opened::Migrated { from: 1 });
    assert!(db.streams().list_streams().unwrap().is_empty());
}

#[test]
fn failed_migration_leaves_v1_untouched() {
    let f = Fresh::new();
    let path = f.path();
    let a = serde_json::to_vec(&sample_stream("a")).unwrap();
    write_v1(&path, &[("a", &a), ("bad", b"{not json")], &[("k", "v")]);
    let err = MetaDb::open(&path).err().unwrap();
    assert!(
        matches!(&err, MetaError::Corrupt { table, key, .. } if table == "streams" && key == "bad"),
        "{err}"
    );
    assert_eq!(table_names(&path), ["settings", "streams"]);
    // Nothing committed: the same records are still there.
    let db = Database::open(&path).unwrap();
    let tx = db.begin_read().unwrap();
    assert_eq!(tx.open_table(V1_STREAMS).unwrap().len().unwrap(), 2);
    assert_eq!(tx.open_table(V1_SETTINGS).unwrap().len().unwrap(), 1);
}

fn write_version(path: &Path, version: u64) {
    let db = Database::create(path).unwrap();
    let tx = db.begin_write().unwrap();
    tx.open_table(VERSION_TABLE)
        .unwrap()
        .insert(VERSION_KEY, version)
        .unwrap();
    tx.open_table(DocTable::new("kinesis.streams")).unwrap();
    tx.commit().unwrap();
}

#[test]
fn newer_version_is_refused_and_not_changed() {
    let f = Fresh::new();
    let path = f.path();
    write_version(&path, SCHEMA_VERSION + 1);
    let err = MetaDb::open(&path).err().unwrap();
    assert!(
        matches!(err, MetaError::TooNew { found, supported, .. } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("upgrade Riffle"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    // Nothing was written: no table created, the version kept.
    assert_eq!(table_names(&path), ["kinesis.streams", "riffle_meta"]);
    // (write_version writes no guard.)
    {
        let db = Database::open(&path).unwrap();
        let tx = db.begin_read().unwrap();
        let t = tx.open_table(VERSION_TABLE).unwrap();
        assert_eq!(
            t.get(VERSION_KEY).unwrap().map(|v| v.value()),
            Some(SCHEMA_VERSION + 1)
        );
    }
    assert!(matches!(MetaDb::open(&path), Err(MetaError::TooNew { .. })));
}

#[test]
fn unknown_layouts_are_refused() {
    let f = Fresh::new();
    let path = f.path();
    {
        let db = Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(DocTable::new("someone.else")).unwrap();
        tx.commit().unwrap();
    }
    assert!(matches!(
        MetaDb::open(&path),
        Err(MetaError::UnknownLayout { .. })
    ));

    let path = f.path();
    {
        let db = Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(VERSION_TABLE).unwrap();
        tx.commit().unwrap();
    }
    assert!(matches!(
        MetaDb::open(&path),
        Err(MetaError::UnknownLayout { .. })
    ));
}

#[test]
fn service_collections_share_the_file_and_need_no_migration() {
    let f = Fresh::new();
    let path = f.path();
    {
        let db = MetaDb::open(&path).unwrap();
        let c = db
            .collection::<TestDoc>("firehose", "delivery_streams")
            .unwrap();
        let doc = TestDoc {
            owner: "o".into(),
            counter: 1,
            tags: vec![],
        };
        assert!(c.create("d", &doc).unwrap());
        db.streams().create_stream(&sample_stream("s")).unwrap();
    }
    let db = MetaDb::open(&path).unwrap();
    assert_eq!(db.opened(), Opened::Current);
    assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
    let c = db
        .collection::<TestDoc>("firehose", "delivery_streams")
        .unwrap();
    assert_eq!(c.get("d").unwrap().map(|v| v.doc.counter), Some(1));
    assert_eq!(db.streams().list_streams().unwrap().len(), 1);
    for (service, name) in [
        ("", "x"),
        ("x", ""),
        ("Kinesis", "x"),
        ("a.b", "c"),
        ("x", "y-z"),
    ] {
        assert!(matches!(
            db.collection::<TestDoc>(service, name),
            Err(MetaError::InvalidName(_))
        ));
    }
}

#[test]
fn a_corrupt_document_names_its_table_and_key() {
    let f = Fresh::new();
    let path = f.path();
    {
        let db = MetaDb::open(&path).unwrap();
        db.collection::<String>("kinesis", "streams")
            .unwrap()
            .put("s", &"not a stream".to_string())
            .unwrap();
    }
    let db = MetaDb::open(&path).unwrap();
    let err = db.streams().list_streams().err().unwrap();
    assert!(
        matches!(&err, MetaError::Corrupt { table, key, .. } if table == "kinesis.streams" && key == "s"),
        "{err}"
    );
}

#[test]
fn records_written_by_an_older_riffle_after_migration_are_not_ignored() {
    let f = Fresh::new();
    let path = f.path();
    let a = serde_json::to_vec(&sample_stream("a")).unwrap();
    write_v1(&path, &[("a", &a)], &[]);
    drop(MetaDb::open(&path).unwrap());
    // What the first release does on this file: recreate its tables (empty)...
    write_v1(&path, &[], &[]);
    assert_eq!(MetaDb::open(&path).unwrap().opened(), Opened::Current);
    // ...and write a stream there.
    let b = serde_json::to_vec(&sample_stream("b")).unwrap();
    write_v1(&path, &[("b", &b)], &[]);
    let err = MetaDb::open(&path).err().unwrap();
    assert!(
        matches!(&err, MetaError::UnknownLayout { detail, .. } if detail.contains("1 records")),
        "{err}"
    );
}

/// What the first release does on start: `RedbStore::open` creates its
/// tables, then the engine lists `streams` and decodes every record.
fn start_first_release(path: &Path) -> Result<Vec<StreamMeta>, String> {
    let db = Database::create(path).unwrap();
    let tx = db.begin_write().unwrap();
    tx.open_table(V1_STREAMS).unwrap();
    tx.open_table(V1_SETTINGS).unwrap();
    tx.commit().unwrap();
    let tx = db.begin_read().unwrap();
    let table = tx.open_table(V1_STREAMS).unwrap();
    let mut out = Vec::new();
    for row in table.iter().unwrap() {
        let (_, v) = row.unwrap();
        out.push(serde_json::from_slice(v.value()).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

#[test]
fn the_first_release_refuses_to_start_on_a_version_2_file() {
    let f = Fresh::new();
    for migrated in [false, true] {
        let path = f.path();
        if migrated {
            let a = serde_json::to_vec(&sample_stream("a")).unwrap();
            write_v1(&path, &[("a", &a)], &[("k", "v")]);
        }
        drop(MetaDb::open(&path).unwrap());
        let err = start_first_release(&path).err().unwrap();
        assert!(err.contains("upgrade Riffle"), "{err}");
        // The guard is not a record written by that release.
        let db = MetaDb::open(&path).unwrap();
        assert_eq!(db.opened(), Opened::Current);
        assert_eq!(
            db.streams().list_streams().unwrap().len(),
            usize::from(migrated)
        );
    }
}
