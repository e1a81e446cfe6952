//! Documents on the Typst engine, through the real services: every document
//! in every language from a full evaluation (all texts, strengths,
//! opportunities, key figures) and from an imported one (numbers only), read
//! back with poppler (`pdftotext`, `pdfinfo`).

use std::time::{Duration, Instant};

use kompass_proto::assessment::v1 as apb;
use kompass_proto::reporting::v1 as rpb;
use kompass_proto::reporting::v1::reporting_service_client::ReportingServiceClient;
use kompass_proto::tenancy::v1 as tpb;
use kompass_tests::{TestEnv, authed, poppler};
use prost::Message;
use tonic::Code;
use tonic::transport::Channel;

const FW: &str = "frameworks/kommunkompassen/versions/2015";
const LANGS: [&str; 3] = ["sv", "en", "nb"];

/// Where the imported results come from, as the import states it.
const IMPORT_SOURCE: &str = "Kommunkompassen 2016, SKR:s rapport";

/// Typst markup, math and escapes an evaluator might type; must come out literally.
pub const INJECTION: &str = r#"#panic("x") [*b*] $x^2$ \ #{1+1} #set"#;

async fn onboard(env: &TestEnv, id: &str, name: &str, code: &str) {
    onboard_named(env, id, name, code, true).await
}

async fn onboard_named(env: &TestEnv, id: &str, name: &str, code: &str, named: bool) {
    env.tenants()
        .await
        .create_tenant(authed(
            &env.token("operator", &["operator"]),
            tpb::CreateTenantRequest {
                tenant_id: id.into(),
                tenant: Some(tpb::Tenant {
                    display_name: name.into(),
                    country: tpb::Country::Se as i32,
                    municipality_code: code.into(),
                    population: 14_000,
                    named_in_comparisons: named,
                    ..Default::default()
                }),
                database_server: String::new(),
            },
        ))
        .await
        .unwrap();
}

/// Points of question `j` with maximum `max`, in hundredths: shares that hit
/// halves (10.50 → 11) and two decimals.
fn points(j: usize, max: i64) -> i64 {
    max * (45 + (j as i64 * 7) % 50)
}

fn full_event() -> apb::EvaluationPublishedEvent {
    let fw = kompass_frameworks::Framework::builtin();
    let mut questions = vec![];
    for (j, (a, q)) in fw.questions().enumerate() {
        let max: i64 = q.max_points.to_string().parse().unwrap();
        let p = points(j, max);
        questions.push(apb::PublishedQuestion {
            question: q.id.clone(),
            area: a.id.clone(),
            points: format!("{}.{:02}", p / 100, p % 100),
            max_points: max.to_string(),
        });
    }
    let areas = fw
        .areas
        .iter()
        .map(|a| apb::PublishedArea {
            area: a.id.clone(),
            general_text: format!(
                "Allmänt om område {}: kommunen arbetar systematiskt.\n\nEtt andra stycke med å, ä, ö, æ, ø.{}",
                a.id,
                if a.id == "1" {
                    format!("\n\n{INJECTION}")
                } else {
                    String::new()
                }
            ),
            heading_texts: (1..=a.headings.len() as i32)
                .map(|h| apb::HeadingText {
                    heading: h,
                    text: format!("Rubriktext {}.{h} om arbetet.", a.id),
                })
                .collect(),
            strengths: vec![
                format!("Styrka A i område {}", a.id),
                format!("Styrka B i område {}", a.id),
            ],
            improvement_opportunities: vec![apb::ImprovementOpportunity {
                text: format!("Möjlighet i område {}", a.id),
                ..Default::default()
            }],
        })
        .collect();
    let content = apb::PublishedContent {
        tenant: "tenants/ostra".into(),
        tenant_display_name: "Östra Göinge kommun".into(),
        evaluation: "tenants/ostra/evaluations/full".into(),
        title: "Kommunkompassen 2019".into(),
        kind: apb::EvaluationKind::External as i32,
        framework_version: FW.into(),
        evaluation_date: "2019-03-14".into(),
        evaluators: vec![
            apb::PublishedEvaluator {
                user: "users/karin".into(),
                display_name: "Karin Lund".into(),
                role: apb::EvaluatorRole::Lead as i32,
            },
            apb::PublishedEvaluator {
                user: "users/per".into(),
                display_name: "Per Åkesson".into(),
                role: apb::EvaluatorRole::Peer as i32,
            },
        ],
        interview_count: 31,
        questions,
        areas,
        ..Default::default()
    };
    // Sealed as the assessment service seals: reporting refuses a
    // publication whose seal does not match its content.
    apb::EvaluationPublishedEvent {
        event_id: String::new(),
        seal: Some(kompass_seal::seal_of(
            &content,
            Some(prost_types::Timestamp {
                seconds: 1_552_600_000,
                nanos: 0,
            }),
        )),
        content: Some(content),
    }
}

