//! Firehose behind the edge: builds each operation's input from the
//! validated call (configuration trees through the generated serde shapes,
//! record data straight from the body), authorizes it, runs it on the
//! `riffle-firehose` engine, and maps domain errors to AWS's (`to_api_error`,
//! the only place that happens for Firehose).

mod admin;
mod metrics;

pub use admin::FirehoseAdminService;

use crate::respond::Reply;
use crate::security::{Access, RequestContext};
use crate::service::{BoxFuture, Service};
use bytes::Bytes;
use prometheus_client::collector::Collector;
use riffle_firehose::engine::PutOutcome;
use riffle_firehose::{Firehose, FirehoseError};
use riffle_model::firehose as api;
use riffle_model::ApiError;
use riffle_protocol::firehose::{self, Operation};
use riffle_protocol::{Call, ServiceSpec};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// CloudFormation type of a delivery stream, for the audit record.
pub(crate) const RESOURCE_TYPE: &str = "AWS::KinesisFirehose::DeliveryStream";

pub struct FirehoseService {
    engine: Arc<Firehose>,
}

impl FirehoseService {
    pub fn new(engine: Arc<Firehose>) -> FirehoseService {
        FirehoseService { engine }
    }
}

/// A typed request.
enum Request {
    Records {
        name: String,
        records: Vec<Bytes>,
        batch: bool,
    },
    Control(Operation, serde_json::Value),
}

impl Service for FirehoseService {
    fn spec(&self) -> &'static ServiceSpec {
        &firehose::SERVICE
    }

    fn call<'s>(&'s self, call: Call<'_>, ctx: Arc<RequestContext>) -> BoxFuture<'s, Reply> {
        let format = call.format;
        let Some(op) = Operation::of(call.op) else {
            return Box::pin(async move { Reply::error(format, &ApiError::internal()) });
        };
        let action = firehose::SERVICE.iam_action(call.op);
        let request = build(op, call);
        let name = match &request {
            Request::Records { name, .. } => Some(name.clone()),
            Request::Control(_, v) => v
                .get("DeliveryStreamName")
                .and_then(|n| n.as_str())
                .map(str::to_string),
        };
        if ctx.wants_resources() {
            let arn = match &name {
                Some(n) => self.engine.arn_for(n),
                None => "*".to_string(),
            };
            let keys = if ctx.evaluates() {
                self.condition_keys(op, &request, name.as_deref())
            } else {
                Vec::new()
            };
            if let Err(e) = ctx.authorize(&Access {
                action: &action,
                resource: &arn,
                resource_type: RESOURCE_TYPE,
                resource_policy: None,
                keys,
            }) {
                return Box::pin(async move { Reply::error(format, &e) });
            }
        }
        Box::pin(async move {
            let reply = match self.run(request).await {
                Ok(body) => Reply::wire(riffle_protocol::WireResponse {
                    status: 200,
                    content_type: Some(format.content_type()),
                    body,
                    error_code: None,
                }),
                Err(e) => Reply::error(format, &e),
            };
            reply.with_resource(name)
        })
    }

    fn check_ready(&self) -> Result<(), String> {
        self.engine.check_ready()
    }

    fn maintain(&self) {
        self.engine.maintain();
    }

    fn end_streams(&self) {
        self.engine.stop_all();
    }

    fn flush(&self) {
        self.engine.sync_all();
    }

    fn collector(&self) -> Option<Box<dyn Collector>> {
        Some(metrics::collector(self.engine.clone()))
    }
}

fn build(op: Operation, mut call: Call<'_>) -> Request {
    match op {
        Operation::PutRecord | Operation::PutRecordBatch => {
            let body = call.body.clone();
            let name = call.fields.string("DeliveryStreamName").unwrap_or_default();
            let mut data = |mut record: riffle_protocol::fields::Fields<'_>| -> Bytes {
                record
                    .record_data("Data", body.as_ref())
                    .and_then(|d| d.to_vec())
                    .map(Bytes::from)
                    .unwrap_or_default()
            };
            let records = if op == Operation::PutRecord {
                call.fields
                    .structure("Record")
                    .map(&mut data)
                    .into_iter()
                    .collect()
            } else {
                call.fields
                    .structures("Records")
                    .unwrap_or_default()
                    .into_iter()
                    .map(&mut data)
                    .collect()
            };
            Request::Records {
                name,
                records,
                batch: op == Operation::PutRecordBatch,
            }
        }
        op => Request::Control(op, call.fields.audit_json()),
    }
}

