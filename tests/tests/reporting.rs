//! The reporting service against real PostgreSQL and Redis: the read model
//! fed by `evaluation.published`, national comparisons, reports and exports,
//! publicity and consent.

use std::time::{Duration, Instant};

use kompass_config::ServiceKind;
use kompass_proto::assessment::v1 as apb;
use kompass_proto::assessment::v1::evaluation_service_client::EvaluationServiceClient;
use kompass_proto::reporting::v1 as rpb;
use kompass_proto::reporting::v1::reporting_service_client::ReportingServiceClient;
use kompass_proto::tenancy::v1 as tpb;
use kompass_tests::{TestEnv, authed};
use prost::Message;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tonic::Code;
use tonic::transport::Channel;

const FW: &str = "frameworks/kommunkompassen/versions/2015";

async fn onboard(env: &TestEnv, id: &str, name: &str, code: &str, population: i64, named: bool) {
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

/// Question ids and integer maxima of the built-in framework, in order.
fn questions() -> Vec<(String, String, i64)> {
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

/// Points in hundredths: `pct(j)` percent of each question's maximum.
fn points(pct: impl Fn(usize) -> i64) -> Vec<i64> {
    questions()
        .iter()
        .enumerate()
        .map(|(j, (_, _, max))| max * pct(j))
        .collect()
}

fn csv(points: &[i64]) -> String {
    let mut s = String::from("question,points\n");
    for ((_, q, _), p) in questions().iter().zip(points) {
        s.push_str(&format!("{q},{}.{:02}\n", p / 100, p % 100));
    }
    s
}

async fn import(
    ev: &mut EvaluationServiceClient<Channel>,
    op: &str,
    tenant: &str,
    date: &str,
    kind: apb::EvaluationKind,
    points: &[i64],
) -> String {
    ev.import_evaluation(authed(
        op,
        apb::ImportEvaluationRequest {
            parent: format!("tenants/{tenant}"),
            title: format!("Kommunkompassen {}", &date[..4]),
            kind: kind as i32,
            framework_version: FW.into(),
            evaluation_date: date.into(),
            evaluator_names: vec!["Karin Lund".into()],
            csv: csv(points).into_bytes(),
            source: format!("Kommunkompassen {}, rapport från SKR", &date[..4]),
            ..Default::default()
        },
    ))
    .await
    .unwrap()
    .into_inner()
    .name
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

/// A decimal string as a whole number of ten-thousandths.
fn u4(s: &str) -> i64 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    assert!(frac.len() <= 4, "{s} has more than 4 decimals");
    int.parse::<i64>().unwrap() * 10_000 + format!("{frac:0<4}").parse::<i64>().unwrap()
}

/// Independent statistics in ten-thousandths from hundredths: (count, mean,
/// median, q1, q3, min, max), quartiles by linear interpolation h = (n−1)p.
fn expected(values: &[i64]) -> (usize, i64, i64, i64, i64, i64, i64) {
    let mut v = values.to_vec();
    v.sort();
    let n = v.len() as i64;
    let q = |k: i64| {
        let h4 = (n - 1) * k;
        let (i, r) = ((h4 / 4) as usize, h4 % 4);
        let lo = v[i] * 100;
        if r == 0 {
            lo
        } else {
            lo + r * (v[i + 1] - v[i]) * 25
        }
    };
    let sum: i64 = v.iter().sum();
    let mean = (2 * sum * 100 + n) / (2 * n);
    (
        v.len(),
        mean,
        q(2),
        q(1),
        q(3),
        v[0] * 100,
        v[v.len() - 1] * 100,
    )
}

fn got(s: &rpb::Statistics) -> (usize, i64, i64, i64, i64, i64, i64) {
    (
        s.count as usize,
        u4(&s.mean),
        u4(&s.median),
        u4(&s.q1),
        u4(&s.q3),
        u4(&s.min),
        u4(&s.max),
    )
}

#[tokio::test]
async fn national_comparison_over_30_tenants_matches_independent_figures() {
    let env = TestEnv::start().await;
    let op = env.token("operator", &["operator"]);
    let analyst = env.token("ana", &["analyst"]);
    let mut ev = env.evaluations().await;
    let mut rep = env.reporting().await;
    let qs = questions();
    let named = |i: usize| !i.is_multiple_of(4);
    let name = |i: usize| {
        if named(i) {
            format!("Namngiven {i:02} kommun")
        } else {
            format!("Hemlig {i:02} kommun")
        }
    };
    let pct = |i: usize| move |j: usize| ((i * 37 + j * 11) % 101) as i64;
    let mut latest = vec![];
    for i in 1..=30 {
        let id = format!("k{i:02}");
        onboard(
            &env,
            &id,
            &name(i),
            &format!("{:04}", 1000 + i),
            i as i64 * 4000,
            named(i),
        )
        .await;
    }
    // An older evaluation of k01 (superseded), a self-assessment of k02 and a
    // draft of k03: none of them may count.
    let old = import(
        &mut ev,
        &op,
        "k01",
        "2016-03-01",
        apb::EvaluationKind::External,
        &points(|_| 100),
    )
    .await;
    for i in 1..=30 {
        latest.push(
            import(
                &mut ev,
                &op,
                &format!("k{i:02}"),
                "2018-05-01",
                apb::EvaluationKind::External,
                &points(pct(i)),
            )
            .await,
        );
    }
    let selfa = import(
        &mut ev,
        &op,
        "k02",
        "2019-01-01",
        apb::EvaluationKind::SelfAssessment,
        &points(|_| 100),
    )
    .await;
    let draft = ev
        .create_evaluation(authed(
            &op,
            apb::CreateEvaluationRequest {
                parent: "tenants/k03".into(),
                evaluation: Some(apb::Evaluation {
                    title: "Utkast".into(),
                    kind: apb::EvaluationKind::External as i32,
                    framework_version: FW.into(),
                    evaluation_date: "2020-01-01".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .name;
    wait_for_report(&mut rep, &op, &selfa).await;
    for n in latest.iter().chain([&old]) {
        wait_for_report(&mut rep, &op, n).await;
    }

    let cmp = {
        let rep = rep.clone();
        let analyst = analyst.clone();
        move |f: rpb::GetNationalComparisonRequest| {
            let mut rep = rep.clone();
            let analyst = analyst.clone();
            async move {
                rep.get_national_comparison(authed(&analyst, f))
                    .await
                    .unwrap()
                    .into_inner()
            }
        }
    };
    let all = rpb::GetNationalComparisonRequest {
        framework_version: FW.into(),
        ..Default::default()
    };
    let c = cmp(all.clone()).await;
    assert_eq!(c.tenant_count, 30);
    // Independent figures: per question, per area and the total.
    let per: Vec<Vec<i64>> = (1..=30).map(|i| points(pct(i))).collect();
    for (j, (_, q, _)) in qs.iter().enumerate() {
        let s = c.questions.iter().find(|s| &s.id == q).unwrap();
        let vals: Vec<i64> = per.iter().map(|p| p[j]).collect();
        assert_eq!(got(s), expected(&vals), "question {q}");
    }
    for a in 1..=8 {
        let a = a.to_string();
        let vals: Vec<i64> = per
            .iter()
            .map(|p| {
                qs.iter()
                    .zip(p)
                    .filter(|((x, _, _), _)| *x == a)
                    .map(|(_, v)| v)
                    .sum()
            })
            .collect();
        let s = c.areas.iter().find(|s| s.id == a).unwrap();
        assert_eq!(got(s), expected(&vals), "area {a}");
        let h = c.histograms.iter().find(|h| h.id == a).unwrap();
        assert_eq!(h.bins.len(), 10);
        assert_eq!(h.bins.iter().map(|b| b.count).sum::<i32>(), 30);
    }
    let totals: Vec<i64> = per.iter().map(|p| p.iter().sum()).collect();
    assert_eq!(got(c.total.as_ref().unwrap()), expected(&totals));
    // Ranking: named tenants only, ranked among themselves by total (no
    // gap where an unnamed one would be).
    let mut order: Vec<(i64, usize)> = totals
        .iter()
        .enumerate()
        .map(|(k, t)| (*t, k + 1))
        .collect();
    order.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(format!("k{:02}", a.1).cmp(&format!("k{:02}", b.1)))
    });
    let want: Vec<(i32, String)> = order
        .iter()
        .filter(|(_, i)| named(*i))
        .map(|(t, i)| {
            (
                1 + totals
                    .iter()
                    .enumerate()
                    .filter(|(k, x)| named(k + 1) && *x > t)
                    .count() as i32,
                name(*i),
            )
        })
        .collect();
    let have: Vec<(i32, String)> = c
        .ranking
        .iter()
        .map(|r| (r.rank, r.tenant_display_name.clone()))
        .collect();
    assert_eq!(have, want);
    assert!(!format!("{c:?}").contains("Hemlig"));
    // Cached the second time, with the same figures.
    let again = cmp(all.clone()).await;
    assert!(again.cached);
    assert_eq!(again.total, c.total);
    // Filters: population class 10k–25k = tenants 3..=6; years up to 2016 = k01's old one.
    let pop = cmp(rpb::GetNationalComparisonRequest {
        population_class: rpb::PopulationClass::From10kTo25k as i32,
        ..all.clone()
    })
    .await;
    assert_eq!(pop.tenant_count, 4);
    assert!(pop.suppressed && pop.questions.is_empty());
    let early = cmp(rpb::GetNationalComparisonRequest {
        to_year: 2016,
        ..all.clone()
    })
    .await;
    assert_eq!(early.tenant_count, 1);
    // One municipality alone: its count, no figures (KOMPASS_COMPARISON_MIN_GROUP).
    assert!(early.suppressed && early.total.is_none());
    let other = cmp(rpb::GetNationalComparisonRequest {
        framework_version: "frameworks/kommunkompassen/versions/2019".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(other.tenant_count, 0);
    // The unpublished evaluation is nowhere.
    let e = rep
        .get_evaluation_report(authed(
            &op,
            rpb::GetEvaluationReportRequest {
                name: draft.clone(),
                language: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let list = rep
        .list_published_results(authed(
            &analyst,
            rpb::ListPublishedResultsRequest {
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.results.len(), 31);
    assert!(
        list.results
            .iter()
            .all(|r| r.evaluation != draft && r.evaluation != selfa)
    );
    assert!(!format!("{list:?}").contains("Hemlig"));
    // A new publication invalidates the cache.
    import(
        &mut ev,
        &op,
        "k05",
        "2019-06-01",
        apb::EvaluationKind::External,
        &points(|_| 50),
    )
    .await;
    let start = Instant::now();
    loop {
        let c2 = cmp(all.clone()).await;
        if !c2.cached && c2.total != c.total {
            assert_eq!(c2.tenant_count, 30);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "cache never invalidated"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Open data: public (named) tenants only, each with its seal.
    let open = ReportingServiceClient::new(env.channel(ServiceKind::Reporting).await)
        .export_open_data(rpb::ExportOpenDataRequest {
            format: rpb::ExportFormat::Csv as i32,
            framework_version: FW.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let text = String::from_utf8(open.content).unwrap();
    assert!(text.contains("Namngiven 01 kommun") && !text.contains("Hemlig"));
    assert!(!text.contains("tenants/k04/"));
    assert!(
        text.lines()
            .skip(1)
            .all(|l| l.split(',').nth(7).is_some_and(|d| d.len() == 64))
    );
    env.cleanup().await;
}

fn texts_event(tenant: &str, display: &str, id: &str, text: &str) -> apb::EvaluationPublishedEvent {
    let qs = questions();
    let content = apb::PublishedContent {
        tenant: format!("tenants/{tenant}"),
        tenant_display_name: display.into(),
        evaluation: format!("tenants/{tenant}/evaluations/{id}"),
        title: "Kommunkompassen 2019".into(),
        kind: apb::EvaluationKind::External as i32,
        framework_version: FW.into(),
        evaluation_date: "2019-01-01".into(),
        questions: qs
            .iter()
            .map(|(a, q, max)| apb::PublishedQuestion {
                question: q.clone(),
                area: a.clone(),
                points: format!("{max}.00"),
                max_points: max.to_string(),
            })
            .collect(),
        areas: vec![apb::PublishedArea {
            area: "1".into(),
            general_text: text.into(),
            heading_texts: vec![],
            strengths: vec!["The municipality runs citizen panels in every district".into()],
            improvement_opportunities: vec![],
        }],
        ..Default::default()
    };
    // A real seal: the read model checks every event's digest.
    apb::EvaluationPublishedEvent {
        event_id: String::new(),
        seal: Some(kompass_seal::seal_of(&content, None)),
        content: Some(content),
    }
}

async fn snapshot(env: &TestEnv, except: &str) -> Vec<String> {
    let db = env.platform.catalog.db();
    let mut out = vec![];
    for (t, cols) in [
        (
            "reporting_evaluations",
            "evaluation, tenant_id, kind, total_centi, scores, seal_digest, event_id",
        ),
        (
            "reporting_question_points",
            "evaluation, question_id, points_centi",
        ),
        ("reporting_texts", "evaluation, area_id, source, body"),
        (
            "reporting_tenants",
            "tenant_id, display_name, named, population",
        ),
    ] {
        let where_ = if t == "reporting_tenants" {
            String::new()
        } else {
            format!("WHERE evaluation <> '{except}'")
        };
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT concat_ws('|', {cols}) AS r FROM {t} {where_} ORDER BY 1"),
            ))
            .await
            .unwrap();
        out.extend(
            rows.iter()
                .map(|r| format!("{t}: {}", r.try_get::<String>("", "r").unwrap())),
        );
    }
    out
}

#[tokio::test]
async fn redelivered_and_duplicated_events_leave_the_read_model_unchanged() {
    let env = TestEnv::start().await;
    let op = env.token("operator", &["operator"]);
    onboard(&env, "ostra", "Östra kommun", "1256", 14_000, true).await;
    let mut ev = env.evaluations().await;
    let mut rep = env.reporting().await;
    let name = import(
        &mut ev,
        &op,
        "ostra",
        "2018-05-01",
        apb::EvaluationKind::External,
        &points(|_| 84),
    )
    .await;
    wait_for_report(&mut rep, &op, &name).await;
    let before = snapshot(&env, "none").await;
    assert!(before.len() > 45);
    let row = env
        .platform
        .catalog
        .db()
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT event_id, content FROM reporting_evaluations WHERE evaluation = $1",
            [name.clone().into()],
        ))
        .await
        .unwrap()
        .unwrap();
    let event_id: String = row.try_get("", "event_id").unwrap();
    let payload: Vec<u8> = row.try_get("", "content").unwrap();
    let bus = env.platform.bus.clone();
    // Redelivery (same event id) and a duplicate publish (new id, same sealed content).
    bus.publish("evaluations", &event_id, "evaluation.published", &payload)
        .await
        .unwrap();
    bus.publish(
        "evaluations",
        "duplicate-1",
        "evaluation.published",
        &payload,
    )
    .await
    .unwrap();
    // Garbage and foreign topics are skipped, not retried forever.
    bus.publish(
        "evaluations",
        "garbage-1",
        "evaluation.published",
        b"\xff\x00not a message",
    )
    .await
    .unwrap();
    bus.publish("evaluations", "other-1", "evaluation.archived", &payload)
        .await
        .unwrap();
    // A marker behind them: once it is in, the others were handled.
    let marker = texts_event(
        "ostra",
        "Östra kommun",
        "marker",
        "Kommunen arbetar med medborgardialoger.",
    );
    bus.publish(
        "evaluations",
        "marker-1",
        "evaluation.published",
        &marker.encode_to_vec(),
    )
    .await
    .unwrap();
    wait_for_report(&mut rep, &op, "tenants/ostra/evaluations/marker").await;
    let after = snapshot(&env, "tenants/ostra/evaluations/marker").await;
    assert_eq!(before, after);
    // The same again, directly through the consumer's handler.
    assert!(
        env.platform
            .reporting()
            .handle(&event_id, "evaluation.published", &payload)
            .await
    );
    assert!(
        env.platform
            .reporting()
            .handle("duplicate-2", "evaluation.published", &payload)
            .await
    );
    assert_eq!(
        snapshot(&env, "tenants/ostra/evaluations/marker").await,
        before
    );
    env.cleanup().await;
}

#[tokio::test]
async fn reports_exports_publicity_trends_search_and_key_figures() {
    let env = TestEnv::start().await;
    let op = env.token("operator", &["operator"]);
    onboard(&env, "ostra", "Östra Göinge kommun", "1256", 14_000, true).await;
    onboard(&env, "vastra", "Västra kommun", "1257", 9_000, false).await;
    env.member("anna", "ostra", tpb::TenantRole::TenantAdmin)
        .await;
    env.member("bertil", "vastra", tpb::TenantRole::Member)
        .await;
    let anna = env.token("anna", &[]);
    let bertil = env.token("bertil", &[]);
    let mut ev = env.evaluations().await;
    let mut rep = env.reporting().await;
    let first = import(
        &mut ev,
        &op,
        "ostra",
        "2016-05-01",
        apb::EvaluationKind::External,
        &points(|_| 60),
    )
    .await;
    let name = import(
        &mut ev,
        &op,
        "ostra",
        "2018-05-01",
        apb::EvaluationKind::External,
        &points(|_| 84),
    )
    .await;
    let hidden = import(
        &mut ev,
        &op,
        "vastra",
        "2018-05-01",
        apb::EvaluationKind::External,
        &points(|_| 50),
    )
    .await;
    let bus = env.platform.bus.clone();
    for (i, e) in [
        texts_event(
            "ostra",
            "Östra Göinge kommun",
            "texts",
            "Kommunen genomför regelbundna medborgardialoger i alla kommundelar.",
        ),
        texts_event(
            "vastra",
            "Västra kommun",
            "texts",
            "Västra kommun har också medborgardialoger.",
        ),
    ]
    .iter()
    .enumerate()
    {
        bus.publish(
            "evaluations",
            &format!("t{i}"),
            "evaluation.published",
            &e.encode_to_vec(),
        )
        .await
        .unwrap();
    }
    for n in [
        &first,
        &name,
        &hidden,
        &"tenants/ostra/evaluations/texts".to_string(),
        &"tenants/vastra/evaluations/texts".to_string(),
    ] {
        wait_for_report(&mut rep, &op, n).await;
    }
    // Key figures in Kolada format, with the national value and a null.
    rep.import_key_figures(authed(
        &op,
        rpb::ImportKeyFiguresRequest {
            content: br#"[{"kpi":"N00945","municipality":"1256","period":"2018","values":[{"gender":"T","count":1,"status":"","value":12.3},{"gender":"K","count":0,"status":"","value":null}]},
                          {"kpi":"N00945","municipality":"0000","period":"2018","values":[{"gender":"T","count":290,"status":"","value":10.85}]}]"#
                .to_vec(),
        },
    ))
    .await
    .unwrap();

    // The report: exact figures, rounding, seal, key figures.
    let r = rep
        .get_evaluation_report(authed(
            &anna,
            rpb::GetEvaluationReportRequest {
                name: name.clone(),
                language: "sv".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let total = r.total.clone().unwrap();
    assert_eq!(
        (
            total.points.as_str(),
            total.display_points.as_str(),
            total.display_percent.as_str()
        ),
        ("672.00", "672", "84")
    );
    assert_eq!(r.areas.len(), 8);
    let q11 = r.areas[0].questions[0].figure.clone().unwrap();
    assert_eq!(
        (q11.points.as_str(), q11.display_points.as_str()),
        ("12.60", "13")
    );
    assert_eq!(r.seal.as_ref().unwrap().digest.len(), 64);
    assert_eq!(r.municipality_code, "1256");
    let kf: Vec<(String, String, String)> = r
        .key_figures
        .iter()
        .map(|k| (k.gender.clone(), k.value.clone(), k.national_value.clone()))
        .collect();
    assert_eq!(
        kf,
        vec![
            ("K".into(), "".into(), "".into()),
            ("T".into(), "12.3".into(), "10.85".into())
        ]
    );

    // Anonymous callers read public reports only.
    let mut anon = ReportingServiceClient::new(env.channel(ServiceKind::Reporting).await);
    let pubr = anon
        .get_evaluation_report(rpb::GetEvaluationReportRequest {
            name: name.clone(),
            language: "en".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(pubr.public);
    assert_eq!(pubr.areas[0].title, "Openness and democracy");
    let e = anon
        .get_evaluation_report(rpb::GetEvaluationReportRequest {
            name: hidden.clone(),
            language: String::new(),
        })
        .await
        .unwrap_err();
    // Not public: anonymously the same as not there.
    assert_eq!(e.code(), Code::NotFound);
    let e = anon
        .export_evaluation_report(rpb::ExportEvaluationReportRequest {
            name: hidden.clone(),
            format: rpb::ExportFormat::Csv as i32,
            language: String::new(),
        })
        .await
        .unwrap_err();
    // Not public: anonymously the same as not there.
    assert_eq!(e.code(), Code::NotFound);
    // A user of another tenant reads the public one but not the other private one.
    assert!(
        rep.get_evaluation_report(authed(
            &bertil,
            rpb::GetEvaluationReportRequest {
                name: name.clone(),
                language: String::new()
            }
        ))
        .await
        .is_ok()
    );
    assert!(
        rep.get_evaluation_report(authed(
            &bertil,
            rpb::GetEvaluationReportRequest {
                name: hidden.clone(),
                language: String::new()
            }
        ))
        .await
        .is_ok()
    );
    assert_eq!(
        rep.get_evaluation_report(authed(
            &anna,
            rpb::GetEvaluationReportRequest {
                name: hidden.clone(),
                language: String::new()
            }
        ))
        .await
        .unwrap_err()
        .code(),
        Code::PermissionDenied
    );

    // PDF: pdftotext reads back the name, every question id and the totals.
    let t = Instant::now();
    let pdf = rep
        .export_evaluation_report(authed(
            &anna,
            rpb::ExportEvaluationReportRequest {
                name: name.clone(),
                format: rpb::ExportFormat::Pdf as i32,
                language: "sv".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    eprintln!(
        "PDF export over gRPC: {:?}, {} bytes",
        t.elapsed(),
        pdf.content.len()
    );
    assert_eq!(pdf.content_type, "application/pdf");
    let path = std::env::temp_dir().join(format!("kompass-report-{}.pdf", std::process::id()));
    std::fs::write(&path, &pdf.content).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) must be installed: scripts/test.sh installs it");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Östra Göinge kommun"), "{text}");
    for (_, q, _) in questions() {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&format!("{q} "))),
            "question {q} missing"
        );
    }
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Totalt") && l.contains(" 672 ") && l.contains("84 %")),
        "{text}"
    );
    for a in &r.areas {
        let f = a.figure.clone().unwrap();
        assert!(lines.iter().any(|l| l.starts_with(&format!("{} ", a.area))
            && l.contains(&a.title)
            && l.contains(&format!(" {} ", f.display_points))));
    }

    // XLSX opened with calamine: the same figures.
    let x = rep
        .export_evaluation_report(authed(
            &anna,
            rpb::ExportEvaluationReportRequest {
                name: name.clone(),
                format: rpb::ExportFormat::Xlsx as i32,
                language: "sv".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    {
        use calamine::{Data, Reader, Xlsx};
        let mut wb = Xlsx::new(std::io::Cursor::new(x.content)).unwrap();
        let names = wb.sheet_names();
        assert_eq!(names.len(), 9, "{names:?}");
        let sum = wb.worksheet_range("Sammanfattning").unwrap();
        let row = (0..sum.height())
            .find(|&i| sum.get((i, 0)) == Some(&Data::String("Totalt".into())))
            .unwrap();
        assert_eq!(sum.get((row, 2)), Some(&Data::Float(672.0)));
        assert_eq!(sum.get((row, 5)), Some(&Data::Float(672.0)));
        for a in &r.areas {
            let sheet = wb.worksheet_range(&format!("Område {}", a.area)).unwrap();
            for (k, q) in a.questions.iter().enumerate() {
                let f = q.figure.clone().unwrap();
                assert_eq!(
                    sheet.get((3 + k, 0)),
                    Some(&Data::String(q.question.clone()))
                );
                assert_eq!(
                    sheet.get((3 + k, 2)),
                    Some(&Data::Float(f.points.parse().unwrap()))
                );
                assert_eq!(
                    sheet.get((3 + k, 5)),
                    Some(&Data::Float(f.display_points.parse().unwrap()))
                );
            }
        }
    }
    // CSV: the last row is the total.
    let c = anon
        .export_evaluation_report(rpb::ExportEvaluationReportRequest {
            name: name.clone(),
            format: rpb::ExportFormat::Csv as i32,
            language: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let c = String::from_utf8(c.content).unwrap();
    assert!(c.trim_end().ends_with(",672.00,800,84,672,84"), "{c}");
    assert_eq!(c.lines().count(), 1 + 45 + 8 + 1);

    // Radar: SVG against the previous evaluation; the revision average is
    // withheld, two municipalities being fewer than KOMPASS_COMPARISON_MIN_GROUP.
    let radar = anon
        .get_radar_profile(rpb::GetRadarProfileRequest {
            name: name.clone(),
            language: "sv".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(radar.previous_evaluation, first);
    assert!(radar.svg.starts_with("<svg") && radar.svg.contains("Föregående"));
    assert_eq!(radar.axes[0].percent, "84");
    assert_eq!(radar.axes[0].previous_percent, "60");
    assert!(radar.axes.iter().all(|a| a.average_percent.is_empty()));

    // Trend between the two evaluations.
    let tr = rep
        .compare_evaluations(authed(
            &anna,
            rpb::CompareEvaluationsRequest {
                base: first.clone(),
                target: name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let tt = tr.total.unwrap();
    assert_eq!(
        (
            tt.base_points.as_str(),
            tt.target_points.as_str(),
            tt.change.as_str()
        ),
        ("480.00", "672.00", "192.00")
    );
    assert_eq!(tr.areas.len(), 8);
    assert_eq!(tr.questions.len(), 45);

    // Good examples: stemmed search, public reports only.
    let sv = anon
        .search_good_examples(rpb::SearchGoodExamplesRequest {
            query: "medborgardialog".into(),
            language: "sv".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sv.examples.len(), 1, "{sv:?}");
    assert_eq!(sv.examples[0].tenant_display_name, "Östra Göinge kommun");
    assert_eq!(sv.examples[0].area_points, "100.00");
    assert_eq!(sv.examples[0].questions.len(), 5);
    let en = anon
        .search_good_examples(rpb::SearchGoodExamplesRequest {
            query: "panel".into(),
            language: "en".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(en.examples.len(), 1);
    assert_eq!(en.examples[0].source, "strength");
    assert!(!format!("{sv:?}{en:?}").contains("Västra"));
    env.cleanup().await;
}

async fn count(db: &sea_orm::DatabaseConnection, table: &str) -> i64 {
    db.query_one_raw(Statement::from_string(
        DbBackend::Postgres,
        format!("SELECT count(*) AS n FROM {table}"),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get("", "n")
    .unwrap()
}

/// With `database.analytics_url` set, the read model lives in that database
/// and nothing of it in the catalog's.
#[tokio::test]
async fn read_model_in_its_own_analytics_database() {
    let env = TestEnv::start_with(kompass_tests::Options {
        analytics: true,
        ..Default::default()
    })
    .await;
    let op = env.token("operator", &["operator"]);
    onboard(&env, "ostra", "Östra kommun", "0001", 30_000, true).await;
    let mut ev = env.evaluations().await;
    let mut rep = env.reporting().await;
    let e = import(
        &mut ev,
        &op,
        "ostra",
        "2025-05-01",
        apb::EvaluationKind::External,
        &points(|_| 50),
    )
    .await;
    wait_for_report(&mut rep, &op, &e).await;
    let url = env.cfg.database.analytics_url.clone().unwrap();
    let analytics = sea_orm::Database::connect(url.as_str()).await.unwrap();
    assert_eq!(count(&analytics, "reporting_evaluations").await, 1);
    assert_eq!(count(&analytics, "reporting_question_points").await, 45);
    assert_eq!(
        count(env.platform.catalog.db(), "reporting_evaluations").await,
        0
    );
    let cmp = rep
        .get_national_comparison(authed(
            &op,
            rpb::GetNationalComparisonRequest {
                framework_version: FW.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    // One municipality: its count only (KOMPASS_COMPARISON_MIN_GROUP).
    assert_eq!(cmp.tenant_count, 1);
    assert!(cmp.suppressed && cmp.total.is_none());
    analytics.close().await.ok();
    env.cleanup().await;
}
