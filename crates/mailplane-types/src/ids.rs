//! Typed identifiers: one UUID newtype per kind of resource.
//!
//! A `TenantId` can never be passed where a `MailboxId` is expected. New ids are UUID v7, so
//! they sort by creation time, which keeps keyset pagination and B-tree inserts cheap.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered (v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The underlying UUID.
            pub fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

typed_id!(
    /// Identifies a partner (reseller) organisation.
    PartnerId
);
typed_id!(
    /// Identifies a tenant: one customer organisation.
    TenantId
);
typed_id!(
    /// Identifies a domain of a tenant.
    DomainId
);
typed_id!(
    /// Identifies a mailbox of a tenant.
    MailboxId
);
typed_id!(
    /// Identifies one row of the audit log.
    AuditId
);
typed_id!(
    /// Identifies an alias: an extra address of a mailbox.
    AliasId
);
typed_id!(
    /// Identifies a distribution group.
    GroupId
);
typed_id!(
    /// Identifies a tenant's subscription to one licence (SKU) of the catalogue.
    SubscriptionId
);
typed_id!(
    /// Identifies a customer-managed API credential.
    CredentialId
);
typed_id!(
    /// Identifies a legal hold.
    HoldId
);
typed_id!(
    /// Identifies a suspension of a tenant or a mailbox.
    SuspensionId
);
typed_id!(
    /// Identifies what one retention sweep did to one mailbox.
    RetentionRunId
);
typed_id!(
    /// Identifies a request, a proposal or a consultation between the parties.
    RequestId
);
typed_id!(
    /// Identifies an incident ticket.
    TicketId
);
typed_id!(
    /// Identifies a webhook an organisation registered.
    WebhookId
);
typed_id!(
    /// Identifies one event's delivery to one webhook.
    DeliveryId
);
typed_id!(
    /// Identifies one event of the feed.
    EventId
);
typed_id!(
    /// Identifies an export of a mailbox or of a whole tenant.
    ExportId
);
typed_id!(
    /// Identifies a tenant's end of service.
    TerminationId
);
typed_id!(
    /// Identifies a background job.
    JobId
);
typed_id!(
    /// Identifies a batch of mailboxes created in one call.
    BatchId
);

/// The organisation a principal belongs to: the provider itself, a partner, or a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrgId {
    /// The provider running this deployment.
    Provider,
    /// A partner organisation.
    Partner(PartnerId),
    /// A customer tenant.
    Tenant(TenantId),
}

impl FromStr for OrgId {
    type Err = String;

    /// Parses the stored form printed by `Display`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not `provider`, `partner:<uuid>` or `tenant:<uuid>`");
        match s.split_once(':') {
            None if s == "provider" => Ok(OrgId::Provider),
            Some(("partner", id)) => id.parse().map(OrgId::Partner).map_err(|_| bad()),
            Some(("tenant", id)) => id.parse().map(OrgId::Tenant).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for OrgId {
    /// Prints `provider`, `partner:<uuid>` or `tenant:<uuid>`: the form stored in audit rows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrgId::Provider => f.write_str("provider"),
            OrgId::Partner(p) => write!(f, "partner:{p}"),
            OrgId::Tenant(t) => write!(f, "tenant:{t}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every typed id is a bare UUID string on the wire, in both directions, so typing an id
    /// never changes what callers send or receive.
    #[test]
    fn typed_ids_are_bare_uuid_strings_on_the_wire() {
        let raw = "0190f2a4-5b6c-7d8e-9f00-112233445566";
        let uuid = Uuid::parse_str(raw).unwrap();
        macro_rules! check {
            ($($t:ident),+) => {$(
                let id: $t = serde_json::from_str(&format!("\"{raw}\"")).unwrap();
                assert_eq!(id.uuid(), uuid, stringify!($t));
                assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{raw}\""));
                assert_eq!(raw.parse::<$t>().unwrap(), id, stringify!($t));
                assert!("42".parse::<$t>().is_err(), stringify!($t));
            )+};
        }
        check!(
            PartnerId,
            TenantId,
            DomainId,
            MailboxId,
            AuditId,
            AliasId,
            GroupId,
            SubscriptionId,
            CredentialId,
            HoldId,
            SuspensionId,
            RetentionRunId,
            RequestId,
            TicketId,
            WebhookId,
            DeliveryId,
            EventId,
            ExportId,
            TerminationId,
            JobId,
            BatchId
        );
    }
}