fn parse<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| {
        tracing::error!(error = %e, "firehose: a validated request did not fit its shape");
        ApiError::internal()
    })
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(v).map_err(|_| ApiError::internal())
}

impl FirehoseService {
    async fn run(&self, request: Request) -> Result<Vec<u8>, ApiError> {
        let fh = &self.engine;
        let (op, v) = match request {
            Request::Records {
                name,
                records,
                batch,
            } => return self.put(name, records, batch).await,
            Request::Control(op, v) => (op, v),
        };
        match op {
            Operation::CreateDeliveryStream => {
                let i: api::CreateDeliveryStreamInput = parse(v)?;
                let arn = fh.create_delivery_stream(i).await.map_err(to_api_error)?;
                json(&api::CreateDeliveryStreamOutput {
                    delivery_stream_arn: Some(arn),
                })
            }
            Operation::DeleteDeliveryStream => {
                let i: api::DeleteDeliveryStreamInput = parse(v)?;
                fh.delete_delivery_stream(
                    &i.delivery_stream_name,
                    i.allow_force_delete.unwrap_or(false),
                )
                .await
                .map_err(to_api_error)?;
                Ok(b"{}".to_vec())
            }
            Operation::DescribeDeliveryStream => {
                let i: api::DescribeDeliveryStreamInput = parse(v)?;
                let d = fh
                    .describe_delivery_stream(
                        &i.delivery_stream_name,
                        i.limit,
                        i.exclusive_start_destination_id.as_deref(),
                    )
                    .await
                    .map_err(to_api_error)?;
                json(&api::DescribeDeliveryStreamOutput {
                    delivery_stream_description: d,
                })
            }
            Operation::ListDeliveryStreams => {
                let i: api::ListDeliveryStreamsInput = parse(v)?;
                let (names, more) = fh.list_delivery_streams(
                    i.limit,
                    i.delivery_stream_type.as_deref(),
                    i.exclusive_start_delivery_stream_name.as_deref(),
                );
                json(&api::ListDeliveryStreamsOutput {
                    delivery_stream_names: names,
                    has_more_delivery_streams: more,
                })
            }
            Operation::ListTagsForDeliveryStream => {
                let i: api::ListTagsForDeliveryStreamInput = parse(v)?;
                let (tags, more) = fh
                    .list_tags(
                        &i.delivery_stream_name,
                        i.exclusive_start_tag_key.as_deref(),
                        i.limit,
                    )
                    .await
                    .map_err(to_api_error)?;
                json(&api::ListTagsForDeliveryStreamOutput {
                    tags,
                    has_more_tags: more,
                })
            }
            Operation::TagDeliveryStream => {
                let i: api::TagDeliveryStreamInput = parse(v)?;
                fh.tag_delivery_stream(&i.delivery_stream_name, i.tags)
                    .await
                    .map_err(to_api_error)?;
                Ok(b"{}".to_vec())
            }
            Operation::UntagDeliveryStream => {
                let i: api::UntagDeliveryStreamInput = parse(v)?;
                fh.untag_delivery_stream(&i.delivery_stream_name, i.tag_keys)
                    .await
                    .map_err(to_api_error)?;
                Ok(b"{}".to_vec())
            }
            Operation::StartDeliveryStreamEncryption => {
                let i: api::StartDeliveryStreamEncryptionInput = parse(v)?;
                fh.start_encryption(
                    &i.delivery_stream_name,
                    i.delivery_stream_encryption_configuration_input,
                )
                .await
                .map_err(to_api_error)?;
                Ok(b"{}".to_vec())
            }
            Operation::StopDeliveryStreamEncryption => {
                let i: api::StopDeliveryStreamEncryptionInput = parse(v)?;
                fh.stop_encryption(&i.delivery_stream_name)
                    .await
                    .map_err(to_api_error)?;
                Ok(b"{}".to_vec())
            }
            Operation::UpdateDestination => {
                let i: api::UpdateDestinationInput = parse(v)?;
                fh.update_destination(i).await.map_err(to_api_error)?;
                Ok(b"{}".to_vec())
            }
            Operation::PutRecord | Operation::PutRecordBatch => Err(ApiError::internal()),
        }
    }

