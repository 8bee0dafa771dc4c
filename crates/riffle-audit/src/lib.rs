//! The audit trail: a CloudTrail-shaped record of every API call, allowed or
//! denied, for every service.
//!
//! * [`event`]: the record ([`AuditEvent`]) with CloudTrail's member names,
//!   and [`request_parameters`] to turn a request body into CloudTrail's
//!   `requestParameters`.
//! * [`log`]: the writer ([`AuditLog`]). Management events are fsynced before
//!   [`AuditLog::record`] returns (group-committed); data events within
//!   [`AuditConfig::data_commit_window`]. Events go to a journal that is
//!   rotated into CloudTrail's `AWSLogs/…/*.json.gz` layout.
//! * [`query`]: reading finished files and the live journal back, filtered.
//!
//! Service-neutral and HTTP-free: the edge builds the event; nothing here
//! knows Kinesis or axum. See docs/security-audit.md.

pub mod error;
pub mod event;
mod layout;
pub mod log;
pub mod query;

pub use error::AuditError;
pub use event::{
    request_parameters, AuditEvent, EventCategory, Resource, SessionAttributes, SessionContext,
    SessionIssuer, TlsDetails, UserIdentity,
};
pub use log::{AuditConfig, AuditLog, AuditStats};
pub use query::{query, ErrorFilter, Filter};
