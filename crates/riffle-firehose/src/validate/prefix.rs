//! The `Prefix` / `ErrorOutputPrefix` rules of S3 destinations (Firehose
//! guide `s3-prefixes.md`, "Semantic rules"), checked at CreateDeliveryStream
//! and UpdateDestination. Evaluation at delivery time lives in
//! `destination::s3`; this only refuses what AWS refuses, with its messages.
//!
//! Where the messages come from:
//! * "Ths supplied prefix(es) do not satisfy the following constraint:
//!   ErrorOutputPrefix cannot be null or empty when Prefix contains
//!   expressions" (typo included) is AWS's, quoted verbatim in
//!   terraform-provider-aws PR 13416 and serverless issue 6015.
//! * The other texts are as a CloudFormation preflight rule set
//!   (`cdk_preflight`, which says it checked them against us-east-1) quotes
//!   them: "Invalid expression usage", "Namespace to the left of colon (X)
//!   is an invalid keyword!", "Invalid conversion character used in the
//!   value of the expression in Prefix", "Prefix must not contain any
//!   occurrence of !{firehose:error-output-type}", "ErrorOutputPrefix must
//!   contain at least one occurrence of !{firehose:error-output-type}",
//!   "Dynamic Partitioning Namespaces can't be part of an error prefix
//!   expression", "Length of evaluated prefix cannot be greater than 512".
//!   It quotes only the tail, so the constraint ones get the verified frame.
//! * "Dynamic Partitioning Namespaces can only be used when Dynamic
//!   Partitioning is enabled" is Riffle's (unverified).

use crate::FirehoseError;

/// AWS's frame around a violated prefix constraint.
const FRAME: &str = "Ths supplied prefix(es) do not satisfy the following constraint: ";

/// Letters a `timestamp` value may not use outside single quotes (AWS
/// formats with a Joda-style pattern; these are no pattern letters).
const NOT_PATTERN_LETTERS: &str = "CIJPRTUVbfijloprt";

/// An evaluated prefix may be at most this long.
const MAX_EVALUATED: usize = 512;

/// The expression namespaces AWS knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    Timestamp,
    Firehose,
    PartitionKeyFromQuery,
    PartitionKeyFromLambda,
}

impl Namespace {
    pub fn is_partition_key(self) -> bool {
        matches!(
            self,
            Namespace::PartitionKeyFromQuery | Namespace::PartitionKeyFromLambda
        )
    }
}

/// One `!{namespace:value}` of a prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expr<'a> {
    pub namespace: Namespace,
    /// The text after the colon: a timestamp pattern, `random-string` or
    /// `error-output-type`, or a partition key name.
    pub value: &'a str,
}

impl Expr<'_> {
    pub fn is_error_output_type(&self) -> bool {
        self.namespace == Namespace::Firehose && self.value == "error-output-type"
    }
}

/// A prefix as literal text and expressions, in order; what evaluation at
/// delivery time walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    Literal(&'a str),
    Expr(Expr<'a>),
}

/// A parsed prefix: its expressions and the length of its literal text.
struct Parsed<'a> {
    exprs: Vec<Expr<'a>>,
    literal_len: usize,
}

impl Parsed<'_> {
    /// A lower bound of the evaluated length: literal text survives and
    /// every expression yields at least one character.
    fn min_len(&self) -> usize {
        self.literal_len + self.exprs.len()
    }
}

fn invalid(msg: impl Into<String>) -> FirehoseError {
    FirehoseError::InvalidArgument(msg.into())
}

fn constraint(what: &str) -> FirehoseError {
    invalid(format!("{FRAME}{what}"))
}

fn parse<'a>(s: &'a str, field: &str) -> Result<Parsed<'a>, FirehoseError> {
    let mut exprs = Vec::new();
    let mut literal_len = 0;
    for seg in segments(s, field)? {
        match seg {
            Segment::Literal(t) => literal_len += t.chars().count(),
            Segment::Expr(e) => exprs.push(e),
        }
    }
    Ok(Parsed { exprs, literal_len })
}

