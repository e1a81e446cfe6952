//! Who may do what to an evaluation, and in which state.

use kompass_auth::{Caller, PlatformRole, TenantRole};
use kompass_core::{Error, Msg, TenantId, UserId, names};
use std::sync::Arc;

use kompass_tenant_db::TenantDb;
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::Assessment;
use crate::entity::{assignment, evaluation};

/// The caller's standing towards one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Operator,
    TenantAdmin,
    Member,
    Lead,
    Peer,
}

impl Role {
    pub fn is_evaluator(self) -> bool {
        matches!(self, Role::Lead | Role::Peer)
    }
    pub fn is_tenant(self) -> bool {
        matches!(self, Role::TenantAdmin | Role::Member)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Draft,
    Fieldwork,
    Scoring,
    Consensus,
    Published,
    Archived,
}

impl State {
    pub const ORDER: [State; 6] = [
        State::Draft,
        State::Fieldwork,
        State::Scoring,
        State::Consensus,
        State::Published,
        State::Archived,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Fieldwork => "fieldwork",
            State::Scoring => "scoring",
            State::Consensus => "consensus",
            State::Published => "published",
            State::Archived => "archived",
        }
    }
    pub fn parse(s: &str) -> State {
        State::ORDER
            .into_iter()
            .find(|x| x.as_str() == s)
            .unwrap_or(State::Draft)
    }
    pub fn label(self) -> String {
        self.as_str().to_uppercase()
    }

    /// Published or archived: nothing changes any more. (Archived is not
    /// necessarily published: see [`Eval::is_published`].)
    pub fn is_final(self) -> bool {
        matches!(self, State::Published | State::Archived)
    }

    /// FAILED_PRECONDITION naming the state unless it is one of `allowed`.
    pub fn require(self, allowed: &[State], action_en: &str, action_sv: &str) -> Result<(), Error> {
        if allowed.contains(&self) {
            return Ok(());
        }
        let want = allowed
            .iter()
            .map(|a| a.label())
            .collect::<Vec<_>>()
            .join(" or ");
        Err(Error::FailedPrecondition(Msg::new(
            format!(
                "evaluation is {}: {action_en} needs it to be {want}",
                self.label()
            ),
            format!(
                "utvärderingen är {}: {action_sv} kräver {want}",
                self.label()
            ),
        )))
    }

    /// Published or archived: locked, no more writes.
    pub fn require_open(self) -> Result<(), Error> {
        if self.is_final() {
            return Err(Error::FailedPrecondition(Msg::new(
                format!(
                    "evaluation is {}: it is locked and can no longer be changed",
                    self.label()
                ),
                format!(
                    "utvärderingen är {}: den är låst och kan inte längre ändras",
                    self.label()
                ),
            )));
        }
        Ok(())
    }
}

/// An evaluation opened for one request.
pub struct Eval {
    pub tenant: TenantId,
    pub user: UserId,
    pub role: Role,
    pub db: TenantDb,
    pub row: evaluation::Model,
}

impl Eval {
    pub fn name(&self) -> String {
        format!("tenants/{}/evaluations/{}", self.tenant, self.row.id)
    }
    pub fn state(&self) -> State {
        State::parse(&self.row.state)
    }
    pub fn is_external(&self) -> bool {
        self.row.kind == "external"
    }
    /// Sealed and published (possibly archived since): its agreed scores and
    /// texts are public. An evaluation archived without publication is not.
    pub fn is_published(&self) -> bool {
        self.row.seal_digest.is_some()
    }

    /// On the evaluation's own team (see [`on_team`]).
    pub fn on_team(&self) -> bool {
        on_team(self.role, &self.row)
    }

    /// Reads agreed scores (see [`may_read_agreed`]).
    pub fn may_read_agreed(&self) -> bool {
        may_read_agreed(self.role, &self.row)
    }

    /// FAILED_PRECONDITION naming the current state unless it is one of
    /// `allowed`. A fast check on the row as read; writes check again under
    /// the lock ([`crate::write::Write`]).
    pub fn require_state(
        &self,
        allowed: &[State],
        action_en: &str,
        action_sv: &str,
    ) -> Result<(), Error> {
        self.state().require(allowed, action_en, action_sv)
    }

    /// Writes are refused once published or archived.
    pub fn require_open(&self) -> Result<(), Error> {
        self.state().require_open()
    }

    pub fn require(&self, ok: bool, en: &str, sv: &str) -> Result<(), Error> {
        if ok {
            Ok(())
        } else {
            Err(Error::denied(en, sv))
        }
    }

    /// Who scores individually: assigned evaluators on an external
    /// evaluation, the municipality's own people on a self-assessment.
    pub fn may_score(&self) -> bool {
        if self.is_external() {
            self.role.is_evaluator()
        } else {
            self.role.is_tenant()
        }
    }

    /// Who sets agreed scores, moves the state and publishes.
    pub fn may_lead(&self) -> bool {
        if self.is_external() {
            matches!(self.role, Role::Lead | Role::Operator)
        } else {
            matches!(self.role, Role::TenantAdmin | Role::Operator)
        }
    }

