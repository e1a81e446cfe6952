//! The project plan (*projektplan*) and status reports as tagged PDF/UA-1
//! documents on the shared Typst engine. This module only turns the
//! project's API representation into the data the templates read; enums go
//! over as their numbers, which the templates name per language.

use kompass_core::Error;
use kompass_documents::{Lang, Template};
use kompass_proto::projects::v1 as pb;
use serde_json::{Value, json};

/// The language of a document: the requested one, else the request's.
pub fn lang(requested: &str) -> Lang {
    Lang::parse(requested).unwrap_or(
        if kompass_core::i18n::current() == kompass_core::i18n::Lang::En {
            Lang::En
        } else {
            Lang::Sv
        },
    )
}

fn person(p: &Option<pb::Person>) -> Value {
    let p = p.clone().unwrap_or_default();
    json!({"name": p.display_name, "role": p.role})
}

fn people(ps: &[pb::Person]) -> Vec<Value> {
    ps.iter()
        .map(|p| json!({"name": p.display_name, "role": p.role}))
        .collect()
}

fn goal(g: &pb::Goal) -> Value {
    json!({
        "id": g.id, "title": g.title, "indicator": g.indicator, "baseline": g.baseline,
        "target": g.target, "target_date": g.target_date,
        "sub_goals": g.sub_goals.iter().map(goal).collect::<Vec<_>>(),
    })
}

fn project(p: &pb::Project) -> Value {
    let plan = p.plan.clone().unwrap_or_default();
    let org = p.organisation.clone().unwrap_or_default();
    json!({
        "name": p.name,
        "title": p.title,
        "kind": p.kind,
        "phase": p.phase,
        "outcome": p.outcome,
        "start_date": p.start_date,
        "end_date": p.end_date,
        "plan": {
            "background": plan.background,
            "purpose": plan.purpose,
            "effect_goal": plan.effect_goal,
            "result_goals": plan.result_goals.iter().map(goal).collect::<Vec<_>>(),
            "strategies": plan.strategies,
            "delimitations": plan.delimitations,
            "prerequisites": plan.prerequisites,
            "budget": plan.budget_lines.iter().map(|b| json!({
                "description": b.description, "amount": b.amount,
                "currency": b.currency, "funder": b.funder,
            })).collect::<Vec<_>>(),
        },
        "organisation": {
            "owner": person(&org.owner),
            "project_manager": person(&org.project_manager),
            "steering_group": people(&org.steering_group),
            "operational_group": people(&org.operational_group),
            "working_group": people(&org.working_group),
            "reference_groups": org.reference_groups.iter().map(|g| json!({
                "title": g.title, "members": people(&g.members),
            })).collect::<Vec<_>>(),
        },
        "improvement_opportunities": p.improvement_opportunities,
        "questions": p.questions,
        "milestones": p.milestones.iter().map(|m| json!({
            "number": m.number, "title": m.title, "description": m.description,
            "due_date": m.due_date, "responsible": m.responsible, "status": m.status,
            "overdue": m.overdue,
            "activities": m.activities.iter().map(|a| json!({
                "number": a.number, "title": a.title, "due_date": a.due_date,
                "responsible": a.responsible, "status": a.status, "overdue": a.overdue,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "risks": p.risks.iter().map(|r| json!({
            "title": r.title, "description": r.description, "probability": r.probability,
            "consequence": r.consequence, "value": r.value, "mitigations": r.mitigations,
            "owner": r.owner,
        })).collect::<Vec<_>>(),
        "communications": p.communications.iter().map(|c| json!({
            "measure": c.measure, "target_group": c.target_group, "when": c.when,
            "status": c.status, "remarks": c.remarks,
        })).collect::<Vec<_>>(),
        "decisions": p.decisions.iter().map(|d| json!({
            "from": d.from_phase, "to": d.to_phase, "verdict": d.verdict,
            "decision": d.decision, "decided_by": d.decided_by,
            "date": d.decide_time.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
                .map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default(),
        })).collect::<Vec<_>>(),
    })
}

fn pdf(template: Template, data: &Value, lang: Lang) -> Result<Vec<u8>, Error> {
    kompass_documents::render(template, data, lang)
        .map_err(|e| Error::internal(format!("pdf: {e}")))
}

/// The project plan of a full project (`ProjectView::Full`).
pub fn project_plan(p: &pb::Project, lang: Lang) -> Result<Vec<u8>, Error> {
    pdf(
        Template::ProjectPlan,
        &json!({ "project": project(p) }),
        lang,
    )
}

/// One status report of a project.
pub fn status_report(p: &pb::Project, r: &pb::StatusReport, lang: Lang) -> Result<Vec<u8>, Error> {
    let data = json!({
        "project": project(p),
        "report": {
            "period": r.period, "light": r.light, "summary": r.summary, "phase": r.phase,
            "author": r.author,
            "date": r.create_time.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
                .map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default(),
            "milestones": r.milestones.iter().map(|m| json!({
                "number": m.number, "title": m.title, "due_date": m.due_date, "status": m.status,
                "overdue": m.overdue, "light": m.light, "comment": m.comment,
            })).collect::<Vec<_>>(),
            "goals": r.goals.iter().map(|g| json!({
                "id": g.goal_id, "title": g.title, "indicator": g.indicator, "baseline": g.baseline,
                "target": g.target, "target_date": g.target_date, "light": g.light, "comment": g.comment,
            })).collect::<Vec<_>>(),
        },
    });
    pdf(Template::StatusReport, &data, lang)
}
