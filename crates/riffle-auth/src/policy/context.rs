//! The request context: condition keys and their values.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

use crate::principal::{Principal, PrincipalKind};

/// Condition keys and their (possibly several) values. Keys compare
/// case-insensitively, as IAM's do; values keep their case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    keys: BTreeMap<String, Vec<String>>,
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// Sets (replaces) a key's values. An empty list is kept: it is "present
    /// but empty", which `ForAllValues` and `Null` treat like absent.
    pub fn set(&mut self, key: &str, values: Vec<String>) {
        self.keys.insert(key.to_ascii_lowercase(), values);
    }

    /// Builder form of [`Context::set`].
    pub fn with(mut self, key: &str, values: Vec<String>) -> Context {
        self.set(key, values);
        self
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.keys
            .get(&key.to_ascii_lowercase())
            .map(|v| v.as_slice())
    }

    pub fn remove(&mut self, key: &str) {
        self.keys.remove(&key.to_ascii_lowercase());
    }

    /// The global keys of a request (reference §2.3). The caller adds the
    /// service's keys (`aws:RequestTag/*`, `aws:TagKeys`, `aws:ResourceTag/*`).
    pub fn for_request(
        principal: &Principal,
        source_ip: Option<IpAddr>,
        secure_transport: bool,
        now: SystemTime,
    ) -> Context {
        let mut ctx = Context::new();
        let one = |s: &str| vec![s.to_string()];
        if let Some(ip) = source_ip {
            ctx.set("aws:SourceIp", vec![ip.to_string()]);
        }
        ctx.set(
            "aws:SecureTransport",
            one(if secure_transport { "true" } else { "false" }),
        );
        let at: DateTime<Utc> = now.into();
        ctx.set(
            "aws:CurrentTime",
            vec![at.format("%Y-%m-%dT%H:%M:%SZ").to_string()],
        );
        let epoch = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        ctx.set("aws:EpochTime", vec![epoch.to_string()]);
        ctx.set("aws:PrincipalAccount", one(&principal.account_id));
        ctx.set("aws:PrincipalType", one(principal.kind.principal_type()));
        ctx.set("aws:userid", one(&principal.principal_id));
        match principal.kind {
            PrincipalKind::Anonymous => {}
            // A role session's PrincipalArn is the role's, not the session's.
            PrincipalKind::AssumedRole => {
                let arn = principal.issuer_arn.as_deref().unwrap_or(&principal.arn);
                ctx.set("aws:PrincipalArn", one(arn));
            }
            _ => ctx.set("aws:PrincipalArn", one(&principal.arn)),
        }
        if principal.kind == PrincipalKind::User {
            ctx.set("aws:username", one(&principal.name));
        }
        for (k, v) in &principal.tags {
            ctx.set(&format!("aws:PrincipalTag/{k}"), one(v));
        }
        ctx
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn global_keys_for_a_role_session() {
        let p = Principal {
            kind: PrincipalKind::AssumedRole,
            account_id: "111122223333".into(),
            arn: "arn:aws:sts::111122223333:assumed-role/app/s1".into(),
            principal_id: "AROAEXAMPLE:s1".into(),
            name: "s1".into(),
            issuer_arn: Some("arn:aws:iam::111122223333:role/app".into()),
            tags: [("Team".to_string(), "red".to_string())].into(),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ctx = Context::for_request(&p, Some("10.1.2.3".parse().unwrap()), true, now);
        let get = |k: &str| ctx.get(k).map(|v| v.join(","));
        assert_eq!(get("aws:sourceip").as_deref(), Some("10.1.2.3"));
        assert_eq!(get("aws:SecureTransport").as_deref(), Some("true"));
        assert_eq!(
            get("aws:CurrentTime").as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(get("aws:EpochTime").as_deref(), Some("1700000000"));
        assert_eq!(get("aws:PrincipalType").as_deref(), Some("AssumedRole"));
        assert_eq!(get("aws:userid").as_deref(), Some("AROAEXAMPLE:s1"));
        assert_eq!(
            get("aws:PrincipalArn").as_deref(),
            Some("arn:aws:iam::111122223333:role/app")
        );
        assert_eq!(get("aws:username"), None);
        assert_eq!(get("aws:principaltag/team").as_deref(), Some("red"));

        let anon = Context::for_request(&Principal::anonymous(), None, false, now);
        assert_eq!(anon.get("aws:PrincipalArn"), None);
        assert_eq!(anon.get("aws:SourceIp"), None);
        assert_eq!(
            anon.get("aws:PrincipalAccount"),
            Some(&["anonymous".to_string()][..])
        );
    }
}
