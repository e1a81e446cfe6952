//! Small conversions shared by the handlers, and the counted connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, NaiveDate, Utc};
use kompass_catalog::TenantDirectory;
use kompass_core::{Error, Msg, TenantId};
use kompass_tenant_db::TenantDb;
use sea_orm::DatabaseConnection;

/// Every SQL statement this service sent, process-wide.
static SQL_STATEMENTS: AtomicU64 = AtomicU64::new(0);

/// Statements sent to tenant databases by this service since the process
/// started (benchmarks read it around a call).
pub fn sql_statements() -> u64 {
    SQL_STATEMENTS.load(Ordering::Relaxed)
}

/// A tenant database for one request, counting the statements it sends.
pub struct Db {
    pub conn: DatabaseConnection,
    stmts: Arc<AtomicU64>,
    _lease: TenantDb,
}

impl Db {
    pub async fn open(dir: &TenantDirectory, tenant: &TenantId) -> Result<Db, Error> {
        let lease = dir.db(tenant).await?;
        let mut conn = (*lease).clone();
        let stmts = Arc::new(AtomicU64::new(0));
        let counter = stmts.clone();
        conn.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            SQL_STATEMENTS.fetch_add(1, Ordering::Relaxed);
        });
        Ok(Db {
            conn,
            stmts,
            _lease: lease,
        })
    }

    /// Statements sent through this connection so far.
    pub fn statements(&self) -> u64 {
        self.stmts.load(Ordering::Relaxed)
    }
}

impl std::ops::Deref for Db {
    type Target = DatabaseConnection;
    fn deref(&self) -> &DatabaseConnection {
        &self.conn
    }
}

pub fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// `YYYY-MM-DD`, or empty when not required.
pub fn date(field: &str, s: &str, required: bool) -> Result<String, Error> {
    let s = s.trim();
    if s.is_empty() {
        if required {
            return Err(Error::InvalidArgument(Msg::new(
                format!("{field} is required (YYYY-MM-DD)"),
                format!("{field} krävs (ÅÅÅÅ-MM-DD)"),
            )));
        }
        return Ok(String::new());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|_| s.to_string())
        .map_err(|_| {
            Error::InvalidArgument(Msg::new(
                format!("{field} {s:?} is not a date of the form YYYY-MM-DD"),
                format!("{field} {s:?} är inget datum på formen ÅÅÅÅ-MM-DD"),
            ))
        })
}

/// A due date must not be before the project's start (both `YYYY-MM-DD`,
/// so they compare as strings).
pub fn not_before_start(field: &str, due: &str, start: &str) -> Result<(), Error> {
    if !due.is_empty() && !start.is_empty() && due < start {
        return Err(Error::InvalidArgument(Msg::new(
            format!("{field} {due} is before the project starts ({start})"),
            format!("{field} {due} ligger före projektets start ({start})"),
        )));
    }
    Ok(())
}

pub fn json_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

pub fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable")
}

/// Optimistic concurrency: the etag the caller read must be the current one.
pub fn check_etag(sent: &str, current: i64, what: &str) -> Result<(), Error> {
    if sent == current.to_string() {
        return Ok(());
    }
    Err(stale(sent, current, what))
}

pub fn stale(sent: &str, current: i64, what: &str) -> Error {
    Error::Aborted(Msg::new(
        format!(
            "{what} was changed by someone else since you read it (your etag {sent:?}, current {current}); read it again and reapply your change"
        ),
        format!(
            "{what} har ändrats av någon annan sedan du läste den (din etag {sent:?}, aktuell {current}); läs igen och gör om ändringen"
        ),
    ))
}

pub fn required_mask(mask: Option<prost_types::FieldMask>) -> Result<Vec<String>, Error> {
    let paths = mask.map(|m| m.paths).unwrap_or_default();
    if paths.is_empty() {
        return Err(Error::invalid(
            "update_mask is required: list the fields to change",
            "update_mask krävs: ange fälten som ska ändras",
        ));
    }
    Ok(paths)
}

pub fn unknown_field(field: &str, allowed: &str) -> Error {
    Error::InvalidArgument(Msg::new(
        format!("field {field:?} cannot be updated; updatable: {allowed}"),
        format!("fältet {field:?} kan inte ändras; ändringsbara: {allowed}"),
    ))
}

pub fn text(field: &str, s: &str, max_chars: usize, required: bool) -> Result<String, Error> {
    let t = s.trim();
    if required && t.is_empty() {
        return Err(Error::InvalidArgument(Msg::new(
            format!("{field} is required"),
            format!("{field} krävs"),
        )));
    }
    if t.chars().count() > max_chars {
        return Err(Error::InvalidArgument(Msg::new(
            format!("{field} is longer than {max_chars} characters"),
            format!("{field} är längre än {max_chars} tecken"),
        )));
    }
    Ok(t.to_string())
}

pub fn texts(field: &str, v: &[String], max_chars: usize) -> Result<Vec<String>, Error> {
    if v.len() > 200 {
        return Err(Error::InvalidArgument(Msg::new(
            format!("{field} has more than 200 entries"),
            format!("{field} har fler än 200 poster"),
        )));
    }
    v.iter().map(|s| text(field, s, max_chars, true)).collect()
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

pub fn not_found(what_en: &str, what_sv: &str, name: &str) -> Error {
    Error::NotFound(Msg::new(
        format!("{what_en} {name} does not exist"),
        format!("{what_sv} {name} finns inte"),
    ))
}
