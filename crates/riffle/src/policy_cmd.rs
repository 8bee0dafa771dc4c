//! `riffle policy simulate`: evaluate one request against an auth config the
//! way the server would, and show which statement decided, like the IAM
//! policy simulator. Exit code 0 allowed, 1 denied, 2 usage or config error.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{anyhow, Context as _, Result};
use clap::{Args, Subcommand};
use riffle_auth::config::AuthConfig;
use riffle_auth::policy::{
    access_denied_message, evaluate, Context, Decision, NamedPolicy, Policy, PolicyKind, Request,
};

#[derive(Args, Debug)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// Evaluate one request and print the decision (allowed, implicitDeny,
    /// explicitDeny) and the statement that decided it.
    ///
    /// Exit code: 0 allowed, 1 denied, 2 usage or config error.
    ///
    /// Example:
    ///   riffle policy simulate --auth-config auth.toml \
    ///     --principal arn:aws:iam::000000000000:user/alice \
    ///     --action kinesis:PutRecord \
    ///     --resource arn:aws:kinesis:us-east-1:000000000000:stream/orders
    #[command(verbatim_doc_comment)]
    Simulate(SimulateArgs),
}

#[derive(Args, Debug)]
struct SimulateArgs {
    /// The auth config (TOML) that defines the principal and its policies.
    #[arg(long, value_name = "FILE")]
    auth_config: PathBuf,
    /// The caller: a user, role-session or root ARN from the config (a role
    /// ARN simulates a session of that role).
    #[arg(long, value_name = "ARN")]
    principal: String,
    /// The IAM action, e.g. kinesis:PutRecord.
    #[arg(long)]
    action: String,
    /// The resource ARN; `*` for actions that take none.
    #[arg(long, value_name = "ARN", default_value = "*")]
    resource: String,
    /// A resource-based policy (JSON) attached to the resource.
    #[arg(long, value_name = "FILE")]
    resource_policy: Option<PathBuf>,
    /// The account that owns the resource (default: the resource ARN's
    /// account, else the config's).
    #[arg(long, value_name = "ACCOUNT")]
    resource_owner: Option<String>,
    /// A condition key; repeat a key for several values
    /// (e.g. --context aws:TagKeys=env --context aws:TagKeys=team).
    #[arg(long = "context", value_name = "KEY=VALUE")]
    context: Vec<String>,
    /// aws:SourceIp.
    #[arg(long, value_name = "IP")]
    source_ip: Option<IpAddr>,
    /// aws:SecureTransport is true (the request came over TLS).
    #[arg(long)]
    secure_transport: bool,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs the command and returns the process exit code.
pub fn main(args: PolicyArgs) -> i32 {
    let PolicyCommand::Simulate(args) = args.command;
    match simulate(&args) {
        Ok(d) if d.allowed() => 0,
        Ok(_) => 1,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

fn simulate(args: &SimulateArgs) -> Result<Decision> {
    let cfg = AuthConfig::load(&args.auth_config)?;
    let principal = cfg.principal_by_arn(&args.principal).ok_or_else(|| {
        anyhow!(
            "principal {} is not in {} (give a user, role, role-session or root ARN of account {})",
            args.principal,
            args.auth_config.display(),
            cfg.account_id()
        )
    })?;
    let resource_policy = args
        .resource_policy
        .as_deref()
        .map(load_resource_policy)
        .transpose()?;
    let owner = match &args.resource_owner {
        Some(o) => o.clone(),
        None => arn_account(&args.resource).unwrap_or_else(|| cfg.account_id().to_string()),
    };

    let mut ctx = Context::for_request(
        &principal,
        args.source_ip,
        args.secure_transport,
        SystemTime::now(),
    );
    let mut extra: Vec<(String, Vec<String>)> = Vec::new();
    for kv in &args.context {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--context {kv:?}: expected KEY=VALUE"))?;
        match extra
            .iter_mut()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
        {
            Some((_, values)) => values.push(v.to_string()),
            None => extra.push((k.to_string(), vec![v.to_string()])),
        }
    }
    for (k, values) in extra {
        ctx.set(&k, values);
    }

    let identity = cfg.identity_policies(&principal);
    let req = Request {
        principal: &principal,
        action: &args.action,
        resource: &args.resource,
        context: &ctx,
    };
    let decision = evaluate(
        &identity,
        resource_policy.as_ref().map(|p| (p, owner.as_str())),
        &req,
    );
    let message = (!decision.allowed()).then(|| access_denied_message(&req, &decision));
    if args.json {
        println!(
            "{}",
            json_report(&req, &identity, &decision, message.as_deref())
        );
    } else {
        print!(
            "{}",
            text_report(&req, &identity, &decision, message.as_deref())
        );
    }
    Ok(decision)
}

fn load_resource_policy(path: &Path) -> Result<NamedPolicy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let policy = Policy::parse(&text)
        .and_then(|p| p.check_kind(PolicyKind::Resource).map(|()| p))
        .with_context(|| format!("{}", path.display()))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "resource-policy".into());
    Ok(NamedPolicy {
        name,
        kind: PolicyKind::Resource,
        policy: Arc::new(policy),
    })
}

fn arn_account(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    (parts.len() == 6 && !parts[4].is_empty()).then(|| parts[4].to_string())
}

fn pretty(statement_json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(statement_json)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| statement_json.to_string())
}

fn text_report(
    req: &Request,
    identity: &[NamedPolicy],
    d: &Decision,
    message: Option<&str>,
) -> String {
    let mut out = format!(
        "decision: {}\nprincipal: {}\naction: {}\nresource: {}\n",
        d.effect.simulator_name(),
        req.principal.arn,
        req.action,
        req.resource
    );
    let evaluated: Vec<&str> = identity.iter().map(|p| p.name.as_str()).collect();
    out.push_str(&format!(
        "policies evaluated: {}\n",
        if evaluated.is_empty() {
            "(none)".to_string()
        } else {
            evaluated.join(", ")
        }
    ));
    match &d.by {
        Some(m) => {
            out.push_str(&format!(
                "matched statement: policy {} ({} policy), statement {}, sid {}\n",
                m.policy,
                m.kind.message_name(),
                m.statement,
                m.sid.as_deref().unwrap_or("(none)")
            ));
            for line in pretty(&m.json).lines() {
                out.push_str("  ");
                out.push_str(line);
                out.push('\n');
            }
        }
        None => out.push_str("matched statement: (none)\n"),
    }
    if let Some(m) = message {
        out.push_str(&format!("message: {m}\n"));
    }
    out
}

fn json_report(
    req: &Request,
    identity: &[NamedPolicy],
    d: &Decision,
    message: Option<&str>,
) -> serde_json::Value {
    let matched = d.by.as_ref().map(|m| {
        serde_json::json!({
            "policyName": m.policy,
            "policyType": m.kind.message_name(),
            "statementIndex": m.statement,
            "sid": m.sid,
            "statement": serde_json::from_str::<serde_json::Value>(&m.json).unwrap_or(serde_json::Value::Null),
        })
    });
    serde_json::json!({
        "decision": d.effect.simulator_name(),
        "principal": req.principal.arn,
        "action": req.action,
        "resource": req.resource,
        "policiesEvaluated": identity.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        "matchedStatement": matched,
        "message": message,
    })
}
