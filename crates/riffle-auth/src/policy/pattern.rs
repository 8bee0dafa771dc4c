//! Wildcard patterns, ARN matching and policy-variable templates.
//!
//! A pattern is a list of tokens rather than a string so that characters
//! that came from a variable (or from `${*}`, `${?}`) stay literal even when
//! they are `*` or `?`.

use super::context::Context;

/// One pattern token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Ch(char),
    /// `*`: any run of characters, `/` and `:` included.
    Star,
    /// `?`: exactly one character.
    One,
}

/// Tokens for `text`, with `*` and `?` as wildcards when `wild`.
pub(crate) fn tokens(text: &str, wild: bool) -> Vec<Tok> {
    text.chars()
        .map(|c| match c {
            '*' if wild => Tok::Star,
            '?' if wild => Tok::One,
            c => Tok::Ch(c),
        })
        .collect()
}

fn char_eq(a: char, b: char, ignore_case: bool) -> bool {
    a == b || (ignore_case && a.to_lowercase().eq(b.to_lowercase()))
}

/// Whether `pat` matches all of `text`. Greedy with one backtrack point,
/// which is enough for `*`/`?` globs and linear in practice.
pub(crate) fn glob(pat: &[Tok], text: &str, ignore_case: bool) -> bool {
    let t: Vec<char> = text.chars().collect();
    let (mut p, mut s) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while s < t.len() {
        match pat.get(p) {
            Some(Tok::Star) => {
                backtrack = Some((p, s));
                p += 1;
                continue;
            }
            Some(Tok::One) => {
                p += 1;
                s += 1;
                continue;
            }
            Some(Tok::Ch(c)) if char_eq(*c, t[s], ignore_case) => {
                p += 1;
                s += 1;
                continue;
            }
            _ => {}
        }
        match backtrack {
            Some((sp, ss)) => {
                p = sp + 1;
                s = ss + 1;
                backtrack = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|t| *t == Tok::Star)
}

/// ArnLike: a lone `*` matches anything; otherwise both sides split into the
/// six colon-separated segments (the last one keeps any further colons) and
/// match segment by segment, case-sensitively. The service segment takes no
/// wildcards (reference §2.2).
pub(crate) fn arn_match(pat: &[Tok], arn: &str) -> bool {
    if pat == [Tok::Star] {
        return true;
    }
    let mut segs: Vec<&[Tok]> = Vec::with_capacity(6);
    let mut start = 0;
    for (i, t) in pat.iter().enumerate() {
        if segs.len() == 5 {
            break;
        }
        if *t == Tok::Ch(':') {
            segs.push(&pat[start..i]);
            start = i + 1;
        }
    }
    segs.push(&pat[start..]);
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if segs.len() != 6 || parts.len() != 6 {
        return false;
    }
    segs.iter().zip(&parts).enumerate().all(|(i, (seg, part))| {
        if i == 2 {
            literal_eq(seg, part)
        } else {
            glob(seg, part, false)
        }
    })
}

fn literal_eq(pat: &[Tok], text: &str) -> bool {
    let lit: String = pat
        .iter()
        .map(|t| match t {
            Tok::Ch(c) => *c,
            Tok::Star => '*',
            Tok::One => '?',
        })
        .collect();
    lit == text
}

/// A piece of a policy string that may contain `${…}` variables.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    /// Policy text: `*`/`?` are wildcards where the operator allows them.
    Text(String),
    /// Always literal: `${*}`, `${?}`, `${$}`.
    Lit(char),
    Var {
        key: String,
        default: Option<String>,
    },
}

/// A policy string (resource or condition value), with variables parsed out
/// when the policy's version allows them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// `vars`: the policy is version 2012-10-17, so `${…}` is a variable;
    /// otherwise the text is taken as written.
    pub(crate) fn parse(text: &str, vars: bool) -> Result<Template, String> {
        if !vars || !text.contains("${") {
            return Ok(Template {
                pieces: vec![Piece::Text(text.to_string())],
            });
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            if at > 0 {
                pieces.push(Piece::Text(rest[..at].to_string()));
            }
            let after = &rest[at + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unterminated policy variable in {text:?}"))?;
            let inner = after[..end].trim();
            pieces.push(match inner {
                "*" => Piece::Lit('*'),
                "?" => Piece::Lit('?'),
                "$" => Piece::Lit('$'),
                _ => parse_var(inner).map_err(|m| format!("{m} in {text:?}"))?,
            });
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template { pieces })
    }

    /// The tokens after substituting variables from `ctx`; `None` when a
    /// variable has no single value and no default (it then matches nothing).
    pub(crate) fn resolve(&self, ctx: &Context, wild: bool) -> Option<Vec<Tok>> {
        let mut out = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.extend(tokens(t, wild)),
                Piece::Lit(c) => out.push(Tok::Ch(*c)),
                Piece::Var { key, default } => {
                    let value = match ctx.get(key) {
                        Some([one]) => one.as_str(),
                        _ => default.as_deref()?,
                    };
                    out.extend(value.chars().map(Tok::Ch));
                }
            }
        }
        Some(out)
    }
}

