//! The decision: explicit deny, then allow, else implicit deny (§2.1).

use super::{Context, Grant, NamedPolicy, PolicyKind, Statement, StatementEffect};
use crate::principal::{Principal, PrincipalKind};

/// One request to authorize.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub principal: &'a Principal,
    /// `service:Action`, e.g. `kinesis:PutRecord`.
    pub action: &'a str,
    /// One ARN, or `"*"` for actions that take no resource.
    pub resource: &'a str,
    pub context: &'a Context,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    ImplicitDeny,
    ExplicitDeny,
}

impl Effect {
    /// The IAM policy simulator's names: `allowed`, `implicitDeny`,
    /// `explicitDeny`.
    pub fn simulator_name(self) -> &'static str {
        match self {
            Effect::Allow => "allowed",
            Effect::ImplicitDeny => "implicitDeny",
            Effect::ExplicitDeny => "explicitDeny",
        }
    }
}

/// The statement that decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matched {
    pub policy: String,
    pub kind: PolicyKind,
    /// Index in the policy's `Statement` list.
    pub statement: usize,
    pub sid: Option<String>,
    /// The statement's JSON (keys sorted).
    pub json: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub effect: Effect,
    /// The deciding statement: the deny for an explicit deny, the grant for
    /// an allow (the resource policy's on a cross-account allow); `None` for
    /// an implicit deny and for the root user.
    pub by: Option<Matched>,
    /// For a deny, the policy type the message names: the type that denied,
    /// or the type that failed to allow.
    pub deny_kind: Option<PolicyKind>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.effect == Effect::Allow
    }

    fn allow(by: Option<Matched>) -> Decision {
        Decision {
            effect: Effect::Allow,
            by,
            deny_kind: None,
        }
    }

    fn implicit(kind: PolicyKind) -> Decision {
        Decision {
            effect: Effect::ImplicitDeny,
            by: None,
            deny_kind: Some(kind),
        }
    }
}

/// A statement that applies to the request, with how its principal matched
/// (resource policies only).
struct Hit<'a> {
    policy: &'a NamedPolicy,
    index: usize,
    statement: &'a Statement,
    grant: Option<Grant>,
}

impl Hit<'_> {
    fn matched(&self) -> Matched {
        Matched {
            policy: self.policy.name.clone(),
            kind: self.policy.kind,
            statement: self.index,
            sid: self.statement.sid.clone(),
            json: self.statement.json.clone(),
        }
    }
}

fn hits<'a>(
    np: &'a NamedPolicy,
    effect: StatementEffect,
    req: &'a Request<'a>,
) -> impl Iterator<Item = Hit<'a>> + 'a {
    np.policy
        .statements
        .iter()
        .enumerate()
        .filter_map(move |(index, st)| {
            if st.effect != effect
                || !st.action_matches(req.action)
                || !st.resource_matches(req.resource, req.context)
            {
                return None;
            }
            let grant = if np.kind == PolicyKind::Resource {
                Some(st.principal_grant(req.principal)?)
            } else {
                None
            };
            st.conditions_hold(req.context).then_some(Hit {
                policy: np,
                index,
                statement: st,
                grant,
            })
        })
}

/// The account in an ARN's fifth segment, if it has one.
fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let account = parts.nth(4)?;
    (parts.next().is_some() && !account.is_empty()).then_some(account)
}

