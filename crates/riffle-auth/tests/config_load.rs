//! Loading the auth config: TOML with inline and file policies, and the
//! `aws iam get-account-authorization-details` JSON.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use riffle_auth::config::{AuthConfig, ConfigError, DEFAULT_ACCOUNT_ID};
use riffle_auth::policy::{evaluate, Context, Effect, PolicyKind, Request};
use riffle_auth::{CredentialStore, Principal, PrincipalKind};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn decide(cfg: &AuthConfig, p: &Principal, action: &str, resource: &str) -> Effect {
    let ctx = Context::for_request(
        p,
        None,
        true,
        UNIX_EPOCH + Duration::from_secs(1_796_194_800),
    );
    let req = Request {
        principal: p,
        action,
        resource,
        context: &ctx,
    };
    evaluate(&cfg.identity_policies(p), None, &req).effect
}

const STREAM: &str = "arn:aws:kinesis:us-east-1:111122223333:stream/orders";

#[test]
fn toml_with_inline_and_file_policies() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(
        dir.path().join("policies/readers.json"),
        r#"{"Version":"2012-10-17","Statement":{"Sid":"Read","Effect":"Allow","Action":"kinesis:Get*","Resource":"*"}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("policies/boundary.json"),
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["kinesis:Get*","kinesis:Put*"],"Resource":"*"}}"#,
    )
    .unwrap();
    let toml = r#"
account_id = "111122223333"
region = "eu-west-1"

[root]
access_keys = [{ id = "AKIAROOTEXAMPLE00000", secret = "root-secret" }]

[[users]]
name = "alice"
path = "/dev/"
access_keys = [{ id = "AKIAALICE", secret = "s1" }, { id = "AKIAALICE2", secret = "s2" }]
policies = ['{"Version":"2012-10-17","Statement":{"Sid":"Put","Effect":"Allow","Action":["kinesis:PutRecord","kinesis:DeleteStream"],"Resource":"*"}}']
groups = ["readers"]
tags = { team = "red" }
permissions_boundary = "policies/boundary.json"

[[users]]
name = "bob"
user_id = "AIDABOBEXAMPLE000001"
access_keys = [{ id = "AKIABOB", secret = "s3" }]
policies = [{ name = "bob-deny", json = '{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}' }]
groups = ["readers"]

[[groups]]
name = "readers"
policies = ["policies/readers.json"]

[[roles]]
name = "app"
policies = ['{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}}']

