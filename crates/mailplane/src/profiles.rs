//! Read-only views of the loaded RACI profiles, so that portals and SDKs can show each
//! party what it may do before it tries.
//!
//! The matrices are the published contract between the parties, not tenant data: every
//! authenticated principal may read every profile.

use serde::Serialize;

use mailplane_policy::Profile;
use mailplane_types::{Error, Letters, Party, Result};

use crate::{Actor, ControlPlane};

/// A profile in a list.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileSummary {
    /// The profile id (`hosted-exchange`).
    pub id: String,
    /// The version tenants bind to.
    pub version: u32,
    /// A one-line title.
    pub title: String,
    /// What the offer is.
    pub description: String,
    /// The parties the profile uses.
    pub parties: Vec<Party>,
    /// How many activities the matrix holds.
    pub activity_count: usize,
    /// Whether tenants may bind to it (the platform profile governs objects above tenants).
    pub binds_tenants: bool,
}

/// One row of a matrix.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityView {
    /// The stable activity id.
    pub id: String,
    /// The lifecycle phase.
    pub phase: String,
    /// The section inside the phase.
    pub section: String,
    /// What the activity is.
    pub description: String,
    /// The customer's letters.
    pub customer: Letters,
    /// The partner's letters.
    pub partner: Letters,
    /// The provider's letters.
    pub provider: Letters,
}

/// A role and the letters it may exercise.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleView {
    /// The role name.
    pub name: String,
    /// The party every holder of the role belongs to.
    pub party: Party,
    /// Letters exercised on every activity.
    pub everywhere: Letters,
    /// Letters exercised on named activities only, by activity id.
    pub per_activity: std::collections::BTreeMap<String, Letters>,
}

/// A whole profile: its header, its matrix and its roles.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileMatrix {
    /// The header.
    #[serde(flatten)]
    pub summary: ProfileSummary,
    /// The matrix, in catalogue order.
    pub activities: Vec<ActivityView>,
    /// The roles, by name.
    pub roles: Vec<RoleView>,
}

impl ControlPlane {
    fn summary(&self, p: &Profile) -> ProfileSummary {
        ProfileSummary {
            id: p.id.clone(),
            version: p.version,
            title: p.title.clone(),
            description: p.description.clone(),
            parties: p.parties.clone(),
            activity_count: p.activities.len(),
            binds_tenants: p.id != self.platform_profile_id(),
        }
    }

    /// Every loaded profile, in id order. Any authenticated principal may read them.
    pub fn profile_list(&self, _actor: &Actor) -> Vec<ProfileSummary> {
        self.policies().iter().map(|p| self.summary(p)).collect()
    }

    /// One profile with its matrix and roles.
    pub fn profile_get(&self, _actor: &Actor, id: &str) -> Result<ProfileMatrix> {
        let p = self
            .policies()
            .get(id)
            .ok_or_else(|| Error::not_found("profile", id))?;
        Ok(ProfileMatrix {
            summary: self.summary(p),
            activities: p
                .activities
                .iter()
                .map(|a| ActivityView {
                    id: a.id.to_string(),
                    phase: a.phase.clone(),
                    section: a.section.clone(),
                    description: a.description.clone(),
                    customer: a.letters[Party::Customer.index()],
                    partner: a.letters[Party::Partner.index()],
                    provider: a.letters[Party::Provider.index()],
                })
                .collect(),
            roles: p
                .roles
                .values()
                .map(|r| RoleView {
                    name: r.name.clone(),
                    party: r.party,
                    everywhere: r.everywhere,
                    per_activity: r
                        .per_activity
                        .iter()
                        .map(|(k, v)| (k.clone(), *v))
                        .collect(),
                })
                .collect(),
        })
    }
}
