//! The evaluation matrix: each case builds real policies and principals and
//! checks the decision, the deciding statement and the AccessDenied text.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use riffle_auth::policy::{
    access_denied_message, evaluate, Context, Decision, Effect, NamedPolicy, Policy, PolicyKind,
    Request,
};
use riffle_auth::{Principal, PrincipalKind};

const A: &str = "111122223333";
const B: &str = "444455556666";
const STREAM: &str = "arn:aws:kinesis:us-east-1:111122223333:stream/orders";

fn user(account: &str, name: &str) -> Principal {
    Principal {
        kind: PrincipalKind::User,
        account_id: account.into(),
        arn: format!("arn:aws:iam::{account}:user/{name}"),
        principal_id: format!("AIDA{}", name.to_uppercase()),
        name: name.into(),
        issuer_arn: None,
        tags: BTreeMap::new(),
    }
}

fn session(account: &str, role: &str, name: &str) -> Principal {
    Principal {
        kind: PrincipalKind::AssumedRole,
        account_id: account.into(),
        arn: format!("arn:aws:sts::{account}:assumed-role/{role}/{name}"),
        principal_id: format!("AROAEXAMPLE:{name}"),
        name: name.into(),
        issuer_arn: Some(format!("arn:aws:iam::{account}:role/{role}")),
        tags: BTreeMap::new(),
    }
}

fn root(account: &str) -> Principal {
    Principal {
        kind: PrincipalKind::Root,
        account_id: account.into(),
        arn: format!("arn:aws:iam::{account}:root"),
        principal_id: account.into(),
        name: "root".into(),
        issuer_arn: None,
        tags: BTreeMap::new(),
    }
}

fn pol(name: &str, kind: PolicyKind, json: &str) -> NamedPolicy {
    let policy = Policy::parse(json).unwrap();
    policy.check_kind(kind).unwrap();
    NamedPolicy {
        name: name.into(),
        kind,
        policy: Arc::new(policy),
    }
}

fn id(name: &str, json: &str) -> NamedPolicy {
    pol(name, PolicyKind::Identity, json)
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_194_800) // 2026-12-02T07:00:00Z
}

fn ctx_for(p: &Principal) -> Context {
    Context::for_request(p, Some("10.0.0.5".parse().unwrap()), true, now())
}

fn decide(
    ids: &[NamedPolicy],
    res: Option<(&NamedPolicy, &str)>,
    p: &Principal,
    action: &str,
    resource: &str,
    ctx: &Context,
) -> Decision {
    let req = Request {
        principal: p,
        action,
        resource,
        context: ctx,
    };
    evaluate(ids, res, &req)
}

fn simple(ids: &[NamedPolicy], p: &Principal, action: &str, resource: &str) -> Decision {
    decide(ids, None, p, action, resource, &ctx_for(p))
}

const ALLOW_PUT: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Put","Effect":"Allow","Action":"kinesis:PutRecord","Resource":"arn:aws:kinesis:us-east-1:111122223333:stream/orders"}]}"#;

#[test]
fn allow_and_implicit_deny() {
    let alice = user(A, "alice");
    let ids = [id("put", ALLOW_PUT)];
    let d = simple(&ids, &alice, "kinesis:PutRecord", STREAM);
    assert_eq!(d.effect, Effect::Allow);
    let by = d.by.unwrap();
    assert_eq!(
        (by.policy.as_str(), by.statement, by.sid.as_deref()),
        ("put", 0, Some("Put"))
    );
    assert_eq!(by.kind, PolicyKind::Identity);

    let d = simple(&ids, &alice, "kinesis:DeleteStream", STREAM);
    assert_eq!(d.effect, Effect::ImplicitDeny);
    assert_eq!(d.by, None);
    let ctx = ctx_for(&alice);
    let req = Request {
        principal: &alice,
        action: "kinesis:DeleteStream",
        resource: STREAM,
        context: &ctx,
    };
    assert_eq!(
        access_denied_message(&req, &d),
        "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kinesis:DeleteStream on resource: arn:aws:kinesis:us-east-1:111122223333:stream/orders because no identity-based policy allows the kinesis:DeleteStream action"
    );
    assert_eq!(
        simple(&[], &alice, "kinesis:PutRecord", STREAM).effect,
        Effect::ImplicitDeny
    );
}

