//! Who may do what to a project.

use kompass_auth::{Caller, TenantRole};
use kompass_core::{Error, TenantId, UserId};

use crate::entity::project;

/// The caller's standing in one tenant; reading needs membership (or the
/// operator role), so evaluators who are not members see nothing.
pub struct Access {
    pub tenant: TenantId,
    pub user: UserId,
    operator: bool,
    admin: bool,
}

impl Access {
    pub fn new(c: &Caller, tenant: TenantId) -> Result<Access, Error> {
        c.require_member(&tenant)?;
        Ok(Access {
            user: c.user()?.clone(),
            operator: c.is_operator(),
            admin: c.tenant_role(&tenant) == Some(TenantRole::TenantAdmin),
            tenant,
        })
    }

    fn is(&self, who: &Option<String>) -> bool {
        who.as_deref() == Some(self.user.as_str())
    }

    /// Tenant admins and operators start projects.
    pub fn require_create(&self) -> Result<(), Error> {
        if self.operator || self.admin {
            return Ok(());
        }
        Err(Error::denied(
            format!("only a tenant admin of {} may start a project", self.tenant),
            format!(
                "endast en administratör i {} får starta ett projekt",
                self.tenant
            ),
        ))
    }

    /// Plan, milestones, risks, links, communication: admins, the owner,
    /// the project manager, operators.
    pub fn require_edit(&self, p: &project::Model) -> Result<(), Error> {
        if self.operator || self.admin || self.is(&p.owner_user) || self.is(&p.manager_user) {
            return Ok(());
        }
        Err(Error::denied(
            "only the project owner, the project manager or a tenant admin may change the project",
            "endast projektägaren, projektledaren eller en administratör får ändra projektet",
        ))
    }

    /// Phase decisions and the organisation: admins, the owner, operators.
    pub fn require_owner(&self, p: &project::Model, en: &str, sv: &str) -> Result<(), Error> {
        if self.operator || self.admin || self.is(&p.owner_user) {
            return Ok(());
        }
        Err(Error::denied(
            format!("only the project owner or a tenant admin may {en}"),
            format!("endast projektägaren eller en administratör får {sv}"),
        ))
    }

    /// Status reports: the project manager (and operators).
    pub fn require_manager(&self, p: &project::Model) -> Result<(), Error> {
        if self.operator || self.is(&p.manager_user) {
            return Ok(());
        }
        if p.manager_user.is_none() {
            return Err(Error::precondition(
                "the project has no project manager yet: set organisation.project_manager first",
                "projektet har ingen projektledare ännu: ange organisation.project_manager först",
            ));
        }
        Err(Error::denied(
            "only the project manager files status reports",
            "endast projektledaren lämnar lägesrapporter",
        ))
    }
}
