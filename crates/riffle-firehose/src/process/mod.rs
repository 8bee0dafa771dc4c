//! Record processors: the Lambda transformation contract, KPL de-aggregation, delimiters.
//!
//! A delivery stream's `ProcessingConfiguration` becomes a [`Pipeline`]
//! (built once per configuration version, reused for every batch). It runs
//! the processors in AWS's order, whatever order the configuration lists
//! them in (Firehose guide, "dynamic partitioning of aggregated data":
//! "de-aggregation → data transformation through Lambda → partitioning
//! keys"), the new-line delimiter last:
//!
//! ```text
//! RecordDeAggregation (JSON | DELIMITED | KPL) → Lambda → AppendDelimiterToRecord
//! ```
//!
//! Every input record (after de-aggregation: every sub-record) comes out
//! exactly once as a [`ProcessedRecord`]: `Ok` goes to the destination,
//! `Dropped` nowhere (it counts as success), `Failed` to the
//! `processing-failed` error output in AWS's format ([`FailedRecord`] with
//! `lambdaArn`).
//!
//! Batching for the Lambda (`BufferSizeInMBs`, `BufferIntervalInSeconds`)
//! belongs to the caller: [`Pipeline::process`] splits whatever it is given
//! into invocations of at most `BufferSizeInMBs` of data, and
//! [`Pipeline::lambda_buffer_interval`] says how long the delivery loop may
//! hold records before handing them over.
//!
//! [`FailedRecord`]: crate::destination::FailedRecord

pub mod deagg;
pub mod kpl;
pub mod lambda;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use riffle_model::firehose::ProcessingConfiguration;

pub use deagg::SubRecordType;
pub use lambda::{FunctionTargets, InvokeError, LambdaProcessor, Target};

use crate::destination::FailedRecord;

/// The delimiter `AppendDelimiterToRecord` appends. AWS's processor takes
/// no parameter ("a new line delimiter between records"); any parameter is
/// ignored.
pub const RECORD_DELIMITER: &[u8] = b"\n";

/// A record entering processing.
#[derive(Clone, Debug, PartialEq)]
pub struct InRecord {
    /// Unique within one [`Pipeline::process`] call: the Lambda contract
    /// matches answers by it.
    pub record_id: String,
    pub data: Bytes,
    /// Epoch ms when Firehose accepted the record (`approximateArrivalTimestamp`).
    pub arrival_ms: i64,
    /// Present for a Kinesis stream source (`kinesisRecordMetadata`).
    pub kinesis_metadata: Option<KinesisRecordMetadata>,
}

/// Where a record of a Kinesis stream source came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KinesisRecordMetadata {
    pub shard_id: String,
    pub partition_key: String,
    pub approximate_arrival_ms: i64,
    pub sequence_number: String,
    pub subsequence_number: u64,
}

/// What the Lambda event says about the delivery stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchContext {
    pub delivery_stream_arn: String,
    pub region: String,
    /// Set for a `KinesisStreamAsSource` delivery stream.
    pub source_kinesis_stream_arn: Option<String>,
}

/// The outcome for one record.
#[derive(Clone, Debug, PartialEq)]
pub enum ProcessedRecord {
    /// Deliver `data`. `partition_keys` are the Lambda's
    /// `metadata.partitionKeys` (empty without a Lambda), for
    /// `!{partitionKeyFromLambda:…}` prefixes.
    Ok {
        record_id: String,
        data: Bytes,
        arrival_ms: i64,
        partition_keys: BTreeMap<String, String>,
    },
    /// The function dropped it on purpose: success, nothing delivered.
    Dropped { record_id: String },
    /// Goes to the `processing-failed` error output.
    Failed {
        record_id: String,
        failed: FailedRecord,
    },
}

impl ProcessedRecord {
    pub fn record_id(&self) -> &str {
        match self {
            ProcessedRecord::Ok { record_id, .. }
            | ProcessedRecord::Dropped { record_id }
            | ProcessedRecord::Failed { record_id, .. } => record_id,
        }
    }
}

/// The processors of one `ProcessingConfiguration`, in AWS's order.
#[derive(Clone, Debug, Default)]
pub struct Pipeline {
    deaggregation: Option<SubRecordType>,
    lambda: Option<LambdaProcessor>,
    append_delimiter: bool,
}

impl Pipeline {
    /// No processing: records pass through as `Ok`.
    pub fn passthrough() -> Pipeline {
        Pipeline::default()
    }

