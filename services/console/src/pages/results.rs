//! The public list of published results and the open data downloads. Both
//! come from `ExportOpenData`, the one RPC open to anyone that lists public
//! results (`ListPublishedResults` is for analysts and operators).

use std::str::FromStr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use kompass_proto::reporting::v1 as rpb;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::Console;
use crate::error::{Failure, Problem};
use crate::i18n::Tr;
use crate::pages::Page;

#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub year: String,
}

/// One row of the open data JSON.
#[derive(Debug, Clone, Deserialize)]
pub struct OpenRow {
    pub tenant: String,
    #[serde(default)]
    pub tenant_display_name: Option<String>,
    #[serde(default)]
    pub municipality_code: String,
    #[serde(default)]
    pub country: String,
    pub evaluation: String,
    pub framework_version: String,
    pub evaluation_date: String,
    pub total_points: String,
}

pub struct Row {
    pub name: String,
    pub code: String,
    pub country: String,
    pub date: String,
    pub year: String,
    pub total: String,
    pub href: String,
}

impl OpenRow {
    fn row(&self) -> Row {
        let (t, e) = split_evaluation(&self.evaluation).unwrap_or_default();
        Row {
            name: self.tenant_display_name.clone().unwrap_or_default(),
            code: self.municipality_code.clone(),
            country: self.country.to_uppercase(),
            date: self.evaluation_date.clone(),
            year: self
                .evaluation_date
                .get(..4)
                .unwrap_or_default()
                .to_string(),
            total: display_points(&self.total_points),
            href: format!("/reports/{t}/{e}"),
        }
    }
}

/// `tenants/{t}/evaluations/{e}` → (t, e).
pub fn split_evaluation(name: &str) -> Option<(String, String)> {
    let mut it = name.split('/');
    match (it.next(), it.next(), it.next(), it.next(), it.next()) {
        (Some("tenants"), Some(t), Some("evaluations"), Some(e), None) => {
            Some((t.into(), e.into()))
        }
        _ => None,
    }
}

/// Exact points shown as the report shows them: whole, half away from zero.
pub fn display_points(exact: &str) -> String {
    Decimal::from_str(exact)
        .map(|d| kompass_scoring::round_display(d).to_string())
        .unwrap_or_default()
}

#[derive(Template, WebTemplate)]
#[template(path = "results.html")]
pub struct ResultsPage {
    pub page: Page,
    pub t: Tr,
    pub rows: Vec<Row>,
    pub filters: Filters,
    pub countries: Vec<String>,
    pub years: Vec<String>,
    pub dev_sign_in: bool,
    pub summary: String,
}

pub async fn fetch_open_data(c: &Console, page: &Page) -> Result<Vec<OpenRow>, Failure> {
    let f = c
        .reporting()
        .export_open_data(page.req(rpb::ExportOpenDataRequest {
            format: rpb::ExportFormat::Json as i32,
            ..Default::default()
        }))
        .await
        .map_err(|s| page.grpc(s))?
        .into_inner();
    serde_json::from_slice(&f.content).map_err(|e| {
        tracing::error!(error = %e, "open data JSON");
        page.fail(Problem::Internal)
    })
}

pub async fn list(
    State(c): State<Console>,
    page: Page,
    Query(filters): Query<Filters>,
) -> Result<Response, Failure> {
    let page = page.titled("results-title");
    let all = fetch_open_data(&c, &page).await?;
    let mut countries: Vec<String> = all.iter().map(|r| r.country.to_uppercase()).collect();
    countries.sort();
    countries.dedup();
    countries.retain(|c| !c.is_empty());
    let mut years: Vec<String> = all
        .iter()
        .filter_map(|r| r.evaluation_date.get(..4).map(str::to_string))
        .collect();
    years.sort();
    years.dedup();
    years.reverse();
    let q = filters.q.trim().to_lowercase();
    let mut rows: Vec<Row> = all
        .iter()
        .map(OpenRow::row)
        .filter(|r| q.is_empty() || r.name.to_lowercase().contains(&q))
        .filter(|r| filters.country.is_empty() || r.country.eq_ignore_ascii_case(&filters.country))
        .filter(|r| filters.year.is_empty() || r.year == filters.year)
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name).then(b.date.cmp(&a.date)));
    let t = page.t;
    let summary = t.ta("results-count", &[("count", rows.len().to_string())]);
    Ok(ResultsPage {
        dev_sign_in: c.dev_sign_in().is_some() && page.user.is_none(),
        page,
        t,
        rows,
        filters,
        countries,
        years,
        summary,
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "open_data.html")]
pub struct OpenDataPage {
    pub page: Page,
    pub t: Tr,
}

pub async fn open_data(page: Page) -> impl IntoResponse {
    let page = page.titled("open-data-title");
    let t = page.t;
    OpenDataPage { page, t }
}

async fn open_file(
    c: &Console,
    page: &Page,
    format: rpb::ExportFormat,
) -> Result<Response, Failure> {
    let f = c
        .reporting()
        .export_open_data(page.req(rpb::ExportOpenDataRequest {
            format: format as i32,
            ..Default::default()
        }))
        .await
        .map_err(|s| page.grpc(s))?
        .into_inner();
    let (name, ct) = match format {
        rpb::ExportFormat::Json => ("kommunkompassen-open-data.json", "application/json"),
        _ => ("kommunkompassen-open-data.csv", "text/csv; charset=utf-8"),
    };
    Ok(file_response(name, ct, f.content, true))
}

pub fn file_response(name: &str, content_type: &str, body: Vec<u8>, inline: bool) -> Response {
    let disposition = format!(
        "{}; filename=\"{}\"",
        if inline { "inline" } else { "attachment" },
        name.replace(['"', '\\', '\r', '\n'], "_")
    );
    let mut r = body.into_response();
    let h = r.headers_mut();
    if let Ok(v) = content_type.parse() {
        h.insert(http::header::CONTENT_TYPE, v);
    }
    if let Ok(v) = disposition.parse() {
        h.insert(http::header::CONTENT_DISPOSITION, v);
    }
    // Harvesters can revalidate cheaply; results change on publication.
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("public, max-age=300"),
    );
    r
}

pub async fn open_data_csv(State(c): State<Console>, page: Page) -> Result<Response, Failure> {
    open_file(&c, &page, rpb::ExportFormat::Csv).await
}

pub async fn open_data_json(State(c): State<Console>, page: Page) -> Result<Response, Failure> {
    open_file(&c, &page, rpb::ExportFormat::Json).await
}
