//! Events between services. Producers write an outbox row in the same
//! transaction as the change; [`relay_outbox`] moves committed rows to the bus,
//! marking them sent only after the bus accepted them. Delivery is at least
//! once, so consumers deduplicate by `event_id` and acknowledge after commit.

mod consumer;
mod memory;
mod outbox;
mod redis_bus;

use std::sync::Arc;
use std::time::Duration;

pub use consumer::{ConsumerOptions, consume, dead_lettered_total};
pub use memory::MemoryBus;
pub use outbox::purge_sent;
pub use outbox::{OutboxTable, enqueue, relay_outbox};
pub use redis_bus::RedisBus;

/// Stream names.
pub mod streams {
    pub const EVALUATIONS: &str = "evaluations";
    pub const PROJECTS: &str = "projects";
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    #[error("event store: {0}")]
    Db(#[from] sea_orm::DbErr),
}

impl From<redis::RedisError> for EventError {
    fn from(e: redis::RedisError) -> Self {
        EventError::Unavailable(e.to_string())
    }
}

/// One event as delivered to a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Position in the stream; acknowledge with it.
    pub entry_id: String,
    /// Producer's id: the same for a redelivery or a duplicate publish.
    pub event_id: String,
    /// Topic, e.g. `evaluation.published`.
    pub topic: String,
    pub payload: Vec<u8>,
    /// Times the group has delivered this entry, this delivery included
    /// (1: the first). Counts deliveries to consumers that died too.
    pub deliveries: u64,
}

/// An event a consumer group gave up on (see [`EventBus::dead_letter`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its id in the dead-letter stream (what `replay` takes).
    pub id: String,
    pub event_id: String,
    pub topic: String,
    pub payload: Vec<u8>,
    /// The group that could not apply it, and why.
    pub group: String,
    pub error: String,
    /// Deliveries before it was set aside.
    pub deliveries: u64,
    /// Its id in the original stream.
    pub entry_id: String,
}

/// The dead-letter stream of `stream`.
pub fn dead_letter_stream(stream: &str) -> String {
    format!("{stream}:dead")
}

/// How a bus hands out entries that a consumer left unacknowledged.
#[derive(Debug, Clone, Copy)]
pub struct ClaimPolicy {
    /// An entry pending this long with another consumer (a pod that died
    /// before acknowledging) is taken over by the next reader.
    pub idle: Duration,
    /// A consumer idle this long with nothing pending is removed from its
    /// group (pod names change with every deployment).
    pub forget_consumer_after: Duration,
}

impl Default for ClaimPolicy {
    fn default() -> Self {
        ClaimPolicy {
            idle: Duration::from_secs(60),
            forget_consumer_after: Duration::from_secs(3600),
        }
    }
}

#[async_trait::async_trait]
pub trait EventBus: Send + Sync + 'static {
    async fn publish(
        &self,
        stream: &str,
        event_id: &str,
        topic: &str,
        payload: &[u8],
    ) -> Result<(), EventError>;

    /// Reads for `consumer` in `group` (created if missing): first entries
    /// other consumers left pending longer than the [`ClaimPolicy`] allows
    /// (taken over) and its own unacknowledged ones (after a restart or a
    /// failure), then new ones, waiting up to `block` when there are none.
    async fn read(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, EventError>;

    async fn ack(&self, stream: &str, group: &str, entry_id: &str) -> Result<(), EventError>;

    /// Whether the bus answers (health); the in-process bus always does.
    async fn ping(&self) -> Result<(), EventError> {
        Ok(())
    }

    /// Sets a delivery that keeps failing aside: appends it with `error` to
    /// the stream's dead-letter stream, then acknowledges it, so everything
    /// behind it flows again.
    async fn dead_letter(
        &self,
        stream: &str,
        group: &str,
        d: &Delivery,
        error: &str,
    ) -> Result<(), EventError>;

    /// The oldest `count` dead letters of `stream`.
    async fn dead_letters(&self, stream: &str, count: usize)
    -> Result<Vec<DeadLetter>, EventError>;

    /// Publishes dead letter `id` on `stream` again (same event id, so a
    /// consumer that applied it meanwhile ignores it) and removes it from the
    /// dead-letter stream. `false`: no such dead letter.
    async fn replay(&self, stream: &str, id: &str) -> Result<bool, EventError>;

    /// Removes the entries every group has acknowledged; returns how many.
    /// A stream without groups is left alone (nobody has read it yet).
    async fn trim(&self, stream: &str) -> Result<u64, EventError>;
}

pub type Bus = Arc<dyn EventBus>;
