//! IAM policies: the JSON language ([`Policy::parse`]) and its evaluation
//! ([`evaluate`]), as the reference's §2 describes them.
//!
//! Parsing validates everything it can up front (operators, numbers, dates,
//! CIDRs, principals) so that a bad policy fails when it is loaded, with a
//! message that names the statement, not silently at request time.

mod condition;
mod context;
mod eval;
mod pattern;

use serde_json::{Map, Value};

pub use context::Context;
pub use eval::{access_denied_message, evaluate, Decision, Effect, Matched, Request};

use condition::Condition;
use pattern::{tokens, Template, Tok};

use crate::principal::{Principal, PrincipalKind};

/// A policy that could not be parsed or is not valid where it is used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy is not valid JSON: {0}")]
    Json(String),
    /// `at` is where in the document, e.g. `Statement[1].Condition`.
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
}

fn invalid(at: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        at: at.into(),
        message: message.into(),
    }
}

/// Where a policy is attached, which decides how it takes part in a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Attached to a user, its groups or a role.
    Identity,
    /// Attached to the resource (has `Principal`).
    Resource,
    /// A user's or role's permissions boundary: a limiter.
    PermissionsBoundary,
    /// The policy passed when a role session was created: a limiter.
    Session,
}

impl PolicyKind {
    /// The policy type as AWS's AccessDenied messages name it.
    pub fn message_name(self) -> &'static str {
        match self {
            PolicyKind::Identity => "identity-based",
            PolicyKind::Resource => "resource-based",
            PolicyKind::PermissionsBoundary => "permissions boundary",
            PolicyKind::Session => "session",
        }
    }
}

/// A policy with the name it is reported under.
#[derive(Clone, Debug)]
pub struct NamedPolicy {
    pub name: String,
    pub kind: PolicyKind,
    pub policy: std::sync::Arc<Policy>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementEffect {
    Allow,
    Deny,
}

/// A parsed policy document.
#[derive(Clone, Debug)]
pub struct Policy {
    /// `2012-10-17` (variables on) or `2008-10-17`; absent means the latter.
    pub version: Option<String>,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

/// One statement.
#[derive(Clone, Debug)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: StatementEffect,
    /// The statement's JSON (keys sorted), for the simulator and diagnostics.
    pub json: String,
    actions: Vec<Vec<Tok>>,
    not_action: bool,
    /// `None`: no `Resource` element (trust-policy style): any resource.
    resources: Option<Vec<Template>>,
    not_resource: bool,
    principals: Option<Vec<PrincipalEntry>>,
    not_principal: bool,
    conditions: Vec<Condition>,
}

/// One entry of `Principal`/`NotPrincipal`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PrincipalEntry {
    /// `"*"` or `{"AWS":"*"}`: anyone, anonymous callers included.
    Anyone,
    /// An account id or its root ARN: delegates to the account.
    Account(String),
    /// A role ARN: any session of the role.
    Role(String),
    /// A user, role-session or federated-user ARN (or a unique id).
    Exact(String),
    /// `Service`, `Federated` and `CanonicalUser` principals: kept for
    /// fidelity; no Riffle principal is one of them.
    Other(String),
}

/// How a resource-policy statement's principal matched the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grant {
    /// `"*"` (or a `NotPrincipal` that does not exempt the caller).
    Anyone,
    /// The caller's own ARN (user, role session, federated user).
    Exact,
    /// The caller's role.
    Role,
    /// The caller's account.
    Account,
}

const STATEMENT_KEYS: [&str; 9] = [
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
];

impl Policy {
    /// Parses a policy document.
    pub fn parse(json: &str) -> Result<Policy, PolicyError> {
        let v: Value = serde_json::from_str(json).map_err(|e| PolicyError::Json(e.to_string()))?;
        Policy::from_value(&v)
    }

