//! CloudTrail's file layout:
//! `<dir>/AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 alnum>.json.gz`,
//! and the journal beside it (`<dir>/journal/<same base name>.jsonl`), which
//! CloudTrail tools ignore because it is outside `AWSLogs/`.

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use rand::distributions::{Alphanumeric, DistString};
use std::path::{Path, PathBuf};

pub(crate) const JOURNAL_DIR: &str = "journal";
pub(crate) const JOURNAL_EXT: &str = ".jsonl";
pub(crate) const FINAL_EXT: &str = ".json.gz";
pub(crate) const TEMP_EXT: &str = ".tmp";
const NAME_TIME: &str = "%Y%m%dT%H%MZ";

/// The parts of a log file's base name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileName {
    pub account: String,
    pub region: String,
    /// Minute precision, as in the name.
    pub time: DateTime<Utc>,
    pub id: String,
}

impl FileName {
    /// A new name for a period starting at `time`, with a fresh random id.
    pub fn new(account: &str, region: &str, time: DateTime<Utc>) -> FileName {
        let minute = time.timestamp() - time.timestamp().rem_euclid(60);
        FileName {
            account: account.to_string(),
            region: region.to_string(),
            time: DateTime::from_timestamp(minute, 0).unwrap_or(time),
            id: Alphanumeric.sample_string(&mut rand::thread_rng(), 16),
        }
    }

    /// `<acct>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<id>`, no extension.
    pub fn base(&self) -> String {
        format!(
            "{}_CloudTrail_{}_{}_{}",
            self.account,
            self.region,
            self.time.format(NAME_TIME),
            self.id
        )
    }

    /// Parses a base name with `ext` (e.g. `.json.gz`) at its end.
    pub fn parse(name: &str, ext: &str) -> Option<FileName> {
        let base = name.strip_suffix(ext)?;
        let mut parts = base.split('_');
        let account = parts.next()?;
        if parts.next()? != "CloudTrail" {
            return None;
        }
        let region = parts.next()?;
        let time = parts.next()?;
        let id = parts.next()?;
        if parts.next().is_some() || account.is_empty() || region.is_empty() || id.is_empty() {
            return None;
        }
        let time = NaiveDateTime::parse_from_str(time, NAME_TIME)
            .ok()?
            .and_utc();
        Some(FileName {
            account: account.to_string(),
            region: region.to_string(),
            time,
            id: id.to_string(),
        })
    }

    /// The day directory the finished file goes in.
    pub fn final_dir(&self, root: &Path) -> PathBuf {
        root.join("AWSLogs")
            .join(&self.account)
            .join("CloudTrail")
            .join(&self.region)
            .join(format!("{:04}", self.time.year()))
            .join(format!("{:02}", self.time.month()))
            .join(format!("{:02}", self.time.day()))
    }

    pub fn final_path(&self, root: &Path) -> PathBuf {
        self.final_dir(root)
            .join(format!("{}{FINAL_EXT}", self.base()))
    }

    pub fn journal_path(&self, root: &Path) -> PathBuf {
        root.join(JOURNAL_DIR)
            .join(format!("{}{JOURNAL_EXT}", self.base()))
    }
}

/// Every file under `dir` (recursively) whose name ends with one of `exts`.
/// A missing directory has none.
pub(crate) fn walk(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let ft = entry.file_type()?;
        let path = entry.path();
        if ft.is_dir() {
            walk(&path, exts, out)?;
        } else if ft.is_file() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if exts.iter().any(|ext| name.ends_with(ext)) {
                out.push(path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn name_round_trips_and_matches_cloudtrail_pattern() {
        let t = DateTime::parse_from_rfc3339("2024-05-01T12:03:59Z")
            .unwrap()
            .with_timezone(&Utc);
        let n = FileName::new("111122223333", "us-east-1", t);
        let p = n.final_path(Path::new("/a"));
        let s = p.to_string_lossy().to_string();
        assert!(s.starts_with(
            "/a/AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/111122223333_CloudTrail_us-east-1_20240501T1203Z_"
        ), "{s}");
        assert!(s.ends_with(".json.gz"));
        assert_eq!(n.id.len(), 16);
        assert!(n.id.bytes().all(|b| b.is_ascii_alphanumeric()));
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(FileName::parse(&name, FINAL_EXT).unwrap(), n);
        assert!(FileName::parse("x_CloudTrail_r_bad_id.json.gz", FINAL_EXT).is_none());
    }
}