#[test]
fn explicit_deny_beats_allow() {
    let alice = user(A, "alice");
    let ids = [
        id(
            "all",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}}"#,
        ),
        id(
            "no-delete",
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"Other","Effect":"Deny","Action":"kinesis:List*","Resource":"*"},
            {"Sid":"NoDelete","Effect":"Deny","Action":"kinesis:DeleteStream","Resource":"*"}]}"#,
        ),
    ];
    assert!(simple(&ids, &alice, "kinesis:PutRecord", STREAM).allowed());
    let d = simple(&ids, &alice, "kinesis:DeleteStream", STREAM);
    assert_eq!(d.effect, Effect::ExplicitDeny);
    assert_eq!(d.deny_kind, Some(PolicyKind::Identity));
    let by = d.by.clone().unwrap();
    assert_eq!(
        (by.policy.as_str(), by.statement, by.sid.as_deref()),
        ("no-delete", 1, Some("NoDelete"))
    );
    assert!(by.json.contains("\"kinesis:DeleteStream\""));
    let ctx = ctx_for(&alice);
    let req = Request {
        principal: &alice,
        action: "kinesis:DeleteStream",
        resource: STREAM,
        context: &ctx,
    };
    assert_eq!(
        access_denied_message(&req, &d),
        "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kinesis:DeleteStream on resource: arn:aws:kinesis:us-east-1:111122223333:stream/orders with an explicit deny in an identity-based policy"
    );
}

#[test]
fn action_and_resource_wildcards() {
    let alice = user(A, "alice");
    let ids = [id(
        "read",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["kinesis:Get*","kinesis:Describe?tream"],
            "Resource":"arn:aws:kinesis:*:111122223333:stream/ord*"}}"#,
    )];
    assert!(simple(&ids, &alice, "kinesis:GetRecords", STREAM).allowed());
    assert!(
        simple(&ids, &alice, "KINESIS:getsharditerator", STREAM).allowed(),
        "actions are case-insensitive"
    );
    assert!(simple(&ids, &alice, "kinesis:DescribeStream", STREAM).allowed());
    assert!(!simple(&ids, &alice, "kinesis:DescribeStreamSummary", STREAM).allowed());
    assert!(!simple(&ids, &alice, "kinesis:PutRecord", STREAM).allowed());
    let other = "arn:aws:kinesis:us-east-1:111122223333:stream/payments";
    assert!(!simple(&ids, &alice, "kinesis:GetRecords", other).allowed());
    let consumer = "arn:aws:kinesis:eu-west-1:111122223333:stream/orders/consumer/c1:1700000000";
    assert!(
        simple(&ids, &alice, "kinesis:GetRecords", consumer).allowed(),
        "* spans / in the resource"
    );
    let case = "arn:aws:kinesis:us-east-1:111122223333:stream/ORDERS";
    assert!(
        !simple(&ids, &alice, "kinesis:GetRecords", case).allowed(),
        "ARNs are case-sensitive"
    );
    // a "*"-resource action is not matched by a stream ARN pattern
    assert!(!simple(&ids, &alice, "kinesis:GetRecords", "*").allowed());
}

#[test]
fn not_action_and_not_resource() {
    let alice = user(A, "alice");
    let ids = [id(
        "not",
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"AllButDelete","Effect":"Allow","NotAction":["kinesis:Delete*","iam:*"],"Resource":"*"},
            {"Sid":"OnlyOrders","Effect":"Deny","Action":"kinesis:Put*","NotResource":"arn:aws:kinesis:*:*:stream/orders"}]}"#,
    )];
    assert!(simple(&ids, &alice, "kinesis:PutRecord", STREAM).allowed());
    assert!(!simple(&ids, &alice, "kinesis:DeleteStream", STREAM).allowed());
    assert!(!simple(&ids, &alice, "iam:CreateUser", "*").allowed());
    let d = simple(
        &ids,
        &alice,
        "kinesis:PutRecords",
        "arn:aws:kinesis:us-east-1:111122223333:stream/other",
    );
    assert_eq!(d.effect, Effect::ExplicitDeny);
    assert_eq!(d.by.unwrap().sid.as_deref(), Some("OnlyOrders"));
}

const RESOURCE_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"CrossAccountRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:user/bob"},
   "Action":["kinesis:GetRecords","kinesis:GetShardIterator"],"Resource":"arn:aws:kinesis:us-east-1:111122223333:stream/orders"},
  {"Sid":"AccountB","Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kinesis:DescribeStreamSummary","Resource":"*"},
  {"Sid":"Carol","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/carol"},"Action":"kinesis:PutRecord","Resource":"*"},
  {"Sid":"OwnAccount","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kinesis:ListShards","Resource":"*"}]}"#;

