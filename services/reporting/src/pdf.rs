//! PDF export of a report on the shared Typst engine (`kompass-documents`):
//! this module only gathers the report's figures and texts into the data the
//! template `report.typ` reads. Every figure shown is the report API's own
//! (display values rounded half away from zero from exact points); only the
//! chart geometry uses floating point.

use kompass_documents::{Lang, Template};
use kompass_frameworks::Framework;
use kompass_proto::reporting::v1 as pb;
use kompass_scoring::round_display;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use crate::radar;
use crate::report::tr;

/// Smallest group whose spread (median, quartiles) a document shows.
const MIN_GROUP: i32 = 5;

/// Where and how a reader checks a seal.
pub const VERIFY_RPC: &str = "kompass.assessment.v1.EvaluationService/VerifyPublication";

fn fig(f: &Option<pb::Figure>) -> pb::Figure {
    f.clone().unwrap_or_default()
}

/// Radar series of a report: the evaluation, the revision average, and the
/// previous evaluation if any.
pub fn report_series(
    r: &pb::EvaluationReport,
    previous: Option<&pb::RadarProfile>,
) -> (Vec<String>, Vec<radar::Series>) {
    let en = r.language == "en";
    let axes: Vec<String> = r.areas.iter().map(|a| a.area.clone()).collect();
    let pct = |s: &str| s.parse::<Decimal>().unwrap_or_default();
    let mut series = vec![radar::Series {
        label: r.tenant_display_name.clone(),
        values: r
            .areas
            .iter()
            .map(|a| pct(&fig(&a.figure).percent))
            .collect(),
        rgb: (0, 90, 160),
    }];
    if r.average_count > 0 {
        series.push(radar::Series {
            label: if en {
                format!(
                    "Average of the revision ({} municipalities)",
                    r.average_count
                )
            } else {
                format!("Genomsnitt för revisionen ({} kommuner)", r.average_count)
            },
            values: r
                .areas
                .iter()
                .map(|a| {
                    let max = pct(&fig(&a.figure).max_points);
                    if max.is_zero() {
                        Decimal::ZERO
                    } else {
                        pct(&a.average_points) / max * Decimal::from(100)
                    }
                })
                .collect(),
            rgb: (200, 120, 0),
        });
    }
    if let Some(p) = previous
        && !p.previous_evaluation.is_empty()
    {
        series.push(radar::Series {
            label: if en {
                "Previous evaluation"
            } else {
                "Föregående utvärdering"
            }
            .into(),
            values: p.axes.iter().map(|a| pct(&a.previous_percent)).collect(),
            rgb: (120, 120, 120),
        });
    }
    (axes, series)
}

fn dec(s: &str) -> Option<Decimal> {
    s.parse::<Decimal>().ok()
}

fn round(s: &str) -> String {
    dec(s)
        .map(|d| round_display(d).to_string())
        .unwrap_or_default()
}

fn signed(d: Decimal) -> String {
    let r = round_display(d);
    if r > Decimal::ZERO {
        format!("+{r}")
    } else if r < Decimal::ZERO {
        format!("\u{2212}{}", -r)
    } else {
        "0".into()
    }
}

fn float(s: &str) -> f64 {
    dec(s).and_then(|d| d.to_f64()).unwrap_or(0.0)
}

fn figure(f: &Option<pb::Figure>) -> Value {
    let f = fig(f);
    json!({
        "points": f.points, "max_points": f.max_points, "percent": f.percent,
        "display_points": f.display_points, "display_percent": f.display_percent,
    })
}

fn date(t: &Option<prost_types::Timestamp>, with_time: bool) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|d| {
            if with_time {
                d.format("%Y-%m-%d %H:%M UTC").to_string()
            } else {
                d.format("%Y-%m-%d").to_string()
            }
        })
        .unwrap_or_default()
}

