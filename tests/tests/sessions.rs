//! Console session stores on real Redis, real PostgreSQL and SQLite: a
//! session written by one console process is read by the next (restart),
//! expired sessions are never loaded, ids never collide, purging works.

use std::collections::HashMap;

use kompass_oidc::{DbStore, RedisStore, Store};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use time::{Duration, OffsetDateTime};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{ExpiredDeletion, SessionStore};

fn record(user: &str, ttl: Duration) -> Record {
    Record {
        id: Id::default(),
        data: HashMap::from([(
            "kompass.signed_in".to_string(),
            serde_json::json!({ "user_id": user }),
        )]),
        expiry_date: OffsetDateTime::now_utc() + ttl,
    }
}

fn user(r: &Record) -> &str {
    r.data["kompass.signed_in"]["user_id"].as_str().unwrap()
}

/// The behaviour every store must have; `reopen` gives a fresh store on the
/// same backend, as a restarted console would have.
async fn exercise<S: SessionStore, F: Fn() -> Fut, Fut: Future<Output = S>>(reopen: F) {
    let store = reopen().await;
    let mut a = record("anna", Duration::hours(1));
    store.create(&mut a).await.unwrap();
    let mut b = record("bertil", Duration::hours(1));
    b.id = a.id; // the rare collision: must not overwrite anna's session
    store.create(&mut b).await.unwrap();
    assert_ne!(a.id, b.id);

    let restarted = reopen().await;
    assert_eq!(user(&restarted.load(&a.id).await.unwrap().unwrap()), "anna");
    assert_eq!(
        user(&restarted.load(&b.id).await.unwrap().unwrap()),
        "bertil"
    );

    a.data.insert("lang".into(), serde_json::json!("nb"));
    restarted.save(&a).await.unwrap();
    assert_eq!(store.load(&a.id).await.unwrap().unwrap().data["lang"], "nb");

    let mut old = record("cecilia", Duration::hours(1));
    store.create(&mut old).await.unwrap();
    old.expiry_date = OffsetDateTime::now_utc() - Duration::seconds(1);
    store.save(&old).await.unwrap();
    assert!(
        store.load(&old.id).await.unwrap().is_none(),
        "expired session loaded"
    );

    store.delete(&a.id).await.unwrap();
    assert!(restarted.load(&a.id).await.unwrap().is_none());
    assert!(store.load(&Id::default()).await.unwrap().is_none());
}

async fn migrated_catalog(url: &str) -> DatabaseConnection {
    kompass_serve::migrate_platform(url).await.unwrap();
    Database::connect(url).await.unwrap()
}

async fn rows(db: &DatabaseConnection) -> i64 {
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT count(*) AS n FROM console_sessions",
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get::<i64>("", "n")
    .unwrap()
}

async fn purge_checks(db: DatabaseConnection) {
    let store = DbStore::new(db.clone());
    let before = rows(&db).await;
    let mut gone = record("dan", Duration::hours(1));
    store.create(&mut gone).await.unwrap();
    gone.expiry_date = OffsetDateTime::now_utc() - Duration::seconds(5);
    store.save(&gone).await.unwrap();
    let mut live = record("eva", Duration::hours(1));
    store.create(&mut live).await.unwrap();
    assert_eq!(rows(&db).await, before + 2);
    store.delete_expired().await.unwrap();
    // The expired rows (this one and cecilia's) are gone, the live ones stay.
    assert_eq!(rows(&db).await, before);
    assert!(store.load(&live.id).await.unwrap().is_some());
}

#[tokio::test]
async fn postgres_store() {
    let admin = Database::connect(kompass_tests::server_url())
        .await
        .unwrap();
    let name = format!("ks_{}", std::process::id());
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let base = kompass_tests::server_url();
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let db = migrated_catalog(&url).await;
    exercise(|| {
        let db = db.clone();
        async move { DbStore::new(db) }
    })
    .await;
    purge_checks(db.clone()).await;
    db.close().await.ok();
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
}

#[tokio::test]
async fn sqlite_store() {
    let dir = std::env::temp_dir().join(format!("kompass-sessions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("catalog.db").display());
    let db = migrated_catalog(&url).await;
    let url2 = url.clone();
    // A separate connection per "process".
    exercise(move || {
        let url = url2.clone();
        async move { DbStore::new(Database::connect(&url).await.unwrap()) }
    })
    .await;
    purge_checks(db).await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn redis_store() {
    let prefix = format!("kompass-test:sessions:{}:", std::process::id());
    exercise(|| {
        let prefix = prefix.clone();
        async move {
            RedisStore::connect(&kompass_tests::redis_url(), &prefix)
                .await
                .unwrap()
        }
    })
    .await;
    // Redis expires a session's key with the session.
    let store = RedisStore::connect(&kompass_tests::redis_url(), &prefix)
        .await
        .unwrap();
    let mut r = record("frida", Duration::hours(1));
    store.create(&mut r).await.unwrap();
    let client = redis::Client::open(kompass_tests::redis_url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("{prefix}session:{}", r.id))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!((3500..=3600).contains(&ttl), "ttl {ttl}");
}

#[tokio::test]
async fn store_is_chosen_by_configuration() {
    let mut cfg = kompass_config::Config::default();
    cfg.sessions.store = kompass_config::SessionStoreKind::Redis;
    assert!(
        Store::from_config(&cfg, None)
            .await
            .unwrap_err()
            .contains("KOMPASS_REDIS_URL")
    );
    cfg.redis.url = Some(kompass_tests::redis_url());
    assert!(matches!(
        Store::from_config(&cfg, None).await.unwrap(),
        Store::Redis(_)
    ));
    cfg.sessions.store = kompass_config::SessionStoreKind::Auto;
    assert!(matches!(
        Store::from_config(&cfg, None).await.unwrap(),
        Store::Redis(_)
    ));
    cfg.redis.url = None;
    assert!(Store::from_config(&cfg, None).await.is_err());
    let db = Database::connect("sqlite::memory:").await.unwrap();
    assert!(matches!(
        Store::from_config(&cfg, Some(db)).await.unwrap(),
        Store::Db(_)
    ));
    cfg.sessions.store = kompass_config::SessionStoreKind::Memory;
    assert!(matches!(
        Store::from_config(&cfg, None).await.unwrap(),
        Store::Memory(_)
    ));
}
