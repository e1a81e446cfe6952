//! The project-management service over gRPC against real PostgreSQL and
//! Redis, checking links through the real assessment service.

use std::time::Duration;

use kompass_config::ServiceKind;
use kompass_proto::assessment::v1 as apb;
use kompass_proto::assessment::v1::evaluation_service_client::EvaluationServiceClient;
use kompass_proto::assessment::v1::framework_service_client::FrameworkServiceClient;
use kompass_proto::assessment::v1::narrative_service_client::NarrativeServiceClient;
use kompass_proto::assessment::v1::scoring_service_client::ScoringServiceClient;
use kompass_proto::projects::v1 as pb;
use kompass_proto::projects::v1::project_service_client::ProjectServiceClient;
use kompass_proto::tenancy::v1 as tpb;
use kompass_serve::Running;
use kompass_tests::{TestEnv, authed, user};
use prost::Message;
use tonic::Code;
use tonic::transport::Channel;

const FW: &str = "frameworks/kommunkompassen/versions/2015";

type Client = ProjectServiceClient<Channel>;

fn mask(p: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: p.iter().map(|s| s.to_string()).collect(),
    })
}

/// The harness starts every service on port 0, so the projects server it
/// started cannot know where assessment listens: these tests run a projects
/// server of their own that is told the assessment address.
struct Env {
    env: TestEnv,
    projects: Running,
    anna: String,
    pia: String,
    maja: String,
    bertil: String,
    eva: String,
    op: String,
}

impl Env {
    async fn start() -> Env {
        let env = TestEnv::start().await;
        env.onboard("ostra").await;
        env.onboard("vastra").await;
        env.member("anna", "ostra", tpb::TenantRole::TenantAdmin)
            .await;
        env.member("pia", "ostra", tpb::TenantRole::Member).await;
        env.member("maja", "ostra", tpb::TenantRole::Member).await;
        env.member("bertil", "vastra", tpb::TenantRole::TenantAdmin)
            .await;
        user(&env, "eva", &[tpb::PlatformRole::Evaluator]).await;
        let mut p = env.platform.clone();
        p.cfg.services.assessment = Some(env.url(ServiceKind::Assessment));
        let projects = kompass_serve::start(&p, &[ServiceKind::Projects], |_| 0)
            .await
            .unwrap();
        Env {
            anna: env.token("anna", &[]),
            pia: env.token("pia", &[]),
            maja: env.token("maja", &[]),
            bertil: env.token("bertil", &[]),
            eva: env.token("eva", &["evaluator"]),
            op: env.token("operator", &["operator"]),
            env,
            projects,
        }
    }

    async fn client(&self) -> Client {
        ProjectServiceClient::new(
            Channel::from_shared(self.projects.url(ServiceKind::Projects))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        )
    }

    async fn cleanup(self) {
        self.projects.shutdown().await;
        self.env.cleanup().await;
    }
}