/// Splits a prefix into literal text and checked expressions (empty
/// literals are left out). `field` (`Prefix` or `ErrorOutputPrefix`) names
/// the member in messages.
pub fn segments<'a>(s: &'a str, field: &str) -> Result<Vec<Segment<'a>>, FirehoseError> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("!{") {
        if i > 0 {
            out.push(Segment::Literal(&rest[..i]));
        }
        let after = &rest[i + 2..];
        // `!{` may only open an expression: it needs `namespace:value}`.
        let Some(end) = after.find('}') else {
            return Err(invalid("Invalid expression usage"));
        };
        let Some((ns, value)) = after[..end].split_once(':') else {
            return Err(invalid("Invalid expression usage"));
        };
        let namespace = match ns {
            "timestamp" => Namespace::Timestamp,
            "firehose" => Namespace::Firehose,
            "partitionKeyFromQuery" => Namespace::PartitionKeyFromQuery,
            "partitionKeyFromLambda" => Namespace::PartitionKeyFromLambda,
            _ => {
                return Err(invalid(format!(
                    "Namespace to the left of colon ({ns}) is an invalid keyword!"
                )))
            }
        };
        let value_ok = match namespace {
            Namespace::Timestamp => !value.is_empty() && timestamp_pattern_ok(value),
            Namespace::Firehose => matches!(value, "error-output-type" | "random-string"),
            Namespace::PartitionKeyFromQuery | Namespace::PartitionKeyFromLambda => {
                !value.is_empty()
            }
        };
        if !value_ok {
            return Err(invalid(format!(
                "Invalid conversion character used in the value of the expression in {field}"
            )));
        }
        out.push(Segment::Expr(Expr { namespace, value }));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Segment::Literal(rest));
    }
    Ok(out)
}

/// Quotes must pair up (`''` is a literal quote) and no letter outside
/// quotes may be one the formatter rejects.
fn timestamp_pattern_ok(pattern: &str) -> bool {
    let mut quoted = false;
    for c in pattern.chars() {
        if c == '\'' {
            quoted = !quoted;
        } else if !quoted && NOT_PATTERN_LETTERS.contains(c) {
            return false;
        }
    }
    !quoted
}

/// AWS's checks of an S3 destination's `Prefix` and `ErrorOutputPrefix`,
/// in this order: both parse (`!{` only opens `!{namespace:value}` with a
/// known namespace and value), `Prefix` has no error-output-type, the
/// error prefix has no partition keys, an error prefix is given when
/// `Prefix` has expressions, an error prefix with expressions has
/// error-output-type, neither can evaluate to more than 512 characters.
///
/// Partition-key namespaces are accepted in `Prefix` here; whether dynamic
/// partitioning allows them is [`partition_keys`]'s business.
pub fn prefixes(prefix: Option<&str>, error_prefix: Option<&str>) -> Result<(), FirehoseError> {
    let p = parse(prefix.unwrap_or(""), "Prefix")?;
    let e = parse(error_prefix.unwrap_or(""), "ErrorOutputPrefix")?;
    if p.exprs.iter().any(Expr::is_error_output_type) {
        return Err(constraint(
            "Prefix must not contain any occurrence of !{firehose:error-output-type}",
        ));
    }
    if e.exprs.iter().any(|x| x.namespace.is_partition_key()) {
        return Err(constraint(
            "Dynamic Partitioning Namespaces can't be part of an error prefix expression",
        ));
    }
    if !p.exprs.is_empty() && error_prefix.is_none_or(str::is_empty) {
        return Err(constraint(
            "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions",
        ));
    }
    if !e.exprs.is_empty() && !e.exprs.iter().any(Expr::is_error_output_type) {
        return Err(constraint(
            "ErrorOutputPrefix must contain at least one occurrence of !{firehose:error-output-type}",
        ));
    }
    if p.min_len() > MAX_EVALUATED {
        return Err(invalid(
            "Length of evaluated prefix cannot be greater than 512",
        ));
    }
    if e.min_len() > MAX_EVALUATED {
        return Err(invalid(
            "Length of evaluated ErrorOutputPrefix cannot be greater than 512",
        ));
    }
    Ok(())
}

