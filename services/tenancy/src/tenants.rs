use chrono::Utc;
use kompass_auth::PlatformRole;
use kompass_catalog::{Invalidation, TenantState, entity::tenant};
use kompass_core::{Error, Msg, names, paging};
use kompass_grpc::caller;
use kompass_proto::tenancy::v1::{self as pb, tenant_service_server::TenantService};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};
use tonic::{Request, Response, Status};

use crate::Tenancy;
use crate::convert::{self, NewTenant, tenant_to_pb};
use crate::onboarding;

pub struct Tenants(pub Tenancy);

impl Tenants {
    async fn set_state(&self, name: &str, to: TenantState) -> Result<pb::Tenant, Error> {
        let id = names::tenant(name)?;
        let row = self.0.catalog.require_tenant(&id).await?;
        let from = TenantState::parse(&row.state);
        if from == TenantState::Provisioning {
            return Err(Error::FailedPrecondition(Msg::new(
                format!("tenant {id} is still being onboarded"),
                format!("kommunen {id} håller fortfarande på att läggas upp"),
            )));
        }
        if from == to {
            return Ok(tenant_to_pb(row));
        }
        let mut m = row.into_active_model();
        m.state = Set(to.as_str().into());
        m.updated_at = Set(Utc::now());
        let row = m.update(self.0.catalog.db()).await?;
        self.0
            .catalog
            .invalidate(Invalidation::Tenant(id.clone()))
            .await;
        if to == TenantState::Suspended {
            self.0.dbs.close(&id).await;
        }
        tracing::info!(tenant = %id, state = to.as_str(), "tenant state changed");
        Ok(tenant_to_pb(row))
    }
}

#[tonic::async_trait]
impl TenantService for Tenants {
    async fn create_tenant(
        &self,
        req: Request<pb::CreateTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        caller(&req).require_operator()?;
        let new = NewTenant::try_from(req.into_inner())?;
        tracing::Span::current().record("tenant", new.id.as_str());
        let row = onboarding::onboard(&self.0.catalog, &self.0.dbs, &self.0.tenant_db_prefix, new)
            .await?;
        Ok(Response::new(tenant_to_pb(row)))
    }

    async fn get_tenant(
        &self,
        req: Request<pb::GetTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let c = caller(&req);
        let id = names::tenant(&req.get_ref().name)?;
        if !c.has_role(PlatformRole::Analyst) {
            c.require_member(&id)?;
        }
        Ok(Response::new(placement_for(
            &c,
            tenant_to_pb(self.0.catalog.require_tenant(&id).await?),
        )))
    }

    async fn list_tenants(
        &self,
        req: Request<pb::ListTenantsRequest>,
    ) -> Result<Response<pb::ListTenantsResponse>, Status> {
        let c = caller(&req);
        c.user()?;
        let r = req.into_inner();
        let size = paging::page_size(r.page_size)?;
        let after = paging::decode(&r.page_token)?;
        let mut q = tenant::Entity::find().order_by_asc(tenant::Column::Id);
        if let Some(a) = after {
            q = q.filter(tenant::Column::Id.gt(a));
        }
        // Operators and analysts see every tenant; everyone else their own.
        if !c.is_operator() && !c.has_role(PlatformRole::Analyst) {
            let mine: Vec<String> = c.memberships.keys().map(|t| t.to_string()).collect();
            q = q.filter(tenant::Column::Id.is_in(mine));
        }
        let rows = q
            .limit(size + 1)
            .all(self.0.catalog.db())
            .await
            .map_err(Error::from)?;
        let (rows, next) = paging::finish(rows, size, |t| t.id.clone());
        Ok(Response::new(pb::ListTenantsResponse {
            tenants: rows
                .into_iter()
                .map(|t| placement_for(&c, tenant_to_pb(t)))
                .collect(),
            next_page_token: next,
        }))
    }

    async fn update_tenant(
        &self,
        req: Request<pb::UpdateTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let t = r
            .tenant
            .ok_or_else(|| Error::invalid("tenant is required", "tenant krävs"))?;
        let id = names::tenant(&t.name)?;
        c.require_tenant_admin(&id)?;
        let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            return Err(Error::invalid(
                "update_mask is required: list the fields to change",
                "update_mask krävs: ange fälten som ska ändras",
            )
            .into());
        }
        let row = self.0.catalog.require_tenant(&id).await?;
        let country = match row.country.as_str() {
            "NO" => convert::Country::No,
            "DK" => convert::Country::Dk,
            "FI" => convert::Country::Fi,
            _ => convert::Country::Se,
        };
        let mut m = row.into_active_model();
        for p in &paths {
            match p.as_str() {
                "display_name" => m.display_name = Set(convert::display_name(&t.display_name)?),
                "population" => m.population = Set(convert::population(t.population)?),
                "named_in_comparisons" => m.named_in_comparisons = Set(t.named_in_comparisons),
                "municipality_code" => {
                    m.municipality_code =
                        Set(convert::municipality_code(country, &t.municipality_code)?)
                }
                other => {
                    return Err(Error::invalid(
                        format!("field {other:?} cannot be updated; updatable: display_name, population, named_in_comparisons, municipality_code"),
                        format!("fältet {other:?} kan inte ändras; ändringsbara: display_name, population, named_in_comparisons, municipality_code"),
                    )
                    .into());
                }
            }
        }
        m.updated_at = Set(Utc::now());
        let row = m.update(self.0.catalog.db()).await.map_err(Error::from)?;
        self.0.catalog.invalidate(Invalidation::Tenant(id)).await;
        Ok(Response::new(tenant_to_pb(row)))
    }

    async fn suspend_tenant(
        &self,
        req: Request<pb::SuspendTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        caller(&req).require_operator()?;
        Ok(Response::new(
            self.set_state(&req.get_ref().name, TenantState::Suspended)
                .await?,
        ))
    }

    async fn resume_tenant(
        &self,
        req: Request<pb::ResumeTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        caller(&req).require_operator()?;
        Ok(Response::new(
            self.set_state(&req.get_ref().name, TenantState::Active)
                .await?,
        ))
    }
}

/// Where a tenant's database lives is the operator's business: analysts and
/// the municipality's own users get the tenant without it.
fn placement_for(c: &kompass_auth::Caller, mut t: pb::Tenant) -> pb::Tenant {
    if !c.is_operator() {
        t.database_server.clear();
    }
    t
}
