//! NarrativeService: the report texts of an evaluation. Per area a general
//! text (*Allmänt*), a text per report heading, strengths (*Styrkor*) and
//! improvement opportunities (*Förbättringsmöjligheter*). Opportunities have a
//! stable id (uuid v7) that action plans and projects refer to; it is never
//! reused or renamed. In the next cycle the previous evaluation's texts and
//! opportunities are shown beside the new ones as read-only reference.
//!
//! Every write is one [`Write`]: a transaction that first locks the
//! evaluation row (so publication cannot slip in between the state check and
//! the write, and positions within an area are renumbered without races) and
//! appends an audit event.

use std::collections::{BTreeMap, HashSet};

use chrono::Utc;
use kompass_auth::Caller;
use kompass_core::{Error, Msg, names, paging};
use kompass_frameworks::{Area, Framework};
use kompass_grpc::caller;
use kompass_proto::assessment::v1::{self as pb, narrative_service_server::NarrativeService};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tonic::{Request, Response, Status};

use crate::Assessment;
use crate::access::{self, Eval};
use crate::audit::{self, Subject};
use crate::entity::{evaluation, narrative, opportunity};
use crate::util::{self, check_etag, json_list, required_mask, ts, unknown_field};
use crate::write::Write;

pub struct Narratives(pub Assessment);

/// Longest general text and heading text, in characters.
const MAX_TEXT: usize = 20_000;
/// Longest strength, in characters.
const MAX_STRENGTH: usize = 2_000;
/// Most strengths per area.
const MAX_STRENGTHS: usize = 50;
/// Longest improvement opportunity, in characters.
const MAX_OPPORTUNITY: usize = 4_000;

const NARRATIVE_FIELDS: &str = "general_text, heading_texts, strengths";
const OPPORTUNITY_FIELDS: &str = "text, questions, position";

// ---------------------------------------------------------------- for other modules

/// The texts of one area, as publication and the next cycle use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AreaTexts {
    pub area: String,
    pub general_text: String,
    /// (1-based heading position, text), by heading.
    pub heading_texts: Vec<(i32, String)>,
    pub strengths: Vec<String>,
    /// By position.
    pub opportunities: Vec<OpportunityRow>,
}

/// One improvement opportunity of an area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpportunityRow {
    /// The stable id (the last segment of the resource name).
    pub id: String,
    pub text: String,
    pub questions: Vec<String>,
    pub position: i32,
    /// Resource name of the previous evaluation's opportunity it follows up.
    pub follows_up: Option<String>,
}

/// The texts of every area of `fw` for one evaluation, in framework order;
/// areas never written come back empty.
pub(crate) async fn area_texts(
    db: &impl ConnectionTrait,
    evaluation_id: &str,
    fw: &Framework,
) -> Result<Vec<AreaTexts>, Error> {
    let (narratives, opportunities) = load(db, evaluation_id).await?;
    Ok(fw
        .areas
        .iter()
        .map(|a| {
            let t = narratives
                .get(&a.id)
                .map(Texts::from_row)
                .unwrap_or_default();
            AreaTexts {
                area: a.id.clone(),
                general_text: t.general,
                heading_texts: t.headings,
                strengths: t.strengths,
                opportunities: opportunities
                    .iter()
                    .filter(|o| o.area_id == a.id)
                    .map(|o| OpportunityRow {
                        id: o.id.clone(),
                        text: o.text.clone(),
                        questions: json_list(&o.questions),
                        position: o.position,
                        follows_up: o.follows_up.clone(),
                    })
                    .collect(),
            }
        })
        .collect())
}

// ---------------------------------------------------------------- storage helpers

/// One stored heading text.
#[derive(Debug, Serialize, Deserialize)]
struct StoredHeading {
    heading: i32,
    text: String,
}

/// The writable content of a narrative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Texts {
    general: String,
    headings: Vec<(i32, String)>,
    strengths: Vec<String>,
}

impl Texts {
    fn from_row(m: &narrative::Model) -> Texts {
        let stored: Vec<StoredHeading> = serde_json::from_str(&m.heading_texts).unwrap_or_default();
        Texts {
            general: m.general_text.clone(),
            headings: stored.into_iter().map(|h| (h.heading, h.text)).collect(),
            strengths: json_list(&m.strengths),
        }
    }

    fn headings_json(&self) -> String {
        util::to_json(
            &self
                .headings
                .iter()
                .map(|(h, t)| StoredHeading {
                    heading: *h,
                    text: t.clone(),
                })
                .collect::<Vec<_>>(),
        )
    }

