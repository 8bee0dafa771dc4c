//! Checks every service table against its botocore model
//! (`botocore/data/{service}/{version}/service-2.json`): the same operations,
//! and for each, every input member, recursively, with its type,
//! required-ness, min/max, pattern and enum (list-element bounds and enums
//! included); and that the checker itself notices wrong schemas.
//!
//! The model is found through the installed botocore package (`python3 -c
//! "import botocore"`; `scripts/test.sh` installs it), or under
//! `$BOTOCORE_DATA`. A missing model fails the test: it never skips.

use riffle_protocol::schema::{Con, Member, Ty};
use riffle_protocol::{firehose, kinesis, ServiceSpec};
use serde_json::Value as J;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Every service the edge serves; a new service adds its table here.
const SERVICES: &[&ServiceSpec] = &[&kinesis::SERVICE, &firehose::SERVICE];

fn botocore_data() -> PathBuf {
    if let Ok(dir) = std::env::var("BOTOCORE_DATA") {
        return PathBuf::from(dir);
    }
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import botocore, os; print(os.path.join(os.path.dirname(botocore.__file__), 'data'))",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 to find botocore: {e}"));
    assert!(
        out.status.success(),
        "botocore is not installed (pip install botocore, or run scripts/test.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn load_model(service: &ServiceSpec) -> J {
    let (name, version) = service.botocore_model;
    let dir = botocore_data().join(name).join(version);
    for file in ["service-2.json.gz", "service-2.json"] {
        let p = dir.join(file);
        if !p.exists() {
            continue;
        }
        let bytes = if file.ends_with(".gz") {
            let out = std::process::Command::new("gzip")
                .arg("-dc")
                .arg(&p)
                .output()
                .unwrap_or_else(|e| panic!("gzip -dc {}: {e}", p.display()));
            out.stdout
        } else {
            std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        return serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()));
    }
    panic!("no botocore model at {}", dir.display())
}

