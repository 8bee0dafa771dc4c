//! Authentication and authorization, once for every service at the edge.
//!
//! The edge verifies the SigV4 signature (`riffle_auth::sigv4`) against the
//! operator's auth config before a body is parsed, and hands the service a
//! [`RequestContext`] naming the caller. Services know their resources, so
//! they ask [`RequestContext::authorize`] for each (action, resource ARN)
//! they touch; evaluation is IAM's (`riffle_auth::policy`), with the
//! resource's policy and tags the service looked up.
//!
//! Modes: *open* (no auth config: no signature checks, every call allowed,
//! the caller is the account's root), *audit* (everything evaluated, nothing
//! refused; would-be refusals are noted in the audit trail) and *enforce*.

use parking_lot::{Mutex, RwLock};
use riffle_auth::config::AuthConfig;
use riffle_auth::policy::{self, Context, Effect, NamedPolicy, Policy, PolicyKind};
use riffle_auth::sigv4::{Expect, SignedRequest, Verifier};
use riffle_auth::{Principal, PrincipalKind};
use riffle_model::ApiError;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// How requests are authenticated and authorized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// No auth config: anyone may call anything (local use).
    Open,
    /// Evaluate and record, never refuse.
    Audit,
    /// Refuse what IAM would refuse.
    Enforce,
}

/// Resource policies parsed once and kept, keyed by their text; more
/// distinct documents than this and the cache starts over.
const POLICY_CACHE: usize = 1024;

