//! One redb database for the metadata of every service: its schema version,
//! the migrations from older versions, and the stores handed out over it.

use crate::kinesis::{self, CollectionStreamStore, StreamStore};
use crate::redb_collection::{begin_write, decode, table_name, DocTable, RedbCollection};
use crate::{Collection, MetaError, StreamMeta};
use redb::{
    Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle, WriteTransaction,
};
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The schema this code reads and writes.
///
/// - 1: the first release: tables `streams` (name → JSON [`StreamMeta`]) and
///   `settings` (key → string), no version table.
/// - 2: every table is a collection `<service>.<name>` of key → (version,
///   JSON): `kinesis.streams`, `kinesis.settings`; the version is stored in
///   `riffle_meta`; `streams` keeps one guard record that stops a version-1
///   Riffle (see `write_downgrade_guard`).
///
/// Adding a table for a new service does not change the version (an absent
/// table reads as empty); renaming or reshaping an existing one does, with a
/// migration step in `migrate`.
pub const SCHEMA_VERSION: u64 = 2;

/// `schema_version` → u64. Its name and shape never change, so any version
/// of Riffle can tell which version a file is.
const VERSION_TABLE: TableDefinition<&str, u64> = TableDefinition::new("riffle_meta");
const VERSION_KEY: &str = "schema_version";

/// The tables of the current schema, created with the database.
const TABLES: &[(&str, &str)] = &[
    (kinesis::SERVICE, kinesis::STREAMS),
    (kinesis::SERVICE, kinesis::SETTINGS),
];

/// What [`MetaDb::open`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    /// A new, empty database, written at [`SCHEMA_VERSION`].
    Created,
    /// Already at [`SCHEMA_VERSION`]; nothing was written.
    Current,
    /// Migrated, in one transaction, from this older version.
    Migrated { from: u64 },
}

/// The metadata database (`meta.redb` in the data directory), shared by
/// every service store. Open it once per process: redb refuses a second
/// open of the same file.
pub struct MetaDb {
    db: Arc<Database>,
    path: PathBuf,
    opened: Opened,
}

impl MetaDb {
    /// The file name of the database in the data directory.
    pub const FILE_NAME: &'static str = "meta.redb";

