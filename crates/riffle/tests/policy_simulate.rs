//! `riffle policy simulate`, run as the built binary: decisions, the
//! deciding statement in the output, and the exit codes.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

const STREAM: &str = "arn:aws:kinesis:us-east-1:111122223333:stream/orders";

fn setup(dir: &Path) {
    std::fs::write(
        dir.join("deny-deletes.json"),
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"NoDeletes","Effect":"Deny","Action":"kinesis:DeleteStream","Resource":"*"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("auth.toml"),
        r#"account_id = "111122223333"

[[users]]
name = "alice"
access_keys = [{ id = "AKIAALICE", secret = "s" }]
policies = [
  { name = "streams-rw", json = '{"Version":"2012-10-17","Statement":{"Sid":"ReadWrite","Effect":"Allow","Action":["kinesis:PutRecord","kinesis:DeleteStream"],"Resource":"arn:aws:kinesis:*:111122223333:stream/*"}}' },
  "deny-deletes.json",
]

[[users]]
name = "carol"
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("orders-policy.json"),
        r#"{"Version":"2012-10-17","Statement":{"Sid":"OfficeOnly","Effect":"Allow",
            "Principal":{"AWS":"arn:aws:iam::111122223333:user/carol"},"Action":"kinesis:PutRecord","Resource":"*",
            "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}"#,
    )
    .unwrap();
}

fn simulate(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_riffle"))
        .current_dir(dir)
        .args(["policy", "simulate", "--auth-config", "auth.toml"])
        .args(extra)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn allowed_prints_the_granting_statement_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let alice = "arn:aws:iam::111122223333:user/alice";
    let o = simulate(
        dir.path(),
        &[
            "--principal",
            alice,
            "--action",
            "kinesis:PutRecord",
            "--resource",
            STREAM,
        ],
    );
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.starts_with("decision: allowed\n"), "{out}");
    assert!(out.contains("matched statement: policy streams-rw (identity-based policy), statement 0, sid ReadWrite"), "{out}");
    assert!(
        out.contains("\"kinesis:PutRecord\""),
        "the statement JSON is shown: {out}"
    );
    assert!(!out.contains("message:"), "{out}");
}

#[test]
fn explicit_deny_prints_the_denying_statement_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let alice = "arn:aws:iam::111122223333:user/alice";
    let o = simulate(
        dir.path(),
        &[
            "--principal",
            alice,
            "--action",
            "kinesis:DeleteStream",
            "--resource",
            STREAM,
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["decision"], "explicitDeny");
    assert_eq!(v["matchedStatement"]["policyName"], "deny-deletes");
    assert_eq!(v["matchedStatement"]["sid"], "NoDeletes");
    assert_eq!(v["matchedStatement"]["statement"]["Effect"], "Deny");
    assert_eq!(
        v["message"],
        "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kinesis:DeleteStream on resource: arn:aws:kinesis:us-east-1:111122223333:stream/orders with an explicit deny in an identity-based policy"
    );

    let text = simulate(
        dir.path(),
        &[
            "--principal",
            alice,
            "--action",
            "kinesis:DeleteStream",
            "--resource",
            STREAM,
        ],
    );
    assert_eq!(text.status.code(), Some(1));
    assert!(stdout(&text).starts_with("decision: explicitDeny\n"));
    assert!(stdout(&text).contains("sid NoDeletes"));
}

#[test]
fn implicit_deny_resource_policy_and_context() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let carol = "arn:aws:iam::111122223333:user/carol";
    let base = [
        "--principal",
        carol,
        "--action",
        "kinesis:PutRecord",
        "--resource",
        STREAM,
    ];
    let o = simulate(dir.path(), &base);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.starts_with("decision: implicitDeny\n"), "{out}");
    assert!(
        out.contains("because no identity-based policy allows the kinesis:PutRecord action"),
        "{out}"
    );

    let mut with_policy = base.to_vec();
    with_policy.extend([
        "--resource-policy",
        "orders-policy.json",
        "--source-ip",
        "10.1.2.3",
    ]);
    let o = simulate(dir.path(), &with_policy);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o)
        .contains("policy orders-policy (resource-based policy), statement 0, sid OfficeOnly"));

    let mut outside = base.to_vec();
    outside.extend([
        "--resource-policy",
        "orders-policy.json",
        "--context",
        "aws:SourceIp=192.168.1.1",
    ]);
    assert_eq!(simulate(dir.path(), &outside).status.code(), Some(1));
}

#[test]
fn usage_and_config_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let o = simulate(
        dir.path(),
        &[
            "--principal",
            "arn:aws:iam::111122223333:user/nobody",
            "--action",
            "kinesis:PutRecord",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("principal arn:aws:iam::111122223333:user/nobody is not in auth.toml"));
    std::fs::write(dir.path().join("auth.toml"), "account_id = 5").unwrap();
    let o = simulate(
        dir.path(),
        &["--principal", "x", "--action", "kinesis:PutRecord"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("auth.toml"));
    let o = simulate(dir.path(), &["--action", "kinesis:PutRecord"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "missing --principal is a usage error"
    );
}
