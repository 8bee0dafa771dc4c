//! Step 11: constraint validation (kinesalite `checkValidations`, verified
//! against AWS): `N validation error(s) detected: e1; e2...`, at most 10,
//! in schema member order, each
//! `Value '<v>' at '<path>' failed to satisfy constraint: Member must ...`.

use crate::schema::{Con, Member, Ty};
use crate::typecheck::{js_len, Checked};
use riffle_model::ApiError;
use std::fmt::Write as _;

const MAX_ERRORS: usize = 10;

pub fn validate(
    members: &'static [Member],
    fields: &[Option<Checked<'_>>],
) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    check_struct(members, fields, &Path::Root, &mut errors);
    if errors.is_empty() {
        return Ok(());
    }
    let n = errors.len();
    Err(ApiError::validation(format!(
        "{n} validation error{} detected: {}",
        if n > 1 { "s" } else { "" },
        errors.join("; ")
    )))
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Where a member sits (`records.1.member.partitionKey`), rendered only when
/// an error message needs it. Built as a string for every member, the path
/// cost two `format!`s per record, ~15% of the server's instructions on
/// PutRecords of 500 small records, all of it thrown away when they are valid.
enum Path<'a> {
    Root,
    /// A member: `parent.name` with the name's first letter lowered.
    Member(&'a Path<'a>, &'a str),
    /// A list element, numbered from 1.
    Index(&'a Path<'a>, usize),
    /// A map entry: `parent.key`, the key as sent.
    Key(&'a Path<'a>, &'a str),
}

impl Path<'_> {
    fn render(&self, out: &mut String) {
        match self {
            Path::Root => {}
            Path::Member(parent, name) => {
                if !matches!(parent, Path::Root) {
                    parent.render(out);
                    out.push('.');
                }
                out.push_str(&lower_first(name));
            }
            Path::Index(parent, i) => {
                parent.render(out);
                let _ = write!(out, ".{i}");
            }
            Path::Key(parent, key) => {
                parent.render(out);
                out.push('.');
                out.push_str(key);
            }
        }
    }
}

fn check_struct(
    members: &'static [Member],
    fields: &[Option<Checked<'_>>],
    parent: &Path<'_>,
    errors: &mut Vec<String>,
) {
    for (member, value) in members.iter().zip(fields) {
        check_member(member, member.name, value.as_ref(), parent, errors);
    }
}

/// `key` is the member name, or `member` for list elements and map values.
fn check_member(
    member: &'static Member,
    key: &str,
    value: Option<&Checked<'_>>,
    parent: &Path<'_>,
    errors: &mut Vec<String>,
) {
    if errors.len() >= MAX_ERRORS {
        return;
    }
    let Some(value) = value else {
        if member.required || key == "member" {
            push(errors, None, parent, key, "Member must not be null".into());
        }
        return;
    };
    for con in member.cons {
        if errors.len() >= MAX_ERRORS {
            return;
        }
        if let Some(msg) = violated(con, value) {
            push(errors, Some(render(member, value)), parent, key, msg);
        }
    }
    match (&member.ty, value) {
        (Ty::Struct(children), Checked::Struct(fields)) => {
            check_struct(children, fields, &Path::Member(parent, key), errors)
        }
        (Ty::List(elem), Checked::List(items)) => {
            let base = Path::Member(parent, key);
            for (i, item) in items.iter().enumerate() {
                if errors.len() >= MAX_ERRORS {
                    return;
                }
                check_member(
                    elem,
                    "member",
                    item.as_ref(),
                    &Path::Index(&base, i + 1),
                    errors,
                );
            }
        }
        (Ty::Map(elem), Checked::Map(entries)) => {
            let base = Path::Member(parent, key);
            for (k, item) in entries {
                if errors.len() >= MAX_ERRORS {
                    return;
                }
                check_member(elem, "member", item.as_ref(), &Path::Key(&base, k), errors);
            }
        }
        _ => {}
    }
}

fn push(
    errors: &mut Vec<String>,
    value: Option<String>,
    parent: &Path<'_>,
    key: &str,
    msg: String,
) {
    let value = match value {
        None => "null".to_string(),
        Some(v) => format!("'{v}'"),
    };
    let mut path = String::new();
    Path::Member(parent, key).render(&mut path);
    errors.push(format!(
        "Value {value} at '{path}' failed to satisfy constraint: {msg}"
    ));
}

fn length(value: &Checked<'_>) -> Option<u64> {
    Some(match value {
        Checked::Str(s) => js_len(s) as u64,
        Checked::Blob(b) => b.len() as u64,
        Checked::List(items) => items.len() as u64,
        Checked::Map(entries) => entries.len() as u64,
        _ => return None,
    })
}

fn within(s: &str, min: u64, max: u64) -> bool {
    let len = js_len(s) as u64;
    len >= min && len <= max
}

fn bounds_msg(min: u64, max: u64) -> String {
    format!("[Member must have length less than or equal to {max}, Member must have length greater than or equal to {min}]")
}

fn violated(con: &Con, value: &Checked<'_>) -> Option<String> {
    match (con, value) {
        (Con::Min(min), Checked::Double(f)) if *f < *min as f64 => Some(format!(
            "Member must have value greater than or equal to {min}"
        )),
        (Con::Max(max), Checked::Double(f)) if *f > *max as f64 => Some(format!(
            "Member must have value less than or equal to {max}"
        )),
        (Con::Min(min), Checked::Int(i)) if i < min => Some(format!(
            "Member must have value greater than or equal to {min}"
        )),
        (Con::Max(max), Checked::Int(i)) if i > max => Some(format!(
            "Member must have value less than or equal to {max}"
        )),
        (Con::Pattern(p), Checked::Str(s)) if !p.is_match(s) => Some(format!(
            "Member must satisfy regular expression pattern: {}",
            p.source()
        )),
        (Con::Enum(values), Checked::Str(s)) if !values.contains(&s.as_ref()) => Some(format!(
            "Member must satisfy enum value set: [{}]",
            values.join(", ")
        )),
        (Con::MinLen(min), v) if length(v).is_some_and(|l| l < *min) => Some(format!(
            "Member must have length greater than or equal to {min}"
        )),
        (Con::MaxLen(max), v) if length(v).is_some_and(|l| l > *max) => Some(format!(
            "Member must have length less than or equal to {max}"
        )),
        (Con::ChildLen(min, max), Checked::List(items)) => {
            let ok = items.iter().all(|i| match i {
                Some(Checked::Str(s)) => within(s, *min, *max),
                _ => true,
            });
            (!ok).then(|| format!("Member must satisfy constraint: {}", bounds_msg(*min, *max)))
        }
        (Con::ChildEnum(values), Checked::List(items)) => {
            let ok = items.iter().all(|i| match i {
                Some(Checked::Str(s)) => values.contains(&s.as_ref()),
                _ => true,
            });
            (!ok).then(|| {
                format!(
                    "Member must satisfy constraint: [Member must satisfy enum value set: [{}]]",
                    values.join(", ")
                )
            })
        }
        (Con::ChildPattern(p), Checked::List(items)) => {
            let ok = items.iter().all(|i| match i {
                Some(Checked::Str(s)) => p.is_match(s),
                _ => true,
            });
            (!ok).then(|| {
                format!(
                    "Member must satisfy constraint: [Member must satisfy regular expression pattern: {}]",
                    p.source()
                )
            })
        }
        (Con::KeyLen(min, max), Checked::Map(entries)) => {
            let ok = entries.iter().all(|(k, _)| within(k, *min, *max));
            (!ok).then(|| {
                format!(
                    "Map keys must satisfy constraint: {}",
                    bounds_msg(*min, *max)
                )
            })
        }
        (Con::ValLen(min, max), Checked::Map(entries)) => {
            let ok = entries.iter().all(|(_, v)| match v {
                Some(Checked::Str(s)) => within(s, *min, *max),
                _ => true,
            });
            (!ok).then(|| {
                format!(
                    "Map value must satisfy constraint: {}",
                    bounds_msg(*min, *max)
                )
            })
        }
        _ => None,
    }
}

/// How AWS prints a value in a validation message.
fn render(member: &Member, value: &Checked<'_>) -> String {
    match value {
        Checked::Str(s) => s.to_string(),
        Checked::Int(i) => i.to_string(),
        Checked::Double(f) => f.to_string(),
        Checked::Bool(b) => b.to_string(),
        Checked::Timestamp(ms) => ms.to_string(),
        Checked::Blob(b) => format!("java.nio.HeapByteBuffer[pos=0 lim={0} cap={0}]", b.len()),
        Checked::Struct(_) => member.member_str.unwrap_or("{}").to_string(),
        Checked::List(items) => {
            let elem_str = match &member.ty {
                Ty::List(elem) => elem.member_str,
                _ => None,
            };
            let mut out = String::from("[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match (elem_str, item) {
                    (Some(class), Some(Checked::Struct(fields))) => {
                        let _ = write!(out, "{class}@{:x}", java_ish_hash(fields));
                    }
                    (_, Some(v)) => out.push_str(&render(member, v)),
                    (_, None) => out.push_str("null"),
                }
            }
            out.push(']');
            out
        }
        Checked::Map(entries) => {
            let mut out = String::from("{");
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let v = v
                    .as_ref()
                    .map(|v| render(member, v))
                    .unwrap_or_else(|| "null".into());
                let _ = write!(out, "{k}={v}");
            }
            out.push('}');
            out
        }
    }
}

/// AWS prints `Object.toString()` (`Class@hashCode`) for structures in lists;
/// the hash is not reproducible, so derive a stable one from the contents.
fn java_ish_hash(fields: &[Option<Checked<'_>>]) -> u32 {
    let mut h: u32 = 1;
    for f in fields {
        let part: u32 = match f {
            None => 0,
            Some(Checked::Str(s)) => s
                .bytes()
                .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b))),
            Some(Checked::Blob(b)) => b.len() as u32,
            Some(_) => 7,
        };
        h = h.wrapping_mul(31).wrapping_add(part);
    }
    h
}