    /// Who writes texts: evaluators on external, tenant people on self-assessment.
    pub fn may_write_texts(&self) -> bool {
        self.may_score() || self.role == Role::Operator
    }
}

/// On the evaluation's own team: the assigned evaluators and operators of an
/// external evaluation, the municipality's users on a self-assessment. They
/// read individual scores and the consensus spread, in every state.
pub fn on_team(role: Role, row: &evaluation::Model) -> bool {
    role == Role::Operator
        || if row.kind == "external" {
            role.is_evaluator()
        } else {
            role.is_tenant()
        }
}

/// Who reads agreed scores (points and comments), totals of them and
/// comparisons on them: the team always, everyone admitted once the
/// evaluation is published (sealed; archiving afterwards changes nothing,
/// archiving an unpublished one publishes nothing).
pub fn may_read_agreed(role: Role, row: &evaluation::Model) -> bool {
    on_team(role, row) || row.seal_digest.is_some()
}

/// The caller's standing towards another evaluation of the same tenant (the
/// previous one of a next cycle): its role and row, or `None` if the caller
/// has no access to it or it does not exist.
pub async fn related(
    st: &Assessment,
    caller: &Caller,
    tenant: &TenantId,
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<(Role, evaluation::Model)>, Error> {
    let role = match role_for(st, caller, tenant, id).await {
        Ok(r) => r,
        Err(Error::PermissionDenied(_) | Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(evaluation::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|row| (role, row)))
}

/// The caller's role towards an evaluation of `tenant`, decided before the
/// evaluation is even looked up so that nothing leaks to outsiders.
pub async fn role_for(
    st: &Assessment,
    caller: &Caller,
    tenant: &TenantId,
    evaluation_id: &str,
) -> Result<Role, Error> {
    let user = caller.user()?;
    if caller.has_role(PlatformRole::Evaluator) {
        let key = (
            tenant.to_string(),
            evaluation_id.to_string(),
            user.to_string(),
        );
        let load = async {
            Ok(assignment::Entity::find_by_id(key.clone())
                .one(&st.platform)
                .await?
                .map(|a| a.role))
        };
        let role = match st.dir.catalog.access_cache() {
            Some(c) => c.assignment(key.clone(), load).await?,
            None => load.await?,
        };
        if let Some(role) = role {
            return Ok(if role == "lead" {
                Role::Lead
            } else {
                Role::Peer
            });
        }
    }
    if caller.is_operator() {
        return Ok(Role::Operator);
    }
    match caller.tenant_role(tenant) {
        Some(TenantRole::TenantAdmin) => Ok(Role::TenantAdmin),
        Some(TenantRole::Member) => Ok(Role::Member),
        None => Err(Error::denied(
            "you have no access to this evaluation: evaluators see only evaluations they are assigned to, and municipality users only their own municipality's",
            "du har ingen åtkomst till utvärderingen: utvärderare ser bara utvärderingar de är tilldelade, och kommunens användare bara sin egen kommuns",
        )),
    }
}

pub fn no_evaluation(name: &str) -> Error {
    Error::NotFound(Msg::new(
        format!("evaluation {name} does not exist"),
        format!("utvärderingen {name} finns inte"),
    ))
}

/// Opens `tenants/{t}/evaluations/{e}` for the caller.
pub async fn open(st: &Assessment, caller: &Caller, name: &str) -> Result<Eval, Error> {
    let (tenant, id) = names::tenant_child(name, "evaluations")?;
    let role = role_for(st, caller, &tenant, id).await?;
    let db = st.dir.db(&tenant).await?;
    let row = evaluation::Entity::find_by_id(id)
        .one(&*db)
        .await?
        .ok_or_else(|| no_evaluation(name))?;
    st.evaluation_rows
        .insert((tenant.to_string(), id.to_string()), Arc::new(row.clone()));
    Ok(Eval {
        tenant,
        user: caller.user()?.clone(),
        role,
        db,
        row,
    })
}

/// As [`open`], but the row may come from [`Assessment::evaluation_rows`]:
/// only its fields that never change (kind, framework version, previous
/// evaluation, id) may be relied on, not its state or seal. For a write that
/// checks the state itself, in the same statement (the score write).
pub async fn open_fixed(st: &Assessment, caller: &Caller, name: &str) -> Result<Eval, Error> {
    let (tenant, id) = names::tenant_child(name, "evaluations")?;
    let Some(row) = st
        .evaluation_rows
        .get(&(tenant.to_string(), id.to_string()))
    else {
        return open(st, caller, name).await;
    };
    let role = role_for(st, caller, &tenant, id).await?;
    let db = st.dir.db(&tenant).await?;
    Ok(Eval {
        tenant,
        user: caller.user()?.clone(),
        role,
        db,
        row: (*row).clone(),
    })
}

/// Splits `tenants/{t}/evaluations/{e}/{collection}/{id}` into the evaluation
/// name and the child id.
pub fn child<'a>(name: &'a str, collection: &str) -> Result<(String, &'a str), Error> {
    let v = names::parse(name, &["tenants", "*", "evaluations", "*", collection, "*"])?;
    Ok((format!("tenants/{}/evaluations/{}", v[0], v[1]), v[2]))
}
