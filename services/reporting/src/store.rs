//! The national read model: writes from `evaluation.published` events (at
//! least once, idempotent) and the reads the RPCs need. SQL is written with
//! `$n` placeholders and runs on PostgreSQL and SQLite.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use kompass_catalog::Catalog;
use kompass_core::{Error, Msg, TenantId};
use kompass_proto::assessment::v1 as apb;
use prost::Message;
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, Value};

/// Topic of the event this read model is fed by.
pub const PUBLISHED_TOPIC: &str = "evaluation.published";

pub fn stmt(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Statement {
    let backend = db.get_database_backend();
    let sql = if backend == DbBackend::Sqlite {
        sql.replace('$', "?")
    } else {
        sql.to_string()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// Points of one question in hundredths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Score {
    pub area: String,
    pub question: String,
    pub points: i64,
    pub max: i64,
}

pub fn centi(d: Decimal) -> i64 {
    let mut d = d;
    d.rescale(2);
    d.mantissa() as i64
}

pub fn dec(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

/// `area:question=points/max;…`
pub fn encode_scores(s: &[Score]) -> String {
    s.iter()
        .map(|s| format!("{}:{}={}/{}", s.area, s.question, s.points, s.max))
        .collect::<Vec<_>>()
        .join(";")
}

pub fn decode_scores(s: &str) -> Vec<Score> {
    s.split(';')
        .filter_map(|item| {
            let (area, rest) = item.split_once(':')?;
            let (question, rest) = rest.split_once('=')?;
            let (p, m) = rest.split_once('/')?;
            Some(Score {
                area: area.into(),
                question: question.into(),
                points: p.parse().ok()?,
                max: m.parse().ok()?,
            })
        })
        .collect()
}

/// One published evaluation as the comparisons read it.
#[derive(Debug, Clone)]
pub struct EvalRow {
    pub evaluation: String,
    pub tenant_id: String,
    pub kind: String,
    pub framework_version: String,
    pub evaluation_date: String,
    pub publish_time: DateTime<Utc>,
    pub scores: Vec<Score>,
}

impl EvalRow {
    pub fn total(&self) -> i64 {
        self.scores.iter().map(|s| s.points).sum()
    }
    fn from_row(r: &QueryResult) -> Result<EvalRow, Error> {
        Ok(EvalRow {
            evaluation: r.try_get("", "evaluation")?,
            tenant_id: r.try_get("", "tenant_id")?,
            kind: r.try_get("", "kind")?,
            framework_version: r.try_get("", "framework_version")?,
            evaluation_date: r.try_get("", "evaluation_date")?,
            publish_time: r.try_get("", "publish_time")?,
            scores: decode_scores(&r.try_get::<String>("", "scores")?),
        })
    }
}

const EVAL_COLS: &str = "e.evaluation, e.tenant_id, e.kind, e.framework_version, \
    e.evaluation_date, e.publish_time, e.scores";

/// Filters of a comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    pub framework_version: String,
    pub country: String,
    pub from_year: i32,
    pub to_year: i32,
    /// Population bounds `[lo, hi)`; `None` = any.
    pub population: Option<(i64, i64)>,
}

impl Filter {
    pub fn cache_key(&self) -> String {
        let (lo, hi) = self.population.unwrap_or((0, 0));
        format!(
            "{}|{}|{}|{}|{lo}|{hi}",
            self.framework_version, self.country, self.from_year, self.to_year
        )
    }
}

/// Each tenant's latest external published evaluation matching `f`, oldest
/// first. "Latest" is chosen in SQL with a window function (one sort,
/// whatever the planner's statistics), so a comparison decodes one row per
/// tenant however many cycles are stored.
pub async fn evaluations(db: &DatabaseConnection, f: &Filter) -> Result<Vec<EvalRow>, Error> {
    let mut v: Vec<Value> = vec![f.framework_version.clone().into()];
    let mut inner = String::from(
        "SELECT evaluation, tenant_id, kind, framework_version, evaluation_date, \
         publish_time, scores, ROW_NUMBER() OVER (PARTITION BY tenant_id \
         ORDER BY evaluation_date DESC, publish_time DESC, evaluation DESC) AS rn \
         FROM reporting_evaluations WHERE framework_version = $1 AND kind = 'external'",
    );
    if f.from_year > 0 {
        v.push(f.from_year.into());
        inner.push_str(&format!(" AND year >= ${}", v.len()));
    }
    if f.to_year > 0 {
        v.push(f.to_year.into());
        inner.push_str(&format!(" AND year <= ${}", v.len()));
    }
    let mut sql = format!(
        "SELECT {EVAL_COLS} FROM ({inner}) e \
         JOIN reporting_tenants t ON t.tenant_id = e.tenant_id WHERE e.rn = 1"
    );
    if !f.country.is_empty() {
        v.push(f.country.clone().into());
        sql.push_str(&format!(" AND t.country = ${}", v.len()));
    }
    if let Some((lo, hi)) = f.population {
        v.push(lo.into());
        sql.push_str(&format!(" AND t.population >= ${}", v.len()));
        v.push(hi.into());
        sql.push_str(&format!(" AND t.population < ${}", v.len()));
    }
    sql.push_str(" ORDER BY e.evaluation_date, e.publish_time, e.evaluation");
    db.query_all_raw(stmt(db, &sql, v))
        .await?
        .iter()
        .map(EvalRow::from_row)
        .collect()
}

/// Every published evaluation of a tenant, oldest first.
pub async fn tenant_evaluations(
    db: &DatabaseConnection,
    tenant: &str,
) -> Result<Vec<EvalRow>, Error> {
    db.query_all_raw(stmt(
        db,
        &format!(
            "SELECT {EVAL_COLS} FROM reporting_evaluations e WHERE e.tenant_id = $1 \
             ORDER BY e.evaluation_date, e.publish_time, e.evaluation"
        ),
        vec![tenant.into()],
    ))
    .await?
    .iter()
    .map(EvalRow::from_row)
    .collect()
}

/// All published evaluations (optionally of one version), by name.
pub async fn all_evaluations(
    db: &DatabaseConnection,
    version: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<EvalRow>, Error> {
    let mut sql =
        format!("SELECT {EVAL_COLS} FROM reporting_evaluations e WHERE e.kind = 'external'");
    let mut v: Vec<Value> = vec![];
    if !version.is_empty() {
        v.push(version.into());
        sql.push_str(&format!(" AND e.framework_version = ${}", v.len()));
    }
    if let Some(a) = after {
        v.push(a.into());
        sql.push_str(&format!(" AND e.evaluation > ${}", v.len()));
    }
    sql.push_str(&format!(" ORDER BY e.evaluation LIMIT {limit}"));
    db.query_all_raw(stmt(db, &sql, v))
        .await?
        .iter()
        .map(EvalRow::from_row)
        .collect()
}

/// The stored event of a published evaluation.
pub async fn event(
    db: &DatabaseConnection,
    evaluation: &str,
) -> Result<Option<apb::EvaluationPublishedEvent>, Error> {
    let row = db
        .query_one_raw(stmt(
            db,
            "SELECT content FROM reporting_evaluations WHERE evaluation = $1",
            vec![evaluation.into()],
        ))
        .await?;
    match row {
        None => Ok(None),
        Some(r) => {
            let bytes: Vec<u8> = r.try_get("", "content")?;
            apb::EvaluationPublishedEvent::decode(bytes.as_slice())
                .map(Some)
                .map_err(|e| Error::internal(format!("stored event of {evaluation}: {e}")))
        }
    }
}

/// Tenant metadata copied from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantMeta {
    pub tenant_id: String,
    pub display_name: String,
    pub country: String,
    pub municipality_code: String,
    pub population: i64,
    pub named: bool,
}

pub async fn tenant_meta(db: &DatabaseConnection, id: &str) -> Result<Option<TenantMeta>, Error> {
    let r = db
        .query_one_raw(stmt(
            db,
            "SELECT tenant_id, display_name, country, municipality_code, population, named \
             FROM reporting_tenants WHERE tenant_id = $1",
            vec![id.into()],
        ))
        .await?;
    r.map(|r| {
        Ok(TenantMeta {
            tenant_id: r.try_get("", "tenant_id")?,
            display_name: r.try_get("", "display_name")?,
            country: r.try_get("", "country")?,
            municipality_code: r.try_get("", "municipality_code")?,
            population: r.try_get("", "population")?,
            named: r.try_get("", "named")?,
        })
    })
    .transpose()
}

/// Copies a tenant's metadata from the catalog; true if it changed.
pub async fn sync_tenant(
    db: &impl ConnectionTrait,
    m: &TenantMeta,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let cur = db
        .query_one_raw(stmt(
            db,
            "SELECT display_name, country, municipality_code, population, named \
             FROM reporting_tenants WHERE tenant_id = $1",
            vec![m.tenant_id.clone().into()],
        ))
        .await?;
    if let Some(r) = &cur {
        let same = r.try_get::<String>("", "display_name")? == m.display_name
            && r.try_get::<String>("", "country")? == m.country
            && r.try_get::<String>("", "municipality_code")? == m.municipality_code
            && r.try_get::<i64>("", "population")? == m.population
            && r.try_get::<bool>("", "named")? == m.named;
        if same {
            return Ok(false);
        }
    }
    db.execute_raw(stmt(
        db,
        "INSERT INTO reporting_tenants \
         (tenant_id, display_name, country, municipality_code, population, named, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (tenant_id) DO UPDATE SET display_name = excluded.display_name, \
         country = excluded.country, municipality_code = excluded.municipality_code, \
         population = excluded.population, named = excluded.named, updated_at = excluded.updated_at",
        vec![
            m.tenant_id.clone().into(),
            m.display_name.clone().into(),
            m.country.clone().into(),
            m.municipality_code.clone().into(),
            m.population.into(),
            m.named.into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(true)
}

pub fn meta_from_catalog(t: &kompass_catalog::TenantRow) -> TenantMeta {
    TenantMeta {
        tenant_id: t.id.clone(),
        display_name: t.display_name.clone(),
        country: t.country.clone(),
        municipality_code: t.municipality_code.clone(),
        population: t.population,
        named: t.named_in_comparisons,
    }
}

/// Refreshes every known tenant's metadata from the catalog (consent and
/// population change); true if anything changed.
pub async fn refresh_tenants(db: &DatabaseConnection, catalog: &Catalog) -> Result<bool, Error> {
    use sea_orm::EntityTrait;
    let rows = kompass_catalog::entity::tenant::Entity::find()
        .all(catalog.db())
        .await?;
    let known: std::collections::BTreeSet<String> = db
        .query_all_raw(stmt(db, "SELECT tenant_id FROM reporting_tenants", vec![]))
        .await?
        .iter()
        .filter_map(|r| r.try_get::<String>("", "tenant_id").ok())
        .collect();
    let now = Utc::now();
    let mut changed = false;
    for t in rows.iter().filter(|t| known.contains(&t.id)) {
        changed |= sync_tenant(db, &meta_from_catalog(t), now).await?;
    }
    Ok(changed)
}

/// What applying one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// New content stored.
    Stored,
    /// Seen before (same event id, or the same sealed content): nothing changed.
    Unchanged,
    /// Not an event of this read model, or unreadable (logged).
    Ignored,
    /// Refused: the content does not match its seal, or it would replace a
    /// different sealed version of the same evaluation. Nothing stored;
    /// logged and counted by the caller.
    Rejected { evaluation: String, why: Rejection },
}

/// Why a publication was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The digest recomputed from the content is not the sealed one (or the
    /// seal names an unknown algorithm or canonical form).
    SealMismatch(String),
    /// The read model already holds this evaluation under another seal: a
    /// published evaluation never changes, so a second version is forged.
    DifferentSeal { stored: String, received: String },
}

impl Rejection {
    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::SealMismatch(_) => "seal_mismatch",
            Rejection::DifferentSeal { .. } => "different_seal",
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::SealMismatch(m) => write!(f, "content does not match its seal: {m}"),
            Rejection::DifferentSeal { stored, received } => write!(
                f,
                "the evaluation is already stored with seal {stored}; refusing a different sealed version {received}"
            ),
        }
    }
}

fn bad(e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(Msg::new(
        format!("unreadable event: {e}"),
        format!("oläsbar händelse: {e}"),
    ))
}

/// Parses the scores of published content, in framework order.
pub fn content_scores(c: &apb::PublishedContent) -> Result<Vec<Score>, Error> {
    c.questions
        .iter()
        .map(|q| {
            let points = if q.points.is_empty() {
                Decimal::ZERO
            } else {
                kompass_scoring::parse_points(&q.points).map_err(bad)?
            };
            let max = kompass_scoring::parse_points(&q.max_points).map_err(bad)?;
            Ok(Score {
                area: q.area.clone(),
                question: q.question.clone(),
                points: centi(points),
                max: centi(max),
            })
        })
        .collect()
}

pub fn kind_str(k: i32) -> &'static str {
    match apb::EvaluationKind::try_from(k).unwrap_or_default() {
        apb::EvaluationKind::SelfAssessment => "self_assessment",
        _ => "external",
    }
}

