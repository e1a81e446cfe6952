use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, Value};
use tokio::sync::Mutex;

use crate::{Delivery, EventBus, EventError};

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
        })
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
    let mut out = vec![];
    for k in reply.keys {
        for id in k.ids {
            let get = |f: &str| -> Vec<u8> {
                match id.map.get(f) {
                    Some(Value::BulkString(b)) => b.clone(),
                    Some(Value::SimpleString(s)) => s.clone().into_bytes(),
                    _ => vec![],
                }
            };
            out.push(Delivery {
                entry_id: id.id.clone(),
                event_id: String::from_utf8_lossy(&get("event_id")).into_owned(),
                topic: String::from_utf8_lossy(&get("topic")).into_owned(),
                payload: get("payload"),
            });
        }
    }
    out
}

#[async_trait::async_trait]
impl EventBus for RedisBus {
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
        let conn = guard.as_mut().expect("set above");
        // Own pending entries first (a restart after a crash before XACK).
        let pending: redis::RedisResult<StreamReadReply> = conn
            .xread_options(
                &[&key],
                &["0"],
                &StreamReadOptions::default()
                    .group(group, consumer)
                    .count(count),
            )
            .await;
        let pending = match pending {
            Ok(p) => to_deliveries(p),
            Err(e) => {
                *guard = None;
                return Err(e.into());
            }
        };
        if !pending.is_empty() {
            return Ok(pending);
        }
        let res: redis::RedisResult<Option<StreamReadReply>> = conn
            .xread_options(
                &[&key],
                &[">"],
                &StreamReadOptions::default()
                    .group(group, consumer)
                    .count(count)
                    .block(block.as_millis() as usize),
            )
            .await;
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
}
