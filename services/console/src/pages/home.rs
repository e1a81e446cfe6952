//! The signed-in home: what each role works with. A municipality's users
//! see their evaluations, reports and key figures; an evaluator their
//! assignments across municipalities; an operator the municipalities; an
//! analyst the national results.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use kompass_proto::assessment::v1 as apb;
use kompass_proto::reporting::v1 as rpb;
use kompass_proto::tenancy::v1 as tpb;

use crate::Console;
use crate::error::{Failure, Problem};
use crate::i18n::Tr;
use crate::pages::Page;
use crate::pages::results::{display_points, split_evaluation};

pub struct EvalRow {
    pub title: String,
    pub tenant: String,
    pub kind: String,
    pub state: String,
    pub date: String,
    pub evaluators: String,
    pub report: String,
}

pub struct TenantBlock {
    pub id: String,
    pub name: String,
    pub role: String,
    pub evaluations: Vec<EvalRow>,
    pub key_figures: Vec<rpb::KeyFigure>,
    pub latest_total: String,
}

pub struct TenantRow {
    pub name: String,
    pub id: String,
    pub country: String,
    pub code: String,
    pub state: String,
    pub named: String,
}

pub struct ResultRow {
    pub name: String,
    pub date: String,
    pub total: String,
    pub report: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    pub page: Page,
    pub t: Tr,
    pub greeting: String,
    pub tenants: Vec<TenantBlock>,
    pub assigned: Option<Vec<EvalRow>>,
    pub operator: Option<Vec<TenantRow>>,
    pub national: Option<Vec<ResultRow>>,
}

fn state(t: Tr, s: i32) -> String {
    use apb::evaluation::State as S;
    let key = match S::try_from(s).unwrap_or_default() {
        S::Draft => "state-draft",
        S::Fieldwork => "state-fieldwork",
        S::Scoring => "state-scoring",
        S::Consensus => "state-consensus",
        S::Published => "state-published",
        S::Archived => "state-archived",
        S::Unspecified => "state-unknown",
    };
    t.t(key)
}

fn kind(t: Tr, k: i32) -> String {
    match apb::EvaluationKind::try_from(k).unwrap_or_default() {
        apb::EvaluationKind::SelfAssessment => t.t("kind-self-assessment"),
        apb::EvaluationKind::External => t.t("kind-external"),
        apb::EvaluationKind::Unspecified => String::new(),
    }
}

