//! A consumer group member's loop: read, apply, acknowledge; set aside what
//! keeps failing; trim what every group has acknowledged.

use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;
use tokio::sync::watch;

use crate::{Bus, Delivery};

/// How a consumer reads and when it gives up on an event.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerOptions {
    /// Entries read at once.
    pub batch: usize,
    /// Longest wait for new entries in one read.
    pub block: Duration,
    /// A delivery that fails this many times (counted by the bus, across
    /// consumers) moves to the dead-letter stream.
    pub max_deliveries: u64,
    /// Pause after a batch with failures, before they come again.
    pub retry_pause: Duration,
    /// How often the stream is trimmed past what every group acknowledged.
    pub trim_every: Duration,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            batch: 50,
            block: Duration::from_secs(1),
            max_deliveries: 5,
            retry_pause: Duration::from_secs(1),
            trim_every: Duration::from_secs(60),
        }
    }
}

static DEAD_LETTERED: AtomicU64 = AtomicU64::new(0);

/// Events this process moved to a dead-letter stream (also the OpenTelemetry
/// counter `kompass.events.dead_lettered`, attributes `stream` and `group`).
pub fn dead_lettered_total() -> u64 {
    DEAD_LETTERED.load(Ordering::Relaxed)
}

fn otel() -> &'static Counter<u64> {
    static C: OnceLock<Counter<u64>> = OnceLock::new();
    C.get_or_init(|| {
        opentelemetry::global::meter("kompass-events")
            .u64_counter("kompass.events.dead_lettered")
            .with_description(
                "Events a consumer group set aside in a dead-letter stream after repeated failures",
            )
            .build()
    })
}

/// Runs `consumer` of `group` on `stream` until `shutdown` turns true.
/// `handle` applies one delivery; `Err` says why it could not (yet). Failed
/// deliveries come again (the rest of the batch is handled first, so one bad
/// event holds nothing up) until the bus has delivered one
/// `max_deliveries` times; then it is set aside with its last error.
pub async fn consume<F, Fut>(
    bus: Bus,
    stream: &'static str,
    group: &'static str,
    consumer: String,
    opts: ConsumerOptions,
    mut shutdown: watch::Receiver<bool>,
    handle: F,
) where
    F: Fn(Delivery) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let mut trimmed = Instant::now();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let read = tokio::select! {
            r = bus.read(stream, group, &consumer, opts.batch, opts.block) => r,
            _ = shutdown.changed() => break,
        };
        let mut failed = false;
        match read {
            Ok(ds) => {
                for d in ds {
                    match handle(d.clone()).await {
                        Ok(()) => {
                            if let Err(e) = bus.ack(stream, group, &d.entry_id).await {
                                tracing::warn!(stream, error = %e, "ack failed; the event will come again");
                            }
                        }
                        Err(why) if d.deliveries >= opts.max_deliveries => {
                            match bus.dead_letter(stream, group, &d, &why).await {
                                Ok(()) => {
                                    DEAD_LETTERED.fetch_add(1, Ordering::Relaxed);
                                    otel().add(
                                        1,
                                        &[
                                            KeyValue::new("stream", stream),
                                            KeyValue::new("group", group),
                                        ],
                                    );
                                    tracing::error!(
                                        stream,
                                        group,
                                        event_id = %d.event_id,
                                        topic = %d.topic,
                                        deliveries = d.deliveries,
                                        error = %why,
                                        "event set aside in the dead-letter stream: `kompass events dead-letter list` shows it"
                                    );
                                }
                                Err(e) => {
                                    failed = true;
                                    tracing::warn!(stream, error = %e, "dead-lettering failed; the event will come again");
                                }
                            }
                        }
                        Err(_) => failed = true,
                    }
                }
            }
            Err(e) => {
                failed = true;
                tracing::warn!(stream, error = %e, "event stream unavailable");
            }
        }
        if failed {
            tokio::select! {
                _ = tokio::time::sleep(opts.retry_pause) => {}
                _ = shutdown.changed() => break,
            }
        }
        if trimmed.elapsed() >= opts.trim_every {
            trimmed = Instant::now();
            match bus.trim(stream).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(stream, entries = n, "stream trimmed"),
                Err(e) => tracing::warn!(stream, error = %e, "stream trim failed"),
            }
        }
    }
}
