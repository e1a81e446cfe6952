//! Reading projects and their parts, and turning rows into messages. A page
//! of projects costs one statement per table, however many projects,
//! milestones or activities there are (no N+1).

use std::collections::HashMap;

use chrono::NaiveDate;
use kompass_core::{Error, TenantId};
use kompass_proto::projects::v1 as pb;
use prost::Message;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::domain::{self, Currency, Outcome, Phase, Verdict, WorkStatus};
use crate::entity::{
    activity, budget_line, decision, link, milestone, project, risk, status_report,
};
use crate::model::{Communication, Goal, Organisation};
use crate::util::{self, Db, json_list, ts};

pub fn project_name(t: &TenantId, id: &str) -> String {
    format!("tenants/{t}/projects/{id}")
}

pub async fn project_row(db: &Db, t: &TenantId, id: &str) -> Result<project::Model, Error> {
    project::Entity::find_by_id(id)
        .one(&**db)
        .await?
        .ok_or_else(|| util::not_found("project", "projektet", &project_name(t, id)))
}

fn group<T>(rows: Vec<T>, key: impl Fn(&T) -> String) -> HashMap<String, Vec<T>> {
    let mut m: HashMap<String, Vec<T>> = HashMap::new();
    for r in rows {
        m.entry(key(&r)).or_default().push(r);
    }
    m
}

/// The rows around a set of projects, one query per table.
#[derive(Default)]
pub struct Parts {
    budget: HashMap<String, Vec<budget_line::Model>>,
    links: HashMap<String, Vec<link::Model>>,
    decisions: HashMap<String, Vec<decision::Model>>,
    milestones: HashMap<String, Vec<milestone::Model>>,
    activities: HashMap<String, Vec<activity::Model>>,
    risks: HashMap<String, Vec<risk::Model>>,
    reports: HashMap<String, Vec<status_report::Model>>,
}

pub async fn parts(db: &Db, ids: &[String], full: bool) -> Result<Parts, Error> {
    if ids.is_empty() {
        return Ok(Parts::default());
    }
    let ids = ids.to_vec();
    let mut p = Parts {
        budget: group(
            budget_line::Entity::find()
                .filter(budget_line::Column::ProjectId.is_in(ids.clone()))
                .order_by_asc(budget_line::Column::Position)
                .all(&**db)
                .await?,
            |r| r.project_id.clone(),
        ),
        links: group(
            link::Entity::find()
                .filter(link::Column::ProjectId.is_in(ids.clone()))
                .order_by_asc(link::Column::Target)
                .all(&**db)
                .await?,
            |r| r.project_id.clone(),
        ),
        decisions: group(
            decision::Entity::find()
                .filter(decision::Column::ProjectId.is_in(ids.clone()))
                .order_by_asc(decision::Column::Id)
                .all(&**db)
                .await?,
            |r| r.project_id.clone(),
        ),
        ..Default::default()
    };
    if full {
        p.milestones = group(
            milestone::Entity::find()
                .filter(milestone::Column::ProjectId.is_in(ids.clone()))
                .order_by_asc(milestone::Column::Number)
                .all(&**db)
                .await?,
            |r| r.project_id.clone(),
        );
        p.activities = group(
            activity::Entity::find()
                .filter(activity::Column::ProjectId.is_in(ids.clone()))
                .order_by_asc(activity::Column::Position)
                .all(&**db)
                .await?,
            |r| r.milestone_id.clone(),
        );
        p.risks = group(
            risk::Entity::find()
                .filter(risk::Column::ProjectId.is_in(ids.clone()))
                .order_by_asc(risk::Column::Id)
                .all(&**db)
                .await?,
            |r| r.project_id.clone(),
        );
        p.reports = group(
            status_report::Entity::find()
                .filter(status_report::Column::ProjectId.is_in(ids))
                .order_by_asc(status_report::Column::Id)
                .all(&**db)
                .await?,
            |r| r.project_id.clone(),
        );
    }
    Ok(p)
}

pub fn goals_of(row: &project::Model) -> Vec<Goal> {
    serde_json::from_str(&row.result_goals).unwrap_or_default()
}

pub fn organisation_of(row: &project::Model) -> Organisation {
    serde_json::from_str(&row.organisation).unwrap_or_default()
}

pub fn communications_of(row: &project::Model) -> Vec<Communication> {
    serde_json::from_str(&row.communications).unwrap_or_default()
}

pub fn outcome_of(row: &project::Model) -> Option<Outcome> {
    Outcome::parse(&row.outcome)
}

pub fn kind_pb(kind: &str) -> pb::project::Kind {
    if kind == "assignment" {
        pb::project::Kind::Assignment
    } else {
        pb::project::Kind::Project
    }
}

pub fn decision_pb(d: &decision::Model) -> pb::PhaseDecision {
    pb::PhaseDecision {
        from_phase: Phase::parse(&d.from_phase).to_pb() as i32,
        to_phase: Phase::parse(&d.to_phase).to_pb() as i32,
        verdict: Verdict::parse(&d.verdict).to_pb() as i32,
        decision: d.decision.clone(),
        decided_by: format!("users/{}", d.decided_by),
        decide_time: Some(ts(d.decided_at)),
    }
}

