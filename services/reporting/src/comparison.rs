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
        // Set on answering, by `protect`.
        suppressed: false,
        suppressed_reason: String::new(),
        min_group: 0,
        unnamed_excluded: 0,
    }
}

/// Makes a computed comparison safe to answer: names the named tenants,
/// drops the others from the ranking and ranks the named ones among
/// themselves, and withholds every figure when the group is too small to
/// hide a municipality that is not named (`min_group` in total, or between
/// 1 and `min_group` − 1 unnamed ones, whose figures would follow from the
/// named ones' published totals; the service recomputes such a group over
/// the named only before calling this, so that case here is a safety net).
/// Applied on every answer, after the cache, so consent changes and the
/// threshold act at once.
pub fn protect(
    c: &mut pb::NationalComparison,
    named: &BTreeMap<String, String>,
    min_group: u32,
    en: bool,
) {
    let min = min_group.max(1) as i32;
    let id = |e: &pb::RankingEntry| e.tenant.trim_start_matches("tenants/").to_string();
    let unnamed = c
        .ranking
        .iter()
        .filter(|e| !named.contains_key(&id(e)))
        .count() as i32;
    let too_small = c.tenant_count < min;
    let few_unnamed = unnamed > 0 && unnamed < min;
    c.min_group = min;
    c.suppressed = c.tenant_count > 0 && (too_small || few_unnamed);
    c.suppressed_reason = if !c.suppressed {
        String::new()
    } else if too_small {
        if en {
            format!(
                "Only {} municipalities are in this group; figures are shown for groups of at least {min}, so that no single municipality's result can be inferred.",
                c.tenant_count
            )
        } else {
            format!(
                "Gruppen har bara {} kommuner; siffror visas för grupper med minst {min} kommuner, så att ingen enskild kommuns resultat går att härleda.",
                c.tenant_count
            )
        }
    } else if en {
        format!(
            "{unnamed} of the {} municipalities in this group have not agreed to be named; with fewer than {min} of them, the figures would reveal their results.",
            c.tenant_count
        )
    } else {
        format!(
            "{unnamed} av gruppens {} kommuner har inte godkänt att namnges; när de är färre än {min} skulle siffrorna avslöja deras resultat.",
            c.tenant_count
        )
    };
    if c.suppressed {
        c.total = None;
        c.areas.clear();
        c.questions.clear();
        c.histograms.clear();
    }
    c.ranking.retain_mut(|e| match named.get(&id(e)) {
        Some(n) => {
            e.tenant_display_name = n.clone();
            true
        }
        None => false,
    });
    // The ranking comes ordered by total; rank again among the named only.
    let mut prev: Option<Decimal> = None;
    let mut rank = 0;
    for (i, e) in c.ranking.iter_mut().enumerate() {
        let t: Option<Decimal> = e.total_points.parse().ok();
        if prev.is_none() || t != prev {
            rank = i as i32 + 1;
            prev = t;
        }
        e.rank = rank;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(t: &str, total: &str) -> pb::RankingEntry {
        pb::RankingEntry {
            rank: 0,
            tenant: format!("tenants/{t}"),
            tenant_display_name: String::new(),
            evaluation: format!("tenants/{t}/evaluations/e"),
            total_points: total.into(),
        }
    }

    #[test]
    fn ranks_named_only_and_suppresses_small_groups() {
        let named: BTreeMap<String, String> = ["a", "c", "d", "e", "f"]
            .iter()
            .map(|t| (t.to_string(), format!("{t} kommun")))
            .collect();
        let base = pb::NationalComparison {
            tenant_count: 6,
            total: Some(pb::Statistics::default()),
            ranking: vec![
                entry("a", "700.00"),
                entry("b", "650.00"),
                entry("c", "600.00"),
                entry("d", "600.00"),
                entry("e", "500.00"),
                entry("f", "400.00"),
            ],
            ..Default::default()
        };
        // One unnamed of six: withheld (its total = 6 × mean − the others).
        let mut c = base.clone();
        protect(&mut c, &named, 5, true);
        assert!(c.suppressed && c.total.is_none());
        assert!(c.suppressed_reason.contains("not agreed"));
        let ranks: Vec<(i32, &str)> = c
            .ranking
            .iter()
            .map(|e| (e.rank, e.tenant.as_str()))
            .collect();
        assert_eq!(
            ranks,
            [
                (1, "tenants/a"),
                (2, "tenants/c"),
                (2, "tenants/d"),
                (4, "tenants/e"),
                (5, "tenants/f")
            ]
        );
        // Threshold 1: figures shown.
        let mut c = base.clone();
        protect(&mut c, &named, 1, false);
        assert!(!c.suppressed && c.total.is_some());
        // Too few in total, all named.
        let mut c = pb::NationalComparison {
            tenant_count: 2,
            total: Some(pb::Statistics::default()),
            ranking: vec![entry("a", "1.00"), entry("c", "2.00")],
            ..Default::default()
        };
        protect(&mut c, &named, 5, false);
        assert!(c.suppressed && c.suppressed_reason.contains("minst 5"));
        assert_eq!(c.ranking.len(), 2);
    }
}
