//! Narratives (Allmänt, heading texts, Styrkor) and improvement opportunities
//! (Förbättringsmöjligheter) over gRPC against real PostgreSQL.

use kompass_config::ServiceKind;
use kompass_proto::assessment::v1 as apb;
use kompass_proto::assessment::v1::evaluation_service_client::EvaluationServiceClient;
use kompass_proto::assessment::v1::framework_service_client::FrameworkServiceClient;
use kompass_proto::assessment::v1::narrative_service_client::NarrativeServiceClient;
use kompass_proto::assessment::v1::scoring_service_client::ScoringServiceClient;
use kompass_proto::tenancy::v1 as tpb;
use kompass_tests::{TestEnv, authed, user};
use tonic::Code;
use tonic::transport::Channel;

const FW: &str = "frameworks/kommunkompassen/versions/2015";

fn mask(p: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: p.iter().map(|s| s.to_string()).collect(),
    })
}

async fn external(
    ev: &mut EvaluationServiceClient<Channel>,
    op: &str,
    previous: &str,
) -> apb::Evaluation {
    ev.create_evaluation(authed(
        op,
        apb::CreateEvaluationRequest {
            parent: "tenants/ostra".into(),
            evaluation: Some(apb::Evaluation {
                title: "Kommunkompassen".into(),
                kind: apb::EvaluationKind::External as i32,
                framework_version: FW.into(),
                previous_evaluation: previous.into(),
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap()
    .into_inner()
}

async fn evaluation_etag(
    ev: &mut EvaluationServiceClient<Channel>,
    op: &str,
    name: &str,
) -> String {
    ev.get_evaluation(authed(op, apb::GetEvaluationRequest { name: name.into() }))
        .await
        .unwrap()
        .into_inner()
        .etag
}

fn opp(area: &str, text: &str, questions: &[&str]) -> apb::ImprovementOpportunity {
    apb::ImprovementOpportunity {
        area: area.into(),
        text: text.into(),
        questions: questions.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn narratives_and_improvement_opportunities() {
    let env = TestEnv::start().await;
    env.onboard("ostra").await;
    env.onboard("vastra").await;
    user(&env, "eva", &[tpb::PlatformRole::Evaluator]).await;
    env.member("maja", "ostra", tpb::TenantRole::Member).await;
    env.member("bertil", "vastra", tpb::TenantRole::TenantAdmin)
        .await;
    let op = env.token("operator", &["operator"]);
    let eva = env.token("eva", &["evaluator"]);
    let maja = env.token("maja", &[]);
    let bertil = env.token("bertil", &[]);
    let ch = env.channel(ServiceKind::Assessment).await;
    let mut ev = EvaluationServiceClient::new(ch.clone());
    let mut nc = NarrativeServiceClient::new(ch);

    let e = external(&mut ev, &op, "").await;
    env.assign_lead(&e.name, "eva").await;
    let area1 = format!("{}/areas/1/narrative", e.name);

    // Never written: empty, etag "0"; all eight areas listed in framework order.
    let n = nc
        .get_narrative(authed(
            &eva,
            apb::GetNarrativeRequest {
                name: area1.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((n.etag.as_str(), n.general_text.as_str()), ("0", ""));
    assert!(n.previous.is_none());
    let all = nc
        .list_narratives(authed(
            &eva,
            apb::ListNarrativesRequest {
                parent: e.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let areas: Vec<_> = all.narratives.iter().map(|n| n.area.as_str()).collect();
    assert_eq!(areas, ["1", "2", "3", "4", "5", "6", "7", "8"]);
    let err = nc
        .get_narrative(authed(
            &eva,
            apb::GetNarrativeRequest {
                name: format!("{}/areas/9/narrative", e.name),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Eva writes area 1.
    let write = |etag: &str, heading: i32| apb::UpdateNarrativeRequest {
        narrative: Some(apb::Narrative {
            name: area1.clone(),
            general_text: "Östra kommun har en tydlig demokratistrategi.".into(),
            heading_texts: vec![apb::HeadingText {
                heading,
                text: "Fullmäktiges sammanträden sänds på webben.".into(),
            }],
            strengths: vec!["Medborgardialog".into(), "Etiska riktlinjer".into()],
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: mask(&["general_text", "heading_texts", "strengths"]),
    };
    let n = nc
        .update_narrative(authed(&eva, write("0", 2)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(n.etag, "1");
    let back = nc
        .get_narrative(authed(
            &eva,
            apb::GetNarrativeRequest {
                name: area1.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back, n);
    assert_eq!(
        back.general_text,
        "Östra kommun har en tydlig demokratistrategi."
    );
    assert_eq!(back.heading_texts.len(), 1);
    assert_eq!(back.heading_texts[0].heading, 2);
    assert_eq!(back.strengths, ["Medborgardialog", "Etiska riktlinjer"]);

    // Only the general text changes when only it is in the mask.
    let n = nc
        .update_narrative(authed(
            &eva,
            apb::UpdateNarrativeRequest {
                narrative: Some(apb::Narrative {
                    name: area1.clone(),
                    general_text: "Ny allmän text.".into(),
                    etag: "1".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["general_text"]),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (n.etag.as_str(), n.general_text.as_str()),
        ("2", "Ny allmän text.")
    );
    assert_eq!(n.strengths.len(), 2);
    assert_eq!(n.heading_texts.len(), 1);

    // Stale etag (and an empty one once it exists): ABORTED, nothing changed.
    for stale in ["1", "0", ""] {
        let err = nc
            .update_narrative(authed(&eva, write(stale, 3)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Aborted, "{stale:?}: {err:?}");
    }
    let same = nc
        .get_narrative(authed(
            &eva,
            apb::GetNarrativeRequest {
                name: area1.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(same, n);

    // Area 1 has four headings: 9 is out of range, duplicates are refused.
    let err = nc
        .update_narrative(authed(&eva, write("2", 9)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("heading"), "{}", err.message());
    let mut dup = write("2", 1);
    let h = dup.narrative.as_ref().unwrap().heading_texts[0].clone();
    dup.narrative.as_mut().unwrap().heading_texts.push(h);
    assert_eq!(
        nc.update_narrative(authed(&eva, dup))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    // Unknown field in the mask, empty strength, too many strengths.
    let mut bad = write("2", 1);
    bad.update_mask = mask(&["area"]);
    assert_eq!(
        nc.update_narrative(authed(&eva, bad))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    let mut bad = write("2", 1);
    bad.narrative.as_mut().unwrap().strengths = vec!["  ".into()];
    assert_eq!(
        nc.update_narrative(authed(&eva, bad))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    let mut bad = write("2", 1);
    bad.narrative.as_mut().unwrap().strengths = vec!["x".into(); 51];
    assert_eq!(
        nc.update_narrative(authed(&eva, bad))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );

    // A member of the municipality may read but not write an external
    // evaluation's texts; another municipality may do neither.
    nc.get_narrative(authed(
        &maja,
        apb::GetNarrativeRequest {
            name: area1.clone(),
        },
    ))
    .await
    .unwrap();
    let err = nc
        .update_narrative(authed(&maja, write("2", 1)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    for (tok, what) in [(&maja, "member"), (&bertil, "other tenant")] {
        let err = nc
            .create_improvement_opportunity(authed(
                tok,
                apb::CreateImprovementOpportunityRequest {
                    parent: e.name.clone(),
                    improvement_opportunity: Some(opp("1", "x", &[])),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{what}");
    }
    let err = nc
        .update_narrative(authed(&bertil, write("2", 1)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = nc
        .get_narrative(authed(
            &bertil,
            apb::GetNarrativeRequest {
                name: area1.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let same = nc
        .get_narrative(authed(
            &eva,
            apb::GetNarrativeRequest {
                name: area1.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(same.etag, "2");

    // Improvement opportunities: three, the third put first.
    let create = |o: apb::ImprovementOpportunity| apb::CreateImprovementOpportunityRequest {
        parent: e.name.clone(),
        improvement_opportunity: Some(o),
    };
    let a = nc
        .create_improvement_opportunity(authed(
            &eva,
            create(opp("1", "Utveckla e-förslag.", &["1.4"])),
        ))
        .await
        .unwrap()
        .into_inner();
    let b = nc
        .create_improvement_opportunity(authed(
            &eva,
            create(opp("1", "Redovisa resultat på webben.", &["1.3", "1.2"])),
        ))
        .await
        .unwrap()
        .into_inner();
    let mut first = opp("1", "Ta fram en demokratiplan.", &["1.1"]);
    first.position = 1;
    let c = nc
        .create_improvement_opportunity(authed(&eva, create(first)))
        .await
        .unwrap()
        .into_inner();
    let d = nc
        .create_improvement_opportunity(authed(&eva, create(opp("2", "Mät bemötande.", &["2.2"]))))
        .await
        .unwrap()
        .into_inner();
    assert!(a.name.starts_with(&format!("{}/opportunities/", e.name)));
    assert_eq!(
        (a.position, b.position, c.position, d.position),
        (1, 2, 1, 1)
    );
    assert_eq!(a.etag, "1");
    let list = |area: &str| apb::ListImprovementOpportunitiesRequest {
        parent: e.name.clone(),
        area: area.into(),
        ..Default::default()
    };
    let listed = nc
        .list_improvement_opportunities(authed(&eva, list("")))
        .await
        .unwrap()
        .into_inner()
        .improvement_opportunities;
    let names: Vec<_> = listed.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, [&c.name, &a.name, &b.name, &d.name]);
    assert_eq!(
        listed.iter().map(|o| o.position).collect::<Vec<_>>(),
        [1, 2, 3, 1]
    );
    let only2 = nc
        .list_improvement_opportunities(authed(&eva, list("2")))
        .await
        .unwrap()
        .into_inner()
        .improvement_opportunities;
    assert_eq!(only2.len(), 1);
    // Paging by two.
    let page = nc
        .list_improvement_opportunities(authed(
            &eva,
            apb::ListImprovementOpportunitiesRequest {
                parent: e.name.clone(),
                page_size: 2,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.improvement_opportunities.len(), 2);
    let rest = nc
        .list_improvement_opportunities(authed(
            &eva,
            apb::ListImprovementOpportunitiesRequest {
                parent: e.name.clone(),
                page_size: 2,
                page_token: page.next_page_token,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        rest.improvement_opportunities
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>(),
        [&b.name, &d.name]
    );

    // Unknown question: INVALID_ARGUMENT and nothing stored.
    for bad in [
        opp("1", "Okänd fråga.", &["1.9"]),
        opp("9", "Okänt område.", &[]),
        opp("1", "", &[]),
    ] {
        let err = nc
            .create_improvement_opportunity(authed(&eva, create(bad)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    }
    let mut fu = opp("1", "Följer upp.", &[]);
    fu.follows_up = format!("{}/opportunities/{}", e.name, "nope");
    let err = nc
        .create_improvement_opportunity(authed(&eva, create(fu)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let count = nc
        .list_improvement_opportunities(authed(&eva, list("")))
        .await
        .unwrap()
        .into_inner()
        .improvement_opportunities
        .len();
    assert_eq!(count, 4);

    // Update: the id stays, text and position change, the others renumber.
    let moved = nc
        .update_improvement_opportunity(authed(
            &eva,
            apb::UpdateImprovementOpportunityRequest {
                improvement_opportunity: Some(apb::ImprovementOpportunity {
                    name: b.name.clone(),
                    text: "Redovisa resultat tydligt på webben.".into(),
                    position: 1,
                    etag: b.etag.clone(),
                    ..Default::default()
                }),
                update_mask: mask(&["text", "position"]),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.name, b.name);
    assert_eq!(moved.position, 1);
    assert_eq!(moved.etag, "2");
    assert_eq!(moved.questions, ["1.3", "1.2"]);
    let got = nc
        .get_improvement_opportunity(authed(
            &maja,
            apb::GetImprovementOpportunityRequest {
                name: b.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, moved);
    let listed = nc
        .list_improvement_opportunities(authed(&eva, list("1")))
        .await
        .unwrap()
        .into_inner()
        .improvement_opportunities;
    assert_eq!(
        listed
            .iter()
            .map(|o| (o.name.as_str(), o.position))
            .collect::<Vec<_>>(),
        [
            (b.name.as_str(), 1),
            (c.name.as_str(), 2),
            (a.name.as_str(), 3)
        ]
    );
    // Stale etag; unknown question on update; immutable field.
    let upd = |etag: &str, qs: &[&str], m: &[&str]| apb::UpdateImprovementOpportunityRequest {
        improvement_opportunity: Some(apb::ImprovementOpportunity {
            name: b.name.clone(),
            area: "2".into(),
            text: "x".into(),
            questions: qs.iter().map(|s| s.to_string()).collect(),
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: mask(m),
    };
    for (req, code) in [
        (upd("1", &[], &["text"]), Code::Aborted),
        (upd("2", &["7.9"], &["questions"]), Code::InvalidArgument),
        (upd("2", &[], &["area"]), Code::InvalidArgument),
    ] {
        let err = nc
            .update_improvement_opportunity(authed(&eva, req))
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{err:?}");
    }

    // Delete: needs the current etag; the gap closes.
    let del = |etag: &str| apb::DeleteImprovementOpportunityRequest {
        name: c.name.clone(),
        etag: etag.into(),
    };
    assert_eq!(
        nc.delete_improvement_opportunity(authed(&eva, del("7")))
            .await
            .unwrap_err()
            .code(),
        Code::Aborted
    );
    nc.delete_improvement_opportunity(authed(&eva, del(&c.etag)))
        .await
        .unwrap();
    let err = nc
        .get_improvement_opportunity(authed(
            &eva,
            apb::GetImprovementOpportunityRequest {
                name: c.name.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let listed = nc
        .list_improvement_opportunities(authed(&eva, list("1")))
        .await
        .unwrap()
        .into_inner()
        .improvement_opportunities;
    assert_eq!(
        listed
            .iter()
            .map(|o| (o.name.as_str(), o.position))
            .collect::<Vec<_>>(),
        [(b.name.as_str(), 1), (a.name.as_str(), 2)]
    );

    // Audit trail: two narrative writes; four creates, one update, one delete.
    let audit = |s: apb::audit_event::Subject| apb::ListAuditEventsRequest {
        parent: e.name.clone(),
        subject: s as i32,
        ..Default::default()
    };
    let narr = ev
        .list_audit_events(authed(&op, audit(apb::audit_event::Subject::Narrative)))
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    assert_eq!(narr.len(), 2);
    assert!(
        narr.iter()
            .all(|a| a.actor == "users/eva" && a.target == area1)
    );
    assert!(narr[0].old_value.is_empty());
    assert!(narr[1].old_value.contains("Östra kommun har en tydlig"));
    assert!(narr[1].new_value.contains("Ny allmän text."));
    let opps = ev
        .list_audit_events(authed(
            &op,
            audit(apb::audit_event::Subject::ImprovementOpportunity),
        ))
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    assert_eq!(opps.len(), 6);
    let last = opps.last().unwrap();
    assert_eq!(last.target, c.name);
    assert!(last.new_value.is_empty() && last.old_value.contains("demokratiplan"));

    // Next cycle: the previous evaluation's texts and opportunities are shown
    // as reference, and a new opportunity may follow up an old one.
    let e2 = external(&mut ev, &op, &e.name).await;
    env.assign_lead(&e2.name, "eva").await;
    let n2 = nc
        .get_narrative(authed(
            &eva,
            apb::GetNarrativeRequest {
                name: format!("{}/areas/1/narrative", e2.name),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(n2.etag, "0");
    assert!(n2.general_text.is_empty());
    let prev = n2.previous.as_ref().expect("previous narrative");
    assert_eq!(prev.name, area1);
    assert_eq!(prev.general_text, "Ny allmän text.");
    assert_eq!(
        n2.previous_improvement_opportunities
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>(),
        [b.name.as_str(), a.name.as_str()]
    );
    let mut fu = opp("1", "Demokratiplanen är antagen?", &["1.1"]);
    fu.follows_up = a.name.clone();
    let f = nc
        .create_improvement_opportunity(authed(
            &eva,
            apb::CreateImprovementOpportunityRequest {
                parent: e2.name.clone(),
                improvement_opportunity: Some(fu.clone()),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(f.follows_up, a.name);
    fu.follows_up = c.name.clone(); // deleted
    let err = nc
        .create_improvement_opportunity(authed(
            &eva,
            apb::CreateImprovementOpportunityRequest {
                parent: e2.name.clone(),
                improvement_opportunity: Some(fu),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // Published: locked for writes, FAILED_PRECONDITION naming the state.
    use apb::evaluation::State;
    for to in [State::Fieldwork, State::Scoring, State::Consensus] {
        let etag = evaluation_etag(&mut ev, &op, &e.name).await;
        ev.transition_evaluation(authed(
            &eva,
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
    let mut sc = ScoringServiceClient::new(env.channel(ServiceKind::Assessment).await);
    let fw = FrameworkServiceClient::new(env.channel(ServiceKind::Assessment).await)
        .get_framework_version(authed(
            &eva,
            apb::GetFrameworkVersionRequest { name: FW.into() },
        ))
        .await
        .unwrap()
        .into_inner();
    for q in fw.areas.iter().flat_map(|a| a.questions.iter()) {
        let cur = sc
            .get_agreed_score(authed(
                &eva,
                apb::GetAgreedScoreRequest {
                    name: format!("{}/agreedScores/{}", e.name, q.id),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        sc.update_agreed_score(authed(
            &eva,
            apb::UpdateAgreedScoreRequest {
                agreed_score: Some(apb::AgreedScore {
                    name: cur.name,
                    points: "5".into(),
                    etag: cur.etag,
                    ..Default::default()
                }),
                update_mask: mask(&["points"]),
            },
        ))
        .await
        .unwrap();
    }
    let etag = evaluation_etag(&mut ev, &op, &e.name).await;
    ev.publish_evaluation(authed(
        &eva,
        apb::PublishEvaluationRequest {
            name: e.name.clone(),
            etag,
        },
    ))
    .await
    .unwrap();
    let err = nc
        .update_narrative(authed(&eva, write("2", 1)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("PUBLISHED"), "{}", err.message());
    let err = nc
        .delete_improvement_opportunity(authed(
            &eva,
            apb::DeleteImprovementOpportunityRequest {
                name: a.name.clone(),
                etag: a.etag.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    // Reading goes on.
    let n = nc
        .get_narrative(authed(&maja, apb::GetNarrativeRequest { name: area1 }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(n.general_text, "Ny allmän text.");

    env.cleanup().await;
}
