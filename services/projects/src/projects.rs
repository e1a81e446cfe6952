//! ProjectService: projects, plan, organisation, links, phase decisions and
//! coverage of an evaluation's improvement opportunities.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use kompass_core::{Error, Msg, TenantId, names, paging};
use kompass_grpc::caller;
use kompass_proto::projects::v1::{self as pb, project_service_server::ProjectService};
use prost::Message;
use sea_orm::sea_query::{Expr, IntoIden};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Value,
};
use tonic::{Request, Response, Status};

use crate::access::Access;
use crate::assessment::Forward;
use crate::domain::{self, Outcome, Phase, Verdict};
use crate::entity::{budget_line, decision, link, project};
use crate::model::{self, BudgetLine, Link, Organisation};
use crate::util::{self, Db, text, to_json};
use crate::{Projects, documents, load, parts, portfolio};

pub const PHASE_CHANGED_TOPIC: &str = "project.phase_changed";
pub const STATUS_REPORT_FILED_TOPIC: &str = "project.status_report_filed";

pub struct ProjectsApi(pub Projects);

/// Updates `set` on the row with `id` if its version is still `version`;
/// false when someone else changed it first.
pub async fn versioned_update<E: EntityTrait>(
    tx: &impl ConnectionTrait,
    id: (E::Column, &str),
    version: (E::Column, i64),
    set: Vec<(E::Column, Value)>,
) -> Result<bool, Error> {
    let mut q = E::update_many().col_expr(version.0, Expr::value(version.1 + 1));
    for (c, v) in set {
        q = q.col_expr(c.into_iden(), Expr::value(v));
    }
    let res = q
        .filter(id.0.eq(id.1))
        .filter(version.0.eq(version.1))
        .exec(tx)
        .await?;
    Ok(res.rows_affected > 0)
}

/// The plan fields of a request, validated.
struct PlanIn {
    background: String,
    purpose: String,
    effect_goal: String,
    goals: Vec<model::Goal>,
    strategies: Vec<String>,
    delimitations: Vec<String>,
    prerequisites: Vec<String>,
    budget: Vec<BudgetLine>,
}

impl TryFrom<pb::Plan> for PlanIn {
    type Error = Error;
    fn try_from(p: pb::Plan) -> Result<PlanIn, Error> {
        Ok(PlanIn {
            background: text("plan.background", &p.background, model::MAX_TEXT, false)?,
            purpose: text("plan.purpose", &p.purpose, model::MAX_TEXT, false)?,
            effect_goal: text("plan.effect_goal", &p.effect_goal, model::MAX_TEXT, false)?,
            goals: model::goals(p.result_goals)?,
            strategies: util::texts("plan.strategies", &p.strategies, model::MAX_TEXT)?,
            delimitations: util::texts("plan.delimitations", &p.delimitations, model::MAX_TEXT)?,
            prerequisites: util::texts("plan.prerequisites", &p.prerequisites, model::MAX_TEXT)?,
            budget: model::budget_lines(p.budget_lines)?,
        })
    }
}

fn kind(v: i32) -> Result<&'static str, Error> {
    match pb::project::Kind::try_from(v) {
        Ok(pb::project::Kind::Unspecified | pb::project::Kind::Project) => Ok("project"),
        Ok(pb::project::Kind::Assignment) => Ok("assignment"),
        Err(_) => Err(Error::invalid(
            "kind must be PROJECT or ASSIGNMENT",
            "kind måste vara PROJECT (projekt) eller ASSIGNMENT (uppdrag)",
        )),
    }
}

fn check_dates(start: &str, end: &str) -> Result<(), Error> {
    if !start.is_empty() && !end.is_empty() && end < start {
        return Err(Error::InvalidArgument(Msg::new(
            format!("end_date {end} is before start_date {start}"),
            format!("end_date {end} ligger före start_date {start}"),
        )));
    }
    Ok(())
}

