use chrono::Utc;
use kompass_core::{Error, TenantId, names, paging};
use kompass_grpc::caller;
use kompass_proto::assessment::v1::{self as pb, evaluation_service_server::EvaluationService};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tonic::{Request, Response, Status};

use crate::Assessment;
use crate::entity::evaluation;

pub struct Evaluations(pub Assessment);

fn to_pb(tenant: &TenantId, m: evaluation::Model) -> pb::Evaluation {
    let kind = match m.kind.as_str() {
        "self_assessment" => pb::EvaluationKind::SelfAssessment,
        "external" => pb::EvaluationKind::External,
        _ => pb::EvaluationKind::Unspecified,
    };
    let state = match m.state.as_str() {
        "draft" => pb::evaluation::State::Draft,
        "fieldwork" => pb::evaluation::State::Fieldwork,
        "scoring" => pb::evaluation::State::Scoring,
        "consensus" => pb::evaluation::State::Consensus,
        "published" => pb::evaluation::State::Published,
        "archived" => pb::evaluation::State::Archived,
        _ => pb::evaluation::State::Unspecified,
    };
    pb::Evaluation {
        name: format!("tenants/{tenant}/evaluations/{}", m.id),
        title: m.title,
        kind: kind as i32,
        framework_version: m.framework_version,
        state: state as i32,
        create_time: Some(prost_types::Timestamp {
            seconds: m.created_at.timestamp(),
            nanos: 0,
        }),
        etag: m.version.to_string(),
    }
}

#[tonic::async_trait]
impl EvaluationService for Evaluations {
    async fn create_evaluation(
        &self,
        req: Request<pb::CreateEvaluationRequest>,
    ) -> Result<Response<pb::Evaluation>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let tenant = names::tenant(&r.parent)?;
        c.require_tenant_admin(&tenant)?;
        let e = r
            .evaluation
            .ok_or_else(|| Error::invalid("evaluation is required", "evaluation krävs"))?;
        let title = e.title.trim().to_string();
        if title.is_empty() || title.chars().count() > 200 {
            return Err(Error::invalid(
                "title is required and at most 200 characters",
                "titel krävs och får vara högst 200 tecken",
            )
            .into());
        }
        let kind = match pb::EvaluationKind::try_from(e.kind) {
            Ok(pb::EvaluationKind::SelfAssessment) => "self_assessment",
            Ok(pb::EvaluationKind::External) => "external",
            _ => {
                return Err(Error::invalid(
                    "kind is required: SELF_ASSESSMENT or EXTERNAL",
                    "typ krävs: SELF_ASSESSMENT eller EXTERNAL",
                )
                .into());
            }
        };
        let framework_version = if e.framework_version.is_empty() {
            "frameworks/kommunkompassen/versions/2015".to_string()
        } else {
            e.framework_version
        };
        let db = self.0.dir.db(&tenant).await?;
        let now = Utc::now();
        let row = evaluation::Entity::insert(evaluation::ActiveModel {
            id: Set(uuid::Uuid::now_v7().simple().to_string()),
            title: Set(title),
            kind: Set(kind.into()),
            framework_version: Set(framework_version),
            state: Set("draft".into()),
            version: Set(1),
            created_by: Set(c.user()?.to_string()),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_with_returning(&*db)
        .await
        .map_err(Error::from)?;
        Ok(Response::new(to_pb(&tenant, row)))
    }

    async fn get_evaluation(
        &self,
        req: Request<pb::GetEvaluationRequest>,
    ) -> Result<Response<pb::Evaluation>, Status> {
        let c = caller(&req);
        let (tenant, id) = names::tenant_child(&req.get_ref().name, "evaluations")?;
        c.require_member(&tenant)?;
        let db = self.0.dir.db(&tenant).await?;
        let row = evaluation::Entity::find_by_id(id)
            .one(&*db)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| {
                Error::not_found(
                    format!("evaluation {} does not exist", req.get_ref().name),
                    format!("utvärderingen {} finns inte", req.get_ref().name),
                )
            })?;
        Ok(Response::new(to_pb(&tenant, row)))
    }

    async fn list_evaluations(
        &self,
        req: Request<pb::ListEvaluationsRequest>,
    ) -> Result<Response<pb::ListEvaluationsResponse>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let tenant = names::tenant(&r.parent)?;
        c.require_member(&tenant)?;
        let size = paging::page_size(r.page_size)?;
        let db = self.0.dir.db(&tenant).await?;
        let mut q = evaluation::Entity::find().order_by_asc(evaluation::Column::Id);
        if let Some(a) = paging::decode(&r.page_token)? {
            q = q.filter(evaluation::Column::Id.gt(a));
        }
        let rows = q.limit(size + 1).all(&*db).await.map_err(Error::from)?;
        let (rows, next) = paging::finish(rows, size, |e| e.id.clone());
        Ok(Response::new(pb::ListEvaluationsResponse {
            evaluations: rows.into_iter().map(|m| to_pb(&tenant, m)).collect(),
            next_page_token: next,
        }))
    }
}
