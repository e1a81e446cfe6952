//! Evidence (interviews, documents, website observations) and information
//! requests to the municipality, over gRPC against real PostgreSQL.

use kompass_config::ServiceKind;
use kompass_proto::assessment::v1 as apb;
use kompass_proto::assessment::v1::evaluation_service_client::EvaluationServiceClient;
use kompass_proto::assessment::v1::evidence_service_client::EvidenceServiceClient;
use kompass_proto::assessment::v1::scoring_service_client::ScoringServiceClient;
use kompass_proto::tenancy::v1 as tpb;
use kompass_tests::{TestEnv, authed, server_url, user};
use sea_orm::{ConnectionTrait, Database};
use tonic::Code;
use tonic::transport::Channel;

const FW: &str = "frameworks/kommunkompassen/versions/2015";

use apb::evidence::Source;
use apb::information_request::{Kind as RKind, State as RState};

fn mask(p: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: p.iter().map(|s| s.to_string()).collect(),
    })
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Today plus `offset` days (UTC) as YYYY-MM-DD.
fn day(offset: i64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    civil(secs.div_euclid(86_400) + offset)
}

/// Days since 1970-01-01 as YYYY-MM-DD (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[test]
fn civil_dates() {
    assert_eq!(civil(0), "1970-01-01");
    assert_eq!(civil(20_780), "2026-11-23");
    assert_eq!(civil(11_016), "2000-02-29");
}

struct Ctx {
    op: String,
    eva: String,
    ulf: String,
    maja: String,
    bertil: String,
    eval: String,
    ev: EvaluationServiceClient<Channel>,
    ec: EvidenceServiceClient<Channel>,
    sc: ScoringServiceClient<Channel>,
}

