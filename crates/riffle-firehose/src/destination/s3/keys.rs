//! S3 object keys exactly as Firehose names them:
//! `<evaluated Prefix><stream>-<version>-YYYY-MM-dd-HH-mm-ss-<uuid><ext>`.
//!
//! * A `Prefix` without a `!{timestamp:…}` expression gets
//!   `!{timestamp:yyyy/MM/dd/HH/}` appended (plain concatenation, as AWS's
//!   rule says: `logs/` → `logs/2018/08/27/10/`, `logs` → `logs2018/08/27/10/`).
//! * Expressions: `!{timestamp:<Java pattern>}` (see [`super::timefmt`]),
//!   `!{firehose:random-string}` (11 characters, like `046b6c7f-0b`) and,
//!   in `ErrorOutputPrefix` only, `!{firehose:error-output-type}`.
//! * A null (or empty) `ErrorOutputPrefix` sends errors to
//!   `<Prefix><error-output-type>/yyyy/MM/dd/HH/`; one with no expressions is
//!   used as it is (AWS appends nothing to an ErrorOutputPrefix).
//! * Every timestamp (prefixes and suffix) is the arrival time of the oldest
//!   record in the object, in `CustomTimeZone` (UTC by default).
//!
//! **Determinism.** AWS's `<uuid>` and random strings are random; here they
//! are derived from a seed the caller passes, the batch's identity in the
//! durable buffer ([`batch_seed`]: stream uid + first buffer offset). A key
//! is a pure function of (configuration, version, seed, first arrival), so
//! a delivery retried after a crash overwrites its object instead of adding
//! a duplicate. Objects of other roles for the same batch (backup, each error
//! type) use [`sub_seed`] so that they never share a key with it.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::errors::ErrorOutputType;
use super::timefmt::Pattern;

/// What AWS appends to a Prefix without a timestamp expression.
const DEFAULT_TIME: &str = "yyyy/MM/dd/HH/";
/// The suffix's time.
const SUFFIX_TIME: &str = "yyyy-MM-dd-HH-mm-ss";
/// Each evaluated prefix must fit (Firehose's rule).
const MAX_EVALUATED: usize = 512;

/// An invalid Prefix, ErrorOutputPrefix or CustomTimeZone. The message is
/// meant for `InvalidArgumentException`.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct KeyError(pub String);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Lit(String),
    Time(Pattern),
    Random,
    ErrorType,
}

/// A parsed `Prefix` or `ErrorOutputPrefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Template {
    parts: Vec<Part>,
}

impl Template {
    fn parse(text: &str, field: &str) -> Result<Self, KeyError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("!{") {
            if start > 0 {
                parts.push(Part::Lit(rest[..start].to_string()));
            }
            let body = &rest[start + 2..];
            let end = expression_end(body).ok_or_else(|| {
                KeyError(format!(
                    "{field} {text:?}: '!{{' must start an expression !{{namespace:value}}"
                ))
            })?;
            let expr = &body[..end];
            let Some((namespace, value)) = expr.split_once(':') else {
                return Err(KeyError(format!(
                    "{field} {text:?}: expression !{{{expr}}} has no namespace"
                )));
            };
            let part = match (namespace, value) {
                ("timestamp", pattern) => Part::Time(Pattern::parse(pattern).map_err(|e| {
                    KeyError(format!("{field} {text:?}: invalid timestamp pattern: {e}"))
                })?),
                ("firehose", "random-string") => Part::Random,
                ("firehose", "error-output-type") => Part::ErrorType,
                ("firehose", other) => {
                    return Err(KeyError(format!(
                        "{field} {text:?}: unknown firehose expression {other:?}; \
                         use random-string or error-output-type"
                    )))
                }
                ("partitionKeyFromQuery" | "partitionKeyFromLambda", _) => {
                    return Err(KeyError(format!(
                        "{field} {text:?}: dynamic partitioning (!{{{namespace}:…}}) \
                         is not supported by Riffle yet"
                    )))
                }
                (other, _) => {
                    return Err(KeyError(format!(
                        "{field} {text:?}: unknown expression namespace {other:?}"
                    )))
                }
            };
            parts.push(part);
            rest = &body[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Self { parts })
    }

