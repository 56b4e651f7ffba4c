//! SQLite statements run on the calling task's thread.
//!
//! sqlx runs every SQLite connection on a thread of its own and hands it each statement over
//! a channel, so every statement costs two thread wake-ups and several context switches: on
//! the two-core benchmark machine about 36 µs of CPU time for a round trip that runs no SQL,
//! where the SQL of a point read costs a few microseconds. A read made two round trips and a
//! mailbox creation about twenty, which capped both far below their targets (see the book's
//! "Scale and speed").
//!
//! This module keeps sea-orm (its query builder, entities and models, as written everywhere
//! else in this crate) and replaces only the transport at run time. A [`DirectPool`] holds
//! rusqlite connections to the same file, opened with the settings sqlx used (WAL,
//! `synchronous=NORMAL`, foreign keys, a 10 s busy timeout). sea-orm's proxy interface hands
//! each built statement to one of them, and it runs where the caller is: an SQLite point read
//! or insert takes microseconds, less than the thread switch it replaces.
//!
//! - **Outside a transaction**, a statement leases a connection for itself and gives it back.
//! - **A transaction** ([`DirectPool::begin`]) leases one connection for its whole life and
//!   starts with `BEGIN IMMEDIATE`, so that a writer never meets a busy lock halfway through.
//!   Its `COMMIT` reports failures (sea-orm's own proxy transactions cannot), and a lease
//!   given back inside a transaction is rolled back first: dropping a transaction undoes it.
//! - **Waiting never blocks a thread in this process:** leases are counted by an async
//!   semaphore (one connection for the writer, so writes queue as they did), and a writer
//!   that finds the file locked by another process (an operator command) waits for it on
//!   Tokio's blocking threads.
//!
//! Values are bound as sqlx bound them (UUIDs as 16-byte blobs, times as RFC 3339 text), so
//! files written by either read the same. Rows come back typed by the entity column they were
//! read from ([`crate::entity::column_types`]); computed columns by their storage class. How
//! values are written and read is in [`super::values`].
//! Migrations run through the writer like any other statement (`DataStore::migrate`).
//!
//! A [`ChangeWatch`] is one more connection that only tells whether the file has changed:
//! what the read cache ([`super::read_cache`]) checks its entries against.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sea_orm::{
    ConnAcquireErr, DatabaseConnection, DbBackend, DbErr, ProxyDatabaseTrait, ProxyExecResult,
    ProxyRow, RuntimeErr, Statement,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::values::{Kind, bind, decode, kind_of, target_table};

/// How long SQLite waits for another process's lock before a statement fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a caller waits for a connection of the pool (sqlx's default).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// Prepared statements kept per connection: more than the store has distinct queries.
const STATEMENT_CACHE: usize = 512;

/// A fixed number of rusqlite connections to one SQLite file.
#[derive(Clone)]
pub(crate) struct DirectPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    path: PathBuf,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
}

/// A connection and what it has learnt about the columns of its statements.
struct Conn {
    sqlite: Connection,
    /// The result columns of each statement run, by SQL: asking SQLite for their origin and
    /// looking up their types costs more than a point read.
    columns: HashMap<String, Arc<[(String, Kind)]>>,
}

/// Result column lists kept per connection; the store has far fewer distinct statements.
const COLUMN_CACHE: usize = 1024;

/// A connection lent to one caller; given back (rolled back first if a transaction is
/// open) when dropped.
struct Lease {
    conn: Option<Conn>,
    pool: Arc<PoolInner>,
    _permit: OwnedSemaphorePermit,
}

impl DirectPool {
    /// Opens the first connection (so that a bad path fails here) and allows `size` at once.
    pub(crate) fn open(path: &Path, size: usize) -> Result<DirectPool, DbErr> {
        let first = open_connection(path)?;
        Ok(DirectPool {
            inner: Arc::new(PoolInner {
                path: path.to_path_buf(),
                idle: Mutex::new(vec![first]),
                permits: Arc::new(Semaphore::new(size)),
            }),
        })
    }