    /// Opens or creates the database at `path` and brings it to
    /// [`SCHEMA_VERSION`]. A database written by a newer Riffle is refused
    /// before anything is written to it.
    pub fn open(path: &Path) -> Result<MetaDb, MetaError> {
        let db = Database::create(path).map_err(|source| MetaError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_database(db, path)
    }

    /// Opens or creates the database on any redb storage backend (for
    /// example [`crate::sim::SimBackend`], whose unsynced writes a test can
    /// lose as a power loss would), with the same version checks and
    /// migrations as [`open`](Self::open). `path` only names the database in
    /// messages and [`path`](Self::path); nothing is created there.
    pub fn open_with_backend(
        backend: impl redb::StorageBackend,
        path: &Path,
    ) -> Result<MetaDb, MetaError> {
        let db = Database::builder()
            .create_with_backend(backend)
            .map_err(|source| MetaError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        Self::from_database(db, path)
    }

    /// Brings an opened database to [`SCHEMA_VERSION`] (see [`open`](Self::open)).
    fn from_database(db: Database, path: &Path) -> Result<MetaDb, MetaError> {
        let opened = match stored_version(&db, path)? {
            None => {
                let tx = begin_write(&db)?;
                create_tables(&tx)?;
                set_version(&tx)?;
                tx.commit()?;
                tracing::info!(path = %path.display(), version = SCHEMA_VERSION, "created metadata database");
                Opened::Created
            }
            Some(v) if v == SCHEMA_VERSION => Opened::Current,
            Some(v) if v > SCHEMA_VERSION => {
                return Err(MetaError::TooNew {
                    path: path.to_path_buf(),
                    found: v,
                    supported: SCHEMA_VERSION,
                })
            }
            Some(v) => {
                migrate(&db, path, v)?;
                Opened::Migrated { from: v }
            }
        };
        Ok(MetaDb {
            db: Arc::new(db),
            path: path.to_path_buf(),
            opened,
        })
    }

    /// Opens `meta.redb` in a data directory (which must exist).
    pub fn open_in(data_dir: &Path) -> Result<MetaDb, MetaError> {
        Self::open(&data_dir.join(Self::FILE_NAME))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether opening created, found current, or migrated the database.
    pub fn opened(&self) -> Opened {
        self.opened
    }

    /// The version stored in the file (read back, not assumed).
    pub fn schema_version(&self) -> Result<u64, MetaError> {
        stored_version(&self.db, &self.path)?.ok_or_else(|| MetaError::UnknownLayout {
            path: self.path.clone(),
            detail: "no tables".into(),
        })
    }

    /// The Kinesis Data Streams store.
    pub fn streams(&self) -> Arc<dyn StreamStore> {
        Arc::new(CollectionStreamStore::new(
            self.redb_collection::<StreamMeta>(kinesis::SERVICE, kinesis::STREAMS),
            self.redb_collection::<String>(kinesis::SERVICE, kinesis::SETTINGS),
        ))
    }

    /// The collection `<service>.<name>` (created empty if absent): what a
    /// service builds its store trait on.
    pub fn collection<T>(
        &self,
        service: &str,
        name: &str,
    ) -> Result<Arc<dyn Collection<T>>, MetaError>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        let table = table_name(service, name)?;
        let exists = {
            let tx = self.db.begin_read()?;
            let found = tx.list_tables()?.any(|t| t.name() == table);
            found
        };
        if !exists {
            let tx = begin_write(&self.db)?;
            tx.open_table(DocTable::new(&table))?;
            tx.commit()?;
        }
        Ok(Arc::new(RedbCollection::<T>::new(self.db.clone(), table)))
    }

    /// For tables of the current schema, which open/migration created.
    fn redb_collection<T>(&self, service: &str, name: &str) -> Arc<dyn Collection<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        Arc::new(RedbCollection::<T>::new(
            self.db.clone(),
            format!("{service}.{name}"),
        ))
    }
}

/// The schema version of the file: `None` for a new, empty file; 1 for the
/// landed format (its tables, no version table).
fn stored_version(db: &Database, path: &Path) -> Result<Option<u64>, MetaError> {
    let tx = db.begin_read()?;
    let names: Vec<String> = tx.list_tables()?.map(|t| t.name().to_string()).collect();
    if names.iter().any(|n| n == VERSION_TABLE.name()) {
        let table = tx.open_table(VERSION_TABLE)?;
        let version = table.get(VERSION_KEY)?.map(|v| v.value());
        return match version {
            Some(v) => {
                refuse_downgrade_writes(&tx, &names, path)?;
                Ok(Some(v))
            }
            None => Err(MetaError::UnknownLayout {
                path: path.to_path_buf(),
                detail: format!("table `{}` has no `{VERSION_KEY}`", VERSION_TABLE.name()),
            }),
        };
    }
    if names.is_empty() {
        return Ok(None);
    }
    if names
        .iter()
        .all(|n| n == V1_STREAMS.name() || n == V1_SETTINGS.name())
    {
        return Ok(Some(1));
    }
    Err(MetaError::UnknownLayout {
        path: path.to_path_buf(),
        detail: format!("tables {names:?} but no schema version"),
    })
}

/// A Riffle from before schema versions, started on a migrated file,
/// recreates `streams`/`settings` and writes there. Ignoring those records
/// would drop the streams (and the engine would delete their data), so
/// refuse instead.
fn refuse_downgrade_writes(
    tx: &redb::ReadTransaction,
    names: &[String],
    path: &Path,
) -> Result<(), MetaError> {
    use redb::ReadableTableMetadata;
    let mut rows = 0;
    if names.iter().any(|n| n == V1_STREAMS.name()) {
        let table = tx.open_table(V1_STREAMS)?;
        rows += table.len()?;
        if table.get(DOWNGRADE_GUARD_KEY)?.is_some() {
            rows -= 1;
        }
    }
    if names.iter().any(|n| n == V1_SETTINGS.name()) {
        rows += tx.open_table(V1_SETTINGS)?.len()?;
    }
    if rows == 0 {
        return Ok(());
    }
    Err(MetaError::UnknownLayout {
        path: path.to_path_buf(),
        detail: format!(
            "the old tables `streams`/`settings` hold {rows} records written after this file was migrated, by a Riffle older than schema version 2; refusing to open it so that they are not lost (restore a backup of the data directory, or recreate those streams)"
        ),
    })
}

fn create_tables(tx: &WriteTransaction) -> Result<(), MetaError> {
    for (service, name) in TABLES {
        tx.open_table(DocTable::new(&table_name(service, name)?))?;
    }
    write_downgrade_guard(tx)
}

/// The key of the one record a version-2 file keeps in the first release's
/// `streams` table. Stream names have no spaces, so it is never a stream.
const DOWNGRADE_GUARD_KEY: &str = "riffle meta schema guard";

/// A Riffle from before schema versions, started on this file, reads
/// `streams` first: without this record it would see no streams, and
/// delete the data directories of all of them as leftovers of deleted
/// streams. The record is a JSON string, not a stream, so it fails to start
/// instead, and serde quotes this text in its error.
fn write_downgrade_guard(tx: &WriteTransaction) -> Result<(), MetaError> {
    let text = format!(
        "this data directory was written by a newer Riffle (metadata schema version {SCHEMA_VERSION}); upgrade Riffle to open it"
    );
    let json = serde_json::to_vec(&text).map_err(MetaError::Encode)?;
    tx.open_table(V1_STREAMS)?
        .insert(DOWNGRADE_GUARD_KEY, json.as_slice())?;
    Ok(())
}

fn set_version(tx: &WriteTransaction) -> Result<(), MetaError> {
    tx.open_table(VERSION_TABLE)?
        .insert(VERSION_KEY, SCHEMA_VERSION)?;
    Ok(())
}

/// Brings a database from version `from` to [`SCHEMA_VERSION`] in one
/// transaction: every step or none of them is committed.
fn migrate(db: &Database, path: &Path, from: u64) -> Result<(), MetaError> {
    let tx = begin_write(db)?;
    for version in from..SCHEMA_VERSION {
        match version {
            1 => v1_to_v2(&tx)?,
            _ => {
                return Err(MetaError::UnknownLayout {
                    path: path.to_path_buf(),
                    detail: format!("no migration from schema version {version}"),
                })
            }
        }
    }
    create_tables(&tx)?;
    set_version(&tx)?;
    tx.commit()?;
    tracing::info!(path = %path.display(), from, to = SCHEMA_VERSION, "migrated metadata database");
    Ok(())
}

const V1_STREAMS: TableDefinition<&str, &[u8]> = TableDefinition::new("streams");
const V1_SETTINGS: TableDefinition<&str, &str> = TableDefinition::new("settings");

/// Version 1 → 2: `streams` and `settings` move to `kinesis.streams` and
/// `kinesis.settings`, every record at document version 1. Stream records
/// are checked to decode and copied byte for byte.
fn v1_to_v2(tx: &WriteTransaction) -> Result<(), MetaError> {
    let streams_table = table_name(kinesis::SERVICE, kinesis::STREAMS)?;
    let settings_table = table_name(kinesis::SERVICE, kinesis::SETTINGS)?;
    let mut streams = Vec::new();
    {
        let old = tx.open_table(V1_STREAMS)?;
        let mut new = tx.open_table(DocTable::new(&streams_table))?;
        for row in old.iter()? {
            let (k, v) = row?;
            let _: StreamMeta = decode(V1_STREAMS.name(), k.value(), v.value())?;
            new.insert(k.value(), (1, v.value()))?;
            streams.push(k.value().to_string());
        }
    }
    let mut settings = Vec::new();
    {
        let old = tx.open_table(V1_SETTINGS)?;
        let mut new = tx.open_table(DocTable::new(&settings_table))?;
        for row in old.iter()? {
            let (k, v) = row?;
            let json = serde_json::to_vec(v.value()).map_err(MetaError::Encode)?;
            new.insert(k.value(), (1, json.as_slice()))?;
            settings.push(k.value().to_string());
        }
    }
    tx.delete_table(V1_STREAMS)?;
    tx.delete_table(V1_SETTINGS)?;
    tracing::info!(
        ?streams,
        ?settings,
        "metadata 1 → 2: moved `streams` to `{streams_table}` and `settings` to `{settings_table}`"
    );
    Ok(())
}

#[cfg(test)]
mod tests;
