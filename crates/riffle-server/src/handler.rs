use crate::errors::to_api_error;
use crate::metrics::Metrics;
use crate::observe::{error_code_of, stream_of};
use crate::ServerConfig;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use base64::Engine as _;
use rand::RngCore;
use riffle_model::{Input, Operation, Output};
use riffle_protocol::{
    decode_request, encode_error, encode_output, Decoded, Format, HttpRequestView, WireResponse,
};
use riffle_streams::{Engine, StreamsError};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone)]
pub struct AppState {
    pub(crate) engine: Arc<Engine>,
    cfg: Arc<ServerConfig>,
    pub(crate) metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(engine: Arc<Engine>, cfg: ServerConfig) -> Self {
        AppState {
            metrics: Arc::new(Metrics::new(engine.clone())),
            engine,
            cfg: Arc::new(cfg),
        }
    }

    /// Counts an answered request and writes its (debug-level) log line.
    fn observed(
        &self,
        request_id: &str,
        op: &'static str,
        status: u16,
        error: Option<Cow<'static, str>>,
        stream: Option<String>,
        started: Instant,
    ) {
        tracing::debug!(
            request_id,
            op,
            status,
            error = error.as_deref(),
            stream = stream.as_deref(),
            latency_us = started.elapsed().as_micros() as u64,
            "request"
        );
        self.metrics.request(op, status, error, started);
    }
}

/// The `operation` label of requests that named no (known) operation.
const NO_OPERATION: &str = "unknown";

/// Every method and path goes to one handler: AWS ignores the path and
/// answers wrong methods itself, so axum's own 404/405 must never show.
/// Only `GET /metrics` and `GET /health/*` are answered first (`observe`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .fallback(crate::observe::route)
        .with_state(state)
}

pub(crate) const EXPOSE_HEADERS: &str =
    "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date";

pub(crate) async fn handle(State(state): State<AppState>, req: Request<Body>) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let request_id = uuid::Uuid::new_v4().to_string();
    let origin = parts.headers.contains_key("origin");

    let body = match axum::body::to_bytes(body, state.cfg.max_request_bytes).await {
        Ok(b) => b,
        Err(_) => {
            let resp = WireResponse {
                status: 413,
                content_type: None,
                body: Vec::new(),
            };
            state.observed(&request_id, NO_OPERATION, 413, None, None, started);
            return finish(resp, &request_id, origin);
        }
    };

    if parts.method == Method::OPTIONS && origin {
        state.observed(&request_id, NO_OPERATION, 200, None, None, started);
        return cors_preflight(&parts.headers, &request_id);
    }

    let h = &parts.headers;
    let view = HttpRequestView {
        method: parts.method.as_str(),
        content_type: header(h, "content-type"),
        target: header(h, "x-amz-target"),
        authorization: header(h, "authorization"),
        has_date_header: h.contains_key("x-amz-date") || h.contains_key("date"),
        query: parts.uri.query(),
        body: &body,
    };
    let mut error = None;
    let mut stream = None;
    let (resp, op) = match decode_request(&view) {
        Decoded::Reply(resp) => {
            error = error_code_of(resp.status, &resp.body);
            (resp, None)
        }
        // Streamed, so answered outside `dispatch`/`finish`.
        Decoded::Call {
            format,
            input: Input::SubscribeToShard(i),
            ..
        } => {
            let stream = tracing::enabled!(tracing::Level::DEBUG)
                .then(|| i.consumer_arn.split('/').nth(1).map(String::from))
                .flatten();
            let (resp, error) =
                crate::subscribe::respond(&state.engine, i, format, &request_id, origin).await;
            let status = resp.status().as_u16();
            let op = Operation::SubscribeToShard.name();
            state.observed(&request_id, op, status, error, stream, started);
            return resp;
        }
        Decoded::Call { op, format, input } => {
            if tracing::enabled!(tracing::Level::DEBUG) {
                stream = stream_of(&input);
            }
            let resp = match dispatch(&state.engine, input).await {
                Ok(Output::GetRecords(o))
                    if format == Format::Json && crate::streamed::should_stream(&o) =>
                {
                    if let Some(body) = crate::streamed::JsonBody::new(o) {
                        state.observed(&request_id, op.name(), 200, None, stream, started);
                        let ct = Some(format.content_type());
                        return respond(200, ct, Body::new(body), &request_id, origin);
                    }
                    encode_error(format, &riffle_model::ApiError::internal())
                }
                Ok(out) => encode_output(format, &out),
                Err(e) => {
                    let err = to_api_error(e);
                    error = Some(Cow::Borrowed(err.code));
                    encode_error(format, &err)
                }
            };
            (resp, Some(op))
        }
    };
    let op = op.map(Operation::name).unwrap_or(NO_OPERATION);
    state.observed(&request_id, op, resp.status, error, stream, started);
    finish(resp, &request_id, origin)
}

