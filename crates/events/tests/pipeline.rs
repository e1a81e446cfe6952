//! The consumer loop on real Redis (and on the in-process bus `kompass dev`
//! uses): take-over of what a killed consumer left pending, dead letters,
//! trimming.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kompass_events::{Bus, ClaimPolicy, ConsumerOptions, MemoryBus, RedisBus};
use tokio::sync::watch;

const STREAM: &str = "evaluations";

fn redis_url() -> String {
    std::env::var("KOMPASS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn prefix() -> String {
    format!(
        "kompass-test:events:{}:{}:",
        std::process::id(),
        uuid::Uuid::now_v7()
    )
}

async fn redis_bus(prefix: &str, claim: ClaimPolicy) -> Bus {
    Arc::new(
        RedisBus::connect(&redis_url(), prefix)
            .await
            .expect("Redis must be running: scripts/test.sh starts it")
            .with_claim_policy(claim),
    )
}

async fn buses(claim: ClaimPolicy) -> Vec<(&'static str, Bus)> {
    vec![
        ("redis", redis_bus(&prefix(), claim).await),
        (
            "memory",
            Arc::new(MemoryBus::new().with_claim_policy(claim)),
        ),
    ]
}

type Applied = Arc<Mutex<HashMap<String, u32>>>;

/// Starts a consumer that records every event it applies; events for which
/// `fails` says so fail.
fn start(
    bus: &Bus,
    name: &str,
    opts: ConsumerOptions,
    fails: impl Fn(&str) -> bool + Send + Sync + 'static,
) -> (Applied, watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let applied: Applied = Arc::default();
    let (stop, rx) = watch::channel(false);
    let a = applied.clone();
    let fails = Arc::new(fails);
    let h = tokio::spawn(kompass_events::consume(
        bus.clone(),
        STREAM,
        "reporting",
        name.into(),
        opts,
        rx,
        move |d| {
            let a = a.clone();
            let fails = fails.clone();
            async move {
                if fails(&d.event_id) {
                    return Err(format!("cannot apply {}", d.event_id));
                }
                *a.lock().unwrap().entry(d.event_id.clone()).or_default() += 1;
                Ok(())
            }
        },
    ));
    (applied, stop, h)
}

async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..200 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn quick() -> ConsumerOptions {
    ConsumerOptions {
        block: Duration::from_millis(100),
        retry_pause: Duration::from_millis(50),
        max_deliveries: 3,
        ..Default::default()
    }
}

#[tokio::test]
async fn what_a_killed_consumer_left_pending_is_applied_exactly_once_by_its_successor() {
    let claim = ClaimPolicy {
        idle: Duration::from_millis(300),
        forget_consumer_after: Duration::ZERO,
    };
    for (kind, bus) in buses(claim).await {
        for e in ["e1", "e2"] {
            bus.publish(STREAM, e, "evaluation.published", b"x")
                .await
                .unwrap();
        }
        // The pod reads both and dies before applying or acknowledging them.
        let got = bus
            .read(STREAM, "reporting", "pod-a", 10, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(got.len(), 2, "{kind}");

        // A pod with another name (Kubernetes renames on every start).
        let (applied, stop, h) = start(&bus, "pod-b", quick(), |_| false);
        until("the take-over", || applied.lock().unwrap().len() == 2).await;
        // Long enough for any second delivery to have happened.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let applied = applied.lock().unwrap().clone();
        assert_eq!(
            applied,
            HashMap::from([("e1".into(), 1), ("e2".into(), 1)]),
            "{kind}"
        );
        stop.send(true).unwrap();
        h.await.unwrap();
        // Nothing is left pending for anyone.
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(
            bus.read(STREAM, "reporting", "pod-c", 10, Duration::ZERO)
                .await
                .unwrap()
                .is_empty(),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn the_dead_consumer_is_forgotten_once_it_has_nothing_pending() {
    let prefix = prefix();
    let bus = redis_bus(
        &prefix,
        ClaimPolicy {
            idle: Duration::from_millis(100),
            forget_consumer_after: Duration::from_millis(100),
        },
    )
    .await;
    bus.publish(STREAM, "e1", "t", b"x").await.unwrap();
    bus.read(STREAM, "reporting", "pod-a", 10, Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let taken = bus
        .read(STREAM, "reporting", "pod-b", 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    bus.ack(STREAM, "reporting", &taken[0].entry_id)
        .await
        .unwrap();
    // Consumers are forgotten at most once a minute per stream; a fresh bus
    // (a restarted pod) does it on its first read.
    let bus = redis_bus(
        &prefix,
        ClaimPolicy {
            idle: Duration::from_millis(100),
            forget_consumer_after: Duration::from_millis(100),
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    bus.read(STREAM, "reporting", "pod-c", 10, Duration::ZERO)
        .await
        .unwrap();
    let mut c = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let info: redis::streams::StreamInfoConsumersReply = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(format!("{prefix}stream:{STREAM}"))
        .arg("reporting")
        .query_async(&mut c)
        .await
        .unwrap();
    let names: Vec<&str> = info.consumers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["pod-c"], "pod-a and pod-b are gone");
}

#[tokio::test]
async fn a_poison_event_is_set_aside_after_n_deliveries_the_rest_flows_and_replay_applies_it() {
    for (kind, bus) in buses(ClaimPolicy::default()).await {
        let healed = Arc::new(AtomicBool::new(false));
        let h2 = healed.clone();
        let before = kompass_events::dead_lettered_total();
        let (applied, stop, h) = start(&bus, "pod", quick(), move |id| {
            id == "poison" && !h2.load(Ordering::SeqCst)
        });
        for e in ["before", "poison", "after-1", "after-2"] {
            bus.publish(STREAM, e, "evaluation.published", e.as_bytes())
                .await
                .unwrap();
        }
        until("the rest to flow", || applied.lock().unwrap().len() == 3).await;
        until("the dead letter", || {
            kompass_events::dead_lettered_total() > before
        })
        .await;
        let dead = bus.dead_letters(STREAM, 10).await.unwrap();
        assert_eq!(dead.len(), 1, "{kind}");
        assert_eq!(dead[0].event_id, "poison");
        assert_eq!(dead[0].error, "cannot apply poison");
        assert_eq!(
            dead[0].deliveries, 3,
            "{kind}: set aside at the third delivery"
        );
        assert_eq!(dead[0].group, "reporting");
        assert_eq!(dead[0].payload, b"poison");
        assert!(!applied.lock().unwrap().contains_key("poison"));

        // Fixed (say, a new release); the operator replays it.
        healed.store(true, Ordering::SeqCst);
        assert!(bus.replay(STREAM, &dead[0].id).await.unwrap());
        until("the replay", || {
            applied.lock().unwrap().get("poison") == Some(&1)
        })
        .await;
        assert!(bus.dead_letters(STREAM, 10).await.unwrap().is_empty());
        assert!(
            !bus.replay(STREAM, &dead[0].id).await.unwrap(),
            "{kind}: once"
        );
        let applied = applied.lock().unwrap().clone();
        assert!(applied.values().all(|n| *n == 1), "{kind}: {applied:?}");
        stop.send(true).unwrap();
        h.await.unwrap();
    }
}

#[tokio::test]
async fn trimming_removes_only_what_every_group_has_acknowledged() {
    for (kind, bus) in buses(ClaimPolicy::default()).await {
        assert_eq!(bus.trim(STREAM).await.unwrap(), 0, "{kind}: no stream yet");
        for i in 0..4 {
            bus.publish(STREAM, &format!("e{i}"), "t", b"x")
                .await
                .unwrap();
        }
        // No group has read it: nothing goes.
        let fast = bus
            .read(STREAM, "fast", "c", 10, Duration::ZERO)
            .await
            .unwrap();
        for d in &fast {
            bus.ack(STREAM, "fast", &d.entry_id).await.unwrap();
        }
        let slow = bus
            .read(STREAM, "slow", "c", 10, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(slow.len(), 4);
        for d in &slow[..2] {
            bus.ack(STREAM, "slow", &d.entry_id).await.unwrap();
        }
        assert_eq!(bus.trim(STREAM).await.unwrap(), 2, "{kind}");
        assert_eq!(bus.trim(STREAM).await.unwrap(), 0, "{kind}");
        // What the slow group has pending is still there for it.
        let again = bus
            .read(STREAM, "slow", "c", 10, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(
            again
                .iter()
                .map(|d| d.event_id.as_str())
                .collect::<Vec<_>>(),
            ["e2", "e3"],
            "{kind}"
        );
    }
}

/// The retention rule on SQLite (the embedded default); PostgreSQL in
/// `tests/tests/resilience.rs`.
#[tokio::test]
async fn sent_outbox_rows_past_retention_are_deleted_and_nothing_else() {
    use sea_orm::{ConnectionTrait, Database};
    let db = Database::connect("sqlite::memory:").await.unwrap();
    db.execute_unprepared(
        "CREATE TABLE outbox (id TEXT PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, created_at TEXT NOT NULL, published_at TEXT)",
    )
    .await
    .unwrap();
    let table = kompass_events::OutboxTable {
        table: "outbox",
        stream: STREAM,
    };
    let bus = MemoryBus::new();
    for _ in 0..2 {
        kompass_events::enqueue(&db, table, "t", b"x".to_vec())
            .await
            .unwrap();
    }
    assert_eq!(
        kompass_events::relay_outbox(&db, table, &bus)
            .await
            .unwrap(),
        2
    );
    let unsent = kompass_events::enqueue(&db, table, "t", b"x".to_vec())
        .await
        .unwrap();
    // Nothing is old enough yet.
    let week = Duration::from_secs(7 * 24 * 3600);
    assert_eq!(
        kompass_events::purge_sent(&db, table, week).await.unwrap(),
        0
    );
    // With no retention every sent row goes; the unsent one stays.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        kompass_events::purge_sent(&db, table, Duration::ZERO)
            .await
            .unwrap(),
        2
    );
    let left: Vec<String> = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT id FROM outbox",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("", "id").unwrap())
        .collect();
    assert_eq!(left, [unsent]);
}
