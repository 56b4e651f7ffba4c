//! The one transport-agnostic error type.
//!
//! Every crate returns [`Error`]. Each variant carries an external message that is safe to
//! show to any caller; [`Error::Internal`] also carries an internal cause that is logged and
//! never sent. The HTTP crate maps variants to status codes in one place.

use serde::Serialize;

use crate::{ActivityId, Letters, Party};

/// The result type used across Mailplane.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One invalid input: which field, and which rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The field, as a JSON pointer-like path (`name`, `address.domain`, `limit`).
    pub field: String,
    /// The rule the value broke, as a sentence fragment (`must not be empty`).
    pub rule: String,
}

/// Why a visible activity was refused: the activity, the caller and the letters of every party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refusal {
    /// The activity that was asked for.
    pub activity: ActivityId,
    /// The RACI profile (and version) that decided.
    pub profile: String,
    /// The caller's party.
    pub party: Party,
    /// The caller's roles.
    pub roles: Vec<String>,
    /// The letters the caller's roles let it exercise for this activity.
    pub exercisable: Letters,
    /// The letters each party holds for the activity in the profile.
    pub letters: Vec<PartyLetters>,
    /// A sentence saying why the decision is a refusal.
    pub reason: String,
}

/// The letters one party holds for an activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartyLetters {
    /// The party.
    pub party: Party,
    /// Its letters (empty when none).
    pub letters: Letters,
}

/// Everything that can go wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more inputs broke a rule; nothing was changed.
    #[error("invalid input: {}", describe_fields(.0))]
    Invalid(Vec<FieldError>),
    /// The caller did not prove who it is (missing, malformed, expired or untrusted token).
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The resource does not exist, or the caller may not see it: the two are indistinguishable.
    #[error("{kind} {id} not found")]
    NotFound {
        /// The kind of resource (`tenant`, `mailbox`).
        kind: &'static str,
        /// The id that was asked for.
        id: String,
    },
    /// The resource is visible but the caller's party may not perform the activity.
    #[error("forbidden: {}", .0.reason)]
    Forbidden(Box<Refusal>),
    /// The change conflicts with existing state (a duplicate address, a domain still in use).
    #[error("conflict: {message}")]
    Conflict {
        /// What conflicts, safe to show.
        message: String,
        /// The input field that caused the conflict, when there is one.
        field: Option<String>,
    },
    /// The input is well formed but cannot be processed as sent: an idempotency key reused
    /// with another body.
    #[error("unprocessable: `{field}` {message}")]
    Unprocessable {
        /// The input (field or header) at fault.
        field: String,
        /// Why, safe to show.
        message: String,
    },
    /// The input is larger than the limit (a message above the data plane's size limit).
    #[error("too large: `{field}` must be at most {limit} bytes")]
    TooLarge {
        /// The input at fault.
        field: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The resource existed but is gone for good: an export's download link past its
    /// expiry, an archive already removed.
    #[error("gone: {0}")]
    Gone(String),
    /// A condition the caller set on the change (`If-Match`) does not hold: the resource
    /// changed since the caller read it. Nothing was changed.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// The caller sent more requests than its rate allows; it may retry after the given
    /// number of seconds.
    #[error("too many requests: retry after {retry_after} s")]
    TooManyRequests {
        /// Seconds until a request will be accepted again.
        retry_after: u64,
    },
    /// A dependency (the database) is not reachable now; retrying may succeed.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A fault inside Mailplane. `message` may be shown; `cause` is for the log only.
    #[error("internal error: {message}")]
    Internal {
        /// Safe to show.
        message: String,
        /// Logged, never sent.
        cause: String,
    },
}

impl Error {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Error {
        Error::Invalid(vec![FieldError {
            field: field.into(),
            rule: rule.into(),
        }])
    }

    /// A resource that is absent or invisible to the caller.
    pub fn not_found(kind: &'static str, id: impl ToString) -> Error {
        Error::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    /// A conflict tied to an input field.
    pub fn conflict(field: Option<&str>, message: impl Into<String>) -> Error {
        Error::Conflict {
            message: message.into(),
            field: field.map(str::to_string),
        }
    }

    /// An internal fault with a cause for the log.
    pub fn internal(cause: impl ToString) -> Error {
        Error::Internal {
            message: "an internal error occurred; it has been logged".into(),
            cause: cause.to_string(),
        }
    }
}

fn describe_fields(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("`{}` {}", e.field, e.rule))
        .collect::<Vec<_>>()
        .join("; ")
}
