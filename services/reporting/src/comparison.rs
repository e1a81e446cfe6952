//! National comparison over the read model: each tenant's latest published
//! external evaluation on one framework revision within the filters.

use std::collections::{BTreeMap, BTreeSet};

use kompass_proto::reporting::v1 as pb;
use kompass_scoring::round_display;
use rust_decimal::Decimal;

use crate::stats;
use crate::store::{EvalRow, dec};

/// Each tenant's latest evaluation (rows come oldest first).
pub fn latest_per_tenant(rows: Vec<EvalRow>) -> Vec<EvalRow> {
    let mut by: BTreeMap<String, EvalRow> = BTreeMap::new();
    for r in rows {
        by.insert(r.tenant_id.clone(), r);
    }
    by.into_values().collect()
}

fn statistics(id: &str, max: i64, values: &[Decimal]) -> pb::Statistics {
    match stats::stats(values) {
        None => pb::Statistics {
            id: id.into(),
            max_points: dec(max).normalize().to_string(),
            ..Default::default()
        },
        Some(s) => pb::Statistics {
            id: id.into(),
            max_points: dec(max).normalize().to_string(),
            count: s.count as i32,
            mean: s.mean.to_string(),
            median: s.median.to_string(),
            q1: s.q1.to_string(),
            q3: s.q3.to_string(),
            min: s.min.to_string(),
            max: s.max.to_string(),
            display_mean: round_display(s.mean).to_string(),
        },
    }
}

fn histogram(id: &str, values: &[Decimal], max: i64, bins: i64) -> pb::Histogram {
    let max = dec(max);
    let width = (max / Decimal::from(bins)).normalize();
    pb::Histogram {
        id: id.into(),
        bins: stats::histogram(values, max, width)
            .into_iter()
            .map(|(lo, hi, n)| pb::HistogramBin {
                lower: lo.normalize().to_string(),
                upper: hi.normalize().to_string(),
                count: n as i32,
            })
            .collect(),
    }
}

/// Computes the comparison. The ranking lists every tenant with its tenant id;
/// names are added (for consenting tenants only) when answering.
pub fn compute(version: &str, rows: Vec<EvalRow>) -> pb::NationalComparison {
    let rows = latest_per_tenant(rows);
    // Question and area order from the evaluations themselves.
    let mut questions: Vec<(String, String, i64)> = vec![];
    let mut seen = BTreeSet::new();
    for r in &rows {
        for s in &r.scores {
            if seen.insert(s.question.clone()) {
                questions.push((s.area.clone(), s.question.clone(), s.max));
            }
        }
    }
    let mut areas: Vec<(String, i64)> = vec![];
    for (a, _, m) in &questions {
        match areas.iter_mut().find(|(x, _)| x == a) {
            Some(e) => e.1 += m,
            None => areas.push((a.clone(), *m)),
        }
    }
    let total_max: i64 = questions.iter().map(|q| q.2).sum();
    let mut q_vals: BTreeMap<&str, Vec<Decimal>> = BTreeMap::new();
    let mut a_vals: BTreeMap<&str, Vec<Decimal>> = BTreeMap::new();
    let mut totals = vec![];
    for r in &rows {
        let mut per_area: BTreeMap<&str, i64> = BTreeMap::new();
        for s in &r.scores {
            q_vals.entry(&s.question).or_default().push(dec(s.points));
            *per_area.entry(&s.area).or_default() += s.points;
        }
        for (a, p) in per_area {
            a_vals.entry(a).or_default().push(dec(p));
        }
        totals.push(dec(r.total()));
    }
    let mut ranked: Vec<&EvalRow> = rows.iter().collect();
    ranked.sort_by(|a, b| {
        b.total()
            .cmp(&a.total())
            .then(a.tenant_id.cmp(&b.tenant_id))
    });
    let mut ranking = vec![];
    let mut rank = 0;
    let mut prev = None;
    for (i, r) in ranked.iter().enumerate() {
        if prev != Some(r.total()) {
            rank = i as i32 + 1;
            prev = Some(r.total());
        }
        ranking.push(pb::RankingEntry {
            rank,
            tenant: format!("tenants/{}", r.tenant_id),
            tenant_display_name: String::new(),
            evaluation: r.evaluation.clone(),
            total_points: kompass_scoring::format_points(dec(r.total())),
        });
    }
    let mut histograms = vec![histogram("", &totals, total_max, 16)];
    for (a, m) in &areas {
        histograms.push(histogram(
            a,
            a_vals.get(a.as_str()).map(Vec::as_slice).unwrap_or(&[]),
            *m,
            10,
        ));
    }
    pb::NationalComparison {
        framework_version: version.into(),
        tenant_count: rows.len() as i32,
        total: Some(statistics("", total_max, &totals)),
        areas: areas
            .iter()
            .map(|(a, m)| {
                statistics(
                    a,
                    *m,
                    a_vals.get(a.as_str()).map(Vec::as_slice).unwrap_or(&[]),
                )
            })
            .collect(),
        questions: questions
            .iter()
            .map(|(_, q, m)| {
                statistics(
                    q,
                    *m,
                    q_vals.get(q.as_str()).map(Vec::as_slice).unwrap_or(&[]),
                )
            })
            .collect(),
        histograms,
        ranking,
        cached: false,
    }
}
