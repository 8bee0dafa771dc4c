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
    // The record path: nothing to evaluate or record, nothing to resolve.
    if !ctx.wants_resources() {
        return Ok(());
    }
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
        if let Some(f) = &facts {
            authorize_kms(ctx, input, &arn, f)?;
        }
    }
    // Start/StopStreamEncryption also name the KMS key (`kmsKey*` in the
    // service authorization reference).
    if let (true, Input::StartStreamEncryption(i) | Input::StopStreamEncryption(i)) =
        (ctx.evaluates(), input)
    {
        if let Some(key) = engine.kms_key_arn(&i.key_id) {
            ctx.authorize(&Access {
                action: &action,
                resource: &key,
                resource_type: KMS_KEY,
                resource_policy: None,
                keys: Vec::new(),
            })?;
        }
    }
    Ok(())
}

const KMS_KEY: &str = "AWS::KMS::Key";

/// Records sealed with a customer master key need the caller's own KMS
/// permissions, as on AWS (Kinesis calls KMS as the caller):
/// `kms:GenerateDataKey` to write, `kms:Decrypt` to read. A refusal is
/// `KMSAccessDeniedException`, failing the whole call. The AWS-managed
/// `alias/aws/kinesis` needs none.
fn authorize_kms(
    ctx: &RequestContext,
    input: &Input,
    stream_arn: &str,
    facts: &riffle_streams::AccessFacts,
) -> Result<(), ApiError> {
    let principal = ctx.principal.arn.clone();
    match input {
        Input::PutRecord(_) | Input::PutRecords(_) => {
            if let Some(key) = &facts.write_key {
                let access = Access {
                    action: "kms:GenerateDataKey",
                    resource: key,
                    resource_type: KMS_KEY,
                    resource_policy: None,
                    keys: Vec::new(),
                };
                ctx.authorize(&access).map_err(|_| {
                    ApiError::new(
                        "KMSAccessDeniedException",
                        format!("User: {principal} is not authorized to perform: kms:GenerateDataKey on resource: {key}"),
                    )
                })?;
            }
        }
        Input::GetRecords(_) | Input::SubscribeToShard(_) => {
            let stream = stream_arn
                .split_once(":stream/")
                .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
                .unwrap_or(stream_arn);
            for key in &facts.read_keys {
                let access = Access {
                    action: "kms:Decrypt",
                    resource: key,
                    resource_type: KMS_KEY,
                    resource_policy: None,
                    keys: Vec::new(),
                };
                ctx.authorize(&access).map_err(|_| {
                    ApiError::new(
                        "KMSAccessDeniedException",
                        format!("User {principal} is not authorized to decrypt records in stream {stream}"),
                    )
                })?;
            }
        }
        _ => {}
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