    /// Builds the pipeline of a destination's `ProcessingConfiguration`.
    /// `Enabled` absent or false means no processing (the processors are
    /// kept in the configuration only). Refused: a processor type Riffle
    /// does not run (`Decompression`, `CloudWatchLogProcessing`,
    /// `MetadataExtraction`), two processors of one type, missing or
    /// malformed parameters.
    pub fn from_config(
        config: &ProcessingConfiguration,
        targets: &FunctionTargets,
    ) -> Result<Pipeline, String> {
        let mut p = Pipeline::default();
        if config.enabled != Some(true) {
            return Ok(p);
        }
        for proc in config.processors.iter().flatten() {
            let params: Vec<(String, String)> = proc
                .parameters
                .iter()
                .flatten()
                .map(|p| (p.parameter_name.clone(), p.parameter_value.clone()))
                .collect();
            let get = |name: &str| {
                params
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            let duplicate = || format!("only one {} processor is allowed", proc.r#type);
            match proc.r#type.as_str() {
                "RecordDeAggregation" => {
                    if p.deaggregation.is_some() {
                        return Err(duplicate());
                    }
                    let kind = get("SubRecordType").ok_or(
                        "the RecordDeAggregation processor requires the SubRecordType parameter",
                    )?;
                    p.deaggregation = Some(SubRecordType::from_params(kind, get("Delimiter"))?);
                }
                "Lambda" => {
                    if p.lambda.is_some() {
                        return Err(duplicate());
                    }
                    p.lambda = Some(LambdaProcessor::new(&params, targets)?);
                }
                "AppendDelimiterToRecord" => {
                    if p.append_delimiter {
                        return Err(duplicate());
                    }
                    p.append_delimiter = true;
                }
                other => {
                    return Err(format!(
                        "processor type {other} is not supported by Riffle; supported: \
                         RecordDeAggregation, Lambda, AppendDelimiterToRecord"
                    ))
                }
            }
        }
        Ok(p)
    }

    /// True when processing changes nothing (records pass through as `Ok`).
    pub fn is_passthrough(&self) -> bool {
        self.deaggregation.is_none() && self.lambda.is_none() && !self.append_delimiter
    }

    pub fn lambda(&self) -> Option<&LambdaProcessor> {
        self.lambda.as_ref()
    }

    /// The Lambda's `BufferIntervalInSeconds`, if there is a Lambda: hand
    /// records to [`Pipeline::process`] no later than this after the oldest
    /// of them arrived.
    pub fn lambda_buffer_interval(&self) -> Option<Duration> {
        self.lambda.as_ref().map(LambdaProcessor::buffer_interval)
    }

    /// The Lambda's `BufferSizeInMBs` in bytes, if there is a Lambda.
    pub fn lambda_buffer_size_bytes(&self) -> Option<usize> {
        self.lambda.as_ref().map(LambdaProcessor::buffer_size_bytes)
    }

    /// Runs the pipeline. One result per record after de-aggregation, in
    /// order; de-aggregated sub-records have ids `<parent id>.<index>`.
    pub async fn process(
        &self,
        ctx: &BatchContext,
        records: Vec<InRecord>,
    ) -> Vec<ProcessedRecord> {
        let records = match &self.deaggregation {
            Some(kind) => deagg::split_all(kind, records),
            None => records,
        };
        let mut out = match &self.lambda {
            Some(l) => l.process(ctx, records).await,
            None => records
                .into_iter()
                .map(|r| ProcessedRecord::Ok {
                    record_id: r.record_id,
                    data: r.data,
                    arrival_ms: r.arrival_ms,
                    partition_keys: BTreeMap::new(),
                })
                .collect(),
        };
        if self.append_delimiter {
            for r in &mut out {
                if let ProcessedRecord::Ok { data, .. } = r {
                    *data = append_delimiter(data);
                }
            }
        }
        out
    }
}

/// `data` followed by [`RECORD_DELIMITER`].
pub fn append_delimiter(data: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(data.len() + RECORD_DELIMITER.len());
    v.extend_from_slice(data);
    v.extend_from_slice(RECORD_DELIMITER);
    Bytes::from(v)
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_model::firehose::{Processor, ProcessorParameter};

    fn proc(t: &str, params: &[(&str, &str)]) -> Processor {
        Processor {
            r#type: t.into(),
            parameters: Some(
                params
                    .iter()
                    .map(|(k, v)| ProcessorParameter {
                        parameter_name: k.to_string(),
                        parameter_value: v.to_string(),
                    })
                    .collect(),
            ),
        }
    }

    fn config(enabled: Option<bool>, procs: Vec<Processor>) -> ProcessingConfiguration {
        ProcessingConfiguration {
            enabled,
            processors: Some(procs),
        }
    }

    fn ctx() -> BatchContext {
        BatchContext {
            delivery_stream_arn: "arn:aws:firehose:us-east-1:000000000000:deliverystream/s".into(),
            region: "us-east-1".into(),
            source_kinesis_stream_arn: None,
        }
    }

    fn rec(id: &str, data: &str) -> InRecord {
        InRecord {
            record_id: id.into(),
            data: Bytes::copy_from_slice(data.as_bytes()),
            arrival_ms: 42,
            kinesis_metadata: None,
        }
    }

    fn ok_data(out: &[ProcessedRecord]) -> Vec<String> {
        out.iter()
            .filter_map(|r| match r {
                ProcessedRecord::Ok { data, .. } => {
                    Some(String::from_utf8_lossy(data).into_owned())
                }
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn append_delimiter_adds_a_newline_to_each_record() {
        let t = FunctionTargets::new();
        let p = Pipeline::from_config(
            &config(Some(true), vec![proc("AppendDelimiterToRecord", &[])]),
            &t,
        )
        .expect("test");
        let out = p
            .process(&ctx(), vec![rec("1", "a"), rec("2", ""), rec("3", "c\n")])
            .await;
        assert_eq!(ok_data(&out), ["a\n", "\n", "c\n\n"]);
        assert!(matches!(
            &out[0],
            ProcessedRecord::Ok { arrival_ms: 42, .. }
        ));
    }

    #[tokio::test]
    async fn deaggregation_runs_before_the_delimiter_whatever_the_listed_order() {
        let t = FunctionTargets::new();
        let p = Pipeline::from_config(
            &config(
                Some(true),
                vec![
                    proc("AppendDelimiterToRecord", &[]),
                    proc("RecordDeAggregation", &[("SubRecordType", "JSON")]),
                ],
            ),
            &t,
        )
        .expect("test");
        let out = p.process(&ctx(), vec![rec("r", r#"{"a":1}{"b":2}"#)]).await;
        assert_eq!(ok_data(&out), ["{\"a\":1}\n", "{\"b\":2}\n"]);
        assert_eq!(out[1].record_id(), "r.1");
    }

    #[tokio::test]
    async fn disabled_or_absent_means_passthrough() {
        let t = FunctionTargets::new();
        for enabled in [None, Some(false)] {
            let p = Pipeline::from_config(
                &config(enabled, vec![proc("AppendDelimiterToRecord", &[])]),
                &t,
            )
            .expect("test");
            assert!(p.is_passthrough());
            let out = p.process(&ctx(), vec![rec("1", "a")]).await;
            assert_eq!(ok_data(&out), ["a"]);
        }
    }

    #[test]
    fn unsupported_and_duplicate_processors_are_refused() {
        let t = FunctionTargets::new();
        for procs in [
            vec![proc("Decompression", &[("CompressionFormat", "GZIP")])],
            vec![proc("MetadataExtraction", &[])],
            vec![proc("Lambda", &[])],
            vec![proc("RecordDeAggregation", &[])],
            vec![
                proc("Lambda", &[("LambdaArn", "a")]),
                proc("Lambda", &[("LambdaArn", "b")]),
            ],
        ] {
            assert!(Pipeline::from_config(&config(Some(true), procs), &t).is_err());
        }
    }

    #[tokio::test]
    async fn an_unmapped_function_fails_every_record_with_resource_not_found() {
        let t = FunctionTargets::new();
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:nowhere";
        let p = Pipeline::from_config(
            &config(Some(true), vec![proc("Lambda", &[("LambdaArn", arn)])]),
            &t,
        )
        .expect("test");
        assert_eq!(p.lambda_buffer_interval(), Some(Duration::from_secs(60)));
        let out = p.process(&ctx(), vec![rec("1", "a"), rec("2", "b")]).await;
        assert_eq!(out.len(), 2);
        for r in &out {
            let ProcessedRecord::Failed { failed, .. } = r else {
                panic!("{r:?}")
            };
            assert_eq!(failed.error_code, "Lambda.ResourceNotFound");
            assert_eq!(failed.extra, vec![("lambdaArn", arn.to_string())]);
            assert_eq!(failed.arrival_ms, 42);
        }
    }
}
