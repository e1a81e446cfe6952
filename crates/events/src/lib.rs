//! Events between services. Producers write an outbox row in the same
//! transaction as the change; [`relay_outbox`] moves committed rows to the bus,
//! marking them sent only after the bus accepted them. Delivery is at least
//! once, so consumers deduplicate by `event_id` and acknowledge after commit.

mod memory;
mod outbox;
mod redis_bus;

use std::sync::Arc;
use std::time::Duration;

pub use memory::MemoryBus;
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

    /// Reads for `consumer` in `group` (created if missing): first its own
    /// unacknowledged entries (after a restart), then new ones, waiting up to
    /// `block` when there are none.
    async fn read(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, EventError>;

    async fn ack(&self, stream: &str, group: &str, entry_id: &str) -> Result<(), EventError>;
}

pub type Bus = Arc<dyn EventBus>;
