use chrono::Utc;
use kompass_core::{Error, TenantId, names, paging};
use kompass_grpc::caller;
use kompass_proto::projects::v1::{self as pb, project_service_server::ProjectService};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tonic::{Request, Response, Status};

use crate::Projects;
use crate::entity::project;

pub struct ProjectsApi(pub Projects);

fn to_pb(tenant: &TenantId, m: project::Model) -> pb::Project {
    pb::Project {
        name: format!("tenants/{tenant}/projects/{}", m.id),
        title: m.title,
        create_time: Some(prost_types::Timestamp {
            seconds: m.created_at.timestamp(),
            nanos: 0,
        }),
    }
}

#[tonic::async_trait]
impl ProjectService for ProjectsApi {
    async fn create_project(
        &self,
        req: Request<pb::CreateProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let tenant = names::tenant(&r.parent)?;
        c.require_member(&tenant)?;
        let p = r
            .project
            .ok_or_else(|| Error::invalid("project is required", "project krävs"))?;
        let title = p.title.trim().to_string();
        if title.is_empty() || title.chars().count() > 200 {
            return Err(Error::invalid(
                "title is required and at most 200 characters",
                "titel krävs och får vara högst 200 tecken",
            )
            .into());
        }
        let db = self.0.dir.db(&tenant).await?;
        let row = project::Entity::insert(project::ActiveModel {
            id: Set(uuid::Uuid::now_v7().simple().to_string()),
            title: Set(title),
            created_by: Set(c.user()?.to_string()),
            created_at: Set(Utc::now()),
        })
        .exec_with_returning(&*db)
        .await
        .map_err(Error::from)?;
        Ok(Response::new(to_pb(&tenant, row)))
    }

    async fn get_project(
        &self,
        req: Request<pb::GetProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let c = caller(&req);
        let (tenant, id) = names::tenant_child(&req.get_ref().name, "projects")?;
        c.require_member(&tenant)?;
        let db = self.0.dir.db(&tenant).await?;
        let row = project::Entity::find_by_id(id)
            .one(&*db)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| {
                Error::not_found(
                    format!("project {} does not exist", req.get_ref().name),
                    format!("projektet {} finns inte", req.get_ref().name),
                )
            })?;
        Ok(Response::new(to_pb(&tenant, row)))
    }

    async fn list_projects(
        &self,
        req: Request<pb::ListProjectsRequest>,
    ) -> Result<Response<pb::ListProjectsResponse>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let tenant = names::tenant(&r.parent)?;
        c.require_member(&tenant)?;
        let size = paging::page_size(r.page_size)?;
        let db = self.0.dir.db(&tenant).await?;
        let mut q = project::Entity::find().order_by_asc(project::Column::Id);
        if let Some(a) = paging::decode(&r.page_token)? {
            q = q.filter(project::Column::Id.gt(a));
        }
        let rows = q.limit(size + 1).all(&*db).await.map_err(Error::from)?;
        let (rows, next) = paging::finish(rows, size, |p| p.id.clone());
        Ok(Response::new(pb::ListProjectsResponse {
            projects: rows.into_iter().map(|m| to_pb(&tenant, m)).collect(),
            next_page_token: next,
        }))
    }
}
