//! The project portfolio per tenant, fed by every event on stream
//! "projects": each carries the project's summary, and the row keeps the one
//! with the highest per-project sequence, so redelivered, duplicated or late
//! events change nothing. Opportunities come from the published evaluations
//! already in the read model.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kompass_core::{Error, TenantId};
use kompass_proto::assessment::v1 as apb;
use kompass_proto::projects::v1 as ppb;
use kompass_proto::reporting::v1 as pb;
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryResult};

use crate::store::{self, Applied, stmt};

pub const PHASE_CHANGED_TOPIC: &str = "project.phase_changed";
pub const STATUS_REPORT_FILED_TOPIC: &str = "project.status_report_filed";
pub const CHANGED_TOPIC: &str = "project.changed";

/// The summary an event on stream "projects" carries; `None` for other
/// topics or unreadable payloads.
pub fn summary_of(topic: &str, payload: &[u8]) -> Option<ppb::PortfolioSummary> {
    match topic {
        PHASE_CHANGED_TOPIC => ppb::ProjectPhaseChangedEvent::decode(payload).ok()?.summary,
        STATUS_REPORT_FILED_TOPIC => ppb::StatusReportFiledEvent::decode(payload).ok()?.summary,
        CHANGED_TOPIC => ppb::ProjectChangedEvent::decode(payload).ok()?.summary,
        _ => None,
    }
}

fn encode_risks(v: &[ppb::RiskCellCount]) -> String {
    v.iter()
        .filter(|c| (1..=3).contains(&c.probability) && (1..=3).contains(&c.consequence))
        .map(|c| format!("{}:{}={}", c.probability, c.consequence, c.count))
        .collect::<Vec<_>>()
        .join(";")
}

fn decode_risks(s: &str) -> Vec<(i32, i32, i32)> {
    s.split(';')
        .filter_map(|item| {
            let (p, rest) = item.split_once(':')?;
            let (c, n) = rest.split_once('=')?;
            Some((p.parse().ok()?, c.parse().ok()?, n.parse().ok()?))
        })
        .collect()
}

/// Applies one delivery. Idempotent: only a summary with a higher sequence
/// than the stored one is written.
pub async fn apply(
    db: &DatabaseConnection,
    event_id: &str,
    topic: &str,
    payload: &[u8],
) -> Result<Applied, Error> {
    let Some(s) = summary_of(topic, payload) else {
        tracing::warn!(
            event_id,
            topic,
            "reporting: project event without summary skipped"
        );
        return Ok(Applied::Ignored);
    };
    let Ok((tenant, _)) = kompass_core::names::tenant_child(&s.project, "projects") else {
        tracing::warn!(event_id, project = %s.project, "reporting: project event with bad name skipped");
        return Ok(Applied::Ignored);
    };
    let updated = s
        .update_time
        .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .unwrap_or_else(Utc::now);
    let res = db
        .execute_raw(stmt(
            db,
            "INSERT INTO reporting_projects (project, tenant_id, title, kind, phase, outcome, \
             traffic_light, risks, opportunities, seq, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (project) DO UPDATE SET tenant_id = excluded.tenant_id, \
             title = excluded.title, kind = excluded.kind, phase = excluded.phase, \
             outcome = excluded.outcome, traffic_light = excluded.traffic_light, \
             risks = excluded.risks, opportunities = excluded.opportunities, \
             seq = excluded.seq, updated_at = excluded.updated_at \
             WHERE reporting_projects.seq < excluded.seq",
            vec![
                s.project.clone().into(),
                tenant.to_string().into(),
                s.title.clone().into(),
                s.kind.into(),
                s.phase.into(),
                s.outcome.into(),
                s.traffic_light.into(),
                encode_risks(&s.risks).into(),
                s.improvement_opportunities.join("\n").into(),
                s.sequence.into(),
                updated.into(),
            ],
        ))
        .await?;
    Ok(if res.rows_affected() > 0 {
        Applied::Stored
    } else {
        Applied::Unchanged
    })
}

