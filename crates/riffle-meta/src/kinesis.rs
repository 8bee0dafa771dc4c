//! The Kinesis Data Streams store: stream records (shards, tags, consumers
//! and pending reshards all live inside the record, so any change to a
//! stream is one write) and account settings.

use crate::{Collection, MetaError, StreamMeta};
use std::sync::Arc;

/// Service namespace of the Kinesis tables.
pub const SERVICE: &str = "kinesis";
/// Table `kinesis.streams`: stream name → [`StreamMeta`].
pub const STREAMS: &str = "streams";
/// Table `kinesis.settings`: setting key → string value.
pub const SETTINGS: &str = "settings";

/// Durable Kinesis metadata. Every call is atomic and durable on return.
pub trait StreamStore: Send + Sync {
    fn get_stream(&self, name: &str) -> Result<Option<StreamMeta>, MetaError>;
    /// All streams, ordered by name.
    fn list_streams(&self) -> Result<Vec<StreamMeta>, MetaError>;
    /// Inserts or replaces the stream record.
    fn put_stream(&self, stream: &StreamMeta) -> Result<(), MetaError>;
    /// Inserts the record only if no stream of that name exists; returns false otherwise.
    fn create_stream(&self, stream: &StreamMeta) -> Result<bool, MetaError>;
    /// Removes the stream record (a no-op if there is none).
    fn delete_stream(&self, name: &str) -> Result<(), MetaError>;
    fn get_setting(&self, key: &str) -> Result<Option<String>, MetaError>;
    fn put_setting(&self, key: &str, value: &str) -> Result<(), MetaError>;
}

/// [`StreamStore`] on any two [`Collection`]s, so a backend (redb today,
/// PostgreSQL or etcd later) only has to implement `Collection`.
pub struct CollectionStreamStore {
    streams: Arc<dyn Collection<StreamMeta>>,
    settings: Arc<dyn Collection<String>>,
}

impl CollectionStreamStore {
    pub fn new(
        streams: Arc<dyn Collection<StreamMeta>>,
        settings: Arc<dyn Collection<String>>,
    ) -> Self {
        CollectionStreamStore { streams, settings }
    }
}

impl StreamStore for CollectionStreamStore {
    fn get_stream(&self, name: &str) -> Result<Option<StreamMeta>, MetaError> {
        Ok(self.streams.get(name)?.map(|v| v.doc))
    }

    fn list_streams(&self) -> Result<Vec<StreamMeta>, MetaError> {
        Ok(self
            .streams
            .list("")?
            .into_iter()
            .map(|(_, v)| v.doc)
            .collect())
    }

    fn put_stream(&self, stream: &StreamMeta) -> Result<(), MetaError> {
        self.streams.put(&stream.name, stream).map(|_| ())
    }

    fn create_stream(&self, stream: &StreamMeta) -> Result<bool, MetaError> {
        self.streams.create(&stream.name, stream)
    }

    fn delete_stream(&self, name: &str) -> Result<(), MetaError> {
        self.streams.delete(name).map(|_| ())
    }

    fn get_setting(&self, key: &str) -> Result<Option<String>, MetaError> {
        Ok(self.settings.get(key)?.map(|v| v.doc))
    }

    fn put_setting(&self, key: &str, value: &str) -> Result<(), MetaError> {
        self.settings.put(key, &value.to_string()).map(|_| ())
    }
}
