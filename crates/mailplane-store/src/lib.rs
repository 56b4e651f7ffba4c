//! Mailplane's persistence.
//!
//! The [`DataStore`] owns the database connections (SQLite embedded by default, PostgreSQL
//! for scale), runs the frozen migrations, converts rows into the resource types of
//! `mailplane-types`, and maps database failures (a duplicate address, a domain in use) to
//! [`mailplane_types::Error`] values instead of 500s.
//!
//! The store does not authorize: it is called by the `mailplane` facade after a decision.
//! Every read of tenant data takes a [`Scope`], computed from the acting principal, so that
//! an out-of-scope object is simply not found.

// One module per resource, each with both its reads (`impl DataStore`) and its writes
// (`impl WriteTx`); the same names as the control plane's modules and the HTTP API's.
pub mod audit;
mod backends;
mod catalogue;
mod credentials;
mod directory;
mod domains;
mod idempotency;
mod inventory;
mod jobs;
mod lifecycle;
mod mailbox_deletions;
mod mailboxes;
mod mailstack;
mod partners;
mod passwords;
mod requests;
mod retention;
mod suspensions;
mod tenants;
mod tickets;
mod webhooks;

// The machinery around them: tables, migrations, row conversions, the write transaction
// and its guard, the SQLite transport, and the operator's gauges.
mod entity;
mod gauges;
pub mod guard;
mod migration;
mod rows;
mod sqlite;
mod write;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use entity::tenant;
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Select, SqlErr, TransactionTrait,
};
// Raw statements (`execute_unprepared`) are run only by the accessors of these features.
#[cfg(any(feature = "raw-sql", feature = "test-hooks"))]
use sea_orm::ConnectionTrait;
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;

use mailplane_types::resources::{Mailbox, Tenant};
use mailplane_types::{Error, PartnerId, Result, TenantId};

pub use audit::{AuditReport, Change};
pub use backends::{MailPlacement, least_loaded};
pub use catalogue::NewSubscription;
pub use credentials::NewCredential;
pub use gauges::OperationalCounts;
pub use idempotency::StoredAnswer;
pub use jobs::{JOB_DONE, JOB_PENDING, JobClaim, JobNext, JobRow, JobStepRow};
pub use lifecycle::{ConfigurationRemoved, TerminationChange, TerminationRecord};
pub use mailbox_deletions::{MailboxDeletion, StoredReceipt};
pub use mailboxes::{MailboxChanges, NewMailbox, needs_seat};
pub use mailstack::{DeliveryRecord, DomainRecord, RouteOwner, RouteRecord, SignInRecord};
pub use requests::{NewRequest, RequestDecision};
pub use sqlite::read_cache::{DEFAULT_READ_CACHE, ReadCacheStats};
use sqlite::read_cache::{Lookup, ReadCache};
use sqlite::transport::{ChangeWatch, DirectPool};
pub use suspensions::SuspensionAct;
pub use tenants::NewTenant;
pub use tickets::{NewTicket, TicketStep};
pub use webhooks::{AttemptResult, LeasedDelivery};
#[cfg(feature = "raw-sql")]
pub use write::SqlTransaction;
#[cfg(not(feature = "raw-sql"))]
use write::SqlTransaction;
pub use write::{WriteTx, now};

/// Which tenants a caller may see: all (provider), its partner's customers, or its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every tenant (provider principals).
    All,
    /// The tenants whose partner is this one (partner principals).
    Partner(PartnerId),
    /// Exactly this tenant (customer principals).
    Tenant(TenantId),
}

/// A page request: items after `after` (exclusive) in id order, at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// The id of the last item of the previous page.
    pub after: Option<Uuid>,
    /// How many items at most (1 to 1000).
    pub limit: u64,
}

/// One page of results and the cursor of the next one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items, in stable id order.
    pub items: Vec<T>,
    /// The cursor to pass for the next page, absent on the last page.
    pub next_cursor: Option<String>,
}

/// Where the database lives.
#[derive(Debug, Clone)]
pub enum DatabaseLocation {
    /// An SQLite file (created when missing).
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl DatabaseLocation {
    /// Reads a URL: `postgres://…`/`postgresql://…`, or `sqlite://path` / `sqlite:path`.
    pub fn from_url(url: &str) -> Result<DatabaseLocation> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseLocation::Postgres(url.to_string()))
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Ok(DatabaseLocation::Sqlite(
                path.split('?').next().unwrap_or(path).into(),
            ))
        } else {
            Err(Error::invalid(
                "database_url",
                "must start with postgres://, postgresql:// or sqlite://",
            ))
        }
    }
}