    /// Parses a document already read as JSON (an authorization-details file
    /// embeds them as objects).
    pub fn from_value(v: &Value) -> Result<Policy, PolicyError> {
        let top = v
            .as_object()
            .ok_or_else(|| invalid("policy", "must be a JSON object"))?;
        for k in top.keys() {
            if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
                return Err(invalid("policy", format!("unknown element {k:?}")));
            }
        }
        let version = match top.get("Version") {
            None => None,
            Some(Value::String(s)) if s == "2012-10-17" || s == "2008-10-17" => Some(s.clone()),
            Some(other) => {
                return Err(invalid(
                    "Version",
                    format!("must be \"2012-10-17\" or \"2008-10-17\", not {other}"),
                ))
            }
        };
        let id = match top.get("Id") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(invalid("Id", "must be a string")),
        };
        let vars = version.as_deref() == Some("2012-10-17");
        let raw: Vec<&Value> = match top.get("Statement") {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(o @ Value::Object(_)) => vec![o],
            Some(_) => return Err(invalid("Statement", "must be an object or an array")),
            None => return Err(invalid("policy", "has no Statement")),
        };
        if raw.is_empty() {
            return Err(invalid("Statement", "is empty"));
        }
        let statements = raw
            .iter()
            .enumerate()
            .map(|(i, s)| {
                parse_statement(s, vars)
                    .map_err(|(at, m)| invalid(format!("Statement[{i}]{at}"), m))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy {
            version,
            id,
            statements,
        })
    }

    /// Checks that the policy fits where it is attached: identity policies
    /// (and boundaries, session policies) name no principal; resource
    /// policies name one in every statement.
    pub fn check_kind(&self, kind: PolicyKind) -> Result<(), PolicyError> {
        for (i, st) in self.statements.iter().enumerate() {
            let has = st.principals.is_some();
            if kind == PolicyKind::Resource && !has {
                return Err(invalid(
                    format!("Statement[{i}]"),
                    "a resource-based policy statement needs Principal or NotPrincipal",
                ));
            }
            if kind != PolicyKind::Resource && has {
                return Err(invalid(
                    format!("Statement[{i}]"),
                    format!(
                        "Principal/NotPrincipal is not allowed in a{} {} policy",
                        if kind == PolicyKind::Identity {
                            "n"
                        } else {
                            ""
                        },
                        kind.message_name()
                    ),
                ));
            }
        }
        Ok(())
    }
}

type StmtErr = (String, String);

