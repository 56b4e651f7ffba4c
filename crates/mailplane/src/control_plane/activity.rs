//! The names of the matrix activities the code uses: which activity of the profile governs
//! each kind of operation. The letters live in `policies/`; this module only names the
//! activity an operation is an instance of.
//!
//! [`ALL`] lists every name, so that the control plane refuses at start a profile that lacks
//! one ([`check_profiles`]): a missing activity would otherwise refuse its operations to every
//! party at run time, silently, one tenant at a time.

use mailplane_policy::{LintError, LintErrors, PolicySet};
use mailplane_types::{Error, Result};

/// Managing partner organisations (platform activity).
pub const PARTNER_MANAGE: &str = "partner.manage";
/// Creating, viewing, changing a tenant: delivering the preconfigured service.
pub const TENANT_DELIVER: &str = "service.deliver";
/// Deleting a tenant, and destroying its configuration at end of service.
pub const TENANT_DESTROY: &str = "configuration.destroy";
/// Domains and mailboxes: directory administration.
pub const DIRECTORY: &str = "directory.administer";
/// Customer-managed API credentials: access to the control plane.
pub const CONTROL_PLANE_ACCESS: &str = "access.control-plane";
/// Binding a tenant to another profile: both parties to the contract take part.
pub const PROFILE_CHANGE: &str = "profile.change";
/// Reporting incidents, and adding to a report: opening and commenting on tickets.
pub const INCIDENT_REPORT: &str = "incident.report";
/// Qualifying, updating and closing incidents: handling tickets.
pub const INCIDENT_HANDLE: &str = "incident.handle";
/// Reading the audit trail (platform activity).
pub const AUDIT_REVIEW: &str = "audit.review";
/// Choosing the tenant's offer (mailbox size): upgrades only.
pub const SIZING: &str = "service.sizing.choose";
/// Placing a tenant in a region, and moving it.
pub const LOCATION: &str = "service.location.choose";
/// Providing licence subscriptions.
pub const LICENCES: &str = "licenses.provide";
/// Customising the service: seat counts ("number of accounts") and password policy.
pub const CUSTOMIZE: &str = "service.customize";
/// Providing the inventory of the service in use.
pub const INVENTORY: &str = "inventory.provide";
/// Access to the data plane: importing messages, setting mailbox passwords.
pub const DATA_PLANE_ACCESS: &str = "access.data-plane";
/// Retention policies.
pub const RETENTION: &str = "retention.manage";
/// Legal holds.
pub const HOLDS: &str = "legal-hold.manage";
/// Delivering an export at the customer's request.
pub const EXPORT: &str = "export.pst.deliver";
/// Terminating the contract, and cancelling the termination.
pub const TERMINATE: &str = "contract.terminate";
/// Destroying the customer's data at end of service.
pub const DATA_DESTROY: &str = "data.destroy";
/// Suspending a tenant or one of its mailboxes for a reason, and lifting the suspension.
pub const SUSPEND: &str = "service.suspend";
/// Ending the contract for cause (by the provider, a partner or the dunning ladder).
pub const CONTRACT_END: &str = "contract.end";

/// Every activity the code uses. A constant missing here escapes the start-up check; the
/// test below reads this file and fails when one is.
pub const ALL: &[&str] = &[
    PARTNER_MANAGE,
    TENANT_DELIVER,
    TENANT_DESTROY,
    DIRECTORY,
    CONTROL_PLANE_ACCESS,
    PROFILE_CHANGE,
    INCIDENT_REPORT,
    INCIDENT_HANDLE,
    AUDIT_REVIEW,
    SIZING,
    LOCATION,
    LICENCES,
    CUSTOMIZE,
    INVENTORY,
    DATA_PLANE_ACCESS,
    RETENTION,
    HOLDS,
    EXPORT,
    TERMINATE,
    DATA_DESTROY,
    SUSPEND,
    CONTRACT_END,
];

/// The activities decided on the platform profile: objects that belong to no tenant.
pub const PLATFORM: &[&str] = &[PARTNER_MANAGE, AUDIT_REVIEW];

/// The activities decided on the platform profile only; every other one of [`ALL`] is
/// decided on tenant profiles (`audit.review` on both: a customer reads its tenant's rows).
const PLATFORM_ONLY: &[&str] = &[PARTNER_MANAGE];

