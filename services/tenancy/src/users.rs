use chrono::Utc;
use kompass_auth::{Caller, PlatformRole, TenantRole};
use kompass_catalog::entity::{membership, user};
use kompass_catalog::{Invalidation, NewInvitation};
use kompass_core::{Error, Msg, TenantId, UserId, names, paging};
use kompass_grpc::caller;
use kompass_proto::tenancy::v1::{self as pb, user_service_server::UserService};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};
use tonic::{Request, Response, Status};

use crate::Tenancy;
use crate::convert::{self, membership_name, user_to_pb};

pub struct Users(pub Tenancy);

fn membership_to_pb(m: membership::Model) -> pb::Membership {
    let t = TenantId::parse(&m.tenant_id).expect("catalog holds valid ids");
    let u = UserId::parse(&m.user_id).expect("catalog holds valid ids");
    pb::Membership {
        name: membership_name(&t, &u),
        user: names::user_name(&u),
        role: TenantRole::parse(&m.role)
            .map(convert::tenant_role_to_pb)
            .unwrap_or(pb::TenantRole::Unspecified) as i32,
        create_time: Some(convert::ts(m.created_at)),
    }
}

fn deactivated(id: &UserId) -> Error {
    Error::FailedPrecondition(Msg::new(
        format!("user {id} is deactivated"),
        format!("användaren {id} är avaktiverad"),
    ))
}

impl Users {
    /// The user, or NOT_FOUND; FAILED_PRECONDITION when deactivated.
    async fn require_active_user(&self, id: &UserId) -> Result<user::Model, Error> {
        let u = self.require_user(id).await?;
        if u.delete_time.is_some() {
            return Err(deactivated(id));
        }
        Ok(u)
    }

    async fn require_user(&self, id: &UserId) -> Result<user::Model, Error> {
        self.0.catalog.user(id).await?.ok_or_else(|| {
            Error::NotFound(Msg::new(
                format!("user {id} does not exist"),
                format!("användaren {id} finns inte"),
            ))
        })
    }
}

/// The platform roles a new user (created or invited) is to get, if the
/// caller may give them: tenant admins add colleagues without platform
/// roles; only operators hand out platform roles.
fn new_user_roles(c: &Caller, u: &pb::User) -> Result<Vec<PlatformRole>, Error> {
    let roles = u
        .platform_roles
        .iter()
        .map(|r| convert::platform_role_from_pb(*r))
        .collect::<Result<Vec<_>, _>>()?;
    let is_admin_somewhere = c
        .memberships
        .values()
        .any(|r| *r == TenantRole::TenantAdmin);
    if !(c.is_operator() || (is_admin_somewhere && roles.is_empty())) {
        c.require_operator()?;
    }
    Ok(roles)
}

#[tonic::async_trait]
impl UserService for Users {
    async fn create_user(
        &self,
        req: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let id = UserId::parse(&r.user_id)?;
        let u = r
            .user
            .ok_or_else(|| Error::invalid("user is required", "user krävs"))?;
        let roles = new_user_roles(&c, &u)?;
        let now = Utc::now();
        let row = user::ActiveModel {
            id: Set(id.to_string()),
            email: Set(convert::email(&u.email)?),
            display_name: Set(convert::display_name(&u.display_name)?),
            platform_roles: Set(convert::join_roles(&roles)),
            language: Set(convert::language(&u.language)?),
            created_at: Set(now),
            delete_time: Set(None),
        };
        if self.0.catalog.user(&id).await?.is_some() {
            return Err(Error::AlreadyExists(Msg::new(
                format!("user {id} already exists"),
                format!("användaren {id} finns redan"),
            ))
            .into());
        }
        let row = user::Entity::insert(row)
            .exec_with_returning(self.0.catalog.db())
            .await
            .map_err(Error::from)?;
        // "Unknown user" may be cached for a token that came first.
        self.0.catalog.invalidate(Invalidation::User(id)).await;
        Ok(Response::new(user_to_pb(row)))
    }

    async fn get_user(
        &self,
        req: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let c = caller(&req);
        let id = names::user(&req.get_ref().name)?;
        let me = c.user()?;
        if *me != id && !c.is_operator() {
            // Tenant admins may look up the users of their own tenants.
            let theirs = self.0.catalog.memberships_of(&id).await?;
            let shared = theirs
                .keys()
                .any(|t| c.tenant_role(t) == Some(TenantRole::TenantAdmin));
            if !shared {
                return Err(Error::denied(
                    "you may only read your own user, or users of a tenant you administer",
                    "du får bara läsa din egen användare eller användare i en kommun du administrerar",
                )
                .into());
            }
        }
        Ok(Response::new(user_to_pb(self.require_user(&id).await?)))
    }