fn budget_rows(project_id: &str, v: &[BudgetLine]) -> Vec<budget_line::ActiveModel> {
    v.iter()
        .enumerate()
        .map(|(i, b)| budget_line::ActiveModel {
            id: Set(util::new_id()),
            project_id: Set(project_id.into()),
            position: Set(i as i32 + 1),
            description: Set(b.description.clone()),
            amount_centi: Set(b.amount_centi),
            currency: Set(b.currency.as_str().into()),
            funder: Set(b.funder.clone()),
        })
        .collect()
}

fn link_rows(project_id: &str, v: &[Link]) -> Vec<link::ActiveModel> {
    v.iter()
        .map(|l| link::ActiveModel {
            project_id: Set(project_id.into()),
            target: Set(l.name().into()),
            kind: Set(l.kind().into()),
            evaluation: Set(l.evaluation().into()),
        })
        .collect()
}

async fn replace_budget(
    tx: &impl ConnectionTrait,
    id: &str,
    v: &[BudgetLine],
) -> Result<(), Error> {
    budget_line::Entity::delete_many()
        .filter(budget_line::Column::ProjectId.eq(id))
        .exec(tx)
        .await?;
    if !v.is_empty() {
        budget_line::Entity::insert_many(budget_rows(id, v))
            .exec(tx)
            .await?;
    }
    Ok(())
}

async fn replace_links(tx: &impl ConnectionTrait, id: &str, v: &[Link]) -> Result<(), Error> {
    link::Entity::delete_many()
        .filter(link::Column::ProjectId.eq(id))
        .exec(tx)
        .await?;
    if !v.is_empty() {
        link::Entity::insert_many(link_rows(id, v)).exec(tx).await?;
    }
    Ok(())
}

/// A project read back after a write (basic view).
async fn reload(db: &Db, t: &TenantId, id: &str) -> Result<pb::Project, Error> {
    let row = load::project_row(db, t, id).await?;
    Ok(load::projects(db, t, vec![row], false)
        .await?
        .pop()
        .expect("one project"))
}

const UPDATABLE: &str = "title, kind, start_date, end_date, plan, plan.background, plan.purpose, plan.effect_goal, plan.result_goals, plan.strategies, plan.delimitations, plan.prerequisites, plan.budget_lines, organisation, improvement_opportunities, questions, communications";

#[tonic::async_trait]
impl ProjectService for ProjectsApi {
    async fn create_project(
        &self,
        req: Request<pb::CreateProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let fwd = Forward::from(req.metadata());
        let c = caller(&req);
        let r = req.into_inner();
        let tenant = names::tenant(&r.parent)?;
        let acc = Access::new(&c, tenant.clone())?;
        acc.require_create()?;
        let p = r
            .project
            .ok_or_else(|| Error::invalid("project is required", "project krävs"))?;
        let title = text("title", &p.title, 200, true)?;
        let kind = kind(p.kind)?;
        let start = util::date("start_date", &p.start_date, false)?;
        let end = util::date("end_date", &p.end_date, false)?;
        check_dates(&start, &end)?;
        let plan = PlanIn::try_from(p.plan.unwrap_or_default())?;
        let mut org = p
            .organisation
            .map(Organisation::try_from)
            .transpose()?
            .unwrap_or_default();
        if org.owner.is_none() {
            org.owner = Some(model::Person {
                user: acc.user.to_string(),
                display_name: String::new(),
                role: String::new(),
            });
        }
        let comms = model::communications(p.communications)?;
        let links = model::links(&p.improvement_opportunities, &p.questions)?;
        self.0.assessment.check_links(&fwd, &tenant, &links).await?;

        let db = Db::open(&self.0.dir, &tenant).await?;
        let id = util::new_id();
        let now = Utc::now();
        let tx = kompass_tenant_db::begin_write(&db.conn)
            .await
            .map_err(Error::from)?;
        project::Entity::insert(project::ActiveModel {
            id: Set(id.clone()),
            title: Set(title),
            kind: Set(kind.into()),
            phase: Set(Phase::Idea.as_str().into()),
            outcome: Set(String::new()),
            start_date: Set(start),
            end_date: Set(end),
            background: Set(plan.background),
            purpose: Set(plan.purpose),
            effect_goal: Set(plan.effect_goal),
            result_goals: Set(to_json(&plan.goals)),
            strategies: Set(to_json(&plan.strategies)),
            delimitations: Set(to_json(&plan.delimitations)),
            prerequisites: Set(to_json(&plan.prerequisites)),
            owner_user: Set(org.owner_user()),
            manager_user: Set(org.manager_user()),
            organisation: Set(to_json(&org)),
            communications: Set(to_json(&comms)),
            created_by: Set(acc.user.to_string()),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
        })
        .exec(&tx)
        .await
        .map_err(Error::from)?;
        replace_budget(&tx, &id, &plan.budget).await?;
        replace_links(&tx, &id, &links).await?;
        portfolio::enqueue_changed(&tx, &tenant, &id).await?;
        tx.commit().await.map_err(Error::from)?;
        self.0.relay.kick(&tenant);
        Ok(Response::new(reload(&db, &tenant, &id).await?))
    }

