//! Idempotency keys: the stored answers of create calls.
//!
//! Idempotency keys store a create call's answer with the change, in the same transaction,
//! so a retried call finds either nothing (and runs) or the answer (and replays it), never
//! half a change. (The batch writes of a bulk call are with their resources, in
//! `mailboxes.rs` and `catalogue.rs`.)

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use time::OffsetDateTime;

use mailplane_types::{Error, Result};

use crate::entity::idempotency_key;
use crate::{DataStore, WriteTx, db_error};

/// A stored answer of a create call.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    /// The hash of the request it answered.
    pub request_hash: String,
    /// The HTTP status it was given.
    pub status: u16,
    /// The body, as JSON text.
    pub response: String,
    /// When it was stored.
    pub created_at: OffsetDateTime,
}

impl WriteTx {
    /// Claims a key for a create call before its change is written, so that a concurrent
    /// call with the same key waits for this one (PostgreSQL) or is serialised after it
    /// (SQLite) and then meets the key: a conflict, never a second change. The answer is
    /// filled in with [`WriteTx::idempotency_answer`] in the same transaction.
    pub async fn idempotency_store(
        &self,
        scope: &str,
        key: &str,
        answer: &StoredAnswer,
    ) -> Result<()> {
        idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::Scope.eq(scope))
            .filter(idempotency_key::Column::Key.eq(key))
            .filter(
                idempotency_key::Column::CreatedAt.lt(answer.created_at - time::Duration::days(1)),
            )
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        idempotency_key::ActiveModel {
            scope: Set(scope.to_string()),
            key: Set(key.to_string()),
            request_hash: Set(answer.request_hash.clone()),
            status: Set(i32::from(answer.status)),
            response: Set(answer.response.clone()),
            created_at: Set(answer.created_at),
        }
        .insert(&self.tx)
        .await
        .map_err(|e| match db_error(e) {
            Error::Conflict { .. } => Error::conflict(
                Some("Idempotency-Key"),
                "a call with this key is running or has just finished; retry to get its answer",
            ),
            other => other,
        })?;
        Ok(())
    }

    /// Records the answer of the call that claimed a key.
    pub async fn idempotency_answer(&self, scope: &str, key: &str, response: String) -> Result<()> {
        idempotency_key::Entity::update_many()
            .col_expr(
                idempotency_key::Column::Response,
                sea_orm::sea_query::Expr::value(response),
            )
            .filter(idempotency_key::Column::Scope.eq(scope))
            .filter(idempotency_key::Column::Key.eq(key))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

impl DataStore {
    /// The stored answer under a key, if any.
    pub async fn idempotency_get(&self, scope: &str, key: &str) -> Result<Option<StoredAnswer>> {
        Ok(idempotency_key::Entity::find()
            .filter(idempotency_key::Column::Scope.eq(scope))
            .filter(idempotency_key::Column::Key.eq(key))
            .one(&self.writer)
            .await
            .map_err(db_error)?
            .map(|r| StoredAnswer {
                request_hash: r.request_hash,
                status: u16::try_from(r.status).unwrap_or(500),
                response: r.response,
                created_at: r.created_at,
            }))
    }

    /// Records the answer of a call whose key was claimed with its change (a pending row,
    /// status 0, holding the call's nonce). Returns whether its claim was found: not when
    /// the change rolled back, which took the claim with it, nor when another call holds
    /// the key.
    pub async fn idempotency_record(
        &self,
        scope: &str,
        key: &str,
        nonce: &str,
        status: u16,
        response: String,
    ) -> Result<bool> {
        Ok(idempotency_key::Entity::update_many()
            .col_expr(
                idempotency_key::Column::Status,
                sea_orm::sea_query::Expr::value(i32::from(status)),
            )
            .col_expr(
                idempotency_key::Column::Response,
                sea_orm::sea_query::Expr::value(response),
            )
            .filter(idempotency_key::Column::Scope.eq(scope))
            .filter(idempotency_key::Column::Key.eq(key))
            .filter(idempotency_key::Column::Status.eq(0))
            .filter(idempotency_key::Column::Response.eq(nonce))
            .exec(&self.writer)
            .await
            .map_err(db_error)?
            .rows_affected
            > 0)
    }

    /// Deletes the stored answers older than `before`; returns how many.
    pub async fn idempotency_purge(&self, before: OffsetDateTime) -> Result<u64> {
        Ok(idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::CreatedAt.lt(before))
            .exec(&self.writer)
            .await
            .map_err(db_error)?
            .rows_affected)
    }
}