    fn literal(text: &str) -> Self {
        Self {
            parts: if text.is_empty() {
                Vec::new()
            } else {
                vec![Part::Lit(text.to_string())]
            },
        }
    }

    fn has(&self, f: impl Fn(&Part) -> bool) -> bool {
        self.parts.iter().any(f)
    }

    fn has_expressions(&self) -> bool {
        self.has(|p| !matches!(p, Part::Lit(_)))
    }

    fn eval(&self, ctx: &mut Eval, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Time(p) => p.format(&ctx.time, out),
                Part::ErrorType => out.push_str(ctx.kind.map(|k| k.as_str()).unwrap_or("")),
                Part::Random => {
                    let id = derived_uuid(ctx.seed, b"random-string", ctx.randoms);
                    ctx.randoms += 1;
                    out.push_str(&id[..11]);
                }
            }
        }
    }
}

/// Where the expression starting after `!{` ends: the first `}` outside
/// single quotes (a timestamp pattern may quote a `}`).
fn expression_end(body: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in body.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

struct Eval {
    time: DateTime<Tz>,
    kind: Option<ErrorOutputType>,
    seed: u128,
    randoms: u32,
}

/// How one S3 destination (or backup) names its objects: built once per
/// configuration version from `Prefix`, `ErrorOutputPrefix`,
/// `CustomTimeZone` and the file extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyConfig {
    stream_name: String,
    prefix: Template,
    error_prefix: Template,
    tz: Tz,
    extension: String,
}

