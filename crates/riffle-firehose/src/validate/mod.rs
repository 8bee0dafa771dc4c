//! AWS's rules of CreateDeliveryStream and UpdateDestination beyond the
//! schema. The protocol core has already checked types, required members,
//! lengths, enums and patterns; what is left are rules across members, in
//! AWS's words where they are known, and Riffle's limits (which
//! destinations, sources and processors it serves) in clear words.
//!
//! Where the texts come from: "Exactly one destination configuration is
//! supported for a Firehose" and the UpdateDestination messages are as
//! moto has them (and floci reports the first from AWS); the encryption,
//! processor, S3 backup, common-attribute and Kinesis-source texts are as a
//! CloudFormation preflight rule set (`cdk_preflight`) quotes AWS; the
//! prefix texts are listed in [`prefix`]. Texts marked "Riffle's" are ours.
//!
//! Buffering hints: the model says that setting one of `SizeInMBs` and
//! `IntervalInSeconds` requires the other, but nothing shows AWS refusing
//! it, so Riffle accepts a lone member and uses the default (5 MiB, 300 s)
//! for the other rather than refuse pipelines that work on AWS.

pub mod prefix;
mod update;

pub use prefix::prefixes;
pub use update::update;

use std::collections::HashSet;

use riffle_model::firehose as api;

use crate::meta::{DestinationConfig, EncryptionState};
use crate::FirehoseError;

/// `DeliveryStreamType` values Riffle serves.
pub const DIRECT_PUT: &str = "DirectPut";
pub const KINESIS_STREAM_AS_SOURCE: &str = "KinesisStreamAsSource";

/// What CreateDeliveryStream resolved to, for the engine to store.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// `DirectPut` (the default) or `KinesisStreamAsSource`.
    pub delivery_stream_type: String,
    /// Given with `KinesisStreamAsSource`, never otherwise.
    pub kinesis_source: Option<api::KinesisStreamSourceConfiguration>,
    /// `ThroughputHintInMBs` of a DirectPut stream, informational only.
    /// `DeliveryStreamMeta` has no field for it yet, so the description
    /// shows an empty `DirectPutSourceDescription`.
    pub direct_put_source: Option<api::DirectPutSourceConfiguration>,
    pub destination: DestinationConfig,
    /// In request order; keys are unique.
    pub tags: Vec<api::Tag>,
    /// Server-side encryption asked for at creation (status `ENABLED`).
    pub encryption: Option<EncryptionState>,
}

fn invalid(msg: impl Into<String>) -> FirehoseError {
    FirehoseError::InvalidArgument(msg.into())
}

const EXACTLY_ONE: &str = "Exactly one destination configuration is supported for a Firehose";

/// Riffle's: a destination AWS has but Riffle does not serve yet.
fn unsupported_destination(member: &str) -> FirehoseError {
    invalid(format!(
        "{member} is not supported: Riffle supports ExtendedS3, S3, HttpEndpoint, Redshift, Elasticsearch, AmazonOpenSearchService, AmazonOpenSearchServerless and Splunk destinations."
    ))
}