/// Ostra with an external evaluation, lead evaluator eva; ulf is an evaluator
/// not assigned to it, maja a member of ostra, bertil an admin of vastra.
async fn setup(env: &TestEnv) -> Ctx {
    env.onboard("ostra").await;
    env.onboard("vastra").await;
    user(env, "eva", &[tpb::PlatformRole::Evaluator]).await;
    user(env, "ulf", &[tpb::PlatformRole::Evaluator]).await;
    env.member("maja", "ostra", tpb::TenantRole::Member).await;
    env.member("bertil", "vastra", tpb::TenantRole::TenantAdmin)
        .await;
    let op = env.token("operator", &["operator"]);
    let ch = env.channel(ServiceKind::Assessment).await;
    let mut ev = EvaluationServiceClient::new(ch.clone());
    let e = ev
        .create_evaluation(authed(
            &op,
            apb::CreateEvaluationRequest {
                parent: "tenants/ostra".into(),
                evaluation: Some(apb::Evaluation {
                    title: "Kommunkompassen 2026".into(),
                    kind: apb::EvaluationKind::External as i32,
                    framework_version: FW.into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    ev.create_assignment(authed(
        &op,
        apb::CreateAssignmentRequest {
            parent: e.name.clone(),
            assignment: Some(apb::Assignment {
                user: "users/eva".into(),
                role: apb::EvaluatorRole::Lead as i32,
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap();
    Ctx {
        eva: env.token("eva", &["evaluator"]),
        ulf: env.token("ulf", &["evaluator"]),
        maja: env.token("maja", &[]),
        bertil: env.token("bertil", &[]),
        op,
        eval: e.name,
        ev,
        ec: EvidenceServiceClient::new(ch.clone()),
        sc: ScoringServiceClient::new(ch),
    }
}

impl Ctx {
    async fn create(
        &mut self,
        token: &str,
        e: apb::Evidence,
    ) -> Result<apb::Evidence, tonic::Status> {
        self.ec
            .create_evidence(authed(
                token,
                apb::CreateEvidenceRequest {
                    parent: self.eval.clone(),
                    evidence: Some(e),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn list(
        &mut self,
        token: &str,
        question: &str,
    ) -> Result<Vec<apb::Evidence>, tonic::Status> {
        self.ec
            .list_evidence(authed(
                token,
                apb::ListEvidenceRequest {
                    parent: self.eval.clone(),
                    question: question.into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().evidence)
    }

    async fn get(
        &mut self,
        token: &str,
        name: &str,
        file: bool,
    ) -> Result<apb::Evidence, tonic::Status> {
        self.ec
            .get_evidence(authed(
                token,
                apb::GetEvidenceRequest {
                    name: name.into(),
                    include_file_content: file,
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn transition(&mut self, to: apb::evaluation::State) {
        let etag = self
            .ev
            .get_evaluation(authed(
                &self.op,
                apb::GetEvaluationRequest {
                    name: self.eval.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .etag;
        self.ev
            .transition_evaluation(authed(
                &self.op,
                apb::TransitionEvaluationRequest {
                    name: self.eval.clone(),
                    to_state: to as i32,
                    etag,
                    reason: String::new(),
                },
            ))
            .await
            .unwrap();
    }

    async fn request(&mut self, token: &str, name: &str) -> apb::InformationRequest {
        self.ec
            .get_information_request(authed(
                token,
                apb::GetInformationRequestRequest { name: name.into() },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    async fn requests(
        &mut self,
        token: &str,
        parent: &str,
        state: RState,
        overdue_only: bool,
    ) -> Result<Vec<apb::InformationRequest>, tonic::Status> {
        self.ec
            .list_information_requests(authed(
                token,
                apb::ListInformationRequestsRequest {
                    parent: parent.into(),
                    state: state as i32,
                    overdue_only,
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().information_requests)
    }
}

fn interview() -> apb::Evidence {
    apb::Evidence {
        source: Some(Source::Interview(apb::Interview {
            group: "förvaltningschefer".into(),
            participant_roles: strings(&["socialchef", "skolchef"]),
        })),
        date: "2026-03-04".into(),
        questions: strings(&["3.2", "4.1", "3.2"]),
        notes: "Målen är kända men följs upp ojämnt.".into(),
        ..Default::default()
    }
}

fn document(title: &str, bytes: &[u8]) -> apb::Document {
    apb::Document {
        title: title.into(),
        reference: "KS 2025/112".into(),
        file_content: bytes.to_vec(),
        file_name: "delegationsordning.pdf".into(),
        content_type: "application/pdf".into(),
        ..Default::default()
    }
}

fn website() -> apb::Evidence {
    apb::Evidence {
        source: Some(Source::WebsiteObservation(apb::WebsiteObservation {
            url: "https://www.ostra.se/kommun-och-politik".into(),
            description: "Protokoll publiceras inom en vecka.".into(),
        })),
        questions: strings(&["1.2"]),
        ..Default::default()
    }
}

const PDF: &[u8] = b"%PDF-1.4 delegationsordning";
/// `sha256sum` of PDF.
const PDF_SHA: &str = "4d667280714b5fdef123fcf7718d6603e48de18bbdbe626217e78bad83565075";

#[tokio::test]
async fn evidence_of_each_kind_round_trips_and_is_guarded() {
    let env = TestEnv::start().await;
    let mut c = setup(&env).await;
    let eva = c.eva.clone();

    // An unknown question is refused, naming it, and nothing is stored.
    let mut bad = interview();
    bad.questions = strings(&["1.1", "9.9"]);
    let err = c.create(&eva, bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("9.9"), "{}", err.message());
    assert!(c.list(&eva, "").await.unwrap().is_empty());
    // No source, bad URL, bad date, missing group or title.
    let err = c
        .create(
            &eva,
            apb::Evidence {
                notes: "x".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut w = website();
    w.source = Some(Source::WebsiteObservation(apb::WebsiteObservation {
        url: "www.ostra.se".into(),
        description: String::new(),
    }));
    assert_eq!(
        c.create(&eva, w).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let mut d = interview();
    d.date = "4/3/2026".into();
    assert_eq!(
        c.create(&eva, d).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let mut g = interview();
    g.source = Some(Source::Interview(apb::Interview::default()));
    assert_eq!(
        c.create(&eva, g).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let no_title = apb::Evidence {
        source: Some(Source::Document(document(" ", PDF))),
        ..Default::default()
    };
    assert_eq!(
        c.create(&eva, no_title).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    assert!(c.list(&eva, "").await.unwrap().is_empty());

    // Interview.
    let i = c.create(&eva, interview()).await.unwrap();
    assert!(
        i.name.starts_with(&format!("{}/evidence/", c.eval)),
        "{}",
        i.name
    );
    assert_eq!(
        i.questions,
        strings(&["3.2", "4.1"]),
        "deduplicated, in order"
    );
    assert_eq!(i.date, "2026-03-04");
    assert_eq!(i.creator, "users/eva");
    assert_eq!(i.etag, "1");
    assert!(i.create_time.is_some());
    let got = c.get(&eva, &i.name, false).await.unwrap();
    assert_eq!(got, i);
    match &got.source {
        Some(Source::Interview(x)) => {
            assert_eq!(x.group, "förvaltningschefer");
            assert_eq!(x.participant_roles, strings(&["socialchef", "skolchef"]));
        }
        other => panic!("{other:?}"),
    }

    // Document with an uploaded file: bytes only on request.
    let d = c
        .create(
            &eva,
            apb::Evidence {
                source: Some(Source::Document(document("Delegationsordning", PDF))),
                date: "2025-06-01".into(),
                questions: strings(&["3.4"]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let Some(Source::Document(doc)) = &d.source else {
        panic!("{d:?}")
    };
    assert!(doc.file_content.is_empty());
    assert_eq!(doc.file_size, PDF.len() as i64);
    assert_eq!(doc.file_sha256, PDF_SHA);
    let full = c.get(&eva, &d.name, true).await.unwrap();
    let Some(Source::Document(doc)) = &full.source else {
        panic!()
    };
    assert_eq!(doc.file_content, PDF);
    assert_eq!(
        (
            doc.title.as_str(),
            doc.reference.as_str(),
            doc.file_name.as_str(),
            doc.content_type.as_str()
        ),
        (
            "Delegationsordning",
            "KS 2025/112",
            "delegationsordning.pdf",
            "application/pdf"
        )
    );
    let light = c.get(&eva, &d.name, false).await.unwrap();
    let Some(Source::Document(doc)) = &light.source else {
        panic!()
    };
    assert!(doc.file_content.is_empty());
    assert_eq!(doc.file_sha256, PDF_SHA);

    // Website observation, no date.
    let w = c.create(&eva, website()).await.unwrap();
    assert_eq!(c.get(&eva, &w.name, false).await.unwrap(), w);
    assert_eq!(w.date, "");

    // Listing: oldest first, paging, question filter.
    let all = c.list(&eva, "").await.unwrap();
    let names: Vec<_> = all.iter().map(|e| e.name.clone()).collect();
    assert_eq!(names, vec![i.name.clone(), d.name.clone(), w.name.clone()]);
    let p1 =
        c.ec.list_evidence(authed(
            &eva,
            apb::ListEvidenceRequest {
                parent: c.eval.clone(),
                page_size: 2,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p1.evidence.len(), 2);
    assert!(!p1.next_page_token.is_empty());
    let p2 =
        c.ec.list_evidence(authed(
            &eva,
            apb::ListEvidenceRequest {
                parent: c.eval.clone(),
                page_size: 2,
                page_token: p1.next_page_token,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p2.evidence.len(), 1);
    assert_eq!(p2.evidence[0].name, w.name);
    assert!(p2.next_page_token.is_empty());
    let q: Vec<_> = c
        .list(&eva, "3.2")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(q, vec![i.name.clone()]);
    assert!(c.list(&eva, "8.7").await.unwrap().is_empty());
    assert_eq!(
        c.list(&eva, "9.9").await.unwrap_err().code(),
        Code::InvalidArgument
    );

    // Update with mask and etag; a stale etag is ABORTED.
    let mut u = i.clone();
    u.questions = strings(&["3.2", "3.3"]);
    u.notes = "Uppföljning sker kvartalsvis.".into();
    u.source = Some(Source::Interview(apb::Interview {
        group: "kommunstyrelsens presidium".into(),
        participant_roles: vec![],
    }));
    let u1 =
        c.ec.update_evidence(authed(
            &eva,
            apb::UpdateEvidenceRequest {
                evidence: Some(u.clone()),
                update_mask: mask(&["questions", "notes", "interview.group"]),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(u1.etag, "2");
    assert_eq!(u1.questions, strings(&["3.2", "3.3"]));
    let Some(Source::Interview(x)) = &u1.source else {
        panic!()
    };
    assert_eq!(x.group, "kommunstyrelsens presidium");
    assert_eq!(
        x.participant_roles,
        strings(&["socialchef", "skolchef"]),
        "not in the mask"
    );
    assert_eq!(u1.date, "2026-03-04");
    let err =
        c.ec.update_evidence(authed(
            &eva,
            apb::UpdateEvidenceRequest {
                evidence: Some(u.clone()),
                update_mask: mask(&["notes"]),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "{}", err.message());
    // Unknown questions, unknown fields and a change of kind are refused.
    let mut v = u1.clone();
    v.questions = strings(&["0.1"]);
    let err =
        c.ec.update_evidence(authed(
            &eva,
            apb::UpdateEvidenceRequest {
                evidence: Some(v),
                update_mask: mask(&["questions"]),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("0.1"));
    for (source, path) in [
        (u1.source.clone(), "creator"),
        (Some(Source::Document(document("x", b""))), "document"),
    ] {
        let mut v = u1.clone();
        v.source = source;
        let err =
            c.ec.update_evidence(authed(
                &eva,
                apb::UpdateEvidenceRequest {
                    evidence: Some(v),
                    update_mask: mask(&[path]),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{path}");
    }
    assert_eq!(
        c.get(&eva, &i.name, false).await.unwrap(),
        u1,
        "failed updates stored nothing"
    );
    // Writing back a document read without its bytes keeps the file.
    let mut dd = light.clone();
    if let Some(Source::Document(doc)) = &mut dd.source {
        doc.title = "Delegationsordning 2025".into();
    }
    let d2 =
        c.ec.update_evidence(authed(
            &eva,
            apb::UpdateEvidenceRequest {
                evidence: Some(dd),
                update_mask: mask(&["document"]),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let full = c.get(&eva, &d2.name, true).await.unwrap();
    let Some(Source::Document(doc)) = &full.source else {
        panic!()
    };
    assert_eq!(
        (doc.title.as_str(), doc.file_content.as_slice()),
        ("Delegationsordning 2025", PDF)
    );

    // Outsiders: a member of another municipality, an evaluator not assigned.
    for t in [&c.bertil.clone(), &c.ulf.clone()] {
        assert_eq!(
            c.list(t, "").await.unwrap_err().code(),
            Code::PermissionDenied
        );
        assert_eq!(
            c.get(t, &i.name, false).await.unwrap_err().code(),
            Code::PermissionDenied
        );
        assert_eq!(
            c.create(t, website()).await.unwrap_err().code(),
            Code::PermissionDenied
        );
    }

    // The municipality adds documents, and only changes what it added.
    let maja = c.maja.clone();
    assert_eq!(c.list(&maja, "").await.unwrap().len(), 3);
    assert_eq!(
        c.create(&maja, interview()).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let m = c
        .create(
            &maja,
            apb::Evidence {
                source: Some(Source::Document(document("Personalpolicy", b"policy"))),
                questions: strings(&["6.1"]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(m.creator, "users/maja");
    let err =
        c.ec.delete_evidence(authed(
            &maja,
            apb::DeleteEvidenceRequest {
                name: d2.name.clone(),
                etag: d2.etag.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    c.ec.delete_evidence(authed(
        &maja,
        apb::DeleteEvidenceRequest {
            name: m.name.clone(),
            etag: m.etag.clone(),
        },
    ))
    .await
    .unwrap();

    // Delete: stale etag ABORTED; then gone, and scores lose the reference.
    c.transition(apb::evaluation::State::Fieldwork).await;
    c.transition(apb::evaluation::State::Scoring).await;
    let score_name = format!("{}/scores/3.2", c.eval);
    c.sc.update_score(authed(
        &eva,
        apb::UpdateScoreRequest {
            score: Some(apb::Score {
                name: score_name.clone(),
                points: "12".into(),
                evidence: vec![i.name.clone(), w.name.clone()],
                ..Default::default()
            }),
            update_mask: mask(&["points", "evidence"]),
        },
    ))
    .await
    .unwrap();
    let err =
        c.ec.delete_evidence(authed(
            &eva,
            apb::DeleteEvidenceRequest {
                name: i.name.clone(),
                etag: "1".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    c.ec.delete_evidence(authed(
        &eva,
        apb::DeleteEvidenceRequest {
            name: i.name.clone(),
            etag: u1.etag.clone(),
        },
    ))
    .await
    .unwrap();
    assert_eq!(
        c.get(&eva, &i.name, false).await.unwrap_err().code(),
        Code::NotFound
    );
    let s =
        c.sc.get_score(authed(&eva, apb::GetScoreRequest { name: score_name }))
            .await
            .unwrap()
            .into_inner();
    assert_eq!(s.evidence, vec![w.name.clone()]);
    assert_eq!(s.points, "12.00");

    // Audit: create, update, delete of the interview.
    let audit =
        c.ev.list_audit_events(authed(
            &c.op,
            apb::ListAuditEventsRequest {
                parent: c.eval.clone(),
                target: i.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    assert_eq!(audit.len(), 3, "{audit:?}");
    assert!(audit[0].old_value.is_empty() && !audit[0].new_value.is_empty());
    assert!(audit[1].new_value.contains("kommunstyrelsens presidium"));
    assert!(audit[2].new_value.is_empty());
    assert!(audit.iter().all(|a| a.actor == "users/eva"));

    // Archived: locked.
    c.transition(apb::evaluation::State::Archived).await;
    let err = c.create(&eva, website()).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("ARCHIVED"), "{}", err.message());
    assert_eq!(c.list(&eva, "").await.unwrap().len(), 2, "still readable");

    env.cleanup().await;
}

#[tokio::test]
async fn information_requests_flow_from_open_to_accepted() {
    let env = TestEnv::start().await;
    let mut c = setup(&env).await;
    let (eva, maja) = (c.eva.clone(), c.maja.clone());
    let eval_name = c.eval.clone();
    let new_request = |due: String, questions: &[&str]| apb::CreateInformationRequestRequest {
        parent: eval_name.clone(),
        information_request: Some(apb::InformationRequest {
            kind: RKind::Document as i32,
            description: "Delegationsordning för socialnämnden".into(),
            questions: strings(questions),
            due_date: due,
            ..Default::default()
        }),
    };

    // Validation: past due date, unknown question, no description; wrong role.
    let yesterday = day(-1);
    for (req, code) in [
        (
            new_request(yesterday.clone(), &["3.4"]),
            Code::InvalidArgument,
        ),
        (new_request(day(1), &["3.4", "3.9"]), Code::InvalidArgument),
        (new_request(String::new(), &[]), Code::InvalidArgument),
    ] {
        let err =
            c.ec.create_information_request(authed(&eva, req))
                .await
                .unwrap_err();
        assert_eq!(err.code(), code, "{}", err.message());
    }
    let mut blank = new_request(day(1), &[]);
    blank.information_request.as_mut().unwrap().description = " ".into();
    let err =
        c.ec.create_information_request(authed(&eva, blank))
            .await
            .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    for t in [&maja, &c.ulf.clone(), &c.bertil.clone()] {
        let err =
            c.ec.create_information_request(authed(t, new_request(day(1), &[])))
                .await
                .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
    }
    let parent = c.eval.clone();
    assert!(
        c.requests(&eva, &parent, RState::Unspecified, false)
            .await
            .unwrap()
            .is_empty()
    );

    // OPEN.
    let r =
        c.ec.create_information_request(authed(&eva, new_request(day(1), &["3.4", "4.2"])))
            .await
            .unwrap()
            .into_inner();
    assert!(r.name.starts_with(&format!("{}/requests/", c.eval)));
    assert_eq!(r.state, RState::Open as i32);
    assert_eq!(r.kind, RKind::Document as i32);
    assert!(!r.overdue);
    assert_eq!(r.requested_by, "users/eva");
    assert_eq!(r.due_date, day(1));
    assert_eq!(r.turns.len(), 1);
    assert_eq!(r.turns[0].author, "users/eva");
    assert_eq!(c.request(&maja, &r.name).await, r);

    // The evaluator cannot answer; nothing can be accepted while open.
    let answer =
        |etag: &str, text: &str, docs: Vec<apb::Document>| apb::AnswerInformationRequestRequest {
            name: r.name.clone(),
            text: text.into(),
            documents: docs,
            etag: etag.into(),
        };
    let err =
        c.ec.answer_information_request(authed(&eva, answer(&r.etag, "svar", vec![])))
            .await
            .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err =
        c.ec.accept_information_request(authed(
            &eva,
            apb::AcceptInformationRequestRequest {
                name: r.name.clone(),
                etag: r.etag.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("OPEN"), "{}", err.message());
    // An empty answer and a document without a title are refused, storing nothing.
    let err =
        c.ec.answer_information_request(authed(&maja, answer(&r.etag, " ", vec![])))
            .await
            .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut untitled = document("", PDF);
    untitled.file_name = String::new();
    let err =
        c.ec.answer_information_request(authed(
            &maja,
            answer(&r.etag, "Här", vec![document("Bilaga", b"a"), untitled]),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(c.list(&eva, "").await.unwrap().is_empty());
    assert_eq!(c.request(&eva, &r.name).await, r);

    // ANSWERED, with an upload that becomes document evidence.
    let a =
        c.ec.answer_information_request(authed(
            &maja,
            answer(
                &r.etag,
                "Se bifogad delegationsordning.",
                vec![document("Delegationsordning SN", PDF)],
            ),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.state, RState::Answered as i32);
    assert_ne!(a.etag, r.etag);
    assert_eq!(a.turns.len(), 2);
    assert_eq!(a.turns[1].author, "users/maja");
    assert_eq!(a.turns[1].evidence.len(), 1);
    let listed = c.list(&eva, "").await.unwrap();
    assert_eq!(listed.len(), 1);
    let e = &listed[0];
    assert_eq!(e.name, a.turns[1].evidence[0]);
    assert_eq!(e.questions, strings(&["3.4", "4.2"]));
    assert_eq!(e.creator, "users/maja");
    assert_eq!(e.date, day(0));
    let Some(Source::Document(doc)) = &e.source else {
        panic!("{e:?}")
    };
    assert_eq!(doc.title, "Delegationsordning SN");
    assert_eq!(doc.file_sha256, PDF_SHA);
    assert_eq!(c.list(&eva, "4.2").await.unwrap().len(), 1);

    // Wrong state, stale etag.
    let err =
        c.ec.answer_information_request(authed(&maja, answer(&a.etag, "igen", vec![])))
            .await
            .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("ANSWERED"), "{}", err.message());
    let err =
        c.ec.answer_information_request(authed(&maja, answer(&r.etag, "igen", vec![])))
            .await
            .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);

    // Asked again (OPEN), the municipality may not reopen.
    let reopen = |etag: &str, due: String| apb::ReopenInformationRequestRequest {
        name: r.name.clone(),
        text: "Bilagan saknar delegation till enhetschef.".into(),
        due_date: due,
        etag: etag.into(),
    };
    let err =
        c.ec.reopen_information_request(authed(&maja, reopen(&a.etag, day(3))))
            .await
            .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err =
        c.ec.reopen_information_request(authed(&eva, reopen(&a.etag, yesterday.clone())))
            .await
            .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let o =
        c.ec.reopen_information_request(authed(&eva, reopen(&a.etag, day(0))))
            .await
            .unwrap()
            .into_inner();
    assert_eq!(o.state, RState::Open as i32);
    assert_eq!(o.due_date, day(0));
    assert!(!o.overdue, "due today is not overdue yet");
    assert_eq!(o.turns.len(), 3);
    assert_eq!(o.turns[2].author, "users/eva");

    // Answered again (text only), then ACCEPTED.
    let a2 =
        c.ec.answer_information_request(authed(
            &maja,
            answer(&o.etag, "Delegationen finns i punkt 4.2.", vec![]),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a2.state, RState::Answered as i32);
    assert!(a2.turns[3].evidence.is_empty());
    let done =
        c.ec.accept_information_request(authed(
            &eva,
            apb::AcceptInformationRequestRequest {
                name: r.name.clone(),
                etag: a2.etag.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.state, RState::Accepted as i32);
    assert_eq!(done.turns.len(), 4);
    let err =
        c.ec.reopen_information_request(authed(&eva, reopen(&done.etag, day(2))))
            .await
            .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("ACCEPTED"), "{}", err.message());

    // Audit trail of the request: created, answered, reopened, answered, accepted.
    let audit =
        c.ev.list_audit_events(authed(
            &c.op,
            apb::ListAuditEventsRequest {
                parent: c.eval.clone(),
                target: r.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    assert_eq!(audit.len(), 5, "{audit:?}");

    // Listing, ordered by due date; state filter; overdue.
    let late =
        c.ec.create_information_request(authed(&eva, new_request(day(0), &["1.1"])))
            .await
            .unwrap()
            .into_inner();
    let later =
        c.ec.create_information_request(authed(&c.op.clone(), new_request(day(2), &[])))
            .await
            .unwrap()
            .into_inner();
    assert!(!late.overdue);
    let names = |v: Vec<apb::InformationRequest>| v.into_iter().map(|r| r.name).collect::<Vec<_>>();
    let all_ostra = "tenants/ostra/evaluations/-";
    let everywhere = "tenants/-/evaluations/-";
    // By due date, then creation: the accepted one (reopened with today's
    // date), the one due today, the one due in two days.
    let want = vec![r.name.clone(), late.name.clone(), later.name.clone()];
    for (t, parent) in [
        (&maja, all_ostra),
        (&eva, all_ostra),
        (&eva, everywhere),
        (&c.op.clone(), everywhere),
        (&eva, parent.as_str()),
    ] {
        assert_eq!(
            names(
                c.requests(t, parent, RState::Unspecified, false)
                    .await
                    .unwrap()
            ),
            want,
            "{parent}"
        );
    }
    assert_eq!(
        names(
            c.requests(&maja, all_ostra, RState::Open, false)
                .await
                .unwrap()
        ),
        vec![late.name.clone(), later.name.clone()]
    );
    assert_eq!(
        names(
            c.requests(&maja, all_ostra, RState::Accepted, false)
                .await
                .unwrap()
        ),
        vec![r.name.clone()]
    );
    assert!(
        c.requests(&maja, all_ostra, RState::Unspecified, true)
            .await
            .unwrap()
            .is_empty()
    );
    // Paging.
    let p1 =
        c.ec.list_information_requests(authed(
            &maja,
            apb::ListInformationRequestsRequest {
                parent: all_ostra.into(),
                page_size: 2,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(p1.information_requests), want[..2].to_vec());
    let p2 =
        c.ec.list_information_requests(authed(
            &maja,
            apb::ListInformationRequestsRequest {
                parent: all_ostra.into(),
                page_size: 2,
                page_token: p1.next_page_token,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(p2.information_requests), want[2..].to_vec());
    assert!(p2.next_page_token.is_empty());
    // Outsiders see nothing.
    assert!(
        c.requests(&c.ulf.clone(), everywhere, RState::Unspecified, false)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        c.requests(&c.ulf.clone(), all_ostra, RState::Unspecified, false)
            .await
            .unwrap()
            .is_empty()
    );
    for (t, p) in [
        (&c.bertil.clone(), all_ostra),
        (&c.bertil.clone(), everywhere),
        (&maja, everywhere),
        (&c.ulf.clone(), parent.as_str()),
    ] {
        assert_eq!(
            c.requests(t, p, RState::Unspecified, false)
                .await
                .unwrap_err()
                .code(),
            Code::PermissionDenied,
            "{p}"
        );
    }

    // A due date that has passed (set in the database: no time travel over
    // gRPC) makes an open request overdue, listed with overdue_only.
    let tenant_db = format!("{}ostra", env.prefix);
    let url = {
        let base = server_url();
        let (base, query) = base
            .split_once('?')
            .map_or((base.as_str(), None), |(b, q)| (b, Some(q)));
        let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
        match query {
            Some(q) => format!("{base}/{tenant_db}?{q}"),
            None => format!("{base}/{tenant_db}"),
        }
    };
    let db = Database::connect(url).await.unwrap();
    let id = late.name.rsplit('/').next().unwrap();
    db.execute_unprepared(&format!(
        "UPDATE information_requests SET due_date = '2020-01-31' WHERE id = '{id}'"
    ))
    .await
    .unwrap();
    db.close().await.unwrap();
    let overdue = c
        .requests(&maja, all_ostra, RState::Unspecified, true)
        .await
        .unwrap();
    assert_eq!(names(overdue.clone()), vec![late.name.clone()]);
    assert!(overdue[0].overdue);
    assert!(c.request(&eva, &late.name).await.overdue);
    assert!(!c.request(&eva, &later.name).await.overdue);
    assert!(!c.request(&eva, &r.name).await.overdue);
    assert_eq!(
        names(
            c.requests(&eva, everywhere, RState::Open, true)
                .await
                .unwrap()
        ),
        vec![late.name.clone()]
    );

    env.cleanup().await;
}
