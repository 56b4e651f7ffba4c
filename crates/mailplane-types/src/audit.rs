//! What an audit row and its event say was changed and what happened to it: the audit
//! target (`mailbox`) and the audit outcome (`created`), as enums with one spelling each.
//!
//! Both are persisted (the `target_kind` and `outcome` columns of `audit_log` and `events`)
//! and shown to every party, so each value has exactly one spelling, written by
//! [`AuditTarget::as_str`] and [`AuditOutcome::as_str`]. Rows already stored keep the
//! spelling they were written with (the audit chain hashes it), so [`FromStr`] also reads
//! every spelling ever written: two outcomes of the termination job were first written with
//! a space (`configuration destroyed`, `data destroyed`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::Error;
use crate::resources::RequestState;

/// Declares a persisted enum: its variants with their one spelling (which must be the
/// variant's name in snake case, as serde writes it; a test checks) and the older spellings
/// it still reads.
macro_rules! spelled {
    (
        $(#[$doc:meta])*
        $name:ident ($what:literal) {
            $( $(#[$vdoc:meta])* $variant:ident = $spelling:literal $(| $old:literal)*, )+
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vdoc])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The one spelling written to the database and shown to callers.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $spelling, )+
                }
            }
        }

        impl FromStr for $name {
            type Err = Error;

            /// Reads the current spelling, or an older one still found in stored rows.
            fn from_str(s: &str) -> Result<Self, Error> {
                match s {
                    $( $spelling $(| $old)* => Ok($name::$variant), )+
                    other => Err(Error::internal(unknown(other, $what))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        // Read as stored: older spellings are accepted here too.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse()
                    .map_err(|_| serde::de::Error::custom(unknown(&s, $what)))
            }
        }
    };
}

/// The sentence of an unknown spelling: an internal error (the code writes only known
/// ones), which names it for the log.
fn unknown(spelling: &str, what: &str) -> String {
    format!("`{spelling}` is not a known {what}")
}

spelled! {
    /// The kind of object a change touched.
    AuditTarget ("audit target") {
        /// A partner organisation.
        Partner = "partner",
        /// A tenant.
        Tenant = "tenant",
        /// A domain of a tenant.
        Domain = "domain",
        /// A mailbox (also its licence, forwarding and password).
        Mailbox = "mailbox",
        /// A batch of mailboxes created in one call.
        MailboxBatch = "mailbox_batch",
        /// An alias.
        Alias = "alias",
        /// A group.
        Group = "group",
        /// A licence subscription.
        Subscription = "subscription",
        /// A tenant's retention policy.
        Retention = "retention",
        /// A legal hold.
        LegalHold = "legal_hold",
        /// A suspension of a tenant or a mailbox.
        Suspension = "suspension",
        /// A customer-managed API credential.
        Credential = "credential",
        /// A request, proposal or consultation.
        Request = "request",
        /// An incident ticket.
        Ticket = "ticket",
        /// An export of a tenant's data.
        Export = "export",
        /// A tenant's termination.
        Termination = "termination",
        /// A webhook.
        Webhook = "webhook",
    }
}