async fn dispatch(engine: &Engine, input: Input) -> Result<Output, StreamsError> {
    Ok(match input {
        Input::CreateStream(i) => engine.create_stream(i).await.map(|_| Output::Empty)?,
        Input::DeleteStream(i) => engine.delete_stream(i).await.map(|_| Output::Empty)?,
        Input::DescribeStream(i) => Output::DescribeStream(engine.describe_stream(i).await?),
        Input::DescribeStreamSummary(i) => {
            Output::DescribeStreamSummary(engine.describe_stream_summary(i).await?)
        }
        Input::ListStreams(i) => Output::ListStreams(engine.list_streams(i).await?),
        Input::ListShards(i) => Output::ListShards(engine.list_shards(i).await?),
        Input::PutRecord(i) => Output::PutRecord(engine.put_record(i).await?),
        Input::PutRecords(i) => Output::PutRecords(engine.put_records(i).await?),
        Input::GetShardIterator(i) => Output::GetShardIterator(engine.get_shard_iterator(i).await?),
        Input::GetRecords(i) => Output::GetRecords(engine.get_records(i).await?),
        Input::IncreaseStreamRetentionPeriod(i) => {
            engine.increase_retention(i).await.map(|_| Output::Empty)?
        }
        Input::DecreaseStreamRetentionPeriod(i) => {
            engine.decrease_retention(i).await.map(|_| Output::Empty)?
        }
        Input::AddTagsToStream(i) => engine.add_tags(i).await.map(|_| Output::Empty)?,
        Input::RemoveTagsFromStream(i) => engine.remove_tags(i).await.map(|_| Output::Empty)?,
        Input::ListTagsForStream(i) => {
            Output::ListTagsForStream(engine.list_tags_for_stream(i).await?)
        }
        Input::TagResource(i) => engine.tag_resource(i).await.map(|_| Output::Empty)?,
        Input::UntagResource(i) => engine.untag_resource(i).await.map(|_| Output::Empty)?,
        Input::ListTagsForResource(i) => {
            Output::ListTagsForResource(engine.list_tags_for_resource(i).await?)
        }
        Input::DescribeLimits => Output::DescribeLimits(engine.describe_limits().await?),
        Input::UpdateMaxRecordSize(i) => engine
            .update_max_record_size(i)
            .await
            .map(|_| Output::Empty)?,
        Input::SplitShard(i) => engine.split_shard(i).await.map(|_| Output::Empty)?,
        Input::MergeShards(i) => engine.merge_shards(i).await.map(|_| Output::Empty)?,
        Input::UpdateShardCount(i) => Output::UpdateShardCount(engine.update_shard_count(i).await?),
        Input::UpdateStreamMode(i) => engine.update_stream_mode(i).await.map(|_| Output::Empty)?,
        Input::UpdateStreamWarmThroughput(i) => {
            Output::UpdateStreamWarmThroughput(engine.update_stream_warm_throughput(i).await?)
        }
        Input::DescribeAccountSettings => {
            Output::AccountSettings(engine.describe_account_settings().await?)
        }
        Input::UpdateAccountSettings(i) => {
            Output::AccountSettings(engine.update_account_settings(i).await?)
        }
        Input::RegisterStreamConsumer(i) => {
            Output::RegisterStreamConsumer(engine.register_stream_consumer(i).await?)
        }
        Input::DeregisterStreamConsumer(i) => engine
            .deregister_stream_consumer(i)
            .await
            .map(|_| Output::Empty)?,
        Input::DescribeStreamConsumer(i) => {
            Output::DescribeStreamConsumer(engine.describe_stream_consumer(i).await?)
        }
        Input::ListStreamConsumers(i) => {
            Output::ListStreamConsumers(engine.list_stream_consumers(i).await?)
        }
        // Answered as an event stream by `handle` before dispatch.
        Input::SubscribeToShard(_) => {
            return Err(StreamsError::Internal(
                "SubscribeToShard reached dispatch".into(),
            ))
        }
        Input::EnableEnhancedMonitoring(i) => {
            Output::EnhancedMonitoring(engine.enable_enhanced_monitoring(i).await?)
        }
        Input::DisableEnhancedMonitoring(i) => {
            Output::EnhancedMonitoring(engine.disable_enhanced_monitoring(i).await?)
        }
        Input::StartStreamEncryption(i) => engine
            .start_stream_encryption(i)
            .await
            .map(|_| Output::Empty)?,
        Input::StopStreamEncryption(i) => engine
            .stop_stream_encryption(i)
            .await
            .map(|_| Output::Empty)?,
        Input::PutResourcePolicy(i) => {
            engine.put_resource_policy(i).await.map(|_| Output::Empty)?
        }
        Input::GetResourcePolicy(i) => {
            Output::GetResourcePolicy(engine.get_resource_policy(i).await?)
        }
        Input::DeleteResourcePolicy(i) => engine
            .delete_resource_policy(i)
            .await
            .map(|_| Output::Empty)?,
    })
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn finish(resp: WireResponse, request_id: &str, origin: bool) -> Response {
    respond(
        resp.status,
        resp.content_type,
        Body::from(resp.body),
        request_id,
        origin,
    )
}

/// A response with AWS's headers (request ids, CORS) around any body.
fn respond(
    status: u16,
    content_type: Option<&'static str>,
    body: Body,
    request_id: &str,
    origin: bool,
) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("x-amzn-RequestId", request_id);
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    if origin {
        builder = builder
            .header("access-control-allow-origin", "*")
            .header("access-control-expose-headers", EXPOSE_HEADERS);
    } else {
        builder = builder.header("x-amz-id-2", amz_id_2());
    }
    builder.body(body).unwrap_or_else(|_| {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

fn cors_preflight(h: &HeaderMap, request_id: &str) -> Response {
    let mut r = Response::new(Body::empty());
    let headers = r.headers_mut();
    let put = |headers: &mut HeaderMap, name: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            headers.insert(name, v);
        }
    };
    put(headers, "x-amzn-RequestId", request_id);
    put(headers, "access-control-allow-origin", "*");
    put(headers, "access-control-max-age", "172800");
    if let Some(v) = header(h, "access-control-request-headers") {
        put(headers, "access-control-allow-headers", v);
    }
    if let Some(v) = header(h, "access-control-request-method") {
        put(headers, "access-control-allow-methods", v);
    }
    r
}

/// `x-amz-id-2`: base64 of 72 random bytes, as AWS sends.
pub(crate) fn amz_id_2() -> String {
    let mut b = [0u8; 72];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::STANDARD.encode(b)
}