    fn heading_texts_pb(&self) -> Vec<pb::HeadingText> {
        self.headings
            .iter()
            .map(|(h, t)| pb::HeadingText {
                heading: *h,
                text: t.clone(),
            })
            .collect()
    }
}

/// Narratives by area and opportunities (by area id, position, id) of one evaluation.
async fn load(
    db: &impl ConnectionTrait,
    evaluation_id: &str,
) -> Result<(BTreeMap<String, narrative::Model>, Vec<opportunity::Model>), Error> {
    let narratives = narrative::Entity::find()
        .filter(narrative::Column::EvaluationId.eq(evaluation_id))
        .all(db)
        .await?
        .into_iter()
        .map(|n| (n.area_id.clone(), n))
        .collect();
    let opportunities = opportunity::Entity::find()
        .filter(opportunity::Column::EvaluationId.eq(evaluation_id))
        .order_by_asc(opportunity::Column::Position)
        .order_by_asc(opportunity::Column::Id)
        .all(db)
        .await?;
    Ok((narratives, opportunities))
}

fn narrative_name(evaluation: &str, area: &str) -> String {
    format!("{evaluation}/areas/{area}/narrative")
}

fn opportunity_name(evaluation: &str, id: &str) -> String {
    format!("{evaluation}/opportunities/{id}")
}

/// `tenants/{t}/evaluations/{e}/areas/{area}/narrative` → (evaluation name, area id).
fn parse_narrative_name(name: &str) -> Result<(String, String), Error> {
    let v = names::parse(
        name,
        &[
            "tenants",
            "*",
            "evaluations",
            "*",
            "areas",
            "*",
            "narrative",
        ],
    )?;
    Ok((
        format!("tenants/{}/evaluations/{}", v[0], v[1]),
        v[2].to_string(),
    ))
}

fn narrative_pb(evaluation: &str, area: &str, row: Option<&narrative::Model>) -> pb::Narrative {
    let t = row.map(Texts::from_row).unwrap_or_default();
    pb::Narrative {
        name: narrative_name(evaluation, area),
        area: area.to_string(),
        general_text: t.general.clone(),
        heading_texts: t.heading_texts_pb(),
        strengths: t.strengths,
        previous: None,
        previous_improvement_opportunities: vec![],
        update_time: row.map(|m| ts(m.updated_at)),
        etag: row.map_or(0, |m| m.version).to_string(),
    }
}

/// The proto3 JSON mapping of a narrative's stored fields, for the audit trail.
fn narrative_json(name: &str, area: &str, t: &Texts, version: i64) -> Value {
    json!({
        "name": name,
        "area": area,
        "generalText": t.general,
        "headingTexts": t.headings.iter().map(|(h, x)| json!({"heading": h, "text": x})).collect::<Vec<_>>(),
        "strengths": t.strengths,
        "etag": version.to_string(),
    })
}

fn opportunity_pb(evaluation: &str, m: &opportunity::Model) -> pb::ImprovementOpportunity {
    pb::ImprovementOpportunity {
        name: opportunity_name(evaluation, &m.id),
        area: m.area_id.clone(),
        text: m.text.clone(),
        questions: json_list(&m.questions),
        position: m.position,
        follows_up: m.follows_up.clone().unwrap_or_default(),
        create_time: Some(ts(m.created_at)),
        etag: m.version.to_string(),
    }
}

/// The proto3 JSON mapping of an opportunity, for the audit trail.
fn opportunity_json(evaluation: &str, m: &opportunity::Model) -> Value {
    let mut v = json!({
        "name": opportunity_name(evaluation, &m.id),
        "area": m.area_id,
        "text": m.text,
        "questions": json_list(&m.questions),
        "position": m.position,
        "etag": m.version.to_string(),
    });
    if let Some(f) = &m.follows_up {
        v["followsUp"] = json!(f);
    }
    v
}

// ---------------------------------------------------------------- validation

/// The area `id` of the evaluation's framework, or NOT_FOUND (it is part of a
/// resource name).
fn area_of<'a>(fw: &'a Framework, eval: &Eval, id: &str) -> Result<&'a Area, Error> {
    fw.area(id).ok_or_else(|| {
        Error::NotFound(Msg::new(
            format!(
                "area {id} does not exist in framework version {}",
                eval.row.framework_version
            ),
            format!(
                "området {id} finns inte i ramverksversionen {}",
                eval.row.framework_version
            ),
        ))
    })
}

/// The area `id` given as a field value: INVALID_ARGUMENT when unknown.
fn area_field<'a>(fw: &'a Framework, eval: &Eval, id: &str) -> Result<&'a Area, Error> {
    if id.is_empty() {
        return Err(Error::invalid("area is required", "område (area) krävs"));
    }
    fw.area(id).ok_or_else(|| {
        Error::InvalidArgument(Msg::new(
            format!(
                "area {id:?} is not an area of framework version {}",
                eval.row.framework_version
            ),
            format!(
                "området {id:?} finns inte i ramverksversionen {}",
                eval.row.framework_version
            ),
        ))
    })
}