/// The template's data for a report. `profile` gives the previous
/// evaluation's percents, `national` the revision's statistics, `fw` every
/// heading of each area.
pub fn data(
    r: &pb::EvaluationReport,
    profile: Option<&pb::RadarProfile>,
    national: Option<&pb::NationalComparison>,
    fw: &Framework,
    lang: Lang,
) -> Value {
    let en = lang == Lang::En;
    let stats = |id: &str| -> Option<&pb::Statistics> {
        national.and_then(|n| {
            if id.is_empty() {
                n.total.as_ref()
            } else {
                n.areas.iter().find(|s| s.id == id)
            }
        })
    };
    // Spreads of fewer evaluations than the usual statistical threshold
    // could point at single municipalities: left out.
    let spread = |s: Option<&pb::Statistics>| -> (String, String) {
        s.filter(|s| s.count >= MIN_GROUP)
            .map(|s| {
                (
                    round(&s.median),
                    format!("{}\u{2013}{}", round(&s.q1), round(&s.q3)),
                )
            })
            .unwrap_or_default()
    };
    let previous = profile.filter(|p| !p.previous_evaluation.is_empty());
    let hundred = Decimal::from(100);
    let areas: Vec<Value> = r
        .areas
        .iter()
        .map(|a| {
            let f = fig(&a.figure);
            let max = dec(&f.max_points).unwrap_or_default();
            let avg = dec(&a.average_points);
            let avg_pct = avg
                .filter(|_| !max.is_zero())
                .map(|v| v / max * hundred)
                .unwrap_or_default();
            let prev = previous
                .and_then(|p| p.axes.iter().find(|x| x.area == a.area))
                .map(|x| x.previous_percent.clone())
                .unwrap_or_default();
            let (median, quartiles) = spread(stats(&a.area));
            json!({
                "id": a.area,
                "title": a.title,
                "figure": figure(&a.figure),
                "average_display": avg.map(|v| round_display(v).to_string()).unwrap_or_default(),
                "average_percent_display": round_display(avg_pct).to_string(),
                "difference_display": match (dec(&f.points), avg) {
                    (Some(p), Some(v)) => signed(p - v),
                    _ => String::new(),
                },
                "median_display": median,
                "quartiles_display": quartiles,
                "previous_percent_display": round(&prev),
                "radar_percent": float(&f.percent),
                "radar_average": avg_pct.to_f64().unwrap_or(0.0),
                "radar_previous": float(&prev),
                "heading_titles": fw.area(&a.area).map(|fa| fa.headings.iter().map(|h| tr(h, en)).collect::<Vec<_>>()).unwrap_or_default(),
                "general_text": a.general_text,
                "headings": a.headings.iter().map(|h| json!({"title": h.title, "text": h.text})).collect::<Vec<_>>(),
                "strengths": a.strengths,
                "opportunities": a.improvement_opportunities,
                "questions": a.questions.iter().map(|q| json!({
                    "id": q.question, "text": q.text, "figure": figure(&q.figure),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let total = fig(&r.total);
    let (total_median, total_quartiles) = spread(stats(""));
    let seal = r.seal.clone().unwrap_or_default();
    json!({
        "evaluation": r.evaluation,
        "title": r.title,
        "municipality": r.tenant_display_name,
        "municipality_code": r.municipality_code,
        "year": r.evaluation_date.get(..4).unwrap_or_default(),
        "evaluation_date": r.evaluation_date,
        "publish_date": date(&r.publish_time, false),
        "framework": r.framework_title,
        "kind": r.kind,
        "imported": r.imported,
        // The published content names evaluators without their organisation
        // and counts interviews without their groups; the template shows
        // both as soon as they are given.
        "evaluators": r.evaluators.iter().map(|e| json!({
            "name": e.display_name, "role": e.role, "organisation": "",
        })).collect::<Vec<_>>(),
        "interview_count": r.interview_count,
        "interview_groups": Vec::<String>::new(),
        "total": figure(&r.total),
        "average_count": r.average_count,
        "average_suppressed": r.average_suppressed,
        "average_suppressed_reason": r.average_suppressed_reason,
        "average_total_display": round(&r.average_total),
        "total_difference_display": match (dec(&total.points), dec(&r.average_total)) {
            (Some(p), Some(v)) => signed(p - v),
            _ => String::new(),
        },
        "total_median_display": total_median,
        "total_quartiles_display": total_quartiles,
        "previous": previous.map(|p| json!({"evaluation": p.previous_evaluation})),
        "areas": areas,
        "key_figures": r.key_figures.iter().map(|k| json!({
            "kpi": k.kpi, "period": k.period, "gender": k.gender,
            "value": k.value, "national_value": k.national_value,
        })).collect::<Vec<_>>(),
        // Who put an imported result on record, when and from where.
        "import_record": r.import_record.as_ref().map(|i| json!({
            "imported_by": i.imported_by,
            "role": i.role,
            "date": date(&i.import_time, false),
            "source": i.source,
        })),
        "seal": {
            "algorithm": seal.algorithm,
            "digest": seal.digest,
            "canonicalization": seal.canonicalization,
            "seal_time": date(&seal.seal_time, true),
            "verify_rpc": VERIFY_RPC,
        },
    })
}

/// The report as a tagged PDF/UA-1 document.
pub fn render(
    r: &pb::EvaluationReport,
    profile: Option<&pb::RadarProfile>,
    national: Option<&pb::NationalComparison>,
    fw: &Framework,
    lang: Lang,
) -> Result<Vec<u8>, kompass_documents::Error> {
    kompass_documents::render(
        Template::EvaluationReport,
        &data(r, profile, national, fw, lang),
        lang,
    )
}

/// The filters a national comparison was made under, for its summary.
pub struct ComparisonFilters {
    pub country: String,
    pub from_year: i32,
    pub to_year: i32,
    pub population_class: i32,
}

fn stats(s: &pb::Statistics, title: String) -> Value {
    json!({
        "id": s.id, "title": title, "max_points": s.max_points, "count": s.count,
        "mean": s.mean, "display_mean": s.display_mean,
        "median": round(&s.median), "q1": round(&s.q1), "q3": round(&s.q3),
        "min": round(&s.min), "max": round(&s.max),
        "bar": dec(&s.max_points).filter(|m| !m.is_zero()).and_then(|m| dec(&s.mean).map(|v| v / m * Decimal::from(100))).and_then(|d| d.to_f64()).unwrap_or(0.0),
    })
}

/// The template's data for the national comparison summary.
pub fn comparison_data(
    c: &pb::NationalComparison,
    fw: &Framework,
    f: &ComparisonFilters,
    lang: Lang,
) -> Value {
    let en = lang == Lang::En;
    let population = match pb::PopulationClass::try_from(f.population_class) {
        Ok(pb::PopulationClass::Under10k) => "< 10 000",
        Ok(pb::PopulationClass::From10kTo25k) => "10 000 \u{2013} 24 999",
        Ok(pb::PopulationClass::From25kTo50k) => "25 000 \u{2013} 49 999",
        Ok(pb::PopulationClass::From50kTo100k) => "50 000 \u{2013} 99 999",
        Ok(pb::PopulationClass::From100k) => "\u{2265} 100 000",
        _ => "",
    };
    json!({
        "framework": tr(&fw.name, en),
        "framework_version": c.framework_version,
        "tenant_count": c.tenant_count,
        "suppressed": c.suppressed,
        "suppressed_reason": c.suppressed_reason,
        "unnamed_excluded": c.unnamed_excluded,
        "country": f.country,
        "from_year": if f.from_year > 0 { f.from_year.to_string() } else { String::new() },
        "to_year": if f.to_year > 0 { f.to_year.to_string() } else { String::new() },
        "population": population,
        "total": c.total.as_ref().map(|s| stats(s, String::new())),
        "areas": c.areas.iter().map(|s| stats(s, fw.area(&s.id).map(|a| tr(&a.name, en)).unwrap_or_default())).collect::<Vec<_>>(),
        "questions": c.questions.iter().map(|s| stats(s, fw.question(&s.id).map(|(_, q)| tr(&q.text, en)).unwrap_or_default())).collect::<Vec<_>>(),
        "histograms": c.histograms.iter().map(|h| json!({
            "id": h.id,
            "title": if h.id.is_empty() { String::new() } else { fw.area(&h.id).map(|a| tr(&a.name, en)).unwrap_or_default() },
            "bins": h.bins.iter().map(|b| json!({"lower": round(&b.lower), "upper": round(&b.upper), "count": b.count})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "ranking": c.ranking.iter().map(|e| json!({
            "rank": e.rank, "name": e.tenant_display_name, "total": e.total_points,
            "display_total": round(&e.total_points),
        })).collect::<Vec<_>>(),
    })
}

/// The national comparison as a tagged PDF/UA-1 summary.
pub fn render_comparison(
    c: &pb::NationalComparison,
    fw: &Framework,
    f: &ComparisonFilters,
    lang: Lang,
) -> Result<Vec<u8>, kompass_documents::Error> {
    kompass_documents::render(
        Template::NationalComparison,
        &comparison_data(c, fw, f, lang),
        lang,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every language renders; the PDF is tagged with a structure tree.
    /// `KOMPASS_PDF_DIR` keeps the files for a look.
    #[test]
    fn report_renders_tagged_in_every_language() {
        let (ev, fw) = crate::export::tests::sample();
        for lang in [Lang::Sv, Lang::En, Lang::Nb] {
            let r = crate::report::build(&ev, &fw, None, None, lang == Lang::En, true).unwrap();
            let t = std::time::Instant::now();
            let bytes =
                render(&r, None, None, &fw, lang).unwrap_or_else(|e| panic!("{lang:?}: {e}"));
            eprintln!("{lang:?}: {} bytes in {:?}", bytes.len(), t.elapsed());
            let dir = std::env::var("KOMPASS_PDF_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|_| std::env::temp_dir());
            let p = dir.join(format!(
                "kompass-report-{}-{}.pdf",
                lang.code(),
                std::process::id()
            ));
            std::fs::write(&p, &bytes).unwrap();
            let info = std::process::Command::new("pdfinfo")
                .arg(&p)
                .output()
                .unwrap();
            let info = String::from_utf8_lossy(&info.stdout).to_string();
            assert!(info.contains("Tagged:          yes"), "{info}");
            if std::env::var("KOMPASS_PDF_DIR").is_err() {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}
