//! `documents`: time and size of the full evaluation report as PDF on the
//! Typst engine (`kompass-documents`), in process, beside the previous
//! printpdf exporter on the same report in the same run.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use clap::Args;
use kompass_documents::Lang;
use kompass_frameworks::Framework;
use kompass_proto::assessment::v1 as apb;
use rust_decimal::Decimal;

use crate::old_pdf;

#[derive(Args, Clone)]
pub struct DocumentsArgs {
    /// Renders timed per exporter (after one warm-up render each).
    #[arg(long, default_value_t = 30)]
    samples: usize,
}

/// A full evaluation: every question scored, every area with a general text,
/// a text per heading, strengths and improvement opportunities.
fn full_event(fw: &Framework) -> apb::EvaluationPublishedEvent {
    let questions = fw
        .questions()
        .enumerate()
        .map(|(j, (a, q))| apb::PublishedQuestion {
            question: q.id.clone(),
            area: a.id.clone(),
            points: kompass_scoring::format_points(
                q.max_points * Decimal::new(45 + (j as i64 * 7) % 50, 2),
            ),
            max_points: q.max_points.normalize().to_string(),
        })
        .collect();
    let text = "Kommunen arbetar systematiskt med dialog, uppföljning och förbättring; \
                resultaten redovisas öppet och används i styrningen. "
        .repeat(6);
    let areas = fw
        .areas
        .iter()
        .map(|a| apb::PublishedArea {
            area: a.id.clone(),
            general_text: format!("{text}\n\n{text}"),
            heading_texts: (1..=a.headings.len() as i32)
                .map(|h| apb::HeadingText {
                    heading: h,
                    text: text.clone(),
                })
                .collect(),
            strengths: (1..=4)
                .map(|i| format!("Styrka {i}: tydliga mål och uppföljning i område {}", a.id))
                .collect(),
            improvement_opportunities: (1..=4)
                .map(|i| apb::ImprovementOpportunity {
                    text: format!("Möjlighet {i}: bredare medverkan i område {}", a.id),
                    ..Default::default()
                })
                .collect(),
        })
        .collect();
    apb::EvaluationPublishedEvent {
        event_id: String::new(),
        content: Some(apb::PublishedContent {
            tenant: "tenants/ostra".into(),
            tenant_display_name: "Östra Göinge kommun".into(),
            evaluation: "tenants/ostra/evaluations/bench".into(),
            title: "Kommunkompassen 2026".into(),
            kind: apb::EvaluationKind::External as i32,
            framework_version: "frameworks/kommunkompassen/versions/2015".into(),
            evaluation_date: "2026-10-01".into(),
            interview_count: 31,
            evaluators: vec![apb::PublishedEvaluator {
                user: "users/karin".into(),
                display_name: "Karin Lund".into(),
                role: apb::EvaluatorRole::Lead as i32,
            }],
            questions,
            areas,
            ..Default::default()
        }),
        seal: Some(apb::Seal {
            algorithm: "SHA-256".into(),
            digest: "ab".repeat(32),
            canonicalization: "kompass-canonical-json-v1".into(),
            seal_time: None,
        }),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn time(
    samples: usize,
    mut f: impl FnMut() -> Result<Vec<u8>>,
) -> Result<(Duration, Duration, usize)> {
    let size = f()?.len();
    let mut t = Vec::with_capacity(samples);
    for _ in 0..samples {
        let s = Instant::now();
        let bytes = f()?;
        t.push(s.elapsed());
        assert!(!bytes.is_empty(), "an empty document");
    }
    t.sort();
    Ok((percentile(&t, 0.5), percentile(&t, 0.99), size))
}

pub fn run(a: DocumentsArgs) -> Result<()> {
    let fw = Framework::builtin().clone();
    let ev = full_event(&fw);
    let r = kompass_reporting::build_report(&ev, &fw, false).map_err(|e| anyhow!("report: {e}"))?;
    let same = time(a.samples, || {
        kompass_reporting::render_report_pdf(&r, &fw, Lang::Sv).map_err(|e| anyhow!("{e}"))
    })?;
    // What a server does: every download a different municipality's report,
    // so only what the reports share (fonts, templates) is memoised.
    let mut n = 0;
    let distinct = time(a.samples, || {
        n += 1;
        let mut ev = ev.clone();
        if let Some(c) = ev.content.as_mut() {
            c.tenant_display_name = format!("Kommun nummer {n}");
            for q in &mut c.questions {
                q.points = kompass_scoring::format_points(
                    q.max_points.parse::<Decimal>().unwrap_or_default()
                        * Decimal::new(((n * 13) % 100) as i64, 2),
                );
            }
        }
        let r = kompass_reporting::build_report(&ev, &fw, false).map_err(|e| anyhow!("{e}"))?;
        kompass_reporting::render_report_pdf(&r, &fw, Lang::Sv).map_err(|e| anyhow!("{e}"))
    })?;
    let cold = time(a.samples, || {
        kompass_documents::forget_memoised();
        kompass_reporting::render_report_pdf(&r, &fw, Lang::Sv).map_err(|e| anyhow!("{e}"))
    })?;
    let old = time(a.samples, || Ok(old_pdf::render(&r, None)))?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("| exporter | p50 | p99 | size |");
    println!("|---|---|---|---|");
    for (name, (p50, p99, size)) in [
        ("Typst, tagged PDF/UA-1: the same report again", same),
        ("Typst: a different report each time", distinct),
        ("Typst: nothing memoised (first render)", cold),
        ("previous printpdf exporter, untagged", old),
    ] {
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} KiB |",
            ms(p50),
            ms(p99),
            size as f64 / 1024.0
        );
    }
    Ok(())
}
