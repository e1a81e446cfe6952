//! The browser console's routes (axum `oneshot`) against the real services:
//! every page, filter, download and error path, in the three languages.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode, header};
use kompass_config::ServiceKind;
use kompass_console::{Console, DevSignIn, DevUser, MemoryStore, Settings};
use kompass_proto::assessment::v1 as apb;
use kompass_proto::reporting::v1 as rpb;
use kompass_proto::tenancy::v1 as tpb;
use kompass_tests::{SECRET, TestEnv, authed};
use tonic::Code;
use tower::ServiceExt;

const FW: &str = "frameworks/kommunkompassen/versions/2015";

async fn onboard(env: &TestEnv, id: &str, name: &str, population: i64, named: bool) {
    env.tenants()
        .await
        .create_tenant(authed(
            &env.token("operator", &["operator"]),
            tpb::CreateTenantRequest {
                tenant_id: id.into(),
                tenant: Some(tpb::Tenant {
                    display_name: name.into(),
                    country: tpb::Country::Se as i32,
                    municipality_code: "1860".into(),
                    population,
                    named_in_comparisons: named,
                    ..Default::default()
                }),
                database_server: String::new(),
            },
        ))
        .await
        .unwrap();
}

/// Imports an external evaluation with every question at `pct` percent of
/// its maximum; returns its name once the read model has it.
async fn import(env: &TestEnv, tenant: &str, date: &str, pct: i64) -> String {
    let op = env.token("operator", &["operator"]);
    let mut csv = String::from("question,points\n");
    for (_, q) in kompass_frameworks::Framework::builtin().questions() {
        let max: i64 = q.max_points.to_string().parse().unwrap();
        let p = max * pct; // hundredths
        csv.push_str(&format!("{},{}.{:02}\n", q.id, p / 100, p % 100));
    }
    let name = env
        .evaluations()
        .await
        .import_evaluation(authed(
            &op,
            apb::ImportEvaluationRequest {
                parent: format!("tenants/{tenant}"),
                title: format!("Kommunkompassen {}", &date[..4]),
                kind: apb::EvaluationKind::External as i32,
                framework_version: FW.into(),
                evaluation_date: date.into(),
                evaluator_names: vec!["Karin Lund".into()],
                csv: csv.into_bytes(),
                source: "Test fixture: invented results".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .name;
    let mut rep = env.reporting().await;
    let start = Instant::now();
    loop {
        match rep
            .get_evaluation_report(authed(
                &op,
                rpb::GetEvaluationReportRequest {
                    name: name.clone(),
                    language: "sv".into(),
                },
            ))
            .await
        {
            Ok(_) => return name,
            Err(e) if e.code() == Code::NotFound && start.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("{name} never reached the read model: {e}"),
        }
    }
}

fn dev_users() -> Vec<DevUser> {
    let u = |id: &str, name: &str, roles: &[&str], admin_of: Option<&str>| DevUser {
        id: id.into(),
        display_name: name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        admin_of: admin_of.map(str::to_string),
    };
    vec![
        u("operator", "Olivia Operatör", &["operator"], None),
        u("eva", "Eva Utvärderare", &["evaluator"], None),
        u("analys", "Anders Analytiker", &["analyst"], None),
        u("anna", "Anna Kvalitetsstrateg", &[], Some("ostra")),
    ]
}

fn settings(env: &TestEnv, oidc: Option<&str>) -> Settings {
    Settings {
        tenancy_url: env.url(ServiceKind::Tenancy),
        assessment_url: env.url(ServiceKind::Assessment),
        projects_url: env.url(ServiceKind::Projects),
        reporting_url: env.url(ServiceKind::Reporting),
        dev: Some(DevSignIn {
            secret: SECRET.into(),
            issuer: "kompass".into(),
            audience: "kompass".into(),
            users: dev_users(),
        }),
        oidc: oidc.map(|issuer| {
            kompass_oidc::OidcSettings::new(
                issuer,
                "kompass-console",
                None,
                "http://console.test/auth/callback",
            )
        }),
        secure_cookies: false,
        session_ttl: std::time::Duration::from_secs(3600),
    }
}

struct Got {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn header(&self, h: &str) -> String {
        self.headers
            .get(h)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
    /// The session cookie set by this response, as a `Cookie` header value.
    fn session(&self) -> String {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .find(|c| c.starts_with("kompass_session="))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_string()
    }
}

async fn send(app: &Router, req: Request<Body>) -> Got {
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let body = axum::body::to_bytes(r.into_body(), 64 << 20)
        .await
        .unwrap()
        .to_vec();
    Got {
        status,
        headers,
        body,
    }
}

async fn get(app: &Router, uri: &str, cookie: &str, lang: &str) -> Got {
    let mut b = Request::get(uri);
    if !cookie.is_empty() {
        b = b.header(header::COOKIE, cookie);
    }
    if !lang.is_empty() {
        b = b.header(header::ACCEPT_LANGUAGE, lang);
    }
    send(app, b.body(Body::empty()).unwrap()).await
}

async fn sign_in(app: &Router, user: &str) -> String {
    let r = send(
        app,
        Request::post("/dev/sign-in")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("user={user}&next=%2F")))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location"), "/home");
    r.session()
}

/// No service internals on any page: resource names in messages, gRPC
/// words, stack traces.
fn clean(html: &str) {
    for bad in [
        "transport error",
        "status:",
        "Status {",
        "panicked",
        "grpc-status",
        "tonic",
    ] {
        assert!(!html.contains(bad), "page leaks {bad:?}");
    }
}

#[tokio::test]
async fn console_pages_downloads_sign_in_and_errors() {
    // Figures for groups of any size, so three municipalities show charts
    // (the threshold itself is tested in trust_platform).
    let env = TestEnv::start_with(kompass_tests::Options {
        comparison_min_group: Some(1),
        ..Default::default()
    })
    .await;
    onboard(&env, "ostra", "Östra kommun", 12_000, true).await;
    onboard(&env, "vastra", "Västra kommun", 30_000, true).await;
    onboard(&env, "dolda", "Dolda kommun", 8_000, false).await;
    env.member("anna", "ostra", tpb::TenantRole::TenantAdmin)
        .await;
    // Platform roles live in the catalog: grant the demo users theirs.
    env.token("analys", &["analyst"]);
    env.token("eva", &["evaluator"]);
    let ostra = import(&env, "ostra", "2024-03-01", 60).await;
    let vastra = import(&env, "vastra", "2023-05-10", 50).await;
    let dolda = import(&env, "dolda", "2024-09-01", 40).await;
    let path = |n: &str| {
        n.replace("tenants/", "/reports/")
            .replace("/evaluations/", "/")
    };
    let app = kompass_console::app(
        Console::new(settings(&env, None)).unwrap(),
        MemoryStore::default(),
    );

    // Public results, Swedish by default, filters by name, country and year.
    let r = get(&app, "/", "", "").await;
    assert_eq!(r.status, StatusCode::OK);
    let html = r.text();
    assert!(html.contains(r#"<html lang="sv">"#));
    assert!(html.contains("Publicerade resultat"));
    assert!(html.contains("Östra kommun") && html.contains("Västra kommun"));
    assert!(
        !html.contains("Dolda"),
        "a municipality that did not agree is never named"
    );
    assert!(html.contains(&format!("href=\"{}\"", path(&ostra))));
    assert!(html.contains("Hoppa till innehållet") && html.contains("aria-live"));
    assert!(
        html.contains("Välj demoanvändare"),
        "kompass dev shows the way in"
    );
    let r = get(&app, "/?q=v%C3%A4stra", "", "").await.text();
    assert!(r.contains("Västra kommun") && !r.contains("Östra kommun"));
    let r = get(&app, "/?year=2023", "", "").await.text();
    assert!(r.contains("Västra kommun") && !r.contains("Östra kommun"));
    let r = get(&app, "/?country=NO", "", "").await.text();
    assert!(r.contains("Inga resultat matchar"));
    let r = get(&app, "/?country=SE&year=2024", "", "").await.text();
    assert!(r.contains("Östra kommun") && !r.contains("Västra kommun"));

    // Languages: Accept-Language, then the remembered cookie wins.
    let r = get(&app, "/", "", "en-GB,en;q=0.9").await.text();
    assert!(r.contains(r#"<html lang="en">"#) && r.contains("Published results"));
    let r = get(&app, "/", "kompass_lang=nb", "en").await.text();
    assert!(r.contains(r#"<html lang="nb">"#) && r.contains("Publiserte resultater"));
    let r = get(&app, "/language/en?next=%2Fopen-data", "", "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), "/open-data");
    assert!(r.header("set-cookie").starts_with("kompass_lang=en;"));
    let r = get(&app, "/language/nb?next=%2F%2Fevil.example", "", "").await;
    assert_eq!(r.header("location"), "/", "only local paths are followed");
    assert_eq!(
        get(&app, "/language/xx", "", "").await.status,
        StatusCode::NOT_FOUND
    );

    // The report page: figures as the report API rounds them.
    let report = env
        .reporting()
        .await
        .get_evaluation_report(authed(
            &env.token("operator", &["operator"]),
            rpb::GetEvaluationReportRequest {
                name: ostra.clone(),
                language: "sv".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let total = report.total.clone().unwrap();
    let r = get(&app, &path(&ostra), "", "").await;
    assert_eq!(r.status, StatusCode::OK);
    let html = r.text();
    assert!(html.contains(&format!(
        r#"<span class="big">{}</span>"#,
        total.display_points
    )));
    let area = &report.areas[0];
    let af = area.figure.clone().unwrap();
    assert!(html.contains(&format!(
        r#"<td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>"#,
        af.display_points,
        af.max_points.trim_end_matches(".00"),
        af.display_percent
    )));
    assert!(html.contains(r#"role="img""#) && html.contains("<desc id="));
    assert!(html.contains("Karin Lund"));
    let digest = report.seal.clone().unwrap().digest;
    assert!(html.contains(&format!("/verify?digest={digest}")));
    assert!(html.contains("/download/pdf") && html.contains("/download/xlsx"));
    let en = get(&app, &path(&ostra), "kompass_lang=en", "").await.text();
    assert!(en.contains("Improvement opportunities") || en.contains("Overview"));

    // Downloads with their content types and file names.
    let pdf = get(&app, &format!("{}/download/pdf", path(&ostra)), "", "").await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert_eq!(pdf.header("content-type"), "application/pdf");
    assert!(pdf.body.starts_with(b"%PDF"));
    assert!(
        pdf.header("content-disposition")
            .starts_with("attachment; filename=\"")
    );
    assert!(pdf.header("content-disposition").ends_with(".pdf\""));
    let xlsx = get(&app, &format!("{}/download/xlsx", path(&ostra)), "", "").await;
    assert_eq!(
        xlsx.header("content-type"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(xlsx.body.starts_with(b"PK"));
    assert!(xlsx.header("content-disposition").ends_with(".xlsx\""));
    {
        // It opens as a workbook, with the total the report shows.
        use calamine::{Data, Reader, Xlsx};
        let mut wb = Xlsx::new(std::io::Cursor::new(xlsx.body.clone())).unwrap();
        let sum = wb.worksheet_range("Sammanfattning").unwrap();
        let row = (0..sum.height())
            .find(|&i| sum.get((i, 0)) == Some(&Data::String("Totalt".into())))
            .expect("a total row");
        assert_eq!(sum.get((row, 2)), Some(&Data::Float(480.0)));
    }
    let csv = get(&app, &format!("{}/download/csv", path(&ostra)), "", "").await;
    assert_eq!(csv.header("content-type"), "text/csv; charset=utf-8");
    assert!(csv.text().contains(&total.points));
    let r = get(&app, &format!("{}/download/docx", path(&ostra)), "", "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The seal: matching, not matching, malformed.
    let r = get(
        &app,
        &format!("{}/verify?digest={digest}", path(&ostra)),
        "",
        "",
    )
    .await;
    assert!(r.text().contains("Sigillet stämmer:"), "{}", r.text());
    let zero = "0".repeat(64);
    let r = get(
        &app,
        &format!("{}/verify?digest={zero}", path(&ostra)),
        "",
        "",
    )
    .await;
    assert!(r.text().contains("Sigillet stämmer inte"));
    let r = get(&app, &format!("{}/verify?digest=xyz", path(&ostra)), "", "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("Valen kunde inte användas"));

    // Open data at stable URLs, with its licence.
    let r = get(&app, "/open-data", "", "en").await.text();
    assert!(r.contains("CC BY 4.0") && r.contains("/open-data/results.csv"));
    let r = get(&app, "/open-data/results.csv", "", "").await;
    assert_eq!(r.header("content-type"), "text/csv; charset=utf-8");
    assert!(r.text().contains("Östra kommun") && !r.text().contains("Dolda"));
    let r = get(&app, "/open-data/results.json", "", "").await;
    assert_eq!(r.header("content-type"), "application/json");
    let rows: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);

    // Errors: unknown report, bad id, not public, unknown page, assets.
    // Anonymous readers do not learn whether a non-public report exists:
    // the same 404 for a report that does not exist and for one that is not
    // public, with a way to sign in for those who may see it.
    let r = get(&app, "/reports/ostra/nope", "", "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("/sign-in?next=%2Freports%2Fostra%2Fnope"));
    let r = get(&app, "/reports/OSTRA!/x", "", "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let hidden = get(&app, &path(&dolda), "", "").await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let missing = get(&app, "/reports/dolda/nope", "", "").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let strip = |t: String| {
        t.replace(&path(&dolda).replace('/', "%2F"), "")
            .replace("%2Freports%2Fdolda%2Fnope", "")
    };
    assert_eq!(strip(hidden.text()), strip(missing.text()));
    assert!(hidden.text().contains("/sign-in?next=%2Freports%2Fdolda"));
    let r = get(&app, "/no/such/page", "", "en").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("Page not found"));
    let r = get(&app, "/assets/htmx.min.js", "", "").await;
    assert_eq!(r.header("content-type"), "text/javascript; charset=utf-8");
    assert!(r.text().contains("htmx"));
    assert_eq!(
        get(&app, "/assets/nope.js", "", "").await.status,
        StatusCode::NOT_FOUND
    );

    // Signed-in pages send anonymous readers to sign in.
    for p in ["/home"] {
        let r = get(&app, p, "", "").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{p}");
        assert!(r.header("location").starts_with("/sign-in?next="), "{p}");
    }
    // The public's comparison: named municipalities only, and it says how
    // many were left out.
    let r = get(&app, "/comparison", "", "").await;
    assert_eq!(r.status, StatusCode::OK);
    let page = r.text();
    assert!(
        page.contains("Östra kommun") && page.contains("Västra kommun"),
        "{page}"
    );
    assert!(!page.contains("Dolda"), "{page}");
    assert!(
        page.contains("En kommun som inte har gått med på att namnges ingår inte i siffrorna."),
        "{page}"
    );
    assert!(page.contains("2 kommuner jämförs"), "{page}");
    assert!(page.contains("chart boxplot"), "{page}");
    let r = get(&app, "/comparison.csv", "", "en").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").starts_with("text/csv"));
    let csv = r.text();
    assert!(
        csv.contains("Östra kommun") && !csv.contains("Dolda"),
        "{csv}"
    );

    // The printable summary: the same public figures, typeset in English.
    let r = get(&app, "/comparison.pdf", "", "en").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/pdf");
    assert!(r.header("content-disposition").ends_with(".pdf\""));
    let (text, _, info, _) = kompass_tests::poppler(&r.body);
    assert!(info.contains("Tagged:          yes"), "{info}");
    assert!(
        text.contains("Östra kommun") && text.contains("Västra kommun") && !text.contains("Dolda"),
        "{text}"
    );

    let r = get(&app, "/sign-in", "", "").await.text();
    assert!(r.contains("Anna Kvalitetsstrateg") && r.contains(r#"action="/dev/sign-in""#));

    // Analyst: comparison with every filter, CSV, national results.
    let analyst = sign_in(&app, "analys").await;
    let r = get(&app, "/reports/ostra/nope", &analyst, "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("Sidan finns inte"));
    clean(&r.text());
    let r = get(&app, "/comparison", &analyst, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let html = r.text();
    assert!(
        html.contains("3 kommuner jämförs"),
        "every latest evaluation counts"
    );
    assert!(html.contains("Östra kommun") && !html.contains("Dolda"));
    assert!(html.contains("chart boxplot") && html.contains("chart histogram"));
    let r = get(&app, "/comparison?highlight=ostra", &analyst, "")
        .await
        .text();
    assert!(r.contains(r#"class="chosen""#) && r.contains("Markerad kommun:"));
    let r = get(
        &app,
        "/comparison?from_year=2024&to_year=2024",
        &analyst,
        "",
    )
    .await
    .text();
    assert!(r.contains("2 kommuner jämförs"));
    let r = get(&app, "/comparison?population=5", &analyst, "")
        .await
        .text();
    assert!(
        r.contains("Inga utvärderingar matchar"),
        "no municipality has 100 000 or more"
    );
    let r = get(&app, "/comparison?country=NO", &analyst, "")
        .await
        .text();
    assert!(r.contains("Inga utvärderingar matchar"));
    let r = get(&app, "/comparison?from_year=abc", &analyst, "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = get(&app, "/comparison?country=XX", &analyst, "en").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("Your choices could not be used"));
    let r = get(
        &app,
        "/comparison?framework_version=frameworks%2Fx%2Fversions%2F1",
        &analyst,
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // An htmx update gets an inline message aimed at the message region.
    let r = send(
        &app,
        Request::get("/comparison?to_year=1")
            .header(header::COOKIE, &analyst)
            .header("hx-request", "true")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("hx-retarget"), "#messages");
    assert!(r.text().contains(r#"role="alert""#) && !r.text().contains("<html"));
    let r = get(&app, "/comparison.csv?highlight=ostra", &analyst, "").await;
    assert_eq!(r.header("content-type"), "text/csv; charset=utf-8");
    let csv = r.text();
    assert!(csv.starts_with("section,id,count,"));
    assert!(csv.contains("\ntotal,,3,"));
    assert!(csv.contains(",ostra,Östra kommun,") && !csv.contains("dolda"));
    // Signed in, the summary counts every municipality, named or not, and
    // the page links to it with the chosen filters.
    let html = get(&app, "/comparison?from_year=2024", &analyst, "")
        .await
        .text();
    assert!(
        html.contains("/comparison.pdf?framework_version="),
        "{html}"
    );
    let r = get(&app, "/comparison.pdf?country=XX", &analyst, "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = get(&app, "/comparison.pdf", &analyst, "nb").await;
    assert_eq!(r.status, StatusCode::OK);
    let (text, ..) = kompass_tests::poppler(&r.body);
    assert!(
        text.contains("Östra kommun") && !text.contains("Dolda"),
        "{text}"
    );
    let r = get(&app, "/home", &analyst, "").await.text();
    assert!(
        r.contains("Nationella resultat") && r.contains("Kommun som inte vill namnges"),
        "{r}"
    );

    // Tenant admin: their evaluations, state, evaluators, report link; and a
    // report of another municipality that is not public is refused.
    let anna = sign_in(&app, "anna").await;
    let r = get(&app, "/home", &anna, "").await.text();
    assert!(r.contains("Östra kommun") && r.contains("Administratör"));
    assert!(r.contains("Kommunkompassen 2024") && r.contains("Publicerad"));
    assert!(r.contains("Karin Lund") && r.contains(&format!("href=\"{}\"", path(&ostra))));
    assert!(
        r.contains(&total.display_points),
        "key figure: the latest total"
    );
    let r = get(&app, &path(&dolda), &anna, "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("Du har inte behörighet"));
    clean(&r.text());

    // Operator: the municipalities with their state.
    let op = sign_in(&app, "operator").await;
    let r = get(&app, "/home", &op, "en").await.text();
    assert!(r.contains("Municipalities on the platform") && r.contains("Dolda kommun"));
    assert!(r.contains("Active"));

    // Evaluator: the assignments section.
    let eva = sign_in(&app, "eva").await;
    let r = get(&app, "/home", &eva, "nb").await.text();
    assert!(r.contains("Mine evalueringsoppdrag"));

    // Sign-out ends the session.
    let r = send(
        &app,
        Request::post("/sign-out")
            .header(header::COOKIE, &anna)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        get(&app, "/home", &anna, "").await.status,
        StatusCode::SEE_OTHER
    );

    // Unknown demo user.
    let r = send(
        &app,
        Request::post("/dev/sign-in")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("user=mallory"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // With OpenID Connect configured, development sign-in is refused.
    let oidc = kompass_console::app(
        Console::new(settings(&env, Some("https://idp.example"))).unwrap(),
        MemoryStore::default(),
    );
    let r = send(
        &oidc,
        Request::post("/dev/sign-in")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("user=operator"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = get(&oidc, "/sign-in", "", "").await.text();
    assert!(r.contains("/auth/login") && !r.contains("Anna Kvalitetsstrateg"));
    assert!(
        !get(&oidc, "/", "", "")
            .await
            .text()
            .contains("Välj demoanvändare")
    );

    // A service that does not answer: a page that says so, nothing internal.
    let mut down = settings(&env, None);
    down.reporting_url = "http://127.0.0.1:1".into();
    let down = kompass_console::app(Console::new(down).unwrap(), MemoryStore::default());
    let r = get(&down, "/", "", "").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().contains("Tjänsten svarar inte just nu"));
    clean(&r.text());

    let _ = vastra;
    env.cleanup().await;
}