/// A self-assessment of `tenant` with improvement opportunities, published.
/// Returns the evaluation and its opportunity names.
async fn published(
    env: &TestEnv,
    tenant: &str,
    tok: &str,
    texts: &[&str],
) -> (String, Vec<String>) {
    let ch = env.channel(ServiceKind::Assessment).await;
    let mut ev = EvaluationServiceClient::new(ch.clone());
    let mut nc = NarrativeServiceClient::new(ch.clone());
    let mut sc = ScoringServiceClient::new(ch.clone());
    let e = unpublished(env, tenant, tok).await;
    let mut opps = vec![];
    for (i, t) in texts.iter().enumerate() {
        let area = format!("{}", i % 8 + 1);
        let o = nc
            .create_improvement_opportunity(authed(
                tok,
                apb::CreateImprovementOpportunityRequest {
                    parent: e.clone(),
                    improvement_opportunity: Some(apb::ImprovementOpportunity {
                        area: area.clone(),
                        text: t.to_string(),
                        questions: vec![format!("{area}.1")],
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        opps.push(o.name);
    }
    use apb::evaluation::State;
    for to in [State::Fieldwork, State::Scoring, State::Consensus] {
        let etag = ev
            .get_evaluation(authed(tok, apb::GetEvaluationRequest { name: e.clone() }))
            .await
            .unwrap()
            .into_inner()
            .etag;
        ev.transition_evaluation(authed(
            tok,
            apb::TransitionEvaluationRequest {
                name: e.clone(),
                to_state: to as i32,
                etag,
                reason: String::new(),
            },
        ))
        .await
        .unwrap();
    }
    let fw = FrameworkServiceClient::new(ch)
        .get_framework_version(authed(
            tok,
            apb::GetFrameworkVersionRequest { name: FW.into() },
        ))
        .await
        .unwrap()
        .into_inner();
    for q in fw.areas.iter().flat_map(|a| a.questions.iter()) {
        let cur = sc
            .get_agreed_score(authed(
                tok,
                apb::GetAgreedScoreRequest {
                    name: format!("{e}/agreedScores/{}", q.id),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        sc.update_agreed_score(authed(
            tok,
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
    let etag = ev
        .get_evaluation(authed(tok, apb::GetEvaluationRequest { name: e.clone() }))
        .await
        .unwrap()
        .into_inner()
        .etag;
    ev.publish_evaluation(authed(
        tok,
        apb::PublishEvaluationRequest {
            name: e.clone(),
            etag,
        },
    ))
    .await
    .unwrap();
    (e, opps)
}

async fn unpublished(env: &TestEnv, tenant: &str, tok: &str) -> String {
    EvaluationServiceClient::new(env.channel(ServiceKind::Assessment).await)
        .create_evaluation(authed(
            tok,
            apb::CreateEvaluationRequest {
                parent: format!("tenants/{tenant}"),
                evaluation: Some(apb::Evaluation {
                    title: "Självskattning 2026".into(),
                    kind: apb::EvaluationKind::SelfAssessment as i32,
                    framework_version: FW.into(),
                    evaluation_date: "2026-10-01".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .name
}

fn goal(title: &str) -> pb::Goal {
    pb::Goal {
        title: title.into(),
        indicator: "Andel e-tjänster".into(),
        baseline: "20 %".into(),
        target: "60 %".into(),
        target_date: "2027-12-31".into(),
        ..Default::default()
    }
}

fn new_project(title: &str) -> pb::Project {
    pb::Project {
        title: title.into(),
        kind: pb::project::Kind::Project as i32,
        start_date: "2026-01-01".into(),
        end_date: "2027-12-31".into(),
        plan: Some(pb::Plan {
            background: "Kommunkompassen 2026 visade brister.".into(),
            purpose: "Bättre invånardialog.".into(),
            effect_goal: "Invånarna upplever att de kan påverka.".into(),
            result_goals: vec![goal("Digital dialog")],
            strategies: vec!["Börja i en förvaltning".into()],
            delimitations: vec!["Gäller inte bolagen".into()],
            prerequisites: vec!["Beslut i KS".into()],
            budget_lines: vec![pb::BudgetLine {
                description: "Utbildning".into(),
                amount: "85000.50".into(),
                currency: pb::Currency::Sek as i32,
                funder: "Kommunstyrelsen".into(),
            }],
        }),
        organisation: Some(pb::Organisation {
            owner: Some(pb::Person {
                user: "users/anna".into(),
                role: "beställare".into(),
                ..Default::default()
            }),
            project_manager: Some(pb::Person {
                user: "users/pia".into(),
                ..Default::default()
            }),
            steering_group: vec![pb::Person {
                display_name: "Kommundirektören".into(),
                role: "ordförande".into(),
                ..Default::default()
            }],
            working_group: vec![pb::Person {
                user: "users/maja".into(),
                role: "handläggare".into(),
                ..Default::default()
            }],
            reference_groups: vec![pb::ReferenceGroup {
                title: "Medborgarpanel".into(),
                members: vec![pb::Person {
                    display_name: "Extern Person".into(),
                    ..Default::default()
                }],
            }],
            ..Default::default()
        }),
        communications: vec![pb::Communication {
            measure: "Information på APT".into(),
            target_group: "Medarbetare".into(),
            when: "vecka 12".into(),
            status: pb::WorkStatus::NotStarted as i32,
            remarks: String::new(),
        }],
        ..Default::default()
    }
}

async fn create(c: &mut Client, tok: &str, p: pb::Project) -> Result<pb::Project, tonic::Status> {
    c.create_project(authed(
        tok,
        pb::CreateProjectRequest {
            parent: "tenants/ostra".into(),
            project: Some(p),
        },
    ))
    .await
    .map(|r| r.into_inner())
}

async fn get(c: &mut Client, tok: &str, name: &str, view: pb::ProjectView) -> pb::Project {
    c.get_project(authed(
        tok,
        pb::GetProjectRequest {
            name: name.into(),
            view: view as i32,
        },
    ))
    .await
    .unwrap()
    .into_inner()
}

async fn count(c: &mut Client, tok: &str) -> usize {
    c.list_projects(authed(
        tok,
        pb::ListProjectsRequest {
            parent: "tenants/ostra".into(),
            page_size: 1000,
            page_token: String::new(),
        },
    ))
    .await
    .unwrap()
    .into_inner()
    .projects
    .len()
}

async fn milestone(
    c: &mut Client,
    tok: &str,
    project: &str,
    title: &str,
    due: &str,
) -> pb::Milestone {
    c.create_milestone(authed(
        tok,
        pb::CreateMilestoneRequest {
            parent: project.into(),
            milestone: Some(pb::Milestone {
                title: title.into(),
                due_date: due.into(),
                responsible: "users/pia".into(),
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap()
    .into_inner()
}

async fn decide(
    c: &mut Client,
    tok: &str,
    p: &pb::Project,
    verdict: pb::Verdict,
    phase: pb::Phase,
) -> Result<pb::Project, tonic::Status> {
    c.decide_project_phase(authed(
        tok,
        pb::DecideProjectPhaseRequest {
            name: p.name.clone(),
            verdict: verdict as i32,
            phase: phase as i32,
            decision: format!("Beslut om {}", phase.as_str_name()),
            etag: p.etag.clone(),
        },
    ))
    .await
    .map(|r| r.into_inner())
}

#[tokio::test]
async fn project_from_published_improvement_opportunities_through_assessment() {
    let e = Env::start().await;
    let mut c = e.client().await;
    let (eval, opps) = published(
        &e.env,
        "ostra",
        &e.anna,
        &[
            "Ta fram en demokratiplan.",
            "Mät bemötande.",
            "Inför synpunktshantering.",
            "Följ upp mål.",
        ],
    )
    .await;
    let (foreign_eval, foreign_opps) =
        published(&e.env, "vastra", &e.bertil, &["Västras möjlighet."]).await;

    // Three of four opportunities and a question of the published evaluation.
    let mut p = new_project("Invånardialog");
    p.improvement_opportunities = opps[..3].to_vec();
    p.questions = vec![format!("{eval}/questions/1.4")];
    let created = create(&mut c, &e.anna, p.clone()).await.unwrap();
    let mut want = opps[..3].to_vec();
    want.sort();
    assert_eq!(created.improvement_opportunities, want);
    assert_eq!(created.questions, [format!("{eval}/questions/1.4")]);
    assert_eq!(created.phase, pb::Phase::Idea as i32);
    let plan = created.plan.clone().unwrap();
    assert_eq!(plan.budget_lines[0].amount, "85000.50");
    assert_eq!(plan.result_goals[0].id.len(), 32);
    let org = created.organisation.clone().unwrap();
    assert_eq!(org.project_manager.unwrap().user, "users/pia");

    // Another tenant's opportunity: NOT_FOUND, nothing stored.
    let before = count(&mut c, &e.anna).await;
    let mut bad = new_project("Lånad möjlighet");
    bad.improvement_opportunities = vec![foreign_opps[0].clone()];
    let err = create(&mut c, &e.anna, bad).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{}", err.message());
    // Even for an operator who can see both tenants.
    let mut bad = new_project("Lånad möjlighet");
    bad.improvement_opportunities = vec![
        foreign_opps[0]
            .clone()
            .replace("tenants/vastra", "tenants/ostra"),
    ];
    let err = create(&mut c, &e.op, bad).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::InvalidArgument | Code::NotFound),
        "{err:?}"
    );
    // Unknown opportunity of our own evaluation: INVALID_ARGUMENT.
    let mut bad = new_project("Påhittad möjlighet");
    bad.improvement_opportunities = vec![format!("{eval}/opportunities/nosuchthing")];
    let err = create(&mut c, &e.anna, bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    // Unknown question.
    let mut bad = new_project("Påhittad fråga");
    bad.questions = vec![format!("{eval}/questions/9.9")];
    let err = create(&mut c, &e.anna, bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    // Unknown evaluation.
    let mut bad = new_project("Påhittad utvärdering");
    bad.improvement_opportunities = vec!["tenants/ostra/evaluations/nope/opportunities/x".into()];
    let err = create(&mut c, &e.anna, bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    // An evaluation that is not published.
    let draft = unpublished(&e.env, "ostra", &e.anna).await;
    let mut bad = new_project("Utkast");
    bad.questions = vec![format!("{draft}/questions/1.1")];
    let err = create(&mut c, &e.anna, bad).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{}", err.message());
    assert!(err.message().contains("DRAFT"), "{}", err.message());
    assert_eq!(count(&mut c, &e.anna).await, before);

    // Linking later through UpdateProject is checked the same way.
    let err = c
        .update_project(authed(
            &e.anna,
            pb::UpdateProjectRequest {
                project: Some(pb::Project {
                    name: created.name.clone(),
                    etag: created.etag.clone(),
                    improvement_opportunities: vec![foreign_opps[0].clone()],
                    ..Default::default()
                }),
                update_mask: mask(&["improvement_opportunities"]),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // A second project addresses one of the same opportunities.
    let mut p2 = new_project("Bemötande");
    p2.improvement_opportunities = vec![opps[1].clone()];
    let second = create(&mut c, &e.anna, p2).await.unwrap();

    // Coverage: every opportunity with its projects; the fourth has none.
    let cov = c
        .get_evaluation_coverage(authed(
            &e.maja,
            pb::GetEvaluationCoverageRequest {
                evaluation: eval.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cov.opportunities.len(), 4);
    assert_eq!(cov.unaddressed, [opps[3].clone()]);
    for o in &cov.opportunities {
        let names: Vec<&str> = o.projects.iter().map(|p| p.name.as_str()).collect();
        if o.improvement_opportunity == opps[1] {
            assert_eq!(names.len(), 2);
            assert!(names.contains(&second.name.as_str()));
        } else if o.improvement_opportunity == opps[3] {
            assert!(names.is_empty());
        } else {
            assert_eq!(names, [created.name.as_str()]);
            assert_eq!(o.projects[0].phase, pb::Phase::Idea as i32);
        }
        assert!(!o.text.is_empty());
    }
    // Another tenant's evaluation: no coverage for ostra's people.
    let err = c
        .get_evaluation_coverage(authed(
            &e.anna,
            pb::GetEvaluationCoverageRequest {
                evaluation: foreign_eval,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    e.cleanup().await;
}

#[tokio::test]
async fn phases_in_order_by_the_owner_with_events() {
    let e = Env::start().await;
    let mut c = e.client().await;
    let mut p = create(&mut c, &e.anna, new_project("Ledarutveckling"))
        .await
        .unwrap();

    // Skipping a phase.
    let err = decide(
        &mut c,
        &e.anna,
        &p,
        pb::Verdict::Proceed,
        pb::Phase::Planning,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("IDEA"), "{}", err.message());
    // Completing before closure.
    let err = decide(
        &mut c,
        &e.anna,
        &p,
        pb::Verdict::Complete,
        pb::Phase::Unspecified,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    // The project manager and members do not decide.
    for tok in [&e.pia, &e.maja] {
        let err = decide(&mut c, tok, &p, pb::Verdict::Proceed, pb::Phase::PreStudy)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
    }
    // Stale etag.
    let mut stale = p.clone();
    stale.etag = "0".into();
    let err = decide(
        &mut c,
        &e.anna,
        &stale,
        pb::Verdict::Proceed,
        pb::Phase::PreStudy,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);

    // The owner goes through every phase and completes it.
    for ph in [
        pb::Phase::PreStudy,
        pb::Phase::Planning,
        pb::Phase::Execution,
        pb::Phase::Closure,
    ] {
        p = decide(&mut c, &e.anna, &p, pb::Verdict::Proceed, ph)
            .await
            .unwrap();
        assert_eq!(p.phase, ph as i32);
    }
    let err = decide(
        &mut c,
        &e.anna,
        &p,
        pb::Verdict::Proceed,
        pb::Phase::Closure,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    p = decide(
        &mut c,
        &e.anna,
        &p,
        pb::Verdict::Complete,
        pb::Phase::Unspecified,
    )
    .await
    .unwrap();
    assert_eq!(p.outcome, pb::Outcome::Completed as i32);
    assert_eq!(p.decisions.len(), 5);
    assert_eq!(p.decisions[0].from_phase, pb::Phase::Idea as i32);
    assert_eq!(p.decisions[0].to_phase, pb::Phase::PreStudy as i32);
    assert_eq!(p.decisions[0].decided_by, "users/anna");
    assert!(p.decisions[0].decide_time.is_some());
    assert_eq!(p.decisions[4].verdict, pb::Verdict::Complete as i32);
    let err = decide(
        &mut c,
        &e.anna,
        &p,
        pb::Verdict::Discontinue,
        pb::Phase::Unspecified,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    // Discontinuing another project from its idea phase.
    let q = create(&mut c, &e.op, new_project("Nedlagt")).await.unwrap();
    let q = decide(
        &mut c,
        &e.op,
        &q,
        pb::Verdict::Discontinue,
        pb::Phase::Unspecified,
    )
    .await
    .unwrap();
    assert_eq!(q.outcome, pb::Outcome::Discontinued as i32);

    // Five phase changes of p, one of q, arrive on stream "projects".
    let bus = e.env.platform.bus.clone();
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..50 {
        for d in bus
            .read("projects", "test", "c1", 50, Duration::from_millis(200))
            .await
            .unwrap()
        {
            bus.ack("projects", "test", &d.entry_id).await.unwrap();
            // Creations come as `project.changed`; only phase changes count here.
            if d.topic == "project.changed" {
                continue;
            }
            assert_eq!(d.topic, "project.phase_changed");
            let ev = pb::ProjectPhaseChangedEvent::decode(d.payload.as_slice()).unwrap();
            seen.insert(d.event_id.clone(), ev);
        }
        if seen.len() >= 6 {
            break;
        }
    }
    assert_eq!(seen.len(), 6);
    let last = seen.values().rfind(|ev| ev.project == p.name).unwrap();
    assert_eq!(last.outcome, pb::Outcome::Completed as i32);
    // Each carries the portfolio summary after the decision, in sequence.
    let sums: Vec<&pb::PortfolioSummary> = seen
        .values()
        .filter(|ev| ev.project == p.name)
        .map(|ev| ev.summary.as_ref().unwrap())
        .collect();
    assert_eq!(sums.len(), 5);
    assert!(sums.windows(2).all(|w| w[0].sequence < w[1].sequence));
    assert_eq!(sums[0].phase, pb::Phase::PreStudy as i32);
    assert_eq!(sums[4].phase, pb::Phase::Closure as i32);
    assert_eq!(sums[4].outcome, pb::Outcome::Completed as i32);
    e.cleanup().await;
}

#[tokio::test]
async fn plan_milestones_risks_and_status_reports() {
    let e = Env::start().await;
    let mut c = e.client().await;
    let p = create(&mut c, &e.anna, new_project("Kvalitetsledning"))
        .await
        .unwrap();

    // Milestones and numbered activities; overdue is computed.
    let m1 = milestone(&mut c, &e.pia, &p.name, "Kartläggning", "2026-02-01").await;
    let m2 = milestone(&mut c, &e.pia, &p.name, "Införande", "2099-06-30").await;
    assert_eq!((m1.number, m2.number), (1, 2));
    assert!(m1.overdue, "due in the past, not started");
    assert!(!m2.overdue);
    let mut acts = vec![];
    for t in ["Intervjuer", "Enkät"] {
        acts.push(
            c.create_activity(authed(
                &e.pia,
                pb::CreateActivityRequest {
                    parent: m1.name.clone(),
                    activity: Some(pb::Activity {
                        title: t.into(),
                        due_date: "2026-01-20".into(),
                        responsible: "Kerstin Konsult".into(),
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap()
            .into_inner(),
        );
    }
    assert_eq!(acts[0].number, "1.1");
    assert_eq!(acts[1].number, "1.2");
    let done = c
        .update_activity(authed(
            &e.pia,
            pb::UpdateActivityRequest {
                activity: Some(pb::Activity {
                    name: acts[0].name.clone(),
                    status: pb::WorkStatus::Done as i32,
                    etag: acts[0].etag.clone(),
                    ..Default::default()
                }),
                update_mask: mask(&["status"]),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!done.overdue);
    assert!(acts[1].overdue);
    // Stale etag.
    let err = c
        .update_activity(authed(
            &e.pia,
            pb::UpdateActivityRequest {
                activity: Some(pb::Activity {
                    name: acts[0].name.clone(),
                    status: pb::WorkStatus::Cancelled as i32,
                    etag: acts[0].etag.clone(),
                    ..Default::default()
                }),
                update_mask: mask(&["status"]),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    // Members read, but do not edit.
    let err = c
        .create_milestone(authed(
            &e.maja,
            pb::CreateMilestoneRequest {
                parent: p.name.clone(),
                milestone: Some(pb::Milestone {
                    title: "x".into(),
                    due_date: "2027-03-01".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let ms = c
        .list_milestones(authed(
            &e.maja,
            pb::ListMilestonesRequest {
                parent: p.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .milestones;
    assert_eq!(ms.len(), 2);
    assert_eq!(ms[0].activities.len(), 2);

    // One risk in every cell of the matrix: value = probability × consequence.
    use pb::{Consequence as C, Probability as P};
    for pr in [P::Low, P::Medium, P::High] {
        for co in [C::Minor, C::Significant, C::Severe] {
            let r = c
                .create_risk(authed(
                    &e.pia,
                    pb::CreateRiskRequest {
                        parent: p.name.clone(),
                        risk: Some(pb::Risk {
                            title: format!("{} × {}", pr.as_str_name(), co.as_str_name()),
                            probability: pr as i32,
                            consequence: co as i32,
                            mitigations: vec!["Följ upp i styrgruppen".into()],
                            owner: "users/anna".into(),
                            ..Default::default()
                        }),
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(r.value, (pr as i32) * (co as i32));
        }
    }
    let matrix = c
        .get_risk_matrix(authed(
            &e.maja,
            pb::GetRiskMatrixRequest {
                project: p.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(matrix.cells.len(), 9);
    let values: Vec<i32> = matrix.cells.iter().map(|c| c.value).collect();
    assert_eq!(values, [1, 2, 3, 2, 4, 6, 3, 6, 9]);
    for cell in &matrix.cells {
        assert_eq!(cell.risks.len(), 1, "{cell:?}");
        let r = &cell.risks[0];
        assert_eq!(
            (r.probability, r.consequence),
            (cell.probability, cell.consequence)
        );
        assert_eq!(r.value, cell.value);
    }
    let listed = c
        .list_risks(authed(
            &e.maja,
            pb::ListRisksRequest {
                parent: p.name.clone(),
                page_size: 5,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.risks.len(), 5);
    assert_eq!(listed.risks[0].value, 9);
    assert!(!listed.next_page_token.is_empty());

    // Only the project manager files status reports.
    let goal_id = p.plan.as_ref().unwrap().result_goals[0].id.clone();
    let report = pb::StatusReport {
        period: "2027-02".into(),
        light: pb::TrafficLight::Yellow as i32,
        summary: "Kartläggningen är försenad.".into(),
        milestones: vec![pb::MilestoneReport {
            milestone: m1.name.clone(),
            light: pb::TrafficLight::Red as i32,
            comment: "Försenad".into(),
            ..Default::default()
        }],
        goals: vec![pb::GoalReport {
            goal_id: goal_id.clone(),
            light: pb::TrafficLight::Green as i32,
            comment: "35 %".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    for tok in [&e.anna, &e.maja] {
        let err = c
            .create_status_report(authed(
                tok,
                pb::CreateStatusReportRequest {
                    parent: p.name.clone(),
                    status_report: Some(report.clone()),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
    }
    let filed = c
        .create_status_report(authed(
            &e.pia,
            pb::CreateStatusReportRequest {
                parent: p.name.clone(),
                status_report: Some(report),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(filed.milestones.len(), 2);
    assert_eq!(filed.milestones[0].light, pb::TrafficLight::Red as i32);
    assert_eq!(filed.milestones[1].light, pb::TrafficLight::White as i32);
    assert_eq!(filed.milestones[0].title, "Kartläggning");
    assert_eq!(filed.goals[0].target, "60 %");
    assert_eq!(filed.author, "users/pia");

    // The plan, a milestone and the goal change afterwards ...
    let cur = get(&mut c, &e.anna, &p.name, pb::ProjectView::Basic).await;
    let mut plan = cur.plan.clone().unwrap();
    plan.result_goals[0].target = "80 %".into();
    plan.result_goals[0].title = "Digital dialog överallt".into();
    plan.purpose = "Nytt syfte.".into();
    c.update_project(authed(
        &e.anna,
        pb::UpdateProjectRequest {
            project: Some(pb::Project {
                name: p.name.clone(),
                etag: cur.etag.clone(),
                plan: Some(plan),
                ..Default::default()
            }),
            update_mask: mask(&["plan.result_goals", "plan.purpose"]),
        },
    ))
    .await
    .unwrap();
    // Stale etag on the project.
    let err = c
        .update_project(authed(
            &e.anna,
            pb::UpdateProjectRequest {
                project: Some(pb::Project {
                    name: p.name.clone(),
                    etag: cur.etag.clone(),
                    title: "Annat".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["title"]),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    c.update_milestone(authed(
        &e.pia,
        pb::UpdateMilestoneRequest {
            milestone: Some(pb::Milestone {
                name: m1.name.clone(),
                title: "Kartläggning (utökad)".into(),
                status: pb::WorkStatus::Done as i32,
                etag: m1.etag.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["title", "status"]),
        },
    ))
    .await
    .unwrap();
    // ... and the filed report is unchanged.
    let again = c
        .get_status_report(authed(
            &e.maja,
            pb::GetStatusReportRequest {
                name: filed.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, filed);
    let now = get(&mut c, &e.maja, &p.name, pb::ProjectView::Full).await;
    assert_eq!(now.plan.as_ref().unwrap().result_goals[0].target, "80 %");
    assert_eq!(now.plan.as_ref().unwrap().result_goals[0].id, goal_id);
    assert_eq!(now.status_reports, std::slice::from_ref(&filed));
    assert_eq!(now.milestones[0].title, "Kartläggning (utökad)");
    assert_eq!(now.risks.len(), 9);
    let reports = c
        .list_status_reports(authed(
            &e.maja,
            pb::ListStatusReportsRequest {
                parent: p.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reports.status_reports, [filed]);

    // The full view costs the same number of statements however big the
    // project is (one per table: no N+1).
    let statements = |r: &tonic::Response<pb::Project>| -> u64 {
        r.metadata()
            .get("x-kompass-sql-statements")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let full = |name: &str| {
        authed(
            &e.maja,
            pb::GetProjectRequest {
                name: name.into(),
                view: pb::ProjectView::Full as i32,
            },
        )
    };
    let small = statements(&c.get_project(full(&p.name)).await.unwrap());
    for i in 0..6 {
        let m = milestone(&mut c, &e.pia, &p.name, &format!("M{i}"), "2027-09-01").await;
        for j in 0..3 {
            c.create_activity(authed(
                &e.pia,
                pb::CreateActivityRequest {
                    parent: m.name.clone(),
                    activity: Some(pb::Activity {
                        title: format!("A{j}"),
                        due_date: "2027-08-01".into(),
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap();
        }
    }
    let big_resp = c.get_project(full(&p.name)).await.unwrap();
    assert_eq!(big_resp.get_ref().milestones.len(), 8);
    assert_eq!(statements(&big_resp), small);
    assert!(small <= 8, "{small} statements");

    // Deleting a milestone takes its activities.
    let m1_now = &now.milestones[0];
    c.delete_milestone(authed(
        &e.pia,
        pb::DeleteMilestoneRequest {
            name: m1_now.name.clone(),
            etag: m1_now.etag.clone(),
        },
    ))
    .await
    .unwrap();
    let after = get(&mut c, &e.maja, &p.name, pb::ProjectView::Full).await;
    assert_eq!(after.milestones.len(), 7);
    e.cleanup().await;
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_stored() {
    let e = Env::start().await;
    let mut c = e.client().await;
    let p = create(&mut c, &e.anna, new_project("Giltigt"))
        .await
        .unwrap();

    let mut empty_title = new_project("   ");
    empty_title.title = "  ".into();
    let mut bad_budget = new_project("Budget");
    bad_budget.plan.as_mut().unwrap().budget_lines[0].amount = "12,5e3".into();
    let mut no_currency = new_project("Valuta");
    no_currency.plan.as_mut().unwrap().budget_lines[0].currency = 0;
    let mut end_before_start = new_project("Datum");
    end_before_start.end_date = "2025-12-31".into();
    let mut unmeasurable = new_project("Mål");
    unmeasurable.plan.as_mut().unwrap().result_goals[0].indicator = String::new();
    let mut outside_owner = new_project("Ägare");
    outside_owner.organisation.as_mut().unwrap().owner = Some(pb::Person {
        display_name: "Kommunstyrelsen".into(),
        ..Default::default()
    });
    for bad in [
        empty_title,
        bad_budget,
        no_currency,
        end_before_start,
        unmeasurable,
        outside_owner,
    ] {
        let err = create(&mut c, &e.anna, bad.clone()).await.unwrap_err();
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "{}: {}",
            bad.title,
            err.message()
        );
    }
    assert_eq!(count(&mut c, &e.anna).await, 1);

    // Budget "12,5e3" on update: refused, the stored plan unchanged.
    let mut plan = p.plan.clone().unwrap();
    plan.budget_lines[0].amount = "12,5e3".into();
    let err = c
        .update_project(authed(
            &e.anna,
            pb::UpdateProjectRequest {
                project: Some(pb::Project {
                    name: p.name.clone(),
                    etag: p.etag.clone(),
                    plan: Some(plan),
                    ..Default::default()
                }),
                update_mask: mask(&["plan.budget_lines"]),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("12,5e3"), "{}", err.message());
    let cur = get(&mut c, &e.anna, &p.name, pb::ProjectView::Basic).await;
    assert_eq!(cur.etag, p.etag);
    assert_eq!(cur.plan.unwrap().budget_lines[0].amount, "85000.50");

    // Swedish messages.
    let mut req = authed(
        &e.anna,
        pb::CreateProjectRequest {
            parent: "tenants/ostra".into(),
            project: Some(pb::Project::default()),
        },
    );
    req.metadata_mut()
        .insert("accept-language", "sv".parse().unwrap());
    let err = c.create_project(req).await.unwrap_err();
    assert!(err.message().contains("krävs"), "{}", err.message());

    // Due date before the project starts; missing due date.
    for due in ["2025-12-31", "", "2027-02-30"] {
        let err = c
            .create_milestone(authed(
                &e.pia,
                pb::CreateMilestoneRequest {
                    parent: p.name.clone(),
                    milestone: Some(pb::Milestone {
                        title: "Tidig".into(),
                        due_date: due.into(),
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{due}");
    }
    let m = milestone(&mut c, &e.pia, &p.name, "Rätt", "2027-05-01").await;
    let err = c
        .create_activity(authed(
            &e.pia,
            pb::CreateActivityRequest {
                parent: m.name.clone(),
                activity: Some(pb::Activity {
                    title: "Tidig aktivitet".into(),
                    due_date: "2025-06-01".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // Probability and consequence out of range.
    for (pr, co) in [(0, 1), (4, 1), (1, 0), (2, 7), (-1, 2)] {
        let err = c
            .create_risk(authed(
                &e.pia,
                pb::CreateRiskRequest {
                    parent: p.name.clone(),
                    risk: Some(pb::Risk {
                        title: "Risk".into(),
                        probability: pr,
                        consequence: co,
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{pr} {co}");
    }
    // A status report without a traffic light, or with an unknown milestone.
    for rep in [
        pb::StatusReport {
            period: "2027-03".into(),
            ..Default::default()
        },
        pb::StatusReport {
            period: "2027-03".into(),
            light: pb::TrafficLight::Green as i32,
            milestones: vec![pb::MilestoneReport {
                milestone: format!("{}/milestones/nope", p.name),
                ..Default::default()
            }],
            ..Default::default()
        },
        pb::StatusReport {
            period: String::new(),
            light: pb::TrafficLight::Green as i32,
            ..Default::default()
        },
    ] {
        let err = c
            .create_status_report(authed(
                &e.pia,
                pb::CreateStatusReportRequest {
                    parent: p.name.clone(),
                    status_report: Some(rep),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    }
    let full = get(&mut c, &e.anna, &p.name, pb::ProjectView::Full).await;
    assert_eq!(full.milestones.len(), 1);
    assert!(full.milestones[0].activities.is_empty());
    assert!(full.risks.is_empty());
    assert!(full.status_reports.is_empty());
    e.cleanup().await;
}

#[tokio::test]
async fn tenant_isolation_for_every_call() {
    let e = Env::start().await;
    let mut c = e.client().await;
    let p = create(&mut c, &e.anna, new_project("Östras projekt"))
        .await
        .unwrap();
    let m = milestone(&mut c, &e.pia, &p.name, "M", "2027-05-01").await;
    let a = c
        .create_activity(authed(
            &e.pia,
            pb::CreateActivityRequest {
                parent: m.name.clone(),
                activity: Some(pb::Activity {
                    title: "A".into(),
                    due_date: "2027-04-01".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let r = c
        .create_risk(authed(
            &e.pia,
            pb::CreateRiskRequest {
                parent: p.name.clone(),
                risk: Some(pb::Risk {
                    title: "R".into(),
                    probability: 2,
                    consequence: 2,
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let s = c
        .create_status_report(authed(
            &e.pia,
            pb::CreateStatusReportRequest {
                parent: p.name.clone(),
                status_report: Some(pb::StatusReport {
                    period: "2027-01".into(),
                    light: pb::TrafficLight::Green as i32,
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    // Västra's admin, and an evaluator who is no member, get PERMISSION_DENIED
    // on every call about Östra; the same ids under Västra's name are NOT_FOUND.
    let eval = "tenants/ostra/evaluations/whatever".to_string();
    for (tok, wanted) in [
        (&e.bertil, Code::PermissionDenied),
        (&e.eva, Code::PermissionDenied),
    ] {
        let codes = all_calls(&mut c, tok, &p, &m, &a, &r, &s, &eval).await;
        for (call, code) in codes {
            assert_eq!(code, wanted, "{call}");
        }
    }
    let swap = |n: &str| n.replace("tenants/ostra", "tenants/vastra");
    let (vp, vm, va, vr, vs) = (
        pb::Project {
            name: swap(&p.name),
            ..p.clone()
        },
        pb::Milestone {
            name: swap(&m.name),
            ..m.clone()
        },
        pb::Activity {
            name: swap(&a.name),
            ..a.clone()
        },
        pb::Risk {
            name: swap(&r.name),
            ..r.clone()
        },
        pb::StatusReport {
            name: swap(&s.name),
            ..s.clone()
        },
    );
    let codes = all_calls(&mut c, &e.bertil, &vp, &vm, &va, &vr, &vs, "").await;
    for (call, code) in codes {
        if call == "CreateProject" || call == "ListProjects" || call == "GetEvaluationCoverage" {
            continue;
        }
        assert_eq!(code, Code::NotFound, "{call}");
    }
    // Östra's data is intact and Västra lists nothing.
    let full = get(&mut c, &e.maja, &p.name, pb::ProjectView::Full).await;
    assert_eq!(full.title, "Östras projekt");
    assert_eq!(full.milestones.len(), 1);
    assert_eq!(full.risks.len(), 1);
    assert_eq!(full.status_reports.len(), 1);
    let theirs = c
        .list_projects(authed(
            &e.bertil,
            pb::ListProjectsRequest {
                parent: "tenants/vastra".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(theirs.projects.is_empty());
    e.cleanup().await;
}

/// Every RPC once against the given resources; the status code of each.
#[allow(clippy::too_many_arguments)]
async fn all_calls(
    c: &mut Client,
    tok: &str,
    p: &pb::Project,
    m: &pb::Milestone,
    a: &pb::Activity,
    r: &pb::Risk,
    s: &pb::StatusReport,
    eval: &str,
) -> Vec<(&'static str, Code)> {
    fn code<T>(r: Result<tonic::Response<T>, tonic::Status>) -> Code {
        match r {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        }
    }
    let mut out = vec![];
    out.push((
        "CreateProject",
        code(
            c.create_project(authed(
                tok,
                pb::CreateProjectRequest {
                    parent: "tenants/ostra".into(),
                    project: Some(new_project("Intrång")),
                },
            ))
            .await,
        ),
    ));
    out.push((
        "GetProject",
        code(
            c.get_project(authed(
                tok,
                pb::GetProjectRequest {
                    name: p.name.clone(),
                    view: pb::ProjectView::Full as i32,
                },
            ))
            .await,
        ),
    ));
    out.push((
        "ListProjects",
        code(
            c.list_projects(authed(
                tok,
                pb::ListProjectsRequest {
                    parent: "tenants/ostra".into(),
                    ..Default::default()
                },
            ))
            .await,
        ),
    ));
    out.push((
        "UpdateProject",
        code(
            c.update_project(authed(
                tok,
                pb::UpdateProjectRequest {
                    project: Some(pb::Project {
                        title: "Kapat".into(),
                        ..p.clone()
                    }),
                    update_mask: mask(&["title"]),
                },
            ))
            .await,
        ),
    ));
    out.push((
        "DecideProjectPhase",
        code(
            c.decide_project_phase(authed(
                tok,
                pb::DecideProjectPhaseRequest {
                    name: p.name.clone(),
                    verdict: pb::Verdict::Discontinue as i32,
                    phase: 0,
                    decision: "Stoppa".into(),
                    etag: p.etag.clone(),
                },
            ))
            .await,
        ),
    ));
    if !eval.is_empty() {
        out.push((
            "GetEvaluationCoverage",
            code(
                c.get_evaluation_coverage(authed(
                    tok,
                    pb::GetEvaluationCoverageRequest {
                        evaluation: eval.into(),
                    },
                ))
                .await,
            ),
        ));
    }
    out.push((
        "CreateMilestone",
        code(
            c.create_milestone(authed(
                tok,
                pb::CreateMilestoneRequest {
                    parent: p.name.clone(),
                    milestone: Some(pb::Milestone {
                        title: "x".into(),
                        due_date: "2027-06-01".into(),
                        ..Default::default()
                    }),
                },
            ))
            .await,
        ),
    ));
    out.push((
        "ListMilestones",
        code(
            c.list_milestones(authed(
                tok,
                pb::ListMilestonesRequest {
                    parent: p.name.clone(),
                    ..Default::default()
                },
            ))
            .await,
        ),
    ));
    out.push((
        "UpdateMilestone",
        code(
            c.update_milestone(authed(
                tok,
                pb::UpdateMilestoneRequest {
                    milestone: Some(pb::Milestone {
                        title: "Kapad".into(),
                        ..m.clone()
                    }),
                    update_mask: mask(&["title"]),
                },
            ))
            .await,
        ),
    ));
    out.push((
        "CreateActivity",
        code(
            c.create_activity(authed(
                tok,
                pb::CreateActivityRequest {
                    parent: m.name.clone(),
                    activity: Some(pb::Activity {
                        title: "x".into(),
                        due_date: "2027-06-01".into(),
                        ..Default::default()
                    }),
                },
            ))
            .await,
        ),
    ));
    out.push((
        "UpdateActivity",
        code(
            c.update_activity(authed(
                tok,
                pb::UpdateActivityRequest {
                    activity: Some(pb::Activity {
                        title: "Kapad".into(),
                        ..a.clone()
                    }),
                    update_mask: mask(&["title"]),
                },
            ))
            .await,
        ),
    ));
    out.push((
        "DeleteActivity",
        code(
            c.delete_activity(authed(
                tok,
                pb::DeleteActivityRequest {
                    name: a.name.clone(),
                    etag: a.etag.clone(),
                },
            ))
            .await,
        ),
    ));
    out.push((
        "CreateRisk",
        code(
            c.create_risk(authed(
                tok,
                pb::CreateRiskRequest {
                    parent: p.name.clone(),
                    risk: Some(pb::Risk {
                        title: "x".into(),
                        probability: 1,
                        consequence: 1,
                        ..Default::default()
                    }),
                },
            ))
            .await,
        ),
    ));
    out.push((
        "ListRisks",
        code(
            c.list_risks(authed(
                tok,
                pb::ListRisksRequest {
                    parent: p.name.clone(),
                    ..Default::default()
                },
            ))
            .await,
        ),
    ));
    out.push((
        "UpdateRisk",
        code(
            c.update_risk(authed(
                tok,
                pb::UpdateRiskRequest {
                    risk: Some(pb::Risk {
                        probability: 3,
                        ..r.clone()
                    }),
                    update_mask: mask(&["probability"]),
                },
            ))
            .await,
        ),
    ));
    out.push((
        "GetRiskMatrix",
        code(
            c.get_risk_matrix(authed(
                tok,
                pb::GetRiskMatrixRequest {
                    project: p.name.clone(),
                },
            ))
            .await,
        ),
    ));
    out.push((
        "DeleteRisk",
        code(
            c.delete_risk(authed(
                tok,
                pb::DeleteRiskRequest {
                    name: r.name.clone(),
                    etag: r.etag.clone(),
                },
            ))
            .await,
        ),
    ));
    out.push((
        "CreateStatusReport",
        code(
            c.create_status_report(authed(
                tok,
                pb::CreateStatusReportRequest {
                    parent: p.name.clone(),
                    status_report: Some(pb::StatusReport {
                        period: "x".into(),
                        light: 1,
                        ..Default::default()
                    }),
                },
            ))
            .await,
        ),
    ));
    out.push((
        "GetStatusReport",
        code(
            c.get_status_report(authed(
                tok,
                pb::GetStatusReportRequest {
                    name: s.name.clone(),
                },
            ))
            .await,
        ),
    ));
    out.push((
        "ListStatusReports",
        code(
            c.list_status_reports(authed(
                tok,
                pb::ListStatusReportsRequest {
                    parent: p.name.clone(),
                    ..Default::default()
                },
            ))
            .await,
        ),
    ));
    out.push((
        "DeleteMilestone",
        code(
            c.delete_milestone(authed(
                tok,
                pb::DeleteMilestoneRequest {
                    name: m.name.clone(),
                    etag: m.etag.clone(),
                },
            ))
            .await,
        ),
    ));
    out
}

async fn risk(
    c: &mut Client,
    tok: &str,
    p: &pb::Project,
    pr: pb::Probability,
    co: pb::Consequence,
) {
    c.create_risk(authed(
        tok,
        pb::CreateRiskRequest {
            parent: p.name.clone(),
            risk: Some(pb::Risk {
                title: format!("{} × {}", pr.as_str_name(), co.as_str_name()),
                probability: pr as i32,
                consequence: co as i32,
                owner: "users/anna".into(),
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap();
}

async fn portfolio(
    env: &TestEnv,
    tok: &str,
    name: &str,
    evaluation: &str,
) -> Result<kompass_proto::reporting::v1::Portfolio, tonic::Status> {
    env.reporting()
        .await
        .get_portfolio(authed(
            tok,
            kompass_proto::reporting::v1::GetPortfolioRequest {
                name: name.into(),
                evaluation: evaluation.into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// The portfolio in the reporting service follows the projects' events.
#[tokio::test]
async fn portfolio_follows_project_events_idempotently_per_tenant() {
    let e = Env::start().await;
    let mut c = e.client().await;
    let (ev, opps) = published(
        &e.env,
        "ostra",
        &e.anna,
        &["Medborgardialog", "Digitala tjänster", "Chefsstöd"],
    )
    .await;

    let mut p1 = new_project("Dialog");
    p1.improvement_opportunities = vec![opps[0].clone(), opps[1].clone()];
    let p1 = create(&mut c, &e.anna, p1).await.unwrap();
    let mut p2 = new_project("E-tjänster");
    p2.improvement_opportunities = vec![opps[0].clone()];
    let p2 = create(&mut c, &e.anna, p2).await.unwrap();
    let p3 = create(&mut c, &e.anna, new_project("Idé")).await.unwrap();
    use pb::{Consequence as C, Probability as P};
    risk(&mut c, &e.pia, &p1, P::High, C::Severe).await;
    risk(&mut c, &e.pia, &p1, P::High, C::Severe).await;
    risk(&mut c, &e.pia, &p1, P::Low, C::Minor).await;
    risk(&mut c, &e.pia, &p2, P::High, C::Severe).await;
    decide(
        &mut c,
        &e.anna,
        &p1,
        pb::Verdict::Proceed,
        pb::Phase::PreStudy,
    )
    .await
    .unwrap();
    let goal_id = p2.plan.as_ref().unwrap().result_goals[0].id.clone();
    c.create_status_report(authed(
        &e.pia,
        pb::CreateStatusReportRequest {
            parent: p2.name.clone(),
            status_report: Some(pb::StatusReport {
                period: "2027-01".into(),
                light: pb::TrafficLight::Red as i32,
                goals: vec![pb::GoalReport {
                    goal_id,
                    light: pb::TrafficLight::Red as i32,
                    ..Default::default()
                }],
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap();

    // Eventually consistent: wait until the last change is in.
    let mut got = None;
    for _ in 0..150 {
        let p = portfolio(&e.env, &e.anna, "tenants/ostra/portfolio", "")
            .await
            .unwrap();
        let done = p.projects.len() == 3
            && p.projects.iter().any(|x| {
                x.project == p1.name && x.phase == pb::Phase::PreStudy as i32 && x.risk_count == 3
            })
            && p.projects
                .iter()
                .any(|x| x.project == p2.name && x.traffic_light == pb::TrafficLight::Red as i32);
        if done {
            got = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let p = got.expect("the portfolio caught up with the project events");
    assert_eq!(p.name, "tenants/ostra/portfolio");
    assert_eq!(p.evaluation, ev);
    // Projects by phase and traffic light.
    let counts: Vec<(i32, i32, i32)> = p
        .phase_counts
        .iter()
        .map(|x| (x.phase, x.traffic_light, x.count))
        .collect();
    assert_eq!(
        counts,
        vec![
            (pb::Phase::Idea as i32, 0, 1),
            (pb::Phase::Idea as i32, pb::TrafficLight::Red as i32, 1),
            (pb::Phase::PreStudy as i32, 0, 1),
        ]
    );
    // The heat map sums over projects.
    assert_eq!(p.heat_map.len(), 9);
    for cell in &p.heat_map {
        let want = match (cell.probability, cell.consequence) {
            (3, 3) => (3, 2),
            (1, 1) => (1, 1),
            _ => (0, 0),
        };
        assert_eq!((cell.risk_count, cell.project_count), want, "{cell:?}");
        assert_eq!(cell.risk_value, cell.probability * cell.consequence);
    }
    // Opportunities with and without projects.
    let addressed: Vec<(String, Vec<String>)> = p
        .addressed_opportunities
        .iter()
        .map(|o| (o.name.clone(), o.projects.clone()))
        .collect();
    let mut both = vec![p1.name.clone(), p2.name.clone()];
    both.sort();
    assert_eq!(
        addressed,
        vec![
            (opps[0].clone(), both),
            (opps[1].clone(), vec![p1.name.clone()]),
        ]
    );
    assert_eq!(p.unaddressed_opportunities.len(), 1);
    assert_eq!(p.unaddressed_opportunities[0].name, opps[2]);
    assert_eq!(p.unaddressed_opportunities[0].text, "Chefsstöd");
    assert!(
        p.projects
            .iter()
            .any(|x| x.project == p3.name && x.risk_count == 0)
    );

    // An old summary delivered late, and a redelivered newest one, change nothing.
    let stale = pb::ProjectChangedEvent {
        summary: Some(pb::PortfolioSummary {
            project: p1.name.clone(),
            title: "Gammal titel".into(),
            phase: pb::Phase::Idea as i32,
            sequence: 1,
            ..Default::default()
        }),
    };
    let rep = e.env.platform.reporting();
    assert!(
        rep.handle("late-1", "project.changed", &stale.encode_to_vec())
            .await
    );
    assert!(
        rep.handle("late-1", "project.changed", &stale.encode_to_vec())
            .await
    );
    let again = portfolio(&e.env, &e.anna, "tenants/ostra/portfolio", "")
        .await
        .unwrap();
    assert_eq!(again, p);

    // The same evaluation named explicitly gives the same figures.
    assert_eq!(
        portfolio(&e.env, &e.pia, "tenants/ostra/portfolio", &ev)
            .await
            .unwrap(),
        p
    );
    assert!(
        portfolio(&e.env, &e.op, "tenants/ostra/portfolio", "")
            .await
            .is_ok()
    );
    // Other tenants' users and evaluators are refused; the other tenant's
    // portfolio holds none of these projects.
    for tok in [&e.bertil, &e.eva] {
        let err = portfolio(&e.env, tok, "tenants/ostra/portfolio", "")
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    }
    let theirs = portfolio(&e.env, &e.bertil, "tenants/vastra/portfolio", "")
        .await
        .unwrap();
    assert!(theirs.projects.is_empty());
    assert!(theirs.evaluation.is_empty());
    assert!(theirs.heat_map.iter().all(|x| x.risk_count == 0));
    let err = portfolio(&e.env, "", "tenants/ostra/portfolio", "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    for (name, evaluation) in [
        ("tenants/ostra/portfolio", "tenants/vastra/evaluations/x"),
        ("tenants/OSTRA/portfolio", ""),
        ("tenants/ostra/projects", ""),
    ] {
        let err = portfolio(&e.env, &e.op, name, evaluation)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{name} {evaluation}");
    }
    let err = portfolio(
        &e.env,
        &e.anna,
        "tenants/ostra/portfolio",
        "tenants/ostra/evaluations/none",
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    e.cleanup().await;
}
