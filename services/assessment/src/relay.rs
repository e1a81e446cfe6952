//! This service's outbox (`evaluation.published`); relayed by [`kompass_catalog::relay`].

use kompass_events::{OutboxTable, streams};

pub use kompass_catalog::relay::{RelayHandle, spawn};

pub const OUTBOX: OutboxTable = OutboxTable {
    table: "outbox",
    stream: streams::EVALUATIONS,
};
