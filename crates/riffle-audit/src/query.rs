//! Reading the trail back: finished `.json.gz` files and the live journal,
//! filtered and sorted by `eventTime`. Safe to run while a server writes: a
//! journal rotated away mid-read is found again as its `.json.gz`, and
//! events seen twice in that race are reported once (by `eventID`).

use crate::error::AuditError;
use crate::event::AuditEvent;
use crate::layout::{self, FINAL_EXT, JOURNAL_DIR, JOURNAL_EXT};
use chrono::{DateTime, Utc};
use flate2::read::GzDecoder;
use serde::Deserialize;
use std::collections::HashSet;
use std::io::BufReader;
use std::path::Path;
use std::str::FromStr;

/// Which events to return; `None` members match everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// `eventTime >= since`.
    pub since: Option<DateTime<Utc>>,
    /// `eventTime <= until`.
    pub until: Option<DateTime<Utc>>,
    /// Equal to `userIdentity.arn`, `userName`, `principalId`,
    /// `accessKeyId`, or the session issuer's `arn` or `userName`.
    pub principal: Option<String>,
    /// Equal to `eventName`.
    pub event_name: Option<String>,
    /// Equal to a `resources[].ARN`, to the last `/` segment of one (the
    /// stream name of a stream ARN), or to a top-level `requestParameters`
    /// string member whose name ends in `Name`, `ARN` or `Arn`
    /// (`streamName`, `streamARN`, `consumerName`, …).
    pub resource: Option<String>,
    pub error_code: Option<ErrorFilter>,
}

/// Matching on `errorCode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorFilter {
    /// Failed calls, any code.
    Any,
    /// Successful calls.
    None,
    /// This exact code.
    Code(String),
}

impl FromStr for ErrorFilter {
    type Err = std::convert::Infallible;

    /// `any`, `none`, or an error code.
    fn from_str(s: &str) -> Result<ErrorFilter, Self::Err> {
        Ok(match s {
            "any" => ErrorFilter::Any,
            "none" => ErrorFilter::None,
            code => ErrorFilter::Code(code.to_string()),
        })
    }
}

impl Filter {
    pub fn matches(&self, ev: &AuditEvent) -> bool {
        if self.since.is_some_and(|t| ev.event_time < t)
            || self.until.is_some_and(|t| ev.event_time > t)
        {
            return false;
        }
        if let Some(name) = &self.event_name {
            if &ev.event_name != name {
                return false;
            }
        }
        if let Some(p) = &self.principal {
            if !principal_matches(ev, p) {
                return false;
            }
        }
        if let Some(r) = &self.resource {
            if !resource_matches(ev, r) {
                return false;
            }
        }
        match &self.error_code {
            None => true,
            Some(ErrorFilter::Any) => ev.error_code.is_some(),
            Some(ErrorFilter::None) => ev.error_code.is_none(),
            Some(ErrorFilter::Code(c)) => ev.error_code.as_ref() == Some(c),
        }
    }
}

fn principal_matches(ev: &AuditEvent, p: &str) -> bool {
    let id = &ev.user_identity;
    let issuer = id
        .session_context
        .as_ref()
        .and_then(|s| s.session_issuer.as_ref());
    [
        id.arn.as_deref(),
        id.user_name.as_deref(),
        id.principal_id.as_deref(),
        id.access_key_id.as_deref(),
        issuer.and_then(|i| i.arn.as_deref()),
        issuer.and_then(|i| i.user_name.as_deref()),
    ]
    .into_iter()
    .flatten()
    .any(|v| v == p)
}

fn resource_matches(ev: &AuditEvent, r: &str) -> bool {
    let by_resource = ev
        .resources
        .iter()
        .any(|res| res.arn == r || res.arn.rsplit('/').next() == Some(r));
    let by_parameter = ev.request_parameters.as_object().is_some_and(|m| {
        m.iter().any(|(k, v)| {
            (k.ends_with("Name") || k.ends_with("ARN") || k.ends_with("Arn"))
                && v.as_str() == Some(r)
        })
    });
    by_resource || by_parameter
}

#[derive(Deserialize)]
struct LogFile {
    #[serde(rename = "Records")]
    records: Vec<AuditEvent>,
}

/// Every event under the trail root `dir` that `f` matches, oldest first
/// (ties in file order). Reads live journals first, then finished files,
/// so an event rotated during the read is still found. Incomplete journal
/// lines (a write in progress, or a torn line after a crash) are skipped; a
/// corrupt `.json.gz` is an error. Every file is read: event times come
/// from the caller, so a file's name does not bound the times inside it.
pub fn query(dir: &Path, f: &Filter) -> Result<Vec<AuditEvent>, AuditError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut keep = |ev: AuditEvent, out: &mut Vec<AuditEvent>| {
        if f.matches(&ev) && seen.insert(ev.event_id.clone()) {
            out.push(ev);
        }
    };

    let jdir = dir.join(JOURNAL_DIR);
    let mut journals = Vec::new();
    layout::walk(&jdir, &[JOURNAL_EXT], &mut journals).map_err(|e| AuditError::io(&jdir, e))?;
    journals.sort();
    for path in journals {
        let raw = match std::fs::read(&path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(AuditError::io(&path, e)),
        };
        for line in raw.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if let Ok(ev) = serde_json::from_slice::<AuditEvent>(line) {
                keep(ev, &mut out);
            }
        }
    }

    let logs = dir.join("AWSLogs");
    let mut files = Vec::new();
    layout::walk(&logs, &[FINAL_EXT], &mut files).map_err(|e| AuditError::io(&logs, e))?;
    files.sort();
    for path in files {
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(AuditError::io(&path, e)),
        };
        let parsed: LogFile = serde_json::from_reader(BufReader::new(GzDecoder::new(file)))
            .map_err(|source| AuditError::Json {
                path: path.clone(),
                source,
            })?;
        for ev in parsed.records {
            keep(ev, &mut out);
        }
    }
    out.sort_by_key(|ev| ev.event_time);
    Ok(out)
}