    async fn list_users(
        &self,
        req: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        caller(&req).require_operator()?;
        let r = req.into_inner();
        let size = paging::page_size(r.page_size)?;
        let mut q = user::Entity::find().order_by_asc(user::Column::Id);
        if !r.show_deleted {
            q = q.filter(user::Column::DeleteTime.is_null());
        }
        if let Some(a) = paging::decode(&r.page_token)? {
            q = q.filter(user::Column::Id.gt(a));
        }
        let rows = q
            .limit(size + 1)
            .all(self.0.catalog.db())
            .await
            .map_err(Error::from)?;
        let (rows, next) = paging::finish(rows, size, |u| u.id.clone());
        Ok(Response::new(pb::ListUsersResponse {
            users: rows.into_iter().map(user_to_pb).collect(),
            next_page_token: next,
        }))
    }

    async fn update_user(
        &self,
        req: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let u = r
            .user
            .ok_or_else(|| Error::invalid("user is required", "user krävs"))?;
        let id = names::user(&u.name)?;
        let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            return Err(Error::invalid(
                "update_mask is required: list the fields to change",
                "update_mask krävs: ange fälten som ska ändras",
            )
            .into());
        }
        let self_service =
            c.user.as_ref() == Some(&id) && paths.iter().all(|p| p != "platform_roles");
        if !self_service {
            c.require_operator()?;
        }
        let mut m = self.require_active_user(&id).await?.into_active_model();
        for p in &paths {
            match p.as_str() {
                "email" => m.email = Set(convert::email(&u.email)?),
                "display_name" => m.display_name = Set(convert::display_name(&u.display_name)?),
                "language" => m.language = Set(convert::language(&u.language)?),
                "platform_roles" => {
                    let roles = u
                        .platform_roles
                        .iter()
                        .map(|r| convert::platform_role_from_pb(*r))
                        .collect::<Result<Vec<PlatformRole>, _>>()?;
                    m.platform_roles = Set(convert::join_roles(&roles));
                }
                other => {
                    return Err(Error::invalid(
                        format!("field {other:?} cannot be updated; updatable: email, display_name, language, platform_roles"),
                        format!("fältet {other:?} kan inte ändras; ändringsbara: email, display_name, language, platform_roles"),
                    )
                    .into());
                }
            }
        }
        let row = m.update(self.0.catalog.db()).await.map_err(Error::from)?;
        self.0.catalog.invalidate(Invalidation::User(id)).await;
        Ok(Response::new(user_to_pb(row)))
    }

    async fn delete_user(
        &self,
        req: Request<pb::DeleteUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let c = caller(&req);
        c.require_operator()?;
        let id = names::user(&req.get_ref().name)?;
        if c.user.as_ref() == Some(&id) {
            return Err(Error::precondition(
                "you cannot deactivate yourself; ask another operator",
                "du kan inte avaktivera dig själv; be en annan operatör",
            )
            .into());
        }
        let row = self.require_user(&id).await?;
        // Already deactivated: the first deactivation stands (safe to retry).
        if row.delete_time.is_some() {
            return Ok(Response::new(user_to_pb(row)));
        }
        let mut m = row.into_active_model();
        m.delete_time = Set(Some(Utc::now()));
        let row = m.update(self.0.catalog.db()).await.map_err(Error::from)?;
        self.0.catalog.invalidate(Invalidation::User(id)).await;
        Ok(Response::new(user_to_pb(row)))
    }

    async fn create_membership(
        &self,
        req: Request<pb::CreateMembershipRequest>,
    ) -> Result<Response<pb::Membership>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let tenant = names::tenant(&r.parent)?;
        c.require_tenant_admin(&tenant)?;
        let m = r
            .membership
            .ok_or_else(|| Error::invalid("membership is required", "membership krävs"))?;
        let user = names::user(&m.user)?;
        let role = convert::tenant_role_from_pb(m.role)?;
        self.0.catalog.require_tenant(&tenant).await?;
        self.require_active_user(&user).await?;
        let existing = membership::Entity::find_by_id((tenant.to_string(), user.to_string()))
            .one(self.0.catalog.db())
            .await
            .map_err(Error::from)?;
        let row = match existing {
            Some(e) => {
                let mut a = e.into_active_model();
                a.role = Set(role.as_str().into());
                a.update(self.0.catalog.db()).await.map_err(Error::from)?
            }
            None => membership::Entity::insert(membership::ActiveModel {
                tenant_id: Set(tenant.to_string()),
                user_id: Set(user.to_string()),
                role: Set(role.as_str().into()),
                created_at: Set(Utc::now()),
            })
            .exec_with_returning(self.0.catalog.db())
            .await
            .map_err(Error::from)?,
        };
        self.0.catalog.invalidate(Invalidation::User(user)).await;
        Ok(Response::new(membership_to_pb(row)))
    }

    async fn list_memberships(
        &self,
        req: Request<pb::ListMembershipsRequest>,
    ) -> Result<Response<pb::ListMembershipsResponse>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let size = paging::page_size(r.page_size)?;
        let mut q = membership::Entity::find()
            .order_by_asc(membership::Column::TenantId)
            .order_by_asc(membership::Column::UserId);
        if r.parent == "tenants/-" {
            let user = names::user(&r.user)?;
            if c.user()? != &user {
                c.require_operator()?;
            }
            q = q.filter(membership::Column::UserId.eq(user.as_str()));
        } else {
            let tenant = names::tenant(&r.parent)?;
            c.require_member(&tenant)?;
            q = q.filter(membership::Column::TenantId.eq(tenant.as_str()));
            if !r.user.is_empty() {
                q = q.filter(membership::Column::UserId.eq(names::user(&r.user)?.as_str()));
            }
        }
        if let Some(after) = paging::decode(&r.page_token)? {
            let (t, u) = after.split_once('/').unwrap_or((after.as_str(), ""));
            q = q.filter(
                sea_orm::Condition::any()
                    .add(membership::Column::TenantId.gt(t))
                    .add(
                        sea_orm::Condition::all()
                            .add(membership::Column::TenantId.eq(t))
                            .add(membership::Column::UserId.gt(u)),
                    ),
            );
        }
        let rows = q
            .limit(size + 1)
            .all(self.0.catalog.db())
            .await
            .map_err(Error::from)?;
        let (rows, next) = paging::finish(rows, size, |m| format!("{}/{}", m.tenant_id, m.user_id));
        Ok(Response::new(pb::ListMembershipsResponse {
            memberships: rows.into_iter().map(membership_to_pb).collect(),
            next_page_token: next,
        }))
    }

    async fn delete_membership(
        &self,
        req: Request<pb::DeleteMembershipRequest>,
    ) -> Result<Response<pb::DeleteMembershipResponse>, Status> {
        let c = caller(&req);
        let v = names::parse(&req.get_ref().name, &["tenants", "*", "memberships", "*"])?;
        let tenant = TenantId::parse(v[0])?;
        let user = UserId::parse(v[1])?;
        c.require_tenant_admin(&tenant)?;
        let res = membership::Entity::delete_by_id((tenant.to_string(), user.to_string()))
            .exec(self.0.catalog.db())
            .await
            .map_err(Error::from)?;
        if res.rows_affected == 0 {
            return Err(Error::not_found(
                format!("{user} is not a member of {tenant}"),
                format!("{user} är inte medlem i {tenant}"),
            )
            .into());
        }
        self.0.catalog.invalidate(Invalidation::User(user)).await;
        Ok(Response::new(pb::DeleteMembershipResponse {}))
    }

    async fn get_caller(
        &self,
        req: Request<pb::GetCallerRequest>,
    ) -> Result<Response<pb::Caller>, Status> {
        let c = caller(&req);
        let me = c.user()?.clone();
        Ok(Response::new(pb::Caller {
            user: names::user_name(&me),
            platform_roles: c
                .platform_roles
                .iter()
                .map(|r| convert::platform_role_to_pb(*r) as i32)
                .collect(),
            memberships: c
                .memberships
                .iter()
                .map(|(t, r)| pb::Membership {
                    name: membership_name(t, &me),
                    user: names::user_name(&me),
                    role: convert::tenant_role_to_pb(*r) as i32,
                    create_time: None,
                })
                .collect(),
        }))
    }

    async fn invite_user(
        &self,
        req: Request<pb::InviteUserRequest>,
    ) -> Result<Response<pb::InviteUserResponse>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let u = r
            .user
            .ok_or_else(|| Error::invalid("user is required", "user krävs"))?;
        let roles = new_user_roles(&c, &u)?;
        let user_id = match r.user_id.as_str() {
            "" => None,
            id => Some(UserId::parse(id)?),
        };
        let inv = NewInvitation {
            user_id,
            email: convert::email(&u.email)?,
            display_name: convert::display_name(&u.display_name)?,
            platform_roles: convert::join_roles(&roles),
            language: convert::language(&u.language)?,
            invited_by: c.user()?.clone(),
        };
        let (user, invitation) = self.0.catalog.invite(inv).await?;
        Ok(Response::new(pb::InviteUserResponse {
            user: Some(user_to_pb(user)),
            expire_time: Some(convert::ts(invitation.expires_at)),
        }))
    }
}
