//! Enhanced fan-out consumers: register, deregister, describe, list, and
//! tags on consumer ARNs. Consumers are durable stream metadata
//! (`StreamMeta.consumers`), changed only through `update_meta`; their timed
//! transitions (CREATING → ACTIVE, DELETING → gone) complete lazily here and
//! on the maintenance tick (`settle_all`).

use super::arn::parse_consumer_arn;
use super::{
    validate_tag_keys, validate_tags, ConsumerPageToken, Engine, LiveStream, StreamView, MAX_TAGS,
};
use crate::error::StreamsError;
use riffle_meta::{ConsumerMeta, ConsumerState, StreamMeta, StreamState};
use riffle_model::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// AWS allows at most this many consumers in CREATING at once per stream.
const MAX_CREATING_CONSUMERS: usize = 5;
/// ListStreamConsumers page size when MaxResults is absent.
const DEFAULT_LIST_CONSUMERS: i64 = 100;

/// A consumer found by `resolve_consumer`: its stream and its metadata.
pub(super) struct FoundConsumer {
    pub stream_name: String,
    pub stream: Arc<LiveStream>,
    pub consumer: ConsumerMeta,
    pub arn: String,
}

fn status(c: &ConsumerMeta) -> ConsumerStatus {
    match c.state {
        ConsumerState::Creating => ConsumerStatus::Creating,
        ConsumerState::Active => ConsumerStatus::Active,
        ConsumerState::Deleting => ConsumerStatus::Deleting,
    }
}

fn status_str(c: &ConsumerMeta) -> &'static str {
    match c.state {
        ConsumerState::Creating => "CREATING",
        ConsumerState::Active => "ACTIVE",
        ConsumerState::Deleting => "DELETING",
    }
}

fn due(c: &ConsumerMeta, now: i64) -> bool {
    matches!(c.until_ms, Some(t) if t <= now)
}

impl Engine {
    fn consumer_shape(&self, stream: &str, c: &ConsumerMeta) -> Consumer {
        Consumer {
            consumer_name: c.name.clone(),
            consumer_arn: self.consumer_arn(stream, c),
            consumer_status: status(c),
            consumer_creation_timestamp: Timestamp(c.created_ms),
        }
    }

    /// Completes the stream's due consumer transitions. Cheap when none is due.
    pub(super) fn settle_consumers(&self, stream: &LiveStream) -> Result<(), StreamsError> {
        let now = self.now_ms();
        if !stream.view().consumers.iter().any(|c| due(c, now)) {
            return Ok(());
        }
        self.update_meta(stream, |m| {
            m.consumers
                .retain(|c| !(c.state == ConsumerState::Deleting && due(c, now)));
            for c in &mut m.consumers {
                if c.state == ConsumerState::Creating && due(c, now) {
                    c.state = ConsumerState::Active;
                    c.until_ms = None;
                }
            }
            Ok(())
        })
    }

    /// A stream by ARN, with its consumers' due transitions completed.
    fn consumer_stream(&self, stream_arn: &str) -> Result<(String, Arc<LiveStream>), StreamsError> {
        let name = self.name_from_arn(stream_arn)?;
        let stream = self.lookup(&name)?;
        self.settle_consumers(&stream)?;
        Ok((name, stream))
    }

    fn consumer_arn_not_found(arn: &str) -> StreamsError {
        StreamsError::ResourceNotFound(format!("ConsumerARN {arn} not found"))
    }

    /// Finds a consumer by ARN, or by stream ARN + name (all three must agree when given).
    pub(super) fn resolve_consumer(&self, r: &ConsumerRef) -> Result<FoundConsumer, StreamsError> {
        if let Some(arn) = &r.consumer_arn {
            let p = parse_consumer_arn(arn).ok_or_else(|| {
                StreamsError::InvalidArgument(format!("Invalid ConsumerARN {arn}."))
            })?;
            if p.region != self.cfg.region || p.account != self.cfg.account_id {
                return Err(Self::consumer_arn_not_found(arn));
            }
            if let Some(s) = &r.stream_arn {
                if *s != self.arn(&p.stream) {
                    return Err(StreamsError::InvalidArgument(format!(
                        "StreamARN {s} does not match ConsumerARN {arn}."
                    )));
                }
            }
            if let Some(n) = &r.consumer_name {
                if *n != p.consumer {
                    return Err(StreamsError::InvalidArgument(format!(
                        "ConsumerName {n} does not match ConsumerARN {arn}."
                    )));
                }
            }
            let stream = match self.lookup(&p.stream) {
                Ok(s) => s,
                Err(StreamsError::ResourceNotFound(_)) => {
                    return Err(Self::consumer_arn_not_found(arn))
                }
                Err(e) => return Err(e),
            };
            self.settle_consumers(&stream)?;
            let consumer = stream
                .view()
                .consumers
                .iter()
                .find(|c| c.name == p.consumer && c.created_ms.div_euclid(1000) == p.created_secs)
                .cloned()
                .ok_or_else(|| Self::consumer_arn_not_found(arn))?;
            return Ok(FoundConsumer {
                stream_name: p.stream,
                stream,
                consumer,
                arn: arn.clone(),
            });
        }
        let (Some(stream_arn), Some(name)) = (&r.stream_arn, &r.consumer_name) else {
            return Err(StreamsError::InvalidArgument(
                "ConsumerArn or both ConsumerName and StreamARN are required for this request."
                    .into(),
            ));
        };
        let (stream_name, stream) = self.consumer_stream(stream_arn)?;
        let consumer = stream
            .view()
            .consumers
            .iter()
            .find(|c| c.name == *name)
            .cloned()
            .ok_or_else(|| {
                StreamsError::ResourceNotFound(format!(
                    "ConsumerName {name} not found on stream {stream_name}"
                ))
            })?;
        let arn = self.consumer_arn(&stream_name, &consumer);
        Ok(FoundConsumer {
            stream_name,
            stream,
            consumer,
            arn,
        })
    }

