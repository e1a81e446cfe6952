//! An evaluator's own score, written in one statement on PostgreSQL.
//!
//! The statement does what [`crate::write::Write`] does in a transaction of
//! six round trips — lock the evaluation row, check its state on the locked
//! row, check the etag, upsert the score, append the audit row — so a score
//! write costs one round trip and one commit. SQLite (one writer, no round
//! trips to speak of) keeps the transaction.
//!
//! Why it is safe under concurrency (READ COMMITTED):
//! - `ev` locks the evaluation row `FOR SHARE`, which orders the write with
//!   publication and every other state change (each updates that row, so it
//!   waits for the score writes under way and they wait for it), and re-reads
//!   the row as the lock holder left it, so the state check sees the committed
//!   state. A shared lock, not `FOR UPDATE`: two evaluators' scores do not
//!   queue behind each other (they meet only on the same score row, below);
//!   this statement never updates the evaluation row, so the shared lock is
//!   never upgraded;
//! - `cur` locks the score row too (after `ev`, through its InitPlan), so it
//!   reads the newest committed version, not the statement's snapshot;
//! - the update only applies while the row still has the version `cur` read
//!   (`ON CONFLICT … DO UPDATE … WHERE`), so the audit's old value is exact.
//!
//! A row inserted by someone else after the statement's snapshot is the one
//! case this cannot judge: it writes nothing and says [`Outcome::Retry`], and
//! the caller falls back to the transaction.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// What a score write sets: `None` keeps the stored value.
pub struct ScoreUpdate<'a> {
    pub evaluation_id: &'a str,
    pub question_id: &'a str,
    pub evaluator_id: &'a str,
    pub points_centi: Option<Option<i64>>,
    pub comment: Option<&'a str>,
    /// The version the writer read: 0 for a score not yet written, `None`
    /// for an etag that names no version at all (never matches).
    pub expected_version: Option<i64>,
    /// Audit actor and target (the score's resource name).
    pub actor: &'a str,
    pub target: &'a str,
    pub now: DateTime<Utc>,
}

/// The row as written.
pub struct Written {
    pub points_centi: Option<i64>,
    pub comment: String,
    pub evidence: String,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

pub enum Outcome {
    Written(Written),
    /// The evaluation does not exist.
    NoEvaluation,
    /// Not written: the evaluation is in this state.
    WrongState(String),
    /// Not written: the etag does not match this version (0: no score yet).
    Stale(i64),
    /// Not decided here; run the transaction instead.
    Retry,
}

/// The audit rows' JSON, built as `serde_json` writes
/// `{"comment":…,"points":…}` (keys sorted, no spaces), so rows written here
/// and by the transaction read alike.
const AUDIT_JSON: &str = r#"'{"comment":' || to_json(COALESCE(%C, ''))::text || ',"points":' ||
    to_json(COALESCE(round(%P::numeric / 100, 2)::text, ''))::text || '}'"#;

fn audit_json(points: &str, comment: &str) -> String {
    AUDIT_JSON.replace("%C", comment).replace("%P", points)
}

/// Built once: sqlx finds its prepared statement by the text, so a string
/// rebuilt on every write would also be hashed and compared at full length.
static SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        r#"WITH ev AS (
    SELECT state FROM evaluations WHERE id = $1 FOR SHARE
), cur AS (
    SELECT points_centi, comment, version FROM scores
    WHERE evaluation_id = $1 AND question_id = $2 AND evaluator_id = $3
      AND (SELECT count(*) FROM ev) > 0
    FOR UPDATE
), up AS (
    INSERT INTO scores AS s
        (evaluation_id, question_id, evaluator_id, points_centi, comment, evidence, version, updated_at)
    SELECT $1, $2, $3,
        CASE WHEN $4 THEN $5::bigint ELSE (SELECT points_centi FROM cur) END,
        CASE WHEN $6 THEN $7::text ELSE COALESCE((SELECT comment FROM cur), '') END,
        '[]', 1, $10
    FROM ev
    WHERE ev.state = 'scoring' AND $8::bigint = COALESCE((SELECT version FROM cur), 0)
    ON CONFLICT (evaluation_id, question_id, evaluator_id) DO UPDATE SET
        points_centi = EXCLUDED.points_centi,
        comment = EXCLUDED.comment,
        version = s.version + 1,
        updated_at = EXCLUDED.updated_at
    WHERE s.version = (SELECT version FROM cur)
    RETURNING s.points_centi, s.comment, s.evidence, s.version, s.updated_at
), audit AS (
    INSERT INTO audit_events (evaluation_id, actor, time, subject, target, old_value, new_value, reason)
    SELECT $1, $9, $10, 'score', $11,
        COALESCE((SELECT {old} FROM cur), ''),
        {new},
        ''
    FROM up
)
SELECT (SELECT state FROM ev) AS state, (SELECT version FROM cur) AS current_version,
    up.points_centi, up.comment, up.evidence, up.version, up.updated_at
FROM (SELECT 1) AS one LEFT JOIN up ON true"#,
        old = audit_json("cur.points_centi", "cur.comment"),
        new = audit_json("up.points_centi", "up.comment"),
    )
});

/// Writes the score in one statement (PostgreSQL only).
pub async fn write_one_statement(
    db: &impl ConnectionTrait,
    u: &ScoreUpdate<'_>,
) -> Result<Outcome, DbErr> {
    debug_assert_eq!(db.get_database_backend(), DbBackend::Postgres);
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        SQL.as_str(),
        [
            u.evaluation_id.into(),
            u.question_id.into(),
            u.evaluator_id.into(),
            u.points_centi.is_some().into(),
            u.points_centi.flatten().into(),
            u.comment.is_some().into(),
            u.comment.unwrap_or_default().into(),
            // -1 matches no version.
            u.expected_version.unwrap_or(-1).into(),
            u.actor.into(),
            u.now.into(),
            u.target.into(),
        ],
    );
    let Some(row) = db.query_one_raw(stmt).await? else {
        return Ok(Outcome::Retry);
    };
    let state: Option<String> = row.try_get("", "state")?;
    let current: Option<i64> = row.try_get("", "current_version")?;
    let version: Option<i64> = row.try_get("", "version")?;
    Ok(match (state, version) {
        (_, Some(version)) => Outcome::Written(Written {
            points_centi: row.try_get("", "points_centi")?,
            comment: row.try_get("", "comment")?,
            evidence: row.try_get("", "evidence")?,
            version,
            updated_at: row.try_get("", "updated_at")?,
        }),
        (None, None) => Outcome::NoEvaluation,
        (Some(s), None) if s != "scoring" => Outcome::WrongState(s),
        (Some(_), None) => {
            let current = current.unwrap_or(0);
            if u.expected_version != Some(current) {
                Outcome::Stale(current)
            } else {
                Outcome::Retry
            }
        }
    })
}
