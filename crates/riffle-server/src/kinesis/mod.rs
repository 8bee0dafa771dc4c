//! Kinesis Data Streams behind the edge: builds the typed input from the
//! protocol table's call, runs it on the `riffle-streams` engine, and maps
//! domain errors to AWS errors (`errors.rs`, the only place that happens).

mod authorize;
mod errors;
mod metrics;
mod streamed;
mod subscribe;

use crate::respond::Reply;
use crate::security::RequestContext;
use crate::service::{BoxFuture, Service};
use errors::to_api_error;
use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use riffle_model::{ApiError, Input, Output};
use riffle_protocol::{kinesis, Call, Format, ServiceSpec};
use riffle_streams::{Engine, StreamsError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The Kinesis service over one engine.
pub struct KinesisService {
    engine: Arc<Engine>,
    retention_every: Duration,
    /// When retention and on-demand scaling last ran (`maintain` paces them).
    last: Mutex<(Instant, Instant)>,
}

impl KinesisService {
    /// `retention_every`: how often due retention is enforced (whole segments deleted).
    pub fn new(engine: Arc<Engine>, retention_every: Duration) -> KinesisService {
        KinesisService {
            engine,
            retention_every,
            last: Mutex::new((Instant::now(), Instant::now())),
        }
    }

    async fn run(&self, format: Format, input: Input) -> Reply {
        let resource = tracing::enabled!(tracing::Level::DEBUG)
            .then(|| stream_of(&self.engine, &input))
            .flatten();
        let reply = match input {
            // Streamed: an event stream for minutes.
            Input::SubscribeToShard(i) => subscribe::respond(&self.engine, i, format).await,
            input => match dispatch(&self.engine, input).await {
                Ok(Output::GetRecords(o))
                    if format == Format::Json && streamed::should_stream(&o) =>
                {
                    match streamed::JsonBody::new(o) {
                        Some(body) => {
                            Reply::streamed(format.content_type(), axum::body::Body::new(body))
                        }
                        None => Reply::error(format, &ApiError::internal()),
                    }
                }
                Ok(out) => Reply::wire(kinesis::encode_output(format, &out)),
                Err(e) => Reply::error(format, &to_api_error(e)),
            },
        };
        reply.with_resource(resource)
    }
}

impl Service for KinesisService {
    fn spec(&self) -> &'static ServiceSpec {
        &kinesis::SERVICE
    }

    fn call<'s>(&'s self, call: Call<'_>, ctx: Arc<RequestContext>) -> BoxFuture<'s, Reply> {
        let (format, op) = (call.format, call.op);
        let Some((_, input)) = kinesis::build_call(call) else {
            return Box::pin(async move { Reply::error(format, &ApiError::internal()) });
        };
        if let Err(e) = authorize::authorize(&self.engine, &ctx, op, &input) {
            return Box::pin(async move { Reply::error(format, &e) });
        }
        Box::pin(self.run(format, input))
    }

    fn check_ready(&self) -> Result<(), String> {
        self.engine.check_ready().map_err(|e| e.to_string())
    }

    fn maintain(&self) {
        let (run_retention, run_autoscale) = {
            let mut last = self.last.lock();
            let retention = last.0.elapsed() >= self.retention_every;
            if retention {
                last.0 = Instant::now();
            }
            let autoscale = last.1.elapsed() >= Duration::from_secs(1);
            if autoscale {
                last.1 = Instant::now();
            }
            (retention, autoscale)
        };
        self.engine.settle_all();
        if run_autoscale {
            self.engine.autoscale();
        }
        if run_retention {
            let freed = self.engine.enforce_retention();
            if freed > 0 {
                tracing::info!(bytes = freed, "retention: deleted expired segments");
            }
        }
    }

    fn end_streams(&self) {
        self.engine.end_subscriptions();
    }

    fn flush(&self) {
        self.engine.sync_all();
    }

    fn collector(&self) -> Option<Box<dyn Collector>> {
        Some(metrics::engine_collector(self.engine.clone()))
    }
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

/// The stream a request names, for the request log (only computed when
/// debug logging is on).
pub(crate) fn stream_of(engine: &Engine, input: &Input) -> Option<String> {
    use Input as I;
    let r = match input {
        I::CreateStream(i) => return Some(i.stream_name.clone()),
        I::DeleteStream(i) => &i.stream,
        I::DescribeStream(i) => &i.stream,
        I::DescribeStreamSummary(i) => &i.stream,
        I::ListShards(i) => &i.stream,
        I::PutRecord(i) => &i.stream,
        I::PutRecords(i) => &i.stream,
        I::GetShardIterator(i) => &i.stream,
        I::GetRecords(i) => return engine.iterator_stream(&i.shard_iterator),
        I::SubscribeToShard(i) => {
            return riffle_streams::arn::parse_consumer_arn(&i.consumer_arn).map(|p| p.stream)
        }
        _ => return None,
    };
    r.name.clone().or_else(|| {
        r.arn
            .as_deref()
            .and_then(riffle_streams::arn::parse_stream_arn)
            .map(|p| p.name)
    })
}