    pub async fn register_stream_consumer(
        &self,
        input: RegisterStreamConsumerInput,
    ) -> Result<RegisterStreamConsumerOutput, StreamsError> {
        let (stream_name, stream) = self.consumer_stream(&input.stream_arn)?;
        self.admit_control(
            super::ratelimit::REGISTER_CONSUMER,
            Some(&stream_name),
            None,
        )?;
        let tags = input.tags.unwrap_or_default();
        validate_tags(&tags)?;
        if tags.len() > MAX_TAGS {
            return Err(StreamsError::InvalidArgument(format!(
                "Failed to add tags to consumer {} because a given consumer cannot have more than {MAX_TAGS} tags associated with it.",
                input.consumer_name
            )));
        }
        let (until_ms, immediate) = self.until();
        let now = self.now_ms();
        let name = input.consumer_name;
        let max = self.cfg.max_consumers_per_stream;
        let created = self.update_meta(&stream, |m| {
            if matches!(m.state, StreamState::Creating | StreamState::Deleting) {
                self.require_active(&stream_name, m)?;
            }
            if m.consumers.iter().any(|c| c.name == name) {
                return Err(StreamsError::ResourceInUse(format!(
                    "Consumer {name} exists"
                )));
            }
            if m.consumers.len() >= max {
                return Err(StreamsError::LimitExceeded(format!(
                    "Only {max} consumers can be registered to a stream at once"
                )));
            }
            let creating = m
                .consumers
                .iter()
                .filter(|c| c.state == ConsumerState::Creating)
                .count();
            if creating >= MAX_CREATING_CONSUMERS {
                return Err(StreamsError::LimitExceeded(format!(
                    "Only {MAX_CREATING_CONSUMERS} consumers can be created at the same time"
                )));
            }
            let c = ConsumerMeta {
                name: name.clone(),
                created_ms: now,
                state: if immediate {
                    ConsumerState::Active
                } else {
                    ConsumerState::Creating
                },
                until_ms,
                tags,
                resource_policy: None,
            };
            m.consumers.push(c.clone());
            Ok(c)
        })?;
        tracing::info!(
            stream = stream_name,
            consumer = created.name,
            "consumer registered"
        );
        Ok(RegisterStreamConsumerOutput {
            consumer: self.consumer_shape(&stream_name, &created),
        })
    }

    pub async fn deregister_stream_consumer(&self, input: ConsumerRef) -> Result<(), StreamsError> {
        let found = self.resolve_consumer(&input)?;
        self.admit_control(
            super::ratelimit::DEREGISTER_CONSUMER,
            Some(&found.stream_name),
            None,
        )?;
        let (until_ms, immediate) = self.until();
        let target = found.consumer;
        self.update_meta(&found.stream, |m| {
            let same =
                |c: &ConsumerMeta| c.name == target.name && c.created_ms == target.created_ms;
            if immediate {
                m.consumers.retain(|c| !same(c));
            } else if let Some(c) = m.consumers.iter_mut().find(|c| same(c)) {
                if c.state != ConsumerState::Deleting {
                    c.state = ConsumerState::Deleting;
                    c.until_ms = until_ms;
                }
            }
            Ok(())
        })?;
        tracing::info!(
            stream = found.stream_name,
            consumer = target.name,
            "consumer deregistered"
        );
        Ok(())
    }

    pub async fn describe_stream_consumer(
        &self,
        input: ConsumerRef,
    ) -> Result<DescribeStreamConsumerOutput, StreamsError> {
        let found = self.resolve_consumer(&input)?;
        self.admit_control(
            super::ratelimit::DESCRIBE_CONSUMER,
            Some(&found.stream_name),
            None,
        )?;
        let c = &found.consumer;
        Ok(DescribeStreamConsumerOutput {
            consumer_description: ConsumerDescription {
                consumer_name: c.name.clone(),
                consumer_arn: found.arn.clone(),
                consumer_status: status(c),
                consumer_creation_timestamp: Timestamp(c.created_ms),
                stream_arn: self.arn(&found.stream_name),
            },
        })
    }

