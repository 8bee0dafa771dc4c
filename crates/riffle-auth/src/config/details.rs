//! The JSON that `aws iam get-account-authorization-details` prints: users,
//! groups, roles and managed policies by name, merged into the auth config
//! (access keys are never in it; the TOML adds them by user name).

use super::*;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct Details {
    pub(super) user_detail_list: Vec<UserDetail>,
    pub(super) group_detail_list: Vec<GroupDetail>,
    pub(super) role_detail_list: Vec<RoleDetail>,
    pub(super) policies: Vec<ManagedPolicy>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UserDetail {
    pub(super) path: Option<String>,
    pub(super) user_name: String,
    pub(super) user_id: Option<String>,
    pub(super) arn: Option<String>,
    #[serde(default)]
    pub(super) user_policy_list: Vec<InlinePolicy>,
    #[serde(default)]
    pub(super) group_list: Vec<String>,
    #[serde(default)]
    pub(super) attached_managed_policies: Vec<AttachedPolicy>,
    pub(super) permissions_boundary: Option<BoundaryRef>,
    #[serde(default)]
    pub(super) tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GroupDetail {
    pub(super) group_name: String,
    #[serde(default)]
    pub(super) group_policy_list: Vec<InlinePolicy>,
    #[serde(default)]
    pub(super) attached_managed_policies: Vec<AttachedPolicy>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RoleDetail {
    pub(super) path: Option<String>,
    pub(super) role_name: String,
    pub(super) role_id: Option<String>,
    pub(super) arn: Option<String>,
    #[serde(default)]
    pub(super) role_policy_list: Vec<InlinePolicy>,
    #[serde(default)]
    pub(super) attached_managed_policies: Vec<AttachedPolicy>,
    pub(super) permissions_boundary: Option<BoundaryRef>,
    #[serde(default)]
    pub(super) tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct InlinePolicy {
    pub(super) policy_name: String,
    pub(super) policy_document: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AttachedPolicy {
    pub(super) policy_name: String,
    pub(super) policy_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct BoundaryRef {
    pub(super) permissions_boundary_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Tag {
    pub(super) key: String,
    pub(super) value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ManagedPolicy {
    pub(super) policy_name: String,
    pub(super) arn: String,
    #[serde(default)]
    pub(super) policy_version_list: Vec<PolicyVersion>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PolicyVersion {
    pub(super) document: Value,
    #[serde(default)]
    pub(super) is_default_version: bool,
}

// ---------------------------------------------------------------------------
// The loaded config

impl Loader<'_> {
    pub(super) fn read_details(&self, rel: &str) -> Result<(PathBuf, Details), ConfigError> {
        let file = self.base_dir.join(rel);
        let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let details: Details = serde_json::from_str(&text).map_err(|e| ConfigError::Invalid {
            file: file.clone(),
            message: format!("not authorization-details JSON: {e}"),
        })?;
        Ok((file, details))
    }

    pub(super) fn load_details(
        &mut self,
        file: &Path,
        d: &Details,
        account_id: &str,
        users: &mut BTreeMap<String, User>,
        groups: &mut BTreeMap<String, Vec<NamedPolicy>>,
        roles: &mut BTreeMap<String, Role>,
    ) -> Result<(), ConfigError> {
        let policy_err = |what: String, source: PolicyError| ConfigError::Policy {
            file: file.to_path_buf(),
            what,
            source,
        };
        let doc = |v: &Value, what: String, kind: PolicyKind| -> Result<Arc<Policy>, ConfigError> {
            let p = document(v).map_err(|e| policy_err(what.clone(), e))?;
            p.check_kind(kind).map_err(|e| policy_err(what, e))?;
            Ok(Arc::new(p))
        };

        for mp in &d.policies {
            let what = format!("managed policy {}", mp.arn);
            let version = mp
                .policy_version_list
                .iter()
                .find(|v| v.is_default_version)
                .ok_or_else(|| ConfigError::Invalid {
                    file: file.to_path_buf(),
                    message: format!("{what} has no default version in PolicyVersionList"),
                })?;
            // Managed policies serve as identity policies and boundaries
            // alike; both forbid Principal.
            let policy = doc(&version.document, what, PolicyKind::Identity)?;
            self.managed
                .insert(mp.arn.clone(), (mp.policy_name.clone(), policy));
        }

        let attached =
            |list: &[AttachedPolicy], owner: &str| -> Result<Vec<NamedPolicy>, ConfigError> {
                list.iter()
                    .map(|a| {
                        self.managed_policy(&a.policy_arn, PolicyKind::Identity)
                            .map(|mut np| {
                                np.name = a.policy_name.clone();
                                np
                            })
                            .ok_or_else(|| ConfigError::Invalid {
                                file: file.to_path_buf(),
                                message: format!(
                                    "{owner}: attached policy {} is not in Policies",
                                    a.policy_arn
                                ),
                            })
                    })
                    .collect()
            };
        let boundary = |b: &Option<BoundaryRef>,
                        owner: &str|
         -> Result<Option<NamedPolicy>, ConfigError> {
            match b {
                None => Ok(None),
                Some(b) => self
                    .managed_policy(&b.permissions_boundary_arn, PolicyKind::PermissionsBoundary)
                    .map(Some)
                    .ok_or_else(|| ConfigError::Invalid {
                        file: file.to_path_buf(),
                        message: format!(
                            "{owner}: permissions boundary {} is not in Policies",
                            b.permissions_boundary_arn
                        ),
                    }),
            }
        };
        let inline =
            |list: &[InlinePolicy], owner: &str| -> Result<Vec<NamedPolicy>, ConfigError> {
                list.iter()
                    .map(|ip| {
                        Ok(NamedPolicy {
                            name: ip.policy_name.clone(),
                            kind: PolicyKind::Identity,
                            policy: doc(
                                &ip.policy_document,
                                format!("{owner}: inline policy {}", ip.policy_name),
                                PolicyKind::Identity,
                            )?,
                        })
                    })
                    .collect()
            };

        for g in &d.group_detail_list {
            let owner = format!("group {}", g.group_name);
            let mut policies = inline(&g.group_policy_list, &owner)?;
            policies.extend(attached(&g.attached_managed_policies, &owner)?);
            groups.insert(g.group_name.clone(), policies);
        }
        for r in &d.role_detail_list {
            let owner = format!("role {}", r.role_name);
            let mut role = new_role(
                account_id,
                &r.role_name,
                r.path.as_deref(),
                r.role_id.clone(),
            );
            if let Some(arn) = &r.arn {
                role.arn = arn.clone();
            }
            role.policies = inline(&r.role_policy_list, &owner)?;
            role.policies
                .extend(attached(&r.attached_managed_policies, &owner)?);
            role.boundary = boundary(&r.permissions_boundary, &owner)?;
            role.tags = r
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect();
            roles.insert(r.role_name.clone(), role);
        }
        for u in &d.user_detail_list {
            let owner = format!("user {}", u.user_name);
            let tags = u
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect();
            let mut user = new_user(
                account_id,
                &u.user_name,
                u.path.as_deref(),
                u.user_id.clone(),
                tags,
            );
            if let Some(arn) = &u.arn {
                Arc::make_mut(&mut user.principal).arn = arn.clone();
            }
            user.policies = inline(&u.user_policy_list, &owner)?;
            user.policies
                .extend(attached(&u.attached_managed_policies, &owner)?);
            user.groups = u.group_list.clone();
            user.boundary = boundary(&u.permissions_boundary, &owner)?;
            users.insert(u.user_name.clone(), user);
        }
        Ok(())
    }

    pub(super) fn managed_policy(&self, arn: &str, kind: PolicyKind) -> Option<NamedPolicy> {
        self.managed.get(arn).map(|(name, policy)| NamedPolicy {
            name: name.clone(),
            kind,
            policy: policy.clone(),
        })
    }
}

/// A policy document as the authorization details carry it: a JSON object,
/// or a string holding the JSON, URL-encoded as the IAM API returns it.
fn document(v: &Value) -> Result<Policy, PolicyError> {
    match v {
        Value::String(s) if s.trim_start().starts_with('{') => Policy::parse(s),
        Value::String(s) => {
            let decoded = percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map_err(|e| {
                    PolicyError::Json(format!("URL-encoded document is not UTF-8: {e}"))
                })?;
            Policy::parse(&decoded)
        }
        other => Policy::from_value(other),
    }
}

/// The account of the first ARN in the details.
pub(super) fn details_account(d: &Details) -> Option<String> {
    let arns = d
        .user_detail_list
        .iter()
        .filter_map(|u| u.arn.as_deref())
        .chain(d.role_detail_list.iter().filter_map(|r| r.arn.as_deref()));
    arns.filter_map(|a| a.split(':').nth(4))
        .find(|a| !a.is_empty())
        .map(str::to_string)
}