/// The edge's security state: mode, the current auth config (replaced
/// whole on reload) and caches.
pub struct Security {
    mode: AuthMode,
    region: String,
    account_id: String,
    path: Option<PathBuf>,
    config: RwLock<Option<Arc<AuthConfig>>>,
    verifier: Verifier,
    policies: Mutex<HashMap<String, Option<Arc<Policy>>>>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("mode", &self.mode)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Security {
    /// Open mode: nothing is checked; callers act as the account's root.
    pub fn open(region: &str, account_id: &str) -> Security {
        Security {
            mode: AuthMode::Open,
            region: region.to_string(),
            account_id: account_id.to_string(),
            path: None,
            config: RwLock::new(None),
            verifier: verifier(),
            policies: Mutex::new(HashMap::new()),
        }
    }

    /// Loads `path` for audit or enforce mode.
    pub fn load(path: &Path, mode: AuthMode, region: &str) -> Result<Security, String> {
        let config = AuthConfig::load(path).map_err(|e| e.to_string())?;
        Ok(Security {
            mode,
            region: region.to_string(),
            account_id: config.account_id().to_string(),
            path: Some(path.to_path_buf()),
            config: RwLock::new(Some(Arc::new(config))),
            verifier: verifier(),
            policies: Mutex::new(HashMap::new()),
        })
    }

    /// Re-reads the auth config (SIGHUP). On error the old config stays.
    pub fn reload(&self) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let config = AuthConfig::load(path).map_err(|e| e.to_string())?;
        *self.config.write() = Some(Arc::new(config));
        Ok(())
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The principal open mode acts as.
    fn root(&self) -> Principal {
        Principal {
            kind: PrincipalKind::Root,
            account_id: self.account_id.clone(),
            arn: format!("arn:aws:iam::{}:root", self.account_id),
            principal_id: self.account_id.clone(),
            name: "root".into(),
            issuer_arn: None,
            tags: BTreeMap::new(),
        }
    }

    /// The caller of an open-mode request: the account's root, with the
    /// access key the request named (for the audit trail).
    pub(crate) fn open_caller(
        &self,
        authorization: Option<&str>,
        query: Option<&str>,
    ) -> Authenticated {
        Authenticated {
            principal: Arc::new(self.root()),
            access_key_id: access_key_of(authorization, query),
            config: None,
            refused: None,
        }
    }

    /// Verifies a request's signature for `service` (its signing name).
    /// Audit mode notes a failure and goes on as an anonymous caller.
    pub(crate) fn authenticate(
        &self,
        req: &SignedRequest<'_>,
        service: &str,
    ) -> Result<Authenticated, ApiError> {
        let config = self.config.read().clone();
        let authorization = || {
            req.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
                .and_then(|(_, v)| std::str::from_utf8(v).ok())
        };
        let (Some(config), false) = (config, self.mode == AuthMode::Open) else {
            return Ok(self.open_caller(authorization(), req.query));
        };
        let expect = Expect::new(&self.region, service, SystemTime::now());
        match self.verifier.verify(req, &expect, config.as_ref()) {
            Ok(v) => Ok(Authenticated {
                principal: v.credential.principal.clone(),
                access_key_id: Some(v.credential.access_key_id.clone()),
                config: Some(config),
                refused: None,
            }),
            Err(e) => {
                let err = ApiError::new(e.aws_type(), e.message()).with_status(e.status());
                if self.mode == AuthMode::Audit {
                    Ok(Authenticated {
                        principal: Arc::new(Principal::anonymous()),
                        access_key_id: access_key_of(authorization(), req.query),
                        config: Some(config),
                        refused: Some(err),
                    })
                } else {
                    Err(err)
                }
            }
        }
    }

    fn resource_policy(&self, text: &str) -> Option<Arc<Policy>> {
        let mut cache = self.policies.lock();
        if let Some(p) = cache.get(text) {
            return p.clone();
        }
        if cache.len() >= POLICY_CACHE {
            cache.clear();
        }
        let parsed = Policy::parse(text).ok().map(Arc::new);
        cache.insert(text.to_string(), parsed.clone());
        parsed
    }
}

/// The access key id named in a request's credential scope, whether or not
/// it verified (for the audit trail).
pub(crate) fn access_key_of(authorization: Option<&str>, query: Option<&str>) -> Option<String> {
    let from_header = authorization
        .and_then(|h| h.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next());
    let from_query = || {
        query?.split('&').find_map(|kv| {
            let v = kv.strip_prefix("X-Amz-Credential=")?;
            v.split(['/', '%']).next()
        })
    };
    from_header
        .or_else(from_query)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
}

/// What authentication decided.
pub(crate) struct Authenticated {
    pub principal: Arc<Principal>,
    pub access_key_id: Option<String>,
    /// The config the request was verified against (none in open mode).
    pub config: Option<Arc<AuthConfig>>,
    /// Audit mode: the refusal enforce mode would have answered.
    pub refused: Option<ApiError>,
}

/// Who made a request, how it arrived, and what authorizing it decided.
/// Built by the edge; services call [`RequestContext::authorize`].
pub struct RequestContext {
    pub principal: Arc<Principal>,
    pub access_key_id: Option<String>,
    pub source_ip: Option<IpAddr>,
    pub secure_transport: bool,
    pub user_agent: Option<String>,
    security: Arc<Security>,
    config: Option<Arc<AuthConfig>>,
    /// Would-be refusals in audit mode, for the audit record.
    notes: Mutex<Vec<String>>,
    /// The call is audited: record the resources it names.
    audited: bool,
    /// The resources the call was authorized for: (CloudFormation type, ARN).
    resources: Mutex<Vec<(&'static str, String)>>,
}

/// One authorization question: may the caller perform `action` on `resource`?
pub struct Access<'a> {
    /// `kinesis:PutRecord`.
    pub action: &'a str,
    /// The resource ARN, or `*` for actions without a resource.
    pub resource: &'a str,
    /// Its CloudFormation type for the audit trail (`AWS::Kinesis::Stream`).
    pub resource_type: &'static str,
    /// The resource policy (stream, consumer), if one is set.
    pub resource_policy: Option<&'a str>,
    /// Request and resource condition keys (`aws:RequestTag/…`,
    /// `aws:TagKeys`, `aws:ResourceTag/…`) beside the global ones.
    pub keys: Vec<(String, Vec<String>)>,
}

impl RequestContext {
    /// `audited`: an audit record will name the resources the call touched.
    pub(crate) fn new(
        who: Authenticated,
        conn: Connection,
        security: Arc<Security>,
        audited: bool,
    ) -> RequestContext {
        let mut notes = Vec::new();
        if let Some(e) = &who.refused {
            notes.push(format!(
                "authentication would be refused: {}: {}",
                e.code,
                e.message.as_deref().unwrap_or("")
            ));
        }
        RequestContext {
            principal: who.principal,
            access_key_id: who.access_key_id,
            source_ip: conn.source_ip,
            secure_transport: conn.secure,
            user_agent: conn.user_agent,
            security,
            config: who.config,
            notes: Mutex::new(notes),
            audited,
            resources: Mutex::new(Vec::new()),
        }
    }