fn check_member(
    shapes: &J,
    shape_name: &str,
    member: &Member,
    required: bool,
    path: &str,
    problems: &mut Vec<String>,
) {
    let shape = &shapes[shape_name];
    let t = shape["type"].as_str().unwrap_or("");
    if member.required != required {
        problems.push(format!(
            "{path}: required={} but model says {required}",
            member.required
        ));
    }
    let ty_ok = matches!(
        (t, &member.ty),
        ("string", Ty::Str)
            | ("integer" | "long", Ty::Int)
            | ("double", Ty::Double)
            | ("boolean", Ty::Bool)
            | ("blob", Ty::Blob)
            | ("timestamp", Ty::Timestamp)
            | ("list", Ty::List(_))
            | ("map", Ty::Map(_))
            | ("structure", Ty::Struct(_))
    );
    if !ty_ok {
        problems.push(format!("{path}: model type {t}, schema {:?}", member.ty));
    }
    let has = |pred: &dyn Fn(&Con) -> bool| member.cons.iter().any(pred);
    let min = shape["min"].as_i64();
    let max = shape["max"].as_i64();
    match t {
        "integer" | "long" | "double" => {
            if let Some(min) = min {
                if !has(&|c| matches!(c, Con::Min(v) if *v == min)) {
                    problems.push(format!("{path}: missing Min({min})"));
                }
            }
            if let Some(max) = max {
                if !has(&|c| matches!(c, Con::Max(v) if *v == max)) {
                    problems.push(format!("{path}: missing Max({max})"));
                }
            }
            if member.cons.iter().any(|c| match c {
                Con::Min(v) => Some(*v) != min,
                Con::Max(v) => Some(*v) != max,
                _ => true,
            }) {
                problems.push(format!(
                    "{path}: constraints beyond the model: {:?}",
                    member.cons
                ));
            }
        }
        _ => {
            if let Some(min) = min.filter(|m| *m > 0) {
                if !has(&|c| matches!(c, Con::MinLen(v) if *v as i64 == min)) {
                    problems.push(format!("{path}: missing MinLen({min})"));
                }
            }
            if let Some(max) = max {
                if !has(&|c| matches!(c, Con::MaxLen(v) if *v as i64 == max)) {
                    problems.push(format!("{path}: missing MaxLen({max})"));
                }
            }
            for c in member.cons {
                let ok = match c {
                    Con::MinLen(v) => min == Some(*v as i64),
                    Con::MaxLen(v) => max == Some(*v as i64),
                    Con::Pattern(p) => shape["pattern"].as_str() == Some(p.source()),
                    Con::Enum(values) => same_enum(&shape["enum"], values),
                    Con::ChildEnum(values) => {
                        let elem = &shapes[shape["member"]["shape"].as_str().unwrap_or("")];
                        same_enum(&elem["enum"], values)
                    }
                    Con::ChildPattern(p) => {
                        let elem = &shapes[shape["member"]["shape"].as_str().unwrap_or("")];
                        elem["pattern"].as_str() == Some(p.source())
                    }
                    Con::ChildLen(lo, hi) => {
                        elem_bounds(shapes, &shape["member"]["shape"]) == (*lo as i64, *hi as i64)
                    }
                    Con::KeyLen(lo, hi) => {
                        elem_bounds(shapes, &shape["key"]["shape"]) == (*lo as i64, *hi as i64)
                    }
                    Con::ValLen(lo, hi) => {
                        elem_bounds(shapes, &shape["value"]["shape"]) == (*lo as i64, *hi as i64)
                    }
                    Con::Min(_) | Con::Max(_) => false,
                };
                if !ok {
                    problems.push(format!(
                        "{path}: {c:?} does not match the model shape {shape}"
                    ));
                }
            }
            if let Some(p) = shape["pattern"].as_str() {
                if !has(&|c| matches!(c, Con::Pattern(x) if x.source() == p)) {
                    problems.push(format!("{path}: missing pattern {p}"));
                }
            }
            if shape["enum"].is_array() && !has(&|c| matches!(c, Con::Enum(_))) {
                problems.push(format!("{path}: missing enum"));
            }
        }
    }
    match (&member.ty, t) {
        (Ty::Struct(children), "structure") => {
            check_struct(shapes, shape_name, children, path, problems)
        }
        (Ty::List(elem), "list") => {
            let elem_shape = shape["member"]["shape"].as_str().unwrap_or("");
            let es = &shapes[elem_shape];
            if let Ty::Struct(children) = elem.ty {
                check_struct(shapes, elem_shape, children, &format!("{path}[]"), problems);
            } else if let Ty::Str = elem.ty {
                // String element constraints live on the list (ChildLen, ChildEnum),
                // where AWS reports them.
                if !elem.cons.is_empty() {
                    problems.push(format!("{path}: element constraints belong on the list"));
                }
                if let Some(lo) = es["min"].as_i64() {
                    let hi = es["max"].as_i64().unwrap_or(i64::MAX);
                    if !has(
                        &|c| matches!(c, Con::ChildLen(a, b) if *a as i64 == lo && *b as i64 == hi),
                    ) {
                        problems.push(format!("{path}: element bounds {lo}..{hi} not checked"));
                    }
                }
                if es["enum"].is_array() && !has(&|c| matches!(c, Con::ChildEnum(_))) {
                    problems.push(format!("{path}: element enum not checked"));
                }
                if let Some(src) = es["pattern"].as_str() {
                    if !has(&|c| matches!(c, Con::ChildPattern(p) if p.source() == src)) {
                        problems.push(format!("{path}: element pattern not checked"));
                    }
                }
            } else {
                problems.push(format!("{path}: unsupported element type {:?}", elem.ty));
            }
        }
        (Ty::Map(_), "map") => {
            for (which, ctor) in [("key", "KeyLen"), ("value", "ValLen")] {
                let s = &shapes[shape[which]["shape"].as_str().unwrap_or("")];
                if s["min"].is_i64() || s["max"].is_i64() {
                    let bounds = (
                        s["min"].as_i64().unwrap_or(0),
                        s["max"].as_i64().unwrap_or(i64::MAX),
                    );
                    let found = member.cons.iter().any(|c| match c {
                        Con::KeyLen(a, b) if ctor == "KeyLen" => (*a as i64, *b as i64) == bounds,
                        Con::ValLen(a, b) if ctor == "ValLen" => (*a as i64, *b as i64) == bounds,
                        _ => false,
                    });
                    if !found {
                        problems.push(format!("{path}: map {which} bounds {bounds:?} not checked"));
                    }
                }
            }
        }
        _ => {}
    }
}

