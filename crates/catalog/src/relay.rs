//! Moves committed outbox rows of tenant databases to the event bus. Kicked
//! right after a write that queued an event commits; retries failed tenants
//! every second; sweeps every active tenant at start and every few minutes,
//! so nothing committed is lost when Redis or the service restarts. Each
//! service runs one relay over its own outbox table.

use std::collections::BTreeSet;
use std::time::Duration;

use kompass_core::TenantId;
use kompass_events::{Bus, OutboxTable, relay_outbox};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio::sync::mpsc;

use crate::{TenantDirectory, TenantState, entity::tenant};

const SWEEP_EVERY: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub struct RelayHandle(mpsc::UnboundedSender<TenantId>);

impl RelayHandle {
    pub fn kick(&self, t: &TenantId) {
        let _ = self.0.send(t.clone());
    }
}

async fn relay_tenant(dir: &TenantDirectory, bus: &Bus, table: OutboxTable, t: &TenantId) -> bool {
    let db = match dir.db(t).await {
        Ok(db) => db,
        Err(e) => {
            tracing::warn!(tenant = %t, error = %e, "outbox relay: tenant database unavailable");
            return false;
        }
    };
    match relay_outbox(&db, table, bus.as_ref()).await {
        Ok(n) => {
            if n > 0 {
                tracing::info!(tenant = %t, events = n, "outbox relayed");
            }
            true
        }
        Err(e) => {
            tracing::warn!(tenant = %t, error = %e, "outbox relay failed; will retry");
            false
        }
    }
}

async fn sweep(
    dir: &TenantDirectory,
    bus: &Bus,
    table: OutboxTable,
    retry: &mut BTreeSet<TenantId>,
) {
    let Ok(rows) = tenant::Entity::find()
        .filter(tenant::Column::State.eq(TenantState::Active.as_str()))
        .all(dir.catalog.db())
        .await
    else {
        return;
    };
    for r in rows {
        if let Ok(t) = TenantId::parse(&r.id)
            && !relay_tenant(dir, bus, table, &t).await
        {
            retry.insert(t);
        }
    }
}

/// Starts the relay of one service's outbox table.
pub fn spawn(dir: TenantDirectory, bus: Bus, table: OutboxTable) -> RelayHandle {
    let (tx, mut rx) = mpsc::unbounded_channel::<TenantId>();
    tokio::spawn(async move {
        let mut retry = BTreeSet::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut next_sweep = tokio::time::Instant::now();
        loop {
            tokio::select! {
                t = rx.recv() => {
                    let Some(t) = t else { break };
                    if !relay_tenant(&dir, &bus, table, &t).await {
                        retry.insert(t);
                    }
                }
                _ = tick.tick() => {
                    for t in std::mem::take(&mut retry) {
                        if !relay_tenant(&dir, &bus, table, &t).await {
                            retry.insert(t);
                        }
                    }
                    if tokio::time::Instant::now() >= next_sweep {
                        next_sweep = tokio::time::Instant::now() + SWEEP_EVERY;
                        sweep(&dir, &bus, table, &mut retry).await;
                    }
                }
            }
        }
    });
    RelayHandle(tx)
}