/// `partitionKeyFromQuery`/`partitionKeyFromLambda` in `Prefix` need
/// dynamic partitioning enabled (and, with it on, AWS wants at least one).
pub fn partition_keys(
    prefix: Option<&str>,
    dynamic_partitioning: bool,
) -> Result<(), FirehoseError> {
    let p = parse(prefix.unwrap_or(""), "Prefix")?;
    let has_keys = p.exprs.iter().any(|x| x.namespace.is_partition_key());
    if has_keys && !dynamic_partitioning {
        return Err(invalid(
            "Dynamic Partitioning Namespaces can only be used when Dynamic Partitioning is enabled",
        ));
    }
    if !has_keys && dynamic_partitioning {
        return Err(invalid(
            "S3 Prefix should contain Dynamic Partitioning namespaces when Dynamic Partitioning is enabled",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn message(r: Result<(), FirehoseError>) -> String {
        match r {
            Err(FirehoseError::InvalidArgument(m)) => m,
            other => panic!("expected InvalidArgumentException, got {other:?}"),
        }
    }

    #[test]
    fn segments_split_literals_and_expressions() {
        assert_eq!(
            segments("y=!{timestamp:yyyy}/!{firehose:random-string}", "Prefix").unwrap(),
            vec![
                Segment::Literal("y="),
                Segment::Expr(Expr {
                    namespace: Namespace::Timestamp,
                    value: "yyyy"
                }),
                Segment::Literal("/"),
                Segment::Expr(Expr {
                    namespace: Namespace::Firehose,
                    value: "random-string"
                }),
            ]
        );
        assert!(segments("", "Prefix").unwrap().is_empty());
    }

    #[test]
    fn plain_and_documented_prefixes_pass() {
        // The guide's examples (s3-prefixes.md, "Example prefixes").
        prefixes(None, None).unwrap();
        prefixes(Some("myFirehosePrefix"), None).unwrap();
        prefixes(
            None,
            Some("myFirehoseFailures/!{firehose:error-output-type}/"),
        )
        .unwrap();
        prefixes(
            Some("myFirehose/DeliveredYear=!{timestamp:yyyy}/anyMonth/rand=!{firehose:random-string}"),
            Some("myFirehoseFailures/!{firehose:error-output-type}/!{timestamp:yyyy}/anyMonth/!{timestamp:dd}"),
        )
        .unwrap();
        prefixes(
            Some("myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"),
            Some("myErrorPrefix/!{timestamp:'year='yyyy'/month='MM'/day='dd'/hour='HH}/!{firehose:error-output-type}"),
        )
        .unwrap();
        // A lone `!` or `{` is literal text.
        prefixes(Some("a!b{c}/"), None).unwrap();
    }

    #[test]
    fn error_prefix_is_required_when_prefix_has_expressions() {
        let want = "Ths supplied prefix(es) do not satisfy the following constraint: ErrorOutputPrefix cannot be null or empty when Prefix contains expressions";
        assert_eq!(
            message(prefixes(Some("!{timestamp:yyyy/MM/dd}"), None)),
            want
        );
        assert_eq!(
            message(prefixes(Some("!{timestamp:yyyy/MM/dd}"), Some(""))),
            want
        );
    }

    #[test]
    fn error_prefix_with_expressions_needs_error_output_type() {
        assert_eq!(
            message(prefixes(Some("p/"), Some("errors/!{timestamp:yyyy}/"))),
            "Ths supplied prefix(es) do not satisfy the following constraint: ErrorOutputPrefix must contain at least one occurrence of !{firehose:error-output-type}"
        );
    }

    #[test]
    fn prefix_cannot_use_error_output_type() {
        assert_eq!(
            message(prefixes(
                Some("data/!{firehose:error-output-type}/"),
                Some("e/!{firehose:error-output-type}/")
            )),
            "Ths supplied prefix(es) do not satisfy the following constraint: Prefix must not contain any occurrence of !{firehose:error-output-type}"
        );
    }

    #[test]
    fn partition_keys_are_refused_in_the_error_prefix() {
        assert_eq!(
            message(prefixes(
                Some("p/"),
                Some("e/!{firehose:error-output-type}/!{partitionKeyFromQuery:id}/")
            )),
            "Ths supplied prefix(es) do not satisfy the following constraint: Dynamic Partitioning Namespaces can't be part of an error prefix expression"
        );
    }

    #[test]
    fn stray_or_unclosed_expressions_are_invalid_usage() {
        for p in ["data/!{timestamp:yyyy", "data/!{timestamp}/", "!{}", "x!{"] {
            assert_eq!(
                message(prefixes(Some(p), Some("e/!{firehose:error-output-type}"))),
                "Invalid expression usage",
                "{p}"
            );
        }
    }

    #[test]
    fn unknown_namespace_is_named() {
        assert_eq!(
            message(prefixes(
                Some("!{time:yyyy}/"),
                Some("e/!{firehose:error-output-type}")
            )),
            "Namespace to the left of colon (time) is an invalid keyword!"
        );
        assert_eq!(
            message(prefixes(Some("p/"), Some("!{Firehose:error-output-type}"))),
            "Namespace to the left of colon (Firehose) is an invalid keyword!"
        );
    }

    #[test]
    fn bad_values_name_the_member() {
        assert_eq!(
            message(prefixes(
                Some("!{firehose:random}/"),
                Some("e/!{firehose:error-output-type}")
            )),
            "Invalid conversion character used in the value of the expression in Prefix"
        );
        assert_eq!(
            message(prefixes(
                Some("p/"),
                Some("!{firehose:error-output-type}/!{timestamp:yyyy-'T}")
            )),
            "Invalid conversion character used in the value of the expression in ErrorOutputPrefix"
        );
        // `t` is no pattern letter; quoted it is literal text.
        assert!(prefixes(
            Some("!{timestamp:yyyyt}"),
            Some("!{firehose:error-output-type}")
        )
        .is_err());
        prefixes(
            Some("!{timestamp:yyyy't'}"),
            Some("!{firehose:error-output-type}"),
        )
        .unwrap();
        prefixes(
            Some("!{timestamp:yyyy''MM}"),
            Some("!{firehose:error-output-type}"),
        )
        .unwrap();
        assert!(prefixes(Some("!{timestamp:}"), Some("!{firehose:error-output-type}")).is_err());
        assert!(prefixes(
            Some("!{partitionKeyFromQuery:}"),
            Some("!{firehose:error-output-type}")
        )
        .is_err());
    }

    #[test]
    fn evaluated_length_is_bounded() {
        let long = "a".repeat(513);
        assert_eq!(
            message(prefixes(Some(&long), None)),
            "Length of evaluated prefix cannot be greater than 512"
        );
        let long_err = format!("{}!{{firehose:error-output-type}}", "e".repeat(512));
        assert_eq!(
            message(prefixes(Some("p/"), Some(&long_err))),
            "Length of evaluated ErrorOutputPrefix cannot be greater than 512"
        );
        prefixes(Some(&"a".repeat(512)), None).unwrap();
    }

    #[test]
    fn partition_keys_follow_dynamic_partitioning() {
        assert_eq!(
            message(partition_keys(
                Some("c=!{partitionKeyFromLambda:c}/"),
                false
            )),
            "Dynamic Partitioning Namespaces can only be used when Dynamic Partitioning is enabled"
        );
        assert_eq!(
            message(partition_keys(Some("!{timestamp:yyyy}/"), true)),
            "S3 Prefix should contain Dynamic Partitioning namespaces when Dynamic Partitioning is enabled"
        );
        partition_keys(Some("c=!{partitionKeyFromQuery:c}/"), true).unwrap();
        partition_keys(None, false).unwrap();
    }
}
