//! Mailplane, the embeddable control plane for hosted mail.
//!
//! Embed a [`ControlPlane`] in a Rust service and call its methods with the acting
//! [`Actor`]. Every method authorizes in the library, before it reads tenant data: a caller
//! who may not see a resource gets `NotFound`, one who sees it but whose party holds no
//! usable RACI letter gets `Forbidden` with the activity and every party's letters. There
//! is no unauthorized variant; the HTTP server is a thin layer over the same calls.

mod actor;
pub mod archive;
pub mod auth;
pub mod catalogue;
pub mod certificate;
pub mod clock;
mod control_plane;
pub mod data_plane;
pub mod dns;
mod files;
pub mod input;
pub mod mailstack;
pub mod passwords;
pub mod profiles;
pub mod sealed;
mod special_purpose;
pub mod webhooks;
pub mod workers;

pub use actor::Actor;
pub use control_plane::activity;
pub use control_plane::directory;
pub use control_plane::{
    AUTOMATION_ROLE, AUTOMATION_SUBJECT, Applied, BatchAnswer, BatchItem, ControlPlane,
    ControlPlaneConfig, DEFAULT_LINK_TTL, DEFAULT_PAGE, DomainRecords, DomainVerification,
    JobReport, JobSettings, LifecycleSettings, MAX_BATCH, MAX_PAGE, MailboxBatch,
    MailboxBatchCreate, Operation, OperationKind, Outcome, PumpReport, SweepReport,
    WebhookSettings, expected_records,
};
pub use mailplane_policy::{Decision, PolicySet, Profile, Verdict};
pub use mailplane_store::guard;
pub use mailplane_store::{
    AuditReport, DEFAULT_READ_CACHE, DatabaseLocation, OperationalCounts, Page, ReadCacheStats,
    StoredAnswer,
};
pub use mailplane_types as types;