/// The database connections and every query Mailplane makes.
#[derive(Clone)]
pub struct DataStore {
    /// Serialises writes. On SQLite a pool of one connection, so that write transactions
    /// never meet a busy lock; on PostgreSQL the shared pool.
    writer: DatabaseConnection,
    /// Serves reads; several connections (SQLite WAL lets readers run beside the writer).
    reader: DatabaseConnection,
    /// Serves the reads of `If-Match` checks on PostgreSQL, where `reader` is the shared
    /// pool: a check runs while its transaction holds a connection of that pool, so it must
    /// never wait for another one (see [`guard`]). None on SQLite, whose readers are apart.
    prechecks: Option<DatabaseConnection>,
    /// On SQLite, the writer's pool: transactions lease its one connection (see [`sqlite::transport`]).
    sqlite: Option<DirectPool>,
    /// On SQLite, the tenants and mailboxes read lately (see [`sqlite::read_cache`]); None when
    /// switched off, and always on PostgreSQL.
    read_cache: Option<Arc<ReadCache>>,
}

/// Maps a database error to Mailplane's error: constraint violations become conflicts,
/// connection failures become `Unavailable`, the rest are internal.
pub fn db_error(e: DbErr) -> Error {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(m)) => Error::conflict(None, unique_message(&m)),
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => Error::conflict(
            None,
            "the object is still referenced by other objects, or refers to one that is gone",
        ),
        _ => match e {
            // A deadlock or serialization failure aborts the transaction whole; the caller
            // may simply try again.
            ref other
                if [
                    "40P01",
                    "40001",
                    "deadlock detected",
                    "could not serialize access",
                ]
                .iter()
                .any(|code| other.to_string().contains(code)) =>
            {
                Error::conflict(
                    None,
                    "a concurrent change to the same objects interfered; nothing was changed, try again",
                )
            }
            DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => {
                Error::Unavailable("the database is not reachable".into())
            }
            // SQLite's errors come through rusqlite as words (see `sqlite::transport`), which sea-orm
            // does not classify.
            other if other.to_string().contains("UNIQUE constraint failed") => {
                Error::conflict(None, unique_message(&other.to_string()))
            }
            other if other.to_string().contains("FOREIGN KEY constraint failed") => {
                Error::conflict(
                    None,
                    "the object is still referenced by other objects, or refers to one that is gone",
                )
            }
            other => Error::internal(other),
        },
    }
}

fn unique_message(raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    if lower.contains("address") {
        "the address is already in use".into()
    } else if lower.contains("domains") || lower.contains("name") {
        "the name is already in use".into()
    } else {
        "a unique value is already in use".into()
    }
}

