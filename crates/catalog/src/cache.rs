//! A per-process cache of what every request reads before it can do
//! anything: the caller's grants, provider identity links, tenant placement
//! and evaluator assignments. Without it a score write spends more round
//! trips on these look-ups than on the write itself.
//!
//! Correctness rests on invalidation, not on expiry: every change to a
//! cached fact goes through [`AccessCache::invalidate`] after its commit,
//! which drops the entry here at once and, when Redis is configured, in every
//! other process through a pub/sub channel. The TTL only bounds how long a
//! missed invalidation can last. While the Redis subscription is down the
//! cache is bypassed (it cannot hear invalidations), and it is emptied when
//! the subscription comes back.
//!
//! A look-up that started before an invalidation must not store what it
//! read afterwards: every invalidation bumps an epoch, and a loaded value is
//! kept only if the epoch did not move while it was being read.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use kompass_auth::Grants;
use kompass_core::{Error, TenantId, UserId};
use moka::sync::Cache;

use crate::TenantRow;

/// A change that makes cached facts stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// Platform roles, activation or memberships of a user.
    User(UserId),
    /// State or placement of a tenant.
    Tenant(TenantId),
    /// An evaluator's assignment to an evaluation.
    Assignment {
        tenant: String,
        evaluation: String,
        user: String,
    },
    /// Everything (e.g. after a bulk change).
    All,
}

impl Invalidation {
    fn encode(&self) -> String {
        match self {
            Invalidation::User(u) => format!("u {u}"),
            Invalidation::Tenant(t) => format!("t {t}"),
            Invalidation::Assignment {
                tenant,
                evaluation,
                user,
            } => format!("a {tenant} {evaluation} {user}"),
            Invalidation::All => "*".into(),
        }
    }

    fn decode(s: &str) -> Option<Invalidation> {
        let mut it = s.split(' ');
        let r = match it.next()? {
            "u" => Invalidation::User(UserId::parse(it.next()?).ok()?),
            "t" => Invalidation::Tenant(TenantId::parse(it.next()?).ok()?),
            "a" => Invalidation::Assignment {
                tenant: it.next()?.into(),
                evaluation: it.next()?.into(),
                user: it.next()?.into(),
            },
            "*" => Invalidation::All,
            _ => return None,
        };
        it.next().is_none().then_some(r)
    }
}

pub type AssignmentKey = (String, String, String);

struct Inner {
    epoch: AtomicU64,
    /// False while a configured Redis subscription is down.
    listening: AtomicBool,
    grants: Cache<UserId, Option<Grants>>,
    /// Only links that exist (`Some`).
    links: Cache<(String, String), Option<UserId>>,
    tenants: Cache<TenantId, Option<TenantRow>>,
    /// The assigned role (`lead`, `peer`), `None` when not assigned.
    assignments: Cache<AssignmentKey, Option<String>>,
    redis: Option<(redis::aio::ConnectionManager, String)>,
}

/// Cheap to clone; all clones share one cache.
#[derive(Clone)]
pub struct AccessCache(Arc<Inner>);

impl std::fmt::Debug for AccessCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessCache")
            .field("ttl", &self.0.grants.policy().time_to_live())
            .field("redis", &self.0.redis.is_some())
            .finish()
    }
}

fn cache<K, V>(ttl: Duration) -> Cache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(100_000)
        .time_to_live(ttl)
        .build()
}

impl AccessCache {
    fn with(ttl: Duration, redis: Option<(redis::aio::ConnectionManager, String)>) -> Self {
        AccessCache(Arc::new(Inner {
            epoch: AtomicU64::new(0),
            listening: AtomicBool::new(redis.is_none()),
            grants: cache(ttl),
            links: cache(ttl),
            tenants: cache(ttl),
            assignments: cache(ttl),
            redis,
        }))
    }

    /// For one process that makes every change itself (`kompass dev`, tests).
    pub fn in_process(ttl: Duration) -> Self {
        Self::with(ttl, None)
    }

    /// For several processes: invalidations go out on, and come in from,
    /// `{prefix}access-invalidations`. The subscription runs until the
    /// process ends, reconnecting when Redis goes away.
    pub async fn redis(ttl: Duration, url: &str, prefix: &str) -> Result<Self, Error> {
        let client = redis::Client::open(url)
            .map_err(|e| Error::internal(format!("redis url {url:?}: {e}")))?;
        let conn = redis::aio::ConnectionManager::new(client.clone())
            .await
            .map_err(|e| Error::internal(format!("redis: {e}")))?;
        let channel = format!("{prefix}access-invalidations");
        let me = Self::with(ttl, Some((conn, channel.clone())));
        me.0.listening.store(false, Ordering::SeqCst);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(listen(
            Arc::downgrade(&me.0),
            client,
            channel,
            Some(ready_tx),
        ));
        // The first subscription before the first request, so a change made
        // right after start is heard; if Redis is down the cache stays off.
        let _ = tokio::time::timeout(Duration::from_secs(5), ready_rx).await;
        Ok(me)
    }

