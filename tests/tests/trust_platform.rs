//! Trustworthy results, platform side (issue 9): roles from the catalog and
//! deactivation, anonymous calls that see only public municipalities, small
//! comparison groups withheld, CSV cells that cannot become formulas, and JWT
//! hygiene with a JWKS served by the test itself. Real PostgreSQL, Redis and
//! gRPC on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kompass_config::ServiceKind;
use kompass_proto::assessment::v1 as apb;
use kompass_proto::projects::v1 as ppb;
use kompass_proto::reporting::v1 as rpb;
use kompass_proto::reporting::v1::reporting_service_client::ReportingServiceClient;
use kompass_proto::tenancy::v1 as tpb;
use kompass_tests::{Options, TestEnv, authed};
use tonic::Code;
use tonic::transport::Channel;

const FW: &str = "frameworks/kommunkompassen/versions/2015";

async fn onboard(env: &TestEnv, id: &str, name: &str, country: tpb::Country, named: bool) {
    env.tenants()
        .await
        .create_tenant(authed(
            &env.token("operator", &["operator"]),
            tpb::CreateTenantRequest {
                tenant_id: id.into(),
                tenant: Some(tpb::Tenant {
                    display_name: name.into(),
                    country: country as i32,
                    municipality_code: if country == tpb::Country::Dk {
                        "101"
                    } else {
                        "1860"
                    }
                    .into(),
                    population: 12_000,
                    named_in_comparisons: named,
                    ..Default::default()
                }),
                database_server: String::new(),
            },
        ))
        .await
        .unwrap();
}

/// Every question at `pct` percent of its maximum, as a historic CSV.
fn csv(pct: i64) -> Vec<u8> {
    let mut s = String::from("question,points\n");
    for (_, q) in kompass_frameworks::Framework::builtin().questions() {
        let max: i64 = q.max_points.to_string().parse().unwrap();
        let p = max * pct;
        s.push_str(&format!("{},{}.{:02}\n", q.id, p / 100, p % 100));
    }
    s.into_bytes()
}

