use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::{ClaimPolicy, DeadLetter, Delivery, EventBus, EventError};

/// In-process stand-in for Redis streams (`kompass dev`): same semantics —
/// consumer groups, pending entries, redelivery of what was not acknowledged,
/// take-over of what a consumer left pending too long, dead letters, trimming.
#[derive(Default)]
pub struct MemoryBus {
    state: Mutex<State>,
    notify: Notify,
    claim: ClaimPolicy,
}

/// An entry given to a consumer and not yet acknowledged.
#[derive(Debug, Clone, Copy)]
struct Pending {
    deliveries: u64,
    at: Instant,
}

#[derive(Default)]
struct Stream {
    /// Entries from absolute position `base` on (earlier ones were trimmed).
    entries: VecDeque<Delivery>,
    base: usize,
}

#[derive(Default)]
struct Group {
    /// Absolute position of the next entry never delivered.
    next: usize,
    /// Pending entries by consumer, by absolute position.
    pending: HashMap<String, BTreeMap<usize, Pending>>,
}

#[derive(Default)]
struct State {
    streams: HashMap<String, Stream>,
    /// By (stream, group).
    groups: HashMap<(String, String), Group>,
    dead: HashMap<String, Vec<DeadLetter>>,
    seq: u64,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_claim_policy(mut self, claim: ClaimPolicy) -> Self {
        self.claim = claim;
        self
    }

    fn push(&self, stream: &str, event_id: &str, topic: &str, payload: &[u8]) {
        {
            let mut st = self.state.lock().unwrap();
            st.seq += 1;
            let entry_id = format!("{}-0", st.seq);
            st.streams
                .entry(stream.into())
                .or_default()
                .entries
                .push_back(Delivery {
                    entry_id,
                    event_id: event_id.into(),
                    topic: topic.into(),
                    payload: payload.to_vec(),
                    deliveries: 1,
                });
        }
        self.notify.notify_waiters();
    }

    /// One read attempt; empty when there is nothing for `consumer`.
    fn take(&self, stream: &str, group: &str, consumer: &str, count: usize) -> Vec<Delivery> {
        let now = Instant::now();
        let mut guard = self.state.lock().unwrap();
        let st = &mut *guard;
        let s = st.streams.entry(stream.into()).or_default();
        let g = st.groups.entry((stream.into(), group.into())).or_default();
        // Take over what others left pending too long.
        let mut taken = BTreeMap::new();
        for (who, pend) in g.pending.iter_mut().filter(|(w, _)| *w != consumer) {
            let stale: Vec<usize> = pend
                .iter()
                .filter(|(_, p)| now.duration_since(p.at) >= self.claim.idle)
                .map(|(i, _)| *i)
                .collect();
            for i in stale {
                if let Some(p) = pend.remove(&i) {
                    tracing::info!(stream, group, from = %who, "took over an entry left pending");
                    taken.insert(i, p);
                }
            }
        }
        // Forget consumers with nothing pending (the in-process bus has no
        // idle clock per consumer; an empty one costs nothing to re-create).
        g.pending.retain(|w, p| w == consumer || !p.is_empty());
        let mine = g.pending.entry(consumer.into()).or_default();
        mine.extend(taken);
        let at = |i: usize| s.entries.get(i.checked_sub(s.base)?).cloned();
        let mut out = Vec::new();
        for (i, p) in mine.iter_mut().take(count) {
            if let Some(mut d) = at(*i) {
                p.deliveries += 1;
                p.at = now;
                d.deliveries = p.deliveries;
                out.push(d);
            }
        }
        if !out.is_empty() {
            return out;
        }
        g.next = g.next.max(s.base);
        while out.len() < count
            && let Some(d) = at(g.next)
        {
            mine.insert(
                g.next,
                Pending {
                    deliveries: 1,
                    at: now,
                },
            );
            g.next += 1;
            out.push(d);
        }
        out
    }
}

#[async_trait::async_trait]
impl EventBus for MemoryBus {
    async fn publish(
        &self,
        stream: &str,
        event_id: &str,
        topic: &str,
        payload: &[u8],
    ) -> Result<(), EventError> {
        self.push(stream, event_id, topic, payload);
        Ok(())
    }

    async fn read(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, EventError> {
        let deadline = tokio::time::Instant::now() + block;
        loop {
            let notified = self.notify.notified();
            let out = self.take(stream, group, consumer, count);
            if !out.is_empty() {
                return Ok(out);
            }
            // Wake for a publication, or when a pending entry may have gone stale.
            let wake = deadline.min(tokio::time::Instant::now() + self.claim.idle);
            if tokio::time::timeout_at(wake, notified).await.is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return Ok(self.take(stream, group, consumer, count));
            }
        }
    }