/// Decides `req`.
///
/// `identity` holds the caller's policies: identity policies, and any
/// permissions boundary or session policy (by their kind). The resource
/// policy comes with the account that owns the resource; without one, the
/// owner is the resource ARN's account (or the caller's, for `"*"`).
///
/// Same account: an identity **or** resource policy allows (and the
/// limiters allow). Cross account: the caller's identity policies **and**
/// the owner's resource policy allow. The owner's root user is allowed
/// unless explicitly denied; anonymous callers only by a resource policy
/// that grants `"*"`.
pub fn evaluate(
    identity: &[NamedPolicy],
    resource_policy: Option<(&NamedPolicy, &str)>,
    req: &Request,
) -> Decision {
    let p = req.principal;
    let by_kind = |k: PolicyKind| identity.iter().filter(move |np| np.kind == k);
    let caller_side = identity.iter().filter(|np| np.kind != PolicyKind::Resource);
    let resource = resource_policy.map(|(np, _)| np);

    // 1. An explicit deny anywhere ends it.
    let deny = caller_side
        .clone()
        .find_map(|np| hits(np, StatementEffect::Deny, req).next())
        .or_else(|| resource.and_then(|np| hits(np, StatementEffect::Deny, req).next()));
    if let Some(h) = deny {
        return Decision {
            effect: Effect::ExplicitDeny,
            by: Some(h.matched()),
            deny_kind: Some(h.policy.kind),
        };
    }

    let resource_allow = |accept: &dyn Fn(Grant) -> bool| {
        resource.and_then(|np| {
            hits(np, StatementEffect::Allow, req).find(|h| h.grant.is_some_and(accept))
        })
    };

    if p.kind == PrincipalKind::Anonymous {
        return match resource_allow(&|g| g == Grant::Anyone) {
            Some(h) => Decision::allow(Some(h.matched())),
            None => Decision::implicit(PolicyKind::Resource),
        };
    }

    let owner = match resource_policy {
        Some((_, owner)) => owner,
        None => arn_account(req.resource).unwrap_or(&p.account_id),
    };
    let same_account = p.account_id == owner;
    if p.kind == PrincipalKind::Root && same_account {
        return Decision::allow(None);
    }

    // The caller's side: an identity grant, within the limiters.
    let identity_allow =
        by_kind(PolicyKind::Identity).find_map(|np| hits(np, StatementEffect::Allow, req).next());
    let mut boundaries = by_kind(PolicyKind::PermissionsBoundary).peekable();
    let boundary_ok = boundaries.peek().is_none()
        || boundaries.any(|np| hits(np, StatementEffect::Allow, req).next().is_some());
    let mut sessions = by_kind(PolicyKind::Session).peekable();
    let session_ok = match sessions.peek() {
        // A federated user's permissions are its session policy's.
        None => p.kind != PrincipalKind::FederatedUser,
        Some(_) => sessions.any(|np| hits(np, StatementEffect::Allow, req).next().is_some()),
    };
    let limiter_denial = || {
        if !boundary_ok {
            PolicyKind::PermissionsBoundary
        } else {
            PolicyKind::Session
        }
    };

    if same_account {
        // A grant to the caller's own ARN is not limited; a grant to its
        // role or to "*" is; a grant to the account adds nothing.
        if let Some(h) = resource_allow(&|g| g == Grant::Exact) {
            return Decision::allow(Some(h.matched()));
        }
        let grant = identity_allow
            .or_else(|| resource_allow(&|g| matches!(g, Grant::Role | Grant::Anyone)));
        return match grant {
            None => Decision::implicit(PolicyKind::Identity),
            Some(_) if !(boundary_ok && session_ok) => Decision::implicit(limiter_denial()),
            Some(h) => Decision::allow(Some(h.matched())),
        };
    }

    // Cross account: the caller's account must allow, and so must the owner.
    let caller_ok = p.kind == PrincipalKind::Root || identity_allow.is_some();
    if !caller_ok {
        return Decision::implicit(PolicyKind::Identity);
    }
    if !(boundary_ok && session_ok) {
        return Decision::implicit(limiter_denial());
    }
    match resource_allow(&|_| true) {
        Some(h) => Decision::allow(Some(h.matched())),
        None => Decision::implicit(PolicyKind::Resource),
    }
}

/// AWS's AccessDeniedException message for a denied decision (§2.5).
pub fn access_denied_message(req: &Request, d: &Decision) -> String {
    let kind = d.deny_kind.unwrap_or(PolicyKind::Identity);
    let name = kind.message_name();
    let on = if req.resource == "*" {
        String::new()
    } else {
        format!(" on resource: {}", req.resource)
    };
    let why = match d.effect {
        Effect::ExplicitDeny => {
            let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            format!("with an explicit deny in {article} {name} policy")
        }
        _ => format!("because no {name} policy allows the {} action", req.action),
    };
    format!(
        "User: {} is not authorized to perform: {}{on} {why}",
        req.principal.arn, req.action
    )
}
