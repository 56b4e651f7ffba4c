//! The end of a tenant's life, as callers see it: data exports (reversibility) and the
//! end-of-service state machine that ends in a destruction certificate.
//!
//! An export is asked for by the customer (accountable) and delivered by the provider
//! (responsible): a durable job copies the mailboxes into an archive, then a download link
//! that expires is published, and the customer acknowledges receipt. A termination carries
//! a tenant from `terminating` (the export window) through the destruction of its
//! configuration and of its data to `closed`, where a tombstone keeps the ids, the dates and
//! the certificate.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{ExportId, HoldId, MailboxId, Party, TenantId, TerminationId};

/// The format of an export, chosen by the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// One mboxrd file holding every exported mailbox's messages.
    Mbox,
    /// A zip of one `.eml` file per message, by mailbox, with `manifest.json`.
    EmlZip,
}

impl ExportFormat {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Mbox => "mbox",
            ExportFormat::EmlZip => "eml-zip",
        }
    }

    /// Reads a stored string.
    pub fn parse(s: &str) -> Option<ExportFormat> {
        match s {
            "mbox" => Some(ExportFormat::Mbox),
            "eml-zip" => Some(ExportFormat::EmlZip),
            _ => None,
        }
    }

    /// The media type of the download.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Mbox => "application/mbox",
            ExportFormat::EmlZip => "application/zip",
        }
    }

    /// The file name extension of the download.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Mbox => "mbox",
            ExportFormat::EmlZip => "zip",
        }
    }
}

/// What an export contains: counts and bytes per mailbox, and a SHA-256 per file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportManifest {
    /// The archive's format.
    pub format: ExportFormat,
    /// How many messages it holds.
    pub messages: u64,
    /// The sum of the messages' sizes, as imported.
    pub bytes: u64,
    /// Each exported mailbox.
    pub mailboxes: Vec<ManifestMailbox>,
    /// Each file inside the archive (each `.eml`, or the one mbox file).
    pub files: Vec<ManifestFile>,
    /// The download itself; absent from the copy inside the archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ManifestFile>,
}

/// One mailbox in an export manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManifestMailbox {
    /// The mailbox.
    pub mailbox_id: MailboxId,
    /// Its primary address.
    pub address: String,
    /// How many messages were exported.
    pub messages: u64,
    /// Their size in bytes.
    pub bytes: u64,
}

/// One file in an export manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManifestFile {
    /// Its path inside the archive (or the download's file name).
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// Where an export is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExportState {
    /// Asked for; the job has not finished copying the mailboxes.
    Preparing,
    /// The archive is ready and its link is valid.
    Ready,
    /// The customer acknowledged receipt.
    Acknowledged,
    /// The link expired before an acknowledgement; the archive was removed.
    Expired,
}

impl ExportState {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportState::Preparing => "preparing",
            ExportState::Ready => "ready",
            ExportState::Acknowledged => "acknowledged",
            ExportState::Expired => "expired",
        }
    }

    /// Reads a stored string.
    pub fn parse(s: &str) -> Option<ExportState> {
        match s {
            "preparing" => Some(ExportState::Preparing),
            "ready" => Some(ExportState::Ready),
            "acknowledged" => Some(ExportState::Acknowledged),
            "expired" => Some(ExportState::Expired),
            _ => None,
        }
    }
}

/// An export of a mailbox or of a whole tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Export {
    /// The export's id.
    pub id: ExportId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The one mailbox exported; absent for the whole tenant.
    pub mailbox_id: Option<MailboxId>,
    /// The format the customer chose.
    pub format: ExportFormat,
    /// Where it is.
    pub state: ExportState,
    /// Who asked for it.
    pub requested_by: String,
    /// The party that asked.
    pub requested_by_party: Party,
    /// When it was asked for.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the archive was ready.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ready_at: Option<OffsetDateTime>,
    /// When the download link stops working and the archive is removed.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// The download link (path and token), while it is valid.
    pub download_url: Option<String>,
    /// What the archive holds, once ready.
    pub manifest: Option<ExportManifest>,
    /// When the customer acknowledged receipt.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub acknowledged_at: Option<OffsetDateTime>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
}

/// Where a tenant is on its way out of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TerminationState {
    /// The contract is terminated; the export window is open and the customer may cancel.
    Terminating,
    /// A legal hold or a locked retention policy stops the destruction until it is released
    /// or satisfied.
    Blocked,
    /// Domains, mailboxes, groups, credentials and webhooks are removed.
    ConfigurationDestroyed,
    /// The data is cryptographically erased and the certificate issued; files may still be
    /// being removed.
    DataDestroyed,
    /// Every file is gone; a tombstone remains.
    Closed,
    /// The customer cancelled during the export window.
    Cancelled,
}

