//! [`Collection`] on a redb table `<service>.<name>`: key → (version, JSON).

use crate::{Collection, MetaError, Versioned};
use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition, TableError};
use serde::{de::DeserializeOwned, Serialize};
use std::marker::PhantomData;
use std::sync::Arc;

/// The row type of every collection table: the document's version and its JSON.
pub(crate) type DocTable<'a> = TableDefinition<'a, &'static str, (u64, &'static [u8])>;
type DocRows<'t> = Table<'t, &'static str, (u64, &'static [u8])>;

/// Whether `service.name` is a valid collection table name: two non-empty
/// parts of `[a-z0-9_]`, so it never collides with the unversioned
/// `riffle_meta` table or with the landed format's `streams` and `settings`.
pub(crate) fn table_name(service: &str, name: &str) -> Result<String, MetaError> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if ok(service) && ok(name) {
        Ok(format!("{service}.{name}"))
    } else {
        Err(MetaError::InvalidName(format!("{service}.{name}")))
    }
}

/// A write transaction that is fsynced on commit. That is redb's default;
/// it is set explicitly because "durable when the call returns" is the
/// contract of every store.
pub(crate) fn begin_write(db: &Database) -> Result<redb::WriteTransaction, MetaError> {
    let mut tx = db.begin_write()?;
    tx.set_durability(redb::Durability::Immediate)?;
    Ok(tx)
}

pub(crate) fn decode<T: DeserializeOwned>(
    table: &str,
    key: &str,
    bytes: &[u8],
) -> Result<T, MetaError> {
    serde_json::from_slice(bytes).map_err(|source| MetaError::Corrupt {
        table: table.to_string(),
        key: key.to_string(),
        source,
    })
}

/// A typed collection stored in one table of the shared redb database.
pub struct RedbCollection<T> {
    db: Arc<Database>,
    table: String,
    _doc: PhantomData<fn() -> T>,
}

impl<T> RedbCollection<T> {
    /// The table must already exist (`MetaDb` creates it).
    pub(crate) fn new(db: Arc<Database>, table: String) -> Self {
        RedbCollection {
            db,
            table,
            _doc: PhantomData,
        }
    }

    fn def(&self) -> DocTable<'_> {
        TableDefinition::new(&self.table)
    }

    /// Runs `f` on the table in one write transaction; commits (fsynced) only
    /// if `f` says something changed.
    fn write<R>(
        &self,
        f: impl FnOnce(&mut DocRows<'_>) -> Result<(R, bool), MetaError>,
    ) -> Result<R, MetaError> {
        let tx = begin_write(&self.db)?;
        let (out, changed) = {
            let mut table = tx.open_table(self.def()).map_err(redb::Error::from)?;
            f(&mut table)?
        };
        if changed {
            tx.commit().map_err(redb::Error::from)?;
        } else {
            tx.abort().map_err(redb::Error::from)?;
        }
        Ok(out)
    }

    fn current_version(table: &DocRows<'_>, key: &str) -> Result<Option<u64>, MetaError> {
        Ok(table
            .get(key)
            .map_err(redb::Error::from)?
            .map(|g| g.value().0))
    }
}

impl<T: Serialize + DeserializeOwned> Collection<T> for RedbCollection<T> {
    fn get(&self, key: &str) -> Result<Option<Versioned<T>>, MetaError> {
        let tx = self.db.begin_read().map_err(redb::Error::from)?;
        let table = match tx.open_table(self.def()) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(redb::Error::from(e).into()),
        };
        let Some(row) = table.get(key).map_err(redb::Error::from)? else {
            return Ok(None);
        };
        let (version, bytes) = row.value();
        Ok(Some(Versioned {
            version,
            doc: decode(&self.table, key, bytes)?,
        }))
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned<T>)>, MetaError> {
        let tx = self.db.begin_read().map_err(redb::Error::from)?;
        let table = match tx.open_table(self.def()) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(vec![]),
            Err(e) => return Err(redb::Error::from(e).into()),
        };
        let mut out = Vec::new();
        for row in table.range::<&str>(prefix..).map_err(redb::Error::from)? {
            let (k, v) = row.map_err(redb::Error::from)?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            let (version, bytes) = v.value();
            out.push((
                key.to_string(),
                Versioned {
                    version,
                    doc: decode(&self.table, key, bytes)?,
                },
            ));
        }
        Ok(out)
    }

    fn create(&self, key: &str, doc: &T) -> Result<bool, MetaError> {
        let bytes = serde_json::to_vec(doc).map_err(MetaError::Encode)?;
        self.write(|table| {
            if Self::current_version(table, key)?.is_some() {
                return Ok((false, false));
            }
            table
                .insert(key, (1, bytes.as_slice()))
                .map_err(redb::Error::from)?;
            Ok((true, true))
        })
    }

    fn put(&self, key: &str, doc: &T) -> Result<u64, MetaError> {
        let bytes = serde_json::to_vec(doc).map_err(MetaError::Encode)?;
        self.write(|table| {
            let version = Self::current_version(table, key)?.map_or(1, |v| v + 1);
            table
                .insert(key, (version, bytes.as_slice()))
                .map_err(redb::Error::from)?;
            Ok((version, true))
        })
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: u64,
        doc: &T,
    ) -> Result<Option<u64>, MetaError> {
        let bytes = serde_json::to_vec(doc).map_err(MetaError::Encode)?;
        self.write(|table| {
            if Self::current_version(table, key)? != Some(expected) {
                return Ok((None, false));
            }
            let version = expected + 1;
            table
                .insert(key, (version, bytes.as_slice()))
                .map_err(redb::Error::from)?;
            Ok((Some(version), true))
        })
    }

    fn delete(&self, key: &str) -> Result<bool, MetaError> {
        self.write(|table| {
            let existed = table.remove(key).map_err(redb::Error::from)?.is_some();
            Ok((existed, existed))
        })
    }

    fn compare_and_delete(&self, key: &str, expected: u64) -> Result<bool, MetaError> {
        self.write(|table| {
            if Self::current_version(table, key)? != Some(expected) {
                return Ok((false, false));
            }
            table.remove(key).map_err(redb::Error::from)?;
            Ok((true, true))
        })
    }
}
