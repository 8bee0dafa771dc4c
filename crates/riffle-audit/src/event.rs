//! One CloudTrail record ([`AuditEvent`]), serialized with CloudTrail's own
//! member names so CloudTrail tooling (Athena tables, `jq` recipes, SIEM
//! parsers) reads Riffle's files unchanged.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The record format version CloudTrail documents as current.
pub const EVENT_VERSION: &str = "1.11";

/// CloudTrail truncates `userAgent`, `errorCode` and `errorMessage` at 1 KB.
pub const TEXT_LIMIT: usize = 1024;

/// CloudTrail limits `requestParameters` to 100 KB.
pub const REQUEST_PARAMETERS_LIMIT: usize = 100 * 1024;

/// Whether an event is a control-plane (management) or a record-level (data)
/// call; decides durability: management events are fsynced before the
/// response, data events within the commit window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventCategory {
    Management,
    Data,
}

/// A CloudTrail record. Every member CloudTrail always writes is always
/// present (`requestParameters`/`responseElements` as `null`); optional ones
/// are omitted when `None`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub event_version: String,
    pub user_identity: UserIdentity,
    #[serde(with = "cloudtrail_time")]
    pub event_time: DateTime<Utc>,
    pub event_source: String,
    pub event_name: String,
    pub aws_region: String,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    pub user_agent: String,
    #[serde(default)]
    pub request_parameters: Value,
    #[serde(default)]
    pub response_elements: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(rename = "requestID")]
    pub request_id: String,
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub read_only: bool,
    /// Omitted when empty, as in CloudTrail's samples for calls that name no
    /// resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub management_event: bool,
    pub recipient_account_id: String,
    #[serde(
        default,
        rename = "sharedEventID",
        skip_serializing_if = "Option::is_none"
    )]
    pub shared_event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_id: Option<String>,
    pub event_category: EventCategory,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_details: Option<TlsDetails>,
    /// CloudTrail's free-form `additionalEventData`; Riffle's audit mode
    /// notes here what enforce mode would have refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<Value>,
}

/// `userIdentity`: who made the call. `kind` is CloudTrail's `type`
/// (`IAMUser`, `AssumedRole`, `Root`, `AWSAccount`, `FederatedUser`, …).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_context: Option<SessionContext>,
    /// For `AWSService` callers: the calling service's DNS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
}

/// `userIdentity.sessionContext`, present for temporary credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_issuer: Option<SessionIssuer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<SessionAttributes>,
}

/// `sessionContext.sessionIssuer`: the role (or user) that issued the session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
}

/// `sessionContext.attributes`. CloudTrail writes `mfaAuthenticated` as the
/// string `"true"`/`"false"` and `creationDate` as an ISO-8601 time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_authenticated: Option<String>,
}

/// One entry of `resources`. CloudTrail spells the ARN member `ARN`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "ARN")]
    pub arn: String,
}

/// `tlsDetails`, for calls that arrived over TLS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsDetails {
    pub tls_version: String,
    pub cipher_suite: String,
    pub client_provided_host_header: String,
}

impl AuditEvent {
    /// An `AwsApiCall` with a fresh `eventID`, `eventTime` cut to whole
    /// seconds (CloudTrail writes none) and no parameters, error or
    /// resources; the caller fills in the rest through the public fields.
    pub fn api_call(
        event_time: DateTime<Utc>,
        event_source: &str,
        event_name: &str,
        user_identity: UserIdentity,
        category: EventCategory,
    ) -> AuditEvent {
        AuditEvent {
            event_version: EVENT_VERSION.to_string(),
            user_identity,
            event_time: whole_seconds(event_time),
            event_source: event_source.to_string(),
            event_name: event_name.to_string(),
            aws_region: String::new(),
            source_ip_address: String::new(),
            user_agent: String::new(),
            request_parameters: Value::Null,
            response_elements: Value::Null,
            error_code: None,
            error_message: None,
            request_id: String::new(),
            event_id: uuid::Uuid::new_v4().to_string(),
            read_only: false,
            resources: Vec::new(),
            event_type: "AwsApiCall".to_string(),
            api_version: None,
            management_event: category == EventCategory::Management,
            recipient_account_id: String::new(),
            shared_event_id: None,
            vpc_endpoint_id: None,
            event_category: category,
            tls_details: None,
            additional_event_data: None,
        }
    }

    /// Enforces CloudTrail's limits and invariants before an event is
    /// written, whatever the caller built: 1 KB text members, whole-second
    /// time, `managementEvent` agreeing with `eventCategory`.
    pub fn normalize(&mut self) {
        truncate_utf8(&mut self.user_agent, TEXT_LIMIT);
        if let Some(code) = &mut self.error_code {
            truncate_utf8(code, TEXT_LIMIT);
        }
        if let Some(msg) = &mut self.error_message {
            truncate_utf8(msg, TEXT_LIMIT);
        }
        self.event_time = whole_seconds(self.event_time);
        self.management_event = self.event_category == EventCategory::Management;
    }

