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

pub mod audit;
mod bulk;
mod catalogue;
mod directory;
mod entity;
mod gauges;
pub mod guard;
mod inventory;
mod jobs;
mod lifecycle;
mod migration;
mod retention;
mod rows;
mod sqlite;
mod tickets;
mod webhooks;
mod write;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select, SqlErr, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;

use mailplane_types::resources::{
    AuditEntry, Credential, Domain, Event, Mailbox, Partner, Request, RequestState, Tenant,
};
use mailplane_types::{DomainId, Error, MailboxId, PartnerId, Party, Result, TenantId};

pub use audit::AuditReport;
pub use bulk::{StoredAnswer, needs_seat};
pub use catalogue::{NewSubscription, NewTenant};
use entity::{
    api_credential, audit_head, audit_log, domain, event, mailbox, partner, request, tenant,
};
pub use gauges::OperationalCounts;
pub use jobs::{JOB_DONE, JOB_PENDING, JobClaim, JobNext, JobRow, JobStepRow};
pub use lifecycle::{ConfigurationRemoved, TerminationChange, TerminationRecord};
pub use sqlite::read_cache::{DEFAULT_READ_CACHE, ReadCacheStats};
use sqlite::read_cache::{Lookup, ReadCache};
use sqlite::transport::{ChangeWatch, DirectPool};
pub use tickets::{NewTicket, TicketStep};
pub use webhooks::{AttemptResult, LeasedDelivery};
#[cfg(feature = "raw-sql")]
pub use write::SqlTransaction;
#[cfg(not(feature = "raw-sql"))]
use write::SqlTransaction;
pub use write::{
    AuditRecord, MailboxChanges, NewCredential, NewMailbox, NewRequest, RequestDecision, WriteTx,
    now,
};

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

    /// A partner by id, if the scope may see it (provider: all; partner: itself).
    pub async fn partner_get(&self, scope: Scope, id: PartnerId) -> Result<Option<Partner>> {
        if !partner_visible(scope, id) {
            return Ok(None);
        }
        let row = partner::Entity::find_by_id(id.uuid())
            .one(self.reader())
            .await
            .map_err(db_error)?;
        Ok(row.map(rows::partner))
    }

    /// Partners the scope may see, in id order.
    pub async fn partner_list(&self, scope: Scope, page: PageRequest) -> Result<Page<Partner>> {
        let mut q = partner::Entity::find();
        match scope {
            Scope::All => {}
            Scope::Partner(p) => q = q.filter(partner::Column::Id.eq(p.uuid())),
            Scope::Tenant(_) => {
                return Ok(Page {
                    items: vec![],
                    next_cursor: None,
                });
            }
        }
        let rows = self.keyset(q, partner::Column::Id, page).await?;
        paginate(rows, page.limit, |r| r.id, |r| Ok(rows::partner(r)))
    }

    /// A tenant by id, if it is in scope.
    pub async fn tenant_get(&self, scope: Scope, id: TenantId) -> Result<Option<Tenant>> {
        let Some(partner) = tenant_scope(scope, id) else {
            return Ok(None);
        };
        let seen = match self.remembered(|c| c.tenant(id)) {
            Lookup::Hit(t) => return Ok(in_partner_scope(&t, partner).then_some(t)),
            Lookup::Miss(seen) => seen,
        };
        let found = tenant_get_on(self.reader(), scope, id).await?;
        if let Some(t) = &found {
            self.remember(seen, t, None);
        }
        Ok(found)
    }

    /// Tenants in scope, in id order.
    pub async fn tenant_list(&self, scope: Scope, page: PageRequest) -> Result<Page<Tenant>> {
        let mut q = tenant::Entity::find();
        match scope {
            Scope::All => {}
            Scope::Partner(p) => q = q.filter(tenant::Column::PartnerId.eq(p.uuid())),
            Scope::Tenant(t) => q = q.filter(tenant::Column::Id.eq(t.uuid())),
        }
        let rows = self.keyset(q, tenant::Column::Id, page).await?;
        paginate(rows, page.limit, |r| r.id, rows::tenant)
    }

    /// A tenant in the scope and one of its mailboxes, read in one statement (the tenant
    /// joined with the mailbox): what an authorized read of a mailbox needs. The mailbox is
    /// `None` when the tenant has no such mailbox; the whole is `None` when the tenant is out
    /// of scope or missing.
    pub async fn tenant_and_mailbox(
        &self,
        scope: Scope,
        tenant: TenantId,
        id: MailboxId,
    ) -> Result<Option<(Tenant, Option<Mailbox>)>> {
        use sea_orm::{FromQueryResult, IdenStatic, SelectA, SelectB};
        let Some(partner) = tenant_scope(scope, tenant) else {
            return Ok(None);
        };
        let seen = match self.remembered(|c| c.tenant_and_mailbox(tenant, id)) {
            Lookup::Hit((t, m)) => return Ok(in_partner_scope(&t, partner).then_some((t, Some(m)))),
            Lookup::Miss(seen) => seen,
        };
        let backend = self.reader().get_database_backend();
        // The hottest read of the API: its SQL is built once per shape and backend.
        static SHAPES: [OnceLock<StatementTemplate>; 4] = [const { OnceLock::new() }; 4];
        let shape =
            usize::from(backend == DbBackend::Postgres) * 2 + usize::from(partner.is_some());
        let template = SHAPES[shape].get_or_init(|| {
            StatementTemplate::new(
                backend,
                tenant_and_mailbox_query(
                    TEMPLATE_TENANT,
                    TEMPLATE_MAILBOX,
                    partner.map(|_| TEMPLATE_PARTNER),
                ),
            )
        });
        let statement = template.bind(&[
            (TEMPLATE_TENANT, tenant.uuid()),
            (TEMPLATE_MAILBOX, id.uuid()),
            (TEMPLATE_PARTNER, partner.map_or(Uuid::nil(), |p| p.uuid())),
        ]);
        let Some(row) = self
            .reader()
            .query_one_raw(statement)
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        let t = tenant::Model::from_query_result(&row, SelectA.as_str()).map_err(db_error)?;
        let m =
            mailbox::Model::from_query_result_optional(&row, SelectB.as_str()).map_err(db_error)?;
        let (t, m) = (rows::tenant(t)?, m.map(rows::mailbox).transpose()?);
        self.remember(seen, &t, m.as_ref());
        Ok(Some((t, m)))
    }

    /// A domain of a tenant (the caller has already resolved the tenant in its scope).
    pub async fn domain_get(&self, tenant: TenantId, id: DomainId) -> Result<Option<Domain>> {
        domain_get_on(self.reader(), tenant, id).await
    }

    /// Domains of a tenant, in id order.
    pub async fn domain_list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Domain>> {
        let q = domain::Entity::find().filter(domain::Column::TenantId.eq(tenant.uuid()));
        let rows = self.keyset(q, domain::Column::Id, page).await?;
        paginate(rows, page.limit, |r| r.id, rows::domain)
    }

    /// A credential by id, whatever its tenant: for verifying a token that names it.
    pub async fn credential_by_id(&self, id: Uuid) -> Result<Option<Credential>> {
        Ok(api_credential::Entity::find_by_id(id)
            .one(self.reader())
            .await
            .map_err(db_error)?
            .map(rows::credential))
    }

    /// A credential of a tenant.
    pub async fn credential_get(&self, tenant: TenantId, id: Uuid) -> Result<Option<Credential>> {
        Ok(api_credential::Entity::find_by_id(id)
            .filter(api_credential::Column::TenantId.eq(tenant.uuid()))
            .one(self.reader())
            .await
            .map_err(db_error)?
            .map(rows::credential))
    }

    /// Credentials of a tenant, in id order.
    pub async fn credential_list(
        &self,
        tenant: TenantId,
        page: PageRequest,
    ) -> Result<Page<Credential>> {
        let q = api_credential::Entity::find()
            .filter(api_credential::Column::TenantId.eq(tenant.uuid()));
        let rows = self.keyset(q, api_credential::Column::Id, page).await?;
        paginate(rows, page.limit, |r| r.id, |r| Ok(rows::credential(r)))
    }

    /// A mailbox of a tenant.
    pub async fn mailbox_get(&self, tenant: TenantId, id: MailboxId) -> Result<Option<Mailbox>> {
        mailbox_get_on(self.reader(), tenant, id).await
    }

    /// Mailboxes of a tenant, in id order.
    pub async fn mailbox_list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Mailbox>> {
        let q = mailbox::Entity::find().filter(mailbox::Column::TenantId.eq(tenant.uuid()));
        let rows = self.keyset(q, mailbox::Column::Id, page).await?;
        paginate(rows, page.limit, |r| r.id, rows::mailbox)
    }

    /// Audit rows in scope, in chain order. The cursor is the last `seq` seen. A partner
    /// reads only the rows of its customers' tenants bound to one of `partner_profiles`
    /// (the profiles under which a partner may review the audit trail).
    pub async fn audit_list(
        &self,
        scope: Scope,
        partner_profiles: &[String],
        after_seq: Option<i64>,
        limit: u64,
    ) -> Result<Page<AuditEntry>> {
        let mut q = audit_log::Entity::find();
        q = in_scope(q, audit_log::Column::TenantId, scope, partner_profiles);
        if let Some(after) = after_seq {
            q = q.filter(audit_log::Column::Seq.gt(after));
        }
        let rows = q
            .order_by_asc(audit_log::Column::Seq)
            .limit(limit + 1)
            .all(self.reader())
            .await
            .map_err(db_error)?;
        paginate(rows, limit, |r| r.seq, rows::audit)
    }

    /// The feed of `party` within `scope`, in order; the cursor is the last `seq` seen. A
    /// partner reads the events of its customers' tenants bound to `partner_profiles` only.
    pub async fn event_list(
        &self,
        scope: Scope,
        party: Party,
        partner_profiles: &[String],
        after_seq: Option<i64>,
        limit: u64,
    ) -> Result<Page<Event>> {
        let mut q = event::Entity::find();
        q = match party {
            Party::Customer => q.filter(event::Column::ForCustomer.eq(true)),
            Party::Partner => q.filter(event::Column::ForPartner.eq(true)),
            Party::Provider => q.filter(event::Column::ForProvider.eq(true)),
        };
        q = in_scope(q, event::Column::TenantId, scope, partner_profiles);
        if let Some(after) = after_seq {
            q = q.filter(event::Column::Seq.gt(after));
        }
        let rows = q
            .order_by_asc(event::Column::Seq)
            .limit(limit + 1)
            .all(self.reader())
            .await
            .map_err(db_error)?;
        paginate(rows, limit, |r| r.seq, rows::event)
    }

    /// A request within scope (a partner: of its customers' tenants under `partner_profiles`).
    pub async fn request_get(
        &self,
        scope: Scope,
        partner_profiles: &[String],
        id: uuid::Uuid,
    ) -> Result<Option<Request>> {
        request_get_on(self.reader(), scope, partner_profiles, id).await
    }

    /// Requests within scope, optionally in one state, in id order.
    pub async fn request_list(
        &self,
        scope: Scope,
        partner_profiles: &[String],
        state: Option<RequestState>,
        page: PageRequest,
    ) -> Result<Page<Request>> {
        let mut q = scoped_requests(scope, partner_profiles);
        if let Some(state) = state {
            q = q.filter(request::Column::State.eq(state.as_str()));
        }
        let rows = self.keyset(q, request::Column::Id, page).await?;
        paginate(rows, page.limit, |r| r.id, rows::request)
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

    /// Walks the whole chain and reports the first break: an edited row, a removed row, or a
    /// removed end of the chain.
    pub async fn audit_verify(&self) -> Result<AuditReport> {
        let mut prev_seq = 0i64;
        let mut prev_hash = audit::GENESIS.to_string();
        let mut rows = 0u64;
        loop {
            let batch = audit_log::Entity::find()
                .filter(audit_log::Column::Seq.gt(prev_seq))
                .order_by_asc(audit_log::Column::Seq)
                .limit(1000)
                .all(self.reader())
                .await
                .map_err(db_error)?;
            if batch.is_empty() {
                break;
            }
            for row in batch {
                if let Some(problem) = audit::check_link(prev_seq, &prev_hash, &row) {
                    return Ok(AuditReport {
                        rows,
                        problem: Some(problem),
                    });
                }
                rows += 1;
                prev_seq = row.seq;
                prev_hash = row.hash;
            }
        }
        let head = audit_head::Entity::find_by_id(1)
            .one(self.reader())
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::internal("audit_head row is missing"))?;
        let problem = if head.seq != prev_seq || head.hash != prev_hash {
            Some(format!(
                "the chain ends at row {prev_seq} but its head records row {}: rows at the end were removed",
                head.seq
            ))
        } else {
            None
        };
        Ok(AuditReport { rows, problem })
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

fn scoped_requests(scope: Scope, partner_profiles: &[String]) -> Select<request::Entity> {
    in_scope(
        request::Entity::find(),
        request::Column::TenantId,
        scope,
        partner_profiles,
    )
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

pub(crate) async fn request_get_on<C: ConnectionTrait>(
    db: &C,
    scope: Scope,
    partner_profiles: &[String],
    id: uuid::Uuid,
) -> Result<Option<Request>> {
    scoped_requests(scope, partner_profiles)
        .filter(request::Column::Id.eq(id))
        .one(db)
        .await
        .map_err(db_error)?
        .map(rows::request)
        .transpose()
}

fn partner_visible(scope: Scope, id: PartnerId) -> bool {
    match scope {
        Scope::All => true,
        Scope::Partner(p) => p == id,
        Scope::Tenant(_) => false,
    }
}

/// How a scope reaches the tenant `id`: not at all (`None`), or through a filter on its
/// partner (`Some(Some(p))`) or none (`Some(None)`).
fn tenant_scope(scope: Scope, id: TenantId) -> Option<Option<PartnerId>> {
    match scope {
        Scope::All => Some(None),
        Scope::Partner(p) => Some(Some(p)),
        Scope::Tenant(t) => (t == id).then_some(None),
    }
}

/// Whether a tenant passes the partner filter of [`tenant_scope`], as its SQL would.
fn in_partner_scope(tenant: &Tenant, partner: Option<PartnerId>) -> bool {
    partner.is_none_or(|p| tenant.partner_id == Some(p))
}

pub(crate) async fn tenant_get_on<C: ConnectionTrait>(
    db: &C,
    scope: Scope,
    id: TenantId,
) -> Result<Option<Tenant>> {
    let Some(partner) = tenant_scope(scope, id) else {
        return Ok(None);
    };
    let mut q = tenant::Entity::find_by_id(id.uuid());
    if let Some(p) = partner {
        q = q.filter(tenant::Column::PartnerId.eq(p.uuid()));
    }
    q.one(db)
        .await
        .map_err(db_error)?
        .map(rows::tenant)
        .transpose()
}

pub(crate) async fn domain_get_on<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    id: DomainId,
) -> Result<Option<Domain>> {
    domain::Entity::find_by_id(id.uuid())
        .filter(domain::Column::TenantId.eq(tenant.uuid()))
        .one(db)
        .await
        .map_err(db_error)?
        .map(rows::domain)
        .transpose()
}

pub(crate) async fn mailbox_get_on<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    id: MailboxId,
) -> Result<Option<Mailbox>> {
    mailbox::Entity::find_by_id(id.uuid())
        .filter(mailbox::Column::TenantId.eq(tenant.uuid()))
        .one(db)
        .await
        .map_err(db_error)?
        .map(rows::mailbox)
        .transpose()
}