    /// Whether look-ups may be answered from the cache now.
    pub fn is_live(&self) -> bool {
        self.0.listening.load(Ordering::SeqCst)
    }

    /// Drops what `what` makes stale, here at once and (with Redis) in every
    /// other process. Call it after the change committed.
    pub async fn invalidate(&self, what: Invalidation) {
        self.apply(&what);
        if let Some((conn, channel)) = &self.0.redis {
            let mut conn = conn.clone();
            let sent: Result<i64, _> = redis::cmd("PUBLISH")
                .arg(channel)
                .arg(what.encode())
                .query_async(&mut conn)
                .await;
            if let Err(e) = sent {
                // The others cannot hear it: their subscriptions are down
                // too, so they bypass their caches, or the TTL bounds it.
                tracing::warn!(error = %e, invalidation = ?what, "access cache invalidation not sent");
            }
        }
    }

    /// Drops what `what` makes stale in this process only: for a change the
    /// process made behind the services' back (a test fixture).
    pub fn invalidate_local(&self, what: &Invalidation) {
        self.apply(what)
    }

    fn apply(&self, what: &Invalidation) {
        let i = &self.0;
        i.epoch.fetch_add(1, Ordering::SeqCst);
        match what {
            Invalidation::User(u) => {
                i.grants.invalidate(u);
                // Links point at users; a deactivated user's are dropped too.
                let u = u.clone();
                let _ = i
                    .links
                    .invalidate_entries_if(move |_, v| v.as_ref() == Some(&u));
            }
            Invalidation::Tenant(t) => i.tenants.invalidate(t),
            Invalidation::Assignment {
                tenant,
                evaluation,
                user,
            } => i
                .assignments
                .invalidate(&(tenant.clone(), evaluation.clone(), user.clone())),
            Invalidation::All => self.clear(),
        }
    }

    fn clear(&self) {
        let i = &self.0;
        i.grants.invalidate_all();
        i.links.invalidate_all();
        i.tenants.invalidate_all();
        i.assignments.invalidate_all();
    }

    /// `load`s what `c` lacks and keeps it if `keep` says so and no
    /// invalidation came while it was read.
    async fn get<K, V, F>(
        &self,
        c: &Cache<K, V>,
        key: K,
        load: F,
        keep: fn(&V) -> bool,
    ) -> Result<V, Error>
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        F: Future<Output = Result<V, Error>>,
    {
        if !self.is_live() {
            return load.await;
        }
        if let Some(v) = c.get(&key) {
            return Ok(v);
        }
        let epoch = self.0.epoch.load(Ordering::SeqCst);
        let v = load.await?;
        if keep(&v) && self.0.epoch.load(Ordering::SeqCst) == epoch && self.is_live() {
            c.insert(key, v.clone());
        }
        Ok(v)
    }

    pub async fn grants(
        &self,
        user: &UserId,
        load: impl Future<Output = Result<Option<Grants>, Error>>,
    ) -> Result<Option<Grants>, Error> {
        self.get(&self.0.grants, user.clone(), load, |_| true).await
    }

    /// Positive links only: a missing link is made at first sign-in and
    /// must be found at once afterwards.
    pub async fn link(
        &self,
        key: (String, String),
        load: impl Future<Output = Result<Option<UserId>, Error>>,
    ) -> Result<Option<UserId>, Error> {
        self.get(&self.0.links, key, load, Option::is_some).await
    }

    pub async fn tenant(
        &self,
        id: &TenantId,
        load: impl Future<Output = Result<Option<TenantRow>, Error>>,
    ) -> Result<Option<TenantRow>, Error> {
        self.get(&self.0.tenants, id.clone(), load, |_| true).await
    }

    pub async fn assignment(
        &self,
        key: AssignmentKey,
        load: impl Future<Output = Result<Option<String>, Error>>,
    ) -> Result<Option<String>, Error> {
        self.get(&self.0.assignments, key, load, |_| true).await
    }
}