/// CreateDeliveryStream's rules, in this order: exactly one destination,
/// the stream type and its source, a destination Riffle serves, the
/// server-side encryption input, the tags, then the destination's own rules
/// (see [`destination`]).
pub fn create(input: &api::CreateDeliveryStreamInput) -> Result<Plan, FirehoseError> {
    let present = [
        (
            "ExtendedS3DestinationConfiguration",
            input.extended_s3_destination_configuration.is_some(),
        ),
        (
            "S3DestinationConfiguration",
            input.s3_destination_configuration.is_some(),
        ),
        (
            "HttpEndpointDestinationConfiguration",
            input.http_endpoint_destination_configuration.is_some(),
        ),
        (
            "RedshiftDestinationConfiguration",
            input.redshift_destination_configuration.is_some(),
        ),
        (
            "ElasticsearchDestinationConfiguration",
            input.elasticsearch_destination_configuration.is_some(),
        ),
        (
            "AmazonopensearchserviceDestinationConfiguration",
            input
                .amazonopensearchservice_destination_configuration
                .is_some(),
        ),
        (
            "AmazonOpenSearchServerlessDestinationConfiguration",
            input
                .amazon_open_search_serverless_destination_configuration
                .is_some(),
        ),
        (
            "SplunkDestinationConfiguration",
            input.splunk_destination_configuration.is_some(),
        ),
        (
            "SnowflakeDestinationConfiguration",
            input.snowflake_destination_configuration.is_some(),
        ),
        (
            "IcebergDestinationConfiguration",
            input.iceberg_destination_configuration.is_some(),
        ),
    ];
    let given: Vec<&str> = present
        .iter()
        .filter(|(_, p)| *p)
        .map(|(name, _)| *name)
        .collect();
    let [member] = given[..] else {
        return Err(invalid(EXACTLY_ONE));
    };

    let stream_type = source(input)?;

    let destination = if let Some(c) = &input.extended_s3_destination_configuration {
        DestinationConfig::ExtendedS3(Box::new(c.clone()))
    } else if let Some(c) = &input.s3_destination_configuration {
        DestinationConfig::S3(Box::new(c.clone()))
    } else if let Some(c) = &input.http_endpoint_destination_configuration {
        DestinationConfig::HttpEndpoint(Box::new(c.clone()))
    } else if let Some(c) = &input.redshift_destination_configuration {
        DestinationConfig::Redshift(Box::new(c.clone()))
    } else if let Some(c) = &input.elasticsearch_destination_configuration {
        DestinationConfig::Elasticsearch(Box::new(c.clone()))
    } else if let Some(c) = &input.amazonopensearchservice_destination_configuration {
        DestinationConfig::OpenSearch(Box::new(c.clone()))
    } else if let Some(c) = &input.amazon_open_search_serverless_destination_configuration {
        DestinationConfig::OpenSearchServerless(Box::new(c.clone()))
    } else if let Some(c) = &input.splunk_destination_configuration {
        DestinationConfig::Splunk(Box::new(c.clone()))
    } else {
        return Err(unsupported_destination(member));
    };

    let encryption = match &input.delivery_stream_encryption_configuration_input {
        Some(e) => {
            if stream_type != DIRECT_PUT {
                return Err(invalid(
                    "Server side encryption from firehose is only allowed for direct put delivery streams and database as a source delivery streams",
                ));
            }
            Some(encryption(e)?)
        }
        None => None,
    };

    let tag_list = input.tags.clone().unwrap_or_default();
    tags(&tag_list)?;

    self::destination(&destination)?;

    Ok(Plan {
        delivery_stream_type: stream_type.to_owned(),
        kinesis_source: input.kinesis_stream_source_configuration.clone(),
        direct_put_source: input.direct_put_source_configuration.clone(),
        destination,
        tags: tag_list,
        encryption,
    })
}

/// The stream type (default DirectPut) against the source configurations.
fn source(input: &api::CreateDeliveryStreamInput) -> Result<&'static str, FirehoseError> {
    let unsupported_type = |t: &str| {
        // Riffle's.
        invalid(format!(
            "DeliveryStreamType {t} is not supported: Riffle supports the DirectPut and KinesisStreamAsSource delivery stream types for now."
        ))
    };
    let stream_type = match input.delivery_stream_type.as_deref().unwrap_or(DIRECT_PUT) {
        DIRECT_PUT => DIRECT_PUT,
        KINESIS_STREAM_AS_SOURCE => KINESIS_STREAM_AS_SOURCE,
        other => return Err(unsupported_type(other)),
    };
    if input.msk_source_configuration.is_some() {
        return Err(unsupported_type("MSKAsSource"));
    }
    if input.database_source_configuration.is_some() {
        return Err(unsupported_type("DatabaseAsSource"));
    }
    match stream_type {
        DIRECT_PUT if input.kinesis_stream_source_configuration.is_some() => Err(invalid(
            "KinesisSourceStreamConfig is only applicable for KinesisStreamAsSource stream type",
        )),
        KINESIS_STREAM_AS_SOURCE if input.kinesis_stream_source_configuration.is_none() => {
            Err(invalid(
                "KinesisSourceStreamConfig is mandatory for KinesisStreamAsSource stream type.",
            ))
        }
        // Riffle's, by analogy with the Kinesis one.
        KINESIS_STREAM_AS_SOURCE if input.direct_put_source_configuration.is_some() => Err(
            invalid("DirectPutSourceConfiguration is only applicable for DirectPut stream type"),
        ),
        t => Ok(t),
    }
}

