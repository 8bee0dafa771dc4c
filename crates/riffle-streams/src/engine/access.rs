//! What authorization needs to know about a resource before a call runs:
//! its ARN, its resource policy, its tags (`aws:ResourceTag/…`) and the
//! customer KMS keys its records are sealed with. Read from the same
//! snapshots requests use; no locks held.

use super::*;
use std::collections::BTreeMap;

/// A stream's or consumer's facts for policy evaluation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessFacts {
    /// The resource policy document, if one is set.
    pub policy: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// The customer master key new records are sealed with (writers need
    /// `kms:GenerateDataKey` on it); `None` when the stream is not
    /// encrypted or uses the AWS-managed `alias/aws/kinesis`, which needs no
    /// permission.
    pub write_key: Option<String>,
    /// Every customer master key the stream's records were ever sealed with
    /// (readers need `kms:Decrypt` on them), AWS-managed key excluded.
    pub read_keys: Vec<String>,
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
            let (write_key, read_keys) = self.customer_keys(&found.stream.view());
            return Some(AccessFacts {
                policy: found.consumer.resource_policy,
                tags: found.consumer.tags,
                write_key,
                read_keys,
            });
        }
        let (_, stream) = self.resource(arn).ok()?;
        let view = stream.view();
        let (write_key, read_keys) = self.customer_keys(&view);
        Some(AccessFacts {
            policy: view.resource_policy.clone(),
            tags: view.tags.clone(),
            write_key,
            read_keys,
        })
    }

    /// The ARN of a KMS key in any of its four forms, if the keyring has it.
    pub fn kms_key_arn(&self, key_id: &str) -> Option<String> {
        self.keyring.describe(key_id).ok().map(|k| k.arn)
    }

    /// (write key, read keys) of a stream, customer keys only.
    fn customer_keys(&self, view: &StreamView) -> (Option<String>, Vec<String>) {
        if view.data_keys.is_empty() {
            return (None, Vec::new());
        }
        let managed = self.kms_key_arn("alias/aws/kinesis");
        let customer = |arn: &String| Some(arn) != managed.as_ref();
        let write_key = view
            .encryption_key
            .as_ref()
            .and_then(|_| view.data_keys.last())
            .map(|k| k.key_arn.clone())
            .filter(customer);
        let mut read_keys: Vec<String> = view
            .data_keys
            .iter()
            .map(|k| k.key_arn.clone())
            .filter(customer)
            .collect();
        read_keys.sort();
        read_keys.dedup();
        (write_key, read_keys)
    }
}