/// One stored project.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectRow {
    pub project: String,
    pub title: String,
    pub kind: i32,
    pub phase: i32,
    pub outcome: i32,
    pub traffic_light: i32,
    /// (probability, consequence, count)
    pub risks: Vec<(i32, i32, i32)>,
    pub opportunities: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

impl ProjectRow {
    fn from_row(r: &QueryResult) -> Result<ProjectRow, Error> {
        let opps: String = r.try_get("", "opportunities")?;
        Ok(ProjectRow {
            project: r.try_get("", "project")?,
            title: r.try_get("", "title")?,
            kind: r.try_get("", "kind")?,
            phase: r.try_get("", "phase")?,
            outcome: r.try_get("", "outcome")?,
            traffic_light: r.try_get("", "traffic_light")?,
            risks: decode_risks(&r.try_get::<String>("", "risks")?),
            opportunities: opps
                .lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
            updated_at: r.try_get("", "updated_at")?,
        })
    }
}

pub async fn projects(
    db: &DatabaseConnection,
    tenant: &TenantId,
) -> Result<Vec<ProjectRow>, Error> {
    db.query_all_raw(stmt(
        db,
        "SELECT project, title, kind, phase, outcome, traffic_light, risks, opportunities, \
         updated_at FROM reporting_projects WHERE tenant_id = $1 ORDER BY project",
        vec![tenant.to_string().into()],
    ))
    .await?
    .iter()
    .map(ProjectRow::from_row)
    .collect()
}

/// The evaluation whose opportunities the portfolio lists by default: the
/// latest published external one, else the latest published of any kind.
pub async fn default_evaluation(
    db: &DatabaseConnection,
    tenant: &TenantId,
) -> Result<Option<String>, Error> {
    let rows = store::tenant_evaluations(db, tenant.as_str()).await?;
    Ok(rows
        .iter()
        .rev()
        .find(|r| r.kind == "external")
        .or(rows.last())
        .map(|r| r.evaluation.clone()))
}