/// The same values, each once (order is free: AWS's print order is not the model's).
fn same_enum(model: &J, values: &[&str]) -> bool {
    let model: Vec<&str> = model
        .as_array()
        .map(|a| a.iter().filter_map(J::as_str).collect())
        .unwrap_or_default();
    let ours: BTreeSet<&str> = values.iter().copied().collect();
    ours.len() == values.len()
        && model.len() == values.len()
        && model.iter().copied().collect::<BTreeSet<_>>() == ours
}

fn elem_bounds(shapes: &J, name: &J) -> (i64, i64) {
    let s = &shapes[name.as_str().unwrap_or("")];
    (
        s["min"].as_i64().unwrap_or(0),
        s["max"].as_i64().unwrap_or(i64::MAX),
    )
}

fn check_struct(
    shapes: &J,
    shape_name: &str,
    members: &[Member],
    path: &str,
    problems: &mut Vec<String>,
) {
    let shape = &shapes[shape_name];
    let required: BTreeSet<&str> = shape["required"]
        .as_array()
        .map(|a| a.iter().filter_map(J::as_str).collect())
        .unwrap_or_default();
    let model_members = shape["members"].as_object().cloned().unwrap_or_default();
    let ours: BTreeSet<&str> = members.iter().map(|m| m.name).collect();
    let theirs: BTreeSet<&str> = model_members.keys().map(String::as_str).collect();
    if ours != theirs {
        problems.push(format!(
            "{path}: members differ: schema {ours:?} model {theirs:?}"
        ));
    }
    for m in members {
        if let Some(spec) = model_members.get(m.name) {
            let child = spec["shape"].as_str().unwrap_or("");
            check_member(
                shapes,
                child,
                m,
                required.contains(m.name),
                &format!("{path}.{}", m.name),
                problems,
            );
        }
    }
}

fn problems_for(model: &J, op: &str, members: &[Member]) -> Vec<String> {
    let input = model["operations"][op]["input"]["shape"]
        .as_str()
        .unwrap_or("");
    if input.is_empty() {
        // Operations without input accept `{}` only.
        return if members.is_empty() && model["operations"].get(op).is_some() {
            Vec::new()
        } else {
            vec![format!("{op}: not in the model, or has no input shape")]
        };
    }
    let mut problems = Vec::new();
    check_struct(&model["shapes"], input, members, op, &mut problems);
    problems
}

/// The table's operations are the model's, and each one's input matches.
fn problems_for_service(service: &ServiceSpec, model: &J) -> Vec<String> {
    let mut problems = Vec::new();
    let model_ops: BTreeSet<&str> = model["operations"]
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let table_ops: BTreeSet<&str> = service.operations.iter().map(|o| o.name).collect();
    for missing in model_ops.difference(&table_ops) {
        problems.push(format!(
            "{}: {missing} is in the model, not in the table",
            service.target_prefix
        ));
    }
    for extra in table_ops.difference(&model_ops) {
        problems.push(format!(
            "{}: {extra} is in the table, not in the model",
            service.target_prefix
        ));
    }
    if model["metadata"]["targetPrefix"].as_str() != Some(service.target_prefix) {
        problems.push(format!(
            "{}: the model's targetPrefix is {}",
            service.target_prefix, model["metadata"]["targetPrefix"]
        ));
    }
    for op in service.operations {
        if model_ops.contains(op.name) {
            problems.extend(problems_for(model, op.name, op.input));
        }
    }
    problems
}