    /// True for events that must be durable before the call returns.
    pub fn is_management(&self) -> bool {
        self.event_category == EventCategory::Management
    }
}

fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// Cuts `s` to at most `limit` bytes on a character boundary.
fn truncate_utf8(s: &mut String, limit: usize) {
    if s.len() <= limit {
        return;
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}

/// CloudTrail's `requestParameters` from a decoded request body: every
/// member name has its first letter lowercased (`StreamName` →
/// `streamName`, `KMSEncryptionConfig` → `kMSEncryptionConfig`) at any
/// depth, members whose original name is in `drop` are removed at any depth
/// (record payloads such as `Data`), and an input with no members gives
/// `null`. A result larger than 100 KB of JSON is replaced by
/// `{"omitted": true, "reason": "...", "originalSizeBytes": N}`.
pub fn request_parameters(input: &Value, drop: &[&str]) -> Value {
    let out = match input {
        Value::Null => return Value::Null,
        Value::Object(m) if m.is_empty() => return Value::Null,
        v => rename_members(v, drop),
    };
    let size = serde_json::to_vec(&out).map(|v| v.len()).unwrap_or(0);
    if size > REQUEST_PARAMETERS_LIMIT {
        let mut marker = Map::new();
        marker.insert("omitted".into(), Value::Bool(true));
        marker.insert(
            "reason".into(),
            Value::String(format!(
                "requestParameters larger than {REQUEST_PARAMETERS_LIMIT} bytes"
            )),
        );
        marker.insert("originalSizeBytes".into(), Value::from(size));
        return Value::Object(marker);
    }
    out
}

fn rename_members(v: &Value, drop: &[&str]) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !drop.contains(&k.as_str()))
                .map(|(k, v)| (lower_first(k), rename_members(v, drop)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| rename_members(v, drop)).collect()),
        other => other.clone(),
    }
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// CloudTrail's `eventTime`: UTC `YYYY-MM-DDTHH:MM:SSZ`, no fraction.
/// Reading accepts any RFC 3339 time.
pub(crate) mod cloudtrail_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub const FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.format(FORMAT))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lowercases_first_letter_at_every_depth() {
        let input = json!({
            "StreamName": "orders",
            "KMSEncryptionConfig": {"AWSKMSKeyARN": "k"},
            "Records": [{"PartitionKey": "p", "Data": "AAAA"}],
        });
        let out = request_parameters(&input, &["Data"]);
        assert_eq!(
            out,
            json!({
                "streamName": "orders",
                "kMSEncryptionConfig": {"aWSKMSKeyARN": "k"},
                "records": [{"partitionKey": "p"}],
            })
        );
    }

    #[test]
    fn no_members_is_null() {
        assert_eq!(request_parameters(&json!({}), &[]), Value::Null);
        assert_eq!(request_parameters(&Value::Null, &[]), Value::Null);
    }

    #[test]
    fn oversized_parameters_become_a_marker() {
        let big = "x".repeat(REQUEST_PARAMETERS_LIMIT + 10);
        let out = request_parameters(&json!({ "StreamName": big }), &[]);
        assert_eq!(out["omitted"], json!(true));
        assert!(out["originalSizeBytes"].as_u64().unwrap() > REQUEST_PARAMETERS_LIMIT as u64);
        assert!(out.get("streamName").is_none());
    }

    #[test]
    fn normalize_truncates_on_char_boundaries() {
        let mut ev = AuditEvent::api_call(
            Utc::now(),
            "kinesis.amazonaws.com",
            "ListStreams",
            UserIdentity::default(),
            EventCategory::Data,
        );
        ev.user_agent = "é".repeat(TEXT_LIMIT);
        ev.error_message = Some("m".repeat(TEXT_LIMIT * 3));
        ev.management_event = true;
        ev.normalize();
        assert!(ev.user_agent.len() <= TEXT_LIMIT && ev.user_agent.len() >= TEXT_LIMIT - 1);
        assert_eq!(ev.error_message.as_ref().unwrap().len(), TEXT_LIMIT);
        assert!(!ev.management_event);
    }

    #[test]
    fn event_time_has_no_fraction() {
        let t = DateTime::parse_from_rfc3339("2024-05-01T12:00:05.789Z")
            .unwrap()
            .with_timezone(&Utc);
        let ev = AuditEvent::api_call(
            t,
            "kinesis.amazonaws.com",
            "CreateStream",
            UserIdentity::default(),
            EventCategory::Management,
        );
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["eventTime"], json!("2024-05-01T12:00:05Z"));
        let back: AuditEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, ev);
    }
}