    /// What authorization noted (audit mode's would-be refusals).
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().clone()
    }

    /// The resources the call named: (CloudFormation type, ARN).
    pub fn resources(&self) -> Vec<(&'static str, String)> {
        self.resources.lock().clone()
    }

    /// Whether authorization evaluates policies (audit and enforce modes);
    /// a service may skip looking up resource policies and tags otherwise.
    pub fn evaluates(&self) -> bool {
        self.config.is_some()
    }

    /// Whether [`RequestContext::authorize`] has anything to do: evaluate
    /// policies, or name the resources in the audit record. In open mode
    /// without an audit trail a service skips resolving resources at all.
    pub fn wants_resources(&self) -> bool {
        self.audited || self.evaluates()
    }

    /// Evaluates one access as IAM does. Enforce mode answers a refusal with
    /// `AccessDeniedException` and AWS's message; audit mode notes it and
    /// allows; open mode allows without evaluating.
    pub fn authorize(&self, access: &Access<'_>) -> Result<(), ApiError> {
        if self.audited && access.resource != "*" {
            self.resources
                .lock()
                .push((access.resource_type, access.resource.to_string()));
        }
        let Some(config) = &self.config else {
            return Ok(());
        };
        let mut context = Context::for_request(
            &self.principal,
            self.source_ip,
            self.secure_transport,
            SystemTime::now(),
        );
        for (k, v) in &access.keys {
            context.set(k, v.clone());
        }
        let identity = config.identity_policies(&self.principal);
        let resource_policy = access
            .resource_policy
            .and_then(|text| self.security.resource_policy(text))
            .map(|policy| NamedPolicy {
                name: "resource policy".into(),
                kind: PolicyKind::Resource,
                policy,
            });
        let owner = self.security.account_id.as_str();
        let req = policy::Request {
            principal: &self.principal,
            action: access.action,
            resource: access.resource,
            context: &context,
        };
        let decision = policy::evaluate(
            &identity,
            resource_policy.as_ref().map(|p| (p, owner)),
            &req,
        );
        if decision.effect == Effect::Allow {
            return Ok(());
        }
        let message = policy::access_denied_message(&req, &decision);
        match self.security.mode {
            AuthMode::Enforce => Err(ApiError::new("AccessDeniedException", message)),
            _ => {
                self.notes
                    .lock()
                    .push(format!("would be denied: {message}"));
                Ok(())
            }
        }
    }
}

/// How a request arrived, as the listen layer saw it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Connection {
    pub source_ip: Option<IpAddr>,
    pub secure: bool,
    pub user_agent: Option<String>,
    /// CloudTrail's `tlsDetails` for calls that arrived over TLS.
    pub tls: Option<riffle_audit::TlsDetails>,
}

/// The SigV4 verifier. `RIFFLE_SIGV4_DEBUG=1` appends the canonical request
/// and string to sign Riffle computed to a signature-mismatch message, as
/// AWS once did, for debugging a client's signer (never on by default: it
/// tells a caller what a valid request looks like).
fn verifier() -> Verifier {
    Verifier::new().echo_canonical(std::env::var_os("RIFFLE_SIGV4_DEBUG").is_some())
}
