//! The building block of every service store: a named collection of JSON
//! documents keyed by string, each with a version for optimistic concurrency.

/// A stored document and its version. The version is 1 when the document is
/// created and grows by one with each write, so a writer can detect that
/// someone else changed the document since it read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned<T> {
    pub version: u64,
    pub doc: T,
}

/// A namespaced, ordered collection of documents (one per key). Each call is
/// one atomic transaction, durable when it returns.
///
/// Keys are ordered bytewise (UTF-8), as redb orders `&str`; a SQL
/// implementation must use a binary collation (`COLLATE "C"`) to match.
pub trait Collection<T>: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<Versioned<T>>, crate::MetaError>;
    /// Every document whose key starts with `prefix` (`""` for all), ordered by key.
    fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned<T>)>, crate::MetaError>;
    /// Inserts the document at version 1 unless the key exists; returns whether it did.
    fn create(&self, key: &str, doc: &T) -> Result<bool, crate::MetaError>;
    /// Inserts or replaces the document; returns its new version.
    fn put(&self, key: &str, doc: &T) -> Result<u64, crate::MetaError>;
    /// Replaces the document only if its current version is `expected`;
    /// returns the new version, or `None` (and changes nothing) if the
    /// document is absent or at another version.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: u64,
        doc: &T,
    ) -> Result<Option<u64>, crate::MetaError>;
    /// Removes the document; returns whether it existed.
    fn delete(&self, key: &str) -> Result<bool, crate::MetaError>;
    /// Removes the document only if its current version is `expected`; returns whether it did.
    fn compare_and_delete(&self, key: &str, expected: u64) -> Result<bool, crate::MetaError>;
}
