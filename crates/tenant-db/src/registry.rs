//! Per-tenant pools opened on first use, closed when idle, and capped as a
//! whole: at most `max_connections / pool_size` pools are open at once, so the
//! process never holds more than `max_connections` tenant connections however
//! many tenants exist. A pool in use is never evicted (linkerd's idle cache);
//! concurrent first requests for one tenant share one connect (docbox).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use kompass_core::{Error, Msg, TenantId};
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, OnceCell};

use crate::backend::{Backend, Placement};

#[derive(Debug, Clone)]
pub struct TenantDbsConfig {
    pub max_connections: u32,
    pub pool_size: u32,
    pub idle_timeout: Duration,
    /// How long a request waits for a free pool slot before RESOURCE_EXHAUSTED.
    pub acquire_timeout: Duration,
    /// Database names never served as a tenant's (the onboarding template).
    pub not_tenants: Vec<String>,
}

/// The registry. Cheap to clone.
#[derive(Clone)]
pub struct TenantDbs {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    cfg: TenantDbsConfig,
    max_pools: usize,
    state: Mutex<HashMap<TenantId, Entry>>,
    released: Notify,
}

struct Entry {
    placement: Placement,
    cell: Arc<OnceCell<DatabaseConnection>>,
    /// One reference held here; each lease holds another.
    users: Arc<()>,
    last_used: Instant,
}

/// A tenant database connection for one request. Holding it keeps the pool open.
pub struct TenantDb {
    conn: DatabaseConnection,
    _lease: Lease,
}

struct Lease {
    users: Option<Arc<()>>,
    inner: Weak<Inner>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        drop(self.users.take());
        if let Some(inner) = self.inner.upgrade() {
            inner.released.notify_waiters();
        }
    }
}

