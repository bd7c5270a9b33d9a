//! What can go wrong in the store, each with the stable code the bindings expose.
//!
//! Refusals (busy, lost, expired, already released) are not here: they are outcomes. A
//! [`StoreError`] is bad input (the core's [`LeaseError`], unchanged), a file that this version
//! cannot read, a stored row that breaks the model, or `SQLite` itself failing. Every error leaves
//! the file as it was: the transaction that met it is rolled back.

use crate::error::{ErrorCode, LeaseError};
use crate::store::token::EntropyError;

/// An operation of the `SQLite` store failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Bad input, or a rule refused to compute a value out of range (a fence or an expiry).
    #[error(transparent)]
    Input(#[from] LeaseError),
    /// The file was written by a newer leasekit (`schema_too_new`).
    #[error(
        "lease store {path}: schema version {found} is newer than version {supported}, the \
         newest this leasekit reads; upgrade leasekit"
    )]
    SchemaTooNew {
        /// The file.
        path: String,
        /// Its `PRAGMA user_version`.
        found: i64,
        /// The newest version this build migrates to.
        supported: i64,
    },
    /// A stored row breaks the model, so no rule may run on it (`invalid_record`).
    #[error("stored lease {key}: {source}")]
    CorruptRow {
        /// The resource as `scope/id`.
        key: String,
        /// The rule the row breaks.
        #[source]
        source: LeaseError,
    },
    /// The file cannot serve as a lease store (`storage_failure`).
    #[error("lease store {path}: {rule}")]
    Unusable {
        /// The file.
        path: String,
        /// What it lacks.
        rule: String,
    },
    /// `SQLite` failed: I/O, corruption, or a lock held longer than the busy timeout
    /// (`storage_failure`).
    #[error("sqlite failed during {operation}: {source}")]
    Sqlite {
        /// The store operation that met the failure.
        operation: &'static str,
        /// `SQLite`'s error.
        #[source]
        source: rusqlite::Error,
    },
    /// No token could be minted (`storage_failure`).
    #[error(transparent)]
    Entropy(#[from] EntropyError),
}

impl StoreError {
    /// The stable code of this error.
    #[must_use]
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::Input(error) => error.code(),
            Self::SchemaTooNew { .. } => ErrorCode::SchemaTooNew,
            Self::CorruptRow { .. } => ErrorCode::InvalidRecord,
            Self::Unusable { .. } | Self::Sqlite { .. } | Self::Entropy(_) => {
                ErrorCode::StorageFailure
            }
        }
    }

    /// Whether `SQLite` gave up waiting for a lock (the busy timeout ran out).
    #[must_use]
    pub fn is_busy(&self) -> bool {
        let Self::Sqlite { source, .. } = self else {
            return false;
        };
        matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }

    /// Wraps a `SQLite` error met during `operation`.
    pub(crate) fn sqlite(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |source| Self::Sqlite { operation, source }
    }
}
