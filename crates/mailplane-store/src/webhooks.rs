//! Webhook persistence: receivers, the deliveries copied from the event outbox, leases, and
//! the attempt log.
//!
//! Delivery is at least once. The outbox (`events`) is written in the transaction of each
//! change; a pump copies new events into `webhook_deliveries` and advances the webhook's
//! cursor in one transaction, so an event is queued exactly once per webhook (a unique
//! index backs this). A worker leases due deliveries before sending, and records the result
//! only under its own lease: a worker that died mid-send leaves a lease that runs out, and
//! the delivery is sent again. Receivers deduplicate on the event id.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::resources::{Delivery, DeliveryAttempt, DeliveryState, Event, Webhook};
use mailplane_types::{DeliveryId, Error, Result, WebhookId};

use crate::entity::{event, webhook, webhook_attempt, webhook_delivery};
use crate::{DataStore, Page, PageRequest, WriteTx, db_error, rows};

/// A delivery a worker holds the lease of, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct LeasedDelivery {
    /// The delivery.
    pub id: DeliveryId,
    /// The lease the result must be recorded under.
    pub lease: Uuid,
    /// The attempt this send is (1 for the first).
    pub attempt: i32,
    /// The receiver's URL.
    pub url: String,
    /// The HMAC key.
    pub secret: String,
    /// The event to send.
    pub event: Event,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    /// The receiver's status, if it answered.
    pub status: Option<i32>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
    /// Whether the receiver accepted it (2xx).
    pub delivered: bool,
    /// When to try again, if it failed and attempts remain; `None` gives up.
    pub retry_at: Option<OffsetDateTime>,
}

fn webhook_of(r: webhook::Model) -> Webhook {
    Webhook {
        id: r.id.into(),
        org: r.org,
        url: r.url,
        active: r.active,
        created_at: r.created_at,
    }
}

impl WriteTx {
    /// Registers a webhook for `org`; it receives the events written from now on.
    pub async fn webhook_insert(&self, org: &str, url: &str, secret: &str) -> Result<Webhook> {
        let tx = &self.tx;
        let last = event::Entity::find()
            .select_only()
            .column_as(event::Column::Seq.max(), "max")
            .into_tuple::<Option<i64>>()
            .one(tx)
            .await
            .map_err(db_error)?
            .flatten()
            .unwrap_or(0);
        let row = webhook::ActiveModel {
            id: Set(Uuid::now_v7()),
            org: Set(org.to_string()),
            url: Set(url.to_string()),
            secret: Set(secret.to_string()),
            active: Set(true),
            cursor_seq: Set(last),
            created_at: Set(crate::now()),
        }
        .insert(tx)
        .await
        .map_err(db_error)?;
        Ok(webhook_of(row))
    }

    /// Whether `org` has a webhook `id`, inside the transaction.
    pub async fn webhook_exists(&self, org: &str, id: WebhookId) -> Result<bool> {
        Ok(webhook::Entity::find_by_id(id.uuid())
            .filter(webhook::Column::Org.eq(org))
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .is_some())
    }

    /// Removes a webhook of `org` with its deliveries and their log.
    pub async fn webhook_delete(&self, org: &str, id: WebhookId) -> Result<bool> {
        let res = webhook::Entity::delete_many()
            .filter(webhook::Column::Id.eq(id.uuid()))
            .filter(webhook::Column::Org.eq(org))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(res.rows_affected == 1)
    }
}

impl DataStore {
    /// A webhook of `org`.
    pub async fn webhook_view(&self, org: &str, id: WebhookId) -> Result<Option<Webhook>> {
        Ok(webhook::Entity::find_by_id(id.uuid())
            .filter(webhook::Column::Org.eq(org))
            .one(self.reader())
            .await
            .map_err(db_error)?
            .map(webhook_of))
    }

    /// Webhooks of `org`, in id order.
    pub async fn webhook_list(&self, org: &str, page: PageRequest) -> Result<Page<Webhook>> {
        let q = webhook::Entity::find().filter(webhook::Column::Org.eq(org));
        let rows = self.keyset(q, webhook::Column::Id, page).await?;
        crate::paginate(rows, page.limit, |r| r.id, |r| Ok(webhook_of(r)))
    }

