//! The write transaction and its machinery.
//!
//! A [`WriteTx`] wraps one database transaction. The facade authorizes, then changes state
//! and appends the audit row through the same `WriteTx`, then commits: the change and its
//! evidence land together or not at all. Dropping a `WriteTx` without commit rolls back.
//!
//! The writes themselves are with their resources (`tenants.rs`, `mailboxes.rs`, ...), each
//! in an `impl WriteTx` block of its own; this module holds what they share: the type, its
//! commit under the task's guard, the transaction on either transport ([`SqlTransaction`]),
//! and the helpers that turn a missing or conflicting row into a clear error.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use time::OffsetDateTime;

use mailplane_types::{Error, Result};

use crate::db_error;
use crate::sqlite::transport::DirectTransaction;

/// The current time, truncated to microseconds so that it survives every backend unchanged.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}

/// One write transaction.
pub struct WriteTx {
    pub(crate) tx: SqlTransaction,
    pub(crate) backend: DbBackend,
    /// The task's precondition (`If-Match`), checked when this transaction commits; see
    /// [`crate::guard`].
    pub(crate) precondition: Option<crate::guard::Precondition>,
}

impl WriteTx {
    pub(crate) fn new(tx: SqlTransaction, backend: DbBackend) -> WriteTx {
        WriteTx {
            tx,
            backend,
            precondition: None,
        }
    }

    /// Waits for, then holds until this transaction ends, the lock named `key`: two
    /// transactions that take the same lock run one after the other from that point. On
    /// PostgreSQL it is a transaction-scoped advisory lock; SQLite needs none, since each
    /// write transaction already runs alone on the one writer connection.
    pub(crate) async fn advisory_lock(&self, key: &str) -> Result<()> {
        if self.backend != DbBackend::Postgres {
            return Ok(());
        }
        self.tx
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                [key.into()],
            ))
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Commits everything done through this transaction, once the task's precondition, if
    /// it has one, holds; otherwise nothing is committed.
    pub async fn commit(mut self) -> Result<()> {
        if let Some(precondition) = self.precondition.take() {
            crate::guard::check(precondition).await?;
        }
        self.tx.commit().await.map_err(db_error)
    }
}

/// An update that found no row (another transaction deleted it first) is not found.
pub(crate) fn gone(kind: &'static str, id: impl ToString) -> impl FnOnce(sea_orm::DbErr) -> Error {
    let id = id.to_string();
    move |e| match e {
        sea_orm::DbErr::RecordNotUpdated => Error::not_found(kind, id),
        other => db_error(other),
    }
}

/// A delete must remove exactly the row the caller saw; none means it is already gone.
pub(crate) fn deleted_one(kind: &'static str, id: impl ToString, rows: u64) -> Result<()> {
    if rows == 0 {
        Err(Error::not_found(kind, id))
    } else {
        Ok(())
    }
}

/// A unique violation becomes a conflict naming `field`; other errors map as usual.
pub(crate) fn on_conflict(e: sea_orm::DbErr, field: &str, message: impl Into<String>) -> Error {
    match db_error(e) {
        Error::Conflict { .. } => Error::conflict(Some(field), message),
        other => other,
    }
}

/// A transaction on either transport: sqlx's (PostgreSQL) or a [`DirectTransaction`]
/// (SQLite). It runs sea-orm statements like any connection; dropping it without
/// [`SqlTransaction::commit`] rolls it back.
pub struct SqlTransaction(Transport);

enum Transport {
    /// A sqlx transaction (PostgreSQL).
    Pooled(sea_orm::DatabaseTransaction),
    /// A transaction on a leased SQLite connection.
    Direct(DirectTransaction),
}

impl SqlTransaction {
    pub(crate) fn pooled(tx: sea_orm::DatabaseTransaction) -> SqlTransaction {
        SqlTransaction(Transport::Pooled(tx))
    }

    pub(crate) fn direct(tx: DirectTransaction) -> SqlTransaction {
        SqlTransaction(Transport::Direct(tx))
    }

    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), DbErr> {
        match self.0 {
            Transport::Pooled(tx) => tx.commit().await,
            Transport::Direct(tx) => tx.commit(),
        }
    }
}

#[async_trait::async_trait]
impl sea_orm::ConnectionTrait for SqlTransaction {
    fn get_database_backend(&self) -> DbBackend {
        match &self.0 {
            Transport::Pooled(tx) => tx.get_database_backend(),
            Transport::Direct(_) => DbBackend::Sqlite,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<sea_orm::ExecResult, DbErr> {
        match &self.0 {
            Transport::Pooled(tx) => tx.execute_raw(stmt).await,
            Transport::Direct(tx) => tx.connection().execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        match &self.0 {
            Transport::Pooled(tx) => tx.execute_unprepared(sql).await,
            Transport::Direct(tx) => tx.connection().execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        match &self.0 {
            Transport::Pooled(tx) => tx.query_one_raw(stmt).await,
            Transport::Direct(tx) => tx.connection().query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        match &self.0 {
            Transport::Pooled(tx) => tx.query_all_raw(stmt).await,
            Transport::Direct(tx) => tx.connection().query_all_raw(stmt).await,
        }
    }
}