async fn wait_for_report(rep: &mut ReportingServiceClient<Channel>, op: &str, name: &str) {
    let start = Instant::now();
    loop {
        let r = rep
            .get_evaluation_report(authed(
                op,
                rpb::GetEvaluationReportRequest {
                    name: name.into(),
                    language: "sv".into(),
                },
            ))
            .await;
        match r {
            Ok(_) => return,
            Err(e) if e.code() == Code::NotFound && start.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("{name} never reached the read model: {e}"),
        }
    }
}

/// Tagged, with a structure tree, title, language-independent metadata and a
/// real creation date.
pub fn assert_accessible(info: &str, structure: &str, title_part: &str) {
    assert!(
        info.lines()
            .any(|l| l.starts_with("Tagged:") && l.ends_with("yes")),
        "{info}"
    );
    let title = info
        .lines()
        .find(|l| l.starts_with("Title:"))
        .unwrap_or_default();
    assert!(title.contains(title_part), "{info}");
    let created = info
        .lines()
        .find(|l| l.starts_with("CreationDate:"))
        .unwrap_or_default();
    let year = chrono_year();
    assert!(
        created.contains(&year),
        "creation date {created} is not this year ({year})"
    );
    assert!(structure.contains("Document"), "{structure}");
    assert!(structure.contains("H1"), "{structure}");
    assert!(
        structure.contains("Table") && structure.contains("TH"),
        "{structure}"
    );
}

fn chrono_year() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Civil year from days since the epoch (Howard Hinnant's algorithm).
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2)).to_string()
}

