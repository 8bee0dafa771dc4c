//! What authorization needs to know about a resource before a call runs:
//! its ARN, its resource policy and its tags (`aws:ResourceTag/…`). Read
//! from the same snapshots requests use; no locks held.

use super::*;
use std::collections::BTreeMap;

/// A stream's or consumer's facts for policy evaluation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessFacts {
    /// The resource policy document, if one is set.
    pub policy: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl Engine {
    /// The ARN stream `name` has (or would have) in this region and account.
    pub fn stream_arn_for(&self, name: &str) -> String {
        self.arn(name)
    }

    /// The account ARNs and messages name.
    pub fn account_id(&self) -> &str {
        &self.cfg.account_id
    }

    /// The policy and tags of an existing stream or consumer ARN; `None`
    /// when it does not exist here (the call itself then answers
    /// ResourceNotFoundException, after authorization as on AWS).
    pub fn access_facts(&self, arn: &str) -> Option<AccessFacts> {
        if arn::is_consumer_arn(arn) {
            let found = self.consumer_by_arn(arn).ok()?;
            return Some(AccessFacts {
                policy: found.consumer.resource_policy,
                tags: found.consumer.tags,
            });
        }
        let (_, stream) = self.resource(arn).ok()?;
        let view = stream.view();
        Some(AccessFacts {
            policy: view.resource_policy.clone(),
            tags: view.tags.clone(),
        })
    }
}