/// The values a [`StatementTemplate`] is built with, replaced by the real ones per call.
const TEMPLATE_TENANT: Uuid = Uuid::from_u128(0x7e4a_4e7e_0000_7000_8000_0000_0000_0001);
const TEMPLATE_MAILBOX: Uuid = Uuid::from_u128(0x7e4a_4e7e_0000_7000_8000_0000_0000_0002);
const TEMPLATE_PARTNER: Uuid = Uuid::from_u128(0x7e4a_4e7e_0000_7000_8000_0000_0000_0003);

/// The tenant in scope (of a partner, when given) joined with one of its mailboxes.
fn tenant_and_mailbox_query(
    tenant: Uuid,
    mailbox_id: Uuid,
    partner: Option<Uuid>,
) -> sea_orm::SelectTwo<tenant::Entity, mailbox::Entity> {
    use sea_orm::JoinType;
    use sea_orm::sea_query::IntoCondition;
    let mut q = tenant::Entity::find_by_id(tenant);
    if let Some(p) = partner {
        q = q.filter(tenant::Column::PartnerId.eq(p));
    }
    let of_tenant: sea_orm::RelationDef = mailbox::Entity::belongs_to(tenant::Entity)
        .from(mailbox::Column::TenantId)
        .to(tenant::Column::Id)
        .into();
    q.join_rev(
        JoinType::LeftJoin,
        of_tenant.on_condition(move |_, _| mailbox::Column::Id.eq(mailbox_id).into_condition()),
    )
    .select_also(mailbox::Entity)
}

