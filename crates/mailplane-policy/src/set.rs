//! The set of profiles a deployment holds.
//!
//! The profiles shipped under `policies/` are compiled into the binary, so the server and
//! embedders work from any directory; a deployment may load its own folder instead.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::{LintErrors, Profile, ProfileSource};

macro_rules! builtin {
    ($id:literal) => {
        ProfileSource {
            id: $id.to_string(),
            header: include_str!(concat!("../../../policies/", $id, "/profile.conf")).to_string(),
            model: include_str!(concat!("../../../policies/", $id, "/model.conf")).to_string(),
            policy: include_str!(concat!("../../../policies/", $id, "/policy.csv")).to_string(),
            activities: include_str!(concat!("../../../policies/", $id, "/activities.csv"))
                .to_string(),
        }
    };
}

/// Linted profiles by id.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    profiles: BTreeMap<String, Arc<Profile>>,
}

impl PolicySet {
    /// The sources of the profiles shipped with Mailplane.
    pub fn builtin_sources() -> Vec<ProfileSource> {
        vec![
            builtin!("hosted-exchange"),
            builtin!("master-hoster"),
            builtin!("platform"),
            builtin!("ticketed-suite"),
        ]
    }

    /// The profiles shipped with Mailplane. They are linted by the test suite, so a failure
    /// here is a bug in the release.
    pub fn builtin() -> PolicySet {
        PolicySet::from_sources(Self::builtin_sources())
            .expect("the shipped profiles pass the lint")
    }

    /// Lints and loads profiles; every malformed profile is reported.
    pub fn from_sources(sources: Vec<ProfileSource>) -> Result<PolicySet, Vec<LintErrors>> {
        let mut profiles = BTreeMap::new();
        let mut failures = Vec::new();
        for source in sources {
            match Profile::from_source(source) {
                Ok(p) => {
                    profiles.insert(p.id.clone(), Arc::new(p));
                }
                Err(e) => failures.push(e),
            }
        }
        if failures.is_empty() {
            Ok(PolicySet { profiles })
        } else {
            Err(failures)
        }
    }

    /// Loads every sub-folder of `dir` that holds a `policy.csv`.
    pub fn load_dir(dir: &Path) -> Result<PolicySet, String> {
        let mut sources = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.join("policy.csv").is_file() {
                sources.push(
                    ProfileSource::read_dir(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))?,
                );
            }
        }
        PolicySet::from_sources(sources).map_err(|errs| {
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("")
        })
    }

    /// A profile by id.
    pub fn get(&self, id: &str) -> Option<&Arc<Profile>> {
        self.profiles.get(id)
    }

    /// All profiles in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Profile>> {
        self.profiles.values()
    }
}