fn require_writer(eval: &Eval) -> Result<(), Error> {
    eval.require(
        eval.may_write_texts(),
        if eval.is_external() {
            "only the evaluators assigned to this evaluation (and operators) write its texts and improvement opportunities"
        } else {
            "only the municipality's own users (and operators) write the texts and improvement opportunities of a self-assessment"
        },
        if eval.is_external() {
            "bara utvärderarna som är tilldelade utvärderingen (och operatörer) skriver dess texter och förbättringsmöjligheter"
        } else {
            "bara kommunens egna användare (och operatörer) skriver texter och förbättringsmöjligheter i en självvärdering"
        },
    )
}

fn heading_texts(area: &Area, given: &[pb::HeadingText]) -> Result<Vec<(i32, String)>, Error> {
    let count = area.headings.len();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, h) in given.iter().enumerate() {
        if h.heading < 1 || h.heading as usize > count {
            let (en, sv) = if count == 0 {
                (
                    format!("area {} has no headings", area.id),
                    format!("området {} har inga rubriker", area.id),
                )
            } else {
                (
                    format!("area {} has headings 1 to {count}", area.id),
                    format!("området {} har rubrikerna 1 till {count}", area.id),
                )
            };
            return Err(Error::InvalidArgument(Msg::new(
                format!(
                    "heading_texts[{i}].heading {} is not a heading of the area: {en}",
                    h.heading
                ),
                format!(
                    "heading_texts[{i}].heading {} är ingen rubrik i området: {sv}",
                    h.heading
                ),
            )));
        }
        if !seen.insert(h.heading) {
            return Err(Error::InvalidArgument(Msg::new(
                format!(
                    "heading_texts[{i}]: heading {} is given more than once; send at most one text per heading",
                    h.heading
                ),
                format!(
                    "heading_texts[{i}]: rubrik {} finns mer än en gång; skicka högst en text per rubrik",
                    h.heading
                ),
            )));
        }
        let text = util::text(
            &format!("heading_texts[{i}].text"),
            &h.text,
            MAX_TEXT,
            false,
        )?;
        // An empty text clears the heading.
        if !text.is_empty() {
            out.push((h.heading, text));
        }
    }
    out.sort_by_key(|(h, _)| *h);
    Ok(out)
}

fn strengths(given: &[String]) -> Result<Vec<String>, Error> {
    if given.len() > MAX_STRENGTHS {
        return Err(Error::InvalidArgument(Msg::new(
            format!(
                "at most {MAX_STRENGTHS} strengths per area, not {}",
                given.len()
            ),
            format!(
                "högst {MAX_STRENGTHS} styrkor per område, inte {}",
                given.len()
            ),
        )));
    }
    given
        .iter()
        .enumerate()
        .map(|(i, s)| util::text(&format!("strengths[{i}]"), s, MAX_STRENGTH, true))
        .collect()
}

/// Question ids of the framework, without duplicates, in the given order.
fn questions(fw: &Framework, eval: &Eval, given: &[String]) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for (i, q) in given.iter().enumerate() {
        let q = q.trim();
        if fw.question(q).is_none() {
            return Err(Error::InvalidArgument(Msg::new(
                format!(
                    "questions[{i}]: {q:?} is not a question of framework version {}",
                    eval.row.framework_version
                ),
                format!(
                    "questions[{i}]: {q:?} är ingen fråga i ramverksversionen {}",
                    eval.row.framework_version
                ),
            )));
        }
        if !out.iter().any(|x| x == q) {
            out.push(q.to_string());
        }
    }
    Ok(out)
}

/// `follows_up` must name an opportunity of the evaluation's previous one;
/// returns its canonical resource name.
async fn follows_up(eval: &Eval, name: &str) -> Result<String, Error> {
    let Some(prev) = &eval.row.previous_evaluation else {
        return Err(Error::invalid(
            "follows_up can only be set in an evaluation that starts from a previous one (previous_evaluation)",
            "follows_up kan bara anges i en utvärdering som utgår från en tidigare (previous_evaluation)",
        ));
    };
    let prev_name = format!("tenants/{}/evaluations/{prev}", eval.tenant);
    let not_there = || {
        Error::InvalidArgument(Msg::new(
            format!(
                "follows_up {name:?} is not an improvement opportunity of the previous evaluation {prev_name}"
            ),
            format!(
                "follows_up {name:?} är ingen förbättringsmöjlighet i den tidigare utvärderingen {prev_name}"
            ),
        ))
    };
    let (evaluation, id) = access::child(name, "opportunities")?;
    if evaluation != prev_name {
        return Err(not_there());
    }
    opportunity::Entity::find_by_id(id)
        .filter(opportunity::Column::EvaluationId.eq(prev.as_str()))
        .one(&*eval.db)
        .await?
        .ok_or_else(not_there)?;
    Ok(opportunity_name(&prev_name, id))
}

