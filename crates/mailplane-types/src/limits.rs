//! The limits of the inputs, in one place: the checks refuse a value past them, and the
//! OpenAPI document announces them.
//!
//! utoipa's schema attributes take only literals, so the document cannot name these
//! constants; instead a test of the `mailplane` crate (`input::limits`) reads every bound
//! the input schemas announce and requires it to be the constant here that the check uses,
//! and requires every announced bound to be listed. A limit changed in one place and not
//! the other fails that test.

/// A name or a title on one line (partners, tenants, mailboxes, groups, credentials,
/// tickets): at most this many characters after trimming.
pub const NAME_CHARS: usize = 200;
/// A tenant's slug, the left label of its default domain: 2 to this many characters.
pub const SLUG_CHARS: usize = 40;
/// A domain name in A-label form (RFC 1035).
pub const DOMAIN_NAME_CHARS: usize = 253;
/// The local part of an address (RFC 5321).
pub const LOCAL_PART_CHARS: usize = 64;
/// A mailbox password.
pub const PASSWORD_CHARS: usize = 256;
/// A note or a reason given with a request, an answer or a hold.
pub const NOTE_CHARS: usize = 2_000;
/// A webhook's URL.
pub const URL_CHARS: usize = 2_000;
/// The shortest webhook secret a caller may choose, in bytes.
pub const WEBHOOK_SECRET_MIN_BYTES: usize = 32;
/// The longest webhook secret, in bytes.
pub const WEBHOOK_SECRET_MAX_BYTES: usize = 256;
/// The text of a ticket: its description and its comments.
pub const TICKET_TEXT_CHARS: usize = 10_000;
/// The roles of one API credential.
pub const CREDENTIAL_ROLES: usize = 16;
/// Licence seats of one subscription, and one change of them.
pub const SEATS: u32 = 1_000_000;
/// A mailbox quota: 1 TiB.
pub const QUOTA_BYTES: i64 = 1024 * 1024 * 1024 * 1024;
/// A retention period, in days (100 years).
pub const RETENTION_DAYS: u32 = 36_500;
/// A termination's export window, in days.
pub const EXPORT_WINDOW_DAYS: u32 = 365;
