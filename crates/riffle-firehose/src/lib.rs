//! Firehose delivery streams (`Firehose_20150804`) as a domain: delivery
//! stream metadata and lifecycle, the durable buffer every accepted record
//! goes to first, the delivery loop that batches it by the buffering hints,
//! processes it and writes it to its destination, and replay.
//!
//! ```text
//! PutRecord(Batch) ─┐                                ┌─ process (Lambda contract, de-aggregation, delimiter)
//! Kinesis source ───┴─> buffer (riffle-log, fsynced) ─┤
//!                                                     └─ destination: S3-compatible / local dir, HTTP endpoint
//!                                                        failures → S3 error prefixes
//! ```
//!
//! Module map: `validate` (AWS's rules beyond the schema), `describe`
//! (configuration → DescribeDeliveryStream's description), `destination`
//! (`s3`, `http`, the object store), `process`, `source` (a Riffle stream).

pub mod convert;
pub mod describe;
pub mod destination;
pub mod engine;
pub mod error;
pub mod meta;
pub mod metrics;
pub mod objects;
pub mod partition;
pub mod process;
pub mod source;
pub mod validate;

pub use engine::{Firehose, FirehoseConfig};
pub use error::FirehoseError;