/// A statement built once by sea-orm's query builder, with marker values where the
/// per-call values go: building a wide select costs more than running it on SQLite.
struct StatementTemplate {
    backend: DbBackend,
    sql: String,
    values: Vec<sea_orm::Value>,
}

impl StatementTemplate {
    fn new(backend: DbBackend, query: impl sea_orm::QueryTrait) -> StatementTemplate {
        let built = query.build(backend);
        StatementTemplate {
            backend,
            sql: built.sql,
            values: built.values.map(|v| v.0).unwrap_or_default(),
        }
    }

    /// The statement with each marker value replaced by its real value.
    fn bind(&self, values: &[(Uuid, Uuid)]) -> sea_orm::Statement {
        let bound = self.values.iter().map(|v| match v {
            sea_orm::Value::Uuid(Some(marker)) => values
                .iter()
                .find(|(m, _)| m == marker)
                .map_or_else(|| v.clone(), |(_, real)| sea_orm::Value::Uuid(Some(*real))),
            other => other.clone(),
        });
        sea_orm::Statement::from_sql_and_values(self.backend, self.sql.clone(), bound)
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

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::QueryTrait;

    /// A template re-bound with real values is the statement sea-orm would build for them,
    /// on both backends and with and without a partner's scope.
    #[test]
    fn a_bound_template_is_the_statement_built_afresh() {
        let (tenant, mailbox, partner) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            for scoped in [false, true] {
                let template = StatementTemplate::new(
                    backend,
                    tenant_and_mailbox_query(
                        TEMPLATE_TENANT,
                        TEMPLATE_MAILBOX,
                        scoped.then_some(TEMPLATE_PARTNER),
                    ),
                );
                let bound = template.bind(&[
                    (TEMPLATE_TENANT, tenant),
                    (TEMPLATE_MAILBOX, mailbox),
                    (TEMPLATE_PARTNER, partner),
                ]);
                let fresh = tenant_and_mailbox_query(tenant, mailbox, scoped.then_some(partner))
                    .build(backend);
                assert_eq!(bound.sql, fresh.sql);
                assert_eq!(bound.values, fresh.values, "{backend:?}, partner {scoped}");
            }
        }
    }
}
