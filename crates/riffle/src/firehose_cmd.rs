//! `riffle firehose`: Firehose tools for people. `redeliver` sends a time
//! range of a delivery stream's already delivered records to its
//! destination again (AWS has no replay), through the running server.

use crate::aws_call::{AwsClient, Credentials};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};
use std::time::Duration;

const TARGET: &str = "RiffleFirehose_20261202";

/// Firehose tools: `riffle firehose redeliver NAME --from TIME`.
#[derive(Args, Debug)]
pub struct FirehoseArgs {
    #[command(subcommand)]
    action: FirehoseAction,
    /// The Riffle endpoint.
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:4567",
        env = "RIFFLE_ENDPOINT"
    )]
    endpoint: String,
    /// Region to sign for.
    #[arg(long, global = true, default_value = "us-east-1", env = "AWS_REGION")]
    region: String,
    /// Sign as this access key (else AWS_ACCESS_KEY_ID; unsigned in open mode without one).
    #[arg(long, global = true)]
    access_key_id: Option<String>,
    /// Its secret (else AWS_SECRET_ACCESS_KEY).
    #[arg(long, global = true)]
    secret_access_key: Option<String>,
}

#[derive(Subcommand, Debug)]
enum FirehoseAction {
    /// Deliver the records that arrived in a time range again (they stay in the
    /// buffer for --firehose-replay-hours after delivery, 24 h by default).
    ///
    /// TIME is RFC 3339 (2026-12-02T10:00:00Z), epoch seconds, or relative to
    /// now (-2h, -30m, -90s). The redelivered objects get names of their own, so
    /// nothing the destination still has is overwritten. Records not delivered
    /// yet are left to normal delivery. Progress is shown until it is done.
    #[command(verbatim_doc_comment)]
    Redeliver {
        /// Delivery stream name.
        name: String,
        /// Records that arrived at or after this time.
        #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
        from: String,
        /// ... and before this time [default: the newest delivered record].
        #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
        to: Option<String>,
        /// Start it and return without waiting.
        #[arg(long)]
        no_wait: bool,
    },
    /// Show the last redelivery of a delivery stream.
    RedeliveryStatus {
        /// Delivery stream name.
        name: String,
    },
}

pub fn main(args: FirehoseArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: FirehoseArgs) -> Result<()> {
    let creds = Credentials::resolve(args.access_key_id.clone(), args.secret_access_key.clone());
    let client = AwsClient::new(&args.endpoint, &args.region, "firehose", creds)?;
    match args.action {
        FirehoseAction::Redeliver {
            name,
            from,
            to,
            no_wait,
        } => {
            let now = chrono::Utc::now().timestamp_millis();
            let from_ms = parse_time(&from, now).with_context(|| format!("--from {from}"))?;
            let mut body =
                json!({"DeliveryStreamName": name, "StartTimestamp": from_ms as f64 / 1000.0});
            if let Some(t) = &to {
                let to_ms = parse_time(t, now).with_context(|| format!("--to {t}"))?;
                body["EndTimestamp"] = json!(to_ms as f64 / 1000.0);
            }
            let r = call(&client, "StartRedelivery", &body).await?;
            if let Some(t) = r["ExpiredBeforeTimestamp"].as_f64() {
                eprintln!(
                    "note: records before {} are past the replay retention and are gone",
                    fmt_time((t * 1000.0) as i64)
                );
            }
            let total = r["Records"].as_u64().unwrap_or(0);
            println!("redelivering {total} records of {name}");
            if total == 0 || no_wait {
                return Ok(());
            }
            follow(&client, &name, total).await
        }
        FirehoseAction::RedeliveryStatus { name } => {
            let r = call(
                &client,
                "DescribeRedelivery",
                &json!({"DeliveryStreamName": name}),
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(())
        }
    }
}

async fn call(client: &AwsClient, op: &str, body: &Value) -> Result<Value> {
    match client.call(&format!("{TARGET}.{op}"), body).await? {
        Ok(v) => Ok(v),
        Err(e) => bail!("{op}: {e}"),
    }
}

/// Polls until the redelivery ends, with a progress line on a terminal.
async fn follow(client: &AwsClient, name: &str, total: u64) -> Result<()> {
    let tty = std::io::stderr().is_terminal();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let r = call(
            client,
            "DescribeRedelivery",
            &json!({"DeliveryStreamName": name}),
        )
        .await?;
        let done = r["DeliveredRecords"].as_u64().unwrap_or(0);
        if tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r  {done} / {total} records redelivered");
            if let Some(e) = r["LastError"].as_str() {
                let _ = write!(err, " (retrying: {e})");
            }
            let _ = err.flush();
        }
        match r["Status"].as_str() {
            Some("RUNNING") => continue,
            Some("DONE") => {
                if tty {
                    eprintln!();
                }
                println!("done: {done} records redelivered");
                return Ok(());
            }
            _ => {
                if tty {
                    eprintln!();
                }
                bail!(
                    "the redelivery stopped after {done} of {total} records: {}",
                    r["Reason"].as_str().unwrap_or("unknown reason")
                );
            }
        }
    }
}

/// RFC 3339, epoch seconds, or `-N[smhd]` relative to `now_ms`.
fn parse_time(s: &str, now_ms: i64) -> Result<i64> {
    if let Some(rel) = s.strip_prefix('-') {
        let (num, unit) =
            rel.split_at(rel.find(|c: char| !c.is_ascii_digit()).unwrap_or(rel.len()));
        let n: i64 = num
            .parse()
            .context("expected -N followed by s, m, h or d")?;
        let ms = match unit {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => bail!("expected -N followed by s, m, h or d"),
        };
        return Ok(now_ms - n * ms);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Ok((secs * 1000.0) as i64);
    }
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .context("expected RFC 3339 (2026-12-02T10:00:00Z), epoch seconds or -2h")?;
    Ok(t.timestamp_millis())
}

fn fmt_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times() {
        let now = 1_800_000_000_000;
        assert_eq!(parse_time("-2h", now).ok(), Some(now - 7_200_000));
        assert_eq!(parse_time("-90s", now).ok(), Some(now - 90_000));
        assert_eq!(parse_time("1700000000", now).ok(), Some(1_700_000_000_000));
        assert_eq!(
            parse_time("2026-12-02T10:00:00Z", now).ok(),
            Some(1_796_205_600_000)
        );
        assert!(parse_time("-2y", now).is_err());
        assert!(parse_time("yesterday", now).is_err());
    }
}
