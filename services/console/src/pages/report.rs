//! The report page of a published evaluation, its downloads and the check
//! of its publication seal.

use std::str::FromStr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use kompass_proto::assessment::v1 as apb;
use kompass_proto::reporting::v1 as rpb;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::Console;
use crate::charts::{self, RadarAxis};
use crate::error::{Failure, Problem};
use crate::i18n::Tr;
use crate::pages::results::file_response;
use crate::pages::{Page, valid_id};

pub struct Fig {
    pub points: String,
    pub max: String,
    pub percent: String,
}

impl Fig {
    fn of(f: &Option<rpb::Figure>) -> Fig {
        let f = f.clone().unwrap_or_default();
        Fig {
            points: f.display_points,
            max: strip_zeros(&f.max_points),
            percent: f.display_percent,
        }
    }
}

fn strip_zeros(s: &str) -> String {
    Decimal::from_str(s)
        .map(|d| d.normalize().to_string())
        .unwrap_or_else(|_| s.to_string())
}

pub struct Question {
    pub id: String,
    pub text: String,
    pub fig: Fig,
}

pub struct Heading {
    pub title: String,
    pub text: String,
}

pub struct Area {
    pub id: String,
    pub anchor: String,
    pub title: String,
    pub fig: Fig,
    pub average: String,
    pub general: String,
    pub headings: Vec<Heading>,
    pub strengths: Vec<String>,
    pub opportunities: Vec<String>,
    pub questions: Vec<Question>,
}

#[derive(Template, WebTemplate)]
#[template(path = "report.html")]
pub struct ReportPage {
    pub page: Page,
    pub t: Tr,
    pub r: rpb::EvaluationReport,
    pub base: String,
    pub total: Fig,
    pub average_total: String,
    pub average_note: String,
    pub areas: Vec<Area>,
    pub radar: String,
    pub radar_rows: Vec<RadarAxis>,
    pub evaluators: Vec<(String, String)>,
    pub seal_digest: String,
    pub seal_time: String,
    pub published: String,
}

fn name_of(page: &Page, tenant: &str, evaluation: &str) -> Result<String, Failure> {
    if !valid_id(tenant) || !valid_id(evaluation) {
        return Err(page.fail(Problem::NotFound));
    }
    Ok(format!("tenants/{tenant}/evaluations/{evaluation}"))
}

