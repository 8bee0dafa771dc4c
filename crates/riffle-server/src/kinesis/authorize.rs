//! Which IAM action and resource ARNs a Kinesis call needs, with the
//! resource's policy and tags, asked of the edge's [`RequestContext`].

use crate::security::{Access, RequestContext};
use riffle_model::{ApiError, Input};
use riffle_protocol::kinesis::{self, Resource};
use riffle_protocol::OperationSpec;
use riffle_streams::Engine;

/// Authorizes `input` (operation `op`) for the caller, as IAM would for
/// Kinesis: the action `kinesis:<Operation>` on the stream or consumer ARN
/// the call names (`*` for account-level operations), with the resource's
/// policy and `aws:ResourceTag/…`, and for tagging calls `aws:RequestTag/…`
/// and `aws:TagKeys`.
pub(super) fn authorize(
    engine: &Engine,
    ctx: &RequestContext,
    op: &OperationSpec,
    input: &Input,
) -> Result<(), ApiError> {
    let action = kinesis::SERVICE.iam_action(op);
    for resource in kinesis::resources(input) {
        let arn = match resource {
            Resource::StreamName(name) => engine.stream_arn_for(&name),
            Resource::Arn(arn) => arn,
            // An iterator that does not decode names no stream; the call
            // itself refuses it after authorization.
            Resource::Iterator(it) => match engine.iterator_stream(&it) {
                Some(name) => engine.stream_arn_for(&name),
                None => "*".to_string(),
            },
            Resource::Any => "*".to_string(),
        };
        // Policies and tags matter only where policies are evaluated.
        let evaluates = ctx.evaluates();
        let facts = (evaluates && arn != "*")
            .then(|| engine.access_facts(&arn))
            .flatten();
        let mut keys = if evaluates {
            request_tag_keys(input)
        } else {
            Vec::new()
        };
        if let Some(f) = &facts {
            keys.extend(
                f.tags
                    .iter()
                    .map(|(k, v)| (format!("aws:ResourceTag/{k}"), vec![v.clone()])),
            );
        }
        let resource_type = if riffle_streams::arn::is_consumer_arn(&arn) {
            "AWS::Kinesis::StreamConsumer"
        } else {
            "AWS::Kinesis::Stream"
        };
        ctx.authorize(&Access {
            action: &action,
            resource: &arn,
            resource_type,
            resource_policy: facts.as_ref().and_then(|f| f.policy.as_deref()),
            keys,
        })?;
    }
    Ok(())
}

/// `aws:RequestTag/<key>` and `aws:TagKeys` for calls that set or remove tags.
fn request_tag_keys(input: &Input) -> Vec<(String, Vec<String>)> {
    let (tags, removed) = match input {
        Input::CreateStream(i) => (i.tags.as_ref(), None),
        Input::AddTagsToStream(i) => (Some(&i.tags), None),
        Input::TagResource(i) => (Some(&i.tags), None),
        Input::RemoveTagsFromStream(i) => (None, Some(&i.tag_keys)),
        Input::UntagResource(i) => (None, Some(&i.tag_keys)),
        _ => return Vec::new(),
    };
    let mut keys: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(tags) = tags {
        keys.extend(
            tags.iter()
                .map(|(k, v)| (format!("aws:RequestTag/{k}"), vec![v.clone()])),
        );
        keys.push(("aws:TagKeys".into(), tags.keys().cloned().collect()));
    }
    if let Some(removed) = removed {
        keys.push(("aws:TagKeys".into(), removed.clone()));
    }
    keys
}
