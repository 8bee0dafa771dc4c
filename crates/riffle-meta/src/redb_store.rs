use crate::{MetaError, MetaStore, StreamMeta};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;

const STREAMS: TableDefinition<&str, &[u8]> = TableDefinition::new("streams");
const SETTINGS: TableDefinition<&str, &str> = TableDefinition::new("settings");

/// Embedded metadata on redb: copy-on-write B-trees, every commit fsynced.
pub struct RedbStore {
    db: Database,
}

fn db_err(e: impl std::fmt::Display) -> MetaError {
    MetaError::Db(e.to_string())
}

impl RedbStore {
    pub fn open(path: &Path) -> Result<Self, MetaError> {
        let db = Database::create(path).map_err(db_err)?;
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(STREAMS).map_err(db_err)?;
        tx.open_table(SETTINGS).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(RedbStore { db })
    }
}

impl MetaStore for RedbStore {
    fn get_stream(&self, name: &str) -> Result<Option<StreamMeta>, MetaError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let table = tx.open_table(STREAMS).map_err(db_err)?;
        match table.get(name).map_err(db_err)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
            None => Ok(None),
        }
    }

    fn list_streams(&self) -> Result<Vec<StreamMeta>, MetaError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let table = tx.open_table(STREAMS).map_err(db_err)?;
        let mut out = Vec::new();
        for item in table.iter().map_err(db_err)? {
            let (_, v) = item.map_err(db_err)?;
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }

    fn put_stream(&self, stream: &StreamMeta) -> Result<(), MetaError> {
        let bytes = serde_json::to_vec(stream)?;
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut table = tx.open_table(STREAMS).map_err(db_err)?;
            table
                .insert(stream.name.as_str(), bytes.as_slice())
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    fn create_stream(&self, stream: &StreamMeta) -> Result<bool, MetaError> {
        let bytes = serde_json::to_vec(stream)?;
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut table = tx.open_table(STREAMS).map_err(db_err)?;
            if table.get(stream.name.as_str()).map_err(db_err)?.is_some() {
                return Ok(false);
            }
            table
                .insert(stream.name.as_str(), bytes.as_slice())
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(true)
    }

    fn delete_stream(&self, name: &str) -> Result<(), MetaError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut table = tx.open_table(STREAMS).map_err(db_err)?;
            table.remove(name).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    fn get_setting(&self, key: &str) -> Result<Option<String>, MetaError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let table = tx.open_table(SETTINGS).map_err(db_err)?;
        Ok(table
            .get(key)
            .map_err(db_err)?
            .map(|v| v.value().to_string()))
    }

    fn put_setting(&self, key: &str, value: &str) -> Result<(), MetaError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut table = tx.open_table(SETTINGS).map_err(db_err)?;
            table.insert(key, value).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{ShardMeta, StreamState};

    fn sample(name: &str) -> StreamMeta {
        StreamMeta {
            name: name.into(),
            uid: format!("{name}-1"),
            created_ms: 1,
            state: StreamState::Active,
            until_ms: None,
            retention_hours: 24,
            mode: "PROVISIONED".into(),
            max_record_size_kib: 1024,
            shards: vec![ShardMeta {
                index: 0,
                starting_hash_key: "0".into(),
                ending_hash_key: "340282366920938463463374607431768211455".into(),
                created_ms: 1,
                parent: None,
                adjacent_parent: None,
                closed_ms: None,
                end_offset: None,
            }],
            next_shard_index: 1,
            tags: Default::default(),
            encryption_key: None,
            shard_level_metrics: vec![],
            warm_throughput_mibps: None,
            consumers: vec![],
            resource_policy: None,
            pending_reshard: None,
            shard_count_updates: vec![],
            mode_updates: vec![],
        }
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        {
            let store = RedbStore::open(&path).unwrap();
            assert!(store.create_stream(&sample("b")).unwrap());
            assert!(store.create_stream(&sample("a")).unwrap());
            assert!(!store.create_stream(&sample("a")).unwrap());
            store.put_setting("k", "v").unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        let names: Vec<_> = store
            .list_streams()
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(store.get_stream("a").unwrap(), Some(sample("a")));
        assert_eq!(store.get_setting("k").unwrap().as_deref(), Some("v"));
        store.delete_stream("a").unwrap();
        assert_eq!(store.get_stream("a").unwrap(), None);
    }
}
