//! The `Condition` element: operators, set qualifiers and `…IfExists`.

use std::net::IpAddr;

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use ipnet::IpNet;
use serde_json::Value;

use super::context::Context;
use super::pattern::{arn_match, glob, Template};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// The operator family, in its positive sense (negation is separate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Str { ignore_case: bool, like: bool },
    Num(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetOp {
    ForAnyValue,
    ForAllValues,
}

#[derive(Clone, Debug, PartialEq)]
enum CondValue {
    Pattern(Template),
    Num(f64),
    /// Milliseconds since the epoch.
    Date(i64),
    Bool(bool),
    Bytes(Vec<u8>),
    Net(IpNet),
    Null(bool),
}

/// One operator applied to one key, with the policy's values for it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Condition {
    family: Family,
    negated: bool,
    set: Option<SetOp>,
    if_exists: bool,
    key: String,
    values: Vec<CondValue>,
}

/// Parses the `Condition` block: `{ operator: { key: value | [values] } }`.
pub(crate) fn parse_block(block: &Value, vars: bool) -> Result<Vec<Condition>, String> {
    let ops = block
        .as_object()
        .ok_or("Condition must be an object of operators")?;
    let mut out = Vec::new();
    for (op_name, keys) in ops {
        let (family, negated, set, if_exists) = parse_operator(op_name)?;
        let keys = keys
            .as_object()
            .ok_or_else(|| format!("{op_name} must map condition keys to values"))?;
        for (key, raw) in keys {
            let raw_values: Vec<&Value> = match raw {
                Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            if raw_values.is_empty() {
                return Err(format!("{op_name}.{key} has no values"));
            }
            let mut values = Vec::with_capacity(raw_values.len());
            for v in raw_values {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        return Err(format!(
                            "{op_name}.{key}: values must be strings, numbers or booleans"
                        ))
                    }
                };
                values.push(
                    parse_value(family, &text, vars)
                        .map_err(|m| format!("{op_name}.{key}: {m}"))?,
                );
            }
            out.push(Condition {
                family,
                negated,
                set,
                if_exists,
                key: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}

fn parse_operator(name: &str) -> Result<(Family, bool, Option<SetOp>, bool), String> {
    let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
        (Some(SetOp::ForAnyValue), r)
    } else if let Some(r) = name.strip_prefix("ForAllValues:") {
        (Some(SetOp::ForAllValues), r)
    } else {
        (None, name)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (rest, false),
    };
    let str_op = |ignore_case, like| Family::Str { ignore_case, like };
    let (family, negated) = match base {
        "StringEquals" => (str_op(false, false), false),
        "StringNotEquals" => (str_op(false, false), true),
        "StringEqualsIgnoreCase" => (str_op(true, false), false),
        "StringNotEqualsIgnoreCase" => (str_op(true, false), true),
        "StringLike" => (str_op(false, true), false),
        "StringNotLike" => (str_op(false, true), true),
        "NumericEquals" => (Family::Num(Cmp::Eq), false),
        "NumericNotEquals" => (Family::Num(Cmp::Eq), true),
        "NumericLessThan" => (Family::Num(Cmp::Lt), false),
        "NumericLessThanEquals" => (Family::Num(Cmp::Le), false),
        "NumericGreaterThan" => (Family::Num(Cmp::Gt), false),
        "NumericGreaterThanEquals" => (Family::Num(Cmp::Ge), false),
        "DateEquals" => (Family::Date(Cmp::Eq), false),
        "DateNotEquals" => (Family::Date(Cmp::Eq), true),
        "DateLessThan" => (Family::Date(Cmp::Lt), false),
        "DateLessThanEquals" => (Family::Date(Cmp::Le), false),
        "DateGreaterThan" => (Family::Date(Cmp::Gt), false),
        "DateGreaterThanEquals" => (Family::Date(Cmp::Ge), false),
        "Bool" => (Family::Bool, false),
        "BinaryEquals" => (Family::Binary, false),
        "IpAddress" => (Family::Ip, false),
        "NotIpAddress" => (Family::Ip, true),
        "ArnEquals" | "ArnLike" => (Family::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Family::Arn, true),
        "Null" => (Family::Null, false),
        _ => return Err(format!("unknown condition operator {name:?}")),
    };
    if family == Family::Null && (if_exists || set.is_some()) {
        return Err(format!(
            "{name}: Null takes neither IfExists nor a set qualifier"
        ));
    }
    Ok((family, negated, set, if_exists))
}

fn parse_value(family: Family, text: &str, vars: bool) -> Result<CondValue, String> {
    Ok(match family {
        Family::Str { .. } | Family::Arn => CondValue::Pattern(Template::parse(text, vars)?),
        Family::Num(_) => {
            CondValue::Num(parse_number(text).ok_or_else(|| format!("{text:?} is not a number"))?)
        }
        Family::Date(_) => CondValue::Date(parse_date(text).ok_or_else(|| {
            format!("{text:?} is not a date (ISO 8601 or seconds since the epoch)")
        })?),
        Family::Bool => CondValue::Bool(
            parse_bool(text).ok_or_else(|| format!("{text:?} is not true or false"))?,
        ),
        Family::Null => CondValue::Null(
            parse_bool(text).ok_or_else(|| format!("{text:?} is not true or false"))?,
        ),
        Family::Binary => CondValue::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| format!("{text:?} is not base64: {e}"))?,
        ),
        Family::Ip => CondValue::Net(
            parse_net(text).ok_or_else(|| format!("{text:?} is not an IP address or CIDR"))?,
        ),
    })
}

fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn parse_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// ISO 8601 (full timestamp, timestamp without zone taken as UTC, or a bare
/// date) or epoch seconds; as epoch milliseconds.
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Some(secs) = parse_number(text) {
        return Some((secs * 1000.0) as i64);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text.trim_end_matches('Z'), fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

impl Condition {
    /// Whether the condition holds for `ctx` (reference §2.2, "Conditions").
    pub(crate) fn holds(&self, ctx: &Context) -> bool {
        let present = ctx.get(&self.key).filter(|v| !v.is_empty());
        if self.family == Family::Null {
            return self
                .values
                .iter()
                .any(|v| matches!(v, CondValue::Null(absent) if *absent == present.is_none()));
        }
        let Some(request) = present else {
            return match self.set {
                // "overly permissive", and reproduced on purpose
                Some(SetOp::ForAllValues) => true,
                Some(SetOp::ForAnyValue) => self.if_exists,
                None => self.if_exists || self.negated,
            };
        };
        // One request value against all policy values: ORed for positive
        // operators, NORed for negated ones.
        let one = |r: &str| {
            let any = self.values.iter().any(|p| self.matches(r, p, ctx));
            any != self.negated
        };
        match (self.set, self.negated) {
            (Some(SetOp::ForAllValues), _) => request.iter().all(|r| one(r)),
            (Some(SetOp::ForAnyValue), _) => request.iter().any(|r| one(r)),
            // A plain operator on a multi-valued key: any request value may
            // match; a negated one must hold for all of them (NOR).
            (None, false) => request.iter().any(|r| one(r)),
            (None, true) => request.iter().all(|r| one(r)),
        }
    }

    /// The positive sense of the operator for one request and one policy value.
    fn matches(&self, request: &str, policy: &CondValue, ctx: &Context) -> bool {
        match (self.family, policy) {
            (Family::Str { ignore_case, like }, CondValue::Pattern(t)) => t
                .resolve(ctx, like)
                .is_some_and(|toks| glob(&toks, request, ignore_case)),
            (Family::Arn, CondValue::Pattern(t)) => t
                .resolve(ctx, true)
                .is_some_and(|toks| arn_match(&toks, request)),
            (Family::Num(cmp), CondValue::Num(p)) => {
                parse_number(request).is_some_and(|r| cmp.holds(r, *p))
            }
            (Family::Date(cmp), CondValue::Date(p)) => {
                parse_date(request).is_some_and(|r| cmp.holds(r, *p))
            }
            (Family::Bool, CondValue::Bool(p)) => parse_bool(request) == Some(*p),
            (Family::Binary, CondValue::Bytes(p)) => base64::engine::general_purpose::STANDARD
                .decode(request)
                .is_ok_and(|r| r == *p),
            (Family::Ip, CondValue::Net(net)) => request
                .trim()
                .parse::<IpAddr>()
                .is_ok_and(|ip| net.contains(&ip)),
            _ => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(block: Value, ctx: &Context) -> bool {
        parse_block(&block, true)
            .unwrap()
            .iter()
            .all(|c| c.holds(ctx))
    }

    fn ctx(pairs: &[(&str, &[&str])]) -> Context {
        let mut c = Context::new();
        for (k, v) in pairs {
            c.set(k, v.iter().map(|s| s.to_string()).collect());
        }
        c
    }

    #[test]
    fn strings_values_ored_negations_nored_keys_case_insensitive() {
        let c = ctx(&[("aws:RequestTag/env", &["prod"])]);
        assert!(holds(
            json!({"StringEquals": {"aws:requesttag/ENV": ["dev", "prod"]}}),
            &c
        ));
        assert!(!holds(
            json!({"StringEquals": {"aws:RequestTag/env": "Prod"}}),
            &c
        ));
        assert!(holds(
            json!({"StringEqualsIgnoreCase": {"aws:RequestTag/env": "PROD"}}),
            &c
        ));
        assert!(!holds(
            json!({"StringNotEquals": {"aws:RequestTag/env": ["dev", "prod"]}}),
            &c
        ));
        assert!(holds(
            json!({"StringNotEquals": {"aws:RequestTag/env": ["dev", "test"]}}),
            &c
        ));
        assert!(holds(
            json!({"StringLike": {"aws:RequestTag/env": "p?o*"}}),
            &c
        ));
        assert!(!holds(
            json!({"StringLike": {"aws:RequestTag/env": "P*"}}),
            &c
        ));
        // StringEquals has no wildcards
        assert!(!holds(
            json!({"StringEquals": {"aws:RequestTag/env": "p*"}}),
            &c
        ));
        // absent key: positive false, negated true
        assert!(!holds(
            json!({"StringEquals": {"aws:RequestTag/team": "x"}}),
            &c
        ));
        assert!(holds(
            json!({"StringNotEquals": {"aws:RequestTag/team": "x"}}),
            &c
        ));
        assert!(holds(
            json!({"StringNotLike": {"aws:RequestTag/team": "x"}}),
            &c
        ));
    }

    #[test]
    fn if_exists_and_null() {
        let c = ctx(&[("aws:SourceIp", &["10.0.0.1"])]);
        assert!(holds(
            json!({"StringEqualsIfExists": {"aws:RequestTag/env": "prod"}}),
            &c
        ));
        assert!(!holds(
            json!({"IpAddressIfExists": {"aws:SourceIp": "192.168.0.0/16"}}),
            &c
        ));
        assert!(holds(json!({"Null": {"aws:RequestTag/env": "true"}}), &c));
        assert!(!holds(json!({"Null": {"aws:RequestTag/env": "false"}}), &c));
        assert!(holds(json!({"Null": {"aws:SourceIp": "false"}}), &c));
        assert!(!holds(json!({"Null": {"aws:SourceIp": true}}), &c));
        assert!(parse_block(&json!({"NullIfExists": {"k": "true"}}), true).is_err());
    }

    #[test]
    fn numbers_dates_bools_binary_ip() {
        let c = ctx(&[
            ("n", &["10"]),
            ("aws:CurrentTime", &["2026-12-02T07:00:00Z"]),
            ("aws:EpochTime", &["1796194800"]),
            ("aws:SecureTransport", &["true"]),
            ("b", &["aGVsbG8="]),
            ("aws:SourceIp", &["2001:db8::1"]),
        ]);
        assert!(holds(json!({"NumericLessThan": {"n": 11}}), &c));
        assert!(!holds(json!({"NumericLessThan": {"n": "10"}}), &c));
        assert!(holds(json!({"NumericLessThanEquals": {"n": "10"}}), &c));
        assert!(holds(json!({"NumericGreaterThan": {"n": "9.5"}}), &c));
        assert!(holds(json!({"NumericNotEquals": {"n": ["1", "2"]}}), &c));
        assert!(parse_block(&json!({"NumericEquals": {"n": "abc"}}), true).is_err());
        assert!(holds(
            json!({"DateGreaterThan": {"aws:CurrentTime": "2026-12-01"}}),
            &c
        ));
        assert!(holds(
            json!({"DateLessThan": {"aws:CurrentTime": "2026-12-02T08:00:00+00:00"}}),
            &c
        ));
        assert!(!holds(
            json!({"DateLessThan": {"aws:CurrentTime": 1796194800}}),
            &c
        ));
        assert!(holds(
            json!({"DateLessThan": {"aws:EpochTime": "2027-01-01T00:00:00Z"}}),
            &c
        ));
        assert!(holds(
            json!({"DateEquals": {"aws:EpochTime": "2026-12-02T07:00:00Z"}}),
            &c
        ));
        assert!(holds(json!({"Bool": {"aws:SecureTransport": "true"}}), &c));
        assert!(!holds(json!({"Bool": {"aws:SecureTransport": false}}), &c));
        assert!(holds(json!({"BinaryEquals": {"b": "aGVsbG8="}}), &c));
        assert!(!holds(json!({"BinaryEquals": {"b": "aGVsbA=="}}), &c));
        assert!(holds(
            json!({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}),
            &c
        ));
        assert!(!holds(
            json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
            &c
        ));
        assert!(holds(
            json!({"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}),
            &c
        ));
        assert!(parse_block(&json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}), true).is_err());
        assert!(parse_block(&json!({"Bogus": {"k": "v"}}), true).is_err());
    }

    #[test]
    fn set_operators() {
        let both = ctx(&[("aws:TagKeys", &["env", "team"])]);
        let extra = ctx(&[("aws:TagKeys", &["env", "cost"])]);
        let none = Context::new();
        let all = json!({"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}});
        assert!(holds(all.clone(), &both));
        assert!(!holds(all.clone(), &extra));
        assert!(holds(all, &none), "ForAllValues with an absent key is true");
        let any = json!({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}});
        assert!(holds(any.clone(), &both));
        assert!(!holds(any.clone(), &extra));
        assert!(!holds(any, &none));
        assert!(holds(
            json!({"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": ["team"]}}),
            &none
        ));
        // a single-valued key is a one-element set
        let single = ctx(&[("aws:RequestTag/env", &["prod"])]);
        assert!(holds(
            json!({"ForAnyValue:StringLike": {"aws:RequestTag/env": ["pr*"]}}),
            &single
        ));
        assert!(holds(
            json!({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}),
            &both
        ));
        assert!(!holds(
            json!({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["team"]}}),
            &both
        ));
    }

    #[test]
    fn variables_in_string_and_arn_values() {
        let c = ctx(&[
            ("aws:username", &["alice"]),
            ("aws:PrincipalTag/team", &["red"]),
            ("aws:ResourceTag/team", &["red"]),
            (
                "aws:SourceArn",
                &["arn:aws:kinesis:us-east-1:1:stream/alice-x"],
            ),
        ]);
        assert!(holds(
            json!({"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}),
            &c
        ));
        assert!(holds(
            json!({"ArnLike": {"aws:SourceArn": "arn:aws:kinesis:*:*:stream/${aws:username}-*"}}),
            &c
        ));
        // unresolved: matches nothing, but a negated operator holds
        assert!(!holds(
            json!({"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/nope}"}}),
            &c
        ));
        assert!(holds(
            json!({"StringNotEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/nope}"}}),
            &c
        ));
        assert!(holds(
            json!({"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/nope, 'red'}"}}),
            &c
        ));
        // without Version 2012-10-17 the text is literal
        let lit = parse_block(
            &json!({"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}),
            false,
        )
        .unwrap();
        assert!(!lit[0].holds(&c));
    }
}