    /// A sea-orm connection whose statements each lease a connection of this pool.
    pub(crate) fn connection(&self) -> Result<DatabaseConnection, DbErr> {
        sea_orm::ProxyDatabaseConnector::connect(
            DbBackend::Sqlite,
            Arc::new(Box::new(PoolProxy { pool: self.clone() })),
        )
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`) on a connection leased for its whole
    /// life; see [`DirectTransaction`].
    pub(crate) async fn begin(&self) -> Result<DirectTransaction, DbErr> {
        let mut lease = self.lease().await?;
        let Conn {
            sqlite: conn,
            columns,
        } = lease.conn.take().expect("a lease holds its connection");
        // Without waiting first: in this process the lease already excludes other writers, so
        // only another process can hold the lock, and that wait belongs on a blocking thread.
        conn.busy_timeout(Duration::ZERO).map_err(exec_error)?;
        let started = conn.execute_batch("BEGIN IMMEDIATE");
        let conn = match started {
            Ok(()) => conn,
            Err(e) if is_busy(&e) => tokio::task::spawn_blocking(move || {
                conn.busy_timeout(BUSY_TIMEOUT)?;
                conn.execute_batch("BEGIN IMMEDIATE").map(|()| conn)
            })
            .await
            .map_err(|e| DbErr::Custom(format!("the database lock wait failed: {e}")))?
            .map_err(exec_error)?,
            Err(e) => return Err(exec_error(e)),
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(exec_error)?;
        lease.conn = Some(Conn {
            sqlite: conn,
            columns,
        });
        let lease = Arc::new(Mutex::new(lease));
        let connection = sea_orm::ProxyDatabaseConnector::connect(
            DbBackend::Sqlite,
            Arc::new(Box::new(TransactionLease(lease.clone()))),
        )?;
        Ok(DirectTransaction { connection, lease })
    }

    /// The file the pool's connections are open on.
    pub(crate) fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn lease(&self) -> Result<Lease, DbErr> {
        let permit =
            tokio::time::timeout(ACQUIRE_TIMEOUT, self.inner.permits.clone().acquire_owned())
                .await
                .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
                .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))?;
        let idle = self.inner.idle.lock().expect("pool lock").pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_connection(&self.inner.path)?,
        };
        Ok(Lease {
            conn: Some(conn),
            pool: self.inner.clone(),
            _permit: permit,
        })
    }
}

impl Lease {
    fn conn(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("a lease holds its connection")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // A transaction left open is rolled back; a connection that cannot even do that is
        // closed instead of being lent again.
        if !conn.sqlite.is_autocommit() && conn.sqlite.execute_batch("ROLLBACK").is_err() {
            return;
        }
        self.pool.idle.lock().expect("pool lock").push(conn);
    }
}

fn open_connection(path: &Path) -> Result<Conn, DbErr> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(connect_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(connect_error)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(connect_error)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(connect_error)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(connect_error)?;
    // Without the query planner stability guarantee, SQLite (built with STAT4) prepares a
    // statement again whenever a new bound value might change its plan: for every read.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(connect_error)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(Conn {
        sqlite: conn,
        columns: HashMap::new(),
    })
}

/// A connection that asks SQLite one question: has the file changed since it last asked?
///
/// `PRAGMA data_version` changes whenever another connection commits, in this process (the
/// writer) or in another one (an operator command). This connection never writes, so every
/// commit to the file counts. Asking costs a read transaction that reads no table: about
/// 2 µs, two `fcntl` calls and a `stat` (measured with `strace -c`).
pub(crate) struct ChangeWatch {
    sqlite: Connection,
}

impl ChangeWatch {
    /// Opens the watching connection on `path`.
    pub(crate) fn open(path: &Path) -> Result<ChangeWatch, DbErr> {
        let conn = open_connection(path)?.sqlite;
        // It never waits: a file busy at this instant has an unknown version, and the caller
        // reads the file instead of trusting what it remembers.
        conn.busy_timeout(Duration::ZERO).map_err(connect_error)?;
        Ok(ChangeWatch { sqlite: conn })
    }

    /// A number that differs from the one returned before whenever another connection has
    /// committed since; `None` when SQLite could not tell (a lock held at this instant).
    pub(crate) fn version(&self) -> Option<i64> {
        self.sqlite
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |row| row.get(0)))
            .ok()
    }
}

/// A write transaction on one leased connection. Statements go through
/// [`DirectTransaction::connection`]; [`DirectTransaction::commit`] ends it, and dropping it
/// without a commit rolls it back.
pub(crate) struct DirectTransaction {
    connection: DatabaseConnection,
    /// The lease `connection` runs its statements on; given back when both are dropped.
    lease: Arc<Mutex<Lease>>,
}

impl DirectTransaction {
    /// The sea-orm connection whose statements run inside this transaction.
    pub(crate) fn connection(&self) -> &DatabaseConnection {
        &self.connection
    }

    /// Commits; a failed `COMMIT` is an error and the transaction is rolled back.
    pub(crate) fn commit(self) -> Result<(), DbErr> {
        let mut lease = self.lease.lock().expect("transaction lock");
        lease
            .conn()
            .sqlite
            .execute_batch("COMMIT")
            .map_err(exec_error)
    }
}

#[derive(Debug)]
struct PoolProxy {
    pool: DirectPool,
}

impl std::fmt::Debug for DirectPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectPool")
            .field("path", &self.inner.path)
            .finish()
    }
}

#[async_trait::async_trait]
impl ProxyDatabaseTrait for PoolProxy {
    async fn query(&self, statement: Statement) -> Result<Vec<ProxyRow>, DbErr> {
        let mut lease = self.pool.lease().await?;
        query(lease.conn(), &statement)
    }

    async fn execute(&self, statement: Statement) -> Result<ProxyExecResult, DbErr> {
        let mut lease = self.pool.lease().await?;
        execute(&lease.conn().sqlite, &statement)
    }

    async fn begin(&self) {
        panic!("transactions on the SQLite pools are begun through DirectPool::begin");
    }

    async fn ping(&self) -> Result<(), DbErr> {
        let mut lease = self.pool.lease().await?;
        lease
            .conn()
            .sqlite
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(query_error)
    }
}

/// The proxy of a [`DirectTransaction`]: every statement runs on its one lease.
struct TransactionLease(Arc<Mutex<Lease>>);

impl std::fmt::Debug for TransactionLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransactionLease")
    }
}

#[async_trait::async_trait]
impl ProxyDatabaseTrait for TransactionLease {
    async fn query(&self, statement: Statement) -> Result<Vec<ProxyRow>, DbErr> {
        let mut lease = self.0.lock().expect("transaction lock");
        query(lease.conn(), &statement)
    }

    async fn execute(&self, statement: Statement) -> Result<ProxyExecResult, DbErr> {
        let mut lease = self.0.lock().expect("transaction lock");
        execute(&lease.conn().sqlite, &statement)
    }

    async fn begin(&self) {
        panic!("a direct transaction does not nest");
    }

    async fn ping(&self) -> Result<(), DbErr> {
        Ok(())
    }
}

/// Runs a statement and returns its rows, typed for sea-orm's models.
fn query(conn: &mut Conn, statement: &Statement) -> Result<Vec<ProxyRow>, DbErr> {
    let mut prepared = conn
        .sqlite
        .prepare_cached(&statement.sql)
        .map_err(query_error)?;
    bind(&mut prepared, statement)?;
    let columns = match conn.columns.get(&statement.sql) {
        Some(known) => known.clone(),
        None => {
            let fallback = target_table(&statement.sql);
            let learnt: Arc<[(String, Kind)]> = prepared
                .columns_with_metadata()
                .iter()
                .map(|c| {
                    let kind = match (c.table_name(), c.origin_name()) {
                        (Some(table), Some(column)) => kind_of(table, column),
                        _ => fallback.map_or(Kind::Any, |table| kind_of(table, c.name())),
                    };
                    (c.name().to_string(), kind)
                })
                .collect();
            if conn.columns.len() >= COLUMN_CACHE {
                conn.columns.clear();
            }
            conn.columns.insert(statement.sql.clone(), learnt.clone());
            learnt
        }
    };
    let mut rows = prepared.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(query_error)? {
        let mut values = BTreeMap::new();
        for (i, (name, kind)) in columns.iter().enumerate() {
            let value = row.get_ref(i).map_err(query_error)?;
            values.insert(name.clone(), decode(value, *kind, name)?);
        }
        out.push(ProxyRow::new(values));
    }
    Ok(out)
}

/// Runs a statement for its effect: the rows it changed and the last rowid inserted.
fn execute(conn: &Connection, statement: &Statement) -> Result<ProxyExecResult, DbErr> {
    if statement.values.is_none() {
        // Unprepared SQL may hold several statements.
        conn.execute_batch(&statement.sql).map_err(exec_error)?;
    } else {
        let mut prepared = conn.prepare_cached(&statement.sql).map_err(exec_error)?;
        bind(&mut prepared, statement)?;
        let mut rows = prepared.raw_query();
        while rows.next().map_err(exec_error)?.is_some() {}
    }
    Ok(ProxyExecResult {
        last_insert_id: u64::try_from(conn.last_insert_rowid()).unwrap_or(0),
        rows_affected: conn.changes(),
    })
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn connect_error(e: rusqlite::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::Internal(e.to_string()))
}

pub(super) fn query_error(e: rusqlite::Error) -> DbErr {
    DbErr::Query(RuntimeErr::Internal(e.to_string()))
}

fn exec_error(e: rusqlite::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DataStore, DatabaseLocation, Scope};
    use sea_orm::ConnectionTrait;
    use time::format_description::well_known::Rfc3339;
    use uuid::Uuid;

    fn temp_db() -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("mp-direct-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("m.db");
        (dir, file)
    }

    fn count(path: &Path) -> i64 {
        let conn = Connection::open(path).unwrap();
        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    /// A transaction dropped without a commit leaves nothing; a committed one stays; and
    /// the leased connection comes back usable either way.
    #[tokio::test]
    async fn a_dropped_transaction_leaves_nothing_and_a_commit_stays() {
        let (dir, file) = temp_db();
        let pool = DirectPool::open(&file, 1).unwrap();
        let db = pool.connection().unwrap();
        db.execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        let insert = || {
            Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO t VALUES (?)",
                [1.into()],
            )
        };

        let tx = pool.begin().await.unwrap();
        tx.connection().execute_raw(insert()).await.unwrap();
        drop(tx);
        assert_eq!(count(&file), 0, "a dropped transaction is rolled back");

        let tx = pool.begin().await.unwrap();
        tx.connection().execute_raw(insert()).await.unwrap();
        tx.commit().unwrap();
        assert_eq!(count(&file), 1, "a committed transaction stays");

        // The one connection is free again, outside any transaction.
        db.execute_raw(insert()).await.unwrap();
        assert_eq!(count(&file), 2);
        std::fs::remove_dir_all(dir).ok();
    }

    /// A writer that finds the file locked by another process waits for the lock on a
    /// blocking thread, then proceeds; the runtime's own thread stays free meanwhile.
    #[tokio::test]
    async fn a_writer_waits_for_a_lock_held_elsewhere() {
        let (dir, file) = temp_db();
        let pool = DirectPool::open(&file, 1).unwrap();
        pool.connection()
            .unwrap()
            .execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        let other = Connection::open(&file).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();

        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move {
                let tx = pool.begin().await.unwrap();
                tx.connection()
                    .execute_unprepared("INSERT INTO t VALUES (2)")
                    .await
                    .unwrap();
                tx.commit().unwrap();
            }
        });
        // This test's own thread keeps running while the writer waits.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "the writer waits for the lock");
        other
            .execute_batch("INSERT INTO t VALUES (1); COMMIT")
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the writer proceeds once the lock is free")
            .unwrap();
        assert_eq!(count(&file), 2);
        std::fs::remove_dir_all(dir).ok();
    }

    /// Values are stored as sqlx-sqlite stored them (a UUID as a 16-byte blob, a time as
    /// RFC 3339 text), so that files written before this transport read the same, and they
    /// come back as the models' types.
    #[tokio::test]
    async fn values_are_stored_as_sqlx_stored_them_and_read_back_typed() {
        let (dir, file) = temp_db();
        let store = DataStore::open(&DatabaseLocation::Sqlite(file.clone()))
            .await
            .unwrap();
        let tx = store.begin().await.unwrap();
        let partner = tx.partner_insert("Blob & Text").await.unwrap();
        tx.commit().await.unwrap();

        let raw = Connection::open(&file).unwrap();
        let (kind, len, created): (String, i64, String) = raw
            .query_row(
                "SELECT typeof(id), length(id), created_at FROM partners",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((kind.as_str(), len), ("blob", 16));
        assert_eq!(created, partner.created_at.format(&Rfc3339).unwrap());

        let read = store
            .partner_view(Scope::All, partner.id)
            .await
            .unwrap()
            .expect("the partner reads back");
        assert_eq!(read.id, partner.id);
        assert_eq!(read.created_at, partner.created_at);
        assert_eq!(read.name, "Blob & Text");

        // A unique violation is a conflict, as it was through sqlx.
        let tx = store.begin().await.unwrap();
        let again = tx.partner_insert("Blob & Text").await;
        assert!(
            matches!(again, Err(mailplane_types::Error::Conflict { .. })),
            "{again:?}"
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