#[test]
fn schema_matches_botocore() {
    for service in SERVICES {
        let model = load_model(service);
        let problems = problems_for_service(service, &model);
        assert!(
            problems.is_empty(),
            "{} schema vs botocore:\n{}",
            service.target_prefix,
            problems.join("\n")
        );
    }
}

#[test]
fn kinesis_table_lists_every_operation_in_enum_order() {
    let names: Vec<&str> = kinesis::SERVICE.operations.iter().map(|o| o.name).collect();
    let enum_names: Vec<&str> = riffle_model::Operation::ALL
        .iter()
        .map(|o| o.name())
        .collect();
    assert_eq!(names, enum_names);
    for op in riffle_model::Operation::ALL {
        let names = |m: &[Member]| m.iter().map(|m| m.name).collect::<Vec<_>>();
        assert_eq!(
            names(kinesis::spec(*op).input),
            names(kinesis::schema::input_schema(*op)),
            "{}",
            op.name()
        );
        assert_eq!(kinesis::operation(kinesis::spec(*op)), Some(*op));
    }
}

mod wrong {
    //! Deliberately wrong schemas: the checker must notice each mistake.
    use riffle_protocol::kinesis::schema::Pat;
    use riffle_protocol::schema::{Con, Member, Ty};

    const fn m(name: &'static str, ty: Ty, required: bool, cons: &'static [Con]) -> Member {
        Member {
            name,
            ty,
            required,
            cons,
            member_str: None,
        }
    }
    const NAME: &[Con] = &[Con::Pattern(&Pat::Name), Con::MinLen(1), Con::MaxLen(128)];
    const ARN: &[Con] = &[
        Con::Pattern(&Pat::StreamArn),
        Con::MinLen(1),
        Con::MaxLen(2048),
    ];
    const ID: &[Con] = &[
        Con::Pattern(&Pat::StreamId),
        Con::MinLen(1),
        Con::MaxLen(24),
    ];
    static ELEM: Member = m("member", Ty::Str, false, &[]);
    const ALL_METRICS: &[&str] = &[
        "IncomingBytes",
        "IncomingRecords",
        "OutgoingBytes",
        "OutgoingRecords",
        "WriteProvisionedThroughputExceeded",
        "ReadProvisionedThroughputExceeded",
        "IteratorAgeMilliseconds",
        "ALL",
    ];
    const fn metrics(cons: &'static [Con]) -> [Member; 4] {
        [
            m("StreamName", Ty::Str, false, NAME),
            m("ShardLevelMetrics", Ty::List(&ELEM), true, cons),
            m("StreamARN", Ty::Str, false, ARN),
            m("StreamId", Ty::Str, false, ID),
        ]
    }

