//! Durable metadata: streams, their shards and lineage, tags and settings.
//!
//! The [`MetaStore`] trait is what the domain sees; [`RedbStore`] is the
//! embedded implementation. A stream is stored as one record, so every change
//! to a stream (create, reshard, tag, retention) is one atomic transaction.
//! A clustered implementation (PostgreSQL, etcd) will sit behind the same trait.

mod redb_store;
mod types;

pub use redb_store::RedbStore;
pub use types::*;

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("metadata database error: {0}")]
    Db(String),
    #[error("metadata record is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Durable metadata operations. Every call is atomic and durable on return.
pub trait MetaStore: Send + Sync {
    fn get_stream(&self, name: &str) -> Result<Option<StreamMeta>, MetaError>;
    /// All streams, ordered by name.
    fn list_streams(&self) -> Result<Vec<StreamMeta>, MetaError>;
    /// Inserts or replaces the stream record.
    fn put_stream(&self, stream: &StreamMeta) -> Result<(), MetaError>;
    /// Inserts the record only if no stream of that name exists; returns false otherwise.
    fn create_stream(&self, stream: &StreamMeta) -> Result<bool, MetaError>;
    fn delete_stream(&self, name: &str) -> Result<(), MetaError>;
    fn get_setting(&self, key: &str) -> Result<Option<String>, MetaError>;
    fn put_setting(&self, key: &str, value: &str) -> Result<(), MetaError>;
}