impl DataStore {
    /// Connects and runs the migrations.
    pub async fn open(location: &DatabaseLocation) -> Result<DataStore> {
        let store = Self::connect(location).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without changing the schema: for read-only operator commands such as
    /// `audit verify`, which must not write to the database they check.
    pub async fn connect(location: &DatabaseLocation) -> Result<DataStore> {
        Ok(match location {
            DatabaseLocation::Sqlite(path) => Self::open_sqlite(path).await?,
            DatabaseLocation::Postgres(url) => {
                let mut opts = ConnectOptions::new(url.clone());
                opts.max_connections(16)
                    .min_connections(1)
                    .connect_timeout(Duration::from_secs(10))
                    .sqlx_logging(false);
                let db = Database::connect(opts).await.map_err(db_error)?;
                let mut checks = ConnectOptions::new(url.clone());
                checks
                    .max_connections(4)
                    .min_connections(0)
                    .connect_timeout(Duration::from_secs(10))
                    .sqlx_logging(false);
                let prechecks = Database::connect(checks).await.map_err(db_error)?;
                DataStore {
                    writer: db.clone(),
                    reader: db,
                    prechecks: Some(prechecks),
                    sqlite: None,
                    read_cache: None,
                }
            }
        })
    }

    async fn open_sqlite(path: &Path) -> Result<DataStore> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            create_private_dir(dir)?;
        }
        // Statements run on the caller's thread through rusqlite (see `sqlite::transport`): one writer
        // connection, so that write transactions queue here instead of meeting a busy lock,
        // and four readers beside it (WAL lets readers run while the writer writes).
        let writer = DirectPool::open(path, 1).map_err(db_error)?;
        let reader = DirectPool::open(path, 4).map_err(db_error)?;
        let store = DataStore {
            writer: writer.connection().map_err(db_error)?,
            reader: reader.connection().map_err(db_error)?,
            prechecks: None,
            sqlite: Some(writer),
            read_cache: None,
        };
        store.with_read_cache(DEFAULT_READ_CACHE)
    }

    /// The same store remembering at most `capacity` tenants and `capacity` mailboxes read
    /// from SQLite (0: none, every read asks the file). The default is
    /// [`DEFAULT_READ_CACHE`]. A remembered row is served only while the file has not
    /// changed since it was read, so answers are the same with or without the cache (see
    /// the `read_cache` module). PostgreSQL stores remember nothing, whatever `capacity`.
    pub fn with_read_cache(mut self, capacity: usize) -> Result<DataStore> {
        self.read_cache = match &self.sqlite {
            Some(pool) if capacity > 0 => {
                let watch = ChangeWatch::open(pool.path()).map_err(db_error)?;
                Some(Arc::new(ReadCache::new(watch, capacity)))
            }
            _ => None,
        };
        Ok(self)
    }

    /// How the read cache has done since the store opened; None when there is none.
    pub fn read_cache_stats(&self) -> Option<ReadCacheStats> {
        self.read_cache.as_ref().map(|c| c.stats())
    }

    /// Looks `find` up in the read cache; a miss that remembers nothing when there is none.
    fn remembered<T>(&self, find: impl FnOnce(&ReadCache) -> Lookup<T>) -> Lookup<T> {
        match &self.read_cache {
            Some(cache) => find(cache),
            None => Lookup::Miss(None),
        }
    }

    /// Remembers rows read after a miss that saw the file's version `seen`.
    fn remember(
        &self,
        seen: Option<sqlite::read_cache::Seen>,
        tenant: &Tenant,
        mailbox: Option<&Mailbox>,
    ) {
        if let (Some(seen), Some(cache)) = (seen, &self.read_cache) {
            cache.remember(seen, tenant, mailbox);
        }
    }

    /// Opens the store (migrations included) for loading rows in bulk, as the benchmark's
    /// seed does: on SQLite the writer no longer syncs the file and keeps a 256 MiB page
    /// cache, so a crash while loading loses the load. Serve the file with [`DataStore::open`].
    /// Only built with the `raw-sql` feature.
    #[cfg(feature = "raw-sql")]
    pub async fn open_for_bulk_load(location: &DatabaseLocation) -> Result<DataStore> {
        let store = Self::open(location).await?;
        if store.sqlite.is_some() {
            store
                .writer
                .execute_unprepared("PRAGMA synchronous = OFF; PRAGMA cache_size = -262144")
                .await
                .map_err(db_error)?;
        }
        Ok(store)
    }

    /// A transaction for raw sea-orm statements, outside the audited write path: for bulk
    /// loading and operator tools. Nothing is audited or checked but by the schema. Only built
    /// with the `raw-sql` feature.
    #[cfg(feature = "raw-sql")]
    pub async fn sql_transaction(&self) -> Result<SqlTransaction> {
        self.transaction().await
    }

    /// The read connections, for raw sea-orm queries (bulk loading and operator tools).
    /// Begin transactions with [`DataStore::sql_transaction`]: on SQLite, sea-orm's own
    /// `begin` on this connection panics, since its proxy transactions cannot report a failed
    /// commit. Only built with the `raw-sql` feature.
    #[cfg(feature = "raw-sql")]
    pub fn sql_reader(&self) -> &DatabaseConnection {
        &self.reader
    }

    /// The writer, for raw statements that run outside a transaction (`ANALYZE`, a WAL
    /// checkpoint); each statement commits by itself. Begin transactions with
    /// [`DataStore::sql_transaction`], never with sea-orm's `begin` on this connection. Only
    /// built with the `raw-sql` feature.
    #[cfg(feature = "raw-sql")]
    pub fn sql_writer(&self) -> &DatabaseConnection {
        &self.writer
    }

    /// Begins a transaction on the writer: a leased SQLite connection, or a sqlx transaction
    /// on PostgreSQL.
    pub(crate) async fn transaction(&self) -> Result<SqlTransaction> {
        Ok(match &self.sqlite {
            Some(writer) => SqlTransaction::direct(writer.begin().await.map_err(db_error)?),
            None => SqlTransaction::pooled(self.writer.begin().await.map_err(db_error)?),
        })
    }

    /// The connections reads use: the precheck pool inside an `If-Match` check on
    /// PostgreSQL, the reader pool otherwise.
    fn reader(&self) -> &DatabaseConnection {
        match &self.prechecks {
            Some(checks) if guard::in_precheck() => checks,
            _ => &self.reader,
        }
    }

    /// Applies pending migrations (idempotent).
    pub async fn migrate(&self) -> Result<()> {
        migration::Migrator::up(&self.writer, None)
            .await
            .map_err(db_error)
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.writer.get_database_backend() {
            DbBackend::Postgres => "postgres",
            DbBackend::Sqlite => "sqlite",
            _ => "other",
        }
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        self.reader().ping().await.map_err(db_error)
    }

    /// Starts a write transaction. Everything done through it, audit rows included, commits
    /// together or not at all.
    pub async fn begin(&self) -> Result<WriteTx> {
        let mut tx = WriteTx::new(
            self.transaction().await?,
            self.writer.get_database_backend(),
        );
        if let Some(guard) = guard::WriteGuard::current() {
            // On failure the transaction is dropped, which rolls it back.
            tx.precondition = guard.enter(&tx).await?;
        }
        Ok(tx)
    }

    /// Runs a keyset page query: rows after the cursor's id, in id order, one more than the
    /// page holds so that `paginate` knows whether another page follows.
    async fn keyset<E: EntityTrait>(
        &self,
        query: Select<E>,
        id: E::Column,
        page: PageRequest,
    ) -> Result<Vec<E::Model>> {
        let query = match page.after {
            Some(after) => query.filter(id.gt(after)),
            None => query,
        };
        query
            .order_by_asc(id)
            .limit(page.limit + 1)
            .all(self.reader())
            .await
            .map_err(db_error)
    }

    /// Runs raw SQL against the writer; for tests that tamper with the audit log. Only
    /// built with the `test-hooks` feature.
    #[cfg(feature = "test-hooks")]
    pub async fn execute_unprepared_for_tests(&self, sql: &str) -> Result<()> {
        self.writer
            .execute_unprepared(sql)
            .await
            .map(|_| ())
            .map_err(db_error)
    }

    /// Runs a raw query and returns the first column of every row as text; for tests that
    /// check what is stored. Only built with the `test-hooks` feature.
    #[cfg(feature = "test-hooks")]
    pub async fn query_strings_for_tests(&self, sql: &str) -> Result<Vec<String>> {
        let rows = self
            .writer
            .query_all_raw(sea_orm::Statement::from_string(
                self.writer.get_database_backend(),
                sql,
            ))
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| r.try_get_by_index::<String>(0).map_err(db_error))
            .collect()
    }

    /// Applies a transaction-free statement: used by tests to learn which backend runs.
    pub fn is_postgres(&self) -> bool {
        self.writer.get_database_backend() == DbBackend::Postgres
    }
}

