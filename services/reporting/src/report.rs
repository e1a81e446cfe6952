//! The report of a published evaluation, from its sealed content: every
//! figure from exact points with the shared scoring crate, display values
//! rounded half away from zero, totals never summed from rounded rows.

use kompass_frameworks::{Area, Framework, Question, Text};
use kompass_proto::assessment::v1 as apb;
use kompass_proto::reporting::v1 as pb;
use kompass_scoring::{QuestionScore, format_points, round_display};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::store::{self, TenantMeta, dec};

pub const BUILTIN: &str = "frameworks/kommunkompassen/versions/2015";

/// The framework a publication was scored on: the built-in revision, an
/// imported one (from the platform database), or — if neither is found — one
/// rebuilt from the content with ids for texts.
pub async fn framework(
    platform: &DatabaseConnection,
    version: &str,
    c: &apb::PublishedContent,
) -> Framework {
    if version == BUILTIN {
        return Framework::builtin().clone();
    }
    if let Ok(v) = kompass_core::names::parse(version, &["frameworks", "*", "versions", "*"]) {
        let row = platform
            .query_one_raw(store::stmt(
                platform,
                "SELECT content FROM framework_versions WHERE framework_id = $1 AND version = $2",
                vec![v[0].into(), v[1].into()],
            ))
            .await;
        if let Ok(Some(r)) = row
            && let Ok(yaml) = r.try_get::<String>("", "content")
            && let Ok(fw) = Framework::from_yaml(&yaml)
        {
            return fw;
        }
    }
    from_content(version, c)
}

fn from_content(version: &str, c: &apb::PublishedContent) -> Framework {
    let mut areas: Vec<Area> = vec![];
    for q in &c.questions {
        let max = kompass_scoring::parse_points(&q.max_points).unwrap_or_default();
        let question = Question {
            id: q.question.clone(),
            max_points: max,
            text: Text::new(q.question.clone(), q.question.clone()),
        };
        match areas.iter_mut().find(|a| a.id == q.area) {
            Some(a) => {
                a.max_points += max;
                a.questions.push(question);
            }
            None => areas.push(Area {
                id: q.area.clone(),
                name: Text::new(format!("Område {}", q.area), format!("Area {}", q.area)),
                max_points: max,
                headings: vec![],
                questions: vec![question],
            }),
        }
    }
    Framework {
        id: version.into(),
        revision: String::new(),
        name: Text::new(version, version),
        description: Text::new("", ""),
        areas,
    }
}

pub fn tr(t: &Text, en: bool) -> String {
    if en && !t.en.is_empty() {
        t.en.clone()
    } else {
        t.sv.clone()
    }
}

pub fn figure(points: Decimal, max: Decimal) -> pb::Figure {
    let pct = kompass_scoring::percent(points, max).unwrap_or_default();
    pb::Figure {
        points: format_points(points),
        max_points: max.normalize().to_string(),
        percent: pct.normalize().to_string(),
        display_points: round_display(points).to_string(),
        display_percent: round_display(pct).to_string(),
    }
}

fn ts(t: &Option<prost_types::Timestamp>) -> Option<prost_types::Timestamp> {
    *t
}