impl KeyConfig {
    /// Validates the prefixes as AWS does (the `!{` syntax, the namespaces,
    /// error-output-type only in ErrorOutputPrefix and required there if it
    /// has expressions, ErrorOutputPrefix required when Prefix has
    /// expressions, evaluated length ≤ 512) and the time zone (an IANA name;
    /// empty means UTC). `extension` is the file extension with its dot, or
    /// empty (see `compress::Compression::extension`).
    pub fn new(
        stream_name: &str,
        prefix: Option<&str>,
        error_output_prefix: Option<&str>,
        custom_time_zone: Option<&str>,
        extension: &str,
    ) -> Result<Self, KeyError> {
        let prefix_text = prefix.unwrap_or("");
        let mut parsed = Template::parse(prefix_text, "Prefix")?;
        if parsed.has(|p| matches!(p, Part::ErrorType)) {
            return Err(KeyError(
                "Prefix cannot contain !{firehose:error-output-type}; \
                 it is only allowed in ErrorOutputPrefix"
                    .into(),
            ));
        }
        let error_prefix = match error_output_prefix.filter(|s| !s.is_empty()) {
            Some(text) => {
                let error = Template::parse(text, "ErrorOutputPrefix")?;
                if error.has_expressions() && !error.has(|p| matches!(p, Part::ErrorType)) {
                    return Err(KeyError(format!(
                        "ErrorOutputPrefix {text:?} has expressions, so it must contain \
                         !{{firehose:error-output-type}}"
                    )));
                }
                error
            }
            None if parsed.has_expressions() => {
                return Err(KeyError(
                    "ErrorOutputPrefix cannot be null when Prefix contains expressions".into(),
                ))
            }
            None => {
                let mut fallback = Template::literal(prefix_text);
                fallback.parts.push(Part::ErrorType);
                fallback.parts.push(Part::Lit("/".into()));
                fallback.parts.push(Part::Time(default_time()?));
                fallback
            }
        };
        if !parsed.has(|p| matches!(p, Part::Time(_))) {
            parsed.parts.push(Part::Time(default_time()?));
        }
        let tz = match custom_time_zone.filter(|s| !s.is_empty()) {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| {
                KeyError(format!("CustomTimeZone {name:?} is not a known time zone"))
            })?,
        };
        let cfg = Self {
            stream_name: stream_name.to_string(),
            prefix: parsed,
            error_prefix,
            tz,
            extension: extension.to_string(),
        };
        // Lengths vary only with text fields; September and Wednesday are
        // the longest names, AmazonOpenSearchService-failed the longest type.
        let widest = 970_056_000_000; // 2000-09-27T12:00:00Z, a Wednesday
        if cfg.prefix(0, widest).chars().count() > MAX_EVALUATED {
            return Err(KeyError(format!(
                "Prefix evaluates to more than {MAX_EVALUATED} characters"
            )));
        }
        let longest = ErrorOutputType::AmazonOpenSearchServiceFailed;
        if cfg.error_prefix(longest, 0, widest).chars().count() > MAX_EVALUATED {
            return Err(KeyError(format!(
                "ErrorOutputPrefix evaluates to more than {MAX_EVALUATED} characters"
            )));
        }
        Ok(cfg)
    }

    pub fn extension(&self) -> &str {
        &self.extension
    }

    fn eval(&self, kind: Option<ErrorOutputType>, seed: u128, first_arrival_ms: i64) -> Eval {
        let utc = Utc
            .timestamp_millis_opt(first_arrival_ms)
            .single()
            .unwrap_or(DateTime::UNIX_EPOCH);
        Eval {
            time: utc.with_timezone(&self.tz),
            kind,
            seed,
            randoms: 0,
        }
    }

    /// The evaluated Prefix alone (no suffix).
    pub fn prefix(&self, seed: u128, first_arrival_ms: i64) -> String {
        let mut out = String::new();
        self.prefix
            .eval(&mut self.eval(None, seed, first_arrival_ms), &mut out);
        out
    }

    /// The evaluated error prefix alone (no suffix).
    pub fn error_prefix(&self, kind: ErrorOutputType, seed: u128, first_arrival_ms: i64) -> String {
        let mut out = String::new();
        self.error_prefix
            .eval(&mut self.eval(Some(kind), seed, first_arrival_ms), &mut out);
        out
    }

    fn suffix(&self, version: u64, ctx: &Eval, seed: u128, out: &mut String) {
        out.push_str(&self.stream_name);
        out.push('-');
        out.push_str(&version.to_string());
        out.push('-');
        if let Ok(p) = Pattern::parse(SUFFIX_TIME) {
            p.format(&ctx.time, out);
        }
        out.push('-');
        out.push_str(&derived_uuid(seed, b"object-uuid", 0));
        out.push_str(&self.extension);
    }

    /// The key of a delivered object. `version` is the delivery stream's
    /// VersionId, `seed` the batch's identity ([`batch_seed`], or a
    /// [`sub_seed`] of it), `first_arrival_ms` the arrival time of the oldest
    /// record in the object.
    pub fn object_key(&self, version: u64, seed: u128, first_arrival_ms: i64) -> String {
        let mut ctx = self.eval(None, seed, first_arrival_ms);
        let mut out = String::new();
        self.prefix.eval(&mut ctx, &mut out);
        self.suffix(version, &ctx, seed, &mut out);
        out
    }

    /// The key of a delivered object of one dynamic partition: as
    /// [`Self::object_key`], with `!{partitionKeyFromQuery:…}` and
    /// `!{partitionKeyFromLambda:…}` in the prefix replaced by `keys`.
    pub fn object_key_in(
        &self,
        version: u64,
        seed: u128,
        first_arrival_ms: i64,
        _keys: &crate::partition::PartitionKeys,
    ) -> String {
        self.object_key(version, seed, first_arrival_ms)
    }

    /// The key of an error-output object of type `kind`. Different kinds of
    /// the same batch get different keys even under one literal prefix.
    pub fn error_key(
        &self,
        kind: ErrorOutputType,
        version: u64,
        seed: u128,
        first_arrival_ms: i64,
    ) -> String {
        let seed = sub_seed(seed, kind.as_str());
        let mut ctx = self.eval(Some(kind), seed, first_arrival_ms);
        let mut out = String::new();
        self.error_prefix.eval(&mut ctx, &mut out);
        self.suffix(version, &ctx, seed, &mut out);
        out
    }
}

