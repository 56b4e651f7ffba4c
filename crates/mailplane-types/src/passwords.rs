//! The password policy a provider or tenant sets, and what a caller learns about a password
//! once it is set.
//!
//! This module exists so that the library, the store and the HTTP layer agree on the shape
//! of a password policy and of a password's status without any of them owning the other's
//! types. It is plain data: checking a password against a policy, hashing and verifying live
//! in the `mailplane` crate. Nothing here ever holds a password or a password hash.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The shortest minimum length a policy may require.
const MIN_LENGTH_FLOOR: u32 = 8;
/// The longest minimum length a policy may require.
const MIN_LENGTH_CEILING: u32 = 128;
/// The longest maximum age a policy may set, in days (about ten years).
const MAX_AGE_CEILING: u32 = 3650;
/// The deepest password history a policy may keep.
const HISTORY_CEILING: u32 = 24;

/// The rules a new password must follow, and how long a password may be kept.
///
/// Every field has a default, so a partial JSON object (`{"min_length": 16}`) fills in the
/// rest from [`PasswordPolicy::default`]; unknown fields are refused so that a misspelt rule
/// is noticed rather than silently ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicy {
    /// The fewest characters (Unicode scalar values) a password may have, from 8 to 128.
    #[serde(default = "default_min_length")]
    pub min_length: u32,
    /// Whether a password must contain a lower-case letter.
    #[serde(default = "yes")]
    pub require_lowercase: bool,
    /// Whether a password must contain an upper-case letter.
    #[serde(default = "yes")]
    pub require_uppercase: bool,
    /// Whether a password must contain a digit.
    #[serde(default = "yes")]
    pub require_digit: bool,
    /// Whether a password must contain a symbol: a character that is neither a letter, nor a
    /// digit, nor a control character (a space counts).
    #[serde(default = "no")]
    pub require_symbol: bool,
    /// How many days a password may be kept before it must be changed, from 1 to 3650; none
    /// means it never expires.
    #[serde(default = "default_max_age_days")]
    pub max_age_days: Option<u32>,
    /// How many previous passwords, the current one included, a new password may not repeat,
    /// from 0 to 24; zero allows any reuse.
    #[serde(default = "default_history_depth")]
    pub history_depth: u32,
}

impl Default for PasswordPolicy {
    /// Twelve characters with lower-case, upper-case and digits, changed every 90 days (the
    /// hosted-Exchange norm), and none of the last five passwords reused.
    fn default() -> Self {
        PasswordPolicy {
            min_length: default_min_length(),
            require_lowercase: yes(),
            require_uppercase: yes(),
            require_digit: yes(),
            require_symbol: no(),
            max_age_days: default_max_age_days(),
            history_depth: default_history_depth(),
        }
    }
}

impl PasswordPolicy {
    /// The rules this policy itself breaks, as pairs of the field's name and the rule, in
    /// field order; empty when the policy is usable.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if !(MIN_LENGTH_FLOOR..=MIN_LENGTH_CEILING).contains(&self.min_length) {
            problems.push((
                "min_length",
                format!("must be between {MIN_LENGTH_FLOOR} and {MIN_LENGTH_CEILING}"),
            ));
        }
        if let Some(days) = self.max_age_days
            && !(1..=MAX_AGE_CEILING).contains(&days)
        {
            problems.push((
                "max_age_days",
                format!("must be between 1 and {MAX_AGE_CEILING} when set"),
            ));
        }
        if self.history_depth > HISTORY_CEILING {
            problems.push((
                "history_depth",
                format!("must be between 0 and {HISTORY_CEILING}"),
            ));
        }
        problems
    }
}

/// What a caller learns about a password after setting it: when it was set and when it must
/// be changed. It never carries the password or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordStatus {
    /// When the password was set.
    #[serde(with = "time::serde::rfc3339")]
    pub set_at: OffsetDateTime,
    /// When the password must be changed by; absent when the policy sets no maximum age.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub rotation_due_at: Option<OffsetDateTime>,
    /// Whether that moment has come: the password must be changed now.
    pub rotation_due: bool,
}

/// Whether a mailbox signs in to the mail servers (IMAP, SMTP submission) now, and if not,
/// why. The mail stack's password lookup and the API answer from the same rule, so what the
/// API says is what Dovecot does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignIn {
    /// Whether the mailbox's password signs in now.
    pub allowed: bool,
    /// Why it does not, when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<SignInRefusal>,
    /// The reason in a sentence, as the mail server tells a client that gave the right
    /// password; absent when sign-in is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why a mailbox does not sign in. When several hold, the first in this order is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SignInRefusal {
    /// The tenant's contract ended and its configuration was destroyed.
    TenantTerminated,
    /// The provider suspended the tenant; its mail is still delivered.
    TenantSuspended,
    /// The mailbox itself is suspended; its mail is still delivered.
    MailboxSuspended,
    /// A shared mailbox has no sign-in of its own; people reach it from their own mailbox.
    SharedMailbox,
    /// The mailbox is disabled; its mail is still delivered.
    MailboxDisabled,
    /// The mailbox was deleted and may still be restored; it receives no mail.
    MailboxDeleted,
    /// The mailbox was deleted under a legal hold and is kept, inactive; it receives no mail.
    MailboxInactive,
    /// No password was ever set.
    NoPassword,
    /// The password is older than the tenant's policy allows and must be changed.
    PasswordExpired,
}

