use std::collections::{BTreeMap, BTreeSet};

use kompass_core::{Error, TenantId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PlatformRole {
    Operator,
    Evaluator,
    Analyst,
}

impl PlatformRole {
    pub fn as_str(self) -> &'static str {
        match self {
            PlatformRole::Operator => "operator",
            PlatformRole::Evaluator => "evaluator",
            PlatformRole::Analyst => "analyst",
        }
    }
    pub fn parse(s: &str) -> Option<PlatformRole> {
        match s {
            "operator" => Some(PlatformRole::Operator),
            "evaluator" => Some(PlatformRole::Evaluator),
            "analyst" => Some(PlatformRole::Analyst),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TenantRole {
    TenantAdmin,
    Member,
}

impl TenantRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantRole::TenantAdmin => "tenant_admin",
            TenantRole::Member => "member",
        }
    }
    pub fn parse(s: &str) -> Option<TenantRole> {
        match s {
            "tenant_admin" => Some(TenantRole::TenantAdmin),
            "member" => Some(TenantRole::Member),
            _ => None,
        }
    }
}

/// The authenticated caller of one request, built by the auth layer.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// `None` for an anonymous caller (public reports only).
    pub user: Option<UserId>,
    pub platform_roles: BTreeSet<PlatformRole>,
    pub memberships: BTreeMap<TenantId, TenantRole>,
}

impl Caller {
    pub fn anonymous() -> Caller {
        Caller::default()
    }

    pub fn is_anonymous(&self) -> bool {
        self.user.is_none()
    }

    pub fn has_role(&self, r: PlatformRole) -> bool {
        self.platform_roles.contains(&r)
    }

    pub fn is_operator(&self) -> bool {
        self.has_role(PlatformRole::Operator)
    }

    pub fn tenant_role(&self, t: &TenantId) -> Option<TenantRole> {
        self.memberships.get(t).copied()
    }

    /// The user, or UNAUTHENTICATED.
    pub fn user(&self) -> Result<&UserId, Error> {
        self.user.as_ref().ok_or_else(|| {
            Error::unauthenticated(
                "this call needs a bearer token",
                "anropet kräver en bearer-token",
            )
        })
    }

    pub fn require_operator(&self) -> Result<(), Error> {
        self.user()?;
        if self.is_operator() {
            Ok(())
        } else {
            Err(Error::denied(
                "only a platform operator may do this",
                "endast en plattformsoperatör får göra detta",
            ))
        }
    }

    /// Operator, or a member of `t` in any role.
    pub fn require_member(&self, t: &TenantId) -> Result<(), Error> {
        self.user()?;
        if self.is_operator() || self.tenant_role(t).is_some() {
            Ok(())
        } else {
            Err(Error::denied(
                format!("you are not a member of tenant {t}"),
                format!("du är inte medlem i kommunen {t}"),
            ))
        }
    }

    /// Operator, or a tenant admin of `t`.
    pub fn require_tenant_admin(&self, t: &TenantId) -> Result<(), Error> {
        self.user()?;
        if self.is_operator() || self.tenant_role(t) == Some(TenantRole::TenantAdmin) {
            Ok(())
        } else {
            Err(Error::denied(
                format!("only a tenant admin of {t} may do this"),
                format!("endast en administratör i {t} får göra detta"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_checks() {
        let a = TenantId::parse("ostra").unwrap();
        let b = TenantId::parse("vastra").unwrap();
        let c = Caller {
            user: Some(UserId::parse("anna").unwrap()),
            platform_roles: BTreeSet::new(),
            memberships: BTreeMap::from([(a.clone(), TenantRole::Member)]),
        };
        assert!(c.require_member(&a).is_ok());
        assert_eq!(
            c.require_member(&b).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        assert!(c.require_tenant_admin(&a).is_err());
        assert_eq!(
            Caller::anonymous().require_member(&a).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
    }
}