#[tokio::test]
async fn evaluation_report_pdf_in_every_language_full_and_imported() {
    let env = TestEnv::start().await;
    let op = env.token("operator", &["operator"]);
    onboard(&env, "ostra", "Östra Göinge kommun", "1256").await;
    let mut ev = env.evaluations().await;
    let mut rep = env.reporting().await;
    // Imported: numbers only.
    let csv = {
        let mut s = String::from("question,points\n");
        for (j, (_, q)) in kompass_frameworks::Framework::builtin()
            .questions()
            .enumerate()
        {
            let max: i64 = q.max_points.to_string().parse().unwrap();
            let p = points(j + 3, max);
            s.push_str(&format!("{},{}.{:02}\n", q.id, p / 100, p % 100));
        }
        s
    };
    let imported = ev
        .import_evaluation(authed(
            &op,
            apb::ImportEvaluationRequest {
                parent: "tenants/ostra".into(),
                title: "Kommunkompassen 2016".into(),
                kind: apb::EvaluationKind::External as i32,
                framework_version: FW.into(),
                evaluation_date: "2016-05-01".into(),
                evaluator_names: vec!["Karin Lund".into()],
                csv: csv.into_bytes(),
                source: IMPORT_SOURCE.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .name;
    let full = full_event();
    env.platform
        .bus
        .publish(
            "evaluations",
            "full",
            "evaluation.published",
            &full.encode_to_vec(),
        )
        .await
        .unwrap();
    let full_name = "tenants/ostra/evaluations/full".to_string();
    wait_for_report(&mut rep, &op, &imported).await;
    wait_for_report(&mut rep, &op, &full_name).await;
    rep.import_key_figures(authed(
        &op,
        rpb::ImportKeyFiguresRequest {
            content: br#"[{"kpi":"N00945","municipality":"1256","period":"2018","values":[{"gender":"T","count":1,"status":"","value":12.3}]},
                          {"kpi":"N00945","municipality":"0000","period":"2018","values":[{"gender":"T","count":290,"status":"","value":10.85}]}]"#
                .to_vec(),
        },
    ))
    .await
    .unwrap();

    for name in [&full_name, &imported] {
        let is_full = name == &full_name;
        for lang in LANGS {
            let r = rep
                .get_evaluation_report(authed(
                    &op,
                    rpb::GetEvaluationReportRequest {
                        name: name.clone(),
                        language: lang.into(),
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            let t = Instant::now();
            let pdf = rep
                .export_evaluation_report(authed(
                    &op,
                    rpb::ExportEvaluationReportRequest {
                        name: name.clone(),
                        format: rpb::ExportFormat::Pdf as i32,
                        language: lang.into(),
                    },
                ))
                .await
                .unwrap_or_else(|e| panic!("{name} {lang}: {e}"))
                .into_inner();
            eprintln!(
                "{name} {lang}: {} bytes in {:?}",
                pdf.content.len(),
                t.elapsed()
            );
            assert_eq!(pdf.content_type, "application/pdf");
            let (text, layout, info, structure) = poppler(&pdf.content);
            if std::env::var("KOMPASS_DOC_DUMP").is_ok() {
                eprintln!(
                    "{layout}\n{info}\n{}",
                    &structure[..structure.len().min(3000)]
                );
            }
            assert_accessible(&info, &structure, "Östra Göinge kommun");
            assert!(text.contains("Östra Göinge kommun"));
            let lines: Vec<&str> = layout.lines().map(str::trim).collect();
            // Every area with its points, every question row, the total.
            for a in &r.areas {
                let f = a.figure.clone().unwrap();
                assert!(text.contains(&a.title), "{lang}: area {} missing", a.title);
                assert!(
                    lines.iter().any(|l| l.starts_with(&format!("{} ", a.area))
                        && l.contains(&a.title)
                        && l.contains(&format!(" {} ", f.display_points))),
                    "{lang}: area row {} {} {} missing:\n{layout}",
                    a.area,
                    a.title,
                    f.display_points
                );
                for q in &a.questions {
                    let qf = q.figure.clone().unwrap();
                    assert!(
                        lines
                            .iter()
                            .any(|l| l.starts_with(&format!("{} ", q.question))
                                && l.contains(&format!(" {} ", qf.display_points))),
                        "{lang}: question {} ({}) missing",
                        q.question,
                        qf.display_points
                    );
                }
            }
            let total = r.total.clone().unwrap();
            let total_word = if lang == "en" { "Total" } else { "Totalt" };
            assert!(
                lines.iter().any(|l| l.starts_with(total_word)
                    && l.contains(&format!(" {} ", total.display_points))
                    && l.contains(&total.max_points)),
                "{lang}: total {} missing",
                total.display_points
            );
            let seal = r.seal.clone().unwrap();
            assert!(
                text.replace('\n', "").contains(&seal.digest),
                "{lang}: seal digest missing"
            );
            assert!(text.contains("VerifyPublication"));
            assert!(text.contains("N00945"), "{lang}: key figures missing");
            if is_full {
                assert!(text.contains("Per Åkesson"));
                assert!(
                    text.contains(INJECTION),
                    "{lang}: injection not literal:\n{text}"
                );
                assert!(!text.contains("panicked"));
                for a in &r.areas {
                    for s in a.strengths.iter().chain(&a.improvement_opportunities) {
                        assert!(text.contains(s.as_str()), "{lang}: {s} missing");
                    }
                    for h in &a.headings {
                        assert!(text.contains(&h.text), "{lang}: {} missing", h.text);
                    }
                }
            } else {
                assert!(!text.contains("Styrka A"));
                // Who put the imported result on record, and from where.
                let r_import = r
                    .import_record
                    .clone()
                    .expect("imported report has its record");
                assert_eq!(r_import.source, IMPORT_SOURCE);
                let flat = text.replace('\n', " ");
                assert!(
                    flat.contains(IMPORT_SOURCE),
                    "{lang}: import source missing:\n{text}"
                );
                let label = match lang {
                    "en" => "Imported by",
                    "nb" => "Importert av",
                    _ => "Importerat av",
                };
                assert!(flat.contains(label), "{lang}: {label} missing");
            }
        }
    }
    env.cleanup().await;
}

#[tokio::test]
async fn project_plan_and_status_report_pdfs_in_every_language() {
    use kompass_proto::projects::v1 as ppb;
    let env = TestEnv::start().await;
    env.onboard("ostra").await;
    env.member("anna", "ostra", tpb::TenantRole::TenantAdmin)
        .await;
    env.member("pia", "ostra", tpb::TenantRole::Member).await;
    let anna = env.token("anna", &[]);
    let pia = env.token("pia", &[]);
    let mut c = env.projects().await;
    let person = |name: &str, role: &str| ppb::Person {
        display_name: name.into(),
        role: role.into(),
        ..Default::default()
    };
    let p = c
        .create_project(authed(
            &anna,
            ppb::CreateProjectRequest {
                parent: "tenants/ostra".into(),
                project: Some(ppb::Project {
                    title: "Saman om ein betre kommune".into(),
                    kind: ppb::project::Kind::Project as i32,
                    start_date: "2026-01-01".into(),
                    end_date: "2027-12-31".into(),
                    plan: Some(ppb::Plan {
                        background: format!("Kommunkompassen visade brister. {INJECTION}"),
                        purpose: "Bättre invånardialog.".into(),
                        effect_goal: "Invånarna upplever att de kan påverka.".into(),
                        result_goals: vec![ppb::Goal {
                            title: "Digital dialog".into(),
                            indicator: "Andel e-tjänster".into(),
                            baseline: "20 %".into(),
                            target: "60 %".into(),
                            target_date: "2027-12-31".into(),
                            ..Default::default()
                        }],
                        strategies: vec!["Börja i en förvaltning".into()],
                        delimitations: vec!["Gäller inte bolagen".into()],
                        prerequisites: vec!["Beslut i KS".into()],
                        budget_lines: vec![ppb::BudgetLine {
                            description: "Utbildning".into(),
                            amount: "85000.50".into(),
                            currency: ppb::Currency::Sek as i32,
                            funder: "Kommunstyrelsen".into(),
                        }],
                    }),
                    organisation: Some(ppb::Organisation {
                        owner: Some(ppb::Person {
                            user: "users/anna".into(),
                            role: "beställare".into(),
                            ..Default::default()
                        }),
                        project_manager: Some(ppb::Person {
                            user: "users/pia".into(),
                            ..Default::default()
                        }),
                        steering_group: vec![person("Kommundirektören", "ordförande")],
                        working_group: vec![person("Maja Berg", "handläggare")],
                        ..Default::default()
                    }),
                    communications: vec![ppb::Communication {
                        measure: "Information på APT".into(),
                        target_group: "Medarbetare".into(),
                        when: "vecka 12".into(),
                        status: ppb::WorkStatus::NotStarted as i32,
                        remarks: String::new(),
                    }],
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let m = c
        .create_milestone(authed(
            &pia,
            ppb::CreateMilestoneRequest {
                parent: p.name.clone(),
                milestone: Some(ppb::Milestone {
                    title: "Kartläggning".into(),
                    due_date: "2026-02-01".into(),
                    responsible: "users/pia".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    c.create_risk(authed(
        &pia,
        ppb::CreateRiskRequest {
            parent: p.name.clone(),
            risk: Some(ppb::Risk {
                title: "Låg delaktighet".into(),
                probability: ppb::Probability::High as i32,
                consequence: ppb::Consequence::Significant as i32,
                mitigations: vec!["Tidig information".into()],
                owner: "users/anna".into(),
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap();
    let report = c
        .create_status_report(authed(
            &pia,
            ppb::CreateStatusReportRequest {
                parent: p.name.clone(),
                status_report: Some(ppb::StatusReport {
                    period: "2026-02".into(),
                    light: ppb::TrafficLight::Yellow as i32,
                    summary: format!("Kartläggningen är försenad. {INJECTION}"),
                    milestones: vec![ppb::MilestoneReport {
                        milestone: m.name.clone(),
                        light: ppb::TrafficLight::Red as i32,
                        comment: "Försenad".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    for lang in LANGS {
        let plan = c
            .export_project_plan(authed(
                &anna,
                ppb::ExportProjectPlanRequest {
                    name: p.name.clone(),
                    language: lang.into(),
                },
            ))
            .await
            .unwrap_or_else(|e| panic!("plan {lang}: {e}"))
            .into_inner();
        assert_eq!(plan.content_type, "application/pdf");
        let (text, _, info, structure) = poppler(&plan.content);
        assert_accessible(&info, &structure, "Saman om ein betre kommune");
        for s in [
            "Saman om ein betre kommune",
            "Bättre invånardialog.",
            "Digital dialog",
            "Kartläggning",
            "Låg delaktighet",
            "Tidig information",
            "Kommundirektören",
            "Information på APT",
            INJECTION,
        ] {
            assert!(text.contains(s), "plan {lang}: {s} missing:\n{text}");
        }
        let amount = if lang == "en" { "85000.50" } else { "85000,50" };
        assert!(text.contains(amount), "plan {lang}: budget amount");
        let heading = ["Projektplan", "Project plan", "Prosjektplan"]
            [LANGS.iter().position(|l| *l == lang).unwrap()];
        assert!(text.contains(heading));

        let sr = c
            .export_status_report(authed(
                &anna,
                ppb::ExportStatusReportRequest {
                    name: report.name.clone(),
                    language: lang.into(),
                },
            ))
            .await
            .unwrap_or_else(|e| panic!("status report {lang}: {e}"))
            .into_inner();
        let (text, _, info, structure) = poppler(&sr.content);
        assert_accessible(&info, &structure, "2026-02");
        let (yellow, red) = match lang {
            "en" => ("Yellow", "Red"),
            "nb" => ("Gul", "Rød"),
            _ => ("Gul", "Röd"),
        };
        for s in ["Kartläggning", "Försenad", INJECTION, yellow, red] {
            assert!(
                text.contains(s),
                "status report {lang}: {s} missing:\n{text}"
            );
        }
    }
    // Someone outside the tenant reads neither.
    let outsider = env.token("bertil", &[]);
    let e = c
        .export_project_plan(authed(
            &outsider,
            ppb::ExportProjectPlanRequest {
                name: p.name.clone(),
                language: "sv".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    env.cleanup().await;
}

#[tokio::test]
async fn national_comparison_summary_pdf_in_every_language() {
    let env = TestEnv::start().await;
    let op = env.token("operator", &["operator"]);
    let analyst = env.token("ulla", &["analyst"]);
    let mut ev = env.evaluations().await;
    let mut rep = env.reporting().await;
    let mut names = vec![];
    // Six named municipalities and one that has not agreed to be named: its
    // result is left out of the figures (`unnamed_excluded`) and never named.
    for i in 0..7 {
        let id = format!("kommun{i}");
        let display = if i == 6 {
            "Hemliga kommun".to_string()
        } else {
            format!("Kommun {i}")
        };
        onboard_named(&env, &id, &display, &format!("12{i:02}"), i < 6).await;
        let mut s = String::from("question,points\n");
        for (j, (_, q)) in kompass_frameworks::Framework::builtin()
            .questions()
            .enumerate()
        {
            let max: i64 = q.max_points.to_string().parse().unwrap();
            let p = points(j + i, max);
            s.push_str(&format!("{},{}.{:02}\n", q.id, p / 100, p % 100));
        }
        let name = ev
            .import_evaluation(authed(
                &op,
                apb::ImportEvaluationRequest {
                    parent: format!("tenants/{id}"),
                    title: "Kommunkompassen 2018".into(),
                    kind: apb::EvaluationKind::External as i32,
                    framework_version: FW.into(),
                    evaluation_date: "2018-05-01".into(),
                    evaluator_names: vec!["Karin Lund".into()],
                    csv: s.into_bytes(),
                    source: IMPORT_SOURCE.into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .name;
        names.push(name);
    }
    for n in &names {
        wait_for_report(&mut rep, &op, n).await;
    }
    let cmp = rep
        .get_national_comparison(authed(
            &analyst,
            rpb::GetNationalComparisonRequest {
                framework_version: FW.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cmp.tenant_count, 6);
    assert_eq!(cmp.unnamed_excluded, 1);
    assert!(!cmp.suppressed);
    for lang in LANGS {
        let f = rep
            .export_national_comparison(authed(
                &analyst,
                rpb::ExportNationalComparisonRequest {
                    framework_version: FW.into(),
                    language: lang.into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap_or_else(|e| panic!("{lang}: {e}"))
            .into_inner();
        let (text, layout, info, structure) = poppler(&f.content);
        assert_accessible(&info, &structure, "");
        let lines: Vec<&str> = layout.lines().map(str::trim).collect();
        for s in cmp.areas.iter().chain(&cmp.questions) {
            assert!(
                lines.iter().any(|l| l.starts_with(&format!("{} ", s.id))
                    && l.contains(&format!(" {} ", s.display_mean))),
                "{lang}: {} with mean {} missing:\n{layout}",
                s.id,
                s.display_mean
            );
        }
        for e in &cmp.ranking {
            assert!(text.contains(&e.tenant_display_name), "{lang}: ranking");
        }
        assert_eq!(cmp.ranking.len(), 6);
        assert!(
            !text.contains("Hemliga"),
            "{lang}: the unnamed municipality is named"
        );
        let flat = text.replace('\n', " ");
        let excluded = match lang {
            "en" => "therefore left out of the figures: 1.",
            "nb" => "derfor er holdt utenfor tallene: 1.",
            _ => "därför inte ingår i siffrorna: 1.",
        };
        assert!(
            flat.contains(excluded),
            "{lang}: unnamed_excluded note missing:\n{text}"
        );
    }
    // The public gets the same typeset figures, over named results only.
    let f = rep
        .export_national_comparison(tonic::Request::new(rpb::ExportNationalComparisonRequest {
            framework_version: FW.into(),
            language: "en".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let (text, ..) = poppler(&f.content);
    assert!(
        text.contains("Kommun 0") && !text.contains("Hemliga"),
        "{text}"
    );
    // Same rules as GetNationalComparison: the revision is required.
    let e = rep
        .export_national_comparison(authed(
            &analyst,
            rpb::ExportNationalComparisonRequest::default(),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    env.cleanup().await;
}
