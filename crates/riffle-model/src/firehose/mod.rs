//! Firehose API shapes (`Firehose_20150804`), generated from botocore's model
//! by `scripts/gen_firehose.py`: every structure with the wire's member names.
//! Blobs and timestamps use the crate's [`Blob`](crate::Blob) and
//! [`Timestamp`](crate::Timestamp) (JSON: base64 text, epoch seconds).

mod shapes;

pub use shapes::*;

pub type Blob = crate::Blob;
pub type EpochSeconds = crate::Timestamp;
