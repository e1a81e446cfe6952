//! `kompass events dead-letter list|replay` from the real binary against a
//! real Redis.

use std::process::Command;
use std::time::Duration;

use kompass_events::{EventBus, RedisBus};

fn redis_url() -> String {
    std::env::var("KOMPASS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn kompass(prefix: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kompass"))
        .args(["events", "dead-letter"])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KOMPASS_REDIS_URL", redis_url())
        .env("KOMPASS_REDIS_KEY_PREFIX", prefix)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn an_operator_lists_and_replays_dead_letters() {
    let prefix = format!("kompass-test:cli-events:{}:", std::process::id());
    let bus = RedisBus::connect(&redis_url(), &prefix).await.unwrap();
    bus.publish("evaluations", "ev-poison", "evaluation.published", b"p")
        .await
        .unwrap();
    let d = bus
        .read("evaluations", "reporting", "pod", 10, Duration::ZERO)
        .await
        .unwrap()
        .remove(0);
    bus.dead_letter("evaluations", "reporting", &d, "tenant\tnot found")
        .await
        .unwrap();

    let (ok, out) = kompass(&prefix, &["list"]);
    assert!(ok, "{out}");
    let id = bus.dead_letters("evaluations", 10).await.unwrap()[0]
        .id
        .clone();
    assert!(out.contains(&id), "{out}");
    assert!(
        out.contains("ev-poison\tevaluation.published\treporting\t1\ttenant not found"),
        "{out}"
    );
    let (ok, out) = kompass(&prefix, &["list", "--stream", "projects"]);
    assert!(
        ok && out.contains("no dead letters on stream projects"),
        "{out}"
    );

    // Bad input is refused before anything reaches Redis.
    let (ok, out) = kompass(&prefix, &["list", "--stream", "other"]);
    assert!(!ok && out.contains("unknown stream"), "{out}");
    let (ok, out) = kompass(&prefix, &["replay", "1-0*"]);
    assert!(!ok && out.contains("is not a dead-letter id"), "{out}");
    let (ok, out) = kompass(&prefix, &["replay", "1-0"]);
    assert!(!ok && out.contains("no dead letter 1-0"), "{out}");

    let (ok, out) = kompass(&prefix, &["replay", &id]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("replayed {id}")), "{out}");
    assert!(
        bus.dead_letters("evaluations", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Back on the stream, for the group to apply.
    let again = bus
        .read("evaluations", "reporting", "pod", 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event_id, "ev-poison");
    assert_eq!(again[0].payload, b"p");

    // Without Redis there is nothing to list.
    let out = Command::new(env!("CARGO_BIN_EXE_kompass"))
        .args(["events", "dead-letter", "list"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("KOMPASS_REDIS_URL is not set"));
}
