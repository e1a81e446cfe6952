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

#[tokio::test]
async fn kompass_dev_starts_on_sqlite_and_every_service_is_serving() {
    let dir = std::env::temp_dir().join(format!("kompass-dev-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kompass"))
        .args(["dev", "--data-dir"])
        .arg(&dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KOMPASS_TENANCY_PORT", ports[0].to_string())
        .env("KOMPASS_ASSESSMENT_PORT", ports[1].to_string())
        .env("KOMPASS_PROJECTS_PORT", ports[2].to_string())
        .env("KOMPASS_REPORTING_PORT", ports[3].to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read what it prints until the last token line.
    let stdout = child.stdout.take().unwrap();
    let lines = std::thread::spawn(move || {
        let mut out = vec![];
        for l in BufReader::new(stdout).lines() {
            let l = l.unwrap();
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        lines.is_finished(),
        "kompass dev printed no banner within 60 s"
    );
    let out = lines.join().unwrap();
    for p in &ports {
        assert!(
            out.iter().any(|l| l.contains(&format!("127.0.0.1:{p}"))),
            "{out:#?}"
        );
    }
    // The token printed under "anna" is accepted and sees Östra.
    let anna_at = out
        .iter()
        .position(|l| l.trim_start().starts_with("anna ("))
        .unwrap();
    let anna = out[anna_at + 1].trim().to_string();

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
    let bertil_at = out
        .iter()
        .position(|l| l.trim_start().starts_with("bertil ("))
        .unwrap();
    let bertil = out[bertil_at + 1].trim().to_string();
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
        if p.projects.first().is_some_and(|x| x.risk_count == 1) {
            seen = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let p = seen.expect("the project and its risk reached the portfolio");
    assert_eq!(p.projects[0].project, project.name);
    assert_eq!(p.projects[0].highest_risk_value, 9);
    assert_eq!(p.heat_map.iter().map(|c| c.risk_count).sum::<i32>(), 1);
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
