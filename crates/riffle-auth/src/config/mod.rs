//! The auth config file (`riffle serve --auth-config FILE`): the account,
//! its users, groups, roles, role sessions and their keys and policies.
//!
//! Loading is a pure function from files to a new [`AuthConfig`] (no
//! globals), so a reload builds a fresh one and swaps it in. The format is
//! documented in `docs/security-iam.md`.
//!
//! Users, groups, roles and managed policies may also come from the JSON
//! that `aws iam get-account-authorization-details` prints; access keys are
//! never in that output, so the TOML adds them by user name.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::Value;

use crate::policy::{NamedPolicy, Policy, PolicyError, PolicyKind};

mod details;
use crate::principal::{Credential, CredentialStore, Principal, PrincipalKind};
use details::details_account;

/// The account used when neither the file nor the authorization details
/// name one: the twelve zeros LocalStack and moto also use, so it is
/// recognisably not a real account.
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";

/// A config that could not be loaded; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", file.display())]
    Invalid { file: PathBuf, message: String },
    /// A policy document that does not parse; `what` says whose it is.
    #[error("{}: {what}: {source}", file.display())]
    Policy {
        file: PathBuf,
        what: String,
        source: PolicyError,
    },
}

// ---------------------------------------------------------------------------
// The TOML file

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    account_id: Option<String>,
    region: Option<String>,
    authorization_details: Option<String>,
    root: Option<RootSection>,
    #[serde(default)]
    users: Vec<UserSection>,
    #[serde(default)]
    groups: Vec<GroupSection>,
    #[serde(default)]
    roles: Vec<RoleSection>,
    #[serde(default)]
    sessions: Vec<SessionSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RootSection {
    #[serde(default)]
    access_keys: Vec<KeySection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySection {
    id: String,
    secret: String,
}

/// A policy: inline JSON (starts with `{`), a managed policy's ARN (from the
/// authorization details), or a file relative to the config file; or a
/// table naming it.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum PolicyRef {
    Text(String),
    Table(PolicyTable),
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct PolicyTable {
    name: Option<String>,
    file: Option<String>,
    json: Option<String>,
    arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserSection {
    name: String,
    /// Another account's user: a cross-account caller, whose own identity
    /// policies must allow a call and whom a resource policy here must
    /// grant as well. Default: the config's account.
    account_id: Option<String>,
    user_id: Option<String>,
    path: Option<String>,
    #[serde(default)]
    access_keys: Vec<KeySection>,
    #[serde(default)]
    policies: Vec<PolicyRef>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    permissions_boundary: Option<PolicyRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupSection {
    name: String,
    #[serde(default)]
    policies: Vec<PolicyRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleSection {
    name: String,
    role_id: Option<String>,
    path: Option<String>,
    #[serde(default)]
    policies: Vec<PolicyRef>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    permissions_boundary: Option<PolicyRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionSection {
    role: String,
    session_name: String,
    access_key_id: String,
    secret: String,
    token: String,
    /// RFC 3339.
    expiry: String,
    /// The session policy passed to AssumeRole, if any.
    policy: Option<PolicyRef>,
}

#[derive(Debug)]
struct User {
    principal: Arc<Principal>,
    policies: Vec<NamedPolicy>,
    groups: Vec<String>,
    boundary: Option<NamedPolicy>,
}

#[derive(Debug)]
struct Role {
    name: String,
    arn: String,
    role_id: String,
    tags: BTreeMap<String, String>,
    policies: Vec<NamedPolicy>,
    boundary: Option<NamedPolicy>,
}

#[derive(Debug)]
struct Session {
    principal: Arc<Principal>,
    role: String,
    policy: Option<NamedPolicy>,
}

/// The principals, credentials and identity policies of one account.
/// (`Debug` shows names and counts, never secrets.)
pub struct AuthConfig {
    account_id: String,
    region: Option<String>,
    root: Arc<Principal>,
    /// By user name.
    users: BTreeMap<String, User>,
    /// Group name → its policies.
    groups: BTreeMap<String, Vec<NamedPolicy>>,
    /// By role name.
    roles: BTreeMap<String, Role>,
    sessions: Vec<Session>,
    credentials: HashMap<String, Credential>,
}

/// Builds an [`AuthConfig`], carrying the file name for error messages.
struct Loader<'a> {
    file: PathBuf,
    base_dir: &'a Path,
    /// Managed policies from the authorization details, by ARN.
    managed: HashMap<String, (String, Arc<Policy>)>,
}

impl AuthConfig {
    /// Reads and parses the config at `path`; policy files and the
    /// authorization details are read relative to its directory.
    pub fn load(path: &Path) -> Result<AuthConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Loader::new(path.to_path_buf(), base).build(&text)
    }

    /// Parses config text; relative paths resolve against `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<AuthConfig, ConfigError> {
        Loader::new(PathBuf::from("<auth config>"), base_dir).build(text)
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The account's root user.
    pub fn root(&self) -> Arc<Principal> {
        self.root.clone()
    }

    /// The policies that apply to `p` as the caller: its identity policies
    /// (a user's own and its groups'; a role session's role's), and its
    /// permissions boundary and session policy as limiters. Empty for root,
    /// anonymous and unknown principals.
    pub fn identity_policies(&self, p: &Principal) -> Vec<NamedPolicy> {
        let mut out = Vec::new();
        match p.kind {
            PrincipalKind::User => {
                let Some(user) = self.users.values().find(|u| u.principal.arn == p.arn) else {
                    return out;
                };
                out.extend(user.policies.iter().cloned());
                for g in &user.groups {
                    out.extend(self.groups.get(g).into_iter().flatten().cloned());
                }
                out.extend(user.boundary.iter().cloned());
            }
            PrincipalKind::AssumedRole => {
                let Some(role) = self
                    .roles
                    .values()
                    .find(|r| p.issuer_arn.as_deref() == Some(r.arn.as_str()))
                else {
                    return out;
                };
                out.extend(role.policies.iter().cloned());
                out.extend(role.boundary.iter().cloned());
                let session = self
                    .sessions
                    .iter()
                    .find(|s| s.role == role.name && s.principal.arn == p.arn);
                out.extend(session.and_then(|s| s.policy.clone()));
            }
            _ => {}
        }
        out
    }

    /// The principal an ARN names: a user, a configured role session, the
    /// root user, or, for a role ARN, a session of that role named
    /// `riffle-simulator` (what the policy simulator evaluates a role as).
    pub fn principal_by_arn(&self, arn: &str) -> Option<Arc<Principal>> {
        if arn == self.root.arn {
            return Some(self.root.clone());
        }
        if let Some(u) = self.users.values().find(|u| u.principal.arn == arn) {
            return Some(u.principal.clone());
        }
        if let Some(s) = self.sessions.iter().find(|s| s.principal.arn == arn) {
            return Some(s.principal.clone());
        }
        let role = self.roles.values().find(|r| r.arn == arn)?;
        Some(Arc::new(session_principal(
            &self.account_id,
            role,
            "riffle-simulator",
        )))
    }

    /// All user and role-session principals, for listings.
    pub fn principals(&self) -> Vec<Arc<Principal>> {
        let mut out = vec![self.root.clone()];
        out.extend(self.users.values().map(|u| u.principal.clone()));
        out.extend(self.sessions.iter().map(|s| s.principal.clone()));
        out
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("account_id", &self.account_id)
            .field("region", &self.region)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("groups", &self.groups.keys().collect::<Vec<_>>())
            .field("roles", &self.roles.keys().collect::<Vec<_>>())
            .field("sessions", &self.sessions.len())
            .field("access_keys", &self.credentials.len())
            .finish()
    }
}

impl CredentialStore for AuthConfig {
    fn credential(&self, access_key_id: &str) -> Option<Credential> {
        self.credentials.get(access_key_id).cloned()
    }
}

impl<'a> Loader<'a> {
    fn new(file: PathBuf, base_dir: &'a Path) -> Loader<'a> {
        Loader {
            file,
            base_dir,
            managed: HashMap::new(),
        }
    }

    fn invalid(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            message: message.into(),
        }
    }

    fn build(mut self, text: &str) -> Result<AuthConfig, ConfigError> {
        let cfg: FileConfig = toml::from_str(text).map_err(|e| self.invalid(e.to_string()))?;

        let details = match &cfg.authorization_details {
            None => None,
            Some(rel) => Some(self.read_details(rel)?),
        };
        let details_account = details.as_ref().and_then(|(_, d)| details_account(d));
        let account_id = match (&cfg.account_id, details_account) {
            (Some(a), Some(d)) if *a != d => {
                return Err(self.invalid(format!(
                    "account_id {a} differs from the authorization details' account {d}"
                )))
            }
            (Some(a), _) => a.clone(),
            (None, Some(d)) => d,
            (None, None) => DEFAULT_ACCOUNT_ID.to_string(),
        };
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.invalid(format!("account_id {account_id:?} is not 12 digits")));
        }

        let mut users: BTreeMap<String, User> = BTreeMap::new();
        let mut groups: BTreeMap<String, Vec<NamedPolicy>> = BTreeMap::new();
        let mut roles: BTreeMap<String, Role> = BTreeMap::new();

        if let Some((dfile, d)) = &details {
            self.load_details(dfile, d, &account_id, &mut users, &mut groups, &mut roles)?;
        }

        for g in &cfg.groups {
            let policies = self.policies(&g.policies, &format!("group {}", g.name))?;
            groups.entry(g.name.clone()).or_default().extend(policies);
        }
        for r in &cfg.roles {
            let what = format!("role {}", r.name);
            let policies = self.policies(&r.policies, &what)?;
            let boundary = match &r.permissions_boundary {
                None => None,
                Some(b) => Some(self.policy(b, &what, 0, PolicyKind::PermissionsBoundary)?),
            };
            let role = roles.entry(r.name.clone()).or_insert_with(|| {
                new_role(&account_id, &r.name, r.path.as_deref(), r.role_id.clone())
            });
            role.policies.extend(policies);
            role.tags.extend(r.tags.clone());
            if boundary.is_some() {
                role.boundary = boundary;
            }
        }

        let root = Arc::new(Principal {
            kind: PrincipalKind::Root,
            account_id: account_id.clone(),
            arn: format!("arn:aws:iam::{account_id}:root"),
            principal_id: account_id.clone(),
            name: "root".into(),
            issuer_arn: None,
            tags: BTreeMap::new(),
        });
        let mut credentials: HashMap<String, Credential> = HashMap::new();
        let mut add_key = |key: &KeySection, principal: &Arc<Principal>| {
            if key.id.is_empty() || key.secret.is_empty() {
                return Err(self.invalid(format!(
                    "{}: an access key needs a non-empty id and secret",
                    principal.arn
                )));
            }
            if credentials.contains_key(&key.id) {
                return Err(self.invalid(format!("access key {} is given twice", key.id)));
            }
            credentials.insert(
                key.id.clone(),
                Credential {
                    access_key_id: key.id.clone(),
                    secret_access_key: key.secret.clone(),
                    session_token: None,
                    expires: None,
                    principal: principal.clone(),
                },
            );
            Ok(())
        };
        for key in cfg.root.iter().flat_map(|r| &r.access_keys) {
            add_key(key, &root)?;
        }

        for u in &cfg.users {
            let what = format!("user {}", u.name);
            let policies = self.policies(&u.policies, &what)?;
            let boundary = match &u.permissions_boundary {
                None => None,
                Some(b) => Some(self.policy(b, &what, 0, PolicyKind::PermissionsBoundary)?),
            };
            // A user the authorization details define gets its keys (and
            // any extra policies, groups and tags) here.
            let user_account = u.account_id.clone().unwrap_or_else(|| account_id.clone());
            if user_account.len() != 12 || !user_account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(self.invalid(format!(
                    "{what}: account_id {user_account:?} is not 12 digits"
                )));
            }
            // Another account's user never merges with one of this account.
            let entry_name = if user_account == account_id {
                u.name.clone()
            } else {
                format!("{user_account}:{}", u.name)
            };
            let user = users.entry(entry_name).or_insert_with(|| {
                new_user(
                    &user_account,
                    &u.name,
                    u.path.as_deref(),
                    u.user_id.clone(),
                    BTreeMap::new(),
                )
            });
            Arc::make_mut(&mut user.principal)
                .tags
                .extend(u.tags.clone());
            user.policies.extend(policies);
            user.groups.extend(u.groups.iter().cloned());
            if boundary.is_some() {
                user.boundary = boundary;
            }
            for key in &u.access_keys {
                add_key(key, &user.principal)?;
            }
        }
        for user in users.values() {
            if let Some(g) = user.groups.iter().find(|g| !groups.contains_key(*g)) {
                return Err(self.invalid(format!(
                    "user {} is in group {g:?}, which is not defined",
                    user.principal.name
                )));
            }
        }

        let mut sessions = Vec::new();
        for s in &cfg.sessions {
            let what = format!("session {}/{}", s.role, s.session_name);
            let role = roles
                .get(&s.role)
                .ok_or_else(|| self.invalid(format!("{what}: role {:?} is not defined", s.role)))?;
            let expires = parse_expiry(&s.expiry).ok_or_else(|| {
                self.invalid(format!("{what}: expiry {:?} is not RFC 3339", s.expiry))
            })?;
            if s.access_key_id.is_empty() || s.secret.is_empty() || s.token.is_empty() {
                return Err(self.invalid(format!(
                    "{what}: access_key_id, secret and token must not be empty"
                )));
            }
            if credentials.contains_key(&s.access_key_id) {
                return Err(self.invalid(format!("access key {} is given twice", s.access_key_id)));
            }
            let policy = match &s.policy {
                None => None,
                Some(p) => Some(self.policy(p, &what, 0, PolicyKind::Session)?),
            };
            let principal = Arc::new(session_principal(&account_id, role, &s.session_name));
            credentials.insert(
                s.access_key_id.clone(),
                Credential {
                    access_key_id: s.access_key_id.clone(),
                    secret_access_key: s.secret.clone(),
                    session_token: Some(s.token.clone()),
                    expires: Some(expires),
                    principal: principal.clone(),
                },
            );
            sessions.push(Session {
                principal,
                role: s.role.clone(),
                policy,
            });
        }

        Ok(AuthConfig {
            account_id,
            region: cfg.region,
            root,
            users,
            groups,
            roles,
            sessions,
            credentials,
        })
    }

    fn policies(&self, refs: &[PolicyRef], owner: &str) -> Result<Vec<NamedPolicy>, ConfigError> {
        refs.iter()
            .enumerate()
            .map(|(i, r)| self.policy(r, owner, i, PolicyKind::Identity))
            .collect()
    }

    /// Resolves one policy reference. Inline policies without a name are
    /// called `<owner>-inline-<n>`; files take their stem.
    fn policy(
        &self,
        r: &PolicyRef,
        owner: &str,
        index: usize,
        kind: PolicyKind,
    ) -> Result<NamedPolicy, ConfigError> {
        let table = match r {
            PolicyRef::Text(t) if t.trim_start().starts_with('{') => PolicyTable {
                name: None,
                file: None,
                json: Some(t.clone()),
                arn: None,
            },
            PolicyRef::Text(t) if t.starts_with("arn:") => PolicyTable {
                name: None,
                file: None,
                json: None,
                arn: Some(t.clone()),
            },
            PolicyRef::Text(t) => PolicyTable {
                name: None,
                file: Some(t.clone()),
                json: None,
                arn: None,
            },
            PolicyRef::Table(t) => t.clone(),
        };
        let owner_slug = owner.replace([' ', '/'], "-");
        let (name, file, text) = match (&table.json, &table.file, &table.arn) {
            (Some(json), None, None) => (
                table
                    .name
                    .clone()
                    .unwrap_or(format!("{owner_slug}-inline-{index}")),
                self.file.clone(),
                json.clone(),
            ),
            (None, Some(rel), None) => {
                let path = self.base_dir.join(rel);
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    file: path.clone(),
                    source,
                })?;
                let stem = Path::new(rel)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| rel.clone());
                (table.name.clone().unwrap_or(stem), path, text)
            }
            (None, None, Some(arn)) => {
                let mut np = self.managed_policy(arn, kind).ok_or_else(|| {
                    self.invalid(format!(
                        "{owner}: managed policy {arn} is not in the authorization details"
                    ))
                })?;
                if let Some(n) = &table.name {
                    np.name = n.clone();
                }
                return Ok(np);
            }
            _ => {
                return Err(self.invalid(format!(
                    "{owner}: a policy table needs exactly one of file, json or arn"
                )))
            }
        };
        let what = format!("{owner}: policy {name}");
        let policy = Policy::parse(&text)
            .and_then(|p| p.check_kind(kind).map(|()| p))
            .map_err(|source| ConfigError::Policy { file, what, source })?;
        Ok(NamedPolicy {
            name,
            kind,
            policy: Arc::new(policy),
        })
    }
}