/// Creates a directory readable by its owner only (0700 on Unix): the embedded database
/// holds every tenant's directory and the audit trail. An existing directory is left as is.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| Error::invalid("data_dir", format!("cannot be created: {e}")))
}

/// Restricts rows that carry a tenant id to a scope: one tenant, a partner's customers'
/// tenants bound to one of `partner_profiles`, or everything. The one place where
/// tenant-scoped reads of audit rows, events and requests are filtered.
fn in_scope<E: EntityTrait>(
    query: Select<E>,
    tenant_id: E::Column,
    scope: Scope,
    partner_profiles: &[String],
) -> Select<E> {
    match scope {
        Scope::All => query,
        Scope::Tenant(t) => query.filter(tenant_id.eq(t.uuid())),
        Scope::Partner(p) => {
            let tenants = Query::select()
                .column(tenant::Column::Id)
                .from(tenant::Entity)
                .and_where(tenant::Column::PartnerId.eq(p.uuid()))
                .and_where(tenant::Column::Profile.is_in(partner_profiles.iter().cloned()))
                .to_owned();
            query.filter(tenant_id.in_subquery(tenants))
        }
    }
}

/// Cuts a `limit + 1` result into a page and the cursor of the next one.
fn paginate<R, T, K: ToString>(
    mut rows: Vec<R>,
    limit: u64,
    key: impl Fn(&R) -> K,
    convert: impl Fn(R) -> Result<T>,
) -> Result<Page<T>> {
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| key(r).to_string())
    } else {
        None
    };
    Ok(Page {
        items: rows.into_iter().map(convert).collect::<Result<_>>()?,
        next_cursor,
    })
}
