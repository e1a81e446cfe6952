//! Trustworthy results (issue 9, items 1, 2, 5, 6) through the real gRPC API:
//! who puts an external result on record and with what provenance; what the
//! evaluated municipality sees of the consensus before and after
//! publication, per audit subject and role; publication racing writers; and
//! seals that are checked, not trusted. PostgreSQL, and SQLite where the
//! behaviour rests on different mechanics.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kompass_config::ServiceKind;
use kompass_core::TenantId;
use kompass_proto::assessment::v1 as apb;
use kompass_proto::assessment::v1::evaluation_service_client::EvaluationServiceClient;
use kompass_proto::assessment::v1::evidence_service_client::EvidenceServiceClient;
use kompass_proto::assessment::v1::narrative_service_client::NarrativeServiceClient;
use kompass_proto::assessment::v1::scoring_service_client::ScoringServiceClient;
use kompass_proto::reporting::v1 as rpb;
use kompass_proto::reporting::v1::reporting_service_client::ReportingServiceClient;
use kompass_proto::tenancy::v1 as tpb;
use kompass_tests::{EmbeddedEnv, TestEnv, authed, user};
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tonic::Code;
use tonic::transport::Channel;

const FW: &str = "frameworks/kommunkompassen/versions/2015";
const SOURCE: &str =
    "Kommunkompassen 2017, Östra kommun, SKR, https://skr.se/kommunkompassen/ostra-2017.pdf";

fn mask(p: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: p.iter().map(|s| s.to_string()).collect(),
    })
}

/// (area, question, integer maximum) of the built-in framework.
fn questions() -> Vec<(String, String, u32)> {
    kompass_frameworks::Framework::builtin()
        .questions()
        .map(|(a, q)| {
            (
                a.id.clone(),
                q.id.clone(),
                q.max_points.to_string().parse().unwrap(),
            )
        })
        .collect()
}

fn csv(pct: u32) -> Vec<u8> {
    let mut s = String::from("question,points\n");
    for (_, q, max) in questions() {
        s.push_str(&format!(
            "{q},{}.{:02}\n",
            max * pct / 100,
            (max * pct) % 100
        ));
    }
    s.into_bytes()
}

fn sv<T>(token: &str, msg: T) -> tonic::Request<T> {
    let mut r = authed(token, msg);
    r.metadata_mut()
        .insert("accept-language", "sv".parse().unwrap());
    r
}

fn day(offset: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(offset))
        .format("%Y-%m-%d")
        .to_string()
}

async fn onboard_named(env: &TestEnv, id: &str, name: &str) {
    env.tenants()
        .await
        .create_tenant(authed(
            &env.token("operator", &["operator"]),
            tpb::CreateTenantRequest {
                tenant_id: id.into(),
                tenant: Some(tpb::Tenant {
                    display_name: name.into(),
                    country: tpb::Country::Se as i32,
                    municipality_code: "1256".into(),
                    population: 14_000,
                    named_in_comparisons: true,
                    ..Default::default()
                }),
                database_server: String::new(),
            },
        ))
        .await
        .unwrap();
}

fn import_req(kind: apb::EvaluationKind, date: &str, source: &str) -> apb::ImportEvaluationRequest {
    apb::ImportEvaluationRequest {
        parent: "tenants/ostra".into(),
        title: format!("Kommunkompassen {}", &date[..4]),
        kind: kind as i32,
        framework_version: FW.into(),
        evaluation_date: date.into(),
        evaluator_names: vec!["Karin Lund".into()],
        csv: csv(80),
        source: source.into(),
        ..Default::default()
    }
}

