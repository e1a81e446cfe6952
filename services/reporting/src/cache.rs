//! Cache of national comparisons: Redis (shared by replicas) or in-process
//! in embedded mode. Entries live in a hash per generation; a publication
//! bumps the generation, so every earlier entry is dead at once, and a
//! computation that started before the bump can only land in the old hash.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

const TTL: Duration = Duration::from_secs(3600);

pub enum Cache {
    Memory(Mutex<(u64, HashMap<String, Vec<u8>>)>),
    Redis {
        client: redis::Client,
        prefix: String,
        conn: OnceCell<ConnectionManager>,
    },
}

impl Cache {
    pub fn memory() -> Cache {
        Cache::Memory(Mutex::new((0, HashMap::new())))
    }

    pub fn redis(url: &str, prefix: &str) -> Result<Cache, redis::RedisError> {
        Ok(Cache::Redis {
            client: redis::Client::open(url)?,
            prefix: prefix.into(),
            conn: OnceCell::new(),
        })
    }

    async fn conn(
        client: &redis::Client,
        conn: &OnceCell<ConnectionManager>,
    ) -> Result<ConnectionManager, redis::RedisError> {
        conn.get_or_try_init(|| ConnectionManager::new(client.clone()))
            .await
            .cloned()
    }

    /// The current generation and the entry under `key`, if any.
    pub async fn get(&self, key: &str) -> (u64, Option<Vec<u8>>) {
        match self {
            Cache::Memory(m) => {
                let g = m.lock().unwrap();
                (g.0, g.1.get(key).cloned())
            }
            Cache::Redis {
                client,
                prefix,
                conn,
            } => {
                let res: Result<(u64, Option<Vec<u8>>), redis::RedisError> = async {
                    let mut c = Self::conn(client, conn).await?;
                    let script = redis::Script::new(
                        "local g = redis.call('GET', KEYS[1]) or '0' \
                         return {tonumber(g), redis.call('HGET', ARGV[1] .. g, ARGV[2])}",
                    );
                    script
                        .key(format!("{prefix}reporting:cmp:gen"))
                        .arg(format!("{prefix}reporting:cmp:"))
                        .arg(key)
                        .invoke_async(&mut c)
                        .await
                }
                .await;
                res.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "comparison cache unavailable");
                    (u64::MAX, None)
                })
            }
        }
    }

    /// Stores an entry computed under generation `generation`.
    pub async fn put(&self, generation: u64, key: &str, value: Vec<u8>) {
        match self {
            Cache::Memory(m) => {
                let mut g = m.lock().unwrap();
                if g.0 == generation {
                    g.1.insert(key.into(), value);
                }
            }
            Cache::Redis {
                client,
                prefix,
                conn,
            } => {
                if generation == u64::MAX {
                    return;
                }
                let res: Result<(), redis::RedisError> = async {
                    let mut c = Self::conn(client, conn).await?;
                    let hash = format!("{prefix}reporting:cmp:{generation}");
                    redis::pipe()
                        .hset(&hash, key, value)
                        .ignore()
                        .expire(&hash, TTL.as_secs() as i64)
                        .ignore()
                        .query_async(&mut c)
                        .await
                }
                .await;
                if let Err(e) = res {
                    tracing::warn!(error = %e, "comparison cache write failed");
                }
            }
        }
    }

    /// Drops every entry (a new evaluation was published).
    pub async fn invalidate(&self) -> Result<(), String> {
        match self {
            Cache::Memory(m) => {
                let mut g = m.lock().unwrap();
                g.0 += 1;
                g.1.clear();
                Ok(())
            }
            Cache::Redis {
                client,
                prefix,
                conn,
            } => {
                let res: Result<i64, redis::RedisError> = async {
                    let mut c = Self::conn(client, conn).await?;
                    redis::cmd("INCR")
                        .arg(format!("{prefix}reporting:cmp:gen"))
                        .query_async(&mut c)
                        .await
                }
                .await;
                res.map(|_| ()).map_err(|e| e.to_string())
            }
        }
    }
}