    async fn ack(&self, stream: &str, group: &str, entry_id: &str) -> Result<(), EventError> {
        let mut guard = self.state.lock().unwrap();
        let st = &mut *guard;
        let Some(s) = st.streams.get(stream) else {
            return Ok(());
        };
        let Some(pos) = s.entries.iter().position(|d| d.entry_id == entry_id) else {
            return Ok(());
        };
        let abs = s.base + pos;
        if let Some(g) = st.groups.get_mut(&(stream.into(), group.into())) {
            for p in g.pending.values_mut() {
                p.remove(&abs);
            }
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        stream: &str,
        group: &str,
        d: &Delivery,
        error: &str,
    ) -> Result<(), EventError> {
        {
            let mut st = self.state.lock().unwrap();
            st.seq += 1;
            let id = format!("{}-0", st.seq);
            st.dead.entry(stream.into()).or_default().push(DeadLetter {
                id,
                event_id: d.event_id.clone(),
                topic: d.topic.clone(),
                payload: d.payload.clone(),
                group: group.into(),
                error: error.into(),
                deliveries: d.deliveries,
                entry_id: d.entry_id.clone(),
            });
        }
        self.ack(stream, group, &d.entry_id).await
    }

    async fn dead_letters(
        &self,
        stream: &str,
        count: usize,
    ) -> Result<Vec<DeadLetter>, EventError> {
        let st = self.state.lock().unwrap();
        Ok(st
            .dead
            .get(stream)
            .map(|v| v.iter().take(count).cloned().collect())
            .unwrap_or_default())
    }

    async fn replay(&self, stream: &str, id: &str) -> Result<bool, EventError> {
        let dead = {
            let mut st = self.state.lock().unwrap();
            let Some(v) = st.dead.get_mut(stream) else {
                return Ok(false);
            };
            let Some(pos) = v.iter().position(|d| d.id == id) else {
                return Ok(false);
            };
            v.remove(pos)
        };
        self.push(stream, &dead.event_id, &dead.topic, &dead.payload);
        Ok(true)
    }

    async fn trim(&self, stream: &str) -> Result<u64, EventError> {
        let mut guard = self.state.lock().unwrap();
        let st = &mut *guard;
        let keep = st
            .groups
            .iter()
            .filter(|((s, _), _)| s == stream)
            .map(|(_, g)| {
                g.pending
                    .values()
                    .filter_map(|p| p.keys().next().copied())
                    .min()
                    .unwrap_or(g.next)
                    .min(g.next)
            })
            .min();
        let (Some(keep), Some(s)) = (keep, st.streams.get_mut(stream)) else {
            return Ok(0);
        };
        let n = keep.saturating_sub(s.base).min(s.entries.len());
        s.entries.drain(..n);
        s.base += n;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "s";
    const G: &str = "g";

    async fn publish(bus: &MemoryBus, n: usize) {
        for i in 0..n {
            bus.publish(S, &format!("e{i}"), "t", b"p").await.unwrap();
        }
    }

    #[tokio::test]
    async fn an_entry_left_pending_is_taken_over_after_the_idle_time_with_its_count() {
        let bus = MemoryBus::new().with_claim_policy(ClaimPolicy {
            idle: Duration::from_millis(50),
            ..Default::default()
        });
        publish(&bus, 1).await;
        let first = bus.read(S, G, "pod-a", 10, Duration::ZERO).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].deliveries, 1);
        // Not yet stale: the other consumer sees nothing.
        assert!(
            bus.read(S, G, "pod-b", 10, Duration::ZERO)
                .await
                .unwrap()
                .is_empty()
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
        let taken = bus.read(S, G, "pod-b", 10, Duration::ZERO).await.unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].event_id, "e0");
        assert_eq!(taken[0].deliveries, 2);
        bus.ack(S, G, &taken[0].entry_id).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(
            bus.read(S, G, "pod-a", 10, Duration::ZERO)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn dead_letters_are_listed_replayed_once_and_trim_keeps_what_is_pending() {
        let bus = MemoryBus::new();
        publish(&bus, 3).await;
        let ds = bus.read(S, G, "c", 10, Duration::ZERO).await.unwrap();
        assert_eq!(ds.len(), 3);
        bus.dead_letter(S, G, &ds[0], "bad payload").await.unwrap();
        bus.ack(S, G, &ds[1].entry_id).await.unwrap();
        // e2 still pending: only e0 and e1 can go.
        assert_eq!(bus.trim(S).await.unwrap(), 2);
        assert_eq!(bus.trim(S).await.unwrap(), 0);
        let dead = bus.dead_letters(S, 10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(
            (dead[0].event_id.as_str(), dead[0].error.as_str()),
            ("e0", "bad payload")
        );
        // Own pending e2 first, then the replayed e0.
        assert!(bus.replay(S, &dead[0].id).await.unwrap());
        assert!(!bus.replay(S, &dead[0].id).await.unwrap());
        assert!(bus.dead_letters(S, 10).await.unwrap().is_empty());
        let again = bus.read(S, G, "c", 10, Duration::ZERO).await.unwrap();
        assert_eq!(
            again
                .iter()
                .map(|d| d.event_id.as_str())
                .collect::<Vec<_>>(),
            ["e2"]
        );
        assert_eq!(again[0].deliveries, 2);
        bus.ack(S, G, &again[0].entry_id).await.unwrap();
        let replayed = bus.read(S, G, "c", 10, Duration::ZERO).await.unwrap();
        assert_eq!(
            replayed
                .iter()
                .map(|d| d.event_id.as_str())
                .collect::<Vec<_>>(),
            ["e0"]
        );
    }
}