spelled! {
    /// What happened to the object a change touched.
    AuditOutcome ("audit outcome") {
        /// Created.
        Created = "created",
        /// Changed.
        Updated = "updated",
        /// Deleted.
        Deleted = "deleted",
        /// A tenant placed in a region; a legal hold placed.
        Placed = "placed",
        /// A domain's ownership proven.
        Verified = "verified",
        /// A tenant bound to another profile.
        Rebound = "rebound",
        /// A tenant moved to another region.
        Relocated = "relocated",
        /// A tenant's offer changed.
        OfferChanged = "offer_changed",
        /// A tenant's password policy set.
        PasswordPolicySet = "password_policy_set",
        /// A mailbox's password set.
        PasswordSet = "password_set",
        /// A mailbox's forwarding set.
        ForwardingSet = "forwarding_set",
        /// A mailbox's forwarding cleared.
        ForwardingCleared = "forwarding_cleared",
        /// A member added to a group.
        MemberAdded = "member_added",
        /// A member removed from a group.
        MemberRemoved = "member_removed",
        /// A subscription's seats changed.
        SeatsChanged = "seats_changed",
        /// A licence assigned to a mailbox.
        LicenceAssigned = "licence_assigned",
        /// A licence taken from a mailbox.
        LicenceUnassigned = "licence_unassigned",
        /// A retention policy set.
        Set = "set",
        /// A legal hold released.
        Released = "released",
        /// A suspension lifted.
        Lifted = "lifted",
        /// A credential revoked.
        Revoked = "revoked",
        /// A ticket opened.
        Opened = "opened",
        /// A comment added to a ticket.
        Commented = "commented",
        /// A ticket qualified.
        Qualified = "qualified",
        /// A ticket being worked on.
        InProgress = "in_progress",
        /// A ticket resolved.
        Resolved = "resolved",
        /// A ticket closed.
        Closed = "closed",
        /// An export delivered (ready to download).
        Delivered = "delivered",
        /// An export's download acknowledged.
        Acknowledged = "acknowledged",
        /// A tenant's contract terminated.
        Terminated = "terminated",
        /// A termination, or a request, cancelled.
        Cancelled = "cancelled",
        /// A blocked termination resumed.
        Resumed = "resumed",
        /// A termination blocked (by locked retention or a legal hold).
        Blocked = "blocked",
        /// A tenant's configuration destroyed at end of service.
        ConfigurationDestroyed = "configuration_destroyed" | "configuration destroyed",
        /// A tenant's data destroyed at end of service.
        DataDestroyed = "data_destroyed" | "data destroyed",
        /// An activity requested of the responsible party.
        Requested = "requested",
        /// An activity proposed to the accountable party.
        Proposed = "proposed",
        /// An activity waiting for the consulted parties.
        Consulting = "consulting",
        /// A consulted party consented.
        Consented = "consented",
        /// A consulted party objected.
        Objected = "objected",
        /// A request fulfilled (or a consultation closed and carried out).
        Fulfilled = "fulfilled",
        /// A request declined.
        Declined = "declined",
        /// A request or proposal not decided before its deadline.
        Expired = "expired",
        /// A proposal approved.
        Approved = "approved",
        /// A proposal rejected.
        Rejected = "rejected",
        /// A deleted mailbox restored inside its undelete window.
        Restored = "restored",
        /// A mailbox deleted under a legal hold, kept inactive.
        Inactivated = "inactivated",
        /// A deleted mailbox's data destroyed when its undelete window closed.
        Purged = "purged",
    }
}