    pub static RIGHT: [Member; 4] =
        metrics(&[Con::MinLen(1), Con::MaxLen(7), Con::ChildEnum(ALL_METRICS)]);
    pub static NO_CHILD_ENUM: [Member; 4] = metrics(&[Con::MinLen(1), Con::MaxLen(7)]);
    pub static SHORT_CHILD_ENUM: [Member; 4] = metrics(&[
        Con::MinLen(1),
        Con::MaxLen(7),
        Con::ChildEnum(&["IncomingBytes", "ALL"]),
    ]);
    pub static WRONG_MAX: [Member; 4] =
        metrics(&[Con::MinLen(1), Con::MaxLen(8), Con::ChildEnum(ALL_METRICS)]);
    pub static OPTIONAL_METRICS: [Member; 4] = [
        m("StreamName", Ty::Str, false, NAME),
        m(
            "ShardLevelMetrics",
            Ty::List(&ELEM),
            false,
            &[Con::MinLen(1), Con::MaxLen(7), Con::ChildEnum(ALL_METRICS)],
        ),
        m("StreamARN", Ty::Str, false, ARN),
        m("StreamId", Ty::Str, false, ID),
    ];
    pub static MISSING_MEMBER: [Member; 3] = [
        m("StreamName", Ty::Str, false, NAME),
        m(
            "ShardLevelMetrics",
            Ty::List(&ELEM),
            true,
            &[Con::MinLen(1), Con::MaxLen(7), Con::ChildEnum(ALL_METRICS)],
        ),
        m("StreamARN", Ty::Str, false, ARN),
    ];
    pub static WRONG_PATTERN: [Member; 4] = [
        m("StreamName", Ty::Str, false, NAME),
        m(
            "ShardLevelMetrics",
            Ty::List(&ELEM),
            true,
            &[Con::MinLen(1), Con::MaxLen(7), Con::ChildEnum(ALL_METRICS)],
        ),
        m(
            "StreamARN",
            Ty::Str,
            false,
            &[
                Con::Pattern(&Pat::ResourceArn),
                Con::MinLen(1),
                Con::MaxLen(2048),
            ],
        ),
        m("StreamId", Ty::Str, false, ID),
    ];

    static STATUS_WRONG: &[Member] = &[m("Status", Ty::Str, true, &[Con::Enum(&["ENABLED"])])];
    static STATUS_DUP: &[Member] = &[m(
        "Status",
        Ty::Str,
        true,
        &[Con::Enum(&["ENABLED", "DISABLED", "ENABLED"])],
    )];
    pub static ACCOUNT_ENUM: [Member; 1] = [m(
        "MinimumThroughputBillingCommitment",
        Ty::Struct(STATUS_WRONG),
        true,
        &[],
    )];
    pub static ACCOUNT_DUP: [Member; 1] = [m(
        "MinimumThroughputBillingCommitment",
        Ty::Struct(STATUS_DUP),
        true,
        &[],
    )];
    pub static SHARD_COUNT_MAX: [Member; 5] = [
        m(
            "ScalingType",
            Ty::Str,
            true,
            &[Con::Enum(&["UNIFORM_SCALING"])],
        ),
        m("StreamName", Ty::Str, false, NAME),
        // kinesalite's 100000 cap is not in the model.
        m(
            "TargetShardCount",
            Ty::Int,
            true,
            &[Con::Min(1), Con::Max(100_000)],
        ),
        m("StreamARN", Ty::Str, false, ARN),
        m("StreamId", Ty::Str, false, ID),
    ];
}

#[test]
fn checker_catches_wrong_schemas() {
    let model = load_model(&kinesis::SERVICE);
    let op = "EnableEnhancedMonitoring";
    assert_eq!(
        problems_for(&model, op, &wrong::RIGHT),
        Vec::<String>::new()
    );
    for (what, members) in [
        ("no ChildEnum", &wrong::NO_CHILD_ENUM[..]),
        ("short ChildEnum", &wrong::SHORT_CHILD_ENUM),
        ("wrong MaxLen", &wrong::WRONG_MAX),
        ("not required", &wrong::OPTIONAL_METRICS),
        ("missing member", &wrong::MISSING_MEMBER),
        ("wrong pattern", &wrong::WRONG_PATTERN),
    ] {
        assert!(
            !problems_for(&model, op, members).is_empty(),
            "{what} went unnoticed"
        );
    }
    for members in [&wrong::ACCOUNT_ENUM, &wrong::ACCOUNT_DUP] {
        assert!(!problems_for(&model, "UpdateAccountSettings", members).is_empty());
    }
    assert!(!problems_for(&model, "UpdateShardCount", &wrong::SHARD_COUNT_MAX).is_empty());
}