impl std::ops::Deref for TenantDb {
    type Target = DatabaseConnection;
    fn deref(&self) -> &DatabaseConnection {
        &self.conn
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryStats {
    pub open_pools: usize,
    pub max_pools: usize,
    pub in_use: usize,
}

enum Step {
    Ready(
        Arc<OnceCell<DatabaseConnection>>,
        Lease,
        Option<Arc<OnceCell<DatabaseConnection>>>,
    ),
    Wait,
}

impl TenantDbs {
    pub fn new(backend: Backend, cfg: TenantDbsConfig) -> TenantDbs {
        let pool_size = cfg.pool_size.max(1);
        let max_pools = (cfg.max_connections / pool_size).max(1) as usize;
        let inner = Arc::new(Inner {
            backend,
            cfg: TenantDbsConfig { pool_size, ..cfg },
            max_pools,
            state: Mutex::new(HashMap::new()),
            released: Notify::new(),
        });
        let weak = Arc::downgrade(&inner);
        let every = (inner.cfg.idle_timeout / 4).max(Duration::from_millis(250));
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let Some(inner) = weak.upgrade() else { break };
                    TenantDbs { inner }.evict_idle().await;
                }
            });
        }
        TenantDbs { inner }
    }

    pub fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    pub fn stats(&self) -> RegistryStats {
        let st = self.inner.state.lock().unwrap();
        RegistryStats {
            open_pools: st.len(),
            max_pools: self.inner.max_pools,
            in_use: st
                .values()
                .filter(|e| Arc::strong_count(&e.users) > 1)
                .count(),
        }
    }

    /// A connection to `tenant`'s database. UNAVAILABLE if that database cannot
    /// be reached (other tenants are unaffected); RESOURCE_EXHAUSTED if every
    /// pool slot stays busy for `acquire_timeout`.
    pub async fn get(&self, tenant: &TenantId, placement: &Placement) -> Result<TenantDb, Error> {
        if self.inner.cfg.not_tenants.contains(&placement.database) {
            tracing::error!(tenant = %tenant, database = %placement.database, "refusing to serve a template database as a tenant");
            return Err(Error::internal(format!(
                "database {} is not a tenant database",
                placement.database
            )));
        }
        let deadline = Instant::now() + self.inner.cfg.acquire_timeout;
        loop {
            let notified = self.inner.released.notified();
            match self.step(tenant, placement) {
                Step::Ready(cell, lease, victim) => {
                    if let Some(v) = victim
                        && let Some(conn) = v.get()
                    {
                        // Close before opening the new pool so the cap holds at every instant.
                        conn.clone().close().await.ok();
                    }
                    let inner = &self.inner;
                    let res = cell
                        .get_or_try_init(|| {
                            inner.backend.connect(
                                placement,
                                inner.cfg.pool_size,
                                inner.cfg.idle_timeout,
                            )
                        })
                        .await;
                    return match res {
                        Ok(conn) => Ok(TenantDb {
                            conn: conn.clone(),
                            _lease: lease,
                        }),
                        Err(e) => {
                            self.forget(tenant, &cell);
                            tracing::warn!(tenant = %tenant, error = %e, "tenant database unreachable");
                            Err(Error::Unavailable(Msg::new(
                                format!(
                                    "the database of tenant {tenant} is not reachable right now; other tenants are unaffected; try again shortly"
                                ),
                                format!(
                                    "databasen för {tenant} går inte att nå just nu; andra kommuner påverkas inte; försök igen om en stund"
                                ),
                            )))
                        }
                    };
                }
                Step::Wait => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::ResourceExhausted(Msg::new(
                            "all database connections are busy; try again shortly",
                            "alla databasanslutningar är upptagna; försök igen om en stund",
                        )));
                    }
                    let _ =
                        tokio::time::timeout(left.min(Duration::from_millis(100)), notified).await;
                }
            }
        }
    }

    fn step(&self, tenant: &TenantId, placement: &Placement) -> Step {
        let mut st = self.inner.state.lock().unwrap();
        let lease = |users: &Arc<()>| Lease {
            users: Some(users.clone()),
            inner: Arc::downgrade(&self.inner),
        };
        if let Some(e) = st.get_mut(tenant) {
            if e.placement == *placement {
                e.last_used = Instant::now();
                return Step::Ready(e.cell.clone(), lease(&e.users), None);
            }
            // Moved to another server: drop the stale pool once nobody uses it.
            if Arc::strong_count(&e.users) > 1 {
                return Step::Wait;
            }
            let old = st.remove(tenant).map(|e| e.cell);
            let entry = new_entry(placement);
            let l = lease(&entry.users);
            let cell = entry.cell.clone();
            st.insert(tenant.clone(), entry);
            return Step::Ready(cell, l, old);
        }
        let mut victim = None;
        if st.len() >= self.inner.max_pools {
            let lru = st
                .iter()
                .filter(|(_, e)| Arc::strong_count(&e.users) == 1)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            match lru {
                Some(k) => victim = st.remove(&k).map(|e| e.cell),
                None => return Step::Wait,
            }
        }
        let entry = new_entry(placement);
        let l = lease(&entry.users);
        let cell = entry.cell.clone();
        st.insert(tenant.clone(), entry);
        Step::Ready(cell, l, victim)
    }

    fn forget(&self, tenant: &TenantId, cell: &Arc<OnceCell<DatabaseConnection>>) {
        let mut st = self.inner.state.lock().unwrap();
        if st.get(tenant).is_some_and(|e| Arc::ptr_eq(&e.cell, cell)) {
            st.remove(tenant);
        }
        drop(st);
        self.inner.released.notify_waiters();
    }

    /// Closes pools idle for longer than the idle timeout.
    pub async fn evict_idle(&self) {
        let idle = self.inner.cfg.idle_timeout;
        let victims: Vec<_> = {
            let mut st = self.inner.state.lock().unwrap();
            let keys: Vec<TenantId> = st
                .iter()
                .filter(|(_, e)| Arc::strong_count(&e.users) == 1 && e.last_used.elapsed() >= idle)
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| st.remove(k)).collect()
        };
        for v in victims {
            if let Some(conn) = v.cell.get() {
                conn.clone().close().await.ok();
            }
        }
        self.inner.released.notify_waiters();
    }

    /// Closes a tenant's pool now (after suspension or a move).
    pub async fn close(&self, tenant: &TenantId) {
        let e = self.inner.state.lock().unwrap().remove(tenant);
        if let Some(e) = e
            && let Some(conn) = e.cell.get()
        {
            conn.clone().close().await.ok();
        }
    }

    /// Closes every pool.
    pub async fn close_all(&self) {
        let all: Vec<_> = self.inner.state.lock().unwrap().drain().collect();
        for (_, e) in all {
            if let Some(conn) = e.cell.get() {
                conn.clone().close().await.ok();
            }
        }
    }
}

fn new_entry(placement: &Placement) -> Entry {
    Entry {
        placement: placement.clone(),
        cell: Arc::new(OnceCell::new()),
        users: Arc::new(()),
        last_used: Instant::now(),
    }
}