pub fn project_pb(
    t: &TenantId,
    row: project::Model,
    parts: &mut Parts,
    today: NaiveDate,
) -> pb::Project {
    let id = row.id.clone();
    let name = project_name(t, &id);
    let budget = parts.budget.remove(&id).unwrap_or_default();
    let links = parts.links.remove(&id).unwrap_or_default();
    let decisions = parts.decisions.remove(&id).unwrap_or_default();
    let milestones = parts.milestones.remove(&id).unwrap_or_default();
    let risks = parts.risks.remove(&id).unwrap_or_default();
    let reports = parts.reports.remove(&id).unwrap_or_default();
    let plan = pb::Plan {
        background: row.background.clone(),
        purpose: row.purpose.clone(),
        effect_goal: row.effect_goal.clone(),
        result_goals: goals_of(&row).iter().map(Goal::to_pb).collect(),
        strategies: json_list(&row.strategies),
        delimitations: json_list(&row.delimitations),
        prerequisites: json_list(&row.prerequisites),
        budget_lines: budget
            .iter()
            .map(|b| pb::BudgetLine {
                description: b.description.clone(),
                amount: domain::format_amount(b.amount_centi),
                currency: Currency::parse(&b.currency).to_pb() as i32,
                funder: b.funder.clone(),
            })
            .collect(),
    };
    let mut risks: Vec<pb::Risk> = risks.iter().map(|r| risk_pb(t, r)).collect();
    sort_risks(&mut risks);
    pb::Project {
        plan: Some(plan),
        organisation: Some(organisation_of(&row).to_pb()),
        improvement_opportunities: links
            .iter()
            .filter(|l| l.kind == "opportunity")
            .map(|l| l.target.clone())
            .collect(),
        questions: links
            .iter()
            .filter(|l| l.kind == "question")
            .map(|l| l.target.clone())
            .collect(),
        communications: communications_of(&row)
            .iter()
            .map(Communication::to_pb)
            .collect(),
        decisions: decisions.iter().map(decision_pb).collect(),
        milestones: milestones
            .iter()
            .map(|m| {
                let acts = parts.activities.remove(&m.id).unwrap_or_default();
                milestone_pb(t, m, &acts, today)
            })
            .collect(),
        risks,
        status_reports: reports.iter().filter_map(report_pb).collect(),
        kind: kind_pb(&row.kind) as i32,
        phase: Phase::parse(&row.phase).to_pb() as i32,
        outcome: Outcome::to_pb(outcome_of(&row)) as i32,
        start_date: row.start_date,
        end_date: row.end_date,
        create_time: Some(ts(row.created_at)),
        update_time: Some(ts(row.updated_at)),
        etag: row.version.to_string(),
        creator: format!("users/{}", row.created_by),
        title: row.title,
        name,
    }
}

/// Loads projects with their parts (one statement per table).
pub async fn projects(
    db: &Db,
    t: &TenantId,
    rows: Vec<project::Model>,
    full: bool,
) -> Result<Vec<pb::Project>, Error> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut parts = parts(db, &ids, full).await?;
    let today = util::today();
    Ok(rows
        .into_iter()
        .map(|r| project_pb(t, r, &mut parts, today))
        .collect())
}

pub fn milestone_name(t: &TenantId, m: &milestone::Model) -> String {
    format!("tenants/{t}/projects/{}/milestones/{}", m.project_id, m.id)
}

pub fn milestone_pb(
    t: &TenantId,
    m: &milestone::Model,
    activities: &[activity::Model],
    today: NaiveDate,
) -> pb::Milestone {
    let status = WorkStatus::parse(&m.status);
    pb::Milestone {
        name: milestone_name(t, m),
        number: m.number,
        title: m.title.clone(),
        description: m.description.clone(),
        due_date: m.due_date.clone(),
        responsible: m.responsible.clone(),
        status: status.to_pb() as i32,
        overdue: domain::overdue(&m.due_date, status, today),
        activities: activities
            .iter()
            .map(|a| activity_pb(t, a, m.number, today))
            .collect(),
        etag: m.version.to_string(),
    }
}

pub fn activity_pb(
    t: &TenantId,
    a: &activity::Model,
    number: i32,
    today: NaiveDate,
) -> pb::Activity {
    let status = WorkStatus::parse(&a.status);
    pb::Activity {
        name: format!(
            "tenants/{t}/projects/{}/milestones/{}/activities/{}",
            a.project_id, a.milestone_id, a.id
        ),
        number: format!("{number}.{}", a.position),
        position: a.position,
        title: a.title.clone(),
        due_date: a.due_date.clone(),
        responsible: a.responsible.clone(),
        status: status.to_pb() as i32,
        overdue: domain::overdue(&a.due_date, status, today),
        etag: a.version.to_string(),
    }
}

pub fn risk_pb(t: &TenantId, r: &risk::Model) -> pb::Risk {
    pb::Risk {
        name: format!("tenants/{t}/projects/{}/risks/{}", r.project_id, r.id),
        title: r.title.clone(),
        description: r.description.clone(),
        probability: r.probability,
        consequence: r.consequence,
        value: domain::risk_value(r.probability, r.consequence),
        mitigations: json_list(&r.mitigations),
        owner: r.owner.clone(),
        etag: r.version.to_string(),
    }
}

/// Highest risk value first, then probability, then creation.
pub fn sort_risks(v: &mut [pb::Risk]) {
    v.sort_by(|a, b| {
        b.value
            .cmp(&a.value)
            .then(b.probability.cmp(&a.probability))
            .then(a.name.cmp(&b.name))
    });
}

pub fn report_pb(r: &status_report::Model) -> Option<pb::StatusReport> {
    match pb::StatusReport::decode(r.content.as_slice()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(report = %r.id, error = %e, "status report content does not decode");
            None
        }
    }
}
