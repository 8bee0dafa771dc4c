//! Record format conversion (`DataFormatConversionConfiguration`): JSON
//! records, read with the OpenX or Hive JSON SerDe's rules, written as one
//! Parquet or ORC file per object. There is no Glue here: the
//! `SchemaConfiguration`'s `DatabaseName`/`TableName` resolve to table
//! definitions in a [`Catalog`] loaded from Riffle's configuration
//! (`--firehose-tables FILE`).

use crate::destination::{FailedRecord, OutRecord};
use crate::FirehoseError;
use bytes::Bytes;
use riffle_model::firehose as api;
use std::path::Path;

/// Table definitions `SchemaConfiguration` can name.
#[derive(Clone, Debug, Default)]
pub struct Catalog {}

impl Catalog {
    /// Reads table definitions from `path`.
    pub fn load(_path: &Path) -> Result<Self, String> {
        Ok(Self::default())
    }
}

/// A configured conversion: schema, input SerDe, output format.
#[derive(Debug)]
pub struct Converter {}

/// One object's worth of converted records.
#[derive(Debug, Default)]
pub struct Converted {
    /// The Parquet or ORC file; `None` when no record converted.
    pub body: Option<Bytes>,
    /// Records in `body`.
    pub rows: u64,
    /// Records that did not convert, for `format-conversion-failed/`.
    pub failed: Vec<FailedRecord>,
}

impl Converter {
    /// `None` when conversion is absent or disabled; `Err` (a message for
    /// `InvalidArgumentException`) for what Riffle cannot convert.
    pub fn new(
        cfg: Option<&api::DataFormatConversionConfiguration>,
        _catalog: &Catalog,
    ) -> Result<Option<Self>, String> {
        match cfg {
            Some(c) if c.enabled != Some(false) => {
                Err("DataFormatConversionConfiguration is not supported by Riffle yet".into())
            }
            _ => Ok(None),
        }
    }

    /// Converts one object's records.
    pub fn convert(&self, _records: &[OutRecord]) -> Result<Converted, FirehoseError> {
        Err(FirehoseError::Internal(
            "conversion is not built yet".into(),
        ))
    }
}
