//! Counts an operator watches: the job queue and webhook deliveries, read at scrape time.
//!
//! They come from the database rather than from counters in one process, so that every
//! replica of a deployment reports the same numbers for the work they share.

use mailplane_types::Result;
use sea_orm::{ConnectionTrait, Statement};
use time::OffsetDateTime;

use crate::{DataStore, db_error};

/// The job queue and webhook deliveries, by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperationalCounts {
    /// Jobs by state (`pending`, `done`, ...).
    pub jobs_by_state: Vec<(String, i64)>,
    /// Pending jobs whose next step is due now and that no worker holds.
    pub jobs_due: i64,
    /// Pending jobs a worker holds a live lease on.
    pub jobs_leased: i64,
    /// Webhook deliveries by state (`pending`, `delivered`, `failed`, ...).
    pub deliveries_by_state: Vec<(String, i64)>,
    /// Delivery attempts that did not get a 2xx answer, ever.
    pub webhook_attempts_failed: i64,
}

impl DataStore {
    /// Reads the counts; each is one indexed or small aggregate query.
    pub async fn operational_counts(&self, now: OffsetDateTime) -> Result<OperationalCounts> {
        let backend = self.reader().get_database_backend();
        let pairs = |sql: &str| Statement::from_string(backend, sql.to_string());
        // Columns by name: a row of the SQLite transport keeps its columns in name order.
        let grouped = |rows: Vec<sea_orm::QueryResult>| -> Result<Vec<(String, i64)>> {
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get::<String>("", "state").map_err(db_error)?,
                        r.try_get::<i64>("", "n").map_err(db_error)?,
                    ))
                })
                .collect()
        };
        let jobs_by_state = grouped(
            self.reader
                .query_all_raw(pairs(
                    "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state ORDER BY state",
                ))
                .await
                .map_err(db_error)?,
        )?;
        let deliveries_by_state = grouped(
            self.reader
                .query_all_raw(pairs(
                    "SELECT state, COUNT(*) AS n FROM webhook_deliveries GROUP BY state ORDER BY state",
                ))
                .await
                .map_err(db_error)?,
        )?;
        // Every `?` is bound to `now`; PostgreSQL numbers its placeholders.
        let count = |sql: &'static str| {
            let marks = sql.matches('?').count();
            let values: Vec<sea_orm::Value> = (0..marks).map(|_| now.into()).collect();
            let sql = match backend {
                sea_orm::DbBackend::Postgres => {
                    let mut out = String::new();
                    for (i, part) in sql.split('?').enumerate() {
                        if i > 0 {
                            out.push_str(&format!("${i}"));
                        }
                        out.push_str(part);
                    }
                    out
                }
                _ => sql.to_string(),
            };
            Statement::from_sql_and_values(backend, sql, values)
        };
        let one = |row: Option<sea_orm::QueryResult>| -> Result<i64> {
            row.map(|r| r.try_get_by_index::<i64>(0).map_err(db_error))
                .transpose()
                .map(|n| n.unwrap_or(0))
        };
        let jobs_due = one(self
            .reader
            .query_one_raw(count(
                "SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND run_after <= ? \
                     AND (lease_until IS NULL OR lease_until <= ?)",
            ))
            .await
            .map_err(db_error)?)?;
        let jobs_leased = one(self
            .reader
            .query_one_raw(count(
                "SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND lease_until > ?",
            ))
            .await
            .map_err(db_error)?)?;
        let webhook_attempts_failed = one(
            self.reader
                .query_one_raw(count(
                    "SELECT COUNT(*) FROM webhook_attempts WHERE status IS NULL OR status < 200 OR status > 299",
                ))
                .await
                .map_err(db_error)?,
        )?;
        Ok(OperationalCounts {
            jobs_by_state,
            jobs_due,
            jobs_leased,
            deliveries_by_state,
            webhook_attempts_failed,
        })
    }
}