#[test]
fn cross_account_needs_both_policies() {
    let rp = pol("orders-policy", PolicyKind::Resource, RESOURCE_POLICY);
    let bob = user(B, "bob");
    let bob_reads = [id(
        "bob-read",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:Get*","Resource":"*"}}"#,
    )];
    let ctx = ctx_for(&bob);
    let go = |ids: &[NamedPolicy], res: Option<(&NamedPolicy, &str)>, action: &str| {
        decide(ids, res, &bob, action, STREAM, &ctx)
    };
    // both allow
    let d = go(&bob_reads, Some((&rp, A)), "kinesis:GetRecords");
    assert_eq!(d.effect, Effect::Allow);
    let by = d.by.unwrap();
    assert_eq!(
        (by.kind, by.sid.as_deref()),
        (PolicyKind::Resource, Some("CrossAccountRead"))
    );
    // resource policy alone
    let d = go(&[], Some((&rp, A)), "kinesis:GetRecords");
    assert_eq!(d.effect, Effect::ImplicitDeny);
    assert_eq!(d.deny_kind, Some(PolicyKind::Identity));
    // identity policy alone
    let d = go(&bob_reads, None, "kinesis:GetRecords");
    assert_eq!(d.effect, Effect::ImplicitDeny);
    assert_eq!(d.deny_kind, Some(PolicyKind::Resource));
    let req = Request {
        principal: &bob,
        action: "kinesis:GetRecords",
        resource: STREAM,
        context: &ctx,
    };
    assert!(access_denied_message(&req, &d)
        .ends_with("because no resource-based policy allows the kinesis:GetRecords action"));
    // a grant to the account delegates to B's identity policies
    let describe = [id(
        "d",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:Describe*","Resource":"*"}}"#,
    )];
    assert!(go(&describe, Some((&rp, A)), "kinesis:DescribeStreamSummary").allowed());
    assert!(!go(&[], Some((&rp, A)), "kinesis:DescribeStreamSummary").allowed());
    // B's root is allowed by its own account
    let b_root = root(B);
    assert!(decide(
        &[],
        Some((&rp, A)),
        &b_root,
        "kinesis:DescribeStreamSummary",
        STREAM,
        &ctx
    )
    .allowed());
    assert!(!decide(
        &[],
        Some((&rp, A)),
        &b_root,
        "kinesis:PutRecord",
        STREAM,
        &ctx
    )
    .allowed());
}

#[test]
fn same_account_resource_policy_grants() {
    let rp = pol("orders-policy", PolicyKind::Resource, RESOURCE_POLICY);
    let carol = user(A, "carol");
    let ctx = ctx_for(&carol);
    // a grant to the user's own ARN is enough in its own account
    let d = decide(
        &[],
        Some((&rp, A)),
        &carol,
        "kinesis:PutRecord",
        STREAM,
        &ctx,
    );
    assert_eq!(d.effect, Effect::Allow);
    assert_eq!(d.by.unwrap().sid.as_deref(), Some("Carol"));
    // ...even when a permissions boundary does not allow it
    let boundary = [pol(
        "b",
        PolicyKind::PermissionsBoundary,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:Get*","Resource":"*"}}"#,
    )];
    assert!(decide(
        &boundary,
        Some((&rp, A)),
        &carol,
        "kinesis:PutRecord",
        STREAM,
        &ctx
    )
    .allowed());
    // a grant to the account adds nothing
    assert!(!decide(
        &[],
        Some((&rp, A)),
        &carol,
        "kinesis:ListShards",
        STREAM,
        &ctx
    )
    .allowed());
    // the owner's root is always allowed
    assert!(decide(
        &[],
        Some((&rp, A)),
        &root(A),
        "kinesis:DeleteStream",
        STREAM,
        &ctx
    )
    .allowed());
    assert!(simple(&[], &root(A), "kinesis:DeleteStream", STREAM).allowed());
}

