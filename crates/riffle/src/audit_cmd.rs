//! `riffle audit`: read the audit trail under `<data-dir>/audit` (finished
//! CloudTrail `.json.gz` files and the live journal), filtered, as a table
//! or as JSON lines.

use crate::config::{Config, ServeArgs};
use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use riffle_audit::{query, AuditEvent, Filter};
use std::io::Write;
use std::path::PathBuf;

/// Show audit trail events (CloudTrail records of API calls), oldest first.
///
/// Times are RFC 3339 (2024-05-01T12:00:00Z) or relative to now: 30s, 15m, 1h, 2d, 1w.
///
/// Examples:
///   riffle audit --since 1h
///   riffle audit --principal Alice --error-code any
///   riffle audit --resource orders --output json | jq .eventName
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct AuditArgs {
    /// TOML configuration file (its data_dir is used).
    #[arg(long, env = "RIFFLE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory; the trail is in its audit/ folder [default: ./riffle-data]
    #[arg(long, env = "RIFFLE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Only events at or after this time.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only events at or before this time.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only calls by this principal: an ARN, user name, role name, principal or access key id.
    #[arg(long, value_name = "P")]
    principal: Option<String>,
    /// Only this operation (e.g. CreateStream).
    #[arg(long, value_name = "NAME")]
    event_name: Option<String>,
    /// Only calls on this resource: an ARN or a name (e.g. a stream name).
    #[arg(long, value_name = "ARN")]
    resource: Option<String>,
    /// Only calls that failed with this error code; `any` for every failure, `none` for successes.
    #[arg(long, value_name = "CODE")]
    error_code: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    Table,
    /// One CloudTrail record per line.
    Json,
}

pub fn main(args: AuditArgs) -> Result<()> {
    let serve = ServeArgs {
        config: args.config.clone(),
        data_dir: args.data_dir.clone(),
        ..ServeArgs::default()
    };
    let dir = Config::resolve(&serve)?.data_dir.join("audit");
    let now = Utc::now();
    let filter = Filter {
        since: args
            .since
            .as_deref()
            .map(|s| parse_time(s, now))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|s| parse_time(s, now))
            .transpose()?,
        principal: args.principal,
        event_name: args.event_name,
        resource: args.resource,
        error_code: args.error_code.as_deref().map(|s| match s.parse() {
            Ok(f) => f,
            Err(never) => match never {},
        }),
    };
    let events = query(&dir, &filter)
        .with_context(|| format!("cannot read the audit trail in {}", dir.display()))?;
    let mut out = std::io::stdout().lock();
    let written = match args.output {
        Output::Json => write_json(&mut out, &events),
        Output::Table => write_table(&mut out, &events),
    };
    match written.and_then(|()| out.flush()) {
        // `riffle audit | head` is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// RFC 3339, or `<n><s|m|h|d|w>` before `now`.
fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = match n.parse() {
        Ok(n) => n,
        Err(_) => {
            bail!("bad time {s:?}: use RFC 3339 (2024-05-01T12:00:00Z) or 30s, 15m, 1h, 2d, 1w")
        }
    };
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => bail!("bad time {s:?}: the unit must be s, m, h, d or w"),
    };
    n.checked_mul(secs)
        .and_then(chrono::Duration::try_seconds)
        .and_then(|d| now.checked_sub_signed(d))
        .with_context(|| format!("time {s:?} is out of range"))
}

fn write_json(out: &mut impl Write, events: &[AuditEvent]) -> std::io::Result<()> {
    for ev in events {
        serde_json::to_writer(&mut *out, ev)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn write_table(out: &mut impl Write, events: &[AuditEvent]) -> std::io::Result<()> {
    let header = ["TIME", "PRINCIPAL", "EVENT", "RESOURCE", "ERROR"].map(String::from);
    let rows: Vec<[String; 5]> = events
        .iter()
        .map(|ev| {
            [
                ev.event_time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                principal(ev),
                ev.event_name.clone(),
                resource(ev),
                ev.error_code.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn principal(ev: &AuditEvent) -> String {
    let id = &ev.user_identity;
    id.arn
        .clone()
        .or_else(|| id.user_name.clone())
        .or_else(|| id.principal_id.clone())
        .unwrap_or_else(|| id.kind.clone())
}

/// The first resource ARN, else the first `…Name`/`…ARN` request parameter.
fn resource(ev: &AuditEvent) -> String {
    if let Some(r) = ev.resources.first() {
        return r.arn.clone();
    }
    ev.request_parameters
        .as_object()
        .and_then(|m| {
            m.iter()
                .filter(|(k, _)| k.ends_with("ARN") || k.ends_with("Arn") || k.ends_with("Name"))
                .find_map(|(_, v)| v.as_str())
        })
        .map_or_else(|| "-".into(), str::to_string)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_relative() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| parse_time(s, now).unwrap().to_rfc3339();
        assert_eq!(at("2024-04-30T10:00:00Z"), "2024-04-30T10:00:00+00:00");
        assert_eq!(at("30m"), "2024-05-01T11:30:00+00:00");
        assert_eq!(at("1h"), "2024-05-01T11:00:00+00:00");
        assert_eq!(at("2d"), "2024-04-29T12:00:00+00:00");
        assert!(parse_time("5y", now).is_err());
        assert!(parse_time("h", now).is_err());
        assert!(parse_time("yesterday", now).is_err());
    }
}