    pub async fn list_stream_consumers(
        &self,
        input: ListStreamConsumersInput,
    ) -> Result<ListStreamConsumersOutput, StreamsError> {
        let now = self.now_ms();
        let (stream_name, stream) = self.consumer_stream(&input.stream_arn)?;
        self.admit_control(super::ratelimit::LIST_CONSUMERS, Some(&stream_name), None)?;
        let m: Arc<StreamView> = stream.view();
        if let Some(ts) = input.stream_creation_timestamp {
            // Tells apart incarnations of a stream name; seconds are what AWS shows.
            if ts.0.div_euclid(1000) != m.created_ms.div_euclid(1000) {
                return Err(self.not_found(&stream_name));
            }
        }
        // Pages follow creation order; the token holds the last (created, name) returned.
        let after: Option<(i64, String)> = match &input.next_token {
            Some(tok) => {
                let t =
                    ConsumerPageToken::open_fresh(&self.tokens, tok, &stream_name, &m.uid, now)?;
                Some((t.after_created_ms, t.after_name))
            }
            None => None,
        };
        let limit = input
            .max_results
            .unwrap_or(DEFAULT_LIST_CONSUMERS)
            .clamp(1, 10_000) as usize;
        let mut all: Vec<&ConsumerMeta> = m.consumers.iter().collect();
        all.sort_by(|a, b| (a.created_ms, &a.name).cmp(&(b.created_ms, &b.name)));
        let mut rest = all.into_iter().filter(|c| {
            after
                .as_ref()
                .is_none_or(|(ms, n)| (c.created_ms, &c.name) > (*ms, n))
        });
        let page: Vec<&ConsumerMeta> = rest.by_ref().take(limit).collect();
        let next_token = match (rest.next(), page.last()) {
            (Some(_), Some(last)) => Some(
                ConsumerPageToken {
                    stream: stream_name.clone(),
                    stream_uid: m.uid.clone(),
                    after_created_ms: last.created_ms,
                    after_name: last.name.clone(),
                    issued_ms: now,
                }
                .seal(&self.tokens)?,
            ),
            _ => None,
        };
        Ok(ListStreamConsumersOutput {
            consumers: page
                .into_iter()
                .map(|c| self.consumer_shape(&stream_name, c))
                .collect(),
            next_token,
        })
    }

    /// Applies `f` to one consumer's stored metadata (found again under the lock).
    pub(super) fn update_consumer<T>(
        &self,
        found: &FoundConsumer,
        f: impl FnOnce(&mut ConsumerMeta) -> Result<T, StreamsError>,
    ) -> Result<T, StreamsError> {
        let target = &found.consumer;
        let arn = found.arn.clone();
        self.update_meta(&found.stream, |m: &mut StreamMeta| {
            let c = m
                .consumers
                .iter_mut()
                .find(|c| c.name == target.name && c.created_ms == target.created_ms)
                .ok_or_else(|| Self::consumer_arn_not_found(&arn))?;
            f(c)
        })
    }

    pub(super) fn consumer_by_arn(&self, arn: &str) -> Result<FoundConsumer, StreamsError> {
        self.resolve_consumer(&ConsumerRef {
            consumer_arn: Some(arn.to_string()),
            ..Default::default()
        })
    }

    pub(super) fn tag_consumer(
        &self,
        arn: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<(), StreamsError> {
        validate_tags(&tags)?;
        let found = self.consumer_by_arn(arn)?;
        self.update_consumer(&found, |c| {
            let mut merged = c.tags.clone();
            merged.extend(tags);
            if merged.len() > MAX_TAGS {
                return Err(StreamsError::InvalidArgument(format!(
                    "Failed to add tags to consumer {} because a given consumer cannot have more than {MAX_TAGS} tags associated with it.",
                    c.name
                )));
            }
            c.tags = merged;
            Ok(())
        })
    }

    pub(super) fn untag_consumer(&self, arn: &str, keys: &[String]) -> Result<(), StreamsError> {
        validate_tag_keys(keys)?;
        let found = self.consumer_by_arn(arn)?;
        self.update_consumer(&found, |c| {
            for k in keys {
                c.tags.remove(k);
            }
            Ok(())
        })
    }

    pub(super) fn list_consumer_tags(
        &self,
        arn: &str,
    ) -> Result<ListTagsForResourceOutput, StreamsError> {
        let found = self.consumer_by_arn(arn)?;
        Ok(ListTagsForResourceOutput {
            tags: found
                .consumer
                .tags
                .iter()
                .map(|(k, v)| Tag {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
        })
    }

    /// The consumer a subscription reads for, which must be ACTIVE.
    pub(super) fn active_consumer(&self, arn: &str) -> Result<FoundConsumer, StreamsError> {
        let found = self.consumer_by_arn(arn)?;
        if found.consumer.state != ConsumerState::Active {
            return Err(StreamsError::ResourceInUse(format!(
                "Consumer {arn} is not ACTIVE, instead in state {}",
                status_str(&found.consumer)
            )));
        }
        Ok(found)
    }
}