[[sessions]]
role = "app"
session_name = "s1"
access_key_id = "ASIAAPP"
secret = "s4"
token = "tok"
expiry = "2030-01-01T00:00:00Z"
policy = '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:Get*","Resource":"*"}}'
"#;
    let path = dir.path().join("auth.toml");
    std::fs::write(&path, toml).unwrap();
    let cfg = AuthConfig::load(&path).unwrap();
    assert_eq!(cfg.account_id(), "111122223333");
    assert_eq!(cfg.region(), Some("eu-west-1"));

    let alice = cfg.credential("AKIAALICE").unwrap();
    assert_eq!(alice.secret_access_key, "s1");
    assert_eq!(alice.session_token, None);
    let p = alice.principal.clone();
    assert_eq!(p.kind, PrincipalKind::User);
    assert_eq!(p.arn, "arn:aws:iam::111122223333:user/dev/alice");
    assert!(
        p.principal_id.starts_with("AIDA") && p.principal_id.len() == 21,
        "{}",
        p.principal_id
    );
    assert_eq!(p.tags.get("team").map(String::as_str), Some("red"));
    assert_eq!(cfg.credential("AKIAALICE2").unwrap().principal.arn, p.arn);
    assert!(cfg.credential("AKIANOPE").is_none());
    let debug = format!("{cfg:?}");
    assert!(
        debug.contains("alice") && !debug.contains("s1\"") && !debug.contains("root-secret"),
        "{debug}"
    );

    let names: Vec<(String, PolicyKind)> = cfg
        .identity_policies(&p)
        .iter()
        .map(|n| (n.name.clone(), n.kind))
        .collect();
    assert_eq!(
        names,
        vec![
            ("user-alice-inline-0".to_string(), PolicyKind::Identity),
            ("readers".to_string(), PolicyKind::Identity),
            ("boundary".to_string(), PolicyKind::PermissionsBoundary),
        ]
    );
    assert_eq!(decide(&cfg, &p, "kinesis:PutRecord", STREAM), Effect::Allow);
    assert_eq!(
        decide(&cfg, &p, "kinesis:GetRecords", STREAM),
        Effect::Allow,
        "from the group"
    );
    assert_eq!(
        decide(&cfg, &p, "kinesis:DeleteStream", STREAM),
        Effect::ImplicitDeny,
        "outside the boundary"
    );

    let bob = cfg.credential("AKIABOB").unwrap().principal;
    assert_eq!(bob.principal_id, "AIDABOBEXAMPLE000001");
    assert_eq!(
        decide(&cfg, &bob, "kinesis:GetRecords", STREAM),
        Effect::ExplicitDeny
    );

    let root = cfg.credential("AKIAROOTEXAMPLE00000").unwrap().principal;
    assert_eq!(
        (root.kind, root.arn.as_str()),
        (PrincipalKind::Root, "arn:aws:iam::111122223333:root")
    );

    let s = cfg.credential("ASIAAPP").unwrap();
    assert_eq!(s.session_token.as_deref(), Some("tok"));
    assert_eq!(
        s.expires,
        Some(UNIX_EPOCH + Duration::from_secs(1_893_456_000))
    );
    assert_eq!(
        s.principal.arn,
        "arn:aws:sts::111122223333:assumed-role/app/s1"
    );
    assert_eq!(
        s.principal.issuer_arn.as_deref(),
        Some("arn:aws:iam::111122223333:role/app")
    );
    assert!(
        s.principal.principal_id.starts_with("AROA") && s.principal.principal_id.ends_with(":s1")
    );
    assert_eq!(
        decide(&cfg, &s.principal, "kinesis:GetRecords", STREAM),
        Effect::Allow
    );
    assert_eq!(
        decide(&cfg, &s.principal, "kinesis:PutRecord", STREAM),
        Effect::ImplicitDeny,
        "session policy limits"
    );

    // stable synthesized ids, and lookup by ARN
    let again = AuthConfig::load(&path).unwrap();
    assert_eq!(
        again
            .credential("AKIAALICE")
            .unwrap()
            .principal
            .principal_id,
        p.principal_id
    );
    assert_eq!(
        cfg.principal_by_arn(&p.arn).unwrap().principal_id,
        p.principal_id
    );
    assert_eq!(
        cfg.principal_by_arn("arn:aws:iam::111122223333:root")
            .unwrap()
            .kind,
        PrincipalKind::Root
    );
    let sim = cfg
        .principal_by_arn("arn:aws:iam::111122223333:role/app")
        .unwrap();
    assert_eq!(
        sim.arn,
        "arn:aws:sts::111122223333:assumed-role/app/riffle-simulator"
    );
    assert_eq!(
        decide(&cfg, &sim, "kinesis:PutRecord", STREAM),
        Effect::Allow
    );
    assert!(cfg
        .principal_by_arn("arn:aws:iam::111122223333:user/nobody")
        .is_none());
}

#[test]
fn empty_config_uses_the_default_account() {
    let cfg = AuthConfig::parse("", Path::new(".")).unwrap();
    assert_eq!(cfg.account_id(), DEFAULT_ACCOUNT_ID);
    assert_eq!(cfg.root().arn, "arn:aws:iam::000000000000:root");
}

#[test]
fn authorization_details_supply_users_groups_roles_and_policies() {
    let cfg = AuthConfig::load(&fixtures().join("auth-with-details.toml")).unwrap();
    assert_eq!(
        cfg.account_id(),
        "111122223333",
        "taken from the details' ARNs"
    );

    let alice = cfg.credential("AKIAALICEEXAMPLE0001").unwrap().principal;
    assert_eq!(alice.principal_id, "AIDAQXAMPLEALICE0001");
    assert_eq!(alice.tags.get("team").map(String::as_str), Some("red"));
    let names: Vec<(String, PolicyKind)> = cfg
        .identity_policies(&alice)
        .iter()
        .map(|n| (n.name.clone(), n.kind))
        .collect();
    assert_eq!(
        names,
        vec![
            ("produce-own-streams".to_string(), PolicyKind::Identity),
            ("kinesis-reader".to_string(), PolicyKind::Identity),
            (
                "kinesis-boundary".to_string(),
                PolicyKind::PermissionsBoundary
            ),
        ]
    );
    let own = "arn:aws:kinesis:us-east-1:111122223333:stream/alice-clicks";
    assert_eq!(
        decide(&cfg, &alice, "kinesis:PutRecord", own),
        Effect::Allow,
        "inline policy with ${{aws:username}}"
    );
    assert_eq!(
        decide(&cfg, &alice, "kinesis:PutRecord", STREAM),
        Effect::ImplicitDeny
    );
    // the default version (v2) of the group's managed policy, not v1
    assert_eq!(
        decide(&cfg, &alice, "kinesis:GetRecords", STREAM),
        Effect::Allow
    );

    let olga = cfg.credential("AKIAOLGAEXAMPLE00002").unwrap().principal;
    assert_eq!(olga.arn, "arn:aws:iam::111122223333:user/ops/olga");
    // AWS-managed full access, minus the URL-encoded inline deny
    assert_eq!(
        decide(&cfg, &olga, "kinesis:SplitShard", STREAM),
        Effect::Allow
    );
    assert_eq!(
        decide(&cfg, &olga, "kinesis:DeleteStream", STREAM),
        Effect::ExplicitDeny
    );

    let s = cfg.credential("ASIAAPPEXAMPLE000001").unwrap();
    assert_eq!(s.principal.principal_id, "AROAQXAMPLEAPPROLE01:worker-1");
    assert_eq!(
        s.principal.issuer_arn.as_deref(),
        Some("arn:aws:iam::111122223333:role/service-role/app")
    );
    assert_eq!(
        s.principal.tags.get("env").map(String::as_str),
        Some("prod")
    );
    let app = "arn:aws:kinesis:us-east-1:111122223333:stream/app-events";
    assert_eq!(
        decide(&cfg, &s.principal, "kinesis:PutRecords", app),
        Effect::Allow
    );
    assert_eq!(
        decide(&cfg, &s.principal, "kinesis:DescribeStream", STREAM),
        Effect::Allow
    );
    assert_eq!(
        decide(&cfg, &s.principal, "kinesis:PutRecords", STREAM),
        Effect::ImplicitDeny
    );
    assert!(s.expires.unwrap() > SystemTime::now());
}

