//! The whole assessment flow over gRPC against real PostgreSQL and Redis.

use std::time::Duration;

use kompass_config::ServiceKind;
use kompass_events::EventBus;
use kompass_proto::assessment::v1 as apb;
use kompass_proto::assessment::v1::evaluation_service_client::EvaluationServiceClient;
use kompass_proto::assessment::v1::framework_service_client::FrameworkServiceClient;
use kompass_proto::assessment::v1::scoring_service_client::ScoringServiceClient;
use kompass_proto::tenancy::v1 as tpb;
use kompass_tests::{Options, TestEnv, authed, user};
use prost::Message;
use tonic::Code;
use tonic::transport::Channel;

const FW: &str = "frameworks/kommunkompassen/versions/2015";

struct Flow {
    env: TestEnv,
    ev: EvaluationServiceClient<Channel>,
    sc: ScoringServiceClient<Channel>,
    op: String,
    eva: String,
    per: String,
    name: String,
}

fn mask(p: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: p.iter().map(|s| s.to_string()).collect(),
    })
}

impl Flow {
    async fn start(o: Options) -> Flow {
        let env = TestEnv::start_with(o).await;
        env.onboard("ostra").await;
        env.onboard("vastra").await;
        user(&env, "eva", &[tpb::PlatformRole::Evaluator]).await;
        user(&env, "per", &[tpb::PlatformRole::Evaluator]).await;
        user(&env, "olle", &[tpb::PlatformRole::Evaluator]).await;
        env.member("anna", "ostra", tpb::TenantRole::TenantAdmin)
            .await;
        env.member("bertil", "vastra", tpb::TenantRole::TenantAdmin)
            .await;
        let ch = env.channel(ServiceKind::Assessment).await;
        let mut ev = EvaluationServiceClient::new(ch.clone());
        let sc = ScoringServiceClient::new(ch);
        let op = env.token("operator", &["operator"]);
        let e = ev
            .create_evaluation(authed(
                &env.token("anna", &[]),
                apb::CreateEvaluationRequest {
                    parent: "tenants/ostra".into(),
                    evaluation: Some(apb::Evaluation {
                        title: "Kommunkompassen 2026".into(),
                        kind: apb::EvaluationKind::External as i32,
                        framework_version: FW.into(),
                        evaluation_date: "2026-10-01".into(),
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        for (u, role) in [
            ("eva", apb::EvaluatorRole::Lead),
            ("per", apb::EvaluatorRole::Peer),
        ] {
            ev.create_assignment(authed(
                &op,
                apb::CreateAssignmentRequest {
                    parent: e.name.clone(),
                    assignment: Some(apb::Assignment {
                        user: format!("users/{u}"),
                        role: role as i32,
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap();
        }
        Flow {
            eva: env.token("eva", &["evaluator"]),
            per: env.token("per", &["evaluator"]),
            env,
            ev,
            sc,
            op,
            name: e.name,
        }
    }

    async fn etag(&mut self) -> String {
        self.ev
            .get_evaluation(authed(
                &self.op,
                apb::GetEvaluationRequest {
                    name: self.name.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .etag
    }

    async fn to(
        &mut self,
        tok: &str,
        s: apb::evaluation::State,
    ) -> Result<apb::Evaluation, tonic::Status> {
        let etag = self.etag().await;
        self.ev
            .transition_evaluation(authed(
                tok,
                apb::TransitionEvaluationRequest {
                    name: self.name.clone(),
                    to_state: s as i32,
                    etag,
                    reason: String::new(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn score(
        &mut self,
        tok: &str,
        q: &str,
        points: &str,
        etag: &str,
    ) -> Result<apb::Score, tonic::Status> {
        self.sc
            .update_score(authed(
                tok,
                apb::UpdateScoreRequest {
                    score: Some(apb::Score {
                        name: format!("{}/scores/{q}", self.name),
                        points: points.into(),
                        comment: format!("bedömning av {q}"),
                        etag: etag.into(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["points", "comment"]),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn agree(&mut self, q: &str, points: &str) -> Result<apb::AgreedScore, tonic::Status> {
        let cur = self
            .sc
            .get_agreed_score(authed(
                &self.eva,
                apb::GetAgreedScoreRequest {
                    name: format!("{}/agreedScores/{q}", self.name),
                },
            ))
            .await?
            .into_inner();
        self.sc
            .update_agreed_score(authed(
                &self.eva.clone(),
                apb::UpdateAgreedScoreRequest {
                    agreed_score: Some(apb::AgreedScore {
                        name: cur.name,
                        points: points.into(),
                        etag: cur.etag,
                        ..Default::default()
                    }),
                    update_mask: mask(&["points"]),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }
}

/// Every question of the 2015 framework with its maximum.
async fn questions(env: &TestEnv) -> Vec<(String, String)> {
    let fw = FrameworkServiceClient::new(env.channel(ServiceKind::Assessment).await)
        .get_framework_version(authed(
            &env.token("anna", &[]),
            apb::GetFrameworkVersionRequest { name: FW.into() },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fw.max_points, "800");
    fw.areas
        .iter()
        .flat_map(|a| {
            a.questions
                .iter()
                .map(|q| (q.id.clone(), q.max_points.clone()))
        })
        .collect()
}

/// Scores everything (eva: 84 % of max, per: 50 %), agrees eva's, publishes.
async fn score_and_publish(f: &mut Flow) -> apb::PublishEvaluationResponse {
    use apb::evaluation::State;
    f.to(&f.eva.clone(), State::Fieldwork).await.unwrap();
    f.to(&f.eva.clone(), State::Scoring).await.unwrap();
    let qs = questions(&f.env).await;
    for (q, max) in &qs {
        let max: u32 = max.parse().unwrap();
        let eva_pts = format!("{}.{:02}", max * 84 / 100, (max * 84) % 100);
        f.score(&f.eva.clone(), q, &eva_pts, "").await.unwrap();
        f.score(&f.per.clone(), q, &format!("{}", max / 2), "")
            .await
            .unwrap();
    }
    f.to(&f.eva.clone(), State::Consensus).await.unwrap();
    for (q, max) in &qs {
        let max: u32 = max.parse().unwrap();
        f.agree(q, &format!("{}.{:02}", max * 84 / 100, (max * 84) % 100))
            .await
            .unwrap();
    }
    let etag = f.etag().await;
    f.ev.publish_evaluation(authed(
        &f.eva.clone(),
        apb::PublishEvaluationRequest {
            name: f.name.clone(),
            etag,
        },
    ))
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test]
async fn assign_score_conflict_consensus_publish_lock_and_event() {
    use apb::evaluation::State;
    let mut f = Flow::start(Options::default()).await;
    let eva = f.eva.clone();
    let per = f.per.clone();

    // Scoring before the scoring state: refused, naming the state.
    let err = f.score(&eva, "1.1", "10", "").await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("DRAFT"), "{}", err.message());
    // Only the lead moves it on.
    assert_eq!(
        f.to(&per, State::Fieldwork).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    // Skipping a state: refused.
    assert_eq!(
        f.to(&eva, State::Consensus).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    f.to(&eva, State::Fieldwork).await.unwrap();
    f.to(&eva, State::Scoring).await.unwrap();

    // Individual scores, exact decimals.
    let s1 = f.score(&eva, "1.1", "12.60", "").await.unwrap();
    assert_eq!(s1.points, "12.60");
    assert_eq!(s1.max_points, "15");
    let s2 = f.score(&eva, "1.1", "12.75", &s1.etag).await.unwrap();
    assert_eq!(s2.points, "12.75");
    // Stale write: ABORTED, nothing lost.
    let err = f.score(&eva, "1.1", "3", &s1.etag).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "{}", err.message());
    let now =
        f.sc.get_score(authed(
            &eva,
            apb::GetScoreRequest {
                name: format!("{}/scores/1.1", f.name),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now.points, "12.75");
    // Bad points: INVALID_ARGUMENT, nothing stored.
    for bad in ["16", "12.755", "NaN", "-1", "1e1", "12,5", "inf"] {
        let err = f.score(&eva, "1.1", bad, &s2.etag).await.unwrap_err();
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "{bad}: {}",
            err.message()
        );
    }
    let err = f.score(&eva, "9.9", "1", "").await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("9.9"));
    let still =
        f.sc.get_score(authed(
            &eva,
            apb::GetScoreRequest {
                name: format!("{}/scores/1.1", f.name),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (still.points.as_str(), still.etag.as_str()),
        ("12.75", s2.etag.as_str())
    );

    // Outsiders: unassigned evaluator, another tenant's admin, a member of another tenant.
    let olle = f.env.token("olle", &["evaluator"]);
    let bertil = f.env.token("bertil", &[]);
    for tok in [&olle, &bertil] {
        let err = f.score(tok, "1.2", "5", "").await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        let err =
            f.ev.get_evaluation(authed(
                tok,
                apb::GetEvaluationRequest {
                    name: f.name.clone(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
    }
    // The municipality itself does not score an external evaluation.
    let err = f
        .score(&f.env.token("anna", &[]), "1.2", "5", "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // An evaluator assigned in Östra sees nothing of Västra.
    let err =
        f.ev.list_evaluations(authed(
            &eva,
            apb::ListEvaluationsRequest {
                parent: "tenants/vastra".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let mine =
        f.ev.list_evaluations(authed(
            &eva,
            apb::ListEvaluationsRequest {
                parent: "tenants/-".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.evaluations.len(), 1);
    assert_eq!(mine.evaluations[0].name, f.name);

    // Consensus: spread per question.
    f.score(&per, "1.1", "9.50", "").await.unwrap();
    f.to(&eva, State::Consensus).await.unwrap();
    let a =
        f.sc.get_agreed_score(authed(
            &eva,
            apb::GetAgreedScoreRequest {
                name: format!("{}/agreedScores/1.1", f.name),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (a.lowest_points.as_str(), a.highest_points.as_str()),
        ("9.50", "12.75")
    );
    assert_eq!(a.individual_scores.len(), 2);
    // Only the lead agrees.
    let err =
        f.sc.update_agreed_score(authed(
            &per,
            apb::UpdateAgreedScoreRequest {
                agreed_score: Some(apb::AgreedScore {
                    name: a.name.clone(),
                    points: "11".into(),
                    etag: a.etag.clone(),
                    ..Default::default()
                }),
                update_mask: mask(&["points"]),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    f.agree("1.1", "11.00").await.unwrap();
    // Publishing needs every agreed score.
    let etag = f.etag().await;
    let err =
        f.ev.publish_evaluation(authed(
            &eva,
            apb::PublishEvaluationRequest {
                name: f.name.clone(),
                etag,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("1.2"), "{}", err.message());

    // Agree the rest: 84 % of each maximum (16.80 of 20 and so on).
    let qs = questions(&f.env).await;
    for (q, max) in qs.iter().skip(1) {
        let max: u32 = max.parse().unwrap();
        f.agree(q, &format!("{}.{:02}", max * 84 / 100, (max * 84) % 100))
            .await
            .unwrap();
    }
    let totals =
        f.sc.get_totals(authed(
            &eva,
            apb::GetTotalsRequest {
                name: f.name.clone(),
                own_scores: false,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    // 800 × 0.84 = 672 minus (12.60 − 11.00) for question 1.1 = 670.40.
    let total = totals.total.unwrap();
    assert_eq!(
        (total.points.as_str(), total.display_points.as_str()),
        ("670.40", "670")
    );
    assert_eq!(totals.areas[0].points, "82.40");
    assert!(totals.unscored_questions.is_empty());

    let etag = f.etag().await;
    let published =
        f.ev.publish_evaluation(authed(
            &eva,
            apb::PublishEvaluationRequest {
                name: f.name.clone(),
                etag,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let seal = published.seal.unwrap();
    assert_eq!(seal.digest.len(), 64);
    assert_eq!(published.evaluation.unwrap().state, State::Published as i32);

    // Locked: every write refused.
    assert_eq!(
        f.agree("1.1", "10").await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    assert_eq!(
        f.score(&eva, "1.2", "1", "").await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    assert_eq!(
        f.to(&eva, State::Consensus).await.unwrap_err().code(),
        Code::FailedPrecondition
    );

    // Ostra has not agreed to be public: the public cannot even tell the
    // evaluation exists; its own users and the operator verify.
    let anon =
        f.ev.verify_publication(tonic::Request::new(apb::VerifyPublicationRequest {
            name: f.name.clone(),
            report: Some(apb::verify_publication_request::Report::Digest(
                seal.digest.clone(),
            )),
        }))
        .await
        .unwrap_err();
    assert_eq!(anon.code(), Code::NotFound);
    let v =
        f.ev.verify_publication(authed(
            &f.op,
            apb::VerifyPublicationRequest {
                name: f.name.clone(),
                report: Some(apb::verify_publication_request::Report::Digest(
                    seal.digest.clone(),
                )),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(v.valid);
    let forged = "0".repeat(64);
    let v =
        f.ev.verify_publication(authed(
            &f.op,
            apb::VerifyPublicationRequest {
                name: f.name.clone(),
                report: Some(apb::verify_publication_request::Report::Digest(forged)),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!v.valid);

    // The event reaches a consumer group on Redis, once.
    let bus =
        kompass_events::RedisBus::connect(&kompass_tests::redis_url(), &f.env.cfg.redis.key_prefix)
            .await
            .unwrap();
    let mut got = vec![];
    for _ in 0..50 {
        got.extend(
            bus.read("evaluations", "test", "c1", 10, Duration::from_millis(200))
                .await
                .unwrap(),
        );
        if !got.is_empty() {
            break;
        }
    }
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].topic, "evaluation.published");
    let event = apb::EvaluationPublishedEvent::decode(got[0].payload.as_slice()).unwrap();
    let content = event.content.unwrap();
    assert_eq!(content.evaluation, f.name);
    assert_eq!(content.questions.len(), 45);
    assert_eq!(content.totals.unwrap().total.unwrap().points, "670.40");
    assert_eq!(event.seal.unwrap().digest, seal.digest);
    bus.ack("evaluations", "test", &got[0].entry_id)
        .await
        .unwrap();
    assert!(
        bus.read("evaluations", "test", "c1", 10, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );

    // Audit trail: score changes with old and new values.
    let audit =
        f.ev.list_audit_events(authed(
            &f.op.clone(),
            apb::ListAuditEventsRequest {
                parent: f.name.clone(),
                target: format!("{}/scores/1.1", f.name),
                page_size: 100,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(audit.audit_events.len() >= 3);
    assert!(audit.audit_events[1].old_value.contains("12.60"));
    assert!(audit.audit_events[1].new_value.contains("12.75"));

    // Removing an assignment removes the access at once.
    f.ev.delete_assignment(authed(
        &f.op.clone(),
        apb::DeleteAssignmentRequest {
            name: format!("{}/assignments/per", f.name),
        },
    ))
    .await
    .unwrap();
    let err =
        f.ev.get_evaluation(authed(
            &per,
            apb::GetEvaluationRequest {
                name: f.name.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    f.env.cleanup().await;
}

#[tokio::test]
async fn frameworks_import_validate_and_export() {
    let env = TestEnv::start().await;
    let op = env.token("operator", &["operator"]);
    let mut fw = FrameworkServiceClient::new(env.channel(ServiceKind::Assessment).await);
    let bad = "framework: kommunekompasset\nrevision: \"2020\"\nname: {sv: X, en: X}\ndescription: {sv: X, en: X}\nareas:\n  - id: \"1\"\n    name: {sv: A, en: A}\n    max_points: \"100\"\n    headings: []\n    questions:\n      - {id: \"1.1\", max_points: \"60\", text: {sv: q, en: q}}\n";
    let err = fw
        .import_framework_version(authed(
            &op,
            apb::ImportFrameworkVersionRequest {
                content: bad.as_bytes().to_vec(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("sum to 60"), "{}", err.message());
    let err = fw
        .import_framework_version(authed(
            &op,
            apb::ImportFrameworkVersionRequest {
                content: b"framework: [unclosed".to_vec(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let listed = fw
        .list_framework_versions(authed(
            &op,
            apb::ListFrameworkVersionsRequest {
                parent: "frameworks/-".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.framework_versions.len(),
        1,
        "only the built-in one: nothing stored"
    );

    let good = bad.replace("\"60\"", "\"100\"");
    let v = fw
        .import_framework_version(authed(
            &op,
            apb::ImportFrameworkVersionRequest {
                content: good.as_bytes().to_vec(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.name, "frameworks/kommunekompasset/versions/2020");
    // Only operators import.
    let err = fw
        .import_framework_version(authed(
            &env.token("anna", &[]),
            apb::ImportFrameworkVersionRequest {
                content: good.as_bytes().to_vec(),
                replace: true,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // Export gives the same format back; the built-in one too.
    let out = fw
        .export_framework_version(authed(
            &op,
            apb::ExportFrameworkVersionRequest {
                name: FW.into(),
                format: apb::FileFormat::Json as i32,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let back = kompass_frameworks::Framework::from_json(std::str::from_utf8(&out.content).unwrap())
        .unwrap();
    assert_eq!(&back, kompass_frameworks::Framework::builtin());
    env.cleanup().await;
}

#[tokio::test]
async fn publication_survives_a_redis_restart_and_arrives_once() {
    let redis = kompass_tests::TempRedis::start().await;
    let mut f = Flow::start(Options {
        redis_url: Some(redis.url()),
        ..Default::default()
    })
    .await;
    // Redis goes away before publication; the outbox keeps the event.
    redis.stop();
    let published = score_and_publish(&mut f).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let redis = redis.restart().await;
    let bus = kompass_events::RedisBus::connect(&redis.url(), &f.env.cfg.redis.key_prefix)
        .await
        .unwrap();
    let mut got = vec![];
    for _ in 0..60 {
        got.extend(
            bus.read(
                "evaluations",
                "restart-test",
                "c1",
                10,
                Duration::from_millis(250),
            )
            .await
            .unwrap(),
        );
        if !got.is_empty() {
            break;
        }
    }
    assert_eq!(got.len(), 1, "delivered after the restart");
    let event = apb::EvaluationPublishedEvent::decode(got[0].payload.as_slice()).unwrap();
    assert_eq!(event.seal.unwrap().digest, published.seal.unwrap().digest);
    // A consumer that crashes before acknowledging gets it again, and only it.
    let again = bus
        .read(
            "evaluations",
            "restart-test",
            "c1",
            10,
            Duration::from_millis(250),
        )
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|d| &d.event_id).collect::<Vec<_>>(),
        vec![&got[0].event_id]
    );
    bus.ack("evaluations", "restart-test", &got[0].entry_id)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        bus.read(
            "evaluations",
            "restart-test",
            "c1",
            10,
            Duration::from_millis(500)
        )
        .await
        .unwrap()
        .is_empty()
    );
    f.env.cleanup().await;
    drop(redis);
}

fn historic_csv(qs: &[(String, String)], pct: u32) -> String {
    let mut csv = String::from("question,points\n");
    for (q, max) in qs {
        let max: u32 = max.parse().unwrap();
        csv.push_str(&format!(
            "{q},{}.{:02}\n",
            max * pct / 100,
            (max * pct) % 100
        ));
    }
    csv
}

#[tokio::test]
async fn historic_import_self_assessment_comparison_and_next_cycle() {
    use apb::evaluation::State;
    let mut f = Flow::start(Options::default()).await;
    let anna = f.env.token("anna", &[]);
    let qs = questions(&f.env).await;

    // Historic import (an external result: the operator puts it on record):
    // bad CSV names the fault and stores nothing.
    let op = f.op.clone();
    let mut broken = historic_csv(&qs, 60);
    broken = broken.replace("1.2,12.00", "1.2,12.005");
    let err =
        f.ev.import_evaluation(authed(
            &op,
            apb::ImportEvaluationRequest {
                parent: "tenants/ostra".into(),
                title: "Kommunkompassen 2017".into(),
                framework_version: FW.into(),
                evaluation_date: "2017-05-10".into(),
                evaluator_names: vec!["Karin Lund".into(), "Jonas Berg".into()],
                csv: broken.into_bytes(),
                source: "Kommunkompassen 2017, Östra kommun (SKR)".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("line 3"), "{}", err.message());
    let before =
        f.ev.list_evaluations(authed(
            &anna,
            apb::ListEvaluationsRequest {
                parent: "tenants/ostra".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.evaluations.len(), 1);
    // A member may not import; the admin may not import an external
    // result either; the operator may.
    f.env.member("maja", "ostra", tpb::TenantRole::Member).await;
    let maja = f.env.token("maja", &[]);
    let req = apb::ImportEvaluationRequest {
        parent: "tenants/ostra".into(),
        title: "Kommunkompassen 2017".into(),
        framework_version: FW.into(),
        evaluation_date: "2017-05-10".into(),
        evaluator_names: vec!["Karin Lund".into(), "Jonas Berg".into()],
        csv: historic_csv(&qs, 60).into_bytes(),
        source: "Kommunkompassen 2017, Östra kommun (SKR)".into(),
        ..Default::default()
    };
    assert_eq!(
        f.ev.import_evaluation(authed(&maja, req.clone()))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        f.ev.import_evaluation(authed(&anna, req.clone()))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let old =
        f.ev.import_evaluation(authed(&op, req))
            .await
            .unwrap()
            .into_inner();
    assert!(old.imported);
    assert_eq!(old.state, State::Published as i32);
    assert_eq!(old.imported_evaluator_names, ["Karin Lund", "Jonas Berg"]);
    let seal = old.seal.clone().unwrap();
    let t =
        f.sc.get_totals(authed(
            &anna,
            apb::GetTotalsRequest {
                name: old.name.clone(),
                own_scores: false,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.total.unwrap().points, "480.00");

    // Its event carries the content; the content verifies, a changed one does not.
    let bus =
        kompass_events::RedisBus::connect(&kompass_tests::redis_url(), &f.env.cfg.redis.key_prefix)
            .await
            .unwrap();
    let mut got = vec![];
    for _ in 0..50 {
        got.extend(
            bus.read("evaluations", "verify", "c", 10, Duration::from_millis(200))
                .await
                .unwrap(),
        );
        if !got.is_empty() {
            break;
        }
    }
    let mut content = apb::EvaluationPublishedEvent::decode(got[0].payload.as_slice())
        .unwrap()
        .content
        .unwrap();
    let check = |c: apb::PublishedContent| apb::VerifyPublicationRequest {
        name: old.name.clone(),
        report: Some(apb::verify_publication_request::Report::Content(c)),
    };
    let v =
        f.ev.verify_publication(authed(&f.op, check(content.clone())))
            .await
            .unwrap()
            .into_inner();
    assert!(v.valid);
    assert_eq!(v.computed_digest, seal.digest);
    content.questions[0].points = "15.00".into();
    let v =
        f.ev.verify_publication(authed(&f.op, check(content)))
            .await
            .unwrap()
            .into_inner();
    assert!(!v.valid);

    // Self-assessment on the same framework, run by the municipality.
    let me =
        f.ev.create_evaluation(authed(
            &anna,
            apb::CreateEvaluationRequest {
                parent: "tenants/ostra".into(),
                evaluation: Some(apb::Evaluation {
                    title: "Självskattning 2026".into(),
                    kind: apb::EvaluationKind::SelfAssessment as i32,
                    framework_version: FW.into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let saved = std::mem::replace(&mut f.name, me.name.clone());
    let saved_eva = std::mem::replace(&mut f.eva, anna.clone());
    f.to(&anna, State::Fieldwork).await.unwrap();
    f.to(&anna, State::Scoring).await.unwrap();
    // Evaluators do not score a self-assessment; members do.
    assert_eq!(
        f.score(&saved_eva, "1.1", "5", "")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    f.score(&maja, "1.1", "9", "").await.unwrap();
    f.to(&anna, State::Consensus).await.unwrap();
    f.agree("1.1", "10.50").await.unwrap();
    f.agree("1.2", "20").await.unwrap();
    let cmp =
        f.sc.compare_self_assessment(authed(
            &anna,
            apb::CompareSelfAssessmentRequest {
                self_assessment: me.name.clone(),
                external_evaluation: old.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cmp.questions[0].id, "1.1");
    assert_eq!(cmp.questions[0].self_points, "10.50");
    assert_eq!(cmp.questions[0].external_points, "9.00");
    assert_eq!(cmp.questions[0].difference, "-1.50");
    assert_eq!(cmp.questions[1].difference, "-8.00");
    assert_eq!(cmp.questions[2].self_points, "");
    assert_eq!(
        cmp.areas[0].self_points, "",
        "area 1 incomplete on the self side"
    );
    assert_eq!(cmp.areas[0].external_points, "60.00");
    f.name = saved;
    f.eva = saved_eva;

    // Next cycle from the imported evaluation: scores start empty, the
    // previous agreed points show beside them.
    let next =
        f.ev.create_evaluation(authed(
            &anna,
            apb::CreateEvaluationRequest {
                parent: "tenants/ostra".into(),
                evaluation: Some(apb::Evaluation {
                    title: "Kommunkompassen 2027".into(),
                    kind: apb::EvaluationKind::External as i32,
                    framework_version: FW.into(),
                    previous_evaluation: old.name.clone(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.previous_evaluation, old.name);
    f.ev.create_assignment(authed(
        &f.op.clone(),
        apb::CreateAssignmentRequest {
            parent: next.name.clone(),
            assignment: Some(apb::Assignment {
                user: "users/eva".into(),
                role: apb::EvaluatorRole::Lead as i32,
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap();
    let s =
        f.sc.get_score(authed(
            &f.eva.clone(),
            apb::GetScoreRequest {
                name: format!("{}/scores/1.4", next.name),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (s.points.as_str(), s.previous_agreed_points.as_str()),
        ("", "18.00")
    );
    // A next cycle on another framework version is refused.
    let err =
        f.ev.create_evaluation(authed(
            &anna,
            apb::CreateEvaluationRequest {
                parent: "tenants/ostra".into(),
                evaluation: Some(apb::Evaluation {
                    title: "Fel".into(),
                    kind: apb::EvaluationKind::External as i32,
                    framework_version: "frameworks/kommunkompassen/versions/2019".into(),
                    previous_evaluation: old.name.clone(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    f.env.cleanup().await;
}
