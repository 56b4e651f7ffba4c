//! The set of profiles a deployment holds.
//!
//! The profiles shipped under `policies/` are compiled into the binary, so the server and
//! embedders work from any directory; a deployment may load its own folder instead.
//!
//! A set holds the current version of each profile, which new tenants bind to, and may hold
//! earlier versions (`policies/<id>/versions/<n>/`), so that tenants and requests bound to
//! an earlier version keep being decided by it after the profile changes.

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

/// Linted profiles by id, with the earlier versions still in use.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    profiles: BTreeMap<String, Arc<Profile>>,
    earlier: BTreeMap<(String, u32), Arc<Profile>>,
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

    /// Lints and loads profiles; every malformed profile is reported. Of several sources
    /// with one id, the highest version is current and the others are earlier versions;
    /// two sources with one id and one version are an error.
    pub fn from_sources(sources: Vec<ProfileSource>) -> Result<PolicySet, Vec<LintErrors>> {
        let mut all: BTreeMap<(String, u32), Arc<Profile>> = BTreeMap::new();
        let mut failures = Vec::new();
        for source in sources {
            match Profile::from_source(source) {
                Ok(p) => {
                    let id = p.id.clone();
                    let version = p.version;
                    match all.entry((id.clone(), version)) {
                        std::collections::btree_map::Entry::Occupied(_) => {
                            failures.push(LintErrors {
                                profile: id,
                                errors: vec![crate::LintError {
                                    file: "profile.conf".into(),
                                    line: 0,
                                    message: format!("version {version} is loaded twice"),
                                }],
                            });
                        }
                        std::collections::btree_map::Entry::Vacant(slot) => {
                            slot.insert(Arc::new(p));
                        }
                    }
                }
                Err(e) => failures.push(e),
            }
        }
        if !failures.is_empty() {
            return Err(failures);
        }
        let mut profiles: BTreeMap<String, Arc<Profile>> = BTreeMap::new();
        let mut earlier = BTreeMap::new();
        // Keys sort by id, then version: the last of each id is its current version.
        for ((id, _), p) in all {
            if let Some(previous) = profiles.insert(id.clone(), p) {
                earlier.insert((id, previous.version), previous);
            }
        }
        Ok(PolicySet { profiles, earlier })
    }

    /// Loads every sub-folder of `dir` that holds a `policy.csv`.
    pub fn load_dir(dir: &Path) -> Result<PolicySet, String> {
        let mut sources = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.join("policy.csv").is_file() {
                let current = ProfileSource::read_dir(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                // Earlier versions live beside it, one folder each, under the same id.
                let versions = path.join("versions");
                if versions.is_dir() {
                    let entries = std::fs::read_dir(&versions)
                        .map_err(|e| format!("{}: {e}", versions.display()))?;
                    let mut older: Vec<_> =
                        entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                    older.sort();
                    for v in older.into_iter().filter(|v| v.join("policy.csv").is_file()) {
                        let mut source = ProfileSource::read_dir(&v)
                            .map_err(|e| format!("{}: {e}", v.display()))?;
                        source.id = current.id.clone();
                        sources.push(source);
                    }
                }
                sources.push(current);
            }
        }
        PolicySet::from_sources(sources).map_err(|errs| {
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("")
        })
    }

    /// The current version of a profile, by id.
    pub fn get(&self, id: &str) -> Option<&Arc<Profile>> {
        self.profiles.get(id)
    }

    /// One version of a profile, current or earlier: what a tenant or a request bound to
    /// that version is decided by.
    pub fn get_version(&self, id: &str, version: u32) -> Option<&Arc<Profile>> {
        self.profiles
            .get(id)
            .filter(|p| p.version == version)
            .or_else(|| self.earlier.get(&(id.to_string(), version)))
    }

    /// The earlier versions held, by id and version.
    pub fn earlier(&self) -> impl Iterator<Item = &Arc<Profile>> {
        self.earlier.values()
    }

    /// All profiles in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Profile>> {
        self.profiles.values()
    }
}