/// Writes positions 1..n in the order of `ids` where they differ from `current`.
async fn renumber(
    tx: &impl ConnectionTrait,
    ids: &[String],
    current: &BTreeMap<String, i32>,
) -> Result<(), Error> {
    for (i, id) in ids.iter().enumerate() {
        let p = i as i32 + 1;
        if current.get(id) != Some(&p) {
            opportunity::Entity::update_many()
                .col_expr(opportunity::Column::Position, p.into())
                .filter(opportunity::Column::Id.eq(id.as_str()))
                .exec(tx)
                .await?;
        }
    }
    Ok(())
}

/// The other opportunities of an area, by position, locked.
async fn siblings(
    tx: &impl ConnectionTrait,
    evaluation_id: &str,
    area: &str,
) -> Result<Vec<opportunity::Model>, Error> {
    Ok(opportunity::Entity::find()
        .filter(opportunity::Column::EvaluationId.eq(evaluation_id))
        .filter(opportunity::Column::AreaId.eq(area))
        .order_by_asc(opportunity::Column::Position)
        .order_by_asc(opportunity::Column::Id)
        .lock_exclusive()
        .all(tx)
        .await?)
}

fn negative_position() -> Error {
    Error::invalid(
        "position must not be negative",
        "position får inte vara negativ",
    )
}

// ---------------------------------------------------------------- handlers

impl Narratives {
    /// Fills `previous` and `previous_improvement_opportunities` from the
    /// evaluation's previous one, if any.
    /// A published previous evaluation is public reference; an unpublished
    /// one only for a caller who has access to it.
    async fn fill_previous(
        &self,
        c: &Caller,
        eval: &Eval,
        out: &mut [pb::Narrative],
    ) -> Result<(), Error> {
        let Some(prev) = &eval.row.previous_evaluation else {
            return Ok(());
        };
        let published = evaluation::Entity::find_by_id(prev.as_str())
            .one(&*eval.db)
            .await?
            .is_some_and(|r| r.seal_digest.is_some());
        if !published
            && access::related(&self.0, c, &eval.tenant, &*eval.db, prev)
                .await?
                .is_none()
        {
            return Ok(());
        }
        let prev_name = format!("tenants/{}/evaluations/{prev}", eval.tenant);
        let (narratives, opportunities) = load(&*eval.db, prev).await?;
        for n in out {
            n.previous = Some(Box::new(narrative_pb(
                &prev_name,
                &n.area,
                narratives.get(&n.area),
            )));
            n.previous_improvement_opportunities = opportunities
                .iter()
                .filter(|o| o.area_id == n.area)
                .map(|o| opportunity_pb(&prev_name, o))
                .collect();
        }
        Ok(())
    }

    async fn read_narrative(
        &self,
        c: &Caller,
        r: pb::GetNarrativeRequest,
    ) -> Result<pb::Narrative, Error> {
        let (evaluation, area) = parse_narrative_name(&r.name)?;
        let eval = access::open(&self.0, c, &evaluation).await?;
        let fw = crate::frameworks::resolve(&self.0, &eval.row.framework_version).await?;
        let area = area_of(&fw, &eval, &area)?;
        let row = narrative::Entity::find_by_id((eval.row.id.clone(), area.id.clone()))
            .one(&*eval.db)
            .await?;
        let mut n = [narrative_pb(&eval.name(), &area.id, row.as_ref())];
        self.fill_previous(c, &eval, &mut n).await?;
        let [n] = n;
        Ok(n)
    }

