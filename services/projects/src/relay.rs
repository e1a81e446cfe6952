//! This service's outbox (project phase and status report events); relayed by [`kompass_catalog::relay`].

use kompass_events::{OutboxTable, streams};

pub use kompass_catalog::relay::{RelayHandle, spawn};

pub const OUTBOX: OutboxTable = OutboxTable {
    table: "project_outbox",
    stream: streams::PROJECTS,
};