fn date(ts: &Option<prost_types::Timestamp>) -> String {
    ts.as_ref()
        .map(|t| {
            // Days since the epoch to a civil date (no calendar crate needed).
            let days = t.seconds.div_euclid(86_400);
            let (y, m, d) = civil(days);
            format!("{y:04}-{m:02}-{d:02}")
        })
        .unwrap_or_default()
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

pub async fn show(
    State(c): State<Console>,
    page: Page,
    Path((tenant, evaluation)): Path<(String, String)>,
) -> Result<Response, Failure> {
    let name = name_of(&page, &tenant, &evaluation)?;
    let r = c
        .reporting()
        .get_evaluation_report(page.req(rpb::GetEvaluationReportRequest {
            name: name.clone(),
            language: page.t.0.service_language().into(),
        }))
        .await
        .map_err(|s| page.grpc(s))?
        .into_inner();
    let mut page = page;
    page.title = if r.tenant_display_name.is_empty() {
        r.title.clone()
    } else {
        format!("{} – {}", r.tenant_display_name, r.title)
    };
    let t = page.t;
    let areas: Vec<Area> = r
        .areas
        .iter()
        .map(|a| Area {
            id: a.area.clone(),
            anchor: format!(
                "area-{}",
                a.area.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
            ),
            title: a.title.clone(),
            fig: Fig::of(&a.figure),
            average: kompass_scoring::round_display(dec(&a.average_points)).to_string(),
            general: a.general_text.clone(),
            headings: a
                .headings
                .iter()
                .map(|h| Heading {
                    title: h.title.clone(),
                    text: h.text.clone(),
                })
                .collect(),
            strengths: a.strengths.clone(),
            opportunities: a.improvement_opportunities.clone(),
            questions: a
                .questions
                .iter()
                .map(|q| Question {
                    id: q.question.clone(),
                    text: q.text.clone(),
                    fig: Fig::of(&q.figure),
                })
                .collect(),
        })
        .collect();
    let radar_rows: Vec<RadarAxis> = r
        .areas
        .iter()
        .map(|a| {
            let f = a.figure.clone().unwrap_or_default();
            let max = dec(&f.max_points);
            let avg = if max.is_zero() {
                Decimal::ZERO
            } else {
                dec(&a.average_points) / max * Decimal::ONE_HUNDRED
            };
            RadarAxis {
                title: a.title.clone(),
                percent: dec(&f.percent),
                average: avg,
                percent_shown: f.display_percent.clone(),
                average_shown: kompass_scoring::round_display(avg).to_string(),
            }
        })
        .collect();
    let radar = charts::radar(
        &radar_rows,
        &t.t("radar-title"),
        &t.ta(
            "radar-desc",
            &[
                ("name", r.tenant_display_name.clone()),
                ("count", r.areas.len().to_string()),
            ],
        ),
        &t.t("radar-this"),
        &t.t("radar-average"),
    );
    let evaluators = r
        .evaluators
        .iter()
        .map(|e| {
            let role = match e.role.as_str() {
                "lead" => t.t("evaluator-lead"),
                "peer" => t.t("evaluator-peer"),
                _ => String::new(),
            };
            (e.display_name.clone(), role)
        })
        .collect();
    let seal = r.seal.clone().unwrap_or_default();
    Ok(ReportPage {
        base: format!("/reports/{tenant}/{evaluation}"),
        total: Fig::of(&r.total),
        average_total: kompass_scoring::round_display(dec(&r.average_total)).to_string(),
        average_note: t.ta(
            "report-average-note",
            &[("count", r.average_count.to_string())],
        ),
        areas,
        radar,
        radar_rows,
        evaluators,
        seal_digest: seal.digest.clone(),
        seal_time: date(&seal.seal_time),
        published: date(&r.publish_time),
        page,
        t,
        r,
    }
    .into_response())
}

pub async fn download(
    State(c): State<Console>,
    page: Page,
    Path((tenant, evaluation, format)): Path<(String, String, String)>,
) -> Result<Response, Failure> {
    let name = name_of(&page, &tenant, &evaluation)?;
    let (fmt, ct, ext) = match format.as_str() {
        "pdf" => (rpb::ExportFormat::Pdf, "application/pdf", "pdf"),
        "xlsx" => (
            rpb::ExportFormat::Xlsx,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        "csv" => (rpb::ExportFormat::Csv, "text/csv; charset=utf-8", "csv"),
        _ => return Err(page.fail(Problem::NotFound)),
    };
    let f = c
        .reporting()
        .export_evaluation_report(page.req(rpb::ExportEvaluationReportRequest {
            name,
            format: fmt as i32,
            // The PDF has Norwegian labels; XLSX and CSV fall back to
            // Swedish for "nb" in the service.
            language: page.t.0.document_language().into(),
        }))
        .await
        .map_err(|s| page.grpc(s))?
        .into_inner();
    let filename = if f.filename.is_empty() {
        format!("kommunkompassen-{tenant}-{evaluation}.{ext}")
    } else {
        f.filename
    };
    Ok(file_response(&filename, ct, f.content, false))
}

#[derive(Debug, Deserialize)]
pub struct VerifyQuery {
    #[serde(default)]
    pub digest: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "verify.html")]
pub struct VerifyPage {
    pub page: Page,
    pub t: Tr,
    pub base: String,
    pub valid: bool,
    pub digest: String,
    pub stored: String,
    pub algorithm: String,
    pub canonicalization: String,
}

pub async fn verify(
    State(c): State<Console>,
    page: Page,
    Path((tenant, evaluation)): Path<(String, String)>,
    Query(q): Query<VerifyQuery>,
) -> Result<Response, Failure> {
    let name = name_of(&page, &tenant, &evaluation)?;
    let digest = q.digest.trim().to_ascii_lowercase();
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(page.fail(Problem::BadRequest));
    }
    let v = c
        .evaluations()
        .verify_publication(page.req(apb::VerifyPublicationRequest {
            name,
            report: Some(apb::verify_publication_request::Report::Digest(
                digest.clone(),
            )),
        }))
        .await
        .map_err(|s| page.grpc(s))?
        .into_inner();
    let seal = v.seal.unwrap_or_default();
    let page = page.titled("verify-title");
    let t = page.t;
    Ok(VerifyPage {
        page,
        t,
        base: format!("/reports/{tenant}/{evaluation}"),
        valid: v.valid,
        digest,
        stored: seal.digest,
        algorithm: seal.algorithm,
        canonicalization: seal.canonicalization,
    }
    .into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil(0), (1970, 1, 1));
        assert_eq!(super::civil(20_454), (2026, 1, 1));
    }
}
