//! RACI profiles as data.
//!
//! A profile is a folder under `policies/`: a Casbin model (`model.conf`), a Casbin policy
//! (`policy.csv`: roles, role grants and the matrix), the activity catalogue
//! (`activities.csv`) and a header (`profile.conf`). This crate loads such a folder, lints it
//! (exactly one A and at least one R per activity, known letters and parties, every line
//! named in errors), and answers decisions with an explanation.
//!
//! Casbin is the reference semantics; [`Profile::decide`] is a fast path over precomputed
//! tables whose cost does not depend on the number of tenants. A test runs every
//! (role, activity, letter) through both and requires identical answers.

mod decision;
mod loader;
mod render;
mod set;

pub use decision::{Decision, Verdict};
pub use loader::{
    AUTOMATION_ROLE, ActivityDef, DEFAULT_DUNNING_GRACE, DEFAULT_UNDELETE_WINDOW, LintError,
    LintErrors, Profile, ProfileSource, RoleDef,
};
pub use render::render_markdown;
pub use set::PolicySet;

/// Builds Casbin's own enforcer over the same model and policy text as a profile: the
/// reference the fast path is compared with.
pub async fn casbin_reference(source: &ProfileSource) -> Result<casbin::Enforcer, String> {
    use casbin::CoreApi;
    let model = casbin::DefaultModel::from_str(&source.model)
        .await
        .map_err(|e| e.to_string())?;
    let adapter = casbin::StringAdapter::new(&source.policy);
    casbin::Enforcer::new(model, adapter)
        .await
        .map_err(|e| e.to_string())
}