    async fn put(
        &self,
        name: String,
        records: Vec<Bytes>,
        batch: bool,
    ) -> Result<Vec<u8>, ApiError> {
        let outcomes = self
            .engine
            .put_records(&name, records)
            .await
            .map_err(to_api_error)?;
        if !batch {
            return match outcomes.into_iter().next() {
                Some(PutOutcome::Ok(id)) => json(&api::PutRecordOutput {
                    record_id: id,
                    encrypted: Some(false),
                }),
                Some(PutOutcome::Failed { message, .. }) => Err(slow_down(message)),
                None => Err(ApiError::internal()),
            };
        }
        let mut failed = 0;
        let responses = outcomes
            .into_iter()
            .map(|o| match o {
                PutOutcome::Ok(id) => api::PutRecordBatchResponseEntry {
                    record_id: Some(id),
                    ..Default::default()
                },
                PutOutcome::Failed { code, message } => {
                    failed += 1;
                    api::PutRecordBatchResponseEntry {
                        record_id: None,
                        error_code: Some(code),
                        error_message: Some(message),
                    }
                }
            })
            .collect();
        json(&api::PutRecordBatchOutput {
            failed_put_count: failed,
            encrypted: Some(false),
            request_responses: responses,
        })
    }

    /// `aws:RequestTag/…`, `aws:TagKeys` and `aws:ResourceTag/…` for policies.
    fn condition_keys(
        &self,
        op: Operation,
        request: &Request,
        name: Option<&str>,
    ) -> Vec<(String, Vec<String>)> {
        let mut keys = Vec::new();
        if let Request::Control(_, v) = request {
            let tags: Vec<(String, String)> = v
                .get("Tags")
                .and_then(|t| t.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|t| {
                            Some((
                                t.get("Key")?.as_str()?.to_string(),
                                t.get("Value")
                                    .and_then(|x| x.as_str())
                                    .unwrap_or("")
                                    .to_string(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut tag_keys: Vec<String> = tags.iter().map(|(k, _)| k.clone()).collect();
            if op == Operation::UntagDeliveryStream {
                tag_keys = v
                    .get("TagKeys")
                    .and_then(|t| t.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|k| k.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
            }
            for (k, val) in tags {
                keys.push((format!("aws:RequestTag/{k}"), vec![val]));
            }
            if !tag_keys.is_empty() {
                keys.push(("aws:TagKeys".to_string(), tag_keys));
            }
        }
        if let Some(n) = name {
            for (k, v) in self.engine.tags_of(n) {
                keys.push((format!("aws:ResourceTag/{k}"), vec![v]));
            }
        }
        keys
    }
}

fn slow_down(message: String) -> ApiError {
    ApiError::new("ServiceUnavailableException", message).with_status(503)
}

/// The one place Firehose domain errors become AWS errors.
pub fn to_api_error(e: FirehoseError) -> ApiError {
    match e {
        FirehoseError::NotFound(m) => ApiError::resource_not_found(m),
        FirehoseError::InUse(m) => ApiError::resource_in_use(m),
        FirehoseError::InvalidArgument(m) => ApiError::invalid_argument(m),
        FirehoseError::LimitExceeded(m) => ApiError::limit_exceeded(m),
        FirehoseError::ConcurrentModification(m) => {
            ApiError::new("ConcurrentModificationException", m)
        }
        FirehoseError::InvalidSource(m) => ApiError::new("InvalidSourceException", m),
        FirehoseError::InvalidKmsResource(m) => ApiError::new("InvalidKMSResourceException", m),
        FirehoseError::ServiceUnavailable(m) => slow_down(m),
        e @ (FirehoseError::Meta(_) | FirehoseError::Log(_) | FirehoseError::Internal(_)) => {
            tracing::error!(error = %e, "firehose: internal failure");
            ApiError::internal()
        }
    }
}
