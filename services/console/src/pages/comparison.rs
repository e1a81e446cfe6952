//! National comparison: filters, box plots and histograms of the total and
//! each area, the ranking of named municipalities, one of them highlighted;
//! the same figures as tables and as CSV.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use kompass_proto::assessment::v1 as apb;
use kompass_proto::reporting::v1 as rpb;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::Console;
use crate::charts::{self, BoxStats};
use crate::error::{Failure, Problem};
use crate::i18n::{Lang, Tr};
use crate::pages::report::dec;
use crate::pages::results::{display_points, file_response};
use crate::pages::{Page, url_encode, valid_id};

#[derive(Debug, Default, Clone, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub framework_version: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub from_year: String,
    #[serde(default)]
    pub to_year: String,
    #[serde(default)]
    pub population: String,
    /// Tenant id to highlight.
    #[serde(default)]
    pub highlight: String,
}

pub const COUNTRIES: [&str; 4] = ["SE", "NO", "DK", "FI"];

impl Filters {
    fn year(page: &Page, s: &str) -> Result<i32, Failure> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(0);
        }
        match s.parse::<i32>() {
            Ok(y) if (1900..=2999).contains(&y) => Ok(y),
            _ => Err(page.fail(Problem::BadRequest)),
        }
    }

    fn request(
        &self,
        page: &Page,
        version: &str,
    ) -> Result<rpb::GetNationalComparisonRequest, Failure> {
        let country = self.country.trim().to_uppercase();
        if !country.is_empty() && !COUNTRIES.contains(&country.as_str()) {
            return Err(page.fail(Problem::BadRequest));
        }
        let population = match self.population.trim() {
            "" => 0,
            p => match p.parse::<i32>() {
                Ok(n @ 1..=5) => n,
                _ => return Err(page.fail(Problem::BadRequest)),
            },
        };
        if !self.highlight.is_empty() && !valid_id(&self.highlight) {
            return Err(page.fail(Problem::BadRequest));
        }
        Ok(rpb::GetNationalComparisonRequest {
            framework_version: version.to_string(),
            country,
            from_year: Self::year(page, &self.from_year)?,
            to_year: Self::year(page, &self.to_year)?,
            population_class: population,
        })
    }

    pub fn query(&self) -> String {
        format!(
            "framework_version={}&country={}&from_year={}&to_year={}&population={}&highlight={}",
            url_encode(&self.framework_version),
            url_encode(&self.country),
            url_encode(&self.from_year),
            url_encode(&self.to_year),
            url_encode(&self.population),
            url_encode(&self.highlight)
        )
    }
}

/// Text of a framework's localized field; Norwegian falls back to Swedish.
pub fn text(t: &Option<apb::LocalizedText>, lang: Lang) -> String {
    let Some(t) = t else { return String::new() };
    [lang.code(), "sv", "en"]
        .iter()
        .find_map(|l| t.translations.get(*l).filter(|s| !s.is_empty()).cloned())
        .unwrap_or_default()
}

pub struct StatRow {
    pub label: String,
    pub count: i32,
    pub max_points: String,
    pub min: String,
    pub q1: String,
    pub median: String,
    pub q3: String,
    pub max: String,
    pub mean: String,
    pub chosen: String,
}

pub struct Hist {
    pub title: String,
    pub svg: String,
    pub bins: Vec<(String, String, i32)>,
}

pub struct Ranked {
    pub rank: i32,
    pub name: String,
    pub total: String,
    pub href: String,
    pub chosen: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "comparison.html")]
pub struct ComparisonPage {
    pub page: Page,
    pub t: Tr,
    pub f: Filters,
    pub versions: Vec<(String, String)>,
    pub countries: Vec<&'static str>,
    pub populations: Vec<(String, String)>,
    pub tenant_count: i32,
    pub summary: String,
    /// Why figures are withheld or cover fewer municipalities than compared.
    pub notes: Vec<String>,
    /// Figures withheld (group too small to protect the unnamed).
    pub suppressed: bool,
    pub boxplot: String,
    pub stats: Vec<StatRow>,
    pub histograms: Vec<Hist>,
    pub ranking: Vec<Ranked>,
    pub choices: Vec<(String, String)>,
    pub csv_href: String,
    pub pdf_href: String,
    pub chosen_name: String,
}

struct Loaded {
    version: apb::FrameworkVersion,
    versions: Vec<apb::FrameworkVersion>,
    cmp: rpb::NationalComparison,
    f: Filters,
}