fn load_err(toml: &str, files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let path = dir.path().join("auth.toml");
    std::fs::write(&path, toml).unwrap();
    let err: ConfigError = AuthConfig::load(&path).unwrap_err();
    err.to_string()
}

#[test]
fn errors_name_the_file_and_the_problem() {
    let e = load_err("acount_id = \"1\"", &[]);
    assert!(
        e.contains("auth.toml") && e.contains("unknown field `acount_id`"),
        "{e}"
    );
    let e = load_err("account_id = \"12\"", &[]);
    assert!(e.contains("is not 12 digits"), "{e}");
    let e = load_err(
        "[[users]]\nname = \"a\"\npolicies = [\"missing.json\"]",
        &[],
    );
    assert!(
        e.contains("missing.json") && e.contains("cannot read"),
        "{e}"
    );
    let e = load_err(
        "[[users]]\nname = \"a\"\npolicies = [\"bad.json\"]",
        &[(
            "bad.json",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*","Condition":{"StringEqualz":{"k":"v"}}}}"#,
        )],
    );
    assert!(
        e.contains("bad.json")
            && e.contains("user a: policy bad")
            && e.contains("unknown condition operator"),
        "{e}"
    );
    let e = load_err(
        "[[users]]\nname = \"a\"\npolicies = ['{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"kinesis:*\",\"Principal\":\"*\"}}']",
        &[],
    );
    assert!(e.contains("not allowed in an identity-based policy"), "{e}");
    let e = load_err("[[users]]\nname = \"a\"\ngroups = [\"nope\"]", &[]);
    assert!(e.contains("group \"nope\", which is not defined"), "{e}");
    let e = load_err(
        "[[users]]\nname = \"a\"\naccess_keys = [{id=\"K\",secret=\"s\"}]\n[[users]]\nname = \"b\"\naccess_keys = [{id=\"K\",secret=\"t\"}]",
        &[],
    );
    assert!(e.contains("access key K is given twice"), "{e}");
    let e = load_err(
        "[[sessions]]\nrole = \"r\"\nsession_name = \"s\"\naccess_key_id = \"ASIA\"\nsecret = \"x\"\ntoken = \"t\"\nexpiry = \"2030-01-01T00:00:00Z\"",
        &[],
    );
    assert!(e.contains("role \"r\" is not defined"), "{e}");
    let e = load_err(
        "[[roles]]\nname = \"r\"\n[[sessions]]\nrole = \"r\"\nsession_name = \"s\"\naccess_key_id = \"ASIA\"\nsecret = \"x\"\ntoken = \"t\"\nexpiry = \"tomorrow\"",
        &[],
    );
    assert!(e.contains("expiry \"tomorrow\" is not RFC 3339"), "{e}");
    let e = load_err("authorization_details = \"d.json\"", &[("d.json", "[1]")]);
    assert!(
        e.contains("d.json") && e.contains("not authorization-details JSON"),
        "{e}"
    );
    let e = load_err(
        "authorization_details = \"d.json\"",
        &[(
            "d.json",
            r#"{"UserDetailList":[{"UserName":"u","AttachedManagedPolicies":[{"PolicyName":"p","PolicyArn":"arn:aws:iam::111122223333:policy/p"}]}]}"#,
        )],
    );
    assert!(
        e.contains("user u: attached policy arn:aws:iam::111122223333:policy/p is not in Policies"),
        "{e}"
    );
}