    async fn read_narratives(
        &self,
        c: &Caller,
        r: pb::ListNarrativesRequest,
    ) -> Result<pb::ListNarrativesResponse, Error> {
        let eval = access::open(&self.0, c, &r.parent).await?;
        let size = paging::page_size(r.page_size)?;
        let after = paging::decode(&r.page_token)?;
        let fw = crate::frameworks::resolve(&self.0, &eval.row.framework_version).await?;
        let start = match &after {
            None => 0,
            Some(a) => {
                fw.areas.iter().position(|x| &x.id == a).ok_or_else(|| {
                    Error::invalid(
                        "page_token is not one this service issued",
                        "page_token kommer inte från den här tjänsten",
                    )
                })? + 1
            }
        };
        let areas: Vec<&Area> = fw
            .areas
            .iter()
            .skip(start)
            .take(size as usize + 1)
            .collect();
        let (areas, next) = paging::finish(areas, size, |a| a.id.clone());
        let (narratives, _) = load(&*eval.db, &eval.row.id).await?;
        let name = eval.name();
        let mut out: Vec<pb::Narrative> = areas
            .iter()
            .map(|a| narrative_pb(&name, &a.id, narratives.get(&a.id)))
            .collect();
        self.fill_previous(c, &eval, &mut out).await?;
        Ok(pb::ListNarrativesResponse {
            narratives: out,
            next_page_token: next,
        })
    }

    async fn write_narrative(
        &self,
        c: &Caller,
        r: pb::UpdateNarrativeRequest,
    ) -> Result<pb::Narrative, Error> {
        let n = r
            .narrative
            .ok_or_else(|| Error::invalid("narrative is required", "narrative krävs"))?;
        let paths = required_mask(r.update_mask)?;
        let (evaluation, area) = parse_narrative_name(&n.name)?;
        let eval = access::open(&self.0, c, &evaluation).await?;
        require_writer(&eval)?;
        eval.require_open()?;
        let fw = crate::frameworks::resolve(&self.0, &eval.row.framework_version).await?;
        let area = area_of(&fw, &eval, &area)?;
        let name = narrative_name(&eval.name(), &area.id);

        let (mut general, mut headings, mut strong) = (None, None, None);
        for p in &paths {
            match p.as_str() {
                "general_text" => {
                    general = Some(util::text(
                        "general_text",
                        &n.general_text,
                        MAX_TEXT,
                        false,
                    )?)
                }
                "heading_texts" => headings = Some(heading_texts(area, &n.heading_texts)?),
                "strengths" => strong = Some(strengths(&n.strengths)?),
                other => return Err(unknown_field(other, NARRATIVE_FIELDS)),
            }
        }

        let w = Write::lock(&self.0, &eval).await?;
        w.require_open()?;
        let current = narrative::Entity::find_by_id((eval.row.id.clone(), area.id.clone()))
            .lock_exclusive()
            .one(&*w)
            .await?;
        let version = current.as_ref().map_or(0, |m| m.version);
        if !(current.is_none() && n.etag.is_empty()) {
            check_etag(&n.etag, version, &name)?;
        }
        let old = current.as_ref().map(Texts::from_row);
        let mut new = old.clone().unwrap_or_default();
        if let Some(g) = general {
            new.general = g;
        }
        if let Some(h) = headings {
            new.headings = h;
        }
        if let Some(s) = strong {
            new.strengths = s;
        }
        if old.as_ref() == Some(&new) {
            // Nothing changes: no new version, no audit event.
            w.commit().await?;
            let mut out = [narrative_pb(&eval.name(), &area.id, current.as_ref())];
            self.fill_previous(c, &eval, &mut out).await?;
            let [out] = out;
            return Ok(out);
        }
        let now = Utc::now();
        let row = match current {
            None => {
                narrative::Entity::insert(narrative::ActiveModel {
                    evaluation_id: Set(eval.row.id.clone()),
                    area_id: Set(area.id.clone()),
                    general_text: Set(new.general.clone()),
                    heading_texts: Set(new.headings_json()),
                    strengths: Set(util::to_json(&new.strengths)),
                    version: Set(1),
                    updated_at: Set(now),
                })
                .exec_with_returning(&*w)
                .await?
            }
            Some(_) => {
                w.update(
                    narrative::Entity::update_many()
                        .col_expr(
                            narrative::Column::GeneralText,
                            Expr::value(new.general.clone()),
                        )
                        .col_expr(
                            narrative::Column::HeadingTexts,
                            Expr::value(new.headings_json()),
                        )
                        .col_expr(
                            narrative::Column::Strengths,
                            Expr::value(util::to_json(&new.strengths)),
                        )
                        .col_expr(narrative::Column::UpdatedAt, Expr::value(now))
                        .filter(narrative::Column::EvaluationId.eq(eval.row.id.as_str()))
                        .filter(narrative::Column::AreaId.eq(area.id.as_str())),
                    narrative::Column::Version,
                    version,
                    &name,
                )
                .await?;
                narrative::Entity::find_by_id((eval.row.id.clone(), area.id.clone()))
                    .one(&*w)
                    .await?
                    .ok_or_else(|| Error::internal("narrative vanished inside its own write"))?
            }
        };
        audit::append(
            &*w,
            &eval.row.id,
            eval.user.as_str(),
            Subject::Narrative,
            &name,
            old.map(|t| narrative_json(&name, &area.id, &t, version)),
            Some(narrative_json(&name, &area.id, &new, row.version)),
            "",
        )
        .await?;
        w.commit().await?;
        tracing::info!(evaluation = %eval.name(), area = %area.id, "narrative updated");
        let mut out = [narrative_pb(&eval.name(), &area.id, Some(&row))];
        self.fill_previous(c, &eval, &mut out).await?;
        let [out] = out;
        Ok(out)
    }

