//! Durable metadata of every Riffle service, behind one store trait per
//! service, embedded on one redb database.
//!
//! # Layout
//!
//! One file, `meta.redb` in the data directory, opened once by [`MetaDb`].
//! Every table is a [`Collection`] named `<service>.<name>`: string key →
//! (document version, JSON document), ordered by key.
//!
//! | table              | key          | document                      |
//! |--------------------|--------------|-------------------------------|
//! | `riffle_meta`      | `schema_version` | u64 (not a collection)    |
//! | `kinesis.streams`  | stream name  | [`StreamMeta`] (shards, tags, consumers, pending reshard) |
//! | `kinesis.settings` | setting key  | string                        |
//! | `streams`          | (one guard record) | stops a Riffle from before schema versions |
//!
//! `streams` is the first release's table. That release, started on a
//! newer file, would find no streams and delete their data directories; the
//! guard record makes it exit with "upgrade Riffle" instead.
//!
//! Every change is one redb write transaction, fsynced before it returns
//! (`Durability::Immediate`, set on each write). A stream is one document, so
//! any change to a stream is atomic. A transaction covers one document of
//! one collection: state that must change together belongs in one document
//! (there is no multi-collection transaction yet).
//!
//! # Schema version and migrations
//!
//! [`SCHEMA_VERSION`] is 2. [`MetaDb::open`] reads the version in
//! `riffle_meta` (a file with only `streams`/`settings` and no version table
//! is version 1, the first release's format), then:
//! - current: opens it without writing;
//! - older: runs every migration step up to the current version in one
//!   transaction and logs what moved (1 → 2 moves `streams` and `settings` to
//!   `kinesis.streams` and `kinesis.settings`);
//! - newer: refuses with [`MetaError::TooNew`], telling the user to upgrade
//!   Riffle, and leaves the file untouched.
//!
//! Renaming or reshaping a table bumps the version and adds a step to
//! `db::migrate`, with a test from a file written by the previous release.
//!
//! # Adding a service's store
//!
//! A service (Firehose delivery streams, Analytics applications, DynamoDB
//! lease tables and items) adds, in its own module here:
//! 1. its document types (serde; new fields `#[serde(default)]`);
//! 2. a store trait with the operations its domain needs, plus an
//!    implementation over one [`Collection`] per table, like
//!    [`CollectionStreamStore`] — [`Collection::compare_and_swap`] gives
//!    conditional writes (lease ownership), [`Collection::list`] with a
//!    prefix gives per-parent listing (items `"<table>/<key>"`);
//! 3. a `MetaDb` method handing it out, built from
//!    [`MetaDb::collection`]`("firehose", "delivery_streams")`;
//! 4. tests through the `conformance` module (feature `conformance`).
//!
//! A new table needs no migration. A clustered backend (PostgreSQL, etcd)
//! implements [`Collection`] (one row per key with a version column), and
//! every service store runs on it unchanged; it must pass the same
//! `conformance` suite.
//!
//! Firehose's `VersionId` and Analytics' `ApplicationVersionId` map onto
//! document versions: an update that names the current version is a
//! [`Collection::compare_and_swap`]. Those stores are not written yet; each
//! is a trait plus a few lines over its collection.

mod collection;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod db;
mod kinesis;
mod redb_collection;
mod redb_store;
pub mod sim;
mod types;

pub use collection::{Collection, Versioned};
pub use db::{MetaDb, Opened, SCHEMA_VERSION};
pub use kinesis::{CollectionStreamStore, StreamStore};
pub use redb_collection::RedbCollection;
pub use redb_store::RedbStore;
pub use types::*;

/// The name the Kinesis store had before there were stores for other services.
pub use kinesis::StreamStore as MetaStore;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("cannot open metadata database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: redb::DatabaseError,
    },
    #[error("metadata database error: {0}")]
    Db(#[from] redb::Error),
    #[error("metadata record {table}/{key} is corrupt: {source}")]
    Corrupt {
        table: String,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot encode metadata record: {0}")]
    Encode(#[source] serde_json::Error),
    #[error(
        "metadata database {} has schema version {found}, but this Riffle ({}) only knows versions up to {supported}: it was written by a newer Riffle; upgrade Riffle to open it (its metadata was not changed)",
        path.display(),
        env!("CARGO_PKG_VERSION")
    )]
    TooNew {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    #[error("metadata database {} has an unknown layout: {detail}", path.display())]
    UnknownLayout { path: PathBuf, detail: String },
    #[error("invalid metadata table name {0:?}: expected <service>.<name>, each of [a-z0-9_]")]
    InvalidName(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for MetaError {
            fn from(e: $t) -> Self {
                MetaError::Db(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);