fn parse_var(inner: &str) -> Result<Piece, String> {
    let (key, default) = match inner.split_once(',') {
        None => (inner, None),
        Some((k, d)) => {
            let d = d.trim();
            let unquoted = d
                .strip_prefix('\'')
                .and_then(|d| d.strip_suffix('\''))
                .ok_or_else(|| "a variable default must be in single quotes".to_string())?;
            (k.trim(), Some(unquoted.to_string()))
        }
    };
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(format!("invalid policy variable name {key:?}"));
    }
    Ok(Piece::Var {
        key: key.to_string(),
        default,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn g(p: &str, t: &str) -> bool {
        glob(&tokens(p, true), t, false)
    }

    #[test]
    fn glob_wildcards() {
        assert!(g("kinesis:*", "kinesis:PutRecord"));
        assert!(g("kinesis:Put?ecord", "kinesis:PutRecord"));
        assert!(!g("kinesis:Put?ecord", "kinesis:PutRecords"));
        assert!(g("*a*b", "xxaxxb"));
        assert!(!g("*a*b", "xxaxxbc"));
        assert!(g("", ""));
        assert!(!g("", "x"));
        assert!(glob(
            &tokens("KINESIS:put*", true),
            "kinesis:PutRecord",
            true
        ));
    }

    #[test]
    fn arn_segments() {
        let p = |s: &str| tokens(s, true);
        let arn = "arn:aws:kinesis:us-east-1:123456789012:stream/orders";
        assert!(arn_match(&p("*"), arn));
        assert!(arn_match(&p("arn:aws:kinesis:*:*:stream/*"), arn));
        assert!(arn_match(
            &p("arn:aws:kinesis:us-east-?:123456789012:stream/ord*"),
            arn
        ));
        assert!(!arn_match(&p("arn:aws:kinesis:*:*:stream/other"), arn));
        // the service segment is literal
        assert!(!arn_match(&p("arn:aws:*:*:*:*"), arn));
        // `*` spans `/` (and `:` inside the resource segment)
        let consumer = "arn:aws:kinesis:us-east-1:1:stream/s/consumer/c:1700000000";
        assert!(arn_match(&p("arn:aws:kinesis:*:*:stream/*"), consumer));
        assert!(!arn_match(&p("arn:aws:kinesis:*"), arn));
        assert!(!arn_match(&p("arn:aws:kinesis:*:*:stream/*"), "*"));
    }

    #[test]
    fn templates_substitute_literally() {
        let mut ctx = Context::new();
        ctx.set("aws:username", vec!["a*b".into()]);
        let t = Template::parse("x/${aws:username}/${*}", true).unwrap();
        let toks = t.resolve(&ctx, true).unwrap();
        assert!(glob(&toks, "x/a*b/*", false));
        assert!(!glob(&toks, "x/aZb/*", false));
        assert!(!glob(&toks, "x/a*b/z", false));
        let missing = Template::parse("${aws:PrincipalTag/team}", true).unwrap();
        assert_eq!(missing.resolve(&ctx, true), None);
        let dflt = Template::parse("${aws:PrincipalTag/team, 'none'}", true).unwrap();
        assert!(glob(&dflt.resolve(&ctx, true).unwrap(), "none", false));
        // no variables in 2008-10-17 policies
        let old = Template::parse("${aws:username}", false).unwrap();
        assert!(glob(
            &old.resolve(&ctx, true).unwrap(),
            "${aws:username}",
            false
        ));
        assert!(Template::parse("${aws:username", true).is_err());
        assert!(Template::parse("${k, x}", true).is_err());
    }
}