/// `DeliveryStreamEncryptionConfigurationInput` (CreateDeliveryStream and
/// StartDeliveryStreamEncryption): a customer managed key needs its ARN, an
/// AWS owned one must not have one. Yields the `ENABLED` state.
pub fn encryption(
    input: &api::DeliveryStreamEncryptionConfigurationInput,
) -> Result<EncryptionState, FirehoseError> {
    match (input.key_type.as_str(), &input.key_arn) {
        ("CUSTOMER_MANAGED_CMK", None) => Err(invalid(
            "KeyARN has to be specified when KeyType is CUSTOMER_MANAGED_CMK",
        )),
        ("AWS_OWNED_CMK", Some(_)) => Err(invalid(
            "KeyARN cannot be specified when KeyType is AWS_OWNED_CMK",
        )),
        (key_type, key_arn) => Ok(EncryptionState {
            status: "ENABLED".into(),
            key_type: Some(key_type.to_owned()),
            key_arn: key_arn.clone(),
        }),
    }
}

/// At most 50 tags, unique keys, none under `aws:` (the schema checks the
/// count and the prefix too; this guards callers that bypass it, such as
/// TagDeliveryStream merging into existing tags). Texts are Riffle's.
pub fn tags(tags: &[api::Tag]) -> Result<(), FirehoseError> {
    if tags.len() > 50 {
        return Err(invalid(format!(
            "A delivery stream can have at most 50 tags; {} were given.",
            tags.len()
        )));
    }
    let mut seen = HashSet::new();
    for t in tags {
        if t.key.starts_with("aws:") {
            return Err(invalid(format!(
                "Tag key {} is not allowed: keys starting with aws: are reserved.",
                t.key
            )));
        }
        if !seen.insert(t.key.as_str()) {
            return Err(invalid(format!("Duplicate tag key {} given.", t.key)));
        }
    }
    Ok(())
}

/// A destination's own rules; UpdateDestination runs them on the merged
/// configuration too.
pub fn destination(d: &DestinationConfig) -> Result<(), FirehoseError> {
    match d {
        DestinationConfig::ExtendedS3(c) => extended_s3(c),
        DestinationConfig::S3(c) => s3(c),
        DestinationConfig::HttpEndpoint(c) => http_endpoint(c),
        // TODO(issue 12): the AWS rules of these destinations.
        DestinationConfig::Redshift(_)
        | DestinationConfig::Elasticsearch(_)
        | DestinationConfig::OpenSearch(_)
        | DestinationConfig::OpenSearchServerless(_)
        | DestinationConfig::Splunk(_) => Ok(()),
    }
}

/// Exactly one of `NoEncryptionConfig` and `KMSEncryptionConfig`.
fn s3_encryption(e: Option<&api::EncryptionConfiguration>) -> Result<(), FirehoseError> {
    if let Some(e) = e {
        if e.no_encryption_config.is_some() == e.kms_encryption_config.is_some() {
            return Err(invalid(
                "Exactly one of NoEncryptionConfig or KMSEncryptionConfig must be specified",
            ));
        }
    }
    Ok(())
}

/// The plain S3 configuration (the legacy destination, a backup, or an
/// HTTP endpoint's S3 configuration).
fn s3(c: &api::S3DestinationConfiguration) -> Result<(), FirehoseError> {
    s3_encryption(c.encryption_configuration.as_ref())?;
    prefixes(c.prefix.as_deref(), c.error_output_prefix.as_deref())?;
    prefix::partition_keys(c.prefix.as_deref(), false)
}

fn extended_s3(c: &api::ExtendedS3DestinationConfiguration) -> Result<(), FirehoseError> {
    s3_encryption(c.encryption_configuration.as_ref())?;
    let dynamic_partitioning = c
        .dynamic_partitioning_configuration
        .as_ref()
        .is_some_and(|d| d.enabled == Some(true));
    prefixes(c.prefix.as_deref(), c.error_output_prefix.as_deref())?;
    prefix::partition_keys(c.prefix.as_deref(), dynamic_partitioning)?;
    processing(c.processing_configuration.as_ref())?;
    match (&c.s3_backup_mode, &c.s3_backup_configuration) {
        (Some(mode), None) if mode == "Enabled" => Err(invalid(
            "S3 backup destination configuration is required when enabling S3 backup.",
        )),
        (_, Some(backup)) => s3(backup),
        _ => Ok(()),
    }
}

fn http_endpoint(c: &api::HttpEndpointDestinationConfiguration) -> Result<(), FirehoseError> {
    endpoint_url(&c.endpoint_configuration.url)?;
    if let Some(attrs) = c
        .request_configuration
        .as_ref()
        .and_then(|r| r.common_attributes.as_ref())
    {
        let mut seen = HashSet::new();
        for a in attrs {
            if !seen.insert(a.attribute_name.as_str()) {
                return Err(invalid(format!(
                    "Http Endpoint Common Attributes have duplicate name {}",
                    a.attribute_name
                )));
            }
        }
    }
    processing(c.processing_configuration.as_ref())?;
    s3(&c.s3_configuration)
}