    async fn create_opportunity(
        &self,
        c: &Caller,
        r: pb::CreateImprovementOpportunityRequest,
    ) -> Result<pb::ImprovementOpportunity, Error> {
        let eval = access::open(&self.0, c, &r.parent).await?;
        require_writer(&eval)?;
        eval.require_open()?;
        let o = r.improvement_opportunity.ok_or_else(|| {
            Error::invalid(
                "improvement_opportunity is required",
                "improvement_opportunity krävs",
            )
        })?;
        let fw = crate::frameworks::resolve(&self.0, &eval.row.framework_version).await?;
        let area = area_field(&fw, &eval, &o.area)?;
        let text = util::text("text", &o.text, MAX_OPPORTUNITY, true)?;
        let qs = questions(&fw, &eval, &o.questions)?;
        if o.position < 0 {
            return Err(negative_position());
        }
        let follows = if o.follows_up.trim().is_empty() {
            None
        } else {
            Some(follows_up(&eval, o.follows_up.trim()).await?)
        };

        let w = Write::lock(&self.0, &eval).await?;
        w.require_open()?;
        let others = siblings(&*w, &eval.row.id, &area.id).await?;
        let current: BTreeMap<String, i32> =
            others.iter().map(|m| (m.id.clone(), m.position)).collect();
        let mut order: Vec<String> = others.into_iter().map(|m| m.id).collect();
        let at = if o.position == 0 {
            order.len()
        } else {
            (o.position as usize - 1).min(order.len())
        };
        let id = util::new_id();
        let row = opportunity::Entity::insert(opportunity::ActiveModel {
            id: Set(id.clone()),
            evaluation_id: Set(eval.row.id.clone()),
            area_id: Set(area.id.clone()),
            text: Set(text),
            questions: Set(util::to_json(&qs)),
            position: Set(at as i32 + 1),
            follows_up: Set(follows),
            version: Set(1),
            created_at: Set(Utc::now()),
        })
        .exec_with_returning(&*w)
        .await?;
        order.insert(at, id.clone());
        let mut current = current;
        current.insert(id, row.position);
        renumber(&*w, &order, &current).await?;
        let name = eval.name();
        audit::append(
            &*w,
            &eval.row.id,
            eval.user.as_str(),
            Subject::ImprovementOpportunity,
            &opportunity_name(&name, &row.id),
            None,
            Some(opportunity_json(&name, &row)),
            "",
        )
        .await?;
        w.commit().await?;
        tracing::info!(evaluation = %name, opportunity = %row.id, "improvement opportunity created");
        Ok(opportunity_pb(&name, &row))
    }

    /// The opportunity `name` and its opened evaluation.
    async fn open_opportunity(&self, c: &Caller, name: &str) -> Result<(Eval, String), Error> {
        let (evaluation, id) = access::child(name, "opportunities")?;
        let eval = access::open(&self.0, c, &evaluation).await?;
        Ok((eval, id.to_string()))
    }

    async fn find_opportunity(
        db: &impl ConnectionTrait,
        eval: &Eval,
        id: &str,
        lock: bool,
    ) -> Result<opportunity::Model, Error> {
        let mut q = opportunity::Entity::find_by_id(id)
            .filter(opportunity::Column::EvaluationId.eq(eval.row.id.as_str()));
        if lock {
            q = q.lock_exclusive();
        }
        q.one(db).await?.ok_or_else(|| {
            let name = opportunity_name(&eval.name(), id);
            Error::NotFound(Msg::new(
                format!("improvement opportunity {name} does not exist"),
                format!("förbättringsmöjligheten {name} finns inte"),
            ))
        })
    }

    async fn get_opportunity(
        &self,
        c: &Caller,
        r: pb::GetImprovementOpportunityRequest,
    ) -> Result<pb::ImprovementOpportunity, Error> {
        let (eval, id) = self.open_opportunity(c, &r.name).await?;
        let row = Self::find_opportunity(&*eval.db, &eval, &id, false).await?;
        Ok(opportunity_pb(&eval.name(), &row))
    }