/// Applies one delivery to the read model in one transaction. Idempotent:
/// an event id seen before, or content with the seal already stored, changes
/// nothing. Seals are checked, not trusted: the digest is recomputed from
/// the content of every event, and content that does not match, or that
/// would replace a different sealed version of the same evaluation, is
/// [`Applied::Rejected`].
pub async fn apply(
    db: &DatabaseConnection,
    catalog: &Catalog,
    event_id: &str,
    topic: &str,
    payload: &[u8],
) -> Result<Applied, Error> {
    if topic != PUBLISHED_TOPIC {
        return Ok(Applied::Ignored);
    }
    let ev = match apb::EvaluationPublishedEvent::decode(payload) {
        Ok(ev) => ev,
        Err(e) => {
            tracing::warn!(event_id, error = %e, "reporting: undecodable event skipped");
            return Ok(Applied::Ignored);
        }
    };
    let (Some(c), Some(seal)) = (ev.content.as_ref(), ev.seal.as_ref()) else {
        tracing::warn!(event_id, "reporting: event without content or seal skipped");
        return Ok(Applied::Ignored);
    };
    if let Err(m) = kompass_seal::check(c, seal) {
        return Ok(Applied::Rejected {
            evaluation: c.evaluation.clone(),
            why: Rejection::SealMismatch(m.to_string()),
        });
    }
    let scores = match content_scores(c) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(event_id, error = %e, "reporting: event with bad points skipped");
            return Ok(Applied::Ignored);
        }
    };
    let Ok(tenant) = kompass_core::names::tenant(&c.tenant) else {
        tracing::warn!(event_id, tenant = %c.tenant, "reporting: event with bad tenant skipped");
        return Ok(Applied::Ignored);
    };
    let date = NaiveDate::parse_from_str(&c.evaluation_date, "%Y-%m-%d").ok();
    let publish_time = c
        .publish_time
        .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .unwrap_or_else(Utc::now);
    let meta = tenant_from_catalog(catalog, &tenant, c).await?;

    let tx = kompass_tenant_db::begin_write(db).await?;
    let seen = tx
        .query_one_raw(stmt(
            &tx,
            "SELECT evaluation FROM reporting_events WHERE event_id = $1",
            vec![event_id.into()],
        ))
        .await?;
    if seen.is_some() {
        return Ok(Applied::Unchanged);
    }
    let existing = tx
        .query_one_raw(stmt(
            &tx,
            "SELECT seal_digest FROM reporting_evaluations WHERE evaluation = $1",
            vec![c.evaluation.clone().into()],
        ))
        .await?;
    if let Some(r) = existing {
        let digest: String = r.try_get("", "seal_digest")?;
        if digest.eq_ignore_ascii_case(&seal.digest) {
            return Ok(Applied::Unchanged);
        }
        // A published evaluation is sealed once and never changes: another
        // sealed version of it cannot be genuine.
        return Ok(Applied::Rejected {
            evaluation: c.evaluation.clone(),
            why: Rejection::DifferentSeal {
                stored: digest,
                received: seal.digest.clone(),
            },
        });
    }
    let now = Utc::now();
    sync_tenant(&tx, &meta, now).await?;
    let total: i64 = scores.iter().map(|s| s.points).sum();
    let max: i64 = scores.iter().map(|s| s.max).sum();
    tx.execute_raw(stmt(
        &tx,
        "INSERT INTO reporting_evaluations (evaluation, tenant_id, kind, framework_version, \
         evaluation_date, year, publish_time, total_centi, max_centi, scores, content, \
         seal_digest, event_id, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        vec![
            c.evaluation.clone().into(),
            tenant.as_str().into(),
            kind_str(c.kind).into(),
            c.framework_version.clone().into(),
            c.evaluation_date.clone().into(),
            date.map(|d| d.year()).unwrap_or(publish_time.year()).into(),
            publish_time.into(),
            total.into(),
            max.into(),
            encode_scores(&scores).into(),
            payload.to_vec().into(),
            seal.digest.clone().into(),
            event_id.into(),
            now.into(),
        ],
    ))
    .await?;
    for (i, s) in scores.iter().enumerate() {
        tx.execute_raw(stmt(
            &tx,
            "INSERT INTO reporting_question_points \
             (evaluation, question_id, area_id, position, points_centi, max_centi) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                c.evaluation.clone().into(),
                s.question.clone().into(),
                s.area.clone().into(),
                (i as i32).into(),
                s.points.into(),
                s.max.into(),
            ],
        ))
        .await?;
    }
    for a in &c.areas {
        let mut texts: Vec<(&str, i32, &str)> = vec![];
        if !a.general_text.trim().is_empty() {
            texts.push(("general", 0, &a.general_text));
        }
        for h in &a.heading_texts {
            if !h.text.trim().is_empty() {
                texts.push(("heading", h.heading, &h.text));
            }
        }
        for (i, s) in a.strengths.iter().enumerate() {
            if !s.trim().is_empty() {
                texts.push(("strength", i as i32 + 1, s));
            }
        }
        for (source, pos, body) in texts {
            tx.execute_raw(stmt(
                &tx,
                "INSERT INTO reporting_texts \
                 (evaluation, tenant_id, framework_version, area_id, source, position, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                vec![
                    c.evaluation.clone().into(),
                    tenant.as_str().into(),
                    c.framework_version.clone().into(),
                    a.area.clone().into(),
                    source.into(),
                    pos.into(),
                    body.into(),
                ],
            ))
            .await?;
        }
    }
    tx.execute_raw(stmt(
        &tx,
        "INSERT INTO reporting_events (event_id, evaluation, processed_at) VALUES ($1, $2, $3)",
        vec![event_id.into(), c.evaluation.clone().into(), now.into()],
    ))
    .await?;
    tx.commit().await?;
    Ok(Applied::Stored)
}