async fn eval_row(c: &Console, page: &Page, e: &apb::Evaluation, tenant: String) -> EvalRow {
    let t = page.t;
    let evaluators = if e.imported {
        e.imported_evaluator_names.join(", ")
    } else if e.kind == apb::EvaluationKind::External as i32 {
        // Assignments are readable by the tenant's users and the evaluators;
        // a refusal leaves the cell empty rather than failing the page.
        c.evaluations()
            .list_assignments(page.req(apb::ListAssignmentsRequest {
                parent: e.name.clone(),
                page_size: 50,
                ..Default::default()
            }))
            .await
            .map(|r| {
                r.into_inner()
                    .assignments
                    .iter()
                    .map(|a| {
                        if a.display_name.is_empty() {
                            a.user.trim_start_matches("users/").to_string()
                        } else {
                            a.display_name.clone()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    } else {
        String::new()
    };
    let report = if e.state == apb::evaluation::State::Published as i32 {
        split_evaluation(&e.name)
            .map(|(tn, ev)| format!("/reports/{tn}/{ev}"))
            .unwrap_or_default()
    } else {
        String::new()
    };
    EvalRow {
        title: e.title.clone(),
        tenant,
        kind: kind(t, e.kind),
        state: state(t, e.state),
        date: e.evaluation_date.clone(),
        evaluators,
        report,
    }
}

async fn evaluations(
    c: &Console,
    page: &Page,
    parent: &str,
) -> Result<Vec<apb::Evaluation>, Failure> {
    let mut out = vec![];
    let mut token = String::new();
    loop {
        let r = c
            .evaluations()
            .list_evaluations(page.req(apb::ListEvaluationsRequest {
                parent: parent.into(),
                page_size: 1000,
                page_token: token,
                ..Default::default()
            }))
            .await
            .map_err(|s| page.grpc(s))?
            .into_inner();
        out.extend(r.evaluations);
        if r.next_page_token.is_empty() {
            break;
        }
        token = r.next_page_token;
    }
    Ok(out)
}

pub async fn show(State(c): State<Console>, page: Page) -> Result<Response, Failure> {
    let page = page.titled("home-title");
    let t = page.t;
    let Some(user) = page.user.clone() else {
        return Err(page.fail(Problem::SignInRequired));
    };
    let caller = c
        .users()
        .get_caller(page.req(tpb::GetCallerRequest {}))
        .await
        .map_err(|s| page.grpc(s))?
        .into_inner();
    let mut tenants = vec![];
    for m in &caller.memberships {
        // `tenants/{t}/memberships/{u}`
        let Some(tid) = m.name.split('/').nth(1).map(str::to_string) else {
            continue;
        };
        let tenant = c
            .tenants()
            .get_tenant(page.req(tpb::GetTenantRequest {
                name: format!("tenants/{tid}"),
            }))
            .await
            .map_err(|s| page.grpc(s))?
            .into_inner();
        let evs = evaluations(&c, &page, &tenant.name).await?;
        let mut rows = vec![];
        for e in &evs {
            rows.push(eval_row(&c, &page, e, tenant.display_name.clone()).await);
        }
        let latest_total = evs
            .iter()
            .filter(|e| {
                e.state == apb::evaluation::State::Published as i32
                    && e.kind == apb::EvaluationKind::External as i32
            })
            .max_by(|a, b| a.evaluation_date.cmp(&b.evaluation_date))
            .map(|e| e.name.clone());
        let latest_total = match latest_total {
            Some(name) => c
                .reporting()
                .get_evaluation_report(page.req(rpb::GetEvaluationReportRequest {
                    name,
                    language: t.0.service_language().into(),
                }))
                .await
                .ok()
                .and_then(|r| r.into_inner().total)
                .map(|f| f.display_points)
                .unwrap_or_default(),
            None => String::new(),
        };
        let key_figures = c
            .reporting()
            .list_key_figures(page.req(rpb::ListKeyFiguresRequest {
                tenant: tenant.name.clone(),
            }))
            .await
            .map(|r| r.into_inner().key_figures)
            .unwrap_or_default();
        let role = match tpb::TenantRole::try_from(m.role).unwrap_or_default() {
            tpb::TenantRole::TenantAdmin => t.t("role-tenant-admin"),
            tpb::TenantRole::Member => t.t("role-member"),
            tpb::TenantRole::Unspecified => String::new(),
        };
        tenants.push(TenantBlock {
            id: tid,
            name: tenant.display_name,
            role,
            evaluations: rows,
            key_figures,
            latest_total,
        });
    }
    let assigned = if user.has_role("evaluator") {
        let evs = evaluations(&c, &page, "tenants/-").await?;
        let mut rows = vec![];
        for e in &evs {
            let tn = split_evaluation(&e.name).map(|x| x.0).unwrap_or_default();
            rows.push(eval_row(&c, &page, e, tn).await);
        }
        Some(rows)
    } else {
        None
    };
    let operator = if user.has_role("operator") {
        let mut out = vec![];
        let mut token = String::new();
        loop {
            let r = c
                .tenants()
                .list_tenants(page.req(tpb::ListTenantsRequest {
                    page_size: 1000,
                    page_token: token,
                }))
                .await
                .map_err(|s| page.grpc(s))?
                .into_inner();
            out.extend(r.tenants.into_iter().map(|x| {
                TenantRow {
                    id: x.name.trim_start_matches("tenants/").to_string(),
                    name: x.display_name,
                    country: match tpb::Country::try_from(x.country).unwrap_or_default() {
                        tpb::Country::Se => "SE",
                        tpb::Country::No => "NO",
                        tpb::Country::Dk => "DK",
                        tpb::Country::Fi => "FI",
                        tpb::Country::Unspecified => "",
                    }
                    .to_string(),
                    code: x.municipality_code,
                    state: match tpb::tenant::State::try_from(x.state).unwrap_or_default() {
                        tpb::tenant::State::Provisioning => t.t("tenant-provisioning"),
                        tpb::tenant::State::Active => t.t("tenant-active"),
                        tpb::tenant::State::Suspended => t.t("tenant-suspended"),
                        tpb::tenant::State::Unspecified => String::new(),
                    },
                    named: if x.named_in_comparisons {
                        t.t("yes")
                    } else {
                        t.t("no")
                    },
                }
            }));
            if r.next_page_token.is_empty() {
                break;
            }
            token = r.next_page_token;
        }
        Some(out)
    } else {
        None
    };
    let national = if user.has_role("analyst") || user.has_role("operator") {
        let r = c
            .reporting()
            .list_published_results(page.req(rpb::ListPublishedResultsRequest {
                page_size: 1000,
                ..Default::default()
            }))
            .await
            .map_err(|s| page.grpc(s))?
            .into_inner();
        Some(
            r.results
                .into_iter()
                .map(|x| {
                    let (tn, ev) = split_evaluation(&x.evaluation).unwrap_or_default();
                    ResultRow {
                        name: if x.tenant_display_name.is_empty() {
                            t.t("unnamed-municipality")
                        } else {
                            x.tenant_display_name
                        },
                        date: x.evaluation_date,
                        total: display_points(&x.total_points),
                        report: format!("/reports/{tn}/{ev}"),
                    }
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(HomePage {
        greeting: t.ta("home-greeting", &[("name", user.display_name.clone())]),
        page,
        t,
        tenants,
        assigned,
        operator,
        national,
    }
    .into_response())
}
