//! The portfolio summary every event on stream "projects" carries: what the
//! reporting service's portfolio keeps of a project. It is read inside the
//! writing transaction, after the write, so it shows the change; the
//! per-project counter bumped first serialises concurrent writers of one
//! project, so a higher sequence always means a summary that saw more.

use std::collections::BTreeMap;

use kompass_core::{Error, TenantId};
use kompass_proto::projects::v1 as pb;
use prost::Message;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, Statement,
};

use crate::domain::{Outcome, Phase};
use crate::entity::{link, project, risk, status_report};
use crate::load;

/// Topic of a project created, edited or with a changed risk register.
pub const CHANGED_TOPIC: &str = "project.changed";

fn stmt(tx: &impl ConnectionTrait, sql: &str, id: &str) -> Statement {
    let backend = tx.get_database_backend();
    let sql = if backend == DbBackend::Sqlite {
        sql.replace("$1", "?")
    } else {
        sql.to_string()
    };
    Statement::from_sql_and_values(backend, sql, [id.into()])
}

/// Counts per matrix cell, only non-empty cells, row by row.
pub fn risk_cells(risks: &[(i32, i32)]) -> Vec<pb::RiskCellCount> {
    let mut m: BTreeMap<(i32, i32), i32> = BTreeMap::new();
    for &(p, c) in risks {
        *m.entry((p, c)).or_default() += 1;
    }
    m.into_iter()
        .map(|((p, c), n)| pb::RiskCellCount {
            probability: p,
            consequence: c,
            count: n,
        })
        .collect()
}

/// The summary of project `id` as `tx` sees it; bumps its event counter.
pub async fn summary(
    tx: &impl ConnectionTrait,
    t: &TenantId,
    id: &str,
) -> Result<pb::PortfolioSummary, Error> {
    tx.execute_raw(stmt(
        tx,
        "UPDATE projects SET event_seq = event_seq + 1 WHERE id = $1",
        id,
    ))
    .await?;
    let seq: i64 = match tx
        .query_one_raw(stmt(tx, "SELECT event_seq FROM projects WHERE id = $1", id))
        .await?
    {
        Some(r) => r.try_get("", "event_seq")?,
        None => 0,
    };
    let row = project::Entity::find_by_id(id)
        .one(tx)
        .await?
        .ok_or_else(|| crate::util::not_found("project", "projektet", id))?;
    let risks: Vec<(i32, i32)> = risk::Entity::find()
        .filter(risk::Column::ProjectId.eq(id))
        .all(tx)
        .await?
        .iter()
        .map(|r| (r.probability, r.consequence))
        .collect();
    let opportunities = link::Entity::find()
        .filter(link::Column::ProjectId.eq(id))
        .filter(link::Column::Kind.eq("opportunity"))
        .order_by_asc(link::Column::Target)
        .all(tx)
        .await?
        .into_iter()
        .map(|l| l.target)
        .collect();
    let light = status_report::Entity::find()
        .filter(status_report::Column::ProjectId.eq(id))
        .order_by_desc(status_report::Column::CreatedAt)
        .order_by_desc(status_report::Column::Id)
        .one(tx)
        .await?
        .and_then(|r| load::report_pb(&r))
        .map(|r| r.light)
        .unwrap_or(0);
    Ok(pb::PortfolioSummary {
        project: load::project_name(t, id),
        title: row.title.clone(),
        kind: load::kind_pb(&row.kind) as i32,
        phase: Phase::parse(&row.phase).to_pb() as i32,
        outcome: Outcome::to_pb(load::outcome_of(&row)) as i32,
        traffic_light: light,
        risks: risk_cells(&risks),
        improvement_opportunities: opportunities,
        sequence: seq,
        update_time: Some(crate::util::ts(chrono::Utc::now())),
    })
}

/// Enqueues `project.changed` for project `id` in `tx`.
pub async fn enqueue_changed(
    tx: &impl ConnectionTrait,
    t: &TenantId,
    id: &str,
) -> Result<(), Error> {
    let event = pb::ProjectChangedEvent {
        summary: Some(summary(tx, t, id).await?),
    };
    kompass_events::enqueue(
        tx,
        crate::relay::OUTBOX,
        CHANGED_TOPIC,
        event.encode_to_vec(),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_cells_count_each_cell_once() {
        let v = risk_cells(&[(3, 3), (1, 2), (3, 3), (1, 2), (1, 2)]);
        let got: Vec<(i32, i32, i32)> = v
            .iter()
            .map(|c| (c.probability, c.consequence, c.count))
            .collect();
        assert_eq!(got, vec![(1, 2, 3), (3, 3, 2)]);
    }
}