#[test]
fn boundaries_and_session_policies_limit_identity_grants() {
    let alice = user(A, "alice");
    let all = id(
        "all",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}}"#,
    );
    let boundary = pol(
        "boundary",
        PolicyKind::PermissionsBoundary,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:Get*","Resource":"*"}}"#,
    );
    let ids = [all.clone(), boundary];
    assert!(simple(&ids, &alice, "kinesis:GetRecords", STREAM).allowed());
    let d = simple(&ids, &alice, "kinesis:PutRecord", STREAM);
    assert_eq!(
        (d.effect, d.deny_kind),
        (Effect::ImplicitDeny, Some(PolicyKind::PermissionsBoundary))
    );

    let s = session(A, "app", "s1");
    let sp = pol(
        "session",
        PolicyKind::Session,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:PutRecord","Resource":"*"}}"#,
    );
    assert!(simple(&[all.clone(), sp.clone()], &s, "kinesis:PutRecord", STREAM).allowed());
    let d = simple(&[all.clone(), sp], &s, "kinesis:GetRecords", STREAM);
    assert_eq!(d.deny_kind, Some(PolicyKind::Session));
    assert!(
        simple(&[all], &s, "kinesis:GetRecords", STREAM).allowed(),
        "no session policy: identity decides"
    );
}

#[test]
fn role_principal_in_resource_policy() {
    let rp = pol(
        "rp",
        PolicyKind::Resource,
        r#"{"Version":"2012-10-17","Statement":{"Sid":"App","Effect":"Allow",
        "Principal":{"AWS":"arn:aws:iam::444455556666:role/app"},"Action":"kinesis:PutRecord","Resource":"*"}}"#,
    );
    let allow = [id(
        "put",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:PutRecord","Resource":"*"}}"#,
    )];
    let s = session(B, "app", "worker-1");
    let other = session(B, "other", "worker-1");
    let ctx = ctx_for(&s);
    assert!(decide(
        &allow,
        Some((&rp, A)),
        &s,
        "kinesis:PutRecord",
        STREAM,
        &ctx
    )
    .allowed());
    assert!(!decide(
        &allow,
        Some((&rp, A)),
        &other,
        "kinesis:PutRecord",
        STREAM,
        &ctx
    )
    .allowed());
}

#[test]
fn anonymous_only_through_a_wildcard_resource_policy() {
    let anon = Principal::anonymous();
    let ctx = Context::for_request(&anon, None, false, now());
    let public = pol(
        "public",
        PolicyKind::Resource,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"kinesis:DescribeStreamSummary","Resource":"*"}}"#,
    );
    let acct = pol(
        "acct",
        PolicyKind::Resource,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kinesis:*","Resource":"*"}}"#,
    );
    let all = [id(
        "all",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}}"#,
    )];
    assert!(decide(
        &[],
        Some((&public, A)),
        &anon,
        "kinesis:DescribeStreamSummary",
        STREAM,
        &ctx
    )
    .allowed());
    assert!(!decide(
        &[],
        Some((&public, A)),
        &anon,
        "kinesis:PutRecord",
        STREAM,
        &ctx
    )
    .allowed());
    assert!(!decide(
        &all,
        Some((&acct, A)),
        &anon,
        "kinesis:PutRecord",
        STREAM,
        &ctx
    )
    .allowed());
    assert!(!decide(&all, None, &anon, "kinesis:PutRecord", STREAM, &ctx).allowed());
}

#[test]
fn source_ip_condition() {
    let alice = user(A, "alice");
    let ids = [id(
        "office",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*",
        "Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/24","2001:db8::/32"]}}}}"#,
    )];
    let at = |ip: &str| {
        let ctx = Context::for_request(&alice, Some(ip.parse::<IpAddr>().unwrap()), true, now());
        decide(&ids, None, &alice, "kinesis:PutRecord", STREAM, &ctx).allowed()
    };
    assert!(at("10.0.0.200"));
    assert!(at("2001:db8:1::9"));
    assert!(!at("10.0.1.1"));
    let no_ip = Context::for_request(&alice, None, true, now());
    assert!(!decide(&ids, None, &alice, "kinesis:PutRecord", STREAM, &no_ip).allowed());
}

#[test]
fn secure_transport_deny() {
    let alice = user(A, "alice");
    let ids = [
        id(
            "all",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}}"#,
        ),
        id(
            "tls",
            r#"{"Version":"2012-10-17","Statement":{"Sid":"TlsOnly","Effect":"Deny","Action":"*","Resource":"*",
            "Condition":{"Bool":{"aws:SecureTransport":"false"}}}}"#,
        ),
    ];
    let with = |tls: bool| {
        let ctx = Context::for_request(&alice, None, tls, now());
        decide(&ids, None, &alice, "kinesis:PutRecord", STREAM, &ctx)
    };
    assert!(with(true).allowed());
    let d = with(false);
    assert_eq!(d.effect, Effect::ExplicitDeny);
    assert_eq!(d.by.unwrap().sid.as_deref(), Some("TlsOnly"));
}

