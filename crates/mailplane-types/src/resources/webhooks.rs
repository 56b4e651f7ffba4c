//! Webhooks and their deliveries.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{DeliveryId, EventId, WebhookId};

/// A URL an organisation registered to receive its events. The secret that signs the
/// deliveries is shown once, when the webhook is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    /// The webhook's id.
    pub id: WebhookId,
    /// The organisation whose events it receives (`provider`, `partner:<id>`, `tenant:<id>`).
    pub org: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Whether deliveries are made.
    pub active: bool,
    /// When it was registered; it receives the events written after this.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet; the next attempt is due at `next_attempt_at`.
    Pending,
    /// The receiver answered with a 2xx status.
    Delivered,
    /// Every attempt failed; kept in the log.
    Failed,
}

impl DeliveryState {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<DeliveryState> {
        match s {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// One try of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryAttempt {
    /// 1 for the first try.
    pub attempt: i32,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i32>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
}

/// One event on its way to one webhook, with every attempt so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    /// The delivery's id (the `Mailplane-Delivery` header).
    pub id: DeliveryId,
    /// The webhook.
    pub webhook_id: WebhookId,
    /// The event's position in the feed.
    pub event_seq: i64,
    /// The event's id (the `Mailplane-Event` header): receivers deduplicate on it.
    pub event_id: EventId,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due, while pending.
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    /// When the receiver accepted it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    /// Every attempt, oldest first.
    pub log: Vec<DeliveryAttempt>,
}

/// A webhook as registered, with its signing secret: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookCreated {
    /// The webhook.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The HMAC-SHA256 key of the `Mailplane-Signature` header. Keep it: it is not shown
    /// again.
    pub secret: String,
}
