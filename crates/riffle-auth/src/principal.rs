//! Principals (who a verified request acts as) and the credentials that
//! identify them. Shared by [`crate::sigv4`] (which looks credentials up)
//! and [`crate::policy`] (which evaluates what a principal may do).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

/// The kind of identity, as `aws:PrincipalType` and CloudTrail's
/// `userIdentity.type` name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// The account's root user (`arn:aws:iam::<acct>:root`).
    Root,
    /// An IAM user (`arn:aws:iam::<acct>:user/<name>`).
    User,
    /// A role session (`arn:aws:sts::<acct>:assumed-role/<role>/<session>`).
    AssumedRole,
    /// A federated user (`arn:aws:sts::<acct>:federated-user/<name>`).
    FederatedUser,
    /// An unsigned caller (open mode only).
    Anonymous,
}

impl PrincipalKind {
    /// The value of `aws:PrincipalType`.
    pub fn principal_type(self) -> &'static str {
        match self {
            PrincipalKind::Root => "Account",
            PrincipalKind::User => "User",
            PrincipalKind::AssumedRole => "AssumedRole",
            PrincipalKind::FederatedUser => "FederatedUser",
            PrincipalKind::Anonymous => "Anonymous",
        }
    }

    /// CloudTrail's `userIdentity.type`.
    pub fn cloudtrail_type(self) -> &'static str {
        match self {
            PrincipalKind::Root => "Root",
            PrincipalKind::User => "IAMUser",
            PrincipalKind::AssumedRole => "AssumedRole",
            PrincipalKind::FederatedUser => "FederatedUser",
            PrincipalKind::Anonymous => "AWSAccount",
        }
    }
}

/// A verified identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// 12-digit account id (`anonymous` for anonymous callers).
    pub account_id: String,
    /// The principal's ARN (`aws:PrincipalArn`); a role session's is its
    /// `assumed-role/…` ARN.
    pub arn: String,
    /// CloudTrail's `principalId` and `aws:userid`: `AIDA…` for a user,
    /// `AROA…:<session>` for a role session, the account id for root.
    pub principal_id: String,
    /// `aws:username` for users; the session name for role sessions.
    pub name: String,
    /// For a role session: the role's ARN (CloudTrail's `sessionIssuer`).
    pub issuer_arn: Option<String>,
    /// `aws:PrincipalTag/<key>`.
    pub tags: BTreeMap<String, String>,
}

impl Principal {
    /// The anonymous caller of open mode.
    pub fn anonymous() -> Principal {
        Principal {
            kind: PrincipalKind::Anonymous,
            account_id: "anonymous".into(),
            arn: "anonymous".into(),
            principal_id: "anonymous".into(),
            name: "anonymous".into(),
            issuer_arn: None,
            tags: BTreeMap::new(),
        }
    }
}

/// An access key: long-term (`AKIA…`, no token) or temporary (`ASIA…`, with
/// a session token and an expiry).
#[derive(Clone, Debug)]
pub struct Credential {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Temporary credentials: the `X-Amz-Security-Token` the request must carry.
    pub session_token: Option<String>,
    /// Temporary credentials stop working at this instant (`ExpiredTokenException`).
    pub expires: Option<SystemTime>,
    pub principal: Arc<Principal>,
}

/// Where the verifier finds the secret behind an access key id.
pub trait CredentialStore: Send + Sync {
    fn credential(&self, access_key_id: &str) -> Option<Credential>;
}