#[test]
fn tag_conditions() {
    let alice = user(A, "alice");
    let ids = [id(
        "tags",
        r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"CreateTagged","Effect":"Allow","Action":["kinesis:CreateStream","kinesis:AddTagsToStream"],"Resource":"*",
         "Condition":{"StringEquals":{"aws:RequestTag/env":["dev","test"]},"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}},
        {"Sid":"TeamStreams","Effect":"Allow","Action":"kinesis:PutRecord","Resource":"*",
         "Condition":{"StringEquals":{"aws:ResourceTag/team":"red"}}}]}"#,
    )];
    let base = ctx_for(&alice);
    let create =
        |ctx: &Context| decide(&ids, None, &alice, "kinesis:CreateStream", STREAM, ctx).allowed();
    let tagged = |env: &str, keys: &[&str]| {
        base.clone()
            .with("aws:RequestTag/env", vec![env.into()])
            .with("aws:TagKeys", keys.iter().map(|k| k.to_string()).collect())
    };
    assert!(create(&tagged("dev", &["env"])));
    assert!(create(&tagged("test", &["env", "team"])));
    assert!(!create(&tagged("prod", &["env"])), "tag value not allowed");
    assert!(
        !create(&tagged("dev", &["env", "cost"])),
        "an extra tag key"
    );
    assert!(!create(&base), "no request tag");
    let put = |team: Option<&str>| {
        let mut ctx = base.clone();
        if let Some(t) = team {
            ctx.set("aws:ResourceTag/Team", vec![t.into()]);
        }
        decide(&ids, None, &alice, "kinesis:PutRecord", STREAM, &ctx).allowed()
    };
    assert!(put(Some("red")), "tag keys compare case-insensitively");
    assert!(!put(Some("blue")));
    assert!(!put(None));
}

#[test]
fn policy_variables() {
    let alice = user(A, "alice");
    let mut tagged = user(A, "bob");
    tagged.tags.insert("team".into(), "red".into());
    let ids = [id(
        "own",
        r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"Own","Effect":"Allow","Action":"kinesis:*","Resource":"arn:aws:kinesis:*:*:stream/${aws:username}-*"},
        {"Sid":"Team","Effect":"Allow","Action":"kinesis:Get*","Resource":"arn:aws:kinesis:*:*:stream/team-${aws:PrincipalTag/team, 'none'}"}]}"#,
    )];
    let s = |name: &str| format!("arn:aws:kinesis:us-east-1:111122223333:stream/{name}");
    assert!(simple(&ids, &alice, "kinesis:PutRecord", &s("alice-events")).allowed());
    assert!(!simple(&ids, &alice, "kinesis:PutRecord", &s("bob-events")).allowed());
    assert!(simple(&ids, &tagged, "kinesis:GetRecords", &s("team-red")).allowed());
    assert!(!simple(&ids, &tagged, "kinesis:GetRecords", &s("team-none")).allowed());
    assert!(
        simple(&ids, &alice, "kinesis:GetRecords", &s("team-none")).allowed(),
        "the default applies"
    );
    // a role session has no aws:username: the variable is unresolved and matches nothing
    let sess = session(A, "app", "alice");
    assert!(!simple(&ids, &sess, "kinesis:PutRecord", &s("alice-events")).allowed());
    // 2008-10-17: no variables, the text is literal
    let old = [id(
        "old",
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"arn:aws:kinesis:*:*:stream/${aws:username}"}}"#,
    )];
    assert!(!simple(&old, &alice, "kinesis:PutRecord", &s("alice")).allowed());
    assert!(simple(&old, &alice, "kinesis:PutRecord", &s("${aws:username}")).allowed());
}