impl RequestState {
    /// The audit outcome of a request's move into this state, spelled as the state. A request
    /// is filed pending (audited as requested, proposed or consulting) and never moves back
    /// to it, so that move has none.
    pub fn audit_outcome(self) -> Option<AuditOutcome> {
        match self {
            RequestState::Pending => None,
            RequestState::Fulfilled => Some(AuditOutcome::Fulfilled),
            RequestState::Declined => Some(AuditOutcome::Declined),
            RequestState::Cancelled => Some(AuditOutcome::Cancelled),
            RequestState::Expired => Some(AuditOutcome::Expired),
            RequestState::Approved => Some(AuditOutcome::Approved),
            RequestState::Rejected => Some(AuditOutcome::Rejected),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one spelling is serde's and `as_str`'s alike, and reads back.
    #[test]
    fn one_spelling_each() {
        for t in AuditTarget::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str(), "{t:?}");
            assert_eq!(t.as_str().parse::<AuditTarget>().unwrap(), *t);
        }
        for o in AuditOutcome::ALL {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str(), "{o:?}");
            assert_eq!(o.as_str().parse::<AuditOutcome>().unwrap(), *o);
            let back: AuditOutcome = serde_json::from_value(o.as_str().into()).unwrap();
            assert_eq!(back, *o);
        }
    }

    /// Every spelling ever written by a release (collected from the code's string literals
    /// and its history; the migrations write no audit rows) still reads.
    #[test]
    fn stored_spellings_still_read() {
        let targets = [
            "partner",
            "tenant",
            "domain",
            "mailbox",
            "mailbox_batch",
            "alias",
            "group",
            "subscription",
            "retention",
            "legal_hold",
            "suspension",
            "credential",
            "request",
            "ticket",
            "export",
            "termination",
            "webhook",
        ];
        for s in targets {
            s.parse::<AuditTarget>().unwrap();
        }
        let outcomes = [
            ("created", AuditOutcome::Created),
            ("updated", AuditOutcome::Updated),
            ("deleted", AuditOutcome::Deleted),
            ("placed", AuditOutcome::Placed),
            ("verified", AuditOutcome::Verified),
            ("rebound", AuditOutcome::Rebound),
            ("relocated", AuditOutcome::Relocated),
            ("offer_changed", AuditOutcome::OfferChanged),
            ("password_policy_set", AuditOutcome::PasswordPolicySet),
            ("password_set", AuditOutcome::PasswordSet),
            ("forwarding_set", AuditOutcome::ForwardingSet),
            ("forwarding_cleared", AuditOutcome::ForwardingCleared),
            ("member_added", AuditOutcome::MemberAdded),
            ("member_removed", AuditOutcome::MemberRemoved),
            ("seats_changed", AuditOutcome::SeatsChanged),
            ("licence_assigned", AuditOutcome::LicenceAssigned),
            ("licence_unassigned", AuditOutcome::LicenceUnassigned),
            ("set", AuditOutcome::Set),
            ("released", AuditOutcome::Released),
            ("lifted", AuditOutcome::Lifted),
            ("revoked", AuditOutcome::Revoked),
            ("opened", AuditOutcome::Opened),
            ("commented", AuditOutcome::Commented),
            ("qualified", AuditOutcome::Qualified),
            ("in_progress", AuditOutcome::InProgress),
            ("resolved", AuditOutcome::Resolved),
            ("closed", AuditOutcome::Closed),
            ("delivered", AuditOutcome::Delivered),
            ("acknowledged", AuditOutcome::Acknowledged),
            ("terminated", AuditOutcome::Terminated),
            ("cancelled", AuditOutcome::Cancelled),
            ("resumed", AuditOutcome::Resumed),
            ("blocked", AuditOutcome::Blocked),
            (
                "configuration destroyed",
                AuditOutcome::ConfigurationDestroyed,
            ),
            ("data destroyed", AuditOutcome::DataDestroyed),
            ("requested", AuditOutcome::Requested),
            ("proposed", AuditOutcome::Proposed),
            ("consulting", AuditOutcome::Consulting),
            ("consented", AuditOutcome::Consented),
            ("objected", AuditOutcome::Objected),
            ("fulfilled", AuditOutcome::Fulfilled),
            ("declined", AuditOutcome::Declined),
            ("expired", AuditOutcome::Expired),
            ("approved", AuditOutcome::Approved),
            ("rejected", AuditOutcome::Rejected),
        ];
        for (stored, outcome) in outcomes {
            assert_eq!(stored.parse::<AuditOutcome>().unwrap(), outcome, "{stored}");
            let read: AuditOutcome = serde_json::from_value(stored.into()).unwrap();
            assert_eq!(read, outcome, "{stored}");
        }
        // The old spellings with a space are read, never written.
        assert_eq!(
            AuditOutcome::ConfigurationDestroyed.as_str(),
            "configuration_destroyed"
        );
        assert_eq!(AuditOutcome::DataDestroyed.as_str(), "data_destroyed");
    }

    /// A request's move is audited with the spelling it was audited with as a string: the
    /// state's own.
    #[test]
    fn request_moves_keep_their_spelling() {
        for state in RequestState::ALL {
            match state.audit_outcome() {
                Some(outcome) => assert_eq!(outcome.as_str(), state.as_str()),
                None => assert_eq!(state, RequestState::Pending),
            }
        }
    }

    /// An unknown spelling is an error naming it, never a default.
    #[test]
    fn unknown_spelling_is_an_error() {
        let e = "destroyed".parse::<AuditOutcome>().unwrap_err();
        assert!(format!("{e:?}").contains("`destroyed`"), "{e:?}");
        let e = serde_json::from_value::<AuditOutcome>("destroyed".into()).unwrap_err();
        assert!(
            e.to_string()
                .contains("`destroyed` is not a known audit outcome"),
            "{e}"
        );
        assert!("mailboxes".parse::<AuditTarget>().is_err());
    }
}