fn parse_statement(v: &Value, vars: bool) -> Result<Statement, StmtErr> {
    let err = |at: &str, m: String| (at.to_string(), m);
    let obj: &Map<String, Value> = v
        .as_object()
        .ok_or_else(|| err("", "must be an object".into()))?;
    for k in obj.keys() {
        if !STATEMENT_KEYS.contains(&k.as_str()) {
            return Err(err("", format!("unknown element {k:?}")));
        }
    }
    let sid = match obj.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(err(".Sid", "must be a string".into())),
    };
    let effect = match obj.get("Effect") {
        Some(Value::String(s)) if s == "Allow" => StatementEffect::Allow,
        Some(Value::String(s)) if s == "Deny" => StatementEffect::Deny,
        Some(other) => {
            return Err(err(
                ".Effect",
                format!("must be \"Allow\" or \"Deny\", not {other}"),
            ))
        }
        None => return Err(err("", "has no Effect".into())),
    };

    let (action_key, not_action) = one_of(obj, "Action", "NotAction")
        .map_err(|m| err("", m))?
        .ok_or_else(|| err("", "needs Action or NotAction".into()))?;
    let actions = strings(&obj[action_key])
        .map_err(|m| err(&format!(".{action_key}"), m))?
        .into_iter()
        .map(|a| {
            if a == "*"
                || a.split_once(':')
                    .is_some_and(|(s, n)| !s.is_empty() && !n.is_empty())
            {
                Ok(tokens(&a, true))
            } else {
                Err(err(
                    &format!(".{action_key}"),
                    format!("{a:?} is not an action (service:Name)"),
                ))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;

    let (resources, not_resource) =
        match one_of(obj, "Resource", "NotResource").map_err(|m| err("", m))? {
            None => (None, false),
            Some((key, neg)) => {
                let list = strings(&obj[key])
                    .map_err(|m| err(&format!(".{key}"), m))?
                    .iter()
                    .map(|r| Template::parse(r, vars).map_err(|m| err(&format!(".{key}"), m)))
                    .collect::<Result<Vec<_>, _>>()?;
                (Some(list), neg)
            }
        };

    let (principals, not_principal) =
        match one_of(obj, "Principal", "NotPrincipal").map_err(|m| err("", m))? {
            None => (None, false),
            Some((key, neg)) => {
                if neg && effect == StatementEffect::Allow {
                    return Err(err(
                        "",
                        "NotPrincipal may only be used with \"Effect\": \"Deny\"".into(),
                    ));
                }
                let list = parse_principals(&obj[key]).map_err(|m| err(&format!(".{key}"), m))?;
                (Some(list), neg)
            }
        };

    let conditions = match obj.get("Condition") {
        None => Vec::new(),
        Some(c) => condition::parse_block(c, vars).map_err(|m| err(".Condition", m))?,
    };

    Ok(Statement {
        sid,
        effect,
        json: v.to_string(),
        actions,
        not_action,
        resources,
        not_resource,
        principals,
        not_principal,
        conditions,
    })
}

/// Which of a positive/negative element pair is present (not both).
fn one_of<'k>(
    obj: &Map<String, Value>,
    pos: &'k str,
    neg: &'k str,
) -> Result<Option<(&'k str, bool)>, String> {
    match (obj.contains_key(pos), obj.contains_key(neg)) {
        (true, true) => Err(format!("has both {pos} and {neg}")),
        (true, false) => Ok(Some((pos, false))),
        (false, true) => Ok(Some((neg, true))),
        (false, false) => Ok(None),
    }
}

/// A string or a non-empty array of strings.
fn strings(v: &Value) -> Result<Vec<String>, String> {
    let list = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("must be strings, found {x}"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(format!(
                "must be a string or an array of strings, not {other}"
            ))
        }
    };
    if list.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(list)
}

fn parse_principals(v: &Value) -> Result<Vec<PrincipalEntry>, String> {
    match v {
        Value::String(s) if s == "*" => Ok(vec![PrincipalEntry::Anyone]),
        Value::String(s) => Err(format!(
            "{s:?}: a principal must be \"*\" or an object such as {{\"AWS\": …}}"
        )),
        Value::Object(map) => {
            if map.is_empty() {
                return Err("names no principal".into());
            }
            let mut out = Vec::new();
            for (ty, vals) in map {
                for s in strings(vals).map_err(|m| format!("{ty}: {m}"))? {
                    out.push(match ty.as_str() {
                        "AWS" => parse_aws_principal(&s)?,
                        "Service" | "Federated" | "CanonicalUser" => {
                            if s.contains('*') && s != "*" {
                                return Err(format!("{s:?}: no partial wildcards in principals"));
                            }
                            PrincipalEntry::Other(format!("{ty}:{s}"))
                        }
                        _ => return Err(format!("unknown principal type {ty:?}")),
                    });
                }
            }
            Ok(out)
        }
        other => Err(format!("must be \"*\" or an object, not {other}")),
    }
}

