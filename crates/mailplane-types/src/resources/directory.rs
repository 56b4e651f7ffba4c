//! The directory of a tenant beside its mailboxes: aliases and distribution groups.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AliasId, DomainId, EmailAddress, GroupId, MailboxId, TenantId};

/// An extra address of a mailbox, on a verified domain of the same tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alias {
    /// The alias's id.
    pub id: AliasId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The mailbox that receives its mail.
    pub mailbox_id: MailboxId,
    /// The domain of the address.
    pub domain_id: DomainId,
    /// The address, unique across mailboxes, aliases and groups on the platform.
    pub address: EmailAddress,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A distribution group: mail to its address goes to every member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Group {
    /// The group's id.
    pub id: GroupId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The domain of the address.
    pub domain_id: DomainId,
    /// The address, unique across mailboxes, aliases and groups on the platform.
    pub address: EmailAddress,
    /// The name shown to correspondents.
    pub display_name: String,
    /// The members, mailboxes first.
    pub members: Vec<GroupMember>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it or its membership last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A member of a group: a mailbox of the tenant, or an external address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupMember {
    /// The mailbox, when the member is one of the tenant's.
    pub mailbox_id: Option<MailboxId>,
    /// The member's address (the mailbox's, or the external one).
    pub address: EmailAddress,
}