fn parse_expiry(text: &str) -> Option<SystemTime> {
    let t = chrono::DateTime::parse_from_rfc3339(text.trim()).ok()?;
    let ms = u64::try_from(t.timestamp_millis()).ok()?;
    Some(UNIX_EPOCH + Duration::from_millis(ms))
}

/// A stable unique id, `<prefix>` + 17 characters as AWS's look, derived
/// from the account and name so it survives restarts and reloads.
pub fn synthetic_id(prefix: &str, account_id: &str, name: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = Md5::digest(format!("{prefix}:{account_id}:{name}").as_bytes());
    let mut bits = u128::from_be_bytes(digest.into());
    let mut out = String::from(prefix);
    for _ in 0..17 {
        out.push(char::from(ALPHABET[(bits & 31) as usize]));
        bits >>= 5;
    }
    out
}

fn iam_path(path: Option<&str>) -> String {
    match path {
        None | Some("") => "/".into(),
        Some(p) => {
            let mut p = p.to_string();
            if !p.starts_with('/') {
                p.insert(0, '/');
            }
            if !p.ends_with('/') {
                p.push('/');
            }
            p
        }
    }
}

fn new_user(
    account_id: &str,
    name: &str,
    path: Option<&str>,
    user_id: Option<String>,
    tags: BTreeMap<String, String>,
) -> User {
    User {
        principal: Arc::new(Principal {
            kind: PrincipalKind::User,
            account_id: account_id.to_string(),
            arn: format!("arn:aws:iam::{account_id}:user{}{name}", iam_path(path)),
            principal_id: user_id.unwrap_or_else(|| synthetic_id("AIDA", account_id, name)),
            name: name.to_string(),
            issuer_arn: None,
            tags,
        }),
        policies: Vec::new(),
        groups: Vec::new(),
        boundary: None,
    }
}

fn new_role(account_id: &str, name: &str, path: Option<&str>, role_id: Option<String>) -> Role {
    Role {
        name: name.to_string(),
        arn: format!("arn:aws:iam::{account_id}:role{}{name}", iam_path(path)),
        role_id: role_id.unwrap_or_else(|| synthetic_id("AROA", account_id, name)),
        tags: BTreeMap::new(),
        policies: Vec::new(),
        boundary: None,
    }
}

fn session_principal(account_id: &str, role: &Role, session: &str) -> Principal {
    Principal {
        kind: PrincipalKind::AssumedRole,
        account_id: account_id.to_string(),
        arn: format!(
            "arn:aws:sts::{account_id}:assumed-role/{}/{session}",
            role.name
        ),
        principal_id: format!("{}:{session}", role.role_id),
        name: session.to_string(),
        issuer_arn: Some(role.arn.clone()),
        tags: role.tags.clone(),
    }
}