fn parse_aws_principal(s: &str) -> Result<PrincipalEntry, String> {
    if s == "*" {
        return Ok(PrincipalEntry::Anyone);
    }
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(PrincipalEntry::Account(s.to_string()));
    }
    if s.contains('*') || s.contains('?') {
        return Err(format!("{s:?}: no partial wildcards in principals"));
    }
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if let ["arn", _partition, service, "", account, resource] = parts[..] {
        return match (service, resource) {
            ("iam", "root") => Ok(PrincipalEntry::Account(account.to_string())),
            ("iam", r) if r.starts_with("role/") => Ok(PrincipalEntry::Role(s.to_string())),
            ("iam", r) if r.starts_with("user/") => Ok(PrincipalEntry::Exact(s.to_string())),
            ("sts", r) if r.starts_with("assumed-role/") || r.starts_with("federated-user/") => {
                Ok(PrincipalEntry::Exact(s.to_string()))
            }
            _ => Err(format!("{s:?} is not a principal ARN")),
        };
    }
    // AWS stores principals as unique ids (AIDA…, AROA…) and shows those
    // once the named principal is gone.
    if s.len() >= 16 && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(PrincipalEntry::Exact(s.to_string()));
    }
    Err(format!(
        "{s:?} is not an account id, principal ARN or \"*\""
    ))
}

impl Statement {
    /// The `Action`/`NotAction` element matches `action` (case-insensitively).
    fn action_matches(&self, action: &str) -> bool {
        let any = self.actions.iter().any(|p| pattern::glob(p, action, true));
        any != self.not_action
    }

    fn resource_matches(&self, resource: &str, ctx: &Context) -> bool {
        let Some(list) = &self.resources else {
            return true;
        };
        let any = list.iter().any(|t| {
            t.resolve(ctx, true)
                .is_some_and(|toks| pattern::arn_match(&toks, resource))
        });
        any != self.not_resource
    }

    /// How the statement's principal element matches `p`; `None` when it
    /// does not (or the statement names none).
    fn principal_grant(&self, p: &Principal) -> Option<Grant> {
        let list = self.principals.as_ref()?;
        if self.not_principal {
            return (!exempt(list, p)).then_some(Grant::Anyone);
        }
        list.iter()
            .filter_map(|e| entry_grant(e, p))
            .min_by_key(|g| match g {
                Grant::Exact => 0,
                Grant::Role => 1,
                Grant::Anyone => 2,
                Grant::Account => 3,
            })
    }

    fn conditions_hold(&self, ctx: &Context) -> bool {
        self.conditions.iter().all(|c| c.holds(ctx))
    }
}

fn entry_grant(e: &PrincipalEntry, p: &Principal) -> Option<Grant> {
    let anon = p.kind == PrincipalKind::Anonymous;
    match e {
        PrincipalEntry::Anyone => Some(Grant::Anyone),
        _ if anon => None,
        PrincipalEntry::Account(a) => (*a == p.account_id).then_some(Grant::Account),
        PrincipalEntry::Role(arn) => (p.kind == PrincipalKind::AssumedRole
            && p.issuer_arn.as_deref() == Some(arn.as_str()))
        .then_some(Grant::Role),
        PrincipalEntry::Exact(id) => {
            (*id == p.arn || *id == p.principal_id).then_some(Grant::Exact)
        }
        PrincipalEntry::Other(_) => None,
    }
}

