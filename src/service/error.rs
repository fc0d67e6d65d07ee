//! The domain's one error type. Adapters (GraphQL, HTTP) map it to their
//! codes in one place each.

use sea_orm::{DbErr, RuntimeErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input; `field` names the argument at fault (e.g. `input.email`).
    #[error("{message}")]
    BadInput { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    /// The input is well-formed but clashes with what exists.
    #[error("{message}")]
    Conflict { field: String, message: String },
    #[error("{0}")]
    Forbidden(String),
    /// It existed, and is gone for good (an expired report file).
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// Too many requests (or unfinished jobs); try again after `retry_after`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: std::time::Duration,
    },
    /// The database cannot be reached right now.
    #[error("service unavailable: the database cannot be reached")]
    Unavailable(#[source] DbErr),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// `conflict()` when a database error says a unique key was violated
    /// (another request got there first), else the error itself.
    pub fn unique_or(err: DbErr, conflict: impl FnOnce() -> Self) -> Self {
        if Self::is_unique_violation(&err) {
            conflict()
        } else {
            err.into()
        }
    }

    /// True when a database error says a unique key was violated.
    pub fn is_unique_violation(err: &DbErr) -> bool {
        matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        let unreachable = match &err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
                matches!(
                    e.as_ref(),
                    sea_orm::sqlx::Error::Io(_)
                        | sea_orm::sqlx::Error::PoolTimedOut
                        | sea_orm::sqlx::Error::PoolClosed
                )
            }
            _ => false,
        };
        if unreachable {
            Self::Unavailable(err)
        } else {
            Self::Internal(err.into())
        }
    }
}

impl Error {
    /// True when the database rolled the transaction back because of another
    /// one (a deadlock, a serialization failure): running it again may work.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Internal(err) => err
                .downcast_ref::<DbErr>()
                .is_some_and(crate::db::is_transient),
            _ => false,
        }
    }
}
