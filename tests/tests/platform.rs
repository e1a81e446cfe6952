//! Platform foundation over real gRPC, real PostgreSQL.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use kompass_config::ServiceKind;
use kompass_proto::assessment::v1 as apb;
use kompass_proto::projects::v1 as ppb;
use kompass_proto::tenancy::v1 as tpb;
use kompass_tests::{Options, SECRET, TestEnv, authed, new_tenant};
use sea_orm::ConnectionTrait;
use tonic::Code;

fn new_eval(tenant: &str, title: &str) -> apb::CreateEvaluationRequest {
    apb::CreateEvaluationRequest {
        parent: format!("tenants/{tenant}"),
        evaluation: Some(apb::Evaluation {
            title: title.into(),
            kind: apb::EvaluationKind::SelfAssessment as i32,
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn two_tenants_get_two_databases_and_never_see_each_other() {
    let env = TestEnv::start().await;
    env.onboard("ostra").await;
    env.onboard("vastra").await;
    let dbs = env.tenant_databases().await;
    assert_eq!(
        dbs,
        vec![
            format!("{}ostra", env.prefix),
            format!("{}vastra", env.prefix)
        ]
    );
    env.member("anna", "ostra", tpb::TenantRole::TenantAdmin)
        .await;
    env.member("bertil", "vastra", tpb::TenantRole::TenantAdmin)
        .await;
    let anna = env.token("anna", &[]);
    let bertil = env.token("bertil", &[]);

    // Assessment: written for one, invisible from the other.
    let mut ev = env.evaluations().await;
    let e = ev
        .create_evaluation(authed(&anna, new_eval("ostra", "Kommunkompassen 2026")))
        .await
        .unwrap()
        .into_inner();
    let listed = ev
        .list_evaluations(authed(
            &bertil,
            apb::ListEvaluationsRequest {
                parent: "tenants/vastra".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.evaluations.is_empty());
    // Östra's evaluation id under Västra's name: not there.
    let id = e.name.rsplit('/').next().unwrap();
    let err = ev
        .get_evaluation(authed(
            &bertil,
            apb::GetEvaluationRequest {
                name: format!("tenants/vastra/evaluations/{id}"),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // Bertil asking for Östra directly: denied, in every service.
    let err = ev
        .get_evaluation(authed(
            &bertil,
            apb::GetEvaluationRequest {
                name: e.name.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = env
        .projects()
        .await
        .list_projects(authed(
            &bertil,
            ppb::ListProjectsRequest {
                parent: "tenants/ostra".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = env
        .tenants()
        .await
        .get_tenant(authed(
            &bertil,
            tpb::GetTenantRequest {
                name: "tenants/ostra".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // Projects: same isolation.
    let mut pr = env.projects().await;
    pr.create_project(authed(
        &anna,
        ppb::CreateProjectRequest {
            parent: "tenants/ostra".into(),
            project: Some(ppb::Project {
                title: "Medborgardialog".into(),
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap();
    let theirs = pr
        .list_projects(authed(
            &bertil,
            ppb::ListProjectsRequest {
                parent: "tenants/vastra".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(theirs.projects.is_empty());
    let mine = pr
        .list_projects(authed(
            &anna,
            ppb::ListProjectsRequest {
                parent: "tenants/ostra".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.projects.len(), 1);

    // A member sees only their own tenants in the list.
    let seen = env
        .tenants()
        .await
        .list_tenants(authed(&anna, tpb::ListTenantsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        seen.tenants
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["tenants/ostra"]
    );
    env.cleanup().await;
}

#[tokio::test]
async fn bad_tenant_ids_are_rejected_and_create_nothing() {
    let env = TestEnv::start().await;
    let op = env.token("operator", &["operator"]);
    let mut t = env.tenants().await;
    for bad in [
        "x; drop database",
        "Ostra",
        "östra",
        "a",
        &"a".repeat(42),
        "ab_c",
    ] {
        let err = t
            .create_tenant(authed(&op, new_tenant(bad)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
        assert!(err.message().contains("tenant id"), "{}", err.message());
    }
    // Other bad fields: also nothing.
    let mut req = new_tenant("goodid");
    req.tenant.as_mut().unwrap().municipality_code = "18x0".into();
    let err = t.create_tenant(authed(&op, req)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut req = new_tenant("goodid");
    req.tenant.as_mut().unwrap().country = 0;
    assert_eq!(
        t.create_tenant(authed(&op, req)).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    assert!(env.tenant_databases().await.is_empty());
    let listed = t
        .list_tenants(authed(&op, tpb::ListTenantsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.tenants.is_empty());
    // Swedish when asked for.
    let mut r = authed(&op, new_tenant("Ostra"));
    r.metadata_mut()
        .insert("accept-language", "sv-SE,sv;q=0.9".parse().unwrap());
    let err = t.create_tenant(r).await.unwrap_err();
    assert!(err.message().contains("ogiltigt"), "{}", err.message());
    // Only operators onboard.
    let err = t
        .create_tenant(authed(&env.token("anna", &[]), new_tenant("ostra")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(env.tenant_databases().await.is_empty());
    env.cleanup().await;
}

#[tokio::test]
async fn onboarding_retried_after_a_failure_midway_completes_the_tenant() {
    let env = TestEnv::start().await;
    let op = env.token("operator", &["operator"]);
    let db = format!("{}ostra", env.prefix);
    // The database exists but refuses connections: onboarding fails after the
    // catalog row and the database, before the migrations.
    env.admin
        .execute_unprepared(&format!("CREATE DATABASE \"{db}\""))
        .await
        .unwrap();
    env.admin
        .execute_unprepared(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    let mut t = env.tenants().await;
    let err = t
        .create_tenant(authed(&op, new_tenant("ostra")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{}", err.message());
    let half = t
        .get_tenant(authed(
            &op,
            tpb::GetTenantRequest {
                name: "tenants/ostra".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(half.state, tpb::tenant::State::Provisioning as i32);
    // A half-made tenant serves nothing.
    let err = env
        .evaluations()
        .await
        .list_evaluations(authed(
            &op,
            apb::ListEvaluationsRequest {
                parent: "tenants/ostra".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    env.admin
        .execute_unprepared(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    let done = t
        .create_tenant(authed(&op, new_tenant("ostra")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.state, tpb::tenant::State::Active as i32);
    // Idempotent: a third call returns the same tenant.
    let again = t
        .create_tenant(authed(&op, new_tenant("ostra")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.create_time, done.create_time);
    // Same id, other details: refused.
    let mut other = new_tenant("ostra");
    other.tenant.as_mut().unwrap().display_name = "Någon annan".into();
    assert_eq!(
        t.create_tenant(authed(&op, other))
            .await
            .unwrap_err()
            .code(),
        Code::AlreadyExists
    );
    env.evaluations()
        .await
        .create_evaluation(authed(&op, new_eval("ostra", "Efter omförsök")))
        .await
        .unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn two_hundred_tenants_never_exceed_twenty_connections() {
    let env = TestEnv::start_with(Options {
        max_connections: 20,
        pool_size: 2,
        ..Default::default()
    })
    .await;
    let op = env.token("operator", &["operator"]);
    let ids: Vec<String> = (0..200).map(|i| format!("t{i:03}")).collect();
    let onboarding = futures::stream::iter(ids.iter().map(|id| {
        let op = op.clone();
        let env = &env;
        async move {
            env.tenants()
                .await
                .create_tenant(authed(&op, new_tenant(id)))
                .await
                .unwrap();
        }
    }))
    .buffer_unordered(4)
    .collect::<Vec<_>>();
    onboarding.await;
    assert_eq!(env.tenant_databases().await.len(), 200);

    // Watch pg_stat_activity while requests fan out over every tenant.
    let peak = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (peak, stop) = (peak.clone(), stop.clone());
        let admin = sea_orm::Database::connect(kompass_tests::server_url())
            .await
            .unwrap();
        let like = format!("{}%", env.prefix.replace('_', "\\_"));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = admin
                    .query_one_raw(sea_orm::Statement::from_sql_and_values(
                        sea_orm::DbBackend::Postgres,
                        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname LIKE $1",
                        [like.clone().into()],
                    ))
                    .await
                    .unwrap()
                    .unwrap()
                    .try_get::<i64>("", "n")
                    .unwrap();
                peak.fetch_max(n, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let ev = env.evaluations().await;
    let results = futures::stream::iter(ids.iter().cycle().take(400).map(|id| {
        let mut ev = ev.clone();
        let op = op.clone();
        async move {
            ev.create_evaluation(authed(&op, new_eval(id, "Självskattning")))
                .await
                .map(|_| ())
        }
    }))
    .buffer_unordered(24)
    .collect::<Vec<_>>()
    .await;
    stop.store(true, Ordering::Relaxed);
    watcher.await.unwrap();
    let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        failed.first()
    );
    let peak = peak.load(Ordering::Relaxed);
    assert!(peak > 0, "the watcher saw no connections at all");
    assert!(peak <= 20, "peak {peak} connections, cap is 20");
    let stats = env.platform.dbs.stats();
    assert!(stats.open_pools <= stats.max_pools);
    env.cleanup().await;
}

#[tokio::test]
async fn tokens_are_checked() {
    let env = TestEnv::start().await;
    env.onboard("ostra").await;
    env.onboard("vastra").await;
    env.member("anna", "ostra", tpb::TenantRole::Member).await;
    let mut t = env.tenants().await;
    let get = |name: &str| tpb::GetTenantRequest { name: name.into() };

    let err = t
        .get_tenant(tonic::Request::new(get("tenants/ostra")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "missing");

    let mut expired =
        kompass_auth::Claims::new("kompass", "kompass", "anna", &[], Duration::from_secs(1));
    expired.exp -= 3600;
    let tok = kompass_auth::mint_hs256(SECRET, &expired);
    let err = t
        .get_tenant(authed(&tok, get("tenants/ostra")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "expired");

    let claims =
        kompass_auth::Claims::new("kompass", "kompass", "anna", &[], Duration::from_secs(60));
    let tok = kompass_auth::mint_hs256("another-secret", &claims);
    let err = t
        .get_tenant(authed(&tok, get("tenants/ostra")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "wrong signature");

    let claims = kompass_auth::Claims::new(
        "kompass",
        "someone-else",
        "anna",
        &[],
        Duration::from_secs(60),
    );
    let tok = kompass_auth::mint_hs256(SECRET, &claims);
    let err = t
        .get_tenant(authed(&tok, get("tenants/ostra")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "wrong audience");

    let mut r = tonic::Request::new(get("tenants/ostra"));
    r.metadata_mut()
        .insert("authorization", "Basic dXNlcjpwYXNz".parse().unwrap());
    assert_eq!(
        t.get_tenant(r).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    let anna = env.token("anna", &[]);
    t.get_tenant(authed(&anna, get("tenants/ostra")))
        .await
        .unwrap();
    let err = t
        .get_tenant(authed(&anna, get("tenants/vastra")))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "member of A calling for B"
    );
    // Same in the other services, missing and foreign alike.
    let mut ev = env.evaluations().await;
    let list = |t: &str| apb::ListEvaluationsRequest {
        parent: format!("tenants/{t}"),
        ..Default::default()
    };
    assert_eq!(
        ev.list_evaluations(tonic::Request::new(list("ostra")))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    assert_eq!(
        ev.list_evaluations(authed(&anna, list("vastra")))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    // A member may not onboard or suspend.
    assert_eq!(
        t.suspend_tenant(authed(
            &anna,
            tpb::SuspendTenantRequest {
                name: "tenants/ostra".into()
            }
        ))
        .await
        .unwrap_err()
        .code(),
        Code::PermissionDenied
    );
    // Analysts read national results; members do not.
    let mut rep = env.reporting().await;
    assert_eq!(
        rep.list_published_results(authed(&anna, Default::default()))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    rep.list_published_results(authed(
        &env.token("analys", &["analyst"]),
        Default::default(),
    ))
    .await
    .unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn a_tenant_whose_database_is_down_is_unavailable_alone() {
    let env = TestEnv::start().await;
    env.onboard("ostra").await;
    env.onboard("vastra").await;
    let op = env.token("operator", &["operator"]);
    let mut ev = env.evaluations().await;
    ev.create_evaluation(authed(&op, new_eval("ostra", "Före")))
        .await
        .unwrap();
    // Take Östra's database down: refuse new connections, drop the open ones.
    env.platform
        .dbs
        .close(&kompass_core::TenantId::parse("ostra").unwrap())
        .await;
    let db = format!("{}ostra", env.prefix);
    env.admin
        .execute_unprepared(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    env.admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
        ))
        .await
        .unwrap();
    let err = ev
        .create_evaluation(authed(&op, new_eval("ostra", "Under avbrott")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{}", err.message());
    ev.create_evaluation(authed(&op, new_eval("vastra", "Opåverkad")))
        .await
        .unwrap();
    env.admin
        .execute_unprepared(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    ev.create_evaluation(authed(&op, new_eval("ostra", "Efter")))
        .await
        .unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn suspended_tenants_serve_nothing_until_resumed() {
    let env = TestEnv::start().await;
    env.onboard("ostra").await;
    env.member("anna", "ostra", tpb::TenantRole::TenantAdmin)
        .await;
    let op = env.token("operator", &["operator"]);
    let anna = env.token("anna", &[]);
    let mut t = env.tenants().await;
    let s = t
        .suspend_tenant(authed(
            &op,
            tpb::SuspendTenantRequest {
                name: "tenants/ostra".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.state, tpb::tenant::State::Suspended as i32);
    let mut ev = env.evaluations().await;
    let err = ev
        .create_evaluation(authed(&anna, new_eval("ostra", "x")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("suspended"));
    t.resume_tenant(authed(
        &op,
        tpb::ResumeTenantRequest {
            name: "tenants/ostra".into(),
        },
    ))
    .await
    .unwrap();
    ev.create_evaluation(authed(&anna, new_eval("ostra", "x")))
        .await
        .unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn tenants_can_be_placed_on_another_server_and_paged() {
    let env = TestEnv::start_with(Options {
        extra_servers: BTreeMap::from([("second".to_string(), kompass_tests::server_url())]),
        ..Default::default()
    })
    .await;
    let op = env.token("operator", &["operator"]);
    let mut t = env.tenants().await;
    let mut req = new_tenant("norra");
    req.database_server = "second".into();
    let n = t
        .create_tenant(authed(&op, req))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(n.database_server, "second");
    let mut req = new_tenant("sodra");
    req.database_server = "nowhere".into();
    assert_eq!(
        t.create_tenant(authed(&op, req)).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    // Unplaced tenants go to the least used server: primary here.
    let s = t
        .create_tenant(authed(&op, new_tenant("sodra")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.database_server, "primary");
    // The placement is the operator's to know: not an analyst's, nor the
    // municipality's own admin's.
    env.member("nina", "norra", tpb::TenantRole::TenantAdmin)
        .await;
    for who in [env.token("ana", &["analyst"]), env.token("nina", &[])] {
        let got = t
            .get_tenant(authed(
                &who,
                tpb::GetTenantRequest {
                    name: "tenants/norra".into(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.display_name, n.display_name);
        assert_eq!(got.database_server, "");
        let listed = t
            .list_tenants(authed(
                &who,
                tpb::ListTenantsRequest {
                    page_size: 100,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(!listed.tenants.is_empty());
        assert!(listed.tenants.iter().all(|t| t.database_server.is_empty()));
    }
    env.evaluations()
        .await
        .create_evaluation(authed(&op, new_eval("norra", "På andra servern")))
        .await
        .unwrap();
    for id in ["aaa", "bbb", "ccc"] {
        env.onboard(id).await;
    }
    let mut names = vec![];
    let mut token = String::new();
    loop {
        let r = t
            .list_tenants(authed(
                &op,
                tpb::ListTenantsRequest {
                    page_size: 2,
                    page_token: token,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(r.tenants.len() <= 2);
        names.extend(r.tenants.into_iter().map(|t| t.name));
        if r.next_page_token.is_empty() {
            break;
        }
        token = r.next_page_token;
    }
    assert_eq!(
        names,
        [
            "tenants/aaa",
            "tenants/bbb",
            "tenants/ccc",
            "tenants/norra",
            "tenants/sodra"
        ]
    );
    let err = t
        .list_tenants(authed(
            &op,
            tpb::ListTenantsRequest {
                page_size: 2,
                page_token: "%%%".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    env.cleanup().await;
}

#[tokio::test]
async fn migrate_all_reports_the_tenant_that_failed_and_migrates_the_rest() {
    let env = TestEnv::start().await;
    for id in ["aaa", "bbb", "ccc"] {
        env.onboard(id).await;
    }
    env.platform.dbs.close_all().await;
    let broken = format!("{}bbb", env.prefix);
    env.admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{broken}\" ALLOW_CONNECTIONS false"
        ))
        .await
        .unwrap();
    let (url, backend) = kompass_serve::storage(&env.cfg).unwrap();
    let seen = std::sync::Mutex::new(vec![]);
    let report = kompass_serve::migrate_all(&url, &backend, &env.prefix, 2, |done, total, _| {
        seen.lock().unwrap().push((done, total))
    })
    .await
    .unwrap();
    assert_eq!(report.migrated, ["aaa", "ccc"]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "bbb");
    assert_eq!(seen.lock().unwrap().last(), Some(&(3, 3)));
    env.admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{broken}\" ALLOW_CONNECTIONS true"
        ))
        .await
        .unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn every_server_answers_health_and_reflection_v1_and_v1alpha() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let env = TestEnv::start().await;
    for (kind, svc) in [
        (ServiceKind::Tenancy, "kompass.tenancy.v1.TenantService"),
        (
            ServiceKind::Assessment,
            "kompass.assessment.v1.EvaluationService",
        ),
        (ServiceKind::Projects, "kompass.projects.v1.ProjectService"),
        (
            ServiceKind::Reporting,
            "kompass.reporting.v1.ReportingService",
        ),
    ] {
        let ch = env.channel(kind).await;
        for name in ["", svc] {
            let r = HealthClient::new(ch.clone())
                .check(HealthCheckRequest {
                    service: name.into(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(r.status, ServingStatus::Serving as i32, "{kind:?} {name}");
        }
        let listed = kompass_tests::reflection_services(ch.clone()).await;
        assert!(listed.0.iter().any(|s| s == svc), "v1 {kind:?}: {listed:?}");
        assert!(
            listed.1.iter().any(|s| s == svc),
            "v1alpha {kind:?}: {listed:?}"
        );
        // Only what this server answers: its own services, health, reflection.
        let mut want: Vec<String> = kompass_serve::services(kind)
            .iter()
            .map(|s| s.to_string())
            .chain(
                [
                    "grpc.health.v1.Health",
                    "grpc.reflection.v1.ServerReflection",
                    "grpc.reflection.v1alpha.ServerReflection",
                ]
                .map(String::from),
            )
            .collect();
        want.sort();
        for mut got in [listed.0, listed.1] {
            got.sort();
            assert_eq!(got, want, "{kind:?} lists only what it serves");
        }
    }
    env.cleanup().await;
}

/// Whether the connection `backend` opens to the server's `postgres` database
/// is encrypted, as the server reports it (`pg_stat_ssl`).
async fn connection_uses_tls(backend: &kompass_tenant_db::Backend) -> bool {
    let p = kompass_tenant_db::Placement {
        server: "primary".into(),
        database: "postgres".into(),
    };
    let db = backend
        .connect(&p, 1, Duration::from_secs(5))
        .await
        .unwrap();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ))
        .await
        .unwrap()
        .unwrap();
    db.close().await.ok();
    row.try_get_by_index::<bool>(0).unwrap()
}

/// `KOMPASS_DB_SSLMODE` (the chart's `config.dbSslMode`) reaches every
/// database URL that names no `sslmode`, and the connections really are
/// (or are not) encrypted; an explicit `sslmode` in a URL wins.
#[tokio::test]
async fn the_configured_sslmode_reaches_the_tenant_connections() {
    let mut cfg = kompass_config::Config::default();
    let url = kompass_tests::server_url();
    let plain_url = {
        let mut u = url::Url::parse(&url).unwrap();
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != "sslmode")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        u.query_pairs_mut().clear().extend_pairs(kept);
        u.to_string()
    };
    cfg.database.url = Some(plain_url.clone());
    cfg.database.servers = BTreeMap::from([("second".to_string(), plain_url.clone())]);
    cfg.database.ssl_mode = Some("disable".into());
    let (catalog_url, backend) = kompass_serve::storage(&cfg).unwrap();
    assert!(catalog_url.contains("sslmode=disable"), "{catalog_url}");
    let second = backend
        .url(&kompass_tenant_db::Placement {
            server: "second".into(),
            database: "x".into(),
        })
        .unwrap();
    assert!(second.contains("sslmode=disable"), "{second}");
    assert!(!connection_uses_tls(&backend).await);

    // An explicit sslmode in the URL is kept.
    let explicit = format!(
        "{plain_url}{}sslmode=prefer",
        if plain_url.contains('?') { "&" } else { "?" }
    );
    assert_eq!(
        kompass_serve::with_ssl_mode(&explicit, &cfg).unwrap(),
        explicit
    );
    cfg.database.ssl_mode = Some("sometimes".into());
    assert!(kompass_serve::storage(&cfg).is_err());

    // With TLS on the server, `require` gets an encrypted connection.
    let admin = sea_orm::Database::connect(&url).await.unwrap();
    let ssl_on = admin
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SHOW ssl",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<String>(0)
        .unwrap()
        == "on";
    admin.close().await.ok();
    if ssl_on {
        cfg.database.ssl_mode = Some("require".into());
        let (_, backend) = kompass_serve::storage(&cfg).unwrap();
        assert!(connection_uses_tls(&backend).await);
    }
}
