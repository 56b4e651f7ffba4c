//! Bulk provisioning and idempotency keys.
//!
//! A bulk call writes thousands of mailboxes in one transaction, in multi-row inserts, so
//! that it happens whole or not at all and fast. The address triggers and the seat checks
//! still fire for every row. Idempotency keys store a create call's answer with the change,
//! in the same transaction, so a retried call finds either nothing (and runs) or the answer
//! (and replays it), never half a change.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::resources::{Mailbox, MailboxStatus, Subscription};
use mailplane_types::{EmailAddress, Error, Result};

use crate::entity::{address, idempotency_key, licence_assignment, mailbox};
use crate::{DataStore, NewMailbox, WriteTx, db_error, now, rows};

/// Rows per multi-row insert: well under SQLite's limit of 32766 bound values.
const CHUNK: usize = 1000;

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
    /// Inserts many mailboxes (each already checked) in multi-row statements; returns them
    /// in the order given.
    pub async fn mailboxes_insert_many(&self, new: Vec<NewMailbox>) -> Result<Vec<Mailbox>> {
        let t = now();
        let mut models = Vec::with_capacity(new.len());
        for m in new {
            let address = EmailAddress::new(&m.local_part, &m.domain.name);
            models.push(mailbox::Model {
                id: Uuid::now_v7(),
                tenant_id: m.tenant_id.uuid(),
                domain_id: m.domain.id.uuid(),
                local_part: m.local_part.to_string(),
                address: address.to_string(),
                display_name: m.display_name,
                quota_bytes: m.quota_bytes,
                status: m.status.as_str().to_string(),
                created_at: t,
                updated_at: t,
                kind: m.kind.as_str().to_string(),
                forward_to: None,
                password_set_at: None,
            });
        }
        for chunk in models.chunks(CHUNK) {
            let rows: Vec<mailbox::ActiveModel> = chunk.iter().cloned().map(Into::into).collect();
            mailbox::Entity::insert_many(rows)
                .exec(&self.tx)
                .await
                .map_err(|e| match db_error(e) {
                    Error::Conflict { .. } => Error::conflict(
                        Some("mailboxes"),
                        "an address was taken while the batch was written; nothing was created",
                    ),
                    other => other,
                })?;
        }
        models.into_iter().map(rows::mailbox).collect()
    }

    /// Assigns a seat of `subscription` to each mailbox, in multi-row statements; the
    /// database refuses the whole batch when the seats do not suffice.
    pub async fn licences_assign_many(
        &self,
        subscription: &Subscription,
        mailboxes: &[&Mailbox],
    ) -> Result<()> {
        let t = now();
        for chunk in mailboxes.chunks(CHUNK) {
            let rows: Vec<licence_assignment::ActiveModel> = chunk
                .iter()
                .map(|m| licence_assignment::ActiveModel {
                    subscription_id: Set(subscription.id),
                    mailbox_id: Set(m.id.uuid()),
                    tenant_id: Set(m.tenant_id.uuid()),
                    assigned_at: Set(t),
                })
                .collect();
            licence_assignment::Entity::insert_many(rows)
                .exec(&self.tx)
                .await
                .map_err(|e| {
                    if e.to_string().contains("ck_subscriptions_assigned") {
                        Error::conflict(
                            Some("mailboxes"),
                            format!(
                                "the `{}` subscription has too few free seats for the batch",
                                subscription.sku
                            ),
                        )
                    } else {
                        db_error(e)
                    }
                })?;
        }
        Ok(())
    }

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

    /// Which of the given addresses are in use (by a mailbox, an alias or a group).
    pub async fn addresses_taken(&self, addresses: &[String]) -> Result<Vec<String>> {
        let mut taken = Vec::new();
        for chunk in addresses.chunks(CHUNK) {
            let found = address::Entity::find()
                .filter(address::Column::Address.is_in(chunk.iter().cloned()))
                .all(self.reader())
                .await
                .map_err(db_error)?;
            taken.extend(found.into_iter().map(|a| a.address));
        }
        Ok(taken)
    }
}

/// The status a stored mailbox has, for callers that count seats.
pub fn needs_seat(m: &Mailbox) -> bool {
    m.status == MailboxStatus::Enabled && m.kind == mailplane_types::resources::MailboxKind::User
}
