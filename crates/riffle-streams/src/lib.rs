//! The Kinesis Data Streams domain: streams and shards over per-shard segment
//! logs, partition-key hashing, sequence numbers, shard iterators, retention.
//!
//! It takes typed inputs from `riffle-model` and returns typed outputs or a
//! [`StreamsError`]; it knows nothing about HTTP or wire formats.
//!
//! Other services in the process (Firehose, Analytics) use [`api`]: append
//! and read by stream identity, follow shards across resharding, wait for
//! appends. [`arn`] builds and parses Kinesis stream and consumer ARNs.

mod clock;
mod encryption;
mod engine;
mod error;
pub mod hashing;
pub mod iterator;
pub mod metrics;
pub mod seal;
pub mod seqnum;
mod shard;
mod throttle;

pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{api, arn};
pub use engine::{AccessFacts, Engine, EngineConfig, EngineStats, Subscription};
pub use error::StreamsError;
pub use riffle_log::{LogConfig, SyncPolicy};
