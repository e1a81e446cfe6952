//! `kompass dev` from the real binary: SQLite files, every service SERVING,
//! tokens printed that the services accept.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kompass_proto::assessment::v1 as apb;
use kompass_proto::projects::v1 as ppb;
use kompass_proto::reporting::v1 as rpb;
use kompass_proto::tenancy::v1 as tpb;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn auth<T>(token: &str, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// Starts `kompass dev` on `dir` with fresh ports and returns the process,
/// the ports (tenancy, assessment, projects, reporting) and what it printed
/// up to the last token line.
fn start(dir: &std::path::Path) -> (std::process::Child, Vec<u16>, Vec<String>) {
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kompass"))
        .args(["dev", "--data-dir"])
        .arg(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KOMPASS_TENANCY_PORT", ports[0].to_string())
        .env("KOMPASS_ASSESSMENT_PORT", ports[1].to_string())
        .env("KOMPASS_PROJECTS_PORT", ports[2].to_string())
        .env("KOMPASS_REPORTING_PORT", ports[3].to_string())
        // Tests run side by side: the console must not take the fixed 8080.
        .env("KOMPASS_CONSOLE_PORT", free_port().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read what it prints until the last token line.
    let stdout = child.stdout.take().unwrap();
    let lines = std::thread::spawn(move || {
        let mut out = vec![];
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            let done = l.starts_with("Try:");
            out.push(l);
            if done {
                break;
            }
        }
        out
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lines.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if !lines.is_finished() {
        child.kill().ok();
        panic!("kompass dev printed no banner within 60 s");
    }
    let out = lines.join().unwrap();
    assert!(out.iter().any(|l| l.starts_with("Try:")), "{out:#?}");
    (child, ports, out)
}

/// The token printed under user `id`.
fn token(out: &[String], id: &str) -> String {
    let at = out
        .iter()
        .position(|l| l.trim_start().starts_with(&format!("{id} (")))
        .unwrap_or_else(|| panic!("no token for {id}: {out:#?}"));
    out[at + 1].trim().to_string()
}

async fn connect(port: u16) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn kompass_dev_starts_on_sqlite_and_every_service_is_serving() {
    let dir = std::env::temp_dir().join(format!("kompass-dev-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut child, ports, out) = start(&dir);
    // A newcomer reads the console's address first, not log lines.
    assert!(
        out.iter()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.starts_with("Console: http://127.0.0.1:")),
        "{out:#?}"
    );
    for p in &ports {
        assert!(
            out.iter().any(|l| l.contains(&format!("127.0.0.1:{p}"))),
            "{out:#?}"
        );
    }
    // The token printed under "anna" is accepted and sees Östra.
    let anna = token(&out, "anna");

    for p in &ports {
        let ch = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{p}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let r = HealthClient::new(ch)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "port {p}");
    }
    let ch = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{}", ports[0]))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut req = tonic::Request::new(tpb::ListTenantsRequest::default());
    req.metadata_mut()
        .insert("authorization", format!("Bearer {anna}").parse().unwrap());
    let seen = tpb::tenant_service_client::TenantServiceClient::new(ch)
        .list_tenants(req)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.tenants.len(), 1);
    assert_eq!(seen.tenants[0].display_name, "Östra kommun");
    // The assessment schema works on SQLite too: Anna creates an evaluation
    // in Östra; Bertil, Västra's admin, cannot see it.
    let bertil = token(&out, "bertil");
    let ach = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{}", ports[1]))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut ev = apb::evaluation_service_client::EvaluationServiceClient::new(ach);
    let mut req = tonic::Request::new(apb::CreateEvaluationRequest {
        parent: "tenants/ostra".into(),
        evaluation: Some(apb::Evaluation {
            title: "Självskattning".into(),
            kind: apb::EvaluationKind::SelfAssessment as i32,
            ..Default::default()
        }),
    });
    req.metadata_mut()
        .insert("authorization", format!("Bearer {anna}").parse().unwrap());
    let created = ev.create_evaluation(req).await.unwrap().into_inner();
    assert_eq!(
        created.framework_version,
        "frameworks/kommunkompassen/versions/2015"
    );
    let mut req = tonic::Request::new(apb::GetEvaluationRequest {
        name: created.name.clone(),
    });
    req.metadata_mut()
        .insert("authorization", format!("Bearer {bertil}").parse().unwrap());
    assert_eq!(
        ev.get_evaluation(req).await.unwrap_err().code(),
        tonic::Code::PermissionDenied
    );
    // Projects and the portfolio work on SQLite and the in-process bus: a
    // project with a risk reaches the reporting portfolio.
    let pch = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{}", ports[2]))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut pc = ppb::project_service_client::ProjectServiceClient::new(pch);
    let project = pc
        .create_project(auth(
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
        .unwrap()
        .into_inner();
    pc.create_risk(auth(
        &anna,
        ppb::CreateRiskRequest {
            parent: project.name.clone(),
            risk: Some(ppb::Risk {
                title: "Låg delaktighet".into(),
                probability: ppb::Probability::High as i32,
                consequence: ppb::Consequence::Severe as i32,
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap();
    let rch = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{}", ports[3]))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut rc = rpb::reporting_service_client::ReportingServiceClient::new(rch);
    // The demo's project is there too; this one arrives with its risk.
    let mut seen = None;
    for _ in 0..100 {
        let p = rc
            .get_portfolio(auth(
                &anna,
                rpb::GetPortfolioRequest {
                    name: "tenants/ostra/portfolio".into(),
                    evaluation: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        if let Some(x) = p
            .projects
            .iter()
            .find(|x| x.project == project.name && x.risk_count == 1)
        {
            seen = Some((x.clone(), p));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mine, p) = seen.expect("the project and its risk reached the portfolio");
    assert_eq!(mine.highest_risk_value, 9);
    assert_eq!(p.projects.len(), 2, "the demo project and this one");
    let high_severe = p
        .heat_map
        .iter()
        .find(|c| c.risk_value == 9)
        .expect("a 3×3 cell");
    assert_eq!(high_severe.risk_count, 1);
    assert_eq!(p.heat_map.iter().map(|c| c.risk_count).sum::<i32>(), 2);
    let err = rc
        .get_portfolio(auth(
            &bertil,
            rpb::GetPortfolioRequest {
                name: "tenants/ostra/portfolio".into(),
                evaluation: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert!(dir.join("catalog.db").exists());
    assert!(dir.join("tenants/kompass_t_ostra.db").exists());
    assert!(dir.join("tenants/kompass_t_vastra.db").exists());
    child.kill().ok();
    child.wait().ok();
    let _ = std::fs::remove_dir_all(&dir);
}

fn centi(s: &str) -> i64 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    assert!(frac.len() <= 2, "{s:?} has more than two decimals");
    int.parse::<i64>().unwrap() * 100 + format!("{frac:0<2}").parse::<i64>().unwrap()
}

/// Every resource the demo made, by name, with its etag (or another value
/// that changes with every write).
async fn snapshot(ports: &[u16], operator: &str, eva: &str) -> Vec<(String, String)> {
    let mut tc = tpb::tenant_service_client::TenantServiceClient::new(connect(ports[0]).await);
    let mut ev =
        apb::evaluation_service_client::EvaluationServiceClient::new(connect(ports[1]).await);
    let mut sc = apb::scoring_service_client::ScoringServiceClient::new(connect(ports[1]).await);
    let mut nc =
        apb::narrative_service_client::NarrativeServiceClient::new(connect(ports[1]).await);
    let mut pc = ppb::project_service_client::ProjectServiceClient::new(connect(ports[2]).await);
    let mut out = vec![];
    let tenants = tc
        .list_tenants(auth(
            operator,
            tpb::ListTenantsRequest {
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .tenants;
    for t in tenants {
        out.push((t.name.clone(), format!("{:?}", t.update_time)));
        let evals = ev
            .list_evaluations(auth(
                operator,
                apb::ListEvaluationsRequest {
                    parent: t.name.clone(),
                    page_size: 1000,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .evaluations;
        for e in evals {
            out.push((e.name.clone(), e.etag.clone()));
            for n in nc
                .list_narratives(auth(
                    operator,
                    apb::ListNarrativesRequest {
                        parent: e.name.clone(),
                        page_size: 1000,
                        ..Default::default()
                    },
                ))
                .await
                .unwrap()
                .into_inner()
                .narratives
            {
                out.push((n.name, n.etag));
            }
            for o in nc
                .list_improvement_opportunities(auth(
                    operator,
                    apb::ListImprovementOpportunitiesRequest {
                        parent: e.name.clone(),
                        page_size: 1000,
                        ..Default::default()
                    },
                ))
                .await
                .unwrap()
                .into_inner()
                .improvement_opportunities
            {
                out.push((o.name, o.etag));
            }
            if e.state == apb::evaluation::State::Scoring as i32 && t.name == "tenants/ostra" {
                for s in sc
                    .list_scores(auth(
                        eva,
                        apb::ListScoresRequest {
                            parent: e.name.clone(),
                            page_size: 1000,
                            ..Default::default()
                        },
                    ))
                    .await
                    .unwrap()
                    .into_inner()
                    .scores
                {
                    out.push((s.name, s.etag));
                }
            }
        }
    }
    for p in pc
        .list_projects(auth(
            operator,
            ppb::ListProjectsRequest {
                parent: "tenants/ostra".into(),
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .projects
    {
        let full = pc
            .get_project(auth(
                operator,
                ppb::GetProjectRequest {
                    name: p.name.clone(),
                    view: ppb::ProjectView::Full as i32,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        out.push((p.name, p.etag));
        out.extend(full.milestones.into_iter().map(|m| (m.name, m.etag)));
        out.extend(full.risks.into_iter().map(|r| (r.name, r.etag)));
    }
    out
}

#[tokio::test]
async fn kompass_dev_seeds_a_demo_and_a_second_start_changes_nothing() {
    let dir = std::env::temp_dir().join(format!("kompass-dev-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut child, ports, out) = start(&dir);
    let (operator, eva, analyst, anna, bertil) = (
        token(&out, "operator"),
        token(&out, "eva"),
        token(&out, "analys"),
        token(&out, "anna"),
        token(&out, "bertil"),
    );
    let mut tc = tpb::tenant_service_client::TenantServiceClient::new(connect(ports[0]).await);
    let mut ev =
        apb::evaluation_service_client::EvaluationServiceClient::new(connect(ports[1]).await);
    let mut sc = apb::scoring_service_client::ScoringServiceClient::new(connect(ports[1]).await);
    let mut nc =
        apb::narrative_service_client::NarrativeServiceClient::new(connect(ports[1]).await);
    let mut pc = ppb::project_service_client::ProjectServiceClient::new(connect(ports[2]).await);
    let mut rc =
        rpb::reporting_service_client::ReportingServiceClient::new(connect(ports[3]).await);

    // About thirty municipalities; most agreed to be named.
    let tenants = tc
        .list_tenants(auth(
            &operator,
            tpb::ListTenantsRequest {
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .tenants;
    assert!(tenants.len() >= 30, "{}", tenants.len());
    let named: Vec<&str> = tenants
        .iter()
        .filter(|t| t.named_in_comparisons)
        .map(|t| t.name.as_str())
        .collect();
    assert!(named.len() < tenants.len(), "a few are not public");
    assert!(named.len() * 4 > tenants.len() * 3, "most are public");

    // Published results: all for the analyst, the named ones for the public.
    let all = rc
        .list_published_results(auth(
            &analyst,
            rpb::ListPublishedResultsRequest {
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .results;
    // The public read them as open data, without a token.
    let open = rc
        .export_open_data(tonic::Request::new(rpb::ExportOpenDataRequest {
            format: rpb::ExportFormat::Json as i32,
            framework_version: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    let public: Vec<serde_json::Value> = serde_json::from_slice(&open.content).unwrap();
    for r in &public {
        for q in r["questions"].as_array().unwrap() {
            let (p, max) = (
                q["points"].as_str().unwrap(),
                q["max_points"].as_str().unwrap(),
            );
            assert!(centi(p) <= centi(max), "{}: {p} > {max}", r["evaluation"]);
        }
    }
    let expected_public = all
        .iter()
        .filter(|r| named.contains(&r.tenant.as_str()))
        .count();
    assert!(all.len() >= 45, "{}", all.len());
    assert_eq!(public.len(), expected_public);
    assert!(public.len() < all.len());
    assert!(
        out.iter().any(|l| l.contains(&format!(
            "{} published results ({} public)",
            all.len(),
            public.len()
        ))),
        "{out:#?}"
    );
    let years: std::collections::BTreeSet<&str> =
        all.iter().map(|r| &r.evaluation_date[..4]).collect();
    assert!(years.len() >= 4, "several years: {years:?}");
    // Plausible points: totals within 350–650, no question above its maximum,
    // every figure exact with two decimals.
    for r in &all {
        let total = centi(&r.total_points);
        assert!(
            (35_000..=65_000).contains(&total),
            "{}: {}",
            r.evaluation,
            r.total_points
        );
        let totals = sc
            .get_totals(auth(
                &operator,
                apb::GetTotalsRequest {
                    name: r.evaluation.clone(),
                    own_scores: false,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(totals.questions.len(), 45);
        assert!(totals.unscored_questions.is_empty());
        for q in &totals.questions {
            assert!(
                centi(&q.points) <= centi(&q.max_points),
                "{} {}: {} > {}",
                r.evaluation,
                q.id,
                q.points,
                q.max_points
            );
        }
        assert_eq!(centi(&totals.total.unwrap().points), total);
    }
    // Areas vary: the highest and lowest area of a result differ.
    let some = sc
        .get_totals(auth(
            &operator,
            apb::GetTotalsRequest {
                name: all[0].evaluation.clone(),
                own_scores: false,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let areas: Vec<i64> = some.areas.iter().map(|a| centi(&a.points)).collect();
    assert!(
        areas.iter().max().unwrap() - areas.iter().min().unwrap() >= 1_000,
        "{areas:?}"
    );

    // The national comparison has data and ranks only named municipalities.
    let nat = rc
        .get_national_comparison(auth(
            &analyst,
            rpb::GetNationalComparisonRequest {
                framework_version: "frameworks/kommunkompassen/versions/2015".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    // The four unnamed are left out of the figures (too few to hide), which
    // still show: the national view is not withheld.
    assert!(
        nat.tenant_count + nat.unnamed_excluded >= 30,
        "{}",
        nat.tenant_count
    );
    assert_eq!(nat.unnamed_excluded, 4);
    assert!(!nat.suppressed && nat.total.is_some());
    assert!(!nat.ranking.is_empty());
    assert!(
        nat.ranking
            .iter()
            .all(|e| named.contains(&e.tenant.as_str()))
    );

    // Östra: one published with full texts, one in SCORING led by eva.
    let ostra = ev
        .list_evaluations(auth(
            &anna,
            apb::ListEvaluationsRequest {
                parent: "tenants/ostra".into(),
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .evaluations;
    let published = ostra
        .iter()
        .find(|e| e.state == apb::evaluation::State::Published as i32 && !e.imported)
        .expect("Östra's evaluation published on the platform");
    assert!(
        public
            .iter()
            .any(|r| r["evaluation"] == published.name.as_str())
    );
    let narratives = nc
        .list_narratives(auth(
            &anna,
            apb::ListNarrativesRequest {
                parent: published.name.clone(),
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .narratives;
    assert_eq!(narratives.len(), 8);
    for n in &narratives {
        assert!(!n.general_text.is_empty(), "area {}", n.area);
        assert!(n.heading_texts.len() >= 4, "area {}", n.area);
        assert!(!n.strengths.is_empty(), "area {}", n.area);
    }
    let opportunities = nc
        .list_improvement_opportunities(auth(
            &anna,
            apb::ListImprovementOpportunitiesRequest {
                parent: published.name.clone(),
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .improvement_opportunities;
    assert!(opportunities.len() >= 8);
    // Its public report page has something real in every area.
    let report = rc
        .get_evaluation_report(tonic::Request::new(rpb::GetEvaluationReportRequest {
            name: published.name.clone(),
            language: "sv".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.areas.len(), 8);
    for a in &report.areas {
        assert!(!a.general_text.is_empty(), "area {}", a.area);
        assert!(
            a.headings.iter().all(|h| !h.text.is_empty()),
            "area {}",
            a.area
        );
        assert!(!a.strengths.is_empty(), "area {}", a.area);
        assert!(!a.improvement_opportunities.is_empty(), "area {}", a.area);
    }
    let assigned = ev
        .list_evaluations(auth(
            &eva,
            apb::ListEvaluationsRequest {
                parent: "tenants/-".into(),
                page_size: 1000,
                state: apb::evaluation::State::Scoring as i32,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .evaluations;
    let scoring = assigned
        .iter()
        .find(|e| e.name.starts_with("tenants/ostra/"))
        .expect("Östra's evaluation in SCORING, assigned to eva");
    assert_eq!(scoring.previous_evaluation, published.name);
    let team = ev
        .list_assignments(auth(
            &eva,
            apb::ListAssignmentsRequest {
                parent: scoring.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .assignments;
    assert!(
        team.iter()
            .any(|a| a.user == "users/eva" && a.role == apb::EvaluatorRole::Lead as i32),
        "{team:?}"
    );

    // Västra: a self-assessment in progress, partly scored.
    let vastra = ev
        .list_evaluations(auth(
            &bertil,
            apb::ListEvaluationsRequest {
                parent: "tenants/vastra".into(),
                page_size: 1000,
                kind: apb::EvaluationKind::SelfAssessment as i32,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .evaluations;
    assert_eq!(vastra.len(), 1);
    assert_eq!(vastra[0].state, apb::evaluation::State::Scoring as i32);
    let own = sc
        .list_scores(auth(
            &bertil,
            apb::ListScoresRequest {
                parent: vastra[0].name.clone(),
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .scores;
    let scored = own.iter().filter(|s| !s.points.is_empty()).count();
    assert!(scored > 0 && scored < 45, "{scored}");

    // The improvement project, linked to an opportunity of the published one.
    let projects = pc
        .list_projects(auth(
            &anna,
            ppb::ListProjectsRequest {
                parent: "tenants/ostra".into(),
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .projects;
    assert_eq!(projects.len(), 1);
    let full = pc
        .get_project(auth(
            &anna,
            ppb::GetProjectRequest {
                name: projects[0].name.clone(),
                view: ppb::ProjectView::Full as i32,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.improvement_opportunities.len(), 1);
    assert!(
        opportunities
            .iter()
            .any(|o| o.name == full.improvement_opportunities[0])
    );
    assert!(!full.plan.unwrap().result_goals.is_empty());
    assert_eq!(full.milestones.len(), 1);
    assert_eq!(full.risks.len(), 1);

    // The built-in revision speaks bokmål over gRPC, in import and export.
    let mut fc =
        apb::framework_service_client::FrameworkServiceClient::new(connect(ports[1]).await);
    let fw = fc
        .get_framework_version(auth(
            &anna,
            apb::GetFrameworkVersionRequest {
                name: "frameworks/kommunkompassen/versions/2015".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let area = &fw.areas[0];
    assert_eq!(
        area.title.as_ref().unwrap().translations["nb"],
        "Åpenhet og demokrati"
    );
    assert!(
        area.headings
            .iter()
            .all(|h| h.translations.contains_key("nb"))
    );
    assert!(
        fw.areas.iter().flat_map(|a| &a.questions).all(|q| q
            .text
            .as_ref()
            .unwrap()
            .translations
            .contains_key("nb"))
    );
    let export = fc
        .export_framework_version(auth(
            &anna,
            apb::ExportFrameworkVersionRequest {
                name: fw.name.clone(),
                format: apb::FileFormat::Yaml as i32,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let yaml = String::from_utf8(export.content).unwrap();
    assert!(yaml.contains("nb: Åpenhet og demokrati"), "{yaml}");

    // A second start on the same data dir writes nothing.
    let before = snapshot(&ports, &operator, &eva).await;
    assert!(before.len() > 100, "{}", before.len());
    child.kill().ok();
    child.wait().ok();
    let (mut child, ports, out) = start(&dir);
    assert!(
        out.iter()
            .any(|l| l.contains("already seeded, nothing changed")),
        "{out:#?}"
    );
    let after = snapshot(&ports, &token(&out, "operator"), &token(&out, "eva")).await;
    assert_eq!(before, after);
    child.kill().ok();
    child.wait().ok();
    let _ = std::fs::remove_dir_all(&dir);
}
