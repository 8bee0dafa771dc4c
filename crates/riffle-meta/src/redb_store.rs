//! The landed entry point, kept so `riffle-streams` compiles unchanged.

use crate::{MetaDb, MetaError, StreamMeta, StreamStore};
use std::path::Path;
use std::sync::Arc;

/// The Kinesis store of a [`MetaDb`] it opens itself. Prefer opening a
/// [`MetaDb`] and taking [`MetaDb::streams`]: the database can be opened only
/// once per process, and other services' stores need the same one.
pub struct RedbStore {
    db: MetaDb,
    streams: Arc<dyn StreamStore>,
}

impl RedbStore {
    /// Opens (creating or migrating) the metadata database at `path`.
    pub fn open(path: &Path) -> Result<Self, MetaError> {
        let db = MetaDb::open(path)?;
        let streams = db.streams();
        Ok(RedbStore { db, streams })
    }

    pub fn db(&self) -> &MetaDb {
        &self.db
    }
}

impl StreamStore for RedbStore {
    fn get_stream(&self, name: &str) -> Result<Option<StreamMeta>, MetaError> {
        self.streams.get_stream(name)
    }
    fn list_streams(&self) -> Result<Vec<StreamMeta>, MetaError> {
        self.streams.list_streams()
    }
    fn put_stream(&self, stream: &StreamMeta) -> Result<(), MetaError> {
        self.streams.put_stream(stream)
    }
    fn create_stream(&self, stream: &StreamMeta) -> Result<bool, MetaError> {
        self.streams.create_stream(stream)
    }
    fn delete_stream(&self, name: &str) -> Result<(), MetaError> {
        self.streams.delete_stream(name)
    }
    fn get_setting(&self, key: &str) -> Result<Option<String>, MetaError> {
        self.streams.get_setting(key)
    }
    fn put_setting(&self, key: &str, value: &str) -> Result<(), MetaError> {
        self.streams.put_setting(key, value)
    }
}
