//! Kinesis Data Streams API shapes (`Kinesis_20131202`), the blob and timestamp
//! newtypes that encode differently per wire format, and [`ApiError`], the
//! `(__type, message, HTTP status)` triple every layer's error maps to at the edge.
//!
//! Inputs are plain structs filled by `riffle-protocol` after type checks and
//! validation; outputs derive `Serialize` and are encoded by `riffle-protocol`
//! as JSON or CBOR. No I/O lives here.

mod error;
pub mod firehose;
mod ops;
mod record_data;
mod shapes;
mod shapes_more;
mod values;

pub use error::ApiError;
pub use ops::Operation;
pub use record_data::RecordData;
pub use shapes::*;
pub use shapes_more::*;
pub use values::{Blob, Timestamp};