/// Riffle delivers to `http://` as well as `https://` (a deliberate
/// deviation: AWS wants HTTPS on 443, and the edge relaxes the schema's
/// `https://.*` pattern). The URL is sensitive in the model, so the
/// message does not echo it.
fn endpoint_url(url: &str) -> Result<(), FirehoseError> {
    let ok = url.parse::<http::Uri>().is_ok_and(|u| {
        matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some_and(|h| !h.is_empty())
    });
    if ok {
        Ok(())
    } else {
        // Riffle's.
        Err(invalid(
            "EndpointConfiguration.Url must be an absolute http:// or https:// URL with a host.",
        ))
    }
}

/// Processors Riffle runs.
const SUPPORTED_PROCESSORS: [&str; 3] =
    ["Lambda", "RecordDeAggregation", "AppendDelimiterToRecord"];

/// `ProcessingConfiguration`: with processing enabled, 1 to 5 processors of
/// types Riffle runs; parameters are checked whether or not it is enabled,
/// as AWS does.
fn processing(p: Option<&api::ProcessingConfiguration>) -> Result<(), FirehoseError> {
    let Some(p) = p else {
        return Ok(());
    };
    let processors = p.processors.as_deref().unwrap_or_default();
    let enabled = p.enabled == Some(true);
    if enabled && !(1..=5).contains(&processors.len()) {
        return Err(invalid(
            "A maximum of 5 and a minimum of 1 processor needs to be supplied when processing is enabled.",
        ));
    }
    if processors.iter().filter(|x| x.r#type == "Lambda").count() > 1 {
        return Err(invalid("Cannot have more than 1 Lambda processor."));
    }
    for proc in processors {
        if enabled && !SUPPORTED_PROCESSORS.contains(&proc.r#type.as_str()) {
            // Riffle's.
            return Err(invalid(format!(
                "Processor type {} is not supported: Riffle supports the Lambda, RecordDeAggregation and AppendDelimiterToRecord processors for now.",
                proc.r#type
            )));
        }
        let param = |name: &str| param(proc, name);
        match proc.r#type.as_str() {
            "Lambda" => lambda_parameters(proc)?,
            "RecordDeAggregation" => match param("SubRecordType") {
                Some("DELIMITED") if param("Delimiter").is_none() => {
                    return Err(invalid("Delimiter should be present for DELIMITED"))
                }
                Some("JSON" | "DELIMITED") | None => {}
                Some(_) => return Err(invalid("SubRecordType has to be one of JSON, DELIMITED")),
            },
            _ => {}
        }
    }
    Ok(())
}

/// A processor parameter's value by name.
fn param<'a>(proc: &'a api::Processor, name: &str) -> Option<&'a str> {
    proc.parameters
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|x| x.parameter_name == name)
        .map(|x| x.parameter_value.as_str())
}

fn lambda_parameters(proc: &api::Processor) -> Result<(), FirehoseError> {
    let param = |name: &str| param(proc, name);
    if param("LambdaArn").is_none() {
        return Err(invalid(
            "LambdaArn is required when Lambda processor is used.",
        ));
    }
    if let Some(v) = param("NumberOfRetries") {
        if !v
            .trim()
            .parse::<i64>()
            .is_ok_and(|n| (0..=300).contains(&n))
        {
            return Err(invalid(
                "Number of retries for lambda must be between 0 and 300.",
            ));
        }
    }
    let size = param("BufferSizeInMBs");
    let interval = param("BufferIntervalInSeconds");
    if size.is_some() != interval.is_some() {
        return Err(invalid(
            "Both BufferSizeInMBs and BufferIntervalInSeconds are required to configure buffering for lambda processor.",
        ));
    }
    if let Some(v) = size {
        if !v
            .trim()
            .parse::<f64>()
            .is_ok_and(|n| (0.2..=3.0).contains(&n))
        {
            return Err(invalid(
                "BufferSizeInMBs for lambda processor must be between 0.2 and 3.",
            ));
        }
    }
    if let Some(v) = interval {
        if !v
            .trim()
            .parse::<i64>()
            .is_ok_and(|n| (0..=900).contains(&n))
        {
            return Err(invalid(
                "BufferIntervalInSeconds for lambda processor must be between 0 and 900.",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
