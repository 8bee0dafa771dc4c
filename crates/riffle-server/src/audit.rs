//! The audit trail at the edge: one CloudTrail record per API call of every
//! service, allowed or refused, written by `riffle-audit`. A management
//! event is durable before its response is sent; data events are
//! group-committed within the trail's window.

use crate::security::{Connection, RequestContext};
use chrono::Utc;
use riffle_audit::{
    AuditEvent, AuditLog, EventCategory, Resource, SessionAttributes, SessionContext,
    SessionIssuer, UserIdentity,
};
use riffle_auth::{Principal, PrincipalKind};
use riffle_protocol::{EventKind, OperationSpec, ServiceSpec};
use std::sync::Arc;

/// Where copies of audit records go besides the trail (e.g. a Riffle
/// stream, as CloudTrail can deliver to one): called once per record with
/// its `eventID` and its JSON, on the request task, so it must not block.
pub trait AuditSink: Send + Sync {
    fn copy(&self, event_id: &str, record: Vec<u8>);
}

/// What the edge knows of one call when it is answered.
pub(crate) struct CallFacts<'a> {
    pub spec: &'static ServiceSpec,
    pub op: &'static OperationSpec,
    pub request_id: &'a str,
    /// The authenticated caller; `None` when the call was refused before
    /// authentication finished (bad signature, malformed request).
    pub ctx: Option<&'a RequestContext>,
    /// The access key the request named, when there is no context.
    pub access_key_id: Option<String>,
    pub conn: &'a Connection,
    /// The request's members without record payloads (`Fields::audit_json`).
    pub params: Option<serde_json::Value>,
}

/// Records one answered call. Failures to write are logged, never answered
/// to the client (the call already happened).
pub(crate) async fn record(
    log: &AuditLog,
    sink: Option<&dyn AuditSink>,
    account_id: &str,
    region: &str,
    call: CallFacts<'_>,
    error: (Option<&'static str>, Option<String>),
) {
    let category = match call.op.event {
        EventKind::Management => EventCategory::Management,
        EventKind::Data => EventCategory::Data,
    };
    let identity = match call.ctx {
        Some(ctx) => identity(&ctx.principal, ctx.access_key_id.clone()),
        None => UserIdentity {
            kind: "Unknown".into(),
            access_key_id: call.access_key_id.clone(),
            ..UserIdentity::default()
        },
    };
    let mut ev = AuditEvent::api_call(
        Utc::now(),
        call.spec.event_source,
        call.op.name,
        identity,
        category,
    );
    ev.aws_region = region.to_string();
    ev.source_ip_address = call
        .conn
        .source_ip
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    ev.user_agent = call.conn.user_agent.clone().unwrap_or_default();
    ev.request_parameters = call
        .params
        .as_ref()
        .map(|p| riffle_audit::request_parameters(p, &[]))
        .unwrap_or(serde_json::Value::Null);
    ev.error_code = error.0.map(str::to_string);
    ev.error_message = error.0.and(error.1);
    ev.request_id = call.request_id.to_string();
    ev.read_only = call.op.read_only;
    ev.recipient_account_id = account_id.to_string();
    if let Some(ctx) = call.ctx {
        ev.resources = ctx
            .resources()
            .into_iter()
            .map(|(kind, arn)| Resource {
                account_id: account_id.to_string(),
                kind: kind.to_string(),
                arn,
            })
            .collect();
        let notes = ctx.notes();
        if !notes.is_empty() {
            ev.additional_event_data = Some(serde_json::json!({ "riffleAuditMode": notes }));
        }
    }
    ev.tls_details = call.conn.tls.clone();
    if let Some(sink) = sink {
        ev.normalize();
        if let Ok(json) = serde_json::to_vec(&ev) {
            sink.copy(&ev.event_id, json);
        }
    }
    if let Err(e) = log.record(ev).await {
        tracing::error!(error = %e, request_id = call.request_id, "audit record not written");
    }
}

/// CloudTrail's `userIdentity` for a principal.
fn identity(p: &Arc<Principal>, access_key_id: Option<String>) -> UserIdentity {
    let mut id = UserIdentity {
        kind: match p.kind {
            PrincipalKind::Anonymous => "Unknown".into(),
            k => k.cloudtrail_type().into(),
        },
        principal_id: Some(p.principal_id.clone()),
        arn: Some(p.arn.clone()),
        account_id: Some(p.account_id.clone()),
        access_key_id,
        ..UserIdentity::default()
    };
    match p.kind {
        PrincipalKind::User => id.user_name = Some(p.name.clone()),
        PrincipalKind::AssumedRole => {
            let role_arn = p.issuer_arn.clone();
            let role_name = role_arn
                .as_deref()
                .and_then(|a| a.rsplit('/').next())
                .map(str::to_string);
            id.session_context = Some(SessionContext {
                session_issuer: Some(SessionIssuer {
                    kind: "Role".into(),
                    principal_id: p.principal_id.split(':').next().map(str::to_string),
                    arn: role_arn,
                    account_id: Some(p.account_id.clone()),
                    user_name: role_name,
                }),
                attributes: Some(SessionAttributes {
                    creation_date: None,
                    mfa_authenticated: Some("false".into()),
                }),
            });
        }
        PrincipalKind::Anonymous => {
            id.principal_id = None;
            id.arn = None;
            id.account_id = None;
        }
        _ => {}
    }
    id
}