async fn tenant_from_catalog(
    catalog: &Catalog,
    tenant: &TenantId,
    c: &apb::PublishedContent,
) -> Result<TenantMeta, Error> {
    Ok(match catalog.tenant(tenant).await? {
        Some(t) => meta_from_catalog(&t),
        None => TenantMeta {
            tenant_id: tenant.to_string(),
            display_name: c.tenant_display_name.clone(),
            country: String::new(),
            municipality_code: String::new(),
            population: 0,
            named: false,
        },
    })
}

/// A Kolada value to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub kpi: String,
    pub municipality: String,
    pub period: String,
    pub gender: String,
    pub value: Option<Decimal>,
}

pub async fn store_key_figures(db: &DatabaseConnection, vals: &[KeyValue]) -> Result<(), Error> {
    let tx = kompass_tenant_db::begin_write(db).await?;
    let now = Utc::now();
    for k in vals {
        tx.execute_raw(stmt(
            &tx,
            "INSERT INTO reporting_key_figures (kpi, municipality, period, gender, value, imported_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (kpi, municipality, period, gender) DO UPDATE SET \
             value = excluded.value, imported_at = excluded.imported_at",
            vec![
                k.kpi.clone().into(),
                k.municipality.clone().into(),
                k.period.clone().into(),
                k.gender.clone().into(),
                k.value.map(|d| d.normalize().to_string()).into(),
                now.into(),
            ],
        ))
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Key figures of a municipality with the national (0000) value beside.
pub async fn key_figures(
    db: &DatabaseConnection,
    municipality: &str,
) -> Result<Vec<(String, String, String, Option<String>, Option<String>)>, Error> {
    let rows = db
        .query_all_raw(stmt(
            db,
            "SELECT k.kpi, k.period, k.gender, k.value, n.value AS national \
             FROM reporting_key_figures k LEFT JOIN reporting_key_figures n \
             ON n.kpi = k.kpi AND n.period = k.period AND n.gender = k.gender \
             AND n.municipality = '0000' \
             WHERE k.municipality = $1 ORDER BY k.kpi, k.period, k.gender",
            vec![municipality.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("", "kpi")?,
                r.try_get("", "period")?,
                r.try_get("", "gender")?,
                r.try_get("", "value")?,
                r.try_get("", "national")?,
            ))
        })
        .collect()
}

/// A matching passage of a report text.
#[derive(Debug, Clone)]
pub struct TextHit {
    pub evaluation: String,
    pub tenant_id: String,
    pub area: String,
    pub source: String,
    pub body: String,
}

/// Full-text search: PostgreSQL stemming ('swedish', 'english'); on SQLite a
/// case-insensitive LIKE on every word.
pub async fn search_texts(
    db: &DatabaseConnection,
    query: &str,
    language: &str,
    version: &str,
    limit: u64,
) -> Result<Vec<TextHit>, Error> {
    let mut v: Vec<Value> = vec![];
    let mut sql = String::from(
        "SELECT x.evaluation, x.tenant_id, x.area_id, x.source, x.body FROM reporting_texts x \
         JOIN reporting_tenants t ON t.tenant_id = x.tenant_id \
         JOIN reporting_evaluations e ON e.evaluation = x.evaluation \
         WHERE t.named AND e.kind = 'external'",
    );
    if db.get_database_backend() == DbBackend::Postgres {
        v.push(query.into());
        let configs: &[&str] = match language {
            "sv" => &["swedish"],
            "en" => &["english"],
            _ => &["swedish", "english"],
        };
        let conds: Vec<String> = configs
            .iter()
            .map(|c| format!("to_tsvector('{c}', x.body) @@ plainto_tsquery('{c}', $1)"))
            .collect();
        sql.push_str(&format!(" AND ({})", conds.join(" OR ")));
        if !version.is_empty() {
            v.push(version.into());
            sql.push_str(&format!(" AND x.framework_version = ${}", v.len()));
        }
        let c = configs[0];
        sql.push_str(&format!(
            " ORDER BY ts_rank(to_tsvector('{c}', x.body), plainto_tsquery('{c}', $1)) DESC, x.id"
        ));
    } else {
        for w in query.split_whitespace() {
            v.push(format!("%{}%", w.to_lowercase()).into());
            sql.push_str(&format!(" AND lower(x.body) LIKE ${}", v.len()));
        }
        if !version.is_empty() {
            v.push(version.into());
            sql.push_str(&format!(" AND x.framework_version = ${}", v.len()));
        }
        sql.push_str(" ORDER BY x.id");
    }
    sql.push_str(&format!(" LIMIT {limit}"));
    db.query_all_raw(stmt(db, &sql, v))
        .await?
        .iter()
        .map(|r| {
            Ok(TextHit {
                evaluation: r.try_get("", "evaluation")?,
                tenant_id: r.try_get("", "tenant_id")?,
                area: r.try_get("", "area_id")?,
                source: r.try_get("", "source")?,
                body: r.try_get("", "body")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_round_trip() {
        let s = vec![
            Score {
                area: "1".into(),
                question: "1.1".into(),
                points: 1680,
                max: 2000,
            },
            Score {
                area: "2".into(),
                question: "2.1".into(),
                points: 0,
                max: 1500,
            },
        ];
        assert_eq!(decode_scores(&encode_scores(&s)), s);
    }
}

#[cfg(test)]
mod sqlite_tests {
    use super::*;

    /// The read model on SQLite (`kompass dev`): migrations, idempotent
    /// apply, the comparison query and the LIKE search fallback.
    #[tokio::test]
    async fn read_model_runs_on_sqlite() {
        let dir = std::env::temp_dir().join(format!("kompass-reporting-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("platform.db").display());
        Catalog::migrate(&url).await.unwrap();
        let catalog = Catalog::connect(&url, 1).await.unwrap();
        kompass_tenant_db::migrate_locked::<crate::Migrator>(catalog.db())
            .await
            .unwrap();
        let db = catalog.db().clone();
        let (ev, _) = crate::export::tests::sample();
        let bytes = ev.encode_to_vec();
        let topic = PUBLISHED_TOPIC;
        assert_eq!(
            apply(&db, &catalog, "e1", topic, &bytes).await.unwrap(),
            Applied::Stored
        );
        assert_eq!(
            apply(&db, &catalog, "e1", topic, &bytes).await.unwrap(),
            Applied::Unchanged
        );
        assert_eq!(
            apply(&db, &catalog, "e2", topic, &bytes).await.unwrap(),
            Applied::Unchanged
        );
        assert_eq!(
            apply(&db, &catalog, "e3", "other", &bytes).await.unwrap(),
            Applied::Ignored
        );
        let f = Filter {
            framework_version: crate::report::BUILTIN.into(),
            ..Default::default()
        };
        let rows = evaluations(&db, &f).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].total(), 67200);
        // A later evaluation of the same tenant replaces it in comparisons,
        // unless the year range leaves it out.
        let mut later = ev.clone();
        let c = later.content.as_mut().unwrap();
        c.evaluation = format!("{}-later", c.evaluation);
        c.evaluation_date = "2099-01-01".into();
        later.seal = Some(kompass_seal::seal_of(c, None));
        assert_eq!(
            apply(&db, &catalog, "e4", topic, &later.encode_to_vec())
                .await
                .unwrap(),
            Applied::Stored
        );
        // Seals are checked: content that does not hash to its seal, or a
        // second sealed version of a stored evaluation, is refused.
        let mut forged = later.clone();
        forged.content.as_mut().unwrap().questions[0].points = "15.00".into();
        assert!(matches!(
            apply(&db, &catalog, "e5", topic, &forged.encode_to_vec())
                .await
                .unwrap(),
            Applied::Rejected {
                why: Rejection::SealMismatch(_),
                ..
            }
        ));
        let c = forged.content.clone().unwrap();
        forged.seal = Some(kompass_seal::seal_of(&c, None));
        assert!(matches!(
            apply(&db, &catalog, "e6", topic, &forged.encode_to_vec())
                .await
                .unwrap(),
            Applied::Rejected {
                why: Rejection::DifferentSeal { .. },
                ..
            }
        ));
        let rows = evaluations(&db, &f).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].evaluation.ends_with("-later"));
        let early = Filter {
            to_year: 2098,
            ..f.clone()
        };
        let rows = evaluations(&db, &early).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].evaluation.ends_with("-later"));
        let c = crate::comparison::compute(&f.framework_version, rows);
        assert_eq!(c.total.unwrap().mean, "672");
        // Not named (unknown to the catalog): never found by search.
        assert!(
            search_texts(&db, "dialog", "", "", 10)
                .await
                .unwrap()
                .is_empty()
        );
        db.execute_unprepared("UPDATE reporting_tenants SET named = true")
            .await
            .unwrap();
        assert!(
            !search_texts(&db, "öppen Dialog", "", "", 10)
                .await
                .unwrap()
                .is_empty()
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
