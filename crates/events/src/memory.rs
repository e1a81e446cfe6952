use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use crate::{Delivery, EventBus, EventError};

/// In-process stand-in for Redis streams (`kompass dev`): same semantics —
/// consumer groups, pending entries, redelivery of what was not acknowledged.
#[derive(Default)]
pub struct MemoryBus {
    state: Mutex<State>,
    notify: Notify,
}

/// Next index to deliver, and pending entry ids by consumer.
type Group = (usize, HashMap<String, HashSet<String>>);

#[derive(Default)]
struct State {
    streams: HashMap<String, Vec<Delivery>>,
    /// By (stream, group).
    groups: HashMap<(String, String), Group>,
    seq: u64,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
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
        {
            let mut st = self.state.lock().unwrap();
            st.seq += 1;
            let entry_id = format!("{}-0", st.seq);
            st.streams.entry(stream.into()).or_default().push(Delivery {
                entry_id,
                event_id: event_id.into(),
                topic: topic.into(),
                payload: payload.to_vec(),
            });
        }
        self.notify.notify_waiters();
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
            {
                let mut st = self.state.lock().unwrap();
                let entries = st.streams.get(stream).cloned().unwrap_or_default();
                let (next, pending) = st.groups.entry((stream.into(), group.into())).or_default();
                let mine = pending.entry(consumer.into()).or_default();
                // Own pending first: a restarted consumer gets them again.
                let mut out: Vec<Delivery> = entries
                    .iter()
                    .filter(|d| mine.contains(&d.entry_id))
                    .take(count)
                    .cloned()
                    .collect();
                while out.len() < count && *next < entries.len() {
                    let d = entries[*next].clone();
                    *next += 1;
                    mine.insert(d.entry_id.clone());
                    out.push(d);
                }
                if !out.is_empty() {
                    return Ok(out);
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(vec![]);
            }
        }
    }

    async fn ack(&self, stream: &str, group: &str, entry_id: &str) -> Result<(), EventError> {
        let mut st = self.state.lock().unwrap();
        if let Some((_, pending)) = st.groups.get_mut(&(stream.into(), group.into())) {
            for set in pending.values_mut() {
                set.remove(entry_id);
            }
        }
        Ok(())
    }
}