#[test]
fn if_exists_null_date_numeric_bool() {
    let alice = user(A, "alice");
    let base = ctx_for(&alice);
    let one = |cond: &str, ctx: &Context| {
        let json = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"kinesis:*","Resource":"*","Condition":{cond}}}}}"#
        );
        decide(
            &[id("c", &json)],
            None,
            &alice,
            "kinesis:PutRecord",
            STREAM,
            ctx,
        )
        .allowed()
    };
    let with = |k: &str, v: &str| base.clone().with(k, vec![v.into()]);
    // IfExists: absent key passes, present key must match
    let ie = r#"{"StringEqualsIfExists":{"aws:RequestTag/env":"dev"}}"#;
    assert!(one(ie, &base));
    assert!(one(ie, &with("aws:RequestTag/env", "dev")));
    assert!(!one(ie, &with("aws:RequestTag/env", "prod")));
    // Null
    let null = r#"{"Null":{"aws:RequestTag/env":"true"}}"#;
    assert!(one(null, &base));
    assert!(!one(null, &with("aws:RequestTag/env", "x")));
    assert!(one(r#"{"Null":{"aws:SourceIp":"false"}}"#, &base));
    // Date against aws:CurrentTime (2026-12-02T07:00:00Z) and aws:EpochTime
    assert!(one(
        r#"{"DateLessThan":{"aws:CurrentTime":"2026-12-31T00:00:00Z"}}"#,
        &base
    ));
    assert!(!one(
        r#"{"DateGreaterThan":{"aws:CurrentTime":"2027-01-01"}}"#,
        &base
    ));
    assert!(one(
        r#"{"DateGreaterThanEquals":{"aws:EpochTime":"2026-12-02T07:00:00Z"}}"#,
        &base
    ));
    assert!(!one(
        r#"{"DateLessThan":{"aws:CurrentTime":"1796194800"}}"#,
        &base
    ));
    // Numeric
    let num = r#"{"NumericLessThanEquals":{"kinesis:ShardCount":"4"}}"#;
    assert!(one(num, &with("kinesis:ShardCount", "4")));
    assert!(!one(num, &with("kinesis:ShardCount", "5")));
    assert!(!one(num, &base));
    assert!(one(
        r#"{"NumericNotEquals":{"kinesis:ShardCount":["1","2"]}}"#,
        &with("kinesis:ShardCount", "3")
    ));
    // Bool
    assert!(one(r#"{"Bool":{"aws:SecureTransport":true}}"#, &base));
    assert!(!one(r#"{"Bool":{"aws:SecureTransport":"false"}}"#, &base));
    // two operators are ANDed
    assert!(!one(
        r#"{"Bool":{"aws:SecureTransport":"true"},"IpAddress":{"aws:SourceIp":"192.168.0.0/16"}}"#,
        &base
    ));
}

#[test]
fn not_principal_with_deny() {
    let rp = pol(
        "rp",
        PolicyKind::Resource,
        r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"AllowAll","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kinesis:*","Resource":"*"},
        {"Sid":"OnlyAdmin","Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/admin","arn:aws:iam::111122223333:root"]},
         "Action":"kinesis:DeleteStream","Resource":"*"},
        {"Sid":"NeedsAccount","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/ops"},
         "Action":"kinesis:SplitShard","Resource":"*"}]}"#,
    );
    let all = [id(
        "all",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}}"#,
    )];
    let go =
        |p: &Principal, action: &str| decide(&all, Some((&rp, A)), p, action, STREAM, &ctx_for(p));
    assert!(go(&user(A, "admin"), "kinesis:DeleteStream").allowed());
    let d = go(&user(A, "alice"), "kinesis:DeleteStream");
    assert_eq!(
        (d.effect, d.deny_kind),
        (Effect::ExplicitDeny, Some(PolicyKind::Resource))
    );
    assert_eq!(d.by.clone().unwrap().sid.as_deref(), Some("OnlyAdmin"));
    let alice = user(A, "alice");
    let ctx = ctx_for(&alice);
    let req = Request {
        principal: &alice,
        action: "kinesis:DeleteStream",
        resource: STREAM,
        context: &ctx,
    };
    assert!(access_denied_message(&req, &d)
        .ends_with("with an explicit deny in a resource-based policy"));
    assert!(
        go(&root(A), "kinesis:DeleteStream").allowed(),
        "root's account is listed"
    );
    assert!(!go(&user(B, "admin"), "kinesis:DeleteStream").allowed());
    // listing the user without its account does not exempt it
    assert_eq!(
        go(&user(A, "ops"), "kinesis:SplitShard").effect,
        Effect::ExplicitDeny
    );
}

#[test]
fn no_resource_message_for_star() {
    let alice = user(A, "alice");
    let ctx = ctx_for(&alice);
    let req = Request {
        principal: &alice,
        action: "kinesis:ListStreams",
        resource: "*",
        context: &ctx,
    };
    let d = evaluate(&[], None, &req);
    assert_eq!(
        access_denied_message(&req, &d),
        "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kinesis:ListStreams because no identity-based policy allows the kinesis:ListStreams action"
    );
}