async fn import(env: &TestEnv, tenant: &str, kind: apb::EvaluationKind, pct: i64) -> String {
    env.evaluations()
        .await
        .import_evaluation(authed(
            &env.token("operator", &["operator"]),
            apb::ImportEvaluationRequest {
                parent: format!("tenants/{tenant}"),
                title: "Kommunkompassen 2018".into(),
                kind: kind as i32,
                framework_version: FW.into(),
                evaluation_date: "2018-05-01".into(),
                evaluator_names: vec!["Karin Lund".into()],
                csv: csv(pct),
                source: "Test fixture: invented results".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .name
}

async fn wait_for_report(env: &TestEnv, name: &str) {
    let op = env.token("operator", &["operator"]);
    let mut rep = env.reporting().await;
    let start = Instant::now();
    loop {
        match rep
            .get_evaluation_report(authed(
                &op,
                rpb::GetEvaluationReportRequest {
                    name: name.into(),
                    language: String::new(),
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

fn en<T>(mut r: tonic::Request<T>) -> tonic::Request<T> {
    r.metadata_mut()
        .insert("accept-language", "en".parse().unwrap());
    r
}

fn sv<T>(mut r: tonic::Request<T>) -> tonic::Request<T> {
    r.metadata_mut()
        .insert("accept-language", "sv".parse().unwrap());
    r
}

// ---------------------------------------------------------------------------
// Item 4: platform roles come from the catalog; DeleteUser deactivates.

#[tokio::test]
async fn platform_roles_come_from_the_catalog_and_deactivated_users_are_refused() {
    let env = TestEnv::start().await;
    let op = env.token("operator", &["operator"]);
    env.onboard("ostra").await;
    env.member("anna", "ostra", tpb::TenantRole::TenantAdmin)
        .await;
    let mut users = env.users().await;

    // A token claiming operator for a user the catalog grants nothing is
    // just that user: the claim is ignored.
    let forged = env.token_only("anna", &["operator", "analyst"]);
    let e = users
        .list_users(authed(&forged, tpb::ListUsersRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let me = users
        .get_caller(authed(&forged, tpb::GetCallerRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(me.platform_roles.is_empty(), "{me:?}");
    assert_eq!(me.memberships.len(), 1);

    // Olga is made operator in the catalog; her token carries no roles.
    kompass_tests::user(&env, "olga", &[tpb::PlatformRole::Operator]).await;
    let olga = env.token_only("olga", &[]);
    users
        .list_users(authed(&olga, tpb::ListUsersRequest::default()))
        .await
        .unwrap();
    // Removing the role takes effect on her very next request.
    users
        .update_user(authed(
            &op,
            tpb::UpdateUserRequest {
                user: Some(tpb::User {
                    name: "users/olga".into(),
                    platform_roles: vec![tpb::PlatformRole::Evaluator as i32],
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["platform_roles".into()],
                }),
            },
        ))
        .await
        .unwrap();
    let e = users
        .list_users(authed(&olga, tpb::ListUsersRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = env
        .tenants()
        .await
        .create_tenant(authed(&olga, kompass_tests::new_tenant("vastra")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    // DeleteUser: operators only, never oneself.
    let anna = env.token_only("anna", &[]);
    let del = |n: &str| tpb::DeleteUserRequest {
        name: format!("users/{n}"),
    };
    let e = users
        .delete_user(authed(&anna, del("olga")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = users
        .delete_user(authed(&op, del("operator")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    let e = users
        .delete_user(authed(&op, del("nobody")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Anna works until she is deactivated ...
    let ostra = || tpb::GetTenantRequest {
        name: "tenants/ostra".into(),
    };
    env.tenants()
        .await
        .get_tenant(authed(&anna, ostra()))
        .await
        .unwrap();
    let gone = users
        .delete_user(authed(&op, del("anna")))
        .await
        .unwrap()
        .into_inner();
    assert!(gone.delete_time.is_some());
    // ... and is refused on every service afterwards, also on calls that
    // are open to anonymous callers.
    let e = env
        .tenants()
        .await
        .get_tenant(authed(&anna, ostra()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("deactivated"), "{}", e.message());
    let e = users
        .get_caller(authed(&anna, tpb::GetCallerRequest {}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = env
        .evaluations()
        .await
        .list_evaluations(authed(
            &anna,
            apb::ListEvaluationsRequest {
                parent: "tenants/ostra".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = env
        .projects()
        .await
        .list_projects(authed(
            &anna,
            ppb::ListProjectsRequest {
                parent: "tenants/ostra".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = env
        .reporting()
        .await
        .export_open_data(authed(
            &anna,
            rpb::ExportOpenDataRequest {
                format: rpb::ExportFormat::Json as i32,
                framework_version: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // Granting her a membership again is refused; she stays readable for
    // the audit trail (GetUser), hidden from ListUsers unless asked.
    let e = users
        .create_membership(authed(
            &op,
            tpb::CreateMembershipRequest {
                parent: "tenants/ostra".into(),
                membership: Some(tpb::Membership {
                    user: "users/anna".into(),
                    role: tpb::TenantRole::Member as i32,
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    let u = users
        .get_user(authed(
            &op,
            tpb::GetUserRequest {
                name: "users/anna".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(u.display_name, "anna");
    assert!(u.delete_time.is_some());
    let ids = |r: tpb::ListUsersResponse| -> Vec<String> {
        r.users.into_iter().map(|u| u.name).collect()
    };
    let listed = ids(users
        .list_users(authed(&op, tpb::ListUsersRequest::default()))
        .await
        .unwrap()
        .into_inner());
    assert!(!listed.contains(&"users/anna".to_string()), "{listed:?}");
    let all = ids(users
        .list_users(authed(
            &op,
            tpb::ListUsersRequest {
                show_deleted: true,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner());
    assert!(all.contains(&"users/anna".to_string()), "{all:?}");
    // Deleting again changes nothing.
    let again = users
        .delete_user(authed(&op, del("anna")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.delete_time, gone.delete_time);
    env.cleanup().await;
}

// ---------------------------------------------------------------------------
// Item 9: anonymous calls see public municipalities only.

#[tokio::test]
async fn anonymous_calls_answer_only_for_public_municipalities() {
    let env = TestEnv::start().await;
    onboard(&env, "oppen", "Öppna kommun", tpb::Country::Se, true).await;
    onboard(&env, "sluten", "Slutna kommun", tpb::Country::Se, false).await;
    env.member("sara", "sluten", tpb::TenantRole::Member).await;
    env.member("otto", "oppen", tpb::TenantRole::TenantAdmin)
        .await;
    let open_ext = import(&env, "oppen", apb::EvaluationKind::External, 70).await;
    let open_self = import(&env, "oppen", apb::EvaluationKind::SelfAssessment, 90).await;
    let closed_ext = import(&env, "sluten", apb::EvaluationKind::External, 60).await;
    for n in [&open_ext, &open_self, &closed_ext] {
        wait_for_report(&env, n).await;
    }
    let ch = env.channel(ServiceKind::Reporting).await;
    let mut anon = ReportingServiceClient::new(ch);
    let get = |n: &str| rpb::GetEvaluationReportRequest {
        name: n.into(),
        language: String::new(),
    };
    anon.get_evaluation_report(get(&open_ext)).await.unwrap();
    // Not public, and not there at all: the same answer.
    let not_found = |n: &str| format!("no published evaluation {n} in the reporting read model");
    let missing = "tenants/sluten/evaluations/finns-inte";
    let no_tenant = "tenants/ingen/evaluations/x";
    for n in [&closed_ext, &open_self, missing, no_tenant] {
        let e = anon
            .get_evaluation_report(en(tonic::Request::new(get(n))))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{n}");
        assert_eq!(e.message(), not_found(n), "{n}");
        let e = anon
            .export_evaluation_report(en(tonic::Request::new(
                rpb::ExportEvaluationReportRequest {
                    name: n.to_string(),
                    format: rpb::ExportFormat::Csv as i32,
                    language: String::new(),
                },
            )))
            .await
            .unwrap_err();
        assert_eq!((e.code(), e.message()), (Code::NotFound, &*not_found(n)));
        let e = anon
            .get_radar_profile(en(tonic::Request::new(rpb::GetRadarProfileRequest {
                name: n.to_string(),
                language: String::new(),
            })))
            .await
            .unwrap_err();
        assert_eq!((e.code(), e.message()), (Code::NotFound, &*not_found(n)));
    }
    // Open data and good examples: public ones only.
    let open = anon
        .export_open_data(rpb::ExportOpenDataRequest {
            format: rpb::ExportFormat::Json as i32,
            framework_version: FW.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let text = String::from_utf8(open.content).unwrap();
    assert!(
        text.contains(&open_ext) && !text.contains("sluten"),
        "{text}"
    );
    assert!(!text.contains(&open_self));

    // VerifyPublication, anonymously: public external results only; the
    // rest answers exactly like a name that does not exist.
    let op = env.token("operator", &["operator"]);
    let mut ev = env.evaluations().await;
    let digest = |n: String| {
        let mut ev = ev.clone();
        let op = op.clone();
        async move {
            ev.get_evaluation(authed(&op, apb::GetEvaluationRequest { name: n }))
                .await
                .unwrap()
                .into_inner()
                .seal
                .unwrap()
                .digest
        }
    };
    let verify = |n: &str, d: &str| apb::VerifyPublicationRequest {
        name: n.into(),
        report: Some(apb::verify_publication_request::Report::Digest(d.into())),
    };
    let d_open = digest(open_ext.clone()).await;
    let d_closed = digest(closed_ext.clone()).await;
    let d_self = digest(open_self.clone()).await;
    let v = ev
        .verify_publication(verify(&open_ext, &d_open))
        .await
        .unwrap()
        .into_inner();
    assert!(v.valid);
    let unpublished = |n: &str| format!("{n} is not a published evaluation");
    for (n, d) in [
        (closed_ext.as_str(), d_closed.as_str()),
        (open_self.as_str(), d_self.as_str()),
        (missing, d_closed.as_str()),
        (no_tenant, d_closed.as_str()),
    ] {
        let e = ev
            .verify_publication(en(tonic::Request::new(verify(n, d))))
            .await
            .unwrap_err();
        assert_eq!((e.code(), e.message()), (Code::NotFound, &*unpublished(n)));
    }
    // Signed in: another municipality's admin learns no more than anonymous;
    // the municipality's own member verifies its result.
    let otto = env.token("otto", &[]);
    let e = ev
        .verify_publication(authed(&otto, verify(&closed_ext, &d_closed)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let sara = env.token("sara", &[]);
    assert!(
        ev.verify_publication(authed(&sara, verify(&closed_ext, &d_closed)))
            .await
            .unwrap()
            .into_inner()
            .valid
    );
    // A member still reads the municipality's own non-public report.
    env.reporting()
        .await
        .get_evaluation_report(authed(&sara, get(&closed_ext)))
        .await
        .unwrap();
    env.cleanup().await;
}

// ---------------------------------------------------------------------------
// Item 3: small groups in comparisons.

#[tokio::test]
async fn small_comparison_groups_show_their_count_and_no_figures() {
    let env = TestEnv::start().await;
    // Five named Swedish municipalities, one Danish one that is not named.
    let named = [("s1", 80), ("s2", 70), ("s3", 50), ("s4", 40), ("s5", 30)];
    for (id, _) in named {
        onboard(&env, id, &format!("Kommun {id}"), tpb::Country::Se, true).await;
    }
    onboard(&env, "dk", "Hemmelig kommune", tpb::Country::Dk, false).await;
    let mut names = vec![];
    for (id, pct) in named {
        names.push(import(&env, id, apb::EvaluationKind::External, pct).await);
    }
    // Between s2 and s3: a rank among all would leave a gap at 3.
    names.push(import(&env, "dk", apb::EvaluationKind::External, 60).await);
    for n in &names {
        wait_for_report(&env, n).await;
    }
    let anna = {
        env.member("anna", "s1", tpb::TenantRole::Member).await;
        env.token("anna", &[])
    };
    let mut rep = env.reporting().await;
    let req = |country: &str| rpb::GetNationalComparisonRequest {
        framework_version: FW.into(),
        country: country.into(),
        ..Default::default()
    };
    let figures_gone = |c: &rpb::NationalComparison| {
        c.suppressed
            && c.total.is_none()
            && c.areas.is_empty()
            && c.questions.is_empty()
            && c.histograms.is_empty()
    };
    // The case: the unnamed municipality alone in its filter.
    let dk = rep
        .get_national_comparison(sv(authed(&anna, req("DK"))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dk.tenant_count, 1);
    assert!(figures_gone(&dk), "{dk:?}");
    assert!(dk.ranking.is_empty());
    assert_eq!(dk.min_group, 5);
    assert!(
        dk.suppressed_reason.contains("minst 5"),
        "{}",
        dk.suppressed_reason
    );
    let dk_en = rep
        .get_national_comparison(en(authed(&anna, req("DK"))))
        .await
        .unwrap()
        .into_inner();
    assert!(
        dk_en.suppressed_reason.contains("at least 5"),
        "{}",
        dk_en.suppressed_reason
    );
    assert!(!format!("{dk:?}").contains("Hemmelig"));
    // All six: one unnamed among five named would follow from the mean and
    // the named totals, so the figures cover the five named only.
    let all = rep
        .get_national_comparison(sv(authed(&anna, req(""))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.tenant_count, 5);
    assert_eq!(all.unnamed_excluded, 1);
    assert!(!all.suppressed, "{all:?}");
    assert_eq!(all.total.as_ref().unwrap().count, 5);
    // Ranks among the named only, without the gap the unnamed would leave.
    let ranks: Vec<(i32, String)> = all
        .ranking
        .iter()
        .map(|r| (r.rank, r.tenant.clone()))
        .collect();
    assert_eq!(
        ranks,
        (1..=5)
            .map(|i| (i, format!("tenants/s{i}")))
            .collect::<Vec<_>>()
    );
    // The five named Swedish ones alone form a group large enough.
    let se = rep
        .get_national_comparison(authed(&anna, req("SE")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(se.tenant_count, 5);
    assert!(!se.suppressed && se.suppressed_reason.is_empty());
    assert_eq!(se.total.as_ref().unwrap().count, 5);
    assert_eq!(se.areas.len(), 8);
    // Without the unnamed one, the whole group's figures are the named five's.
    assert_eq!(all.total, se.total);
    assert_eq!(all.histograms, se.histograms);
    // The report's averages and the radar's follow the revision's group
    // (the five named): shown, equal to theirs.
    let r = rep
        .get_evaluation_report(authed(
            &anna,
            rpb::GetEvaluationReportRequest {
                name: names[0].clone(),
                language: "en".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!r.average_suppressed);
    assert!(!r.average_total.is_empty());
    assert!(r.areas.iter().all(|a| !a.average_points.is_empty()));
    let radar = rep
        .get_radar_profile(authed(
            &anna,
            rpb::GetRadarProfileRequest {
                name: names[0].clone(),
                language: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(radar.axes.iter().all(|a| !a.average_percent.is_empty()));
    env.cleanup().await;
}

#[tokio::test]
async fn comparison_threshold_is_configurable() {
    let env = TestEnv::start_with(Options {
        comparison_min_group: Some(1),
        ..Default::default()
    })
    .await;
    onboard(&env, "dk", "Hemmelig kommune", tpb::Country::Dk, false).await;
    let n = import(&env, "dk", apb::EvaluationKind::External, 60).await;
    wait_for_report(&env, &n).await;
    let c = env
        .reporting()
        .await
        .get_national_comparison(authed(
            &env.token("ana", &["analyst"]),
            rpb::GetNationalComparisonRequest {
                framework_version: FW.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!c.suppressed);
    assert_eq!(c.min_group, 1);
    assert_eq!(c.total.unwrap().mean, "480");
    env.cleanup().await;
}

// ---------------------------------------------------------------------------
// Item 10: CSV exports are safe to open in a spreadsheet.

/// Splits CSV text into rows of cells (RFC 4180 quoting).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut cell = String::new();
    let mut quoted = false;
    let mut it = text.chars().peekable();
    while let Some(ch) = it.next() {
        match (quoted, ch) {
            (true, '"') if it.peek() == Some(&'"') => {
                cell.push('"');
                it.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

fn assert_formula_free(rows: &[Vec<String>]) {
    let number = |s: &str| {
        let d = s.strip_prefix('-').unwrap_or(s);
        !d.is_empty() && d.chars().all(|c| c.is_ascii_digit() || c == '.')
    };
    for row in rows {
        for c in row {
            assert!(
                !c.starts_with(['=', '+', '-', '@', '\t', '\r']) || number(c),
                "cell {c:?} would run as a formula"
            );
        }
    }
}

#[tokio::test]
async fn csv_exports_neutralise_formula_cells() {
    let env = TestEnv::start().await;
    let evil = "=HYPERLINK(\"http://example.invalid\",\"x\")";
    onboard(&env, "evil", evil, tpb::Country::Se, true).await;
    onboard(&env, "plus", "+46 kommun", tpb::Country::Se, true).await;
    onboard(&env, "at", "@SUM(A1:A9)", tpb::Country::Se, true).await;
    let mut names = vec![];
    for t in ["evil", "plus", "at"] {
        names.push(import(&env, t, apb::EvaluationKind::External, 50).await);
    }
    for n in &names {
        wait_for_report(&env, n).await;
    }
    let mut anon = ReportingServiceClient::new(env.channel(ServiceKind::Reporting).await);
    let open = anon
        .export_open_data(rpb::ExportOpenDataRequest {
            format: rpb::ExportFormat::Csv as i32,
            framework_version: FW.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let rows = parse_csv(&String::from_utf8(open.content).unwrap());
    assert!(rows.len() > 3 * 45);
    assert_formula_free(&rows);
    // The names are still there, readable, behind the neutralising quote.
    let display: Vec<&str> = rows.iter().skip(1).map(|r| r[1].as_str()).collect();
    assert!(
        display.contains(&format!("'{evil}").as_str()),
        "{display:?}"
    );
    assert!(display.contains(&"'+46 kommun"));
    assert!(display.contains(&"'@SUM(A1:A9)"));
    // Points stay numbers.
    assert!(rows.iter().skip(1).all(|r| r[10].parse::<f64>().is_ok()));
    // The report CSV goes through the same writer.
    let f = anon
        .export_evaluation_report(rpb::ExportEvaluationReportRequest {
            name: names[0].clone(),
            format: rpb::ExportFormat::Csv as i32,
            language: "sv".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let rows = parse_csv(&String::from_utf8(f.content).unwrap());
    assert_eq!(rows.len(), 1 + 45 + 8 + 1);
    assert_formula_free(&rows);
    env.cleanup().await;
}

// ---------------------------------------------------------------------------
// Item 8: JWT hygiene, with a JWKS served by this test on loopback.

struct Key {
    kid: String,
    alg: jsonwebtoken::Algorithm,
    enc: jsonwebtoken::EncodingKey,
}

/// A fresh key made by the `openssl` command line (RSA 2048 or P-256).
fn new_key(kid: &str, alg: jsonwebtoken::Algorithm) -> Key {
    let dir = std::env::temp_dir().join(format!("kompass-jwks-{}-{kid}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("key.pem");
    let der = dir.join("key.der");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl must be installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let p = pem.to_str().unwrap();
    let d = der.to_str().unwrap();
    let enc = match alg {
        jsonwebtoken::Algorithm::RS256 => {
            run(&["genrsa", "-out", p, "2048"]);
            // jsonwebtoken signs RSA with PKCS#1 DER.
            run(&[
                "rsa",
                "-in",
                p,
                "-traditional",
                "-outform",
                "DER",
                "-out",
                d,
            ]);
            jsonwebtoken::EncodingKey::from_rsa_der(&std::fs::read(&der).unwrap())
        }
        _ => {
            run(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                p,
            ]);
            run(&[
                "pkcs8", "-topk8", "-nocrypt", "-in", p, "-outform", "DER", "-out", d,
            ]);
            jsonwebtoken::EncodingKey::from_ec_der(&std::fs::read(&der).unwrap())
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    Key {
        kid: kid.into(),
        alg,
        enc,
    }
}

fn jwk(k: &Key) -> serde_json::Value {
    let mut j = jsonwebtoken::jwk::Jwk::from_encoding_key(&k.enc, k.alg).unwrap();
    j.common.key_id = Some(k.kid.clone());
    serde_json::to_value(j).unwrap()
}

fn sign(k: &Key, claims: &kompass_auth::Claims) -> String {
    let mut h = jsonwebtoken::Header::new(k.alg);
    h.kid = Some(k.kid.clone());
    jsonwebtoken::encode(&h, claims, &k.enc).unwrap()
}

/// A JWKS endpoint on loopback answering with whatever `keys` holds, and
/// counting the fetches.
struct Jwks {
    url: String,
    keys: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    hits: Arc<AtomicUsize>,
}

async fn serve_jwks() -> Jwks {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", l.local_addr().unwrap());
    let keys: Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Arc::default();
    let hits: Arc<AtomicUsize> = Arc::default();
    let (k, h) = (keys.clone(), hits.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let (k, h) = (k.clone(), h.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = vec![];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                h.fetch_add(1, Ordering::SeqCst);
                // A slow provider: verifications with known keys must not wait.
                tokio::time::sleep(Duration::from_millis(300)).await;
                let body = serde_json::json!({ "keys": *k.lock().unwrap() }).to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    Jwks { url, keys, hits }
}

/// Links the provider identity (`kompass`, `sub`) to user `sub`, made if missing.
async fn link(env: &TestEnv, sub: &str) {
    use kompass_catalog::entity::{identity, user};
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let db = env.platform.catalog.db();
    let now = chrono::Utc::now();
    if user::Entity::find_by_id(sub)
        .one(db)
        .await
        .unwrap()
        .is_none()
    {
        user::Entity::insert(user::ActiveModel {
            id: Set(sub.into()),
            email: Set(format!("{sub}@example.se")),
            display_name: Set(sub.into()),
            platform_roles: Set(String::new()),
            language: Set("sv".into()),
            created_at: Set(now),
            delete_time: Set(None),
        })
        .exec(db)
        .await
        .unwrap();
    }
    identity::Entity::insert(identity::ActiveModel {
        issuer: Set("kompass".into()),
        subject: Set(sub.into()),
        user_id: Set(sub.into()),
        email: Set(format!("{sub}@example.se")),
        created_at: Set(now),
    })
    .exec(db)
    .await
    .unwrap();
}

fn claims(sub: &str, ttl: u64) -> kompass_auth::Claims {
    kompass_auth::Claims::new("kompass", "kompass", sub, &[], Duration::from_secs(ttl))
}

async fn who(ch: &Channel, token: &str) -> Result<String, tonic::Status> {
    kompass_proto::tenancy::v1::user_service_client::UserServiceClient::new(ch.clone())
        .get_caller(authed(token, tpb::GetCallerRequest {}))
        .await
        .map(|r| r.into_inner().user)
}

#[tokio::test]
async fn jwks_keys_rotate_on_ttl_and_unknown_kid_with_nbf_checked() {
    let jwks = serve_jwks().await;
    let rsa = new_key("rsa-1", jsonwebtoken::Algorithm::RS256);
    let ec = new_key("ec-1", jsonwebtoken::Algorithm::ES256);
    // Made now: key generation must not eat into the 2 s cooldown below.
    let rsa2 = new_key("rsa-2", jsonwebtoken::Algorithm::RS256);
    *jwks.keys.lock().unwrap() = vec![jwk(&rsa), jwk(&ec)];
    let env = TestEnv::start_with(Options {
        jwks_url: Some(jwks.url.clone()),
        jwks_ttl_secs: Some(2),
        ..Default::default()
    })
    .await;
    // Provider subjects are linked to platform users (here the same ids).
    for sub in ["operator", "eva"] {
        link(&env, sub).await;
    }
    let ch = env.channel(ServiceKind::Tenancy).await;
    // RS256 and ES256 tokens from the provider verify.
    assert_eq!(
        who(&ch, &sign(&rsa, &claims("operator", 60)))
            .await
            .unwrap(),
        "users/operator"
    );
    assert_eq!(
        who(&ch, &sign(&ec, &claims("eva", 60))).await.unwrap(),
        "users/eva"
    );
    assert_eq!(jwks.hits.load(Ordering::SeqCst), 1);
    // HS256 tokens are not accepted when keys come from a JWKS.
    let e = who(&ch, &env.token_only("operator", &[]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    // Not yet valid (nbf an hour ahead) and expired tokens are refused.
    let mut early = claims("eva", 7200);
    early.nbf = Some(early.iat + 3600);
    assert_eq!(
        who(&ch, &sign(&ec, &early)).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut late = claims("eva", 60);
    late.exp = late.iat - 3600;
    assert_eq!(
        who(&ch, &sign(&ec, &late)).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // The provider rotates: rsa-2 replaces rsa-1. Within the cooldown an
    // unknown kid is refused without fetching again.
    *jwks.keys.lock().unwrap() = vec![jwk(&rsa2), jwk(&ec)];
    let t2 = sign(&rsa2, &claims("eva", 60));
    let before = jwks.hits.load(Ordering::SeqCst);
    let e = who(&ch, &t2).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(jwks.hits.load(Ordering::SeqCst), before, "rate limit");
    // After it, many concurrent requests with the new kid share one fetch,
    // and requests with a known key do not wait for that (slow) fetch.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = jwks.hits.load(Ordering::SeqCst);
    let known = sign(&ec, &claims("eva", 60));
    let started = Instant::now();
    let mut calls = vec![];
    for _ in 0..10 {
        let (ch, t) = (ch.clone(), t2.clone());
        calls.push(tokio::spawn(async move { who(&ch, &t).await }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let quick = Instant::now();
    // ec-1 is stale now (TTL 2 s) but known: answered from the cache.
    assert_eq!(who(&ch, &known).await.unwrap(), "users/eva");
    assert!(
        quick.elapsed() < Duration::from_millis(250),
        "{:?}",
        quick.elapsed()
    );
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap(), "users/eva");
    }
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        jwks.hits.load(Ordering::SeqCst),
        before + 1,
        "one shared fetch"
    );
    // The retired key stops working once the keys were refetched.
    let e = who(&ch, &sign(&rsa, &claims("operator", 60)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    env.cleanup().await;
}

#[tokio::test]
async fn short_hs256_secrets_are_refused_and_the_dev_secret_is_private() {
    let mut cfg = kompass_config::Config::default();
    cfg.database.url = Some(kompass_tests::server_url());
    cfg.auth.jwt_secret = Some("too-short-a-secret".into());
    let e = kompass_serve::Platform::open(cfg.clone())
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("at least 32"), "{e}");
    cfg.auth.jwt_secret = Some("x".repeat(32));
    assert!(kompass_serve::check_auth(&cfg).is_ok());

    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("kompass-dev-secret-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s = kompass_serve::dev_secret(&dir).unwrap();
    assert!(s.len() >= 32);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let file = dir.join("dev-jwt-secret");
    assert_eq!(mode(&file), 0o600);
    // A file left world-readable by an older version is tightened on read.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(kompass_serve::dev_secret(&dir).unwrap(), s);
    assert_eq!(mode(&file), 0o600);
    let _ = std::fs::remove_dir_all(&dir);
}