impl SignInRefusal {
    /// The reason in a sentence, for the client of a mail server and for the API.
    pub fn reason(self) -> &'static str {
        match self {
            SignInRefusal::TenantTerminated => "this organisation's service has ended",
            SignInRefusal::TenantSuspended => {
                "this organisation's service is suspended; mail is still received"
            }
            SignInRefusal::MailboxSuspended => "this mailbox is suspended; mail is still received",
            SignInRefusal::SharedMailbox => {
                "a shared mailbox has no sign-in of its own; open it from your own mailbox"
            }
            SignInRefusal::MailboxDisabled => "this mailbox is disabled; mail is still received",
            SignInRefusal::MailboxDeleted => {
                "this mailbox was deleted; an administrator may still restore it"
            }
            SignInRefusal::MailboxInactive => {
                "this mailbox was deleted and is kept under a legal hold; it receives no mail"
            }
            SignInRefusal::NoPassword => "no password was set for this mailbox",
            SignInRefusal::PasswordExpired => {
                "the password is older than the policy allows; set a new one through your administrator"
            }
        }
    }
}

impl SignIn {
    /// Sign-in is allowed.
    pub fn allowed() -> SignIn {
        SignIn {
            allowed: true,
            refused: None,
            reason: None,
        }
    }

    /// Sign-in is refused for `why`.
    pub fn refused(why: SignInRefusal) -> SignIn {
        SignIn {
            allowed: false,
            refused: Some(why),
            reason: Some(why.reason().to_owned()),
        }
    }
}

fn default_min_length() -> u32 {
    12
}

fn default_max_age_days() -> Option<u32> {
    Some(90)
}

fn default_history_depth() -> u32 {
    5
}

fn yes() -> bool {
    true
}

fn no() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_usable() {
        let policy = PasswordPolicy::default();
        assert_eq!(policy.min_length, 12);
        assert!(policy.require_lowercase && policy.require_uppercase && policy.require_digit);
        assert!(!policy.require_symbol);
        assert_eq!(policy.max_age_days, Some(90));
        assert_eq!(policy.history_depth, 5);
        assert!(policy.problems().is_empty());
    }

    #[test]
    fn out_of_range_values_are_problems() {
        let policy = PasswordPolicy {
            min_length: 7,
            max_age_days: Some(0),
            history_depth: 25,
            ..PasswordPolicy::default()
        };
        let fields: Vec<&str> = policy.problems().iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["min_length", "max_age_days", "history_depth"]);

        let policy = PasswordPolicy {
            min_length: 129,
            max_age_days: Some(3651),
            ..PasswordPolicy::default()
        };
        let fields: Vec<&str> = policy.problems().iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["min_length", "max_age_days"]);
    }

    #[test]
    fn the_edges_of_each_range_are_accepted() {
        for (min_length, max_age_days, history_depth) in
            [(8, Some(1), 0), (128, Some(3650), 24), (12, None, 5)]
        {
            let policy = PasswordPolicy {
                min_length,
                max_age_days,
                history_depth,
                ..PasswordPolicy::default()
            };
            assert!(policy.problems().is_empty(), "{policy:?}");
        }
    }

    #[test]
    fn a_partial_policy_takes_the_other_defaults() {
        let policy: PasswordPolicy =
            serde_json::from_str(r#"{"min_length": 16}"#).expect("a partial policy deserialises");
        assert_eq!(
            policy,
            PasswordPolicy {
                min_length: 16,
                ..PasswordPolicy::default()
            }
        );
        let empty: PasswordPolicy = serde_json::from_str("{}").expect("an empty policy");
        assert_eq!(empty, PasswordPolicy::default());
        let unlimited: PasswordPolicy =
            serde_json::from_str(r#"{"max_age_days": null}"#).expect("no maximum age");
        assert_eq!(unlimited.max_age_days, None);
    }

    #[test]
    fn unknown_policy_fields_are_refused() {
        let result = serde_json::from_str::<PasswordPolicy>(r#"{"min_lenght": 16}"#);
        assert!(result.is_err());
    }

    #[test]
    fn a_status_round_trips_as_rfc3339() {
        let status = PasswordStatus {
            set_at: time::macros::datetime!(2025-01-01 00:00 UTC),
            rotation_due_at: None,
            rotation_due: false,
        };
        let json = serde_json::to_value(&status).expect("a status serialises");
        assert_eq!(json["set_at"], "2025-01-01T00:00:00Z");
        assert!(json["rotation_due_at"].is_null());
        let back: PasswordStatus = serde_json::from_value(json).expect("and deserialises");
        assert_eq!(back, status);
    }
}