    async fn list_opportunities(
        &self,
        c: &Caller,
        r: pb::ListImprovementOpportunitiesRequest,
    ) -> Result<pb::ListImprovementOpportunitiesResponse, Error> {
        let eval = access::open(&self.0, c, &r.parent).await?;
        let size = paging::page_size(r.page_size)?;
        let after = paging::decode(&r.page_token)?;
        let fw = crate::frameworks::resolve(&self.0, &eval.row.framework_version).await?;
        let mut q = opportunity::Entity::find()
            .filter(opportunity::Column::EvaluationId.eq(eval.row.id.as_str()));
        if !r.area.is_empty() {
            let area = area_field(&fw, &eval, &r.area)?;
            q = q.filter(opportunity::Column::AreaId.eq(area.id.as_str()));
        }
        let rows = q.all(&*eval.db).await?;
        // Framework order of areas, then position, then id: as a sortable key.
        let key = |m: &opportunity::Model| {
            let a = fw
                .areas
                .iter()
                .position(|x| x.id == m.area_id)
                .unwrap_or(99_999);
            format!("{a:05}/{:010}/{}", m.position.max(0), m.id)
        };
        let mut rows: Vec<(String, opportunity::Model)> =
            rows.into_iter().map(|m| (key(&m), m)).collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|(k, _)| after.as_ref().is_none_or(|a| k > a))
            .take(size as usize + 1)
            .collect();
        let (rows, next) = paging::finish(rows, size, |(k, _)| k.clone());
        let name = eval.name();
        Ok(pb::ListImprovementOpportunitiesResponse {
            improvement_opportunities: rows.iter().map(|(_, m)| opportunity_pb(&name, m)).collect(),
            next_page_token: next,
        })
    }

    async fn update_opportunity(
        &self,
        c: &Caller,
        r: pb::UpdateImprovementOpportunityRequest,
    ) -> Result<pb::ImprovementOpportunity, Error> {
        let o = r.improvement_opportunity.ok_or_else(|| {
            Error::invalid(
                "improvement_opportunity is required",
                "improvement_opportunity krävs",
            )
        })?;
        let paths = required_mask(r.update_mask)?;
        let (eval, id) = self.open_opportunity(c, &o.name).await?;
        require_writer(&eval)?;
        eval.require_open()?;
        let fw = crate::frameworks::resolve(&self.0, &eval.row.framework_version).await?;
        let (mut text, mut qs, mut position) = (None, None, None);
        for p in &paths {
            match p.as_str() {
                "text" => text = Some(util::text("text", &o.text, MAX_OPPORTUNITY, true)?),
                "questions" => qs = Some(questions(&fw, &eval, &o.questions)?),
                "position" => {
                    if o.position < 0 {
                        return Err(negative_position());
                    }
                    position = Some(o.position)
                }
                other => return Err(unknown_field(other, OPPORTUNITY_FIELDS)),
            }
        }

        let name = eval.name();
        let target = opportunity_name(&name, &id);
        let w = Write::lock(&self.0, &eval).await?;
        w.require_open()?;
        let cur = Self::find_opportunity(&*w, &eval, &id, true).await?;
        check_etag(&o.etag, cur.version, &target)?;
        let old = opportunity_json(&name, &cur);
        let mut next = cur.clone();
        if let Some(t) = text {
            next.text = t;
        }
        if let Some(q) = qs {
            next.questions = util::to_json(&q);
        }
        let mut order = None;
        if let Some(p) = position {
            let others = siblings(&*w, &eval.row.id, &cur.area_id).await?;
            let current: BTreeMap<String, i32> =
                others.iter().map(|m| (m.id.clone(), m.position)).collect();
            let mut ids: Vec<String> = others
                .into_iter()
                .map(|m| m.id)
                .filter(|x| x != &id)
                .collect();
            // 0 moves to the end, like on create.
            let at = if p == 0 {
                ids.len()
            } else {
                (p as usize - 1).min(ids.len())
            };
            ids.insert(at, id.clone());
            next.position = at as i32 + 1;
            order = Some((ids, current));
        }
        if next == cur {
            w.commit().await?;
            return Ok(opportunity_pb(&name, &cur));
        }
        if let Some((ids, mut current)) = order {
            // The row itself is written below.
            current.insert(id.clone(), next.position);
            renumber(&*w, &ids, &current).await?;
        }
        w.update(
            opportunity::Entity::update_many()
                .col_expr(opportunity::Column::Text, Expr::value(next.text.clone()))
                .col_expr(
                    opportunity::Column::Questions,
                    Expr::value(next.questions.clone()),
                )
                .col_expr(opportunity::Column::Position, Expr::value(next.position))
                .filter(opportunity::Column::Id.eq(id.as_str())),
            opportunity::Column::Version,
            cur.version,
            &target,
        )
        .await?;
        let row = Self::find_opportunity(&*w, &eval, &id, false).await?;
        audit::append(
            &*w,
            &eval.row.id,
            eval.user.as_str(),
            Subject::ImprovementOpportunity,
            &target,
            Some(old),
            Some(opportunity_json(&name, &row)),
            "",
        )
        .await?;
        w.commit().await?;
        tracing::info!(evaluation = %name, opportunity = %row.id, "improvement opportunity updated");
        Ok(opportunity_pb(&name, &row))
    }

    async fn delete_opportunity(
        &self,
        c: &Caller,
        r: pb::DeleteImprovementOpportunityRequest,
    ) -> Result<(), Error> {
        let (eval, id) = self.open_opportunity(c, &r.name).await?;
        require_writer(&eval)?;
        eval.require_open()?;
        let name = eval.name();
        let target = opportunity_name(&name, &id);
        let w = Write::lock(&self.0, &eval).await?;
        w.require_open()?;
        let cur = Self::find_opportunity(&*w, &eval, &id, true).await?;
        check_etag(&r.etag, cur.version, &target)?;
        w.delete(
            opportunity::Entity::delete_many().filter(opportunity::Column::Id.eq(id.as_str())),
            opportunity::Column::Version,
            cur.version,
            &target,
        )
        .await?;
        let others = siblings(&*w, &eval.row.id, &cur.area_id).await?;
        let current: BTreeMap<String, i32> =
            others.iter().map(|m| (m.id.clone(), m.position)).collect();
        let ids: Vec<String> = others.into_iter().map(|m| m.id).collect();
        renumber(&*w, &ids, &current).await?;
        audit::append(
            &*w,
            &eval.row.id,
            eval.user.as_str(),
            Subject::ImprovementOpportunity,
            &target,
            Some(opportunity_json(&name, &cur)),
            None,
            "",
        )
        .await?;
        w.commit().await?;
        tracing::info!(evaluation = %name, opportunity = %id, "improvement opportunity deleted");
        Ok(())
    }
}

