use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, Value};
use tokio::sync::Mutex;

use crate::{ClaimPolicy, DeadLetter, Delivery, EventBus, EventError, dead_letter_stream};

type Reader = Arc<Mutex<Option<redis::aio::MultiplexedConnection>>>;

/// Redis streams with consumer groups. Run Redis with AOF (`appendonly yes`)
/// so accepted events survive a Redis restart.
pub struct RedisBus {
    client: redis::Client,
    prefix: String,
    /// Shared, reconnecting connection for XADD/XACK.
    conn: ConnectionManager,
    /// Blocking reads get a connection of their own per stream, so a
    /// consumer blocked on one stream never delays another's.
    readers: std::sync::Mutex<HashMap<String, Reader>>,
    claim: ClaimPolicy,
    /// When each (stream, group) last forgot idle consumers.
    pruned: std::sync::Mutex<HashMap<String, std::time::Instant>>,
}

fn field(id: &redis::streams::StreamId, f: &str) -> Vec<u8> {
    match id.map.get(f) {
        Some(Value::BulkString(b)) => b.clone(),
        Some(Value::SimpleString(s)) => s.clone().into_bytes(),
        _ => vec![],
    }
}

fn text(id: &redis::streams::StreamId, f: &str) -> String {
    String::from_utf8_lossy(&field(id, f)).into_owned()
}

/// The smaller of two stream ids (`ms-seq`).
fn min_id(a: String, b: String) -> String {
    let key = |s: &str| {
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        (
            ms.parse::<u64>().unwrap_or(0),
            seq.parse::<u64>().unwrap_or(0),
        )
    };
    if key(&a) <= key(&b) { a } else { b }
}

