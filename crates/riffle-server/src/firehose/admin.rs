//! Riffle's own Firehose operations (`RiffleFirehose_20261202`): start a
//! redelivery of a time range of a delivery stream's buffer, and follow it.

use super::{to_api_error, RESOURCE_TYPE};
use crate::respond::Reply;
use crate::security::{Access, RequestContext};
use crate::service::{BoxFuture, Service};
use riffle_firehose::engine::Redelivery;
use riffle_firehose::Firehose;
use riffle_model::ApiError;
use riffle_protocol::firehose::admin;
use riffle_protocol::{Call, ServiceSpec, WireResponse};
use serde_json::json;
use std::sync::Arc;

pub struct FirehoseAdminService {
    engine: Arc<Firehose>,
}

impl FirehoseAdminService {
    pub fn new(engine: Arc<Firehose>) -> Self {
        FirehoseAdminService { engine }
    }
}

impl Service for FirehoseAdminService {
    fn spec(&self) -> &'static ServiceSpec {
        &admin::SERVICE
    }

    fn call<'s>(&'s self, mut call: Call<'_>, ctx: Arc<RequestContext>) -> BoxFuture<'s, Reply> {
        let format = call.format;
        let action = admin::SERVICE.iam_action(call.op);
        let op = call.op.name;
        let name = call.fields.string("DeliveryStreamName").unwrap_or_default();
        let (from, to) = if op == "StartRedelivery" {
            (
                call.fields.timestamp("StartTimestamp").map(|t| t.millis()),
                call.fields.timestamp("EndTimestamp").map(|t| t.millis()),
            )
        } else {
            (None, None)
        };
        if ctx.wants_resources() {
            let arn = self.engine.arn_for(&name);
            if let Err(e) = ctx.authorize(&Access {
                action: &action,
                resource: &arn,
                resource_type: RESOURCE_TYPE,
                resource_policy: None,
                keys: Vec::new(),
            }) {
                return Box::pin(async move { Reply::error(format, &e) });
            }
        }
        Box::pin(async move {
            let result = match op {
                "StartRedelivery" => match from {
                    Some(from) => self
                        .engine
                        .start_redelivery(&name, from, to)
                        .await
                        .map(|r| describe(Some(&r))),
                    None => Err(riffle_firehose::FirehoseError::InvalidArgument(
                        "StartTimestamp is required.".into(),
                    )),
                },
                _ => self
                    .engine
                    .redelivery(&name)
                    .map(|r| describe(r.as_deref())),
            };
            let reply = match result
                .map_err(to_api_error)
                .and_then(|v| serde_json::to_vec(&v).map_err(|_| ApiError::internal()))
            {
                Ok(body) => Reply::wire(WireResponse {
                    status: 200,
                    content_type: Some(format.content_type()),
                    body,
                    error_code: None,
                }),
                Err(e) => Reply::error(format, &e),
            };
            reply.with_resource(Some(name))
        })
    }
}

fn describe(r: Option<&Redelivery>) -> serde_json::Value {
    match r {
        None => json!({ "Status": "NONE" }),
        Some(r) => {
            let status = r.status();
            let mut v = json!({
                "Status": status.as_str(),
                "Records": r.records(),
                "DeliveredRecords": r.delivered_records(),
                "FirstRecordOffset": r.first,
                "EndRecordOffset": r.end,
                "StartedTimestamp": r.started_ms as f64 / 1000.0,
            });
            if let riffle_firehose::engine::RedeliveryStatus::Stopped(why) = status {
                v["Reason"] = json!(why);
            }
            if let Some(e) = r.last_error() {
                v["LastError"] = json!(e);
            }
            if let Some(t) = r.expired_before_ms {
                v["ExpiredBeforeTimestamp"] = json!(t as f64 / 1000.0);
            }
            v
        }
    }
}