impl TerminationState {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            TerminationState::Terminating => "terminating",
            TerminationState::Blocked => "blocked",
            TerminationState::ConfigurationDestroyed => "configuration_destroyed",
            TerminationState::DataDestroyed => "data_destroyed",
            TerminationState::Closed => "closed",
            TerminationState::Cancelled => "cancelled",
        }
    }

    /// Reads a stored string.
    pub fn parse(s: &str) -> Option<TerminationState> {
        [
            TerminationState::Terminating,
            TerminationState::Blocked,
            TerminationState::ConfigurationDestroyed,
            TerminationState::DataDestroyed,
            TerminationState::Closed,
            TerminationState::Cancelled,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// What stops a termination at `blocked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TerminationBlock {
    /// `legal_hold` or `locked_retention`.
    pub kind: String,
    /// The hold's id, for a hold.
    pub hold_id: Option<HoldId>,
    /// What it is and how to lift it.
    pub reason: String,
}

/// A tenant's end of service, step by step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Termination {
    /// The termination's id.
    pub id: TerminationId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// Where it is.
    pub state: TerminationState,
    /// Who terminated the contract.
    pub requested_by: String,
    /// Why the contract was ended for cause (`contract.end`), by the provider, a partner or
    /// the dunning ladder; absent when the customer terminated it (`contract.terminate`).
    pub cause: Option<crate::suspensions::SuspensionReason>,
    /// What the party that ended it for cause wrote, if anything.
    pub cause_note: Option<String>,
    /// The party that terminated it.
    pub requested_by_party: Party,
    /// When the contract was terminated.
    #[serde(with = "time::serde::rfc3339")]
    pub terminated_at: OffsetDateTime,
    /// The export window, in days.
    pub export_window_days: u32,
    /// When the export window closes and destruction may begin.
    #[serde(with = "time::serde::rfc3339")]
    pub window_ends_at: OffsetDateTime,
    /// What blocks it, when blocked.
    pub blocked_by: Vec<TerminationBlock>,
    /// When it was cancelled.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub cancelled_at: Option<OffsetDateTime>,
    /// When the configuration was destroyed.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub configuration_destroyed_at: Option<OffsetDateTime>,
    /// When the data keys were destroyed and the data certified unreadable.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub data_destroyed_at: Option<OffsetDateTime>,
    /// When the last file was removed.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub files_removed_at: Option<OffsetDateTime>,
    /// When the tombstone was written.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// The signed destruction certificate (a JSON document), once issued.
    pub certificate: Option<serde_json::Value>,
}

/// Where a tenant's move to another region is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RelocationState {
    /// Every mailbox is being copied to the new region's store; mail still arrives at the
    /// old one.
    Copying,
    /// The copy is done; the tenant's region (and so its mail routing) changes next.
    Switching,
    /// The region has changed: mail the old store accepted just before is copied over, and
    /// the copy is checked message by message.
    CatchingUp,
    /// The copy is complete: the old copy of each mailbox is being destroyed.
    Erasing,
    /// The move is finished: all the tenant's mail is in the new region.
    Done,
}

/// A tenant's move between regions, or between two mail back ends of its region: its mail is
/// copied to the new region's store (back end), its
/// routing switched, mail that arrived meanwhile caught up, then the old copy destroyed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Relocation {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The region it leaves (absent for a tenant placed before the catalogue existed).
    pub from: Option<String>,
    /// The region it moves to.
    pub to: String,
    /// The mail back end it leaves, when its region has several (or it was placed on one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_backend: Option<String>,
    /// The mail back end it moves to, when the new region has several (or one was asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_backend: Option<String>,
    /// Where the move is.
    pub state: RelocationState,
    /// The mailboxes copied by the last copy or catch-up.
    pub mailboxes: u64,
    /// Messages the new region held of the tenant after the last copy.
    pub copied_messages: u64,
    /// Messages of the old copy not yet found at the new region, at the last check.
    pub missing_messages: u64,
    /// Old copies of mailboxes destroyed.
    pub erased_mailboxes: u64,
    /// When the tenant's region changed.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub switched_at: Option<OffsetDateTime>,
    /// Why the last step failed (it is tried again), if it did.
    pub last_error: Option<String>,
}