async fn load(c: &Console, page: &Page, mut f: Filters) -> Result<Loaded, Failure> {
    let versions = c
        .frameworks()
        .list_framework_versions(page.req(apb::ListFrameworkVersionsRequest {
            parent: "frameworks/-".into(),
            page_size: 1000,
            ..Default::default()
        }))
        .await
        .map_err(|s| page.grpc(s))?
        .into_inner()
        .framework_versions;
    if f.framework_version.is_empty() {
        // The built-in revision first: it is the one most results are on.
        f.framework_version = versions
            .iter()
            .find(|v| v.builtin)
            .or(versions.first())
            .map(|v| v.name.clone())
            .unwrap_or_default();
    }
    let Some(version) = versions
        .iter()
        .find(|v| v.name == f.framework_version)
        .cloned()
    else {
        return Err(page.fail(Problem::NotFound));
    };
    let req = f.request(page, &version.name)?;
    let cmp = c
        .reporting()
        .get_national_comparison(page.req(req))
        .await
        .map_err(|s| page.grpc(s))?
        .into_inner();
    Ok(Loaded {
        version,
        versions,
        cmp,
        f,
    })
}

pub async fn show(
    State(c): State<Console>,
    page: Page,
    Query(f): Query<Filters>,
) -> Result<Response, Failure> {
    let page = page.titled("comparison-title");
    let t = page.t;
    let lang = t.0;
    let Loaded {
        version,
        versions,
        cmp,
        f,
    } = load(&c, &page, f).await?;
    let area_title = |id: &str| {
        version
            .areas
            .iter()
            .find(|a| a.id == id)
            .map(|a| format!("{id}. {}", text(&a.title, lang)))
            .unwrap_or_else(|| id.to_string())
    };
    let chosen = cmp
        .ranking
        .iter()
        .find(|r| !f.highlight.is_empty() && r.tenant == format!("tenants/{}", f.highlight));
    let chosen_name = chosen
        .map(|r| r.tenant_display_name.clone())
        .unwrap_or_default();
    // The chosen municipality's figures come from the open ranking only
    // (total); per-area points are not in the comparison.
    let chosen_total = chosen.map(|r| dec(&r.total_points));
    let mut all: Vec<(String, &rpb::Statistics, Option<Decimal>)> = vec![];
    if let Some(tot) = &cmp.total {
        all.push((t.t("comparison-total"), tot, chosen_total));
    }
    for a in &cmp.areas {
        all.push((area_title(&a.id), a, None));
    }
    let stats: Vec<StatRow> = all
        .iter()
        .map(|(label, s, ch)| StatRow {
            label: label.clone(),
            count: s.count,
            max_points: dec(&s.max_points).normalize().to_string(),
            min: s.min.clone(),
            q1: s.q1.clone(),
            median: s.median.clone(),
            q3: s.q3.clone(),
            max: s.max.clone(),
            mean: s.display_mean.clone(),
            chosen: ch
                .map(|d| kompass_scoring::round_display(d).to_string())
                .unwrap_or_default(),
        })
        .collect();
    let boxes: Vec<BoxStats> = all
        .iter()
        .filter(|(_, s, _)| s.count > 0)
        .map(|(label, s, ch)| BoxStats {
            label: label.clone(),
            max_points: dec(&s.max_points),
            min: dec(&s.min),
            q1: dec(&s.q1),
            median: dec(&s.median),
            q3: dec(&s.q3),
            max: dec(&s.max),
            highlight: *ch,
        })
        .collect();
    let boxplot = if boxes.is_empty() {
        String::new()
    } else {
        charts::box_plots(
            &boxes,
            &t.t("comparison-boxplot-title"),
            &t.ta(
                "comparison-boxplot-desc",
                &[("count", cmp.tenant_count.to_string())],
            ),
            &chosen_name,
        )
    };
    let histograms = cmp
        .histograms
        .iter()
        .filter(|h| !h.bins.is_empty())
        .map(|h| {
            let title = if h.id.is_empty() {
                t.t("comparison-total")
            } else {
                area_title(&h.id)
            };
            let bins: Vec<(String, String, i32)> = h
                .bins
                .iter()
                .map(|b| {
                    (
                        dec(&b.lower).normalize().to_string(),
                        dec(&b.upper).normalize().to_string(),
                        b.count,
                    )
                })
                .collect();
            let labels: Vec<(String, i32)> = bins
                .iter()
                .map(|b| (format!("{}–{}", b.0, b.1), b.2))
                .collect();
            Hist {
                svg: charts::histogram(
                    &labels,
                    &t.ta("comparison-histogram-title", &[("what", title.clone())]),
                    &t.ta("comparison-histogram-desc", &[("what", title.clone())]),
                ),
                title,
                bins,
            }
        })
        .collect();
    let ranking: Vec<Ranked> = cmp
        .ranking
        .iter()
        .map(|r| {
            let (tn, ev) =
                crate::pages::results::split_evaluation(&r.evaluation).unwrap_or_default();
            Ranked {
                rank: r.rank,
                name: r.tenant_display_name.clone(),
                total: display_points(&r.total_points),
                href: format!("/reports/{tn}/{ev}"),
                chosen: !f.highlight.is_empty() && r.tenant == format!("tenants/{}", f.highlight),
            }
        })
        .collect();
    let mut choices: Vec<(String, String)> = cmp
        .ranking
        .iter()
        .map(|r| {
            (
                r.tenant.trim_start_matches("tenants/").to_string(),
                r.tenant_display_name.clone(),
            )
        })
        .collect();
    choices.sort_by(|a, b| a.1.cmp(&b.1));
    let summary = t.ta(
        "comparison-summary",
        &[
            ("count", cmp.tenant_count.to_string()),
            ("revision", version.revision.clone()),
        ],
    );
    let mut notes = vec![];
    if cmp.suppressed {
        notes.push(t.ta(
            "comparison-suppressed",
            &[("min", cmp.min_group.to_string())],
        ));
    }
    if cmp.unnamed_excluded > 0 {
        notes.push(t.ta(
            "comparison-unnamed-excluded",
            &[("count", cmp.unnamed_excluded.to_string())],
        ));
    }
    Ok(ComparisonPage {
        notes,
        suppressed: cmp.suppressed,
        versions: versions
            .iter()
            .map(|v| {
                (
                    v.name.clone(),
                    format!("{} {}", text(&v.title, lang), v.revision),
                )
            })
            .collect(),
        countries: COUNTRIES.to_vec(),
        populations: (1..=5)
            .map(|n| (n.to_string(), t.t(&format!("population-{n}"))))
            .collect(),
        tenant_count: cmp.tenant_count,
        summary,
        boxplot,
        stats,
        histograms,
        ranking,
        choices,
        csv_href: format!("/comparison.csv?{}", f.query()),
        pdf_href: format!("/comparison.pdf?{}", f.query()),
        chosen_name,
        f,
        page,
        t,
    }
    .into_response())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The page's figures as CSV: one `section` column tells statistics,
/// histogram bins and ranking rows apart.
pub async fn csv(
    State(c): State<Console>,
    page: Page,
    Query(f): Query<Filters>,
) -> Result<Response, Failure> {
    let Loaded { version, cmp, .. } = load(&c, &page, f).await?;
    let mut out = String::from(
        "section,id,count,max_points,min,q1,median,q3,max,mean,lower,upper,rank,tenant,tenant_display_name,total_points\n",
    );
    let mut stat = |level: &str, s: &rpb::Statistics| {
        out.push_str(&format!(
            "{level},{},{},{},{},{},{},{},{},{},,,,,,\n",
            csv_field(&s.id),
            s.count,
            s.max_points,
            s.min,
            s.q1,
            s.median,
            s.q3,
            s.max,
            s.mean
        ));
    };
    if let Some(tot) = &cmp.total {
        stat("total", tot);
    }
    for a in &cmp.areas {
        stat("area", a);
    }
    for q in &cmp.questions {
        stat("question", q);
    }
    for h in &cmp.histograms {
        for b in &h.bins {
            out.push_str(&format!(
                "histogram,{},{},,,,,,,,{},{},,,,\n",
                csv_field(&h.id),
                b.count,
                b.lower,
                b.upper
            ));
        }
    }
    for r in &cmp.ranking {
        out.push_str(&format!(
            "ranking,,,,,,,,,,,,{},{},{},{}\n",
            r.rank,
            csv_field(r.tenant.trim_start_matches("tenants/")),
            csv_field(&r.tenant_display_name),
            r.total_points
        ));
    }
    let name = format!(
        "kommunkompassen-comparison-{}.csv",
        version
            .revision
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    );
    Ok(file_response(
        &name,
        "text/csv; charset=utf-8",
        out.into_bytes(),
        false,
    ))
}

/// The comparison as a printable PDF summary in the reader's language,
/// typeset by the reporting service with the same filters and rules.
pub async fn pdf(
    State(c): State<Console>,
    page: Page,
    Query(f): Query<Filters>,
) -> Result<Response, Failure> {
    let Loaded { version, f, .. } = load(&c, &page, f).await?;
    let req = f.request(&page, &version.name)?;
    let file = c
        .reporting()
        .export_national_comparison(page.req(rpb::ExportNationalComparisonRequest {
            framework_version: req.framework_version,
            country: req.country,
            from_year: req.from_year,
            to_year: req.to_year,
            population_class: req.population_class,
            language: page.t.0.document_language().into(),
        }))
        .await
        .map_err(|s| page.grpc(s))?
        .into_inner();
    let name = if file.filename.is_empty() {
        format!(
            "kommunkompassen-comparison-{}.pdf",
            version
                .revision
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        )
    } else {
        file.filename
    };
    Ok(file_response(&name, "application/pdf", file.content, false))
}
