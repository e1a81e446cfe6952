//! The per-process access cache (grants, placement, assignments) and the
//! one-statement score write: a revocation takes effect on the next call in
//! the same process and within a second in another one (Redis pub/sub); a
//! missed invalidation ends with the TTL; concurrent writers with one etag
//! give one winner and one audit row, written as the transaction writes it.

use std::time::{Duration, Instant};

use kompass_config::ServiceKind;
use kompass_proto::assessment::v1 as apb;
use kompass_proto::assessment::v1::evaluation_service_client::EvaluationServiceClient;
use kompass_proto::assessment::v1::scoring_service_client::ScoringServiceClient;
use kompass_proto::tenancy::v1 as tpb;
use kompass_tests::{Options, TestEnv, authed, user};
use sea_orm::{ConnectionTrait, Database};
use tonic::Code;
use tonic::transport::Channel;

const FW: &str = "frameworks/kommunkompassen/versions/2015";

fn mask(p: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: p.iter().map(|s| s.to_string()).collect(),
    })
}

/// An evaluation of `tenant` in SCORING, of `kind`, with `eva` as lead.
async fn scoring(env: &TestEnv, tenant: &str, admin: &str, kind: apb::EvaluationKind) -> String {
    let mut ev = EvaluationServiceClient::new(env.channel(ServiceKind::Assessment).await);
    let op = env.token("operator", &["operator"]);
    let e = ev
        .create_evaluation(authed(
            &env.token(admin, &[]),
            apb::CreateEvaluationRequest {
                parent: format!("tenants/{tenant}"),
                evaluation: Some(apb::Evaluation {
                    title: "Kommunkompassen 2026".into(),
                    kind: kind as i32,
                    framework_version: FW.into(),
                    evaluation_date: "2026-10-01".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    if kind == apb::EvaluationKind::External {
        env.assign_lead(&e.name, "eva").await;
    }
    let lead = if kind == apb::EvaluationKind::External {
        op.clone()
    } else {
        env.token(admin, &[])
    };
    for to in [
        apb::evaluation::State::Fieldwork,
        apb::evaluation::State::Scoring,
    ] {
        let etag = ev
            .get_evaluation(authed(
                &lead,
                apb::GetEvaluationRequest {
                    name: e.name.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .etag;
        ev.transition_evaluation(authed(
            &lead,
            apb::TransitionEvaluationRequest {
                name: e.name.clone(),
                to_state: to as i32,
                etag,
                reason: String::new(),
            },
        ))
        .await
        .unwrap();
    }
    e.name
}

/// Östra onboarded, Eva an evaluator, Anna its admin, and an external
/// evaluation of Östra in scoring with Eva as its lead.
async fn external_in_scoring(env: &TestEnv) -> String {
    env.onboard("ostra").await;
    user(env, "eva", &[tpb::PlatformRole::Evaluator]).await;
    env.member("anna", "ostra", tpb::TenantRole::TenantAdmin)
        .await;
    scoring(env, "ostra", "anna", apb::EvaluationKind::External).await
}

/// Writes `points` with the etag the score has now (read first).
async fn write(
    sc: &mut ScoringServiceClient<Channel>,
    tok: &str,
    evaluation: &str,
    q: &str,
    points: &str,
) -> Result<apb::Score, tonic::Status> {
    let name = format!("{evaluation}/scores/{q}");
    let etag = sc
        .get_score(authed(tok, apb::GetScoreRequest { name: name.clone() }))
        .await
        .map(|s| s.into_inner().etag)
        .unwrap_or_else(|_| "0".into());
    sc.update_score(authed(
        tok,
        apb::UpdateScoreRequest {
            score: Some(apb::Score {
                name,
                points: points.into(),
                etag,
                ..Default::default()
            }),
            update_mask: mask(&["points"]),
        },
    ))
    .await
    .map(|r| r.into_inner())
}

#[tokio::test]
async fn revocations_take_effect_on_the_next_call() {
    let env = TestEnv::start().await;
    assert!(
        env.platform.catalog.access_cache().is_some(),
        "the test platform runs with Redis, so with the cache"
    );
    let external = external_in_scoring(&env).await;
    env.member("maja", "ostra", tpb::TenantRole::Member).await;
    let own = scoring(&env, "ostra", "anna", apb::EvaluationKind::SelfAssessment).await;
    let mut sc = ScoringServiceClient::new(env.channel(ServiceKind::Assessment).await);
    let mut ev = EvaluationServiceClient::new(env.channel(ServiceKind::Assessment).await);
    let mut users = env.users().await;
    let mut tenants = env.tenants().await;
    let op = env.token("operator", &["operator"]);
    let eva = env.token("eva", &["evaluator"]);
    let maja = env.token("maja", &[]);

    // Warm: each write reads grants, assignment and placement (cached now).
    for p in ["3", "4"] {
        write(&mut sc, &eva, &external, "1.1", p).await.unwrap();
        write(&mut sc, &maja, &own, "1.1", p).await.unwrap();
    }

    // The assignment goes: the very next write is refused.
    ev.delete_assignment(authed(
        &op,
        apb::DeleteAssignmentRequest {
            name: format!("{external}/assignments/eva"),
        },
    ))
    .await
    .unwrap();
    let e = write(&mut sc, &eva, &external, "1.1", "5")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    env.assign_lead(&external, "eva").await;
    write(&mut sc, &eva, &external, "1.1", "5").await.unwrap();

    // The platform role goes.
    users
        .update_user(authed(
            &op,
            tpb::UpdateUserRequest {
                user: Some(tpb::User {
                    name: "users/eva".into(),
                    platform_roles: vec![],
                    ..Default::default()
                }),
                update_mask: mask(&["platform_roles"]),
            },
        ))
        .await
        .unwrap();
    let e = write(&mut sc, &eva, &external, "1.1", "6")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    // The membership goes.
    users
        .delete_membership(authed(
            &op,
            tpb::DeleteMembershipRequest {
                name: "tenants/ostra/memberships/maja".into(),
            },
        ))
        .await
        .unwrap();
    let e = write(&mut sc, &maja, &own, "1.1", "6").await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    // The tenant is suspended, then resumed.
    let anna = env.token("anna", &[]);
    write(&mut sc, &anna, &own, "1.2", "2").await.unwrap();
    tenants
        .suspend_tenant(authed(
            &op,
            tpb::SuspendTenantRequest {
                name: "tenants/ostra".into(),
            },
        ))
        .await
        .unwrap();
    let e = write(&mut sc, &anna, &own, "1.2", "3").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    tenants
        .resume_tenant(authed(
            &op,
            tpb::ResumeTenantRequest {
                name: "tenants/ostra".into(),
            },
        ))
        .await
        .unwrap();
    write(&mut sc, &anna, &own, "1.2", "3").await.unwrap();

    // The user is deactivated.
    users
        .delete_user(authed(
            &op,
            tpb::DeleteUserRequest {
                name: "users/anna".into(),
            },
        ))
        .await
        .unwrap();
    let e = write(&mut sc, &anna, &own, "1.2", "4").await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    env.cleanup().await;
}

/// Another process (here: a second platform serving the assessment service
/// on the same catalog and Redis) hears the revocation through Redis.
#[tokio::test]
async fn another_process_hears_the_revocation_within_a_second() {
    let env = TestEnv::start().await;
    let external = external_in_scoring(&env).await;
    let other = kompass_serve::Platform::open(env.cfg.clone())
        .await
        .unwrap();
    let running = kompass_serve::start(&other, &[ServiceKind::Assessment], |_| 0)
        .await
        .unwrap();
    let ch = Channel::from_shared(running.url(ServiceKind::Assessment))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut sc = ScoringServiceClient::new(ch);
    let eva = env.token("eva", &["evaluator"]);
    write(&mut sc, &eva, &external, "2.1", "1").await.unwrap();
    write(&mut sc, &eva, &external, "2.1", "2").await.unwrap();
    EvaluationServiceClient::new(env.channel(ServiceKind::Assessment).await)
        .delete_assignment(authed(
            &env.token("operator", &["operator"]),
            apb::DeleteAssignmentRequest {
                name: format!("{external}/assignments/eva"),
            },
        ))
        .await
        .unwrap();
    let revoked = Instant::now();
    let denied = loop {
        match write(&mut sc, &eva, &external, "2.1", "3").await {
            Err(e) if e.code() == Code::PermissionDenied => break true,
            Err(e) => panic!("{e:?}"),
            Ok(_) if revoked.elapsed() > Duration::from_secs(1) => break false,
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert!(
        denied,
        "the other process still let eva write after a second"
    );
    running.shutdown().await;
    other.dbs.close_all().await;
    env.cleanup().await;
}

/// A change made behind the services' back sends no invalidation: the
/// cached answer stands until the TTL ends it, and not longer.
#[tokio::test]
async fn a_missed_invalidation_ends_with_the_ttl() {
    let ttl = Duration::from_millis(1500);
    let env = TestEnv::start_with(Options {
        access_cache_ttl_ms: Some(ttl.as_millis() as u64),
        ..Default::default()
    })
    .await;
    let external = external_in_scoring(&env).await;
    let mut sc = ScoringServiceClient::new(env.channel(ServiceKind::Assessment).await);
    let eva = env.token("eva", &["evaluator"]);
    write(&mut sc, &eva, &external, "3.1", "1").await.unwrap();
    let catalog = Database::connect(env.cfg.database.url.clone().unwrap())
        .await
        .unwrap();
    let gone = catalog
        .execute_unprepared("DELETE FROM evaluator_assignments WHERE user_id = 'eva'")
        .await
        .unwrap();
    assert_eq!(gone.rows_affected(), 1);
    let removed = Instant::now();
    // Still cached (nobody said otherwise): the write goes through.
    write(&mut sc, &eva, &external, "3.1", "2").await.unwrap();
    let denied_after = loop {
        match write(&mut sc, &eva, &external, "3.1", "3").await {
            Err(e) if e.code() == Code::PermissionDenied => break removed.elapsed(),
            Err(e) => panic!("{e:?}"),
            Ok(_) => {
                assert!(
                    removed.elapsed() < ttl + Duration::from_secs(2),
                    "still allowed long after the TTL"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert!(denied_after < ttl + Duration::from_secs(2));
    catalog.close().await.ok();
    env.cleanup().await;
}

/// Eight writers send the same etag at once: one wins, seven get ABORTED;
/// one audit row per accepted write, its values exactly as the transaction
/// (used for evidence) writes them.
#[tokio::test]
async fn one_etag_one_winner_and_exact_audit_rows() {
    let env = TestEnv::start().await;
    let external = external_in_scoring(&env).await;
    let eva = env.token("eva", &["evaluator"]);
    let ch = env.channel(ServiceKind::Assessment).await;
    let name = format!("{external}/scores/4.1");
    let comment = "Citat \"så här\" \\ och\nny rad; 50 % #[$]";
    for (round, etag) in ["0", "1"].into_iter().enumerate() {
        let mut tasks = vec![];
        for i in 0..8 {
            let mut sc = ScoringServiceClient::new(ch.clone());
            let (eva, name, etag) = (eva.clone(), name.clone(), etag.to_string());
            tasks.push(tokio::spawn(async move {
                sc.update_score(authed(
                    &eva,
                    apb::UpdateScoreRequest {
                        score: Some(apb::Score {
                            name,
                            points: format!("{}.{i}", round + 3),
                            comment: comment.into(),
                            etag,
                            ..Default::default()
                        }),
                        update_mask: mask(&["points", "comment"]),
                    },
                ))
                .await
            }));
        }
        let mut won = vec![];
        for t in tasks {
            match t.await.unwrap() {
                Ok(s) => won.push(s.into_inner()),
                Err(e) => assert_eq!(e.code(), Code::Aborted, "{e:?}"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: exactly one writer wins");
        assert_eq!(won[0].etag, (round + 1).to_string());
        assert_eq!(won[0].comment, comment);
    }
    let audit = EvaluationServiceClient::new(ch.clone())
        .list_audit_events(authed(
            &env.token("operator", &["operator"]),
            apb::ListAuditEventsRequest {
                parent: external.clone(),
                target: name.clone(),
                page_size: 100,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(audit[0].old_value, "");
    let first: serde_json::Value = serde_json::from_str(&audit[0].new_value).unwrap();
    assert_eq!(first["comment"], comment);
    assert_eq!(
        audit[1].old_value, audit[0].new_value,
        "old = what the first wrote"
    );
    let points = first["points"].as_str().unwrap();
    assert!(points.starts_with("3.") && points.len() == 4, "{points}");
    // The transaction's rendering of the same values is byte for byte alike.
    let expected = serde_json::json!({"points": points, "comment": comment}).to_string();
    assert_eq!(audit[0].new_value, expected);
    env.cleanup().await;
}

/// A score write reads the evaluation's fixed facts from a cache, not its
/// state: once the lead moves the evaluation on, the next write is refused
/// by the statement's own state check, cached row or not.
#[tokio::test]
async fn a_cached_evaluation_row_never_lets_a_score_past_a_state_change() {
    let env = TestEnv::start().await;
    let external = external_in_scoring(&env).await;
    let mut sc = ScoringServiceClient::new(env.channel(ServiceKind::Assessment).await);
    let mut ev = EvaluationServiceClient::new(env.channel(ServiceKind::Assessment).await);
    let eva = env.token("eva", &["evaluator"]);
    for p in ["3", "4"] {
        write(&mut sc, &eva, &external, "1.1", p).await.unwrap();
    }
    let etag = ev
        .get_evaluation(authed(
            &eva,
            apb::GetEvaluationRequest {
                name: external.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .etag;
    ev.transition_evaluation(authed(
        &eva,
        apb::TransitionEvaluationRequest {
            name: external.clone(),
            to_state: apb::evaluation::State::Consensus as i32,
            etag,
            reason: String::new(),
        },
    ))
    .await
    .unwrap();
    let e = write(&mut sc, &eva, &external, "1.1", "5")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("CONSENSUS"), "{}", e.message());
    // Nothing was written: the score is still the last one accepted.
    let s = sc
        .get_score(authed(
            &eva,
            apb::GetScoreRequest {
                name: format!("{external}/scores/1.1"),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.points, "4.00");
    env.cleanup().await;
}
