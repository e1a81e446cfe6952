//! Small conversions shared by the handlers.

use chrono::{DateTime, NaiveDate, Utc};
use kompass_core::{Error, Msg};
use rust_decimal::Decimal;

pub fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// Points are stored as whole hundredths.
pub fn centi(d: Decimal) -> i64 {
    let mut d = d;
    d.rescale(2);
    d.mantissa() as i64
}

pub fn from_centi(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

/// "16.80", or "" for none.
pub fn points_str(c: Option<i64>) -> String {
    c.map(|c| kompass_scoring::format_points(from_centi(c)))
        .unwrap_or_default()
}

/// `YYYY-MM-DD`, or empty.
pub fn date(field: &str, s: &str) -> Result<Option<String>, Error> {
    if s.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|_| Some(s.to_string()))
        .map_err(|_| {
            Error::InvalidArgument(Msg::new(
                format!("{field} {s:?} is not a date of the form YYYY-MM-DD"),
                format!("{field} {s:?} är inget datum på formen ÅÅÅÅ-MM-DD"),
            ))
        })
}

/// The latest calendar date anywhere on earth now (UTC+14): a date after it
/// is in the future for everyone.
pub fn latest_today() -> NaiveDate {
    (Utc::now() + chrono::Duration::hours(14)).date_naive()
}

/// `YYYY-MM-DD` not in the future, or empty: the date an evaluation took
/// place, as its report states it.
pub fn past_date(field: &str, s: &str) -> Result<Option<String>, Error> {
    let Some(d) = date(field, s)? else {
        return Ok(None);
    };
    let parsed = NaiveDate::parse_from_str(&d, "%Y-%m-%d").expect("validated");
    if parsed > latest_today() {
        return Err(Error::InvalidArgument(Msg::new(
            format!(
                "{field} {s} is in the future: give the date the evaluation took place, as its report states it"
            ),
            format!(
                "{field} {s} ligger i framtiden: ange datumet då utvärderingen gjordes, så som rapporten anger det"
            ),
        )));
    }
    Ok(Some(d))
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
    Err(Error::Aborted(Msg::new(
        format!(
            "{what} was changed by someone else since you read it (your etag {sent:?}, current {current}); read it again and reapply your change"
        ),
        format!(
            "{what} har ändrats av någon annan sedan du läste den (din etag {sent:?}, aktuell {current}); läs igen och gör om ändringen"
        ),
    )))
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

pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}
