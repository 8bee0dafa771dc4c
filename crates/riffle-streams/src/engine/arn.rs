//! Kinesis ARNs, built and parsed in this one place:
//! streams `arn:aws:kinesis:{region}:{account}:stream/{name}` and consumers
//! `{stream ARN}/consumer/{name}:{creation epoch seconds}`. The pure functions
//! are public (`riffle_streams::arn`) so the edge and other services agree with
//! the engine; the `Engine` methods add this node's region and account and
//! AWS's error wording.

use super::{Engine, LiveStream, StreamsError};
use riffle_model::StreamRef;
use std::sync::Arc;

/// A stream ARN's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamArnParts {
    pub region: String,
    pub account: String,
    pub name: String,
}

/// A consumer ARN's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerArnParts {
    pub region: String,
    pub account: String,
    pub stream: String,
    pub consumer: String,
    pub created_secs: i64,
}

/// `arn:aws:kinesis:{region}:{account}:stream/{name}`.
pub fn stream_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:kinesis:{region}:{account}:stream/{name}")
}

/// `{stream_arn}/consumer/{name}:{created_ms in whole seconds}`, AWS's format.
pub fn consumer_arn(stream_arn: &str, consumer: &str, created_ms: i64) -> String {
    format!(
        "{stream_arn}/consumer/{consumer}:{}",
        created_ms.div_euclid(1000)
    )
}

/// `(region, account, resource)` of an `arn:{partition}:kinesis:...` ARN.
fn kinesis_parts(arn: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "kinesis", region, account, resource] => Some((region, account, resource)),
        _ => None,
    }
}

/// The parts of a stream ARN; `None` for anything else, consumer ARNs included.
pub fn parse_stream_arn(arn: &str) -> Option<StreamArnParts> {
    let (region, account, resource) = kinesis_parts(arn)?;
    let name = resource.strip_prefix("stream/")?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    Some(StreamArnParts {
        region: region.to_string(),
        account: account.to_string(),
        name: name.to_string(),
    })
}

/// The parts of a consumer ARN; `None` unless it is well formed.
pub fn parse_consumer_arn(arn: &str) -> Option<ConsumerArnParts> {
    let (region, account, resource) = kinesis_parts(arn)?;
    let rest = resource.strip_prefix("stream/")?;
    let (stream, rest) = rest.split_once("/consumer/")?;
    let (consumer, secs) = rest.rsplit_once(':')?;
    let ok_name = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    };
    if !ok_name(stream) || !ok_name(consumer) || secs.is_empty() {
        return None;
    }
    if !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(ConsumerArnParts {
        region: region.to_string(),
        account: account.to_string(),
        stream: stream.to_string(),
        consumer: consumer.to_string(),
        created_secs: secs.parse().ok()?,
    })
}

/// True for ARNs that name a consumer rather than a stream (how TagResource
/// and the resource-policy calls pick their target, even for malformed ARNs).
pub fn is_consumer_arn(arn: &str) -> bool {
    arn.contains("/consumer/")
}

impl Engine {
    /// This node's ARN for stream `name`.
    pub(super) fn arn(&self, name: &str) -> String {
        stream_arn(&self.cfg.region, &self.cfg.account_id, name)
    }

    /// This node's ARN for a consumer of stream `stream`.
    pub(super) fn consumer_arn(&self, stream: &str, c: &riffle_meta::ConsumerMeta) -> String {
        consumer_arn(&self.arn(stream), &c.name, c.created_ms)
    }

    /// Resolves `StreamName` / `StreamARN` to a stream name.
    pub(super) fn resolve_name(&self, r: &StreamRef) -> Result<String, StreamsError> {
        match (&r.name, &r.arn) {
            (Some(name), None) => Ok(name.clone()),
            (name, Some(arn)) => {
                let from_arn = self.name_from_arn(arn)?;
                if let Some(n) = name {
                    if *n != from_arn {
                        return Err(StreamsError::InvalidArgument(format!(
                            "StreamARN {arn} does not match StreamName {n}."
                        )));
                    }
                }
                Ok(from_arn)
            }
            (None, None) => Err(StreamsError::InvalidArgument(
                "Either StreamName or StreamARN should be provided.".into(),
            )),
        }
    }

    /// The stream name in a stream ARN of this region and account; another
    /// region's or account's stream does not exist here.
    pub(super) fn name_from_arn(&self, arn: &str) -> Result<String, StreamsError> {
        let p = parse_stream_arn(arn)
            .ok_or_else(|| StreamsError::InvalidArgument(format!("Invalid StreamARN {arn}.")))?;
        if p.region != self.cfg.region || p.account != self.cfg.account_id {
            return Err(StreamsError::ResourceNotFound(format!(
                "Stream {} under account {} not found.",
                p.name, p.account
            )));
        }
        Ok(p.name)
    }

    /// The stream a `ResourceARN` (TagResource, resource policies) names.
    pub(super) fn resource(&self, arn: &str) -> Result<(String, Arc<LiveStream>), StreamsError> {
        let name = self.name_from_arn(arn).map_err(|e| match e {
            StreamsError::InvalidArgument(_) => StreamsError::InvalidArgument(format!(
                "Invalid ResourceARN {arn}: only stream ARNs of this region and account are supported."
            )),
            e => e,
        })?;
        let stream = self.lookup(&name)?;
        Ok((name, stream))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stream_arns_round_trip() {
        let arn = stream_arn("eu-west-1", "123456789012", "s.1");
        assert_eq!(arn, "arn:aws:kinesis:eu-west-1:123456789012:stream/s.1");
        let p = parse_stream_arn(&arn).unwrap();
        assert_eq!(
            (p.region.as_str(), p.account.as_str(), p.name.as_str()),
            ("eu-west-1", "123456789012", "s.1")
        );
        for bad in [
            "arn:aws:kinesis:r:1:stream/",
            "arn:aws:kinesis:r:1:stream/a/b",
            "arn:aws:kinesis:r:1:deliverystream/a",
            "arn:aws:sqs:r:1:stream/a",
            "arn:aws:kinesis:r:stream/a",
            "nope:aws:kinesis:r:1:stream/a",
            "arn:aws:kinesis:r:1:stream/s/consumer/c:1",
        ] {
            assert_eq!(parse_stream_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn consumer_arns_parse() {
        let arn = consumer_arn(
            &stream_arn("us-east-1", "000000000000", "s-1"),
            "c.x",
            1_700_000_000_999,
        );
        assert_eq!(
            arn,
            "arn:aws:kinesis:us-east-1:000000000000:stream/s-1/consumer/c.x:1700000000"
        );
        assert_eq!(
            parse_consumer_arn(&arn).unwrap(),
            ConsumerArnParts {
                region: "us-east-1".into(),
                account: "000000000000".into(),
                stream: "s-1".into(),
                consumer: "c.x".into(),
                created_secs: 1_700_000_000,
            }
        );
        for bad in [
            "arn:aws:kinesis:us-east-1:000000000000:stream/s",
            "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c",
            "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:x1",
            "arn:aws:kinesis:us-east-1:000000000000:stream//consumer/c:1",
            "arn:aws:sqs:us-east-1:000000000000:stream/s/consumer/c:1",
        ] {
            assert_eq!(parse_consumer_arn(bad), None, "{bad}");
        }
        assert!(is_consumer_arn("arn:aws:kinesis:r:1:stream/s/consumer/c:1"));
        assert!(!is_consumer_arn("arn:aws:kinesis:r:1:stream/s"));
    }
}
