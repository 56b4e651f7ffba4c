//! A mailbox of a tenant, its state and its kind.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{DomainId, EmailAddress, MailboxId, TenantId};

/// The state of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MailboxStatus {
    /// Receives and sends mail.
    Enabled,
    /// Kept and still receiving mail, but nobody signs in to it (so it sends nothing).
    Disabled,
    /// Deleted, inside its undelete window: nobody signs in, mail to it is refused as to an
    /// unknown address, its address stays reserved and its data is kept until the window
    /// closes; the directory's administrator can restore it until then.
    Deleted,
    /// Deleted while under a legal hold: nobody signs in, it receives no mail and takes no
    /// seat, and its data is kept until every hold on it is released; then it is `deleted`.
    Inactive,
}

impl MailboxStatus {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxStatus::Enabled => "enabled",
            MailboxStatus::Disabled => "disabled",
            MailboxStatus::Deleted => "deleted",
            MailboxStatus::Inactive => "inactive",
        }
    }

    /// Whether the mailbox was deleted (inside its undelete window, or kept under a hold):
    /// then it signs nobody in, receives nothing and takes no seat.
    pub fn is_deleted(self) -> bool {
        matches!(self, MailboxStatus::Deleted | MailboxStatus::Inactive)
    }

    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<MailboxStatus> {
        match s {
            "enabled" => Some(MailboxStatus::Enabled),
            "disabled" => Some(MailboxStatus::Disabled),
            "deleted" => Some(MailboxStatus::Deleted),
            "inactive" => Some(MailboxStatus::Inactive),
            _ => None,
        }
    }
}

/// A mailbox of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mailbox {
    /// The mailbox's id.
    pub id: MailboxId,
    /// The tenant that owns it.
    pub tenant_id: TenantId,
    /// The domain of its address (a domain of the same tenant).
    pub domain_id: DomainId,
    /// The full address, unique across the platform.
    pub address: EmailAddress,
    /// The name shown to correspondents.
    pub display_name: String,
    /// The storage quota in bytes.
    pub quota_bytes: i64,
    /// Whether it is in use.
    pub status: MailboxStatus,
    /// A person's mailbox, or a shared one (no licence, no sign-in of its own).
    pub kind: MailboxKind,
    /// Where mail to this mailbox is forwarded, if anywhere (used while migrating in).
    pub forward_to: Option<EmailAddress>,
    /// When its password was last set, if ever.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub password_set_at: Option<OffsetDateTime>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Whose mailbox it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MailboxKind {
    /// A person's mailbox: it needs a licence when the offer says so, and signs in with a
    /// password.
    User,
    /// A mailbox several people use (a team's inbox): no licence and no sign-in of its own.
    Shared,
}

impl MailboxKind {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxKind::User => "user",
            MailboxKind::Shared => "shared",
        }
    }

    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<MailboxKind> {
        match s {
            "user" => Some(MailboxKind::User),
            "shared" => Some(MailboxKind::Shared),
            _ => None,
        }
    }
}
