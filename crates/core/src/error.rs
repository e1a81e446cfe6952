//! One error type for every service, mapped to `tonic::Status` in one place.

use std::fmt;

use sea_orm::DbErr;
use tonic::{Code, Status};

use crate::i18n::{self, Lang};

/// A user-facing message in English and Swedish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub en: String,
    pub sv: String,
}

impl Msg {
    pub fn new(en: impl Into<String>, sv: impl Into<String>) -> Self {
        Msg {
            en: en.into(),
            sv: sv.into(),
        }
    }

    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Sv => &self.sv,
        }
    }
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.en)
    }
}

/// `msg!("English {x}", "Svenska {x}")`.
#[macro_export]
macro_rules! msg {
    ($en:expr, $sv:expr $(,)?) => {
        $crate::error::Msg::new(format!($en), format!($sv))
    };
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("invalid argument: {0}")]
    InvalidArgument(Msg),
    #[error("not found: {0}")]
    NotFound(Msg),
    #[error("already exists: {0}")]
    AlreadyExists(Msg),
    #[error("permission denied: {0}")]
    PermissionDenied(Msg),
    #[error("unauthenticated: {0}")]
    Unauthenticated(Msg),
    #[error("failed precondition: {0}")]
    FailedPrecondition(Msg),
    #[error("aborted: {0}")]
    Aborted(Msg),
    #[error("unavailable: {0}")]
    Unavailable(Msg),
    #[error("resource exhausted: {0}")]
    ResourceExhausted(Msg),
    /// Details go to the log, never to the caller.
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(en: impl Into<String>, sv: impl Into<String>) -> Self {
        Error::InvalidArgument(Msg::new(en, sv))
    }
    pub fn not_found(en: impl Into<String>, sv: impl Into<String>) -> Self {
        Error::NotFound(Msg::new(en, sv))
    }
    pub fn denied(en: impl Into<String>, sv: impl Into<String>) -> Self {
        Error::PermissionDenied(Msg::new(en, sv))
    }
    pub fn precondition(en: impl Into<String>, sv: impl Into<String>) -> Self {
        Error::FailedPrecondition(Msg::new(en, sv))
    }
    pub fn unauthenticated(en: impl Into<String>, sv: impl Into<String>) -> Self {
        Error::Unauthenticated(Msg::new(en, sv))
    }
    pub fn internal(detail: impl fmt::Display) -> Self {
        Error::Internal(detail.to_string())
    }

    pub fn code(&self) -> Code {
        match self {
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::NotFound(_) => Code::NotFound,
            Error::AlreadyExists(_) => Code::AlreadyExists,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::Aborted(_) => Code::Aborted,
            Error::Unavailable(_) => Code::Unavailable,
            Error::ResourceExhausted(_) => Code::ResourceExhausted,
            Error::Internal(_) => Code::Internal,
        }
    }

    /// The message in `lang`.
    pub fn message(&self, lang: Lang) -> String {
        match self {
            Error::InvalidArgument(m)
            | Error::NotFound(m)
            | Error::AlreadyExists(m)
            | Error::PermissionDenied(m)
            | Error::Unauthenticated(m)
            | Error::FailedPrecondition(m)
            | Error::Aborted(m)
            | Error::Unavailable(m)
            | Error::ResourceExhausted(m) => m.get(lang).to_string(),
            Error::Internal(_) => match lang {
                Lang::En => "internal error; the operator has been notified in the logs".into(),
                Lang::Sv => "internt fel; det har loggats för driften".into(),
            },
        }
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        if let Error::Internal(detail) = &e {
            tracing::error!(error = %detail, "internal error");
        }
        Status::new(e.code(), e.message(i18n::current()))
    }
}

impl From<DbErr> for Error {
    fn from(e: DbErr) -> Error {
        match &e {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Error::Unavailable(Msg::new(
                "the municipality's database is not reachable right now; try again shortly",
                "kommunens databas går inte att nå just nu; försök igen om en stund",
            )),
            // 57014 query_canceled: the statement ran past `statement_timeout`
            // (or was cancelled); the transaction rolled back, so retrying is safe.
            _ if sqlstate(&e).as_deref() == Some("57014") => Error::Unavailable(Msg::new(
                "the database took too long to answer and the change was not made; try again shortly",
                "databasen svarade inte i tid och ändringen gjordes inte; försök igen om en stund",
            )),
            _ => Error::Internal(format!("database: {e}")),
        }
    }
}

/// The SQLSTATE of a database error, when the driver reported one.
pub fn sqlstate(e: &DbErr) -> Option<String> {
    use sea_orm::RuntimeErr;
    match e {
        DbErr::Query(RuntimeErr::SqlxError(s)) | DbErr::Exec(RuntimeErr::SqlxError(s)) => s
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    }
}