/// Builds the portfolio from the stored projects and the published content
/// of the evaluation whose opportunities to list.
pub fn build(
    tenant: &TenantId,
    rows: Vec<ProjectRow>,
    content: Option<&apb::PublishedContent>,
) -> pb::Portfolio {
    let mut rows = rows;
    rows.sort_by(|a, b| a.phase.cmp(&b.phase).then(a.title.cmp(&b.title)));

    let mut counts: BTreeMap<(i32, i32), i32> = BTreeMap::new();
    let mut cells: BTreeMap<(i32, i32), (i32, i32)> = BTreeMap::new();
    let mut by_opportunity: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in &rows {
        *counts.entry((r.phase, r.traffic_light)).or_default() += 1;
        for &(p, c, n) in &r.risks {
            let e = cells.entry((p, c)).or_default();
            e.0 += n;
            e.1 += 1;
        }
        for o in &r.opportunities {
            by_opportunity
                .entry(o.as_str())
                .or_default()
                .push(r.project.clone());
        }
    }
    let heat_map = (1..=3)
        .flat_map(|p| (1..=3).map(move |c| (p, c)))
        .map(|(p, c)| {
            let (risks, projects) = cells.get(&(p, c)).copied().unwrap_or_default();
            pb::HeatMapCell {
                probability: p,
                consequence: c,
                risk_value: p * c,
                risk_count: risks,
                project_count: projects,
            }
        })
        .collect();

    let (mut addressed, mut unaddressed) = (vec![], vec![]);
    if let Some(c) = content {
        for area in &c.areas {
            for o in &area.improvement_opportunities {
                let mut projects = by_opportunity
                    .get(o.name.as_str())
                    .cloned()
                    .unwrap_or_default();
                projects.sort();
                let item = pb::PortfolioOpportunity {
                    name: o.name.clone(),
                    area: area.area.clone(),
                    text: o.text.clone(),
                    questions: o.questions.clone(),
                    projects,
                };
                if item.projects.is_empty() {
                    unaddressed.push(item);
                } else {
                    addressed.push(item);
                }
            }
        }
    }

    pb::Portfolio {
        name: format!("tenants/{tenant}/portfolio"),
        phase_counts: counts
            .into_iter()
            .map(|((phase, light), count)| pb::PhaseLightCount {
                phase,
                traffic_light: light,
                count,
            })
            .collect(),
        projects: rows
            .into_iter()
            .map(|r| pb::PortfolioProject {
                risk_count: r.risks.iter().map(|x| x.2).sum(),
                highest_risk_value: r.risks.iter().map(|x| x.0 * x.1).max().unwrap_or(0),
                project: r.project,
                title: r.title,
                kind: r.kind,
                phase: r.phase,
                outcome: r.outcome,
                traffic_light: r.traffic_light,
                improvement_opportunities: r.opportunities,
                update_time: Some(prost_types::Timestamp {
                    seconds: r.updated_at.timestamp(),
                    nanos: r.updated_at.timestamp_subsec_nanos() as i32,
                }),
            })
            .collect(),
        heat_map,
        evaluation: content.map(|c| c.evaluation.clone()).unwrap_or_default(),
        addressed_opportunities: addressed,
        unaddressed_opportunities: unaddressed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        name: &str,
        phase: i32,
        light: i32,
        risks: Vec<(i32, i32, i32)>,
        opps: &[&str],
    ) -> ProjectRow {
        ProjectRow {
            project: format!("tenants/t1/projects/{name}"),
            title: name.into(),
            kind: 1,
            phase,
            outcome: 0,
            traffic_light: light,
            risks,
            opportunities: opps.iter().map(|s| s.to_string()).collect(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn risks_round_trip_through_text() {
        let cells = vec![
            ppb::RiskCellCount {
                probability: 3,
                consequence: 1,
                count: 2,
            },
            ppb::RiskCellCount {
                probability: 9,
                consequence: 1,
                count: 5,
            },
        ];
        assert_eq!(decode_risks(&encode_risks(&cells)), vec![(3, 1, 2)]);
        assert!(decode_risks("").is_empty());
    }

    #[test]
    fn heat_map_sums_over_projects_and_opportunities_split() {
        let t = TenantId::parse("t1").unwrap();
        let o = |id: &str| format!("tenants/t1/evaluations/e/opportunities/{id}");
        let rows = vec![
            row("a", 4, 1, vec![(3, 3, 2), (1, 2, 1)], &[&o("o1")]),
            row("b", 4, 1, vec![(3, 3, 1)], &[&o("o1"), &o("o2")]),
            row("c", 1, 0, vec![], &[]),
        ];
        let content = apb::PublishedContent {
            evaluation: "tenants/t1/evaluations/e".into(),
            areas: vec![apb::PublishedArea {
                area: "1".into(),
                improvement_opportunities: ["o1", "o2", "o3"]
                    .iter()
                    .map(|id| apb::ImprovementOpportunity {
                        name: o(id),
                        text: format!("text {id}"),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let p = build(&t, rows, Some(&content));
        assert_eq!(p.heat_map.len(), 9);
        let cell = |pr: i32, c: i32| {
            p.heat_map
                .iter()
                .find(|x| x.probability == pr && x.consequence == c)
                .map(|x| (x.risk_value, x.risk_count, x.project_count))
                .unwrap()
        };
        assert_eq!(cell(3, 3), (9, 3, 2));
        assert_eq!(cell(1, 2), (2, 1, 1));
        assert_eq!(cell(2, 2), (4, 0, 0));
        let counts: Vec<(i32, i32, i32)> = p
            .phase_counts
            .iter()
            .map(|c| (c.phase, c.traffic_light, c.count))
            .collect();
        assert_eq!(counts, vec![(1, 0, 1), (4, 1, 2)]);
        assert_eq!(p.projects[0].title, "c");
        assert_eq!(p.projects[1].risk_count, 3);
        assert_eq!(p.projects[1].highest_risk_value, 9);
        let addressed: Vec<(&str, usize)> = p
            .addressed_opportunities
            .iter()
            .map(|x| (x.text.as_str(), x.projects.len()))
            .collect();
        assert_eq!(addressed, vec![("text o1", 2), ("text o2", 1)]);
        assert_eq!(p.unaddressed_opportunities.len(), 1);
        assert_eq!(p.unaddressed_opportunities[0].text, "text o3");
    }
}