/// Polls the read model until the stored event of `name` is there.
async fn stored_event(db: &DatabaseConnection, name: &str) -> apb::EvaluationPublishedEvent {
    let start = Instant::now();
    loop {
        if let Some(ev) = kompass_reporting::store::event(db, name).await.unwrap() {
            return ev;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{name} never reached the read model"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_report(rep: &mut ReportingServiceClient<Channel>, tok: &str, name: &str) {
    let start = Instant::now();
    loop {
        match rep
            .get_evaluation_report(authed(
                tok,
                rpb::GetEvaluationReportRequest {
                    name: name.into(),
                    language: "sv".into(),
                },
            ))
            .await
        {
            Ok(_) => return,
            Err(e) if e.code() == Code::NotFound && start.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("{name} never reached the read model: {e}"),
        }
    }
}

async fn etag(ev: &mut EvaluationServiceClient<Channel>, tok: &str, name: &str) -> String {
    ev.get_evaluation(authed(tok, apb::GetEvaluationRequest { name: name.into() }))
        .await
        .unwrap()
        .into_inner()
        .etag
}

async fn transition(
    ev: &mut EvaluationServiceClient<Channel>,
    tok: &str,
    name: &str,
    to: apb::evaluation::State,
    reason: &str,
) {
    let etag = etag(ev, tok, name).await;
    ev.transition_evaluation(authed(
        tok,
        apb::TransitionEvaluationRequest {
            name: name.into(),
            to_state: to as i32,
            etag,
            reason: reason.into(),
        },
    ))
    .await
    .unwrap();
}

async fn assign(
    ev: &mut EvaluationServiceClient<Channel>,
    op: &str,
    name: &str,
    user: &str,
    role: apb::EvaluatorRole,
) {
    ev.create_assignment(authed(
        op,
        apb::CreateAssignmentRequest {
            parent: name.into(),
            assignment: Some(apb::Assignment {
                user: format!("users/{user}"),
                role: role as i32,
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap();
}

async fn create(
    ev: &mut EvaluationServiceClient<Channel>,
    tok: &str,
    kind: apb::EvaluationKind,
    previous: &str,
) -> String {
    ev.create_evaluation(authed(
        tok,
        apb::CreateEvaluationRequest {
            parent: "tenants/ostra".into(),
            evaluation: Some(apb::Evaluation {
                title: "Kommunkompassen 2026".into(),
                kind: kind as i32,
                framework_version: FW.into(),
                evaluation_date: "2026-10-01".into(),
                previous_evaluation: previous.into(),
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap()
    .into_inner()
    .name
}

async fn agree(
    sc: &mut ScoringServiceClient<Channel>,
    tok: &str,
    name: &str,
    q: &str,
    points: &str,
    comment: &str,
) -> Result<apb::AgreedScore, tonic::Status> {
    let cur = sc
        .get_agreed_score(authed(
            tok,
            apb::GetAgreedScoreRequest {
                name: format!("{name}/agreedScores/{q}"),
            },
        ))
        .await?
        .into_inner();
    sc.update_agreed_score(authed(
        tok,
        apb::UpdateAgreedScoreRequest {
            agreed_score: Some(apb::AgreedScore {
                name: cur.name,
                points: points.into(),
                comment: comment.into(),
                etag: cur.etag,
                ..Default::default()
            }),
            update_mask: mask(&["points", "comment"]),
        },
    ))
    .await
    .map(|r| r.into_inner())
}

// ---------------------------------------------------------------- item 1

#[tokio::test]
async fn only_operators_put_external_results_on_record_with_their_source() {
    let env = TestEnv::start().await;
    onboard_named(&env, "ostra", "Östra kommun").await;
    env.member("anna", "ostra", tpb::TenantRole::TenantAdmin)
        .await;
    env.member("maja", "ostra", tpb::TenantRole::Member).await;
    user(&env, "eva", &[tpb::PlatformRole::Evaluator]).await;
    user(&env, "olof", &[tpb::PlatformRole::Operator]).await;
    let (anna, maja) = (env.token("anna", &[]), env.token("maja", &[]));
    let eva = env.token("eva", &["evaluator"]);
    let olof = env.token("olof", &["operator"]);
    let mut ev = env.evaluations().await;
    use apb::EvaluationKind::{External, SelfAssessment, Unspecified};

    // The municipality does not put an external result on record, also not
    // by leaving the kind out; the refusal says who can, in both languages.
    for kind in [External, Unspecified] {
        let err = ev
            .import_evaluation(authed(&anna, import_req(kind, "2017-05-10", SOURCE)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        assert!(
            err.message()
                .contains("only platform operators import external evaluations"),
            "{}",
            err.message()
        );
    }
    let err = ev
        .import_evaluation(sv(&anna, import_req(External, "2017-05-10", SOURCE)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        err.message()
            .contains("endast plattformens operatörer importerar externa utvärderingar"),
        "{}",
        err.message()
    );
    for kind in [External, SelfAssessment] {
        let err = ev
            .import_evaluation(authed(&maja, import_req(kind, "2017-05-10", SOURCE)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
    }
    // Dates in the future and a missing source: INVALID_ARGUMENT, also for
    // the operator; nothing stored.
    for date in ["2099-01-01".to_string(), day(2)] {
        let err = ev
            .import_evaluation(authed(&olof, import_req(External, &date, SOURCE)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{date}");
        assert!(err.message().contains("future"), "{}", err.message());
    }
    let err = ev
        .import_evaluation(sv(&olof, import_req(External, "2099-01-01", SOURCE)))
        .await
        .unwrap_err();
    assert!(err.message().contains("framtiden"), "{}", err.message());
    let err = ev
        .import_evaluation(authed(&olof, import_req(External, "2017-05-10", "  ")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("source"), "{}", err.message());
    let listed = ev
        .list_evaluations(authed(
            &olof,
            apb::ListEvaluationsRequest {
                parent: "tenants/ostra".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.evaluations.is_empty());

    // The operator: recorded with who, in which role, when and from where.
    let before = chrono::Utc::now().timestamp() - 1;
    let e = ev
        .import_evaluation(authed(&olof, import_req(External, "2017-05-10", SOURCE)))
        .await
        .unwrap()
        .into_inner();
    let after = chrono::Utc::now().timestamp() + 1;
    let rec = e.import_record.clone().expect("import record");
    assert_eq!(rec.imported_by, "users/olof");
    assert_eq!(rec.imported_by_display_name, "olof (test)");
    assert_eq!(rec.role, apb::import_record::Role::Operator as i32);
    assert_eq!(rec.source, SOURCE);
    let t = rec.import_time.unwrap().seconds;
    assert!((before..=after).contains(&t), "{t}");
    assert_eq!(e.seal.as_ref().unwrap().canonicalization, kompass_seal::V2);
    // The municipality sees the record too.
    let seen = ev
        .get_evaluation(authed(
            &anna,
            apb::GetEvaluationRequest {
                name: e.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.import_record, Some(rec.clone()));
    // A tenant admin imports a self-assessment of their own, recorded as such.
    let s = ev
        .import_evaluation(authed(
            &anna,
            import_req(
                SelfAssessment,
                "2019-03-01",
                "Självskattning 2019, kommunens arbetsbok",
            ),
        ))
        .await
        .unwrap()
        .into_inner();
    let srec = s.import_record.unwrap();
    assert_eq!(
        (srec.imported_by.as_str(), srec.role),
        ("users/anna", apb::import_record::Role::TenantAdmin as i32)
    );

    // The seal covers the record: the published content carries it and
    // verifies; a changed source does not.
    let db = env.platform.reporting().db.clone();
    let event = stored_event(&db, &e.name).await;
    let mut content = event.content.clone().unwrap();
    assert_eq!(content.import_record, Some(rec.clone()));
    let verify = |c: apb::PublishedContent| apb::VerifyPublicationRequest {
        name: e.name.clone(),
        report: Some(apb::verify_publication_request::Report::Content(c)),
    };
    let v = ev
        .verify_publication(tonic::Request::new(verify(content.clone())))
        .await
        .unwrap()
        .into_inner();
    assert!(v.valid && v.stored_content_intact);
    content.import_record.as_mut().unwrap().source = "Någon annan rapport".into();
    let v = ev
        .verify_publication(tonic::Request::new(verify(content)))
        .await
        .unwrap()
        .into_inner();
    assert!(!v.valid);

    // The report and the open data show it.
    let mut rep = env.reporting().await;
    wait_for_report(&mut rep, &olof, &e.name).await;
    let r = rep
        .get_evaluation_report(authed(
            &anna,
            rpb::GetEvaluationReportRequest {
                name: e.name.clone(),
                language: "sv".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(r.imported);
    let ri = r.import_record.expect("report import record");
    assert_eq!(
        (
            ri.imported_by.as_str(),
            ri.role.as_str(),
            ri.source.as_str()
        ),
        ("olof (test)", "operator", SOURCE)
    );
    assert_eq!(ri.import_time.unwrap().seconds, t);
    let json = rep
        .export_open_data(rpb::ExportOpenDataRequest {
            format: rpb::ExportFormat::Json as i32,
            framework_version: FW.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let items: serde_json::Value = serde_json::from_slice(&json.content).unwrap();
    let item = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["evaluation"] == e.name.as_str())
        .expect("the imported result in the open data");
    assert_eq!(item["import_record"]["source"], SOURCE);
    assert_eq!(item["import_record"]["role"], "operator");
    assert_eq!(item["import_record"]["imported_by"], "olof (test)");
    let csv_out = rep
        .export_open_data(rpb::ExportOpenDataRequest {
            format: rpb::ExportFormat::Csv as i32,
            framework_version: FW.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let text = String::from_utf8(csv_out.content).unwrap();
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with(",imported_by,import_role,import_time,import_source"),
        "{text}"
    );
    let row = text.lines().find(|l| l.contains(&e.name)).unwrap();
    assert!(
        row.contains("olof (test),operator,") && row.contains(SOURCE),
        "{row}"
    );

    // Title and date of an external evaluation: the lead evaluator and the
    // operator change them before publication, the municipality does not;
    // no date in the future.
    let err = ev
        .create_evaluation(authed(
            &anna,
            apb::CreateEvaluationRequest {
                parent: "tenants/ostra".into(),
                evaluation: Some(apb::Evaluation {
                    title: "Framtid".into(),
                    kind: External as i32,
                    evaluation_date: "2099-01-01".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let x = create(&mut ev, &anna, External, "").await;
    assign(&mut ev, &olof, &x, "eva", apb::EvaluatorRole::Lead).await;
    let update =
        |etag: String, title: &str, date: &str, paths: &[&str]| apb::UpdateEvaluationRequest {
            evaluation: Some(apb::Evaluation {
                name: x.clone(),
                title: title.into(),
                evaluation_date: date.into(),
                etag,
                ..Default::default()
            }),
            update_mask: mask(paths),
        };
    for paths in [&["title"][..], &["evaluation_date"][..]] {
        let tag = etag(&mut ev, &olof, &x).await;
        let err = ev
            .update_evaluation(authed(&anna, update(tag, "Vår titel", "2026-01-01", paths)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{paths:?}");
        assert!(
            err.message()
                .contains("only the lead evaluator or an operator"),
            "{}",
            err.message()
        );
    }
    let tag = etag(&mut ev, &olof, &x).await;
    let got = ev
        .update_evaluation(authed(
            &eva,
            update(tag, "Kommunkompassen 2026 (SKR)", "", &["title"]),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.title, "Kommunkompassen 2026 (SKR)");
    let got = ev
        .update_evaluation(authed(
            &olof,
            update(got.etag, "", "2026-11-02", &["evaluation_date"]),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.evaluation_date, "2026-11-02");
    let err = ev
        .update_evaluation(authed(
            &eva,
            update(got.etag, "", "2099-01-01", &["evaluation_date"]),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    // Published (the import): nobody changes it.
    let err = ev
        .update_evaluation(authed(
            &olof,
            apb::UpdateEvaluationRequest {
                evaluation: Some(apb::Evaluation {
                    name: e.name.clone(),
                    title: "Annan".into(),
                    etag: e.etag.clone(),
                    ..Default::default()
                }),
                update_mask: mask(&["title"]),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    // A self-assessment stays the municipality's to edit.
    let sa = create(&mut ev, &anna, SelfAssessment, "").await;
    let tag = etag(&mut ev, &anna, &sa).await;
    ev.update_evaluation(authed(
        &anna,
        apb::UpdateEvaluationRequest {
            evaluation: Some(apb::Evaluation {
                name: sa.clone(),
                title: "Självskattning 2026".into(),
                etag: tag,
                ..Default::default()
            }),
            update_mask: mask(&["title"]),
        },
    ))
    .await
    .unwrap();
    env.cleanup().await;
}

// ---------------------------------------------------------------- item 2

const SECRET_COMMENT: &str = "HEMLIG-INDIVIDUELL-KOMMENTAR";
const AGREED_COMMENT: &str = "ÖVERENSKOMMEN-MOTIVERING";
const STATE_REASON: &str = "Spridningen på 1.1 är stor: omprövas i konsensus";

fn all_subjects() -> [apb::audit_event::Subject; 8] {
    use apb::audit_event::Subject as S;
    [
        S::Score,
        S::AgreedScore,
        S::Narrative,
        S::ImprovementOpportunity,
        S::Assignment,
        S::State,
        S::Evidence,
        S::InformationRequest,
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    TenantAdmin,
    Member,
    Lead,
    Peer,
    Unassigned,
    Operator,
    Analyst,
}

/// What `who` may read of the audit trail of an external evaluation: `None`
/// = the trail is refused; else whether each subject is readable.
fn trail_rule(who: Who, subject: apb::audit_event::Subject, published: bool) -> Option<bool> {
    use apb::audit_event::Subject as S;
    match who {
        Who::Member | Who::Unassigned | Who::Analyst => None,
        Who::Lead | Who::Peer | Who::Operator => Some(true),
        Who::TenantAdmin => Some(match subject {
            S::Score => false,
            S::AgreedScore => published,
            _ => true,
        }),
    }
}

struct Trail {
    ev: EvaluationServiceClient<Channel>,
    sc: ScoringServiceClient<Channel>,
    who: Vec<(Who, String)>,
    name: String,
}

impl Trail {
    async fn list(
        &mut self,
        tok: &str,
        subject: apb::audit_event::Subject,
        target: &str,
    ) -> Result<Vec<apb::AuditEvent>, tonic::Status> {
        self.ev
            .list_audit_events(authed(
                tok,
                apb::ListAuditEventsRequest {
                    parent: self.name.clone(),
                    subject: subject as i32,
                    target: target.into(),
                    page_size: 1000,
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().audit_events)
    }

    /// Every subject for every role, and nothing confidential in what the
    /// municipality reads.
    async fn check(&mut self, published: bool) {
        for (who, tok) in self.who.clone() {
            for subject in all_subjects() {
                let got = self.list(&tok, subject, "").await;
                match trail_rule(who, subject, published) {
                    None => assert_eq!(
                        got.unwrap_err().code(),
                        Code::PermissionDenied,
                        "{who:?} {subject:?}"
                    ),
                    Some(readable) => {
                        let events = got.unwrap();
                        assert_eq!(
                            !events.is_empty(),
                            readable,
                            "{who:?} {subject:?} published={published}: {events:?}"
                        );
                        assert!(events.iter().all(|e| e.subject == subject as i32));
                    }
                }
            }
            if trail_rule(who, apb::audit_event::Subject::Unspecified, published).is_none() {
                continue;
            }
            let all = self
                .list(&tok, apb::audit_event::Subject::Unspecified, "")
                .await
                .unwrap();
            let text = format!("{all:?}");
            let team = who != Who::TenantAdmin;
            // Individual scores and their comments: the team only, always.
            assert_eq!(text.contains(SECRET_COMMENT), team, "{who:?}");
            assert_eq!(text.contains("12.34"), team, "{who:?}");
            // Agreed scores and the lead's reasons: the team, and the
            // municipality once published.
            assert_eq!(text.contains(AGREED_COMMENT), team || published, "{who:?}");
            assert_eq!(text.contains(STATE_REASON), team || published, "{who:?}");
            let by_target = self
                .list(
                    &tok,
                    apb::audit_event::Subject::Unspecified,
                    &format!("{}/scores/1.1", self.name),
                )
                .await
                .unwrap();
            assert_eq!(by_target.is_empty(), !team, "{who:?}");
        }
    }

    /// The consensus through the scoring RPCs.
    async fn consensus(&mut self, published: bool) {
        for (who, tok) in self.who.clone() {
            let list = self
                .sc
                .list_agreed_scores(authed(
                    &tok,
                    apb::ListAgreedScoresRequest {
                        parent: self.name.clone(),
                        page_size: 100,
                        ..Default::default()
                    },
                ))
                .await;
            let one = self
                .sc
                .get_agreed_score(authed(
                    &tok,
                    apb::GetAgreedScoreRequest {
                        name: format!("{}/agreedScores/1.1", self.name),
                    },
                ))
                .await;
            let totals = self
                .sc
                .get_totals(authed(
                    &tok,
                    apb::GetTotalsRequest {
                        name: self.name.clone(),
                        own_scores: false,
                    },
                ))
                .await;
            match who {
                Who::Unassigned | Who::Analyst => {
                    for code in [
                        list.unwrap_err().code(),
                        one.unwrap_err().code(),
                        totals.unwrap_err().code(),
                    ] {
                        assert_eq!(code, Code::PermissionDenied, "{who:?}");
                    }
                }
                Who::TenantAdmin | Who::Member if !published => {
                    for code in [
                        list.unwrap_err().code(),
                        one.unwrap_err().code(),
                        totals.unwrap_err().code(),
                    ] {
                        assert_eq!(code, Code::PermissionDenied, "{who:?}");
                    }
                    // Own totals and own scores: nothing of anyone else.
                    let own = self
                        .sc
                        .get_totals(authed(
                            &tok,
                            apb::GetTotalsRequest {
                                name: self.name.clone(),
                                own_scores: true,
                            },
                        ))
                        .await
                        .unwrap()
                        .into_inner();
                    assert_eq!(own.total.unwrap().points, "0.00");
                    let scores = self
                        .sc
                        .list_scores(authed(
                            &tok,
                            apb::ListScoresRequest {
                                parent: self.name.clone(),
                                page_size: 100,
                                ..Default::default()
                            },
                        ))
                        .await
                        .unwrap()
                        .into_inner();
                    assert!(scores.scores.iter().all(|s| s.points.is_empty()));
                }
                Who::TenantAdmin | Who::Member => {
                    // Published: agreed points and comments, never the
                    // individual scores or their spread.
                    let list = list.unwrap().into_inner().agreed_scores;
                    assert_eq!(list.len(), 45);
                    let a = one.unwrap().into_inner();
                    assert_eq!(a, list[0]);
                    assert_eq!(
                        (a.points.as_str(), a.comment.as_str()),
                        ("10.11", AGREED_COMMENT)
                    );
                    assert!(list.iter().all(|a| a.individual_scores.is_empty()
                        && a.lowest_points.is_empty()
                        && a.highest_points.is_empty()));
                    assert!(!format!("{list:?}").contains(SECRET_COMMENT));
                    assert!(totals.is_ok());
                }
                Who::Lead | Who::Peer | Who::Operator => {
                    let a = one.unwrap().into_inner();
                    assert_eq!(a.individual_scores.len(), 2, "{who:?}");
                    assert_eq!(
                        (a.lowest_points.as_str(), a.highest_points.as_str()),
                        ("7.89", "12.34")
                    );
                    assert!(format!("{a:?}").contains(SECRET_COMMENT));
                    assert_eq!(list.unwrap().into_inner().agreed_scores.len(), 45);
                    assert!(totals.is_ok());
                }
            }
        }
    }
}

#[tokio::test]
async fn the_municipality_sees_no_consensus_before_publication_by_any_rpc() {
    use apb::evaluation::State;
    let env = TestEnv::start().await;
    env.onboard("ostra").await;
    env.member("anna", "ostra", tpb::TenantRole::TenantAdmin)
        .await;
    env.member("maja", "ostra", tpb::TenantRole::Member).await;
    for u in ["eva", "per", "olle"] {
        user(&env, u, &[tpb::PlatformRole::Evaluator]).await;
    }
    user(&env, "ana", &[tpb::PlatformRole::Analyst]).await;
    user(&env, "olof", &[tpb::PlatformRole::Operator]).await;
    let anna = env.token("anna", &[]);
    let maja = env.token("maja", &[]);
    let eva = env.token("eva", &["evaluator"]);
    let per = env.token("per", &["evaluator"]);
    let op = env.token("olof", &["operator"]);
    let ch = env.channel(ServiceKind::Assessment).await;
    let mut ev = EvaluationServiceClient::new(ch.clone());
    let mut sc = ScoringServiceClient::new(ch.clone());
    let mut ec = EvidenceServiceClient::new(ch.clone());
    let mut nc = NarrativeServiceClient::new(ch.clone());

    // An external evaluation with events of every subject.
    let name = create(&mut ev, &anna, apb::EvaluationKind::External, "").await;
    assign(&mut ev, &op, &name, "eva", apb::EvaluatorRole::Lead).await;
    assign(&mut ev, &op, &name, "per", apb::EvaluatorRole::Peer).await;
    transition(&mut ev, &eva, &name, State::Fieldwork, "Platsbesök bokat").await;
    ec.create_evidence(authed(
        &eva,
        apb::CreateEvidenceRequest {
            parent: name.clone(),
            evidence: Some(apb::Evidence {
                source: Some(apb::evidence::Source::Interview(apb::Interview {
                    group: "förvaltningschefer".into(),
                    participant_roles: vec!["socialchef".into()],
                })),
                date: "2026-09-01".into(),
                questions: vec!["1.1".into()],
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap();
    ec.create_evidence(authed(
        &anna,
        apb::CreateEvidenceRequest {
            parent: name.clone(),
            evidence: Some(apb::Evidence {
                source: Some(apb::evidence::Source::Document(apb::Document {
                    title: "Delegationsordning".into(),
                    reference: "KS 2025/112".into(),
                    ..Default::default()
                })),
                date: "2026-08-01".into(),
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap();
    let req = ec
        .create_information_request(authed(
            &eva,
            apb::CreateInformationRequestRequest {
                parent: name.clone(),
                information_request: Some(apb::InformationRequest {
                    kind: apb::information_request::Kind::Answer as i32,
                    description: "Hur följs målen upp?".into(),
                    due_date: day(10),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    ec.answer_information_request(authed(
        &anna,
        apb::AnswerInformationRequestRequest {
            name: req.name.clone(),
            text: "Kvartalsvis i nämnderna.".into(),
            documents: vec![],
            etag: req.etag.clone(),
        },
    ))
    .await
    .unwrap();
    nc.update_narrative(authed(
        &eva,
        apb::UpdateNarrativeRequest {
            narrative: Some(apb::Narrative {
                name: format!("{name}/areas/1/narrative"),
                general_text: "Utkast: tydlig styrning.".into(),
                ..Default::default()
            }),
            update_mask: mask(&["general_text"]),
        },
    ))
    .await
    .unwrap();
    nc.create_improvement_opportunity(authed(
        &eva,
        apb::CreateImprovementOpportunityRequest {
            parent: name.clone(),
            improvement_opportunity: Some(apb::ImprovementOpportunity {
                area: "1".into(),
                text: "Anta en demokratiplan.".into(),
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap();
    transition(&mut ev, &eva, &name, State::Scoring, "").await;
    for (tok, first, who) in [(&eva, "12.34", "eva"), (&per, "7.89", "per")] {
        for (_, q, max) in questions() {
            let points = if q == "1.1" {
                first.to_string()
            } else {
                format!("{}", max / 2)
            };
            sc.update_score(authed(
                tok,
                apb::UpdateScoreRequest {
                    score: Some(apb::Score {
                        name: format!("{name}/scores/{q}"),
                        points,
                        comment: format!("{SECRET_COMMENT} {who} {q}"),
                        ..Default::default()
                    }),
                    update_mask: mask(&["points", "comment"]),
                },
            ))
            .await
            .unwrap();
        }
    }
    transition(&mut ev, &eva, &name, State::Consensus, STATE_REASON).await;
    for (_, q, max) in questions() {
        let (p, c) = if q == "1.1" {
            ("10.11".to_string(), AGREED_COMMENT)
        } else {
            (format!("{}", max / 2), "")
        };
        agree(&mut sc, &eva, &name, &q, &p, c).await.unwrap();
    }

    // A self-assessment the municipality starts from it (a next cycle), and
    // one to compare: neither may show the unpublished consensus.
    let next = create(&mut ev, &anna, apb::EvaluationKind::SelfAssessment, &name).await;
    let previous_points = |sc: ScoringServiceClient<Channel>, tok: String| {
        let next = next.clone();
        async move {
            let mut sc = sc;
            sc.get_score(authed(
                &tok,
                apb::GetScoreRequest {
                    name: format!("{next}/scores/1.1"),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .previous_agreed_points
        }
    };
    for tok in [&anna, &maja] {
        assert_eq!(previous_points(sc.clone(), tok.clone()).await, "");
        let err = sc
            .compare_self_assessment(authed(
                tok,
                apb::CompareSelfAssessmentRequest {
                    self_assessment: next.clone(),
                    external_evaluation: name.clone(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
    }
    assert_eq!(previous_points(sc.clone(), op.clone()).await, "10.11");
    // Its narratives show the previous texts: the municipality reads those anyway.
    let n = nc
        .get_narrative(authed(
            &anna,
            apb::GetNarrativeRequest {
                name: format!("{next}/areas/1/narrative"),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(n.previous.unwrap().general_text, "Utkast: tydlig styrning.");

    let mut trail = Trail {
        ev: ev.clone(),
        sc: sc.clone(),
        who: vec![
            (Who::TenantAdmin, anna.clone()),
            (Who::Member, maja.clone()),
            (Who::Lead, eva.clone()),
            (Who::Peer, per.clone()),
            (Who::Unassigned, env.token("olle", &["evaluator"])),
            (Who::Operator, op.clone()),
            (Who::Analyst, env.token("ana", &["analyst"])),
        ],
        name: name.clone(),
    };
    trail.check(false).await;
    trail.consensus(false).await;

    let tag = etag(&mut ev, &eva, &name).await;
    ev.publish_evaluation(authed(
        &eva,
        apb::PublishEvaluationRequest {
            name: name.clone(),
            etag: tag,
        },
    ))
    .await
    .unwrap();
    trail.check(true).await;
    trail.consensus(true).await;
    assert_eq!(previous_points(sc.clone(), anna.clone()).await, "10.11");

    // Archived after publication stays published; an evaluation archived
    // without publication publishes nothing.
    transition(&mut ev, &op, &name, State::Archived, "").await;
    trail.check(true).await;
    let draft = create(&mut ev, &anna, apb::EvaluationKind::External, "").await;
    assign(&mut ev, &op, &draft, "eva", apb::EvaluatorRole::Lead).await;
    transition(&mut ev, &eva, &draft, State::Fieldwork, "").await;
    transition(&mut ev, &eva, &draft, State::Scoring, "").await;
    transition(&mut ev, &eva, &draft, State::Consensus, "").await;
    agree(&mut sc, &eva, &draft, "1.1", "3", AGREED_COMMENT)
        .await
        .unwrap();
    transition(&mut ev, &eva, &draft, State::Archived, "avbruten").await;
    let err = sc
        .list_agreed_scores(authed(
            &anna,
            apb::ListAgreedScoresRequest {
                parent: draft.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    trail.name = draft.clone();
    let seen = trail
        .list(&anna, apb::audit_event::Subject::AgreedScore, "")
        .await
        .unwrap();
    assert!(seen.is_empty());

    // On a self-assessment the municipality is the team: its admin reads
    // the individual scores' trail.
    transition(&mut ev, &anna, &next, State::Scoring, "").await;
    sc.update_score(authed(
        &maja,
        apb::UpdateScoreRequest {
            score: Some(apb::Score {
                name: format!("{next}/scores/1.1"),
                points: "9".into(),
                ..Default::default()
            }),
            update_mask: mask(&["points"]),
        },
    ))
    .await
    .unwrap();
    trail.name = next.clone();
    let seen = trail
        .list(&anna, apb::audit_event::Subject::Score, "")
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    env.cleanup().await;
}

// ---------------------------------------------------------------- item 5

/// An external evaluation in CONSENSUS with every question agreed, lead eva
/// and peer per.
async fn in_consensus(ch: &Channel, anna: &str, op: &str, eva: &str) -> String {
    use apb::evaluation::State;
    let mut ev = EvaluationServiceClient::new(ch.clone());
    let mut sc = ScoringServiceClient::new(ch.clone());
    let name = create(&mut ev, anna, apb::EvaluationKind::External, "").await;
    assign(&mut ev, op, &name, "eva", apb::EvaluatorRole::Lead).await;
    assign(&mut ev, op, &name, "per", apb::EvaluatorRole::Peer).await;
    for s in [State::Fieldwork, State::Scoring, State::Consensus] {
        transition(&mut ev, eva, &name, s, "").await;
    }
    for (_, q, _) in questions() {
        agree(&mut sc, eva, &name, &q, "1", "").await.unwrap();
    }
    name
}

/// A refusal because the evaluation is published, or a panic.
fn published_refusal(e: tonic::Status) {
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("PUBLISHED"), "{}", e.message());
}

/// Writers of agreed scores, narratives, evidence and opportunities run
/// flat out while the lead publishes; each stops at its first refusal.
/// Afterwards what was sealed equals what is stored, every acknowledged
/// write is in it, and nothing was written after PUBLISHED.
async fn race(
    ch: &Channel,
    eva: &str,
    per: &str,
    op: &str,
    read_model: &DatabaseConnection,
    name: &str,
    delay_ms: u64,
) {
    let qs: Vec<String> = questions().into_iter().map(|(_, q, _)| q).take(5).collect();
    // Each writer reports its first acknowledged write; publication starts
    // `delay_ms` after all four are writing.
    let (started, mut running) = tokio::sync::mpsc::unbounded_channel::<u8>();
    // Agreed scores (lead): the last acknowledged value per question.
    let agreed = {
        let started = started.clone();
        let (ch, eva, name, qs) = (ch.clone(), eva.to_string(), name.to_string(), qs.clone());
        tokio::spawn(async move {
            let mut sc = ScoringServiceClient::new(ch);
            let mut last: BTreeMap<String, String> = BTreeMap::new();
            let mut etags: BTreeMap<String, String> = BTreeMap::new();
            for q in &qs {
                let a = sc
                    .get_agreed_score(authed(
                        &eva,
                        apb::GetAgreedScoreRequest {
                            name: format!("{name}/agreedScores/{q}"),
                        },
                    ))
                    .await
                    .unwrap()
                    .into_inner();
                etags.insert(q.clone(), a.etag);
            }
            for i in 0.. {
                let q = &qs[i % qs.len()];
                let points = format!("{}.{:02}", 2 + (i / qs.len()) % 8, i % 100);
                match sc
                    .update_agreed_score(authed(
                        &eva,
                        apb::UpdateAgreedScoreRequest {
                            agreed_score: Some(apb::AgreedScore {
                                name: format!("{name}/agreedScores/{q}"),
                                points: points.clone(),
                                etag: etags[q].clone(),
                                ..Default::default()
                            }),
                            update_mask: mask(&["points"]),
                        },
                    ))
                    .await
                {
                    Ok(a) => {
                        etags.insert(q.clone(), a.into_inner().etag);
                        last.insert(q.clone(), points);
                        let _ = started.send(0);
                    }
                    Err(e) => {
                        published_refusal(e);
                        break;
                    }
                }
            }
            last
        })
    };
    // Narrative of area 2 (peer): the last acknowledged text.
    let narrative = {
        let started = started.clone();
        let (ch, per, name) = (ch.clone(), per.to_string(), name.to_string());
        tokio::spawn(async move {
            let mut nc = NarrativeServiceClient::new(ch);
            let mut etag = String::new();
            let mut last = String::new();
            for i in 0.. {
                let text = format!("Område 2, version {i}.");
                match nc
                    .update_narrative(authed(
                        &per,
                        apb::UpdateNarrativeRequest {
                            narrative: Some(apb::Narrative {
                                name: format!("{name}/areas/2/narrative"),
                                general_text: text.clone(),
                                etag: etag.clone(),
                                ..Default::default()
                            }),
                            update_mask: mask(&["general_text"]),
                        },
                    ))
                    .await
                {
                    Ok(n) => {
                        etag = n.into_inner().etag;
                        last = text;
                        let _ = started.send(1);
                    }
                    Err(e) => {
                        published_refusal(e);
                        break;
                    }
                }
            }
            last
        })
    };
    // Interviews (peer): how many were acknowledged.
    let interviews = {
        let started = started.clone();
        let (ch, per, name) = (ch.clone(), per.to_string(), name.to_string());
        tokio::spawn(async move {
            let mut ec = EvidenceServiceClient::new(ch);
            let mut n = 0;
            loop {
                match ec
                    .create_evidence(authed(
                        &per,
                        apb::CreateEvidenceRequest {
                            parent: name.clone(),
                            evidence: Some(apb::Evidence {
                                source: Some(apb::evidence::Source::Interview(apb::Interview {
                                    group: format!("grupp {n}"),
                                    participant_roles: vec![],
                                })),
                                date: "2026-09-01".into(),
                                ..Default::default()
                            }),
                        },
                    ))
                    .await
                {
                    Ok(_) => {
                        n += 1;
                        let _ = started.send(2);
                    }
                    Err(e) => {
                        published_refusal(e);
                        break;
                    }
                }
            }
            n
        })
    };
    // Improvement opportunities of area 3 (lead): the acknowledged texts.
    let opportunities = {
        let started = started.clone();
        let (ch, eva, name) = (ch.clone(), eva.to_string(), name.to_string());
        tokio::spawn(async move {
            let mut nc = NarrativeServiceClient::new(ch);
            let mut texts = vec![];
            for i in 0.. {
                let text = format!("Förbättring {i}");
                match nc
                    .create_improvement_opportunity(authed(
                        &eva,
                        apb::CreateImprovementOpportunityRequest {
                            parent: name.clone(),
                            improvement_opportunity: Some(apb::ImprovementOpportunity {
                                area: "3".into(),
                                text: text.clone(),
                                ..Default::default()
                            }),
                        },
                    ))
                    .await
                {
                    Ok(_) => {
                        texts.push(text);
                        let _ = started.send(3);
                    }
                    Err(e) => {
                        published_refusal(e);
                        break;
                    }
                }
            }
            texts
        })
    };
    drop(started);
    // Publication starts once each of the four has written at least once.
    let mut writing = std::collections::BTreeSet::new();
    while writing.len() < 4 {
        let k = tokio::time::timeout(Duration::from_secs(30), running.recv())
            .await
            .expect("every writer writes")
            .expect("no writer stops before publication");
        writing.insert(k);
    }
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    let mut ev = EvaluationServiceClient::new(ch.clone());
    let tag = etag(&mut ev, op, name).await;
    let published = ev
        .publish_evaluation(authed(
            eva,
            apb::PublishEvaluationRequest {
                name: name.into(),
                etag: tag,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    drop(running);
    let agreed = agreed.await.unwrap();
    let narrative = narrative.await.unwrap();
    let interviews = interviews.await.unwrap();
    let opportunities = opportunities.await.unwrap();

    // What was sealed: the published content, which verifies.
    let event = stored_event(read_model, name).await;
    assert_eq!(event.seal, published.seal);
    let content = event.content.unwrap();
    let v = ev
        .verify_publication(authed(
            op,
            apb::VerifyPublicationRequest {
                name: name.into(),
                report: Some(apb::verify_publication_request::Report::Content(
                    content.clone(),
                )),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(v.valid && v.stored_content_intact);

    // What is stored equals what was sealed, and holds every acknowledged write.
    let mut sc = ScoringServiceClient::new(ch.clone());
    let stored = sc
        .list_agreed_scores(authed(
            op,
            apb::ListAgreedScoresRequest {
                parent: name.into(),
                page_size: 100,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .agreed_scores;
    for (s, c) in stored.iter().zip(&content.questions) {
        assert_eq!(
            (s.question.as_str(), s.points.as_str()),
            (c.question.as_str(), c.points.as_str())
        );
    }
    for (q, p) in &agreed {
        let s = stored.iter().find(|s| &s.question == q).unwrap();
        assert_eq!(&s.points, p, "question {q}");
    }
    let mut nc = NarrativeServiceClient::new(ch.clone());
    let n2 = nc
        .get_narrative(authed(
            op,
            apb::GetNarrativeRequest {
                name: format!("{name}/areas/2/narrative"),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let sealed_area2 = content.areas.iter().find(|a| a.area == "2").unwrap();
    assert_eq!(n2.general_text, sealed_area2.general_text);
    assert_eq!(n2.general_text, narrative);
    let mut ec = EvidenceServiceClient::new(ch.clone());
    let evidence = ec
        .list_evidence(authed(
            op,
            apb::ListEvidenceRequest {
                parent: name.into(),
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .evidence;
    assert_eq!(evidence.len(), interviews);
    assert_eq!(content.interview_count as usize, interviews);
    let stored_opps: Vec<String> = nc
        .list_improvement_opportunities(authed(
            op,
            apb::ListImprovementOpportunitiesRequest {
                parent: name.into(),
                area: "3".into(),
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .improvement_opportunities
        .into_iter()
        .map(|o| o.text)
        .collect();
    let sealed_opps: Vec<String> = content
        .areas
        .iter()
        .find(|a| a.area == "3")
        .unwrap()
        .improvement_opportunities
        .iter()
        .map(|o| o.text.clone())
        .collect();
    assert_eq!(stored_opps, sealed_opps);
    assert_eq!(stored_opps, opportunities);

    // Nothing after PUBLISHED: the publication is the trail's last event.
    let trail = ev
        .list_audit_events(authed(
            op,
            apb::ListAuditEventsRequest {
                parent: name.into(),
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    let last = trail.last().unwrap();
    assert_eq!(last.subject, apb::audit_event::Subject::State as i32);
    assert!(last.new_value.contains("PUBLISHED"), "{last:?}");
    eprintln!(
        "race after {delay_ms} ms: {} agreed, {interviews} interviews, {} opportunities, {} trail events",
        agreed.len(),
        opportunities.len(),
        trail.len()
    );
}

#[tokio::test]
async fn publication_is_atomic_against_racing_writers_on_postgres() {
    let env = TestEnv::start().await;
    env.onboard("ostra").await;
    env.member("anna", "ostra", tpb::TenantRole::TenantAdmin)
        .await;
    for u in ["eva", "per"] {
        user(&env, u, &[tpb::PlatformRole::Evaluator]).await;
    }
    let anna = env.token("anna", &[]);
    let eva = env.token("eva", &["evaluator"]);
    let per = env.token("per", &["evaluator"]);
    let op = env.token("operator", &["operator"]);
    let ch = env.channel(ServiceKind::Assessment).await;
    let read_model = env.platform.reporting().db.clone();
    for delay in [0, 25, 120] {
        let name = in_consensus(&ch, &anna, &op, &eva).await;
        race(&ch, &eva, &per, &op, &read_model, &name, delay).await;
    }
    env.cleanup().await;
}

/// SQLite has no row locks: the write unit takes the database's write lock
/// first instead. Same race, same guarantees.
#[tokio::test]
async fn publication_is_atomic_against_racing_writers_on_sqlite() {
    let env = EmbeddedEnv::start().await;
    env.onboard("ostra", false).await;
    env.user("anna", &[], Some(("ostra", tpb::TenantRole::TenantAdmin)))
        .await;
    for u in ["eva", "per"] {
        env.user(u, &[tpb::PlatformRole::Evaluator], None).await;
    }
    let anna = env.token("anna", &[]);
    let eva = env.token("eva", &["evaluator"]);
    let per = env.token("per", &["evaluator"]);
    let op = env.token("operator", &["operator"]);
    let ch = env.channel(ServiceKind::Assessment).await;
    let read_model = env.platform.reporting().db.clone();
    for delay in [0, 60] {
        let name = in_consensus(&ch, &anna, &op, &eva).await;
        race(&ch, &eva, &per, &op, &read_model, &name, delay).await;
    }
    env.cleanup().await;
}

// ---------------------------------------------------------------- item 6

#[tokio::test]
async fn seals_are_checked_not_trusted() {
    let env = TestEnv::start().await;
    onboard_named(&env, "ostra", "Östra kommun").await;
    let op = env.token("operator", &["operator"]);
    let mut ev = env.evaluations().await;
    let mut rep = env.reporting().await;
    let e = ev
        .import_evaluation(authed(
            &op,
            import_req(apb::EvaluationKind::External, "2017-05-10", SOURCE),
        ))
        .await
        .unwrap()
        .into_inner();
    let seal = e.seal.clone().unwrap();
    let reporting = env.platform.reporting().clone();
    let original = stored_event(&reporting.db, &e.name).await;
    wait_for_report(&mut rep, &op, &e.name).await;
    let digest = |d: &str| apb::VerifyPublicationRequest {
        name: e.name.clone(),
        report: Some(apb::verify_publication_request::Report::Digest(d.into())),
    };
    let v = ev
        .verify_publication(tonic::Request::new(digest(&seal.digest)))
        .await
        .unwrap()
        .into_inner();
    assert!(v.valid && v.stored_content_intact);

    // The consumer recomputes every digest. Content changed under the real
    // seal, a second validly sealed version of the same evaluation, and a
    // seal in an unknown canonical form are refused, counted and
    // acknowledged; a seal of the earlier canonical form (v1) is accepted.
    let bus = env.platform.bus.clone();
    let mut forged = original.clone();
    forged.content.as_mut().unwrap().questions[0].points = "15.00".into();
    let mut resealed = forged.clone();
    resealed.seal = Some(kompass_seal::seal_of(
        resealed.content.as_ref().unwrap(),
        None,
    ));
    let mut unknown = original.clone();
    unknown.seal.as_mut().unwrap().canonicalization = "kompass-canonical-json-v9".into();
    let mut v1 = original.clone();
    {
        let c = v1.content.as_mut().unwrap();
        c.evaluation = "tenants/ostra/evaluations/v1marker".into();
        c.import_record = None;
        let canonical = kompass_seal::canonical_json(c, kompass_seal::V1).unwrap();
        let s = v1.seal.as_mut().unwrap();
        s.canonicalization = kompass_seal::V1.into();
        s.digest = kompass_seal::digest(&canonical);
    }
    for (id, event) in [
        ("forged-1", &forged),
        ("resealed-1", &resealed),
        ("unknown-1", &unknown),
        ("v1-1", &v1),
    ] {
        bus.publish(
            "evaluations",
            id,
            "evaluation.published",
            &event.encode_to_vec(),
        )
        .await
        .unwrap();
    }
    wait_for_report(&mut rep, &op, "tenants/ostra/evaluations/v1marker").await;
    assert_eq!(
        reporting.rejected_publications(),
        kompass_reporting::metrics::RejectedPublications {
            seal_mismatch: 2,
            different_seal: 1,
        }
    );
    // The read model still holds the genuine publication.
    assert_eq!(stored_event(&reporting.db, &e.name).await, original);
    let r = rep
        .get_evaluation_report(authed(
            &op,
            rpb::GetEvaluationReportRequest {
                name: e.name.clone(),
                language: "sv".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.total.unwrap().points, "640.00");
    // Directly through the handler: refused yet acknowledged.
    assert!(
        reporting
            .handle("forged-2", "evaluation.published", &forged.encode_to_vec())
            .await
    );
    assert_eq!(reporting.rejected_publications().seal_mismatch, 3);

    // VerifyPublication recomputes the stored content's digest: once the
    // stored content is altered, nothing verifies against the seal.
    let db = env
        .platform
        .directory()
        .db(&TenantId::parse("ostra").unwrap())
        .await
        .unwrap();
    let id = e.name.rsplit('/').next().unwrap().to_string();
    let res = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE evaluations SET published_content = replace(published_content, '\"points\":\"12.00\"', '\"points\":\"15.00\"') WHERE id = $1",
            [id.into()],
        ))
        .await
        .unwrap();
    assert_eq!(res.rows_affected(), 1);
    let v = ev
        .verify_publication(tonic::Request::new(digest(&seal.digest)))
        .await
        .unwrap()
        .into_inner();
    assert!(!v.valid && !v.stored_content_intact);
    let v = ev
        .verify_publication(tonic::Request::new(apb::VerifyPublicationRequest {
            name: e.name.clone(),
            report: Some(apb::verify_publication_request::Report::Content(
                original.content.clone().unwrap(),
            )),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        v.computed_digest, seal.digest,
        "the report itself is genuine"
    );
    assert!(!v.valid && !v.stored_content_intact);
    drop(db);
    env.cleanup().await;
}

/// The same checks on the embedded default (SQLite read model, in-process
/// bus): provenance reaches the report, forged content is refused.
#[tokio::test]
async fn seals_and_provenance_on_sqlite() {
    let env = EmbeddedEnv::start().await;
    env.onboard("ostra", true).await;
    env.user("anna", &[], Some(("ostra", tpb::TenantRole::TenantAdmin)))
        .await;
    let op = env.token("operator", &["operator"]);
    let anna = env.token("anna", &[]);
    let ch = env.channel(ServiceKind::Assessment).await;
    let mut ev = EvaluationServiceClient::new(ch);
    let err = ev
        .import_evaluation(authed(
            &anna,
            import_req(apb::EvaluationKind::External, "2017-05-10", SOURCE),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let e = ev
        .import_evaluation(authed(
            &op,
            import_req(apb::EvaluationKind::External, "2017-05-10", SOURCE),
        ))
        .await
        .unwrap()
        .into_inner();
    let reporting = env.platform.reporting().clone();
    let original = stored_event(&reporting.db, &e.name).await;
    let mut rep = ReportingServiceClient::new(env.channel(ServiceKind::Reporting).await);
    let r = rep
        .get_evaluation_report(authed(
            &anna,
            rpb::GetEvaluationReportRequest {
                name: e.name.clone(),
                language: "en".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.import_record.unwrap().source, SOURCE);
    let mut forged = original.clone();
    forged.content.as_mut().unwrap().title = "Förfalskad".into();
    assert!(
        reporting
            .handle("forged", "evaluation.published", &forged.encode_to_vec())
            .await
    );
    assert_eq!(reporting.rejected_publications().seal_mismatch, 1);
    assert_eq!(stored_event(&reporting.db, &e.name).await, original);
    let v = ev
        .verify_publication(tonic::Request::new(apb::VerifyPublicationRequest {
            name: e.name.clone(),
            report: Some(apb::verify_publication_request::Report::Content(
                original.content.unwrap(),
            )),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(v.valid && v.stored_content_intact);
    env.cleanup().await;
}