/// `NotPrincipal` exempts a caller only when both its account and the
/// caller itself (or, for a role session, its role) are listed.
fn exempt(list: &[PrincipalEntry], p: &Principal) -> bool {
    let grants: Vec<Grant> = list.iter().filter_map(|e| entry_grant(e, p)).collect();
    if grants.contains(&Grant::Anyone) {
        return true;
    }
    let account = grants.contains(&Grant::Account);
    match p.kind {
        PrincipalKind::Anonymous => false,
        PrincipalKind::Root => account,
        _ => account && (grants.contains(&Grant::Exact) || grants.contains(&Grant::Role)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        Policy::parse(json).unwrap_err().to_string()
    }

    #[test]
    fn statement_as_object_or_array() {
        let one = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}}"#,
        )
        .unwrap();
        assert_eq!(one.statements.len(), 1);
        let two = Policy::parse(
            r#"{"Version":"2012-10-17","Id":"x","Statement":[
                {"Sid":"A","Effect":"Allow","Action":["kinesis:Get*","kinesis:List*"],"Resource":["*"]},
                {"Sid":"B","Effect":"Deny","NotAction":"kinesis:Describe*","NotResource":"arn:aws:kinesis:*:*:stream/a"}]}"#,
        )
        .unwrap();
        assert_eq!(two.statements.len(), 2);
        assert_eq!(two.statements[1].sid.as_deref(), Some("B"));
        assert_eq!(two.statements[1].effect, StatementEffect::Deny);
        assert!(two.statements[1].json.contains("NotAction"));
    }

    #[test]
    fn malformed_policies_say_what_is_wrong() {
        assert!(err("{").starts_with("policy is not valid JSON"));
        assert!(err(r#"{"Version":"2012-10-17"}"#).contains("no Statement"));
        assert!(err(r#"{"Version":"2020-01-01","Statement":[]}"#).contains("Version"));
        assert!(err(r#"{"Statement":{"Effect":"allow","Action":"a:b"}}"#)
            .starts_with("Statement[0].Effect"));
        assert!(
            err(r#"{"Statement":[{"Effect":"Allow","Action":"a:b"},{"Effect":"Allow"}]}"#)
                .contains("Statement[1]: needs Action or NotAction")
        );
        assert!(
            err(r#"{"Statement":{"Effect":"Allow","Action":"a:b","NotAction":"a:c"}}"#)
                .contains("both Action and NotAction")
        );
        assert!(
            err(r#"{"Statement":{"Effect":"Allow","Action":"PutRecord"}}"#)
                .contains("not an action")
        );
        assert!(
            err(r#"{"Statement":{"Effect":"Allow","Action":"a:b","Resorce":"*"}}"#)
                .contains("unknown element \"Resorce\"")
        );
        assert!(err(r#"{"Statement":{"Effect":"Allow","Action":"a:b","NotPrincipal":{"AWS":"123456789012"}}}"#)
            .contains("NotPrincipal may only be used with"));
        assert!(err(r#"{"Statement":{"Effect":"Allow","Action":"a:b","Principal":{"AWS":"arn:aws:iam::123456789012:user/*"}}}"#)
            .contains("partial wildcards"));
        assert!(err(
            r#"{"Statement":{"Effect":"Allow","Action":"a:b","Principal":{"Bogus":"x"}}}"#
        )
        .contains("unknown principal type"));
        assert!(err(r#"{"Statement":{"Effect":"Allow","Action":"a:b","Condition":{"StringEquals":{"k":{"x":1}}}}}"#)
            .starts_with("Statement[0].Condition"));
        assert!(err(r#"{"Statement":{"Effect":"Allow","Action":"a:b","Condition":{"DateLessThan":{"aws:CurrentTime":"soon"}}}}"#)
            .contains("not a date"));
    }

    #[test]
    fn principal_forms() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*",
              "Principal":{"AWS":["111122223333","arn:aws:iam::444455556666:root",
                "arn:aws:iam::111122223333:user/alice","arn:aws:iam::111122223333:role/app",
                "arn:aws:sts::111122223333:assumed-role/app/s1","arn:aws:sts::111122223333:federated-user/bob"],
                "Service":"firehose.amazonaws.com","Federated":"cognito-identity.amazonaws.com"}}}"#,
        )
        .unwrap();
        let list = p.statements[0].principals.as_ref().unwrap();
        assert_eq!(list[0], PrincipalEntry::Account("111122223333".into()));
        assert_eq!(list[1], PrincipalEntry::Account("444455556666".into()));
        assert!(matches!(list[3], PrincipalEntry::Role(_)));
        assert_eq!(list.len(), 8);
        assert!(p.check_kind(PolicyKind::Resource).is_ok());
        assert!(p.check_kind(PolicyKind::Identity).is_err());
        let star = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","Action":"kinesis:*","Principal":"*"}}"#,
        )
        .unwrap();
        assert_eq!(
            star.statements[0].principals,
            Some(vec![PrincipalEntry::Anyone])
        );
    }
}