fn default_time() -> Result<Pattern, KeyError> {
    Pattern::parse(DEFAULT_TIME).map_err(KeyError)
}

fn digest(parts: &[&[u8]]) -> [u8; 16] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    let full = hash.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// The identity of a batch in a delivery stream's durable buffer: its
/// stream's uid (another uid after a delete and re-create) and the buffer
/// offset of its first record.
pub fn batch_seed(stream_uid: &str, first_offset: u64) -> u128 {
    u128::from_be_bytes(digest(&[
        b"riffle-firehose-batch",
        stream_uid.as_bytes(),
        &first_offset.to_be_bytes(),
    ]))
}

/// A seed for another object of the same batch (`"backup"`, an error type):
/// as deterministic as `seed`, and unrelated to it.
pub fn sub_seed(seed: u128, label: &str) -> u128 {
    u128::from_be_bytes(digest(&[
        b"riffle-firehose-sub",
        &seed.to_be_bytes(),
        label.as_bytes(),
    ]))
}

/// A version-4-formatted UUID (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`)
/// derived from the seed, so it looks like AWS's and is reproducible.
fn derived_uuid(seed: u128, purpose: &[u8], index: u32) -> String {
    let bytes = digest(&[
        b"riffle-firehose-uuid",
        &seed.to_be_bytes(),
        purpose,
        &index.to_be_bytes(),
    ]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// 2018-08-27T10:30:05.123Z, the AWS guide's example instant.
    const T: i64 = 1_535_365_805_123;

    fn cfg(prefix: Option<&str>, error: Option<&str>) -> KeyConfig {
        KeyConfig::new("NAME", prefix, error, None, "").unwrap()
    }

    fn uuid_re(s: &str) -> bool {
        let b: Vec<char> = s.chars().collect();
        b.len() == 36
            && [8, 13, 18, 23].iter().all(|&i| b[i] == '-')
            && b[14] == '4'
            && s.chars()
                .all(|c| c == '-' || (c.is_ascii_hexdigit() && !c.is_ascii_uppercase()))
    }

    #[test]
    fn no_prefix_gives_the_default_time_folders() {
        let key = cfg(None, None).object_key(1, 42, T);
        let (head, uuid) = key.split_at(key.len() - 36);
        assert_eq!(head, "2018/08/27/10/NAME-1-2018-08-27-10-30-05-");
        assert!(uuid_re(uuid), "{uuid}");
        // Version and extension land where AWS puts them.
        let gz = KeyConfig::new("s", Some(""), None, None, ".gz").unwrap();
        let key = gz.object_key(7, 42, T);
        assert!(
            key.starts_with("2018/08/27/10/s-7-2018-08-27-10-30-05-"),
            "{key}"
        );
        assert!(key.ends_with(".gz"));
    }

    #[test]
    fn custom_prefix_without_expressions_gets_the_time_appended() {
        let c = cfg(Some("myFirehosePrefix/"), None);
        assert_eq!(c.prefix(1, T), "myFirehosePrefix/2018/08/27/10/");
        // Plain concatenation, as AWS's rule reads.
        assert_eq!(cfg(Some("logs"), None).prefix(1, T), "logs2018/08/27/10/");
        // The error fallback: <Prefix><error-output-type>/YYYY/MM/dd/HH/.
        assert_eq!(
            c.error_prefix(ErrorOutputType::ProcessingFailed, 1, T),
            "myFirehosePrefix/processing-failed/2018/08/27/10/"
        );
        let key = c.error_key(ErrorOutputType::ProcessingFailed, 3, 1, T);
        assert!(
            key.starts_with(
                "myFirehosePrefix/processing-failed/2018/08/27/10/NAME-3-2018-08-27-10-30-05-"
            ),
            "{key}"
        );
        assert_eq!(
            cfg(None, None).error_prefix(ErrorOutputType::HttpEndpointFailed, 1, T),
            "http-endpoint-failed/2018/08/27/10/"
        );
    }

    #[test]
    fn aws_guide_examples() {
        // Prefix unspecified, ErrorOutputPrefix myFirehoseFailures/!{firehose:error-output-type}/
        let c = cfg(
            None,
            Some("myFirehoseFailures/!{firehose:error-output-type}/"),
        );
        assert_eq!(c.prefix(0, T), "2018/08/27/10/");
        assert_eq!(
            c.error_prefix(ErrorOutputType::ProcessingFailed, 0, T),
            "myFirehoseFailures/processing-failed/"
        );

        let c = cfg(
            Some("myFirehose/DeliveredYear=!{timestamp:yyyy}/anyMonth/rand=!{firehose:random-string}"),
            Some("myFirehoseFailures/!{firehose:error-output-type}/!{timestamp:yyyy}/anyMonth/!{timestamp:dd}"),
        );
        let p = c.prefix(9, T);
        let rand = p
            .strip_prefix("myFirehose/DeliveredYear=2018/anyMonth/rand=")
            .unwrap();
        assert_eq!(rand.len(), 11);
        assert!(rand.chars().all(|ch| ch.is_ascii_hexdigit() || ch == '-'));
        assert_eq!(&rand[8..9], "-");
        assert_eq!(
            c.error_prefix(ErrorOutputType::ProcessingFailed, 9, T),
            "myFirehoseFailures/processing-failed/2018/anyMonth/27"
        );

        let c = cfg(
            Some("myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"),
            Some("myErrorPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/!{firehose:error-output-type}"),
        );
        assert_eq!(
            c.prefix(0, T),
            "myPrefix/year=2018/month=08/day=27/hour=10/"
        );
        assert_eq!(
            c.error_prefix(ErrorOutputType::ProcessingFailed, 0, T),
            "myErrorPrefix/year=2018/month=08/day=27/hour=10/processing-failed"
        );
        // The guide's error-output-type example.
        let c = cfg(
            Some("p/"),
            Some("myPrefix/result=!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}"),
        );
        assert_eq!(
            c.error_prefix(ErrorOutputType::ProcessingFailed, 0, T),
            "myPrefix/result=processing-failed/2018/08/27"
        );
        // A literal ErrorOutputPrefix is used as it is.
        let c = cfg(Some("p/"), Some("errors/"));
        assert_eq!(
            c.error_prefix(ErrorOutputType::SplunkFailed, 0, T),
            "errors/"
        );
    }

    #[test]
    fn keys_are_deterministic_per_batch_and_distinct_across_batches() {
        let c = cfg(
            Some("r/!{firehose:random-string}/!{firehose:random-string}/"),
            Some("e/!{firehose:error-output-type}/"),
        );
        let seed = batch_seed("uid-1", 1000);
        assert_eq!(c.object_key(1, seed, T), c.object_key(1, seed, T));
        assert_eq!(seed, batch_seed("uid-1", 1000));
        // Each random-string of one key is fresh.
        let p = c.prefix(seed, T);
        let parts: Vec<&str> = p.split('/').collect();
        assert_ne!(parts[1], parts[2]);
        // Another batch, another stream incarnation: other keys.
        assert_ne!(
            c.object_key(1, batch_seed("uid-1", 1001), T),
            c.object_key(1, seed, T)
        );
        assert_ne!(
            c.object_key(1, batch_seed("uid-2", 1000), T),
            c.object_key(1, seed, T)
        );
        // Error types and roles of one batch never share a key.
        let lit = cfg(Some("p/"), Some("errors/"));
        assert_ne!(
            lit.error_key(ErrorOutputType::ProcessingFailed, 1, seed, T),
            lit.error_key(ErrorOutputType::HttpEndpointFailed, 1, seed, T)
        );
        assert_ne!(sub_seed(seed, "backup"), seed);
        assert_ne!(
            c.object_key(1, sub_seed(seed, "backup"), T),
            c.object_key(1, seed, T)
        );
    }

    #[test]
    fn custom_time_zone_applies_to_prefix_and_suffix() {
        let c = KeyConfig::new("s", None, None, Some("Asia/Tokyo"), "").unwrap();
        assert!(c
            .object_key(1, 0, T)
            .starts_with("2018/08/27/19/s-1-2018-08-27-19-30-05-"));
        let c = KeyConfig::new(
            "s",
            Some("!{timestamp:yyyy-MM-dd'T'HH:mmXXX}/"),
            Some("!{firehose:error-output-type}"),
            Some("America/New_York"),
            "",
        )
        .unwrap();
        assert_eq!(c.prefix(0, T), "2018-08-27T06:30-04:00/");
        assert!(KeyConfig::new("s", None, None, Some("Mars/Olympus"), "").is_err());
        assert_eq!(
            KeyConfig::new("s", None, None, Some(""), "")
                .unwrap()
                .prefix(0, T),
            "2018/08/27/10/"
        );
    }

    proptest::proptest! {
        /// Any prefix text is either refused or evaluates without panicking,
        /// and the key always ends with the suffix.
        #[test]
        fn arbitrary_prefixes_never_panic(
            prefix in "(!\\{|timestamp:|firehose:|random-string|error-output-type|[yMdHmsS'/{}:a-z ]){0,12}",
            t in 0i64..4_102_444_800_000,
        ) {
            let error = Some("e/!{firehose:error-output-type}/");
            if let Ok(c) = KeyConfig::new("s", Some(&prefix), error, None, ".gz") {
                let key = c.object_key(1, 5, t);
                proptest::prop_assert!(key.ends_with(".gz"));
                proptest::prop_assert!(key.contains("s-1-"));
                let _ = c.error_key(ErrorOutputType::SplunkFailed, 1, 5, t);
            }
        }
    }

    #[test]
    fn aws_prefix_rules() {
        let bad =
            |p: Option<&str>, e: Option<&str>| KeyConfig::new("s", p, e, None, "").unwrap_err().0;
        assert!(bad(Some("!{timestamp:yyyy}/"), None).contains("ErrorOutputPrefix cannot be null"));
        assert!(
            bad(Some("!{timestamp:yyyy}/"), Some("")).contains("ErrorOutputPrefix cannot be null")
        );
        assert!(bad(Some("a/!{firehose:error-output-type}/"), Some("e/"))
            .contains("only allowed in ErrorOutputPrefix"));
        assert!(bad(Some("a/"), Some("e/!{timestamp:yyyy}/")).contains("must contain"));
        assert!(bad(Some("a/!{nope"), None).contains("must start an expression"));
        assert!(bad(
            Some("a/!{foo:bar}"),
            Some("e/!{firehose:error-output-type}")
        )
        .contains("namespace"));
        assert!(bad(
            Some("a/!{firehose:uuid}"),
            Some("e/!{firehose:error-output-type}")
        )
        .contains("unknown firehose"));
        assert!(bad(
            Some("a/!{timestamp:ww}"),
            Some("e/!{firehose:error-output-type}")
        )
        .contains("pattern"));
        assert!(bad(
            Some("a/!{partitionKeyFromQuery:id}/"),
            Some("e/!{firehose:error-output-type}")
        )
        .contains("dynamic partitioning"));
        let long = "x".repeat(500) + "/";
        assert!(bad(Some(&long), None).contains("512"));
        // A quoted brace does not end the expression.
        let c = cfg(
            Some("!{timestamp:'}'yyyy}/"),
            Some("!{firehose:error-output-type}"),
        );
        assert_eq!(c.prefix(0, T), "}2018/");
    }
}
