//! Authentication, authorization and the audit trail through real clients
//! against the real binary in enforce mode: the signing matrix through the
//! Rust SDK, boto3 (botocore), the AWS CLI and the Node SDK; a policy matrix
//! checked call by call; the audit files after SIGKILL, read by `riffle audit`.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::Client;
use common::kinesis::err;
use common::TestServer;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

const ACCOUNT: &str = "111122223333";
/// The account of the cross-account callers.
const PARTNER: &str = "444455556666";
const TEMP_TOKEN: &str = "FwoGZXIvYXdzEXAMPLETOKENworker";
const EXPIRED_TOKEN: &str = "FwoGZXIvYXdzEXAMPLETOKENold";

fn allow(action: &str, resource: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"{resource}"}}]}}"#
    )
}

fn stream(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}")
}

/// The auth config every test uses: one principal per policy shape.
fn auth_config(dir: &Path) -> PathBuf {
    let admin = allow("kinesis:*", "*");
    let producer = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Action":["kinesis:PutRecord","kinesis:PutRecords","kinesis:Describe*"],"Resource":"arn:aws:kinesis:*:*:stream/orders*"}},
            {{"Sid":"NoSecrets","Effect":"Deny","Action":"kinesis:*","Resource":"{}"}}]}}"#,
        stream("orders-secret")
    );
    let reader = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","NotAction":["kinesis:Put*","kinesis:Delete*","kinesis:Create*"],"Resource":"*"}]}"#;
    let notres = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Action":"kinesis:DescribeStreamSummary","NotResource":"{}"}}]}}"#,
        stream("orders-secret")
    );
    let own = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"kinesis:*","Resource":"arn:aws:kinesis:us-east-1:111122223333:stream/${aws:username}-*"}]}"#;
    let tagged = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"kinesis:DescribeStreamSummary","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"red"}}}]}"#;
    let far = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"kinesis:ListStreams","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},
            {"Effect":"Allow","Action":"kinesis:DescribeLimits","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}]}"#;
    let tls_only = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"kinesis:*","Resource":"*"},
            {"Effect":"Deny","Action":"kinesis:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
    let role = allow("kinesis:ListStreams", "*");
    let user = |name: &str, key: &str, policy: &str| {
        format!(
            "[[users]]\nname = \"{name}\"\naccess_keys = [{{ id = \"{key}\", secret = \"{name}-secret\" }}]\npolicies = ['''{policy}''']\n"
        )
    };
    let mut toml = format!("account_id = \"{ACCOUNT}\"\n\n");
    toml += &user("admin", "AKIAADMIN00000000001", &admin);
    toml += &user("producer", "AKIAPRODUCER00000001", &producer);
    toml += &user("reader", "AKIAREADER0000000001", reader);
    toml += &user("notres", "AKIANOTRES0000000001", &notres);
    toml += &user("bob", "AKIABOB0000000000001", own);
    toml += &user("tagged", "AKIATAGGED0000000001", tagged);
    toml += &user("far", "AKIAFAR0000000000001", far);
    toml += &user("tlsonly", "AKIATLSONLY000000001", tls_only);
    let writer_kms = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kinesis:*","kms:GenerateDataKey"],"Resource":"*"}]}"#;
    toml += &user("kmswriter", "AKIAKMSWRITER0000001", writer_kms);
    // No identity policy at all: only a stream's resource policy lets it in.
    toml += "[[users]]\nname = \"outsider\"\naccess_keys = [{ id = \"AKIAOUTSIDER00000001\", secret = \"outsider-secret\" }]\n";
    // Another account's users: cross-account callers.
    toml += &format!(
        "[[users]]\nname = \"partner\"\naccount_id = \"{PARTNER}\"\naccess_keys = [{{ id = \"AKIAPARTNER000000001\", secret = \"partner-secret\" }}]\npolicies = ['''{}''']\n",
        allow("kinesis:DescribeStreamSummary", "*")
    );
    toml += &format!(
        "[[users]]\nname = \"stranger\"\naccount_id = \"{PARTNER}\"\naccess_keys = [{{ id = \"AKIASTRANGER00000001\", secret = \"stranger-secret\" }}]\n"
    );
    toml += &format!("[[roles]]\nname = \"app\"\npolicies = ['''{role}''']\n");
    toml += &format!(
        "[[sessions]]\nrole = \"app\"\nsession_name = \"worker\"\naccess_key_id = \"ASIAWORKER0000000001\"\nsecret = \"worker-secret\"\ntoken = \"{TEMP_TOKEN}\"\nexpiry = \"2099-01-01T00:00:00Z\"\n"
    );
    toml += &format!(
        "[[sessions]]\nrole = \"app\"\nsession_name = \"old\"\naccess_key_id = \"ASIAOLD0000000000001\"\nsecret = \"old-secret\"\ntoken = \"{EXPIRED_TOKEN}\"\nexpiry = \"2020-01-01T00:00:00Z\"\n"
    );
    let path = dir.join("auth.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

struct Secured {
    server: TestServer,
    cfg: PathBuf,
    _dir: tempfile::TempDir,
}

fn start() -> Secured {
    start_with(&[])
}

fn start_with(extra: &[&str]) -> Secured {
    let dir = tempfile::tempdir().unwrap();
    let cfg = auth_config(dir.path());
    let mut args = vec![
        "--transition-delay-ms",
        "0",
        "--no-throughput-limits",
        "--auth-config",
        cfg.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let server = TestServer::start_with(&args);
    Secured {
        server,
        cfg,
        _dir: dir,
    }
}

/// A Rust SDK client signing with these credentials (no retries, so each
/// refusal is seen as it is).
fn client_as(endpoint: &str, key: &str, secret: &str, token: Option<&str>) -> Client {
    client_with(endpoint, key, secret, token, "us-east-1", None)
}

#[derive(Debug)]
struct Offset(i64);
impl aws_smithy_async::time::TimeSource for Offset {
    fn now(&self) -> SystemTime {
        let now = SystemTime::now();
        if self.0 >= 0 {
            now + Duration::from_secs(self.0 as u64)
        } else {
            now - Duration::from_secs((-self.0) as u64)
        }
    }
}

fn client_with(
    endpoint: &str,
    key: &str,
    secret: &str,
    token: Option<&str>,
    region: &str,
    offset_secs: Option<i64>,
) -> Client {
    let creds = aws_credential_types::Credentials::new(
        key,
        secret,
        token.map(str::to_string),
        None,
        "test",
    );
    let mut b = aws_sdk_kinesis::Config::builder()
        .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
        .region(aws_sdk_kinesis::config::Region::new(region.to_string()))
        .credentials_provider(creds)
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled());
    if let Some(o) = offset_secs {
        b = b.time_source(Offset(o));
    }
    Client::from_conf(b.build())
}

fn admin(s: &Secured) -> Client {
    client_as(
        &s.server.endpoint(),
        "AKIAADMIN00000000001",
        "admin-secret",
        None,
    )
}

async fn create(c: &Client, name: &str) {
    c.create_stream()
        .stream_name(name)
        .shard_count(1)
        .send()
        .await
        .unwrap();
}

const SIG_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const BAD_TOKEN: &str = "The security token included in the request is invalid.";
const EXPIRED: &str = "The security token included in the request is expired";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sdk_signing_matrix() {
    let s = start();
    let ep = s.server.endpoint();
    // Correct keys.
    admin(&s).list_streams().send().await.unwrap();
    // Wrong secret.
    let c = client_as(&ep, "AKIAADMIN00000000001", "not-the-secret", None);
    assert_eq!(
        err(c.list_streams().send().await),
        ("InvalidSignatureException".into(), SIG_MISMATCH.into())
    );
    // Unknown key id.
    let c = client_as(&ep, "AKIANOBODY0000000001", "x", None);
    assert_eq!(
        err(c.list_streams().send().await),
        ("UnrecognizedClientException".into(), BAD_TOKEN.into())
    );
    // Wrong region.
    let c = client_with(
        &ep,
        "AKIAADMIN00000000001",
        "admin-secret",
        None,
        "us-west-1",
        None,
    );
    assert_eq!(
        err(c.list_streams().send().await),
        (
            "InvalidSignatureException".into(),
            "Credential should be scoped to a valid region, not 'us-west-1'. ".into()
        )
    );
    // A date 6 minutes off, either way.
    for (offset, prefix) in [
        (-360, "Signature expired: "),
        (360, "Signature not yet current: "),
    ] {
        let c = client_with(
            &ep,
            "AKIAADMIN00000000001",
            "admin-secret",
            None,
            "us-east-1",
            Some(offset),
        );
        let (code, message) = err(c.list_streams().send().await);
        assert_eq!(code, "InvalidSignatureException");
        assert!(message.starts_with(prefix), "{message}");
        assert!(message.ends_with(" 5 min.)"), "{message}");
    }
    // Session tokens: valid, expired, missing, wrong.
    let c = client_as(
        &ep,
        "ASIAWORKER0000000001",
        "worker-secret",
        Some(TEMP_TOKEN),
    );
    c.list_streams().send().await.unwrap();
    let c = client_as(
        &ep,
        "ASIAOLD0000000000001",
        "old-secret",
        Some(EXPIRED_TOKEN),
    );
    assert_eq!(
        err(c.list_streams().send().await),
        ("ExpiredTokenException".into(), EXPIRED.into())
    );
    let c = client_as(&ep, "ASIAWORKER0000000001", "worker-secret", None);
    assert_eq!(
        err(c.list_streams().send().await).0,
        "UnrecognizedClientException"
    );
    let c = client_as(&ep, "ASIAWORKER0000000001", "worker-secret", Some("forged"));
    assert_eq!(
        err(c.list_streams().send().await).0,
        "UnrecognizedClientException"
    );
    // The role session may only list.
    let (code, message) = err(c_describe(
        &client_as(
            &ep,
            "ASIAWORKER0000000001",
            "worker-secret",
            Some(TEMP_TOKEN),
        ),
        "x",
    )
    .await);
    assert_eq!(code, "AccessDeniedException");
    assert_eq!(
        message,
        format!(
            "User: arn:aws:sts::{ACCOUNT}:assumed-role/app/worker is not authorized to perform: kinesis:DescribeStreamSummary on resource: {} because no identity-based policy allows the kinesis:DescribeStreamSummary action",
            stream("x")
        )
    );
}

async fn c_describe(
    c: &Client,
    name: &str,
) -> Result<
    aws_sdk_kinesis::operation::describe_stream_summary::DescribeStreamSummaryOutput,
    aws_sdk_kinesis::error::SdkError<
        aws_sdk_kinesis::operation::describe_stream_summary::DescribeStreamSummaryError,
    >,
> {
    c.describe_stream_summary().stream_name(name).send().await
}

fn denied(user: &str, action: &str, resource: &str, explicit: bool) -> String {
    let ctx = if explicit {
        "with an explicit deny in an identity-based policy".to_string()
    } else {
        format!("because no identity-based policy allows the {action} action")
    };
    format!("User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: {action} on resource: {resource} {ctx}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_matrix_call_by_call() {
    let s = start();
    let ep = s.server.endpoint();
    let a = admin(&s);
    for name in ["orders", "orders-secret", "bob-1", "alice-1"] {
        create(&a, name).await;
    }
    a.add_tags_to_stream()
        .stream_name("orders")
        .tags("team", "red")
        .send()
        .await
        .unwrap();
    let put = |c: Client, name: &'static str| async move {
        c.put_record()
            .stream_name(name)
            .partition_key("k")
            .data(Blob::new("v"))
            .send()
            .await
    };
    let as_user = |u: &str, key: &str| client_as(&ep, key, &format!("{u}-secret"), None);

    // Allow by a wildcard resource; explicit deny beats it; no allow = implicit deny.
    let p = as_user("producer", "AKIAPRODUCER00000001");
    put(p.clone(), "orders").await.unwrap();
    assert_eq!(
        err(put(p.clone(), "orders-secret").await),
        (
            "AccessDeniedException".into(),
            denied(
                "producer",
                "kinesis:PutRecord",
                &stream("orders-secret"),
                true
            )
        )
    );
    assert_eq!(
        err(p.delete_stream().stream_name("orders").send().await),
        (
            "AccessDeniedException".into(),
            denied("producer", "kinesis:DeleteStream", &stream("orders"), false)
        )
    );
    // NotAction: everything but writes.
    let r = as_user("reader", "AKIAREADER0000000001");
    c_describe(&r, "orders").await.unwrap();
    assert_eq!(
        err(put(r.clone(), "orders").await).0,
        "AccessDeniedException"
    );
    // NotResource.
    let n = as_user("notres", "AKIANOTRES0000000001");
    c_describe(&n, "orders").await.unwrap();
    assert_eq!(
        err(c_describe(&n, "orders-secret").await).0,
        "AccessDeniedException"
    );
    // A policy variable: bob may touch bob-* only.
    let b = as_user("bob", "AKIABOB0000000000001");
    put(b.clone(), "bob-1").await.unwrap();
    assert_eq!(
        err(put(b.clone(), "alice-1").await).0,
        "AccessDeniedException"
    );
    // A tag condition on the resource.
    let t = as_user("tagged", "AKIATAGGED0000000001");
    c_describe(&t, "orders").await.unwrap();
    assert_eq!(
        err(c_describe(&t, "bob-1").await).0,
        "AccessDeniedException"
    );
    // aws:SourceIp: the test connects from 127.0.0.1.
    let f = as_user("far", "AKIAFAR0000000000001");
    f.describe_limits().send().await.unwrap();
    assert_eq!(
        err(f.list_streams().send().await).0,
        "AccessDeniedException"
    );
    // aws:SecureTransport is false over plain HTTP.
    let tl = as_user("tlsonly", "AKIATLSONLY000000001");
    assert_eq!(
        err(tl.list_streams().send().await),
        (
            "AccessDeniedException".into(),
            format!("User: arn:aws:iam::{ACCOUNT}:user/tlsonly is not authorized to perform: kinesis:ListStreams with an explicit deny in an identity-based policy")
        )
    );
    // A resource policy lets a principal with no identity policy in.
    let o = as_user("outsider", "AKIAOUTSIDER00000001");
    assert_eq!(
        err(c_describe(&o, "orders").await).0,
        "AccessDeniedException"
    );
    // Another account's user needs its own identity policy and the resource policy.
    let partner = as_user("partner", "AKIAPARTNER000000001");
    let stranger = as_user("stranger", "AKIASTRANGER00000001");
    assert_eq!(
        err(c_describe(&partner, "orders").await),
        (
            "AccessDeniedException".into(),
            format!("User: arn:aws:iam::{PARTNER}:user/partner is not authorized to perform: kinesis:DescribeStreamSummary on resource: {} because no resource-based policy allows the kinesis:DescribeStreamSummary action", stream("orders"))
        )
    );
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::{ACCOUNT}:user/outsider","arn:aws:iam::{PARTNER}:user/partner","arn:aws:iam::{PARTNER}:user/stranger"]}},"Action":"kinesis:DescribeStreamSummary","Resource":"{}"}}]}}"#,
        stream("orders")
    );
    a.put_resource_policy()
        .resource_arn(stream("orders"))
        .policy(policy)
        .send()
        .await
        .unwrap();
    c_describe(&o, "orders").await.unwrap();
    assert_eq!(
        err(c_describe(&o, "bob-1").await).0,
        "AccessDeniedException"
    );
    // Cross account: granted by the resource policy and allowed at home.
    c_describe(&partner, "orders").await.unwrap();
    assert_eq!(
        err(c_describe(&partner, "bob-1").await).0,
        "AccessDeniedException"
    );
    // Granted by the resource policy, but its own account allows nothing.
    assert_eq!(
        err(c_describe(&stranger, "orders").await),
        (
            "AccessDeniedException".into(),
            format!("User: arn:aws:iam::{PARTNER}:user/stranger is not authorized to perform: kinesis:DescribeStreamSummary on resource: {} because no identity-based policy allows the kinesis:DescribeStreamSummary action", stream("orders"))
        )
    );
}

/// Runs a script's cases and returns (case → (status, type, message)).
fn cases(out: std::process::Output) -> std::collections::BTreeMap<String, (u64, String, String)> {
    assert!(
        out.status.success(),
        "script failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["case"].as_str().unwrap().to_string(),
                (
                    v["status"].as_u64().unwrap_or(0),
                    v["type"].as_str().unwrap_or("").to_string(),
                    v["message"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

fn matrix_args(endpoint: &str) -> Vec<String> {
    [
        endpoint,
        "AKIAADMIN00000000001",
        "admin-secret",
        "ASIAWORKER0000000001",
        "worker-secret",
        TEMP_TOKEN,
        "ASIAOLD0000000000001",
        "old-secret",
        EXPIRED_TOKEN,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn check_common(c: &std::collections::BTreeMap<String, (u64, String, String)>) {
    let get = |k: &str| {
        c.get(k)
            .unwrap_or_else(|| panic!("case {k} missing: {c:?}"))
    };
    assert_eq!(get("ok").0, 200);
    assert_eq!(
        get("wrong_secret"),
        &(400, "InvalidSignatureException".into(), SIG_MISMATCH.into())
    );
    assert_eq!(
        get("unknown_key"),
        &(400, "UnrecognizedClientException".into(), BAD_TOKEN.into())
    );
    assert_eq!(
        get("wrong_region"),
        &(
            400,
            "InvalidSignatureException".into(),
            "Credential should be scoped to a valid region, not 'us-west-1'. ".into()
        )
    );
    assert_eq!(get("session_token_valid").0, 200);
    assert_eq!(
        get("session_token_expired"),
        &(400, "ExpiredTokenException".into(), EXPIRED.into())
    );
}

#[test]
fn boto3_signing_matrix() {
    let s = start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/sigv4_matrix.py");
    let out = Command::new("python3")
        .arg(script)
        .args(matrix_args(&s.server.endpoint()))
        .output()
        .expect("python3 runs");
    let c = cases(out);
    check_common(&c);
    let get = |k: &str| {
        c.get(k)
            .unwrap_or_else(|| panic!("case {k} missing: {c:?}"))
    };
    assert_eq!(
        get("session_token_missing").1,
        "UnrecognizedClientException"
    );
    assert_eq!(get("session_token_wrong").1, "UnrecognizedClientException");
    assert_eq!(
        get("wrong_service"),
        &(
            400,
            "InvalidSignatureException".into(),
            "Credential should be scoped to correct service: 'kinesis'. ".into()
        )
    );
    for case in ["date_6_min_past", "date_6_min_future"] {
        let (status, code, message) = get(case);
        assert_eq!(
            (*status, code.as_str()),
            (400, "InvalidSignatureException"),
            "{case}"
        );
        assert!(message.starts_with("Signature "), "{case}: {message}");
    }
    assert_eq!(
        get("body_changed"),
        &(400, "InvalidSignatureException".into(), SIG_MISMATCH.into())
    );
    let (status, code, message) = get("unsigned_amz_header");
    assert_eq!((*status, code.as_str()), (400, "InvalidSignatureException"));
    assert!(message.contains("x-amz-meta-unsigned"), "{message}");
    assert_eq!(get("presigned_ok").0, 200, "{:?}", get("presigned_ok"));
    let (status, code, _) = get("presigned_expired");
    assert_eq!((*status, code.as_str()), (400, "InvalidSignatureException"));
}

/// Installs the Node SDK into tests/node once (npm, from the lock file).
fn node_sdk() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node"));
    if dir.join("node_modules/@aws-sdk/client-kinesis").exists() {
        return Some(dir);
    }
    let ok = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .current_dir(&dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        Some(dir)
    } else if std::env::var_os("CI").is_some() {
        panic!(
            "npm ci failed in {}: the Node SDK test needs node and npm",
            dir.display()
        );
    } else {
        eprintln!(
            "NOTICE: skipping the Node SDK signing matrix: npm ci failed (no network or npm?)"
        );
        None
    }
}

#[test]
fn node_sdk_signing_matrix() {
    let Some(dir) = node_sdk() else { return };
    let s = start();
    let out = Command::new("node")
        .arg(dir.join("sigv4_matrix.mjs"))
        .args(matrix_args(&s.server.endpoint()))
        .output()
        .expect("node runs");
    let c = cases(out);
    check_common(&c);
    for case in ["date_6_min_past", "date_6_min_future"] {
        let (status, code, _) = &c[case];
        assert_eq!(
            (*status, code.as_str()),
            (400, "InvalidSignatureException"),
            "{case}"
        );
    }
}

#[test]
fn aws_cli_is_signed_and_checked() {
    let s = start();
    let run = |key: &str, secret: &str| {
        Command::new("aws")
            .args([
                "--endpoint-url",
                &s.server.endpoint(),
                "kinesis",
                "list-streams",
            ])
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .output()
            .expect("aws runs")
    };
    let ok = run("AKIAADMIN00000000001", "admin-secret");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("StreamNames"));
    let bad = run("AKIAADMIN00000000001", "wrong");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("(InvalidSignatureException)"), "{stderr}");
    assert!(
        stderr.contains("does not match the signature you provided"),
        "{stderr}"
    );
    let unknown = run("AKIANOBODY0000000001", "x");
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("(UnrecognizedClientException)"), "{stderr}");
}

/// Every JSON line `riffle audit` prints for this data dir, with `filters`.
fn audit_events(data_dir: &Path, filters: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .arg("audit")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--output", "json"])
        .args(filters)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_trail_holds_one_event_per_call_and_survives_sigkill() {
    use aws_sdk_kinesis::operation::RequestId;
    let mut s = start();
    let ep = s.server.endpoint();
    let a = admin(&s);
    let created = a
        .create_stream()
        .stream_name("audited")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let create_id = created.request_id().unwrap().to_string();
    let p = client_as(&ep, "AKIAPRODUCER00000001", "producer-secret", None);
    let (code, message) = err(p.delete_stream().stream_name("audited").send().await);
    assert_eq!(code, "AccessDeniedException");
    a.put_record()
        .stream_name("audited")
        .partition_key("pk-1")
        .data(Blob::new("secret payload"))
        .send()
        .await
        .unwrap();
    let nobody = client_as(&ep, "AKIANOBODY0000000001", "x", None);
    assert_eq!(
        err(nobody.list_streams().send().await).0,
        "UnrecognizedClientException"
    );
    // Data events are durable within 1 s; management events already are.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.server.kill9();
    let dir = s.server.data_dir().to_path_buf();
    // A restart turns the journal the kill left into CloudTrail's files.
    s.server.restart();
    let all = audit_events(&dir, &[]);
    let named = |name: &str| -> Vec<&serde_json::Value> {
        all.iter().filter(|e| e["eventName"] == name).collect()
    };

    let create = named("CreateStream");
    assert_eq!(create.len(), 1, "{all:?}");
    let c = create[0];
    assert_eq!(c["eventSource"], "kinesis.amazonaws.com");
    assert_eq!(c["requestID"], create_id.as_str());
    assert_eq!(c["userIdentity"]["type"], "IAMUser");
    assert_eq!(
        c["userIdentity"]["arn"],
        format!("arn:aws:iam::{ACCOUNT}:user/admin")
    );
    assert_eq!(c["userIdentity"]["accessKeyId"], "AKIAADMIN00000000001");
    assert_eq!(c["requestParameters"]["streamName"], "audited");
    assert_eq!(c["requestParameters"]["shardCount"], 1);
    assert_eq!(c["resources"][0]["ARN"], stream("audited"));
    assert_eq!(c["resources"][0]["type"], "AWS::Kinesis::Stream");
    assert_eq!(c["managementEvent"], true);
    assert_eq!(c["eventCategory"], "Management");
    assert_eq!(c["readOnly"], false);
    assert_eq!(c["sourceIPAddress"], "127.0.0.1");
    assert_eq!(c["recipientAccountId"], ACCOUNT);
    assert!(c.get("errorCode").is_none());

    let denied = named("DeleteStream");
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["errorCode"], "AccessDeniedException");
    assert_eq!(denied[0]["errorMessage"], message.as_str());
    assert_eq!(denied[0]["userIdentity"]["userName"], "producer");

    let put = named("PutRecord");
    assert_eq!(put.len(), 1);
    assert_eq!(put[0]["eventCategory"], "Data");
    assert_eq!(put[0]["managementEvent"], false);
    assert_eq!(put[0]["requestParameters"]["partitionKey"], "pk-1");
    assert!(put[0]["requestParameters"].get("data").is_none());
    assert!(!serde_json::to_string(put[0]).unwrap().contains("c2VjcmV0"));

    let refused = named("ListStreams");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["errorCode"], "UnrecognizedClientException");
    assert_eq!(
        refused[0]["userIdentity"]["accessKeyId"],
        "AKIANOBODY0000000001"
    );

    // The files are laid out as CloudTrail lays them out.
    let trail = dir.join(format!("audit/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1"));
    assert!(trail.is_dir(), "no trail in {}", trail.display());
    // Filters find the refusal.
    let found = audit_events(
        &dir,
        &[
            "--event-name",
            "DeleteStream",
            "--error-code",
            "AccessDeniedException",
        ],
    );
    assert_eq!(found.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_mode_allows_and_records_what_enforce_would_refuse() {
    let s = start_with(&["--auth-mode", "audit"]);
    let ep = s.server.endpoint();
    create(&admin(&s), "orders").await;
    let p = client_as(&ep, "AKIAPRODUCER00000001", "producer-secret", None);
    // Enforce mode would refuse this; audit mode lets it through.
    p.delete_stream()
        .stream_name("orders")
        .send()
        .await
        .unwrap();
    let events = audit_events(s.server.data_dir(), &["--event-name", "DeleteStream"]);
    assert_eq!(events.len(), 1);
    let notes = events[0]["additionalEventData"]["riffleAuditMode"]
        .as_array()
        .unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(
        notes[0],
        format!(
            "would be denied: {}",
            denied("producer", "kinesis:DeleteStream", &stream("orders"), false)
        )
    );
    assert!(events[0].get("errorCode").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_auth_config() {
    let s = start();
    let ep = s.server.endpoint();
    let late = client_as(&ep, "AKIALATE000000000001", "late-secret", None);
    assert_eq!(
        err(late.list_streams().send().await).0,
        "UnrecognizedClientException"
    );
    let mut toml = std::fs::read_to_string(&s.cfg).unwrap();
    toml += &format!(
        "[[users]]\nname = \"late\"\naccess_keys = [{{ id = \"AKIALATE000000000001\", secret = \"late-secret\" }}]\npolicies = ['''{}''']\n",
        allow("kinesis:ListStreams", "*")
    );
    std::fs::write(&s.cfg, toml).unwrap();
    let pid = s.server.pid().unwrap().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let mut ok = false;
    for _ in 0..50 {
        if late.list_streams().send().await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the reloaded config did not let the new user in");
    // A config that does not load keeps the running one.
    std::fs::write(&s.cfg, "account_id = [not toml").unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    late.list_streams().send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_records_are_also_copied_into_a_stream() {
    use aws_sdk_kinesis::types::ShardIteratorType;
    let s = start_with(&["--audit-stream", "audit-copy"]);
    let a = admin(&s);
    create(&a, "audit-copy").await;
    let mut found = None;
    for _ in 0..50 {
        a.list_streams().send().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let it = a
            .get_shard_iterator()
            .stream_name("audit-copy")
            .shard_id("shardId-000000000000")
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        let out = a.get_records().shard_iterator(it).send().await.unwrap();
        found = out
            .records
            .iter()
            .map(|r| serde_json::from_slice::<serde_json::Value>(r.data.as_ref()).unwrap())
            .find(|e| e["eventName"] == "ListStreams");
        if found.is_some() {
            break;
        }
    }
    let e = found.expect("a ListStreams record in the audit stream");
    assert_eq!(e["eventSource"], "kinesis.amazonaws.com");
    assert_eq!(
        e["userIdentity"]["arn"],
        format!("arn:aws:iam::{ACCOUNT}:user/admin")
    );
    // The same record is in the trail.
    let trail = audit_events(s.server.data_dir(), &["--event-name", "ListStreams"]);
    assert!(trail.iter().any(|t| t["eventID"] == e["eventID"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_keys_need_the_callers_kms_permissions() {
    use aws_sdk_kinesis::types::{EncryptionType, ShardIteratorType};
    let s = start();
    let ep = s.server.endpoint();
    let a = admin(&s);
    for name in ["sealed", "managed"] {
        create(&a, name).await;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["kms", "--data-dir"])
        .arg(s.server.data_dir())
        .args([
            "--account-id",
            ACCOUNT,
            "create-key",
            "--alias",
            "alias/team",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, key) in [("sealed", "alias/team"), ("managed", "alias/aws/kinesis")] {
        a.start_stream_encryption()
            .stream_name(name)
            .encryption_type(EncryptionType::Kms)
            .key_id(key)
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let put = |c: Client, name: &'static str| async move {
        c.put_record()
            .stream_name(name)
            .partition_key("k")
            .data(Blob::new("v"))
            .send()
            .await
    };
    // The AWS-managed key needs no KMS permission.
    put(a.clone(), "managed").await.unwrap();
    // A customer key does: admin may do kinesis:* but nothing in KMS.
    let (code, message) = err(put(a.clone(), "sealed").await);
    assert_eq!(code, "KMSAccessDeniedException");
    assert!(
        message.starts_with(&format!(
            "User: arn:aws:iam::{ACCOUNT}:user/admin is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:us-east-1:{ACCOUNT}:key/"
        )),
        "{message}"
    );
    // kms:GenerateDataKey lets a writer in; reading needs kms:Decrypt.
    let w = client_as(&ep, "AKIAKMSWRITER0000001", "kmswriter-secret", None);
    put(w.clone(), "sealed").await.unwrap();
    let it = w
        .get_shard_iterator()
        .stream_name("sealed")
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    assert_eq!(
        err(w.get_records().shard_iterator(it).send().await),
        (
            "KMSAccessDeniedException".into(),
            format!("User arn:aws:iam::{ACCOUNT}:user/kmswriter is not authorized to decrypt records in stream sealed")
        )
    );
}