#[tonic::async_trait]
impl NarrativeService for Narratives {
    async fn get_narrative(
        &self,
        req: Request<pb::GetNarrativeRequest>,
    ) -> Result<Response<pb::Narrative>, Status> {
        let c = caller(&req);
        Ok(Response::new(
            self.read_narrative(&c, req.into_inner()).await?,
        ))
    }

    async fn list_narratives(
        &self,
        req: Request<pb::ListNarrativesRequest>,
    ) -> Result<Response<pb::ListNarrativesResponse>, Status> {
        let c = caller(&req);
        Ok(Response::new(
            self.read_narratives(&c, req.into_inner()).await?,
        ))
    }

    async fn update_narrative(
        &self,
        req: Request<pb::UpdateNarrativeRequest>,
    ) -> Result<Response<pb::Narrative>, Status> {
        let c = caller(&req);
        Ok(Response::new(
            self.write_narrative(&c, req.into_inner()).await?,
        ))
    }

    async fn create_improvement_opportunity(
        &self,
        req: Request<pb::CreateImprovementOpportunityRequest>,
    ) -> Result<Response<pb::ImprovementOpportunity>, Status> {
        let c = caller(&req);
        Ok(Response::new(
            self.create_opportunity(&c, req.into_inner()).await?,
        ))
    }

    async fn get_improvement_opportunity(
        &self,
        req: Request<pb::GetImprovementOpportunityRequest>,
    ) -> Result<Response<pb::ImprovementOpportunity>, Status> {
        let c = caller(&req);
        Ok(Response::new(
            self.get_opportunity(&c, req.into_inner()).await?,
        ))
    }

    async fn list_improvement_opportunities(
        &self,
        req: Request<pb::ListImprovementOpportunitiesRequest>,
    ) -> Result<Response<pb::ListImprovementOpportunitiesResponse>, Status> {
        let c = caller(&req);
        Ok(Response::new(
            self.list_opportunities(&c, req.into_inner()).await?,
        ))
    }

    async fn update_improvement_opportunity(
        &self,
        req: Request<pb::UpdateImprovementOpportunityRequest>,
    ) -> Result<Response<pb::ImprovementOpportunity>, Status> {
        let c = caller(&req);
        Ok(Response::new(
            self.update_opportunity(&c, req.into_inner()).await?,
        ))
    }

    async fn delete_improvement_opportunity(
        &self,
        req: Request<pb::DeleteImprovementOpportunityRequest>,
    ) -> Result<Response<()>, Status> {
        let c = caller(&req);
        self.delete_opportunity(&c, req.into_inner()).await?;
        Ok(Response::new(()))
    }
}
