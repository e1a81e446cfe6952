//! Moves committed outbox rows of tenant databases to the event bus. Kicked
//! right after a write that queued an event commits; retries failed tenants
//! with exponential backoff (capped at a minute); sweeps every active tenant
//! at start and every few minutes, so nothing committed is lost when Redis or
//! the service restarts. Tenants are relayed concurrently (bounded), each in
//! a task of its own, so one whose database is down delays no other; several
//! replicas may relay the same tenants (rows are claimed `SKIP LOCKED`).
//! Each service runs one relay over its own outbox table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kompass_core::TenantId;
use kompass_events::{Bus, OutboxTable, purge_sent, relay_outbox};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio::sync::{Semaphore, mpsc};

use crate::{TenantDirectory, TenantState, entity::tenant};

const SWEEP_EVERY: Duration = Duration::from_secs(300);

/// How long sent outbox rows are kept, in seconds (`KOMPASS_OUTBOX_RETENTION_HOURS`,
/// set once at start); the sweep deletes older ones.
static RETENTION_SECS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(7 * 24 * 3600);

pub fn set_outbox_retention(d: Duration) {
    RETENTION_SECS.store(d.as_secs(), std::sync::atomic::Ordering::Relaxed);
}

fn retention() -> Duration {
    Duration::from_secs(RETENTION_SECS.load(std::sync::atomic::Ordering::Relaxed))
}

#[derive(Clone)]
pub struct RelayHandle(mpsc::UnboundedSender<TenantId>);

impl RelayHandle {
    pub fn kick(&self, t: &TenantId) {
        let _ = self.0.send(t.clone());
    }
}

/// Relays one tenant's outbox; `purge`: also deletes rows sent before the
/// retention period (done by the sweep, not after every write).
async fn relay_tenant(
    dir: &TenantDirectory,
    bus: &Bus,
    table: OutboxTable,
    t: &TenantId,
    purge: bool,
) -> bool {
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
            if purge {
                match purge_sent(&db, table, retention()).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(tenant = %t, rows = n, "outbox: sent rows past retention deleted")
                    }
                    Err(e) => tracing::warn!(tenant = %t, error = %e, "outbox purge failed"),
                }
            }
            true
        }
        Err(e) => {
            tracing::warn!(tenant = %t, error = %e, "outbox relay failed; will retry");
            false
        }
    }
}

/// Relays run at once in one process; more wait for a slot.
const CONCURRENCY: usize = 8;
/// Longest pause between retries of a tenant whose relay keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Tenants {
    /// Tenants whose last relay failed: failures so far and when to retry.
    backoff: HashMap<TenantId, (u32, Instant)>,
    /// Tenants being relayed now; `true`: relay once more when done (a kick
    /// arrived meanwhile, after the running relay may have read its rows).
    running: HashMap<TenantId, bool>,
}

#[derive(Clone)]
struct Relay {
    dir: TenantDirectory,
    bus: Bus,
    table: OutboxTable,
    slots: Arc<Semaphore>,
    tenants: Arc<Mutex<Tenants>>,
}

impl Relay {
    /// Relays `t` in a task of its own, so a tenant whose database hangs
    /// delays nobody else. `due_only`: skip a tenant still backing off
    /// (kicks do not: a write just committed there).
    fn launch(&self, t: TenantId, purge: bool, due_only: bool) {
        {
            let mut st = self.tenants.lock().expect("relay state");
            if due_only
                && st
                    .backoff
                    .get(&t)
                    .is_some_and(|(_, at)| Instant::now() < *at)
            {
                return;
            }
            if let Some(again) = st.running.get_mut(&t) {
                *again = true;
                return;
            }
            st.running.insert(t.clone(), false);
        }
        let r = self.clone();
        tokio::spawn(async move {
            loop {
                let ok = {
                    let _slot = r.slots.acquire().await.expect("never closed");
                    relay_tenant(&r.dir, &r.bus, r.table, &t, purge).await
                };
                let mut st = r.tenants.lock().expect("relay state");
                if ok {
                    st.backoff.remove(&t);
                } else {
                    let n = st.backoff.get(&t).map_or(0, |(n, _)| *n) + 1;
                    let wait = Duration::from_secs(1 << n.min(6)).min(MAX_BACKOFF);
                    st.backoff.insert(t.clone(), (n, Instant::now() + wait));
                }
                if ok && st.running.get(&t) == Some(&true) {
                    st.running.insert(t.clone(), false);
                    continue;
                }
                st.running.remove(&t);
                break;
            }
        });
    }

    /// Retries the tenants whose backoff is over.
    fn retry_due(&self) {
        let now = Instant::now();
        let due: Vec<TenantId> = self
            .tenants
            .lock()
            .expect("relay state")
            .backoff
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(t, _)| t.clone())
            .collect();
        for t in due {
            self.launch(t, false, true);
        }
    }

    /// Every active tenant, so nothing committed is left behind.
    async fn sweep(&self) {
        let Ok(rows) = tenant::Entity::find()
            .filter(tenant::Column::State.eq(TenantState::Active.as_str()))
            .all(self.dir.catalog.db())
            .await
        else {
            return;
        };
        for r in rows {
            if let Ok(t) = TenantId::parse(&r.id) {
                self.launch(t, true, true);
            }
        }
    }
}

/// Starts the relay of one service's outbox table.
pub fn spawn(dir: TenantDirectory, bus: Bus, table: OutboxTable) -> RelayHandle {
    let (tx, mut rx) = mpsc::unbounded_channel::<TenantId>();
    let relay = Relay {
        dir,
        bus,
        table,
        slots: Arc::new(Semaphore::new(CONCURRENCY)),
        tenants: Arc::default(),
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut next_sweep = tokio::time::Instant::now();
        loop {
            tokio::select! {
                t = rx.recv() => {
                    let Some(t) = t else { break };
                    relay.launch(t, false, false);
                }
                _ = tick.tick() => {
                    relay.retry_due();
                    if tokio::time::Instant::now() >= next_sweep {
                        next_sweep = tokio::time::Instant::now() + SWEEP_EVERY;
                        relay.sweep().await;
                    }
                }
            }
        }
    });
    RelayHandle(tx)
}