/// Applies invalidations published by other processes (and this one's own,
/// which is harmless). Ends when the cache is dropped.
async fn listen(
    cache: std::sync::Weak<Inner>,
    client: redis::Client,
    channel: String,
    mut ready: Option<tokio::sync::oneshot::Sender<()>>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(inner) = cache.upgrade() else { return };
        let me = AccessCache(inner);
        match client.get_async_pubsub().await {
            Ok(mut ps) => match ps.subscribe(&channel).await {
                Ok(()) => {
                    // Whatever changed while nobody listened is unknown.
                    me.clear();
                    me.0.epoch.fetch_add(1, Ordering::SeqCst);
                    me.0.listening.store(true, Ordering::SeqCst);
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                    backoff = Duration::from_millis(100);
                    let weak = Arc::downgrade(&me.0);
                    drop(me);
                    let mut stream = ps.into_on_message();
                    while let Some(msg) = stream.next().await {
                        let Some(inner) = weak.upgrade() else { return };
                        let me = AccessCache(inner);
                        match msg
                            .get_payload::<String>()
                            .ok()
                            .as_deref()
                            .and_then(Invalidation::decode)
                        {
                            Some(inv) => me.apply(&inv),
                            None => me.apply(&Invalidation::All),
                        }
                    }
                    let Some(inner) = weak.upgrade() else { return };
                    inner.listening.store(false, Ordering::SeqCst);
                    tracing::warn!(
                        "access cache: Redis subscription lost; bypassing the cache until it is back"
                    );
                    continue;
                }
                Err(e) => {
                    me.0.listening.store(false, Ordering::SeqCst);
                    tracing::warn!(error = %e, "access cache: cannot subscribe");
                }
            },
            Err(e) => {
                me.0.listening.store(false, Ordering::SeqCst);
                tracing::warn!(error = %e, "access cache: Redis unreachable");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidations_round_trip() {
        for i in [
            Invalidation::User(UserId::parse("eva").unwrap()),
            Invalidation::Tenant(TenantId::parse("ostra").unwrap()),
            Invalidation::Assignment {
                tenant: "ostra".into(),
                evaluation: "e1".into(),
                user: "eva".into(),
            },
            Invalidation::All,
        ] {
            assert_eq!(Invalidation::decode(&i.encode()), Some(i));
        }
        assert_eq!(Invalidation::decode("u"), None);
        assert_eq!(Invalidation::decode("u a b"), None);
        assert_eq!(Invalidation::decode("x y"), None);
    }

    #[tokio::test]
    async fn a_load_overtaken_by_an_invalidation_is_not_kept() {
        let c = AccessCache::in_process(Duration::from_secs(60));
        let u = UserId::parse("eva").unwrap();
        let stale = Grants {
            active: true,
            ..Default::default()
        };
        let c2 = c.clone();
        let u2 = u.clone();
        let got = c
            .grants(&u, async move {
                // The revocation commits while this read is under way.
                c2.invalidate(Invalidation::User(u2)).await;
                Ok(Some(stale))
            })
            .await
            .unwrap();
        assert!(got.unwrap().active);
        let fresh = c
            .grants(&u, async { Ok(Some(Grants::default())) })
            .await
            .unwrap();
        assert!(!fresh.unwrap().active, "the overtaken read was cached");
    }

    #[tokio::test]
    async fn invalidation_drops_at_once_and_ttl_bounds() {
        let c = AccessCache::in_process(Duration::from_millis(200));
        let t = TenantId::parse("ostra").unwrap();
        let key = ("ostra".to_string(), "e1".to_string(), "eva".to_string());
        let r = c
            .assignment(key.clone(), async { Ok(Some("lead".into())) })
            .await
            .unwrap();
        assert_eq!(r.as_deref(), Some("lead"));
        let r = c.assignment(key.clone(), async { Ok(None) }).await.unwrap();
        assert_eq!(r.as_deref(), Some("lead"), "served from the cache");
        c.invalidate(Invalidation::Assignment {
            tenant: "ostra".into(),
            evaluation: "e1".into(),
            user: "eva".into(),
        })
        .await;
        let r = c.assignment(key.clone(), async { Ok(None) }).await.unwrap();
        assert_eq!(r, None, "invalidated");
        let _ = c.tenant(&t, async { Ok(None) }).await.unwrap();
        // A missed invalidation: the TTL ends it.
        let r = c
            .assignment(key.clone(), async { Ok(Some("peer".into())) })
            .await
            .unwrap();
        assert_eq!(r, None);
        tokio::time::sleep(Duration::from_millis(400)).await;
        let r = c
            .assignment(key, async { Ok(Some("peer".into())) })
            .await
            .unwrap();
        assert_eq!(r.as_deref(), Some("peer"));
    }
}