impl RedisBus {
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisBus, EventError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client.clone()).await?;
        Ok(RedisBus {
            client,
            prefix: prefix.into(),
            conn,
            readers: Default::default(),
            claim: ClaimPolicy::default(),
            pruned: Default::default(),
        })
    }

    pub fn with_claim_policy(mut self, claim: ClaimPolicy) -> Self {
        self.claim = claim;
        self
    }

    /// Takes over what other consumers left pending too long, and now and
    /// then forgets consumers that are gone (idle, nothing pending).
    async fn take_over(
        &self,
        key: &str,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> Result<(), EventError> {
        use redis::streams::{
            StreamAutoClaimOptions, StreamAutoClaimReply, StreamInfoConsumersReply,
        };
        let mut c = self.conn.clone();
        let claimed: StreamAutoClaimReply = c
            .xautoclaim_options(
                key,
                group,
                consumer,
                self.claim.idle.as_millis() as u64,
                "0-0",
                StreamAutoClaimOptions::default().count(count),
            )
            .await?;
        if !claimed.claimed.is_empty() {
            tracing::info!(
                stream = key,
                group,
                consumer,
                entries = claimed.claimed.len(),
                "took over entries another consumer left pending"
            );
        }
        let due = {
            let mut pruned = self.pruned.lock().expect("pruned map");
            let k = format!("{key}\u{0}{group}");
            let now = std::time::Instant::now();
            match pruned.get(&k) {
                Some(t) if now.duration_since(*t) < Duration::from_secs(60) => false,
                _ => {
                    pruned.insert(k, now);
                    true
                }
            }
        };
        if due {
            let info: StreamInfoConsumersReply = c.xinfo_consumers(key, group).await?;
            for gone in info.consumers.iter().filter(|x| {
                x.name != consumer
                    && x.pending == 0
                    && x.idle as u128 >= self.claim.forget_consumer_after.as_millis()
            }) {
                let _: i64 = c.xgroup_delconsumer(key, group, &gone.name).await?;
                tracing::info!(stream = key, group, consumer = %gone.name, "forgot an idle consumer");
            }
        }
        Ok(())
    }

    fn reader(&self, key: &str) -> Reader {
        self.readers
            .lock()
            .expect("reader map")
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    fn key(&self, stream: &str) -> String {
        format!("{}stream:{stream}", self.prefix)
    }

    async fn ensure_group(&self, key: &str, group: &str) -> Result<(), EventError> {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<()> = c.xgroup_create_mkstream(key, group, "0").await;
        match r {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => Ok(other?),
        }
    }
}

fn to_deliveries(reply: StreamReadReply) -> Vec<Delivery> {
    reply
        .keys
        .iter()
        .flat_map(|k| k.ids.iter())
        .map(|id| Delivery {
            entry_id: id.id.clone(),
            event_id: text(id, "event_id"),
            topic: text(id, "topic"),
            payload: field(id, "payload"),
            deliveries: 1,
        })
        .collect()
}

#[async_trait::async_trait]
impl EventBus for RedisBus {
    async fn ping(&self) -> Result<(), EventError> {
        let mut c = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut c).await?;
        Ok(())
    }

    async fn publish(
        &self,
        stream: &str,
        event_id: &str,
        topic: &str,
        payload: &[u8],
    ) -> Result<(), EventError> {
        let mut c = self.conn.clone();
        let _: String = c
            .xadd(
                self.key(stream),
                "*",
                &[
                    ("event_id", event_id.as_bytes()),
                    ("topic", topic.as_bytes()),
                    ("payload", payload),
                ],
            )
            .await?;
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
        let key = self.key(stream);
        self.ensure_group(&key, group).await?;
        let reader = self.reader(&key);
        let mut guard = reader.lock().await;
        if guard.is_none() {
            // Blocking reads wait longer than redis' default response timeout.
            let cfg = redis::AsyncConnectionConfig::new()
                .set_response_timeout(None)
                .set_connection_timeout(Some(Duration::from_secs(5)));
            *guard = Some(
                self.client
                    .get_multiplexed_async_connection_with_config(&cfg)
                    .await?,
            );
        }
        self.take_over(&key, group, consumer, count).await?;
        let conn = guard.as_mut().expect("set above");
        // Own pending entries first (a restart after a crash before XACK,
        // a failed delivery, or what was just taken over).
        let pending: redis::RedisResult<StreamReadReply> = conn
            .xread_options(
                &[&key],
                &["0"],
                &StreamReadOptions::default()
                    .group(group, consumer)
                    .count(count),
            )
            .await;
        let mut pending = match pending {
            Ok(p) => to_deliveries(p),
            Err(e) => {
                *guard = None;
                return Err(e.into());
            }
        };
        if let (Some(first), Some(last)) = (pending.first(), pending.last()) {
            // How often each was delivered (a poison event is set aside by it).
            let mut c = self.conn.clone();
            let counts: redis::streams::StreamPendingCountReply = c
                .xpending_consumer_count(
                    &key,
                    group,
                    &first.entry_id,
                    &last.entry_id,
                    count,
                    consumer,
                )
                .await?;
            let by_id: HashMap<&str, u64> = counts
                .ids
                .iter()
                .map(|p| (p.id.as_str(), p.times_delivered as u64))
                .collect();
            for d in &mut pending {
                d.deliveries = by_id.get(d.entry_id.as_str()).copied().unwrap_or(1);
            }
            return Ok(pending);
        }
        let mut opts = StreamReadOptions::default()
            .group(group, consumer)
            .count(count);
        // BLOCK 0 would wait for ever; no BLOCK answers at once.
        if !block.is_zero() {
            opts = opts.block(block.as_millis().max(1) as usize);
        }
        let res: redis::RedisResult<Option<StreamReadReply>> =
            conn.xread_options(&[&key], &[">"], &opts).await;
        match res {
            Ok(r) => Ok(r.map(to_deliveries).unwrap_or_default()),
            Err(e) => {
                // Drop the connection; the next read reconnects.
                *guard = None;
                Err(e.into())
            }
        }
    }

    async fn ack(&self, stream: &str, group: &str, entry_id: &str) -> Result<(), EventError> {
        let mut c = self.conn.clone();
        let _: i64 = c.xack(self.key(stream), group, &[entry_id]).await?;
        Ok(())
    }

    async fn dead_letter(
        &self,
        stream: &str,
        group: &str,
        d: &Delivery,
        error: &str,
    ) -> Result<(), EventError> {
        let mut c = self.conn.clone();
        let deliveries = d.deliveries.to_string();
        // Appended before the acknowledgement: a crash in between leaves the
        // entry pending (it comes again), never lost.
        let _: String = c
            .xadd(
                self.key(&dead_letter_stream(stream)),
                "*",
                &[
                    ("event_id", d.event_id.as_bytes()),
                    ("topic", d.topic.as_bytes()),
                    ("payload", d.payload.as_slice()),
                    ("group", group.as_bytes()),
                    ("error", error.as_bytes()),
                    ("deliveries", deliveries.as_bytes()),
                    ("entry_id", d.entry_id.as_bytes()),
                ],
            )
            .await?;
        self.ack(stream, group, &d.entry_id).await
    }

    async fn dead_letters(
        &self,
        stream: &str,
        count: usize,
    ) -> Result<Vec<DeadLetter>, EventError> {
        let mut c = self.conn.clone();
        let r: redis::streams::StreamRangeReply = c
            .xrange_count(self.key(&dead_letter_stream(stream)), "-", "+", count)
            .await?;
        Ok(r.ids
            .iter()
            .map(|id| DeadLetter {
                id: id.id.clone(),
                event_id: text(id, "event_id"),
                topic: text(id, "topic"),
                payload: field(id, "payload"),
                group: text(id, "group"),
                error: text(id, "error"),
                deliveries: text(id, "deliveries").parse().unwrap_or(0),
                entry_id: text(id, "entry_id"),
            })
            .collect())
    }

    async fn replay(&self, stream: &str, id: &str) -> Result<bool, EventError> {
        let mut c = self.conn.clone();
        let dead = self.key(&dead_letter_stream(stream));
        let r: redis::streams::StreamRangeReply = c.xrange_count(&dead, id, id, 1).await?;
        let Some(entry) = r.ids.first() else {
            return Ok(false);
        };
        self.publish(
            stream,
            &text(entry, "event_id"),
            &text(entry, "topic"),
            &field(entry, "payload"),
        )
        .await?;
        let _: i64 = c.xdel(&dead, &[id]).await?;
        Ok(true)
    }

    async fn trim(&self, stream: &str) -> Result<u64, EventError> {
        use redis::streams::{
            StreamInfoGroupsReply, StreamPendingReply, StreamTrimOptions, StreamTrimmingMode,
        };
        let key = self.key(stream);
        let mut c = self.conn.clone();
        let exists: bool = c.exists(&key).await?;
        if !exists {
            return Ok(0);
        }
        let groups: StreamInfoGroupsReply = c.xinfo_groups(&key).await?;
        let mut keep: Option<String> = None;
        for g in &groups.groups {
            // What this group still needs: its oldest pending entry, else
            // whatever comes after the last one it was given.
            let pending: StreamPendingReply = c.xpending(&key, &g.name).await?;
            let need = match pending {
                StreamPendingReply::Data(p) => p.start_id,
                _ => g.last_delivered_id.clone(),
            };
            keep = Some(match keep {
                Some(k) => min_id(k, need),
                None => need,
            });
        }
        let Some(keep) = keep else {
            return Ok(0);
        };
        let n: usize = c
            .xtrim_options(
                &key,
                &StreamTrimOptions::minid(StreamTrimmingMode::Exact, keep.clone()),
            )
            .await?;
        Ok(n as u64)
    }
}
