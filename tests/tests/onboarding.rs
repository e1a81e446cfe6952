//! Onboarding from a migrated template database (`CREATE DATABASE … TEMPLATE`),
//! its fallbacks, and `kompass migrate` keeping the template current. Real
//! PostgreSQL; a marker table put into the template tells a copy from a
//! database that was created empty and migrated.

use kompass_core::TenantId;
use kompass_tenancy::onboarding::{Fallback, Provisioned, provision_database, refresh_template};
use kompass_tenant_db::{Backend, Placement};
use kompass_tests::TestEnv;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

fn template(env: &TestEnv) -> String {
    Backend::template_name(&env.prefix).unwrap()
}

fn backend(env: &TestEnv) -> Backend {
    kompass_serve::storage(&env.cfg).unwrap().1
}

fn placement(db: &str) -> Placement {
    Placement {
        server: "primary".into(),
        database: db.into(),
    }
}

async fn open(env: &TestEnv, db: &str) -> DatabaseConnection {
    Database::connect(backend(env).url(&placement(db)).unwrap())
        .await
        .unwrap()
}

/// (is a template, accepts connections), or None if the database is missing.
async fn template_flags(env: &TestEnv) -> Option<(bool, bool)> {
    env.admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT datistemplate, datallowconn FROM pg_database WHERE datname = $1",
            [template(env).into()],
        ))
        .await
        .unwrap()
        .map(|r| {
            (
                r.try_get_by_index::<bool>(0).unwrap(),
                r.try_get_by_index::<bool>(1).unwrap(),
            )
        })
}