/// Refuses a set of profiles in which a profile lacks an activity the code decides on it:
/// the platform profile [`PLATFORM`], every tenant profile (current and earlier versions,
/// since tenants bound to an earlier version are decided by it) the rest of [`ALL`]. Each
/// finding names the profile and the activity, in the lint's own format.
pub(super) fn check_profiles(policies: &PolicySet, platform_profile: &str) -> Result<()> {
    let mut failures = Vec::new();
    for profile in policies.iter().chain(policies.earlier()) {
        let needed: Vec<&str> = if profile.id == platform_profile {
            PLATFORM.to_vec()
        } else {
            ALL.iter()
                .copied()
                .filter(|a| !PLATFORM_ONLY.contains(a))
                .collect()
        };
        let errors: Vec<LintError> = needed
            .into_iter()
            .filter(|a| profile.activity(a).is_none())
            .map(|a| LintError {
                file: "activities.csv".into(),
                line: 0,
                message: format!(
                    "version {} lacks the activity `{a}`, which the control plane uses: add it to activities.csv and give it its letters in policy.csv",
                    profile.version
                ),
            })
            .collect();
        if !errors.is_empty() {
            failures.push(LintErrors {
                profile: profile.id.clone(),
                errors,
            });
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(
        "policies",
        failures
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(""),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `pub const NAME: &str` of this file is in [`ALL`], and nothing else is.
    #[test]
    fn every_constant_is_in_all() {
        let source = include_str!("activity.rs");
        let declared: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("pub const "))
            .filter(|l| l.contains(": &str = "))
            .filter_map(|l| l.split('"').nth(1))
            .collect();
        assert!(declared.len() >= 20, "{declared:?}");
        for name in &declared {
            assert!(
                ALL.contains(name),
                "`{name}` is declared but missing from ALL"
            );
        }
        assert_eq!(declared.len(), ALL.len(), "ALL repeats a name: {ALL:?}");
    }

    /// A copy of `policies/` in which `profile` lacks every line of `activity`.
    fn policies_without(profile: &str, activity: &str) -> std::path::PathBuf {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
        let dir = std::env::temp_dir().join(format!("mailplane-activity-{}", uuid::Uuid::now_v7()));
        for entry in std::fs::read_dir(&root).unwrap() {
            let from = entry.unwrap().path();
            if !from.join("policy.csv").is_file() {
                continue;
            }
            let to = dir.join(from.file_name().unwrap());
            std::fs::create_dir_all(&to).unwrap();
            for file in ["profile.conf", "model.conf", "policy.csv", "activities.csv"] {
                let text = std::fs::read_to_string(from.join(file)).unwrap();
                let text = if to.ends_with(profile) {
                    // A line names the activity as a field: `p, party, <activity>, R` or
                    // `<activity>,phase,...`; the comments above its block go too.
                    text.lines()
                        .filter(|l| !l.contains(activity))
                        .map(|l| format!("{l}\n"))
                        .collect()
                } else {
                    text
                };
                std::fs::write(to.join(file), text).unwrap();
            }
        }
        dir
    }

    /// The control plane refuses to open over a profile that lacks an activity the code
    /// uses, and says which profile lacks which activity.
    #[tokio::test]
    async fn open_refuses_a_profile_lacking_an_activity() {
        let dir = policies_without("master-hoster", INVENTORY);
        let policies = PolicySet::load_dir(&dir).expect("the profile still passes the lint");
        assert!(
            policies
                .get("master-hoster")
                .unwrap()
                .activity(INVENTORY)
                .is_none()
        );
        let location = mailplane_store::DatabaseLocation::Sqlite(dir.join("mailplane.db"));
        let refused = crate::ControlPlane::open(&location, policies, Default::default())
            .await
            .err()
            .expect("a profile lacking an activity is refused");
        let message = refused.to_string();
        assert!(message.contains("master-hoster"), "{message}");
        assert!(message.contains("`inventory.provide`"), "{message}");
        assert!(!message.contains("hosted-exchange"), "{message}");
        // The folder it was copied from, with the activity, is accepted.
        check_profiles(
            &PolicySet::load_dir(
                &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies"),
            )
            .unwrap(),
            "platform",
        )
        .unwrap();
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The shipped profiles hold every activity the code uses.
    #[test]
    fn shipped_profiles_hold_every_activity() {
        check_profiles(&PolicySet::builtin(), "platform").unwrap();
    }
}