/// Builds the report. `average` is the comparison of the whole revision.
pub fn build(
    ev: &apb::EvaluationPublishedEvent,
    fw: &Framework,
    average: Option<&pb::NationalComparison>,
    meta: Option<&TenantMeta>,
    en: bool,
    public: bool,
) -> Result<pb::EvaluationReport, kompass_core::Error> {
    let c = ev.content.clone().unwrap_or_default();
    let seal = ev.seal.clone().unwrap_or_default();
    let scores = store::content_scores(&c)?;
    let qs: Vec<QuestionScore> = scores
        .iter()
        .map(|s| QuestionScore {
            question_id: s.question.clone(),
            area_id: s.area.clone(),
            points: dec(s.points),
            max_points: dec(s.max),
        })
        .collect();
    let totals = kompass_scoring::totals(&qs)
        .map_err(|e| kompass_core::Error::internal(format!("totals of {}: {e}", c.evaluation)))?;
    let avg_of = |id: &str| -> String {
        average
            .and_then(|a| a.areas.iter().find(|s| s.id == id))
            .map(|s| s.mean.clone())
            .unwrap_or_default()
    };
    let areas = totals
        .areas
        .iter()
        .map(|t| {
            let fa = fw.area(&t.area_id);
            let texts = c.areas.iter().find(|a| a.area == t.area_id);
            pb::AreaReport {
                area: t.area_id.clone(),
                title: fa
                    .map(|a| tr(&a.name, en))
                    .unwrap_or_else(|| t.area_id.clone()),
                figure: Some(figure(t.points, t.max_points)),
                average_points: avg_of(&t.area_id),
                general_text: texts.map(|a| a.general_text.clone()).unwrap_or_default(),
                headings: texts
                    .map(|a| {
                        a.heading_texts
                            .iter()
                            .map(|h| pb::HeadingSection {
                                heading: h.heading,
                                title: fa
                                    .and_then(|fa| fa.headings.get((h.heading.max(1) - 1) as usize))
                                    .map(|t| tr(t, en))
                                    .unwrap_or_else(|| format!("{}", h.heading)),
                                text: h.text.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                strengths: texts.map(|a| a.strengths.clone()).unwrap_or_default(),
                improvement_opportunities: texts
                    .map(|a| {
                        a.improvement_opportunities
                            .iter()
                            .map(|o| o.text.clone())
                            .collect()
                    })
                    .unwrap_or_default(),
                questions: qs
                    .iter()
                    .filter(|q| q.area_id == t.area_id)
                    .map(|q| pb::QuestionRow {
                        question: q.question_id.clone(),
                        text: fw
                            .question(&q.question_id)
                            .map(|(_, fq)| tr(&fq.text, en))
                            .unwrap_or_default(),
                        figure: Some(figure(q.points, q.max_points)),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(pb::EvaluationReport {
        evaluation: c.evaluation.clone(),
        tenant: c.tenant.clone(),
        tenant_display_name: c.tenant_display_name.clone(),
        municipality_code: meta
            .map(|m| m.municipality_code.clone())
            .unwrap_or_default(),
        title: c.title.clone(),
        kind: store::kind_str(c.kind).into(),
        framework_version: c.framework_version.clone(),
        framework_title: tr(&fw.name, en),
        evaluation_date: c.evaluation_date.clone(),
        publish_time: ts(&c.publish_time),
        imported: c.imported,
        evaluators: c
            .evaluators
            .iter()
            .map(|e| pb::ReportEvaluator {
                display_name: e.display_name.clone(),
                role: match apb::EvaluatorRole::try_from(e.role).unwrap_or_default() {
                    apb::EvaluatorRole::Lead => "lead",
                    apb::EvaluatorRole::Peer => "peer",
                    _ => "",
                }
                .into(),
            })
            .collect(),
        interview_count: c.interview_count,
        total: Some(figure(totals.total_points, totals.total_max)),
        average_total: average
            .and_then(|a| a.total.as_ref())
            .map(|t| t.mean.clone())
            .unwrap_or_default(),
        average_count: average.map(|a| a.tenant_count).unwrap_or_default(),
        average_suppressed: average.is_some_and(|a| a.suppressed),
        average_suppressed_reason: average
            .map(|a| a.suppressed_reason.clone())
            .unwrap_or_default(),
        areas,
        seal: Some(pb::PublicationSeal {
            algorithm: seal.algorithm,
            digest: seal.digest,
            canonicalization: seal.canonicalization,
            seal_time: seal.seal_time,
        }),
        public,
        language: if en { "en" } else { "sv" }.into(),
        key_figures: vec![],
        import_record: import_record(&c),
    })
}

/// "operator" or "tenant_admin": the role an import was made in.
pub fn import_role(r: &apb::ImportRecord) -> &'static str {
    match apb::import_record::Role::try_from(r.role).unwrap_or_default() {
        apb::import_record::Role::Operator => "operator",
        apb::import_record::Role::TenantAdmin => "tenant_admin",
        apb::import_record::Role::Unspecified => "",
    }
}

/// Who put an imported result on record, when and from where, as sealed.
pub fn import_record(c: &apb::PublishedContent) -> Option<pb::ReportImportRecord> {
    c.import_record.as_ref().map(|r| pb::ReportImportRecord {
        imported_by: r.imported_by_display_name.clone(),
        role: import_role(r).into(),
        import_time: r.import_time,
        source: r.source.clone(),
    })
}
