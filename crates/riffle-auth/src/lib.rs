//! Who is calling and may they: SigV4 verification ([`sigv4`]), the
//! principals and credentials an operator configures ([`config`]), and IAM
//! policy evaluation ([`policy`]).
//!
//! Service-neutral and HTTP-free: the edge hands in the request's parts and
//! the service's signing name, IAM action and resource ARNs; nothing here
//! knows Kinesis, Firehose or axum.

pub mod config;
pub mod policy;
pub mod principal;
pub mod sigv4;

pub use principal::{Credential, CredentialStore, Principal, PrincipalKind};