/// Runs `sql` inside the template, opening it for that moment only.
async fn in_template(env: &TestEnv, sql: &str) {
    let t = template(env);
    env.admin
        .execute_unprepared(&format!("ALTER DATABASE \"{t}\" ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    let db = open(env, &t).await;
    db.execute_unprepared(sql).await.unwrap();
    db.close().await.unwrap();
    env.admin
        .execute_unprepared(&format!("ALTER DATABASE \"{t}\" ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
}

async fn has_marker(env: &TestEnv, db: &str) -> bool {
    let c = open(env, db).await;
    let n = c
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'template_marker'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    c.close().await.unwrap();
    n == 1
}

async fn is_current(env: &TestEnv, db: &str) -> bool {
    let c = open(env, db).await;
    let ok = migrated(&c).await;
    c.close().await.unwrap();
    ok
}

/// Every migration of this build is recorded in `c`, for each service.
async fn migrated(c: &DatabaseConnection) -> bool {
    let (assessment, projects) = kompass_migration_tenant::migration_counts();
    let mut ok = true;
    for (table, want) in [
        ("seaql_migrations_assessment", assessment),
        ("seaql_migrations_projects", projects),
    ] {
        let n: i64 = c
            .query_one_raw(Statement::from_string(
                c.get_database_backend(),
                format!("SELECT count(*) FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index(0)
            .unwrap();
        ok &= n as usize == want;
    }
    ok
}

async fn migrate(env: &TestEnv) -> kompass_serve::MigrationReport {
    let (url, backend) = kompass_serve::storage(&env.cfg).unwrap();
    kompass_serve::migrate_all(&url, &backend, &env.prefix, 2, |_, _, _| {})
        .await
        .unwrap()
}

#[tokio::test]
async fn migrate_builds_the_template_and_onboarding_copies_it() {
    let env = TestEnv::start().await;
    assert_eq!(template_flags(&env).await, None);
    let report = migrate(&env).await;
    assert_eq!(report.templates, ["primary"]);
    assert!(report.templates_failed.is_empty());
    // A template nobody can connect to, so nothing blocks the copies.
    assert_eq!(template_flags(&env).await, Some((true, false)));
    in_template(&env, "CREATE TABLE template_marker (x int)").await;

    let b = backend(&env);
    let direct = placement(&format!("{}direct", env.prefix));
    assert_eq!(
        provision_database(&b, &env.prefix, &direct).await.unwrap(),
        Provisioned::FromTemplate
    );
    assert!(has_marker(&env, &direct.database).await);
    assert!(is_current(&env, &direct.database).await);

    // Through CreateTenant, several at once: every one is a copy.
    let ids = ["ostra", "vastra", "norra", "sodra", "mitt"];
    let calls = ids.iter().map(|id| env.onboard(id));
    futures::future::join_all(calls).await;
    for id in ids {
        let db = format!("{}{id}", env.prefix);
        assert!(has_marker(&env, &db).await, "{db} is not a template copy");
        assert!(is_current(&env, &db).await);
    }
    // The template stays closed to connections after all those copies.
    assert_eq!(template_flags(&env).await, Some((true, false)));
    env.cleanup().await;
}

#[tokio::test]
async fn onboarding_without_a_template_creates_and_migrates() {
    let env = TestEnv::start().await;
    let b = backend(&env);
    let p = placement(&format!("{}lone", env.prefix));
    assert_eq!(
        provision_database(&b, &env.prefix, &p).await.unwrap(),
        Provisioned::Migrated(Fallback::NoTemplate)
    );
    assert!(is_current(&env, &p.database).await);
    // A retry of the same onboarding finds the database and migrates it again.
    assert_eq!(
        provision_database(&b, &env.prefix, &p).await.unwrap(),
        Provisioned::Migrated(Fallback::Existed)
    );
    env.onboard("ostra").await;
    assert!(is_current(&env, &format!("{}ostra", env.prefix)).await);
    env.cleanup().await;
}

#[tokio::test]
async fn a_stale_template_is_not_copied_and_migrate_refreshes_it() {
    let env = TestEnv::start().await;
    migrate(&env).await;
    in_template(&env, "CREATE TABLE template_marker (x int)").await;
    // As an older build's `kompass migrate` would have left it.
    env.admin
        .execute_unprepared(&format!(
            "COMMENT ON DATABASE \"{}\" IS 'kompass-schema-0000000000000000'",
            template(&env)
        ))
        .await
        .unwrap();
    let b = backend(&env);
    let p = placement(&format!("{}stale", env.prefix));
    assert_eq!(
        provision_database(&b, &env.prefix, &p).await.unwrap(),
        Provisioned::Migrated(Fallback::Stale)
    );
    // Created anew, not the stale copy migrated on top.
    assert!(!has_marker(&env, &p.database).await);
    assert!(is_current(&env, &p.database).await);
    env.onboard("ostra").await;
    let ostra = format!("{}ostra", env.prefix);
    assert!(!has_marker(&env, &ostra).await);
    assert!(is_current(&env, &ostra).await);

    // `kompass migrate` re-creates the template from the migrations.
    let report = migrate(&env).await;
    assert_eq!(report.templates, ["primary"]);
    assert_eq!(report.migrated, ["ostra"]);
    assert_eq!(template_flags(&env).await, Some((true, false)));
    let q = placement(&format!("{}fresh", env.prefix));
    assert_eq!(
        provision_database(&b, &env.prefix, &q).await.unwrap(),
        Provisioned::FromTemplate
    );
    assert!(!has_marker(&env, &q.database).await);
    assert!(is_current(&env, &q.database).await);
    env.cleanup().await;
}

#[tokio::test]
async fn onboarding_waits_for_a_session_holding_the_template() {
    let env = TestEnv::start().await;
    migrate(&env).await;
    in_template(&env, "CREATE TABLE template_marker (x int)").await;
    let t = template(&env);
    env.admin
        .execute_unprepared(&format!("ALTER DATABASE \"{t}\" ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    let holder = open(&env, &t).await;
    holder.execute_unprepared("SELECT 1").await.unwrap();
    let b = backend(&env);
    let p = placement(&format!("{}waited", env.prefix));
    let onboarding = tokio::spawn({
        let b = b.clone();
        let prefix = env.prefix.clone();
        let p = p.clone();
        async move { provision_database(&b, &prefix, &p).await.unwrap() }
    });
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    holder.close().await.unwrap();
    assert_eq!(onboarding.await.unwrap(), Provisioned::FromTemplate);
    assert!(has_marker(&env, &p.database).await);
    env.cleanup().await;
}

#[tokio::test]
async fn the_template_is_never_a_tenant() {
    let env = TestEnv::start().await;
    migrate(&env).await;
    env.onboard("ostra").await;
    assert_eq!(env.tenant_ids().await, ["ostra"]);
    // Its name is no tenant's: a tenant database name is the prefix then a letter.
    assert!(
        Backend::database_name(&env.prefix, &TenantId::parse("template").unwrap()).unwrap()
            != template(&env)
    );
    // The pool registry refuses to serve it even if a placement pointed there.
    let err = env
        .platform
        .dbs
        .get(
            &TenantId::parse("ostra").unwrap(),
            &placement(&template(&env)),
        )
        .await
        .err()
        .expect("the template must not be served");
    assert!(err.to_string().contains("not a tenant database"), "{err}");
    // `kompass migrate` migrates tenants only, not the template as one.
    let report = migrate(&env).await;
    assert_eq!(report.migrated, ["ostra"]);
    env.cleanup().await;
}

#[tokio::test]
async fn embedded_mode_has_no_template_and_still_creates_and_migrates() {
    let dir = std::env::temp_dir().join(format!("kompass-onboarding-{}", std::process::id()));
    let b = Backend::Sqlite { dir: dir.clone() };
    refresh_template(&b, "kompass_t_", "embedded")
        .await
        .unwrap();
    let p = Placement {
        server: "embedded".into(),
        database: "kompass_t_ostra".into(),
    };
    assert_eq!(
        provision_database(&b, "kompass_t_", &p).await.unwrap(),
        Provisioned::Migrated(Fallback::NoTemplate)
    );
    let db = b
        .connect(&p, 1, std::time::Duration::from_secs(1))
        .await
        .unwrap();
    assert!(migrated(&db).await);
    db.close().await.unwrap();
    assert!(!dir.join("kompass_t__template.db").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