    async fn get_project(
        &self,
        req: Request<pb::GetProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let (tenant, id) = names::tenant_child(&r.name, "projects")?;
        Access::new(&c, tenant.clone())?;
        let full = match pb::ProjectView::try_from(r.view) {
            Ok(pb::ProjectView::Full) => true,
            Ok(_) => false,
            Err(_) => {
                return Err(Error::invalid(
                    "view must be BASIC or FULL",
                    "view måste vara BASIC eller FULL",
                )
                .into());
            }
        };
        let db = Db::open(&self.0.dir, &tenant).await?;
        let row = load::project_row(&db, &tenant, id).await?;
        let p = load::projects(&db, &tenant, vec![row], full)
            .await?
            .pop()
            .expect("one project");
        let mut resp = Response::new(p);
        resp.metadata_mut()
            .insert("x-kompass-sql-statements", db.statements().into());
        Ok(resp)
    }

    async fn list_projects(
        &self,
        req: Request<pb::ListProjectsRequest>,
    ) -> Result<Response<pb::ListProjectsResponse>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let tenant = names::tenant(&r.parent)?;
        Access::new(&c, tenant.clone())?;
        let size = paging::page_size(r.page_size)?;
        let db = Db::open(&self.0.dir, &tenant).await?;
        let mut q = project::Entity::find().order_by_asc(project::Column::Id);
        if let Some(a) = paging::decode(&r.page_token)? {
            q = q.filter(project::Column::Id.gt(a));
        }
        let rows = q.limit(size + 1).all(&*db).await.map_err(Error::from)?;
        let (rows, next) = paging::finish(rows, size, |p| p.id.clone());
        Ok(Response::new(pb::ListProjectsResponse {
            projects: load::projects(&db, &tenant, rows, false).await?,
            next_page_token: next,
        }))
    }

    async fn update_project(
        &self,
        req: Request<pb::UpdateProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let fwd = Forward::from(req.metadata());
        let c = caller(&req);
        let r = req.into_inner();
        let p = r
            .project
            .ok_or_else(|| Error::invalid("project is required", "project krävs"))?;
        let paths = util::required_mask(r.update_mask)?;
        let (tenant, id) = names::tenant_child(&p.name, "projects")?;
        let acc = Access::new(&c, tenant.clone())?;
        let db = Db::open(&self.0.dir, &tenant).await?;
        let row = load::project_row(&db, &tenant, id).await?;
        acc.require_edit(&row)?;
        util::check_etag(&p.etag, row.version, "the project")?;

        use project::Column as C;
        let mut set: Vec<(C, Value)> = vec![(C::UpdatedAt, Utc::now().into())];
        let mut budget: Option<Vec<BudgetLine>> = None;
        let mut links: Option<Vec<Link>> = None;
        let (mut start, mut end) = (row.start_date.clone(), row.end_date.clone());
        let plan = p.plan.clone().unwrap_or_default();
        let paths: BTreeSet<String> = paths.into_iter().collect();
        for path in &paths {
            let sub = |f: &str| path == "plan" || path == &format!("plan.{f}");
            match path.as_str() {
                "title" => set.push((C::Title, text("title", &p.title, 200, true)?.into())),
                "kind" => set.push((C::Kind, kind(p.kind)?.into())),
                "start_date" => start = util::date("start_date", &p.start_date, false)?,
                "end_date" => end = util::date("end_date", &p.end_date, false)?,
                "plan" | "plan.background" | "plan.purpose" | "plan.effect_goal"
                | "plan.result_goals" | "plan.strategies" | "plan.delimitations"
                | "plan.prerequisites" | "plan.budget_lines" => {
                    if sub("background") {
                        let v = text("plan.background", &plan.background, model::MAX_TEXT, false)?;
                        set.push((C::Background, v.into()));
                    }
                    if sub("purpose") {
                        let v = text("plan.purpose", &plan.purpose, model::MAX_TEXT, false)?;
                        set.push((C::Purpose, v.into()));
                    }
                    if sub("effect_goal") {
                        let v = text(
                            "plan.effect_goal",
                            &plan.effect_goal,
                            model::MAX_TEXT,
                            false,
                        )?;
                        set.push((C::EffectGoal, v.into()));
                    }
                    if sub("result_goals") {
                        let v = model::goals(plan.result_goals.clone())?;
                        set.push((C::ResultGoals, to_json(&v).into()));
                    }
                    if sub("strategies") {
                        let v = util::texts("plan.strategies", &plan.strategies, model::MAX_TEXT)?;
                        set.push((C::Strategies, to_json(&v).into()));
                    }
                    if sub("delimitations") {
                        let v = util::texts(
                            "plan.delimitations",
                            &plan.delimitations,
                            model::MAX_TEXT,
                        )?;
                        set.push((C::Delimitations, to_json(&v).into()));
                    }
                    if sub("prerequisites") {
                        let v = util::texts(
                            "plan.prerequisites",
                            &plan.prerequisites,
                            model::MAX_TEXT,
                        )?;
                        set.push((C::Prerequisites, to_json(&v).into()));
                    }
                    if sub("budget_lines") {
                        budget = Some(model::budget_lines(plan.budget_lines.clone())?);
                    }
                }
                "organisation" => {
                    acc.require_owner(
                        &row,
                        "change the project organisation",
                        "ändra projektorganisationen",
                    )?;
                    let org = Organisation::try_from(p.organisation.clone().unwrap_or_default())?;
                    if org.owner.is_none() {
                        return Err(Error::invalid(
                            "organisation.owner is required: a project always has an owner",
                            "organisation.owner krävs: ett projekt har alltid en ägare",
                        )
                        .into());
                    }
                    set.push((C::OwnerUser, org.owner_user().into()));
                    set.push((C::ManagerUser, org.manager_user().into()));
                    set.push((C::Organisation, to_json(&org).into()));
                }
                "improvement_opportunities" | "questions" => {
                    if links.is_none() {
                        let mut cur =
                            load::parts(&db, std::slice::from_ref(&row.id), false).await?;
                        let current =
                            load::project_pb(&tenant, row.clone(), &mut cur, util::today());
                        let opps = if paths.contains("improvement_opportunities") {
                            p.improvement_opportunities.clone()
                        } else {
                            current.improvement_opportunities
                        };
                        let qs = if paths.contains("questions") {
                            p.questions.clone()
                        } else {
                            current.questions
                        };
                        links = Some(model::links(&opps, &qs)?);
                    }
                }
                "communications" => {
                    let v = model::communications(p.communications.clone())?;
                    set.push((C::Communications, to_json(&v).into()));
                }
                other => return Err(util::unknown_field(other, UPDATABLE).into()),
            }
        }
        check_dates(&start, &end)?;
        set.push((C::StartDate, start.into()));
        set.push((C::EndDate, end.into()));
        if let Some(l) = &links {
            self.0.assessment.check_links(&fwd, &tenant, l).await?;
        }
        let tx = kompass_tenant_db::begin_write(&db.conn)
            .await
            .map_err(Error::from)?;
        if !versioned_update::<project::Entity>(
            &tx,
            (C::Id, &row.id),
            (C::Version, row.version),
            set,
        )
        .await?
        {
            return Err(util::stale(&p.etag, row.version + 1, "the project").into());
        }
        if let Some(b) = &budget {
            replace_budget(&tx, &row.id, b).await?;
        }
        if let Some(l) = &links {
            replace_links(&tx, &row.id, l).await?;
        }
        portfolio::enqueue_changed(&tx, &tenant, &row.id).await?;
        tx.commit().await.map_err(Error::from)?;
        self.0.relay.kick(&tenant);
        Ok(Response::new(reload(&db, &tenant, &row.id).await?))
    }

    async fn decide_project_phase(
        &self,
        req: Request<pb::DecideProjectPhaseRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let (tenant, id) = names::tenant_child(&r.name, "projects")?;
        let acc = Access::new(&c, tenant.clone())?;
        let verdict = Verdict::from_pb(r.verdict)?;
        let requested = Phase::from_pb(r.phase);
        let text = text("decision", &r.decision, model::MAX_TEXT, true)?;
        let db = Db::open(&self.0.dir, &tenant).await?;
        let row = load::project_row(&db, &tenant, id).await?;
        acc.require_owner(
            &row,
            "decide at a decision point",
            "fatta beslut vid en beslutspunkt",
        )?;
        util::check_etag(&r.etag, row.version, "the project")?;
        let current = Phase::parse(&row.phase);
        let (to, outcome) = domain::decide(current, load::outcome_of(&row), verdict, requested)?;

        let now = Utc::now();
        let d = decision::Model {
            id: util::new_id(),
            project_id: row.id.clone(),
            from_phase: current.as_str().into(),
            to_phase: to.as_str().into(),
            verdict: verdict.as_str().into(),
            decision: text,
            decided_by: acc.user.to_string(),
            decided_at: now,
        };
        let links = link::Entity::find()
            .filter(link::Column::ProjectId.eq(row.id.as_str()))
            .filter(link::Column::Kind.eq("opportunity"))
            .order_by_asc(link::Column::Target)
            .all(&*db)
            .await
            .map_err(Error::from)?;
        let mut event = pb::ProjectPhaseChangedEvent {
            project: load::project_name(&tenant, &row.id),
            title: row.title.clone(),
            decision: Some(load::decision_pb(&d)),
            outcome: Outcome::to_pb(outcome) as i32,
            improvement_opportunities: links.into_iter().map(|l| l.target).collect(),
            summary: None,
        };
        use project::Column as C;
        let tx = kompass_tenant_db::begin_write(&db.conn)
            .await
            .map_err(Error::from)?;
        let set = vec![
            (C::Phase, to.as_str().into()),
            (C::Outcome, outcome.map(|o| o.as_str()).unwrap_or("").into()),
            (C::UpdatedAt, now.into()),
        ];
        if !versioned_update::<project::Entity>(
            &tx,
            (C::Id, &row.id),
            (C::Version, row.version),
            set,
        )
        .await?
        {
            return Err(util::stale(&r.etag, row.version + 1, "the project").into());
        }
        decision::Entity::insert(decision::ActiveModel {
            id: Set(d.id),
            project_id: Set(d.project_id),
            from_phase: Set(d.from_phase),
            to_phase: Set(d.to_phase),
            verdict: Set(d.verdict),
            decision: Set(d.decision),
            decided_by: Set(d.decided_by),
            decided_at: Set(d.decided_at),
        })
        .exec(&tx)
        .await
        .map_err(Error::from)?;
        event.summary = Some(portfolio::summary(&tx, &tenant, &row.id).await?);
        kompass_events::enqueue(
            &tx,
            crate::relay::OUTBOX,
            PHASE_CHANGED_TOPIC,
            event.encode_to_vec(),
        )
        .await
        .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        self.0.relay.kick(&tenant);
        Ok(Response::new(reload(&db, &tenant, &row.id).await?))
    }

    async fn get_evaluation_coverage(
        &self,
        req: Request<pb::GetEvaluationCoverageRequest>,
    ) -> Result<Response<pb::EvaluationCoverage>, Status> {
        let fwd = Forward::from(req.metadata());
        let c = caller(&req);
        let r = req.into_inner();
        let (tenant, _) = names::tenant_child(&r.evaluation, "evaluations")?;
        Access::new(&c, tenant.clone())?;
        let opps = self
            .0
            .assessment
            .opportunities(&fwd, &tenant, &r.evaluation)
            .await?;
        let db = Db::open(&self.0.dir, &tenant).await?;
        let links = link::Entity::find()
            .filter(link::Column::Evaluation.eq(r.evaluation.as_str()))
            .filter(link::Column::Kind.eq("opportunity"))
            .all(&*db)
            .await
            .map_err(Error::from)?;
        let ids: BTreeSet<String> = links.iter().map(|l| l.project_id.clone()).collect();
        let projects: BTreeMap<String, project::Model> = if ids.is_empty() {
            BTreeMap::new()
        } else {
            project::Entity::find()
                .filter(project::Column::Id.is_in(ids))
                .all(&*db)
                .await
                .map_err(Error::from)?
                .into_iter()
                .map(|p| (p.id.clone(), p))
                .collect()
        };
        let mut by_target: BTreeMap<&str, Vec<pb::ProjectSummary>> = BTreeMap::new();
        for l in &links {
            if let Some(p) = projects.get(&l.project_id) {
                by_target
                    .entry(l.target.as_str())
                    .or_default()
                    .push(pb::ProjectSummary {
                        name: load::project_name(&tenant, &p.id),
                        title: p.title.clone(),
                        phase: Phase::parse(&p.phase).to_pb() as i32,
                        outcome: Outcome::to_pb(load::outcome_of(p)) as i32,
                    });
            }
        }
        let mut out = pb::EvaluationCoverage {
            evaluation: r.evaluation.clone(),
            ..Default::default()
        };
        for o in opps {
            let projects = by_target.remove(o.name.as_str()).unwrap_or_default();
            if projects.is_empty() {
                out.unaddressed.push(o.name.clone());
            }
            out.opportunities.push(pb::OpportunityCoverage {
                improvement_opportunity: o.name,
                area: o.area,
                text: o.text,
                projects,
            });
        }
        Ok(Response::new(out))
    }

    async fn create_milestone(
        &self,
        req: Request<pb::CreateMilestoneRequest>,
    ) -> Result<Response<pb::Milestone>, Status> {
        parts::create_milestone(&self.0, req).await
    }
    async fn list_milestones(
        &self,
        req: Request<pb::ListMilestonesRequest>,
    ) -> Result<Response<pb::ListMilestonesResponse>, Status> {
        parts::list_milestones(&self.0, req).await
    }
    async fn update_milestone(
        &self,
        req: Request<pb::UpdateMilestoneRequest>,
    ) -> Result<Response<pb::Milestone>, Status> {
        parts::update_milestone(&self.0, req).await
    }
    async fn delete_milestone(
        &self,
        req: Request<pb::DeleteMilestoneRequest>,
    ) -> Result<Response<()>, Status> {
        parts::delete_milestone(&self.0, req).await
    }
    async fn create_activity(
        &self,
        req: Request<pb::CreateActivityRequest>,
    ) -> Result<Response<pb::Activity>, Status> {
        parts::create_activity(&self.0, req).await
    }
    async fn update_activity(
        &self,
        req: Request<pb::UpdateActivityRequest>,
    ) -> Result<Response<pb::Activity>, Status> {
        parts::update_activity(&self.0, req).await
    }
    async fn delete_activity(
        &self,
        req: Request<pb::DeleteActivityRequest>,
    ) -> Result<Response<()>, Status> {
        parts::delete_activity(&self.0, req).await
    }
    async fn create_risk(
        &self,
        req: Request<pb::CreateRiskRequest>,
    ) -> Result<Response<pb::Risk>, Status> {
        parts::create_risk(&self.0, req).await
    }
    async fn list_risks(
        &self,
        req: Request<pb::ListRisksRequest>,
    ) -> Result<Response<pb::ListRisksResponse>, Status> {
        parts::list_risks(&self.0, req).await
    }
    async fn update_risk(
        &self,
        req: Request<pb::UpdateRiskRequest>,
    ) -> Result<Response<pb::Risk>, Status> {
        parts::update_risk(&self.0, req).await
    }
    async fn delete_risk(
        &self,
        req: Request<pb::DeleteRiskRequest>,
    ) -> Result<Response<()>, Status> {
        parts::delete_risk(&self.0, req).await
    }
    async fn get_risk_matrix(
        &self,
        req: Request<pb::GetRiskMatrixRequest>,
    ) -> Result<Response<pb::RiskMatrix>, Status> {
        parts::get_risk_matrix(&self.0, req).await
    }
    async fn create_status_report(
        &self,
        req: Request<pb::CreateStatusReportRequest>,
    ) -> Result<Response<pb::StatusReport>, Status> {
        parts::create_status_report(&self.0, req).await
    }
    async fn get_status_report(
        &self,
        req: Request<pb::GetStatusReportRequest>,
    ) -> Result<Response<pb::StatusReport>, Status> {
        parts::get_status_report(&self.0, req).await
    }
    async fn list_status_reports(
        &self,
        req: Request<pb::ListStatusReportsRequest>,
    ) -> Result<Response<pb::ListStatusReportsResponse>, Status> {
        parts::list_status_reports(&self.0, req).await
    }

    async fn export_project_plan(
        &self,
        req: Request<pb::ExportProjectPlanRequest>,
    ) -> Result<Response<pb::ProjectDocument>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let lang = documents::lang(&r.language);
        // Read through GetProject: the same access rules and the same data.
        let mut get = Request::new(pb::GetProjectRequest {
            name: r.name.clone(),
            view: pb::ProjectView::Full as i32,
        });
        get.extensions_mut().insert(c);
        let p = self.get_project(get).await?.into_inner();
        let bytes = tokio::task::spawn_blocking(move || documents::project_plan(&p, lang))
            .await
            .map_err(|e| Error::internal(format!("pdf: {e}")))??;
        Ok(Response::new(pb::ProjectDocument {
            filename: format!("{}-plan.pdf", r.name.replace('/', "-")),
            content_type: "application/pdf".into(),
            content: bytes,
        }))
    }

    async fn export_status_report(
        &self,
        req: Request<pb::ExportStatusReportRequest>,
    ) -> Result<Response<pb::ProjectDocument>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let lang = documents::lang(&r.language);
        let project = r
            .name
            .split("/statusReports/")
            .next()
            .unwrap_or_default()
            .to_string();
        let mut get = Request::new(pb::GetStatusReportRequest {
            name: r.name.clone(),
        });
        get.extensions_mut().insert(c.clone());
        let rep = self.get_status_report(get).await?.into_inner();
        let mut get = Request::new(pb::GetProjectRequest {
            name: project,
            view: pb::ProjectView::Full as i32,
        });
        get.extensions_mut().insert(c);
        let p = self.get_project(get).await?.into_inner();
        let bytes = tokio::task::spawn_blocking(move || documents::status_report(&p, &rep, lang))
            .await
            .map_err(|e| Error::internal(format!("pdf: {e}")))??;
        Ok(Response::new(pb::ProjectDocument {
            filename: format!("{}.pdf", r.name.replace('/', "-")),
            content_type: "application/pdf".into(),
            content: bytes,
        }))
    }
}