    /// Every active webhook: (id, org, cursor).
    pub async fn webhooks_active(&self) -> Result<Vec<(WebhookId, String, i64)>> {
        // Columns by name, never by position (see `sqlite/transport.rs`).
        #[derive(sea_orm::FromQueryResult)]
        struct Active {
            id: Uuid,
            org: String,
            cursor_seq: i64,
        }
        let rows = webhook::Entity::find()
            .select_only()
            .columns([
                webhook::Column::Id,
                webhook::Column::Org,
                webhook::Column::CursorSeq,
            ])
            .filter(webhook::Column::Active.eq(true))
            .into_model::<Active>()
            .all(self.reader())
            .await
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|r| (r.id.into(), r.org, r.cursor_seq))
            .collect())
    }

    /// Queues `events` for a webhook whose cursor is still `from`, and moves the cursor to
    /// `to`, in one transaction. Returns false when another pump moved the cursor first
    /// (then nothing is written).
    pub async fn deliveries_enqueue(
        &self,
        webhook_id: WebhookId,
        from: i64,
        to: i64,
        events: &[Event],
        now: OffsetDateTime,
    ) -> Result<bool> {
        let tx = self.transaction().await?;
        let moved = webhook::Entity::update_many()
            .col_expr(webhook::Column::CursorSeq, Expr::value(to))
            .filter(webhook::Column::Id.eq(webhook_id.uuid()))
            .filter(webhook::Column::CursorSeq.eq(from))
            .exec(&tx)
            .await
            .map_err(db_error)?;
        if moved.rows_affected != 1 {
            return Ok(false);
        }
        if !events.is_empty() {
            let rows = events.iter().map(|e| webhook_delivery::ActiveModel {
                id: Set(Uuid::now_v7()),
                webhook_id: Set(webhook_id.uuid()),
                event_seq: Set(e.seq),
                event_id: Set(e.id.0),
                state: Set(DeliveryState::Pending.as_str().to_string()),
                attempts: Set(0),
                next_attempt_at: Set(now),
                leased_until: Set(None),
                lease: Set(None),
                last_status: Set(None),
                last_error: Set(None),
                delivered_at: Set(None),
                created_at: Set(now),
            });
            webhook_delivery::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([
                        webhook_delivery::Column::WebhookId,
                        webhook_delivery::Column::EventSeq,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(&tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    /// Leases up to `limit` due deliveries of active webhooks until `until`. Each lease is
    /// a conditional update, so two workers never hold the same delivery.
    pub async fn deliveries_lease(
        &self,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<LeasedDelivery>> {
        let due = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::State.eq(DeliveryState::Pending.as_str()))
            .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
            .filter(
                Condition::any()
                    .add(webhook_delivery::Column::LeasedUntil.is_null())
                    .add(webhook_delivery::Column::LeasedUntil.lte(now)),
            )
            .order_by_asc(webhook_delivery::Column::NextAttemptAt)
            .limit(limit)
            .all(self.reader())
            .await
            .map_err(db_error)?;
        let mut leased = Vec::new();
        for d in due {
            let lease = Uuid::now_v7();
            let won = webhook_delivery::Entity::update_many()
                .col_expr(webhook_delivery::Column::LeasedUntil, Expr::value(until))
                .col_expr(webhook_delivery::Column::Lease, Expr::value(lease))
                .filter(webhook_delivery::Column::Id.eq(d.id))
                .filter(webhook_delivery::Column::State.eq(DeliveryState::Pending.as_str()))
                // The row as read: another worker that tried it meanwhile changed these.
                .filter(webhook_delivery::Column::Attempts.eq(d.attempts))
                .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
                .filter(
                    Condition::any()
                        .add(webhook_delivery::Column::LeasedUntil.is_null())
                        .add(webhook_delivery::Column::LeasedUntil.lte(now)),
                )
                .exec(&self.writer)
                .await
                .map_err(db_error)?;
            if won.rows_affected != 1 {
                continue;
            }
            let hook = webhook::Entity::find_by_id(d.webhook_id)
                .one(&self.writer)
                .await
                .map_err(db_error)?;
            let ev = event::Entity::find_by_id(d.event_seq)
                .one(&self.writer)
                .await
                .map_err(db_error)?;
            let (Some(hook), Some(ev)) = (hook, ev) else {
                continue;
            };
            if !hook.active {
                continue;
            }
            leased.push(LeasedDelivery {
                id: d.id.into(),
                lease,
                attempt: d.attempts + 1,
                url: hook.url,
                secret: hook.secret,
                event: rows::event(ev)?,
            });
        }
        Ok(leased)
    }

    /// Records an attempt under the lease it was made with, and the delivery's new state.
    /// A lease that ran out and was taken by another worker records nothing (false).
    pub async fn delivery_record(
        &self,
        d: &LeasedDelivery,
        result: AttemptResult,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let tx = self.transaction().await?;
        let state = if result.delivered {
            DeliveryState::Delivered
        } else if result.retry_at.is_some() {
            DeliveryState::Pending
        } else {
            DeliveryState::Failed
        };
        let mut update = webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::State, Expr::value(state.as_str()))
            .col_expr(webhook_delivery::Column::Attempts, Expr::value(d.attempt))
            .col_expr(
                webhook_delivery::Column::LeasedUntil,
                Expr::value(Option::<OffsetDateTime>::None),
            )
            .col_expr(
                webhook_delivery::Column::Lease,
                Expr::value(Option::<Uuid>::None),
            )
            .col_expr(
                webhook_delivery::Column::LastStatus,
                Expr::value(result.status),
            )
            .col_expr(
                webhook_delivery::Column::LastError,
                Expr::value(result.error.clone()),
            );
        if let Some(at) = result.retry_at {
            update = update.col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(at));
        }
        if result.delivered {
            update = update.col_expr(webhook_delivery::Column::DeliveredAt, Expr::value(now));
        }
        let res = update
            .filter(webhook_delivery::Column::Id.eq(d.id.uuid()))
            .filter(webhook_delivery::Column::Lease.eq(d.lease))
            .exec(&tx)
            .await
            .map_err(db_error)?;
        if res.rows_affected != 1 {
            return Ok(false);
        }
        webhook_attempt::ActiveModel {
            id: Set(Uuid::now_v7()),
            delivery_id: Set(d.id.uuid()),
            attempt: Set(d.attempt),
            at: Set(now),
            status: Set(result.status),
            error: Set(result.error),
            duration_ms: Set(result.duration_ms),
        }
        .insert(&tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    /// Deliveries of a webhook, newest event last, each with its attempts.
    pub async fn delivery_list(
        &self,
        webhook_id: WebhookId,
        page: PageRequest,
    ) -> Result<Page<Delivery>> {
        let q = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::WebhookId.eq(webhook_id.uuid()));
        let rows = self.keyset(q, webhook_delivery::Column::Id, page).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let attempts = webhook_attempt::Entity::find()
            .filter(webhook_attempt::Column::DeliveryId.is_in(ids))
            .order_by_asc(webhook_attempt::Column::Attempt)
            .all(self.reader())
            .await
            .map_err(db_error)?;
        crate::paginate(
            rows,
            page.limit,
            |r| r.id,
            |r| {
                Ok(Delivery {
                    id: r.id.into(),
                    webhook_id: r.webhook_id.into(),
                    event_seq: r.event_seq,
                    event_id: r.event_id.into(),
                    state: DeliveryState::parse(&r.state)
                        .ok_or_else(|| Error::internal(format!("delivery {}: bad state", r.id)))?,
                    attempts: r.attempts,
                    next_attempt_at: r.next_attempt_at,
                    delivered_at: r.delivered_at,
                    log: attempts
                        .iter()
                        .filter(|a| a.delivery_id == r.id)
                        .map(|a| DeliveryAttempt {
                            attempt: a.attempt,
                            at: a.at,
                            status: a.status,
                            error: a.error.clone(),
                            duration_ms: a.duration_ms,
                        })
                        .collect(),
                })
            },
        )
    }
}
