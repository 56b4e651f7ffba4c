//! Parsing and linting of one profile folder.
//!
//! The loader reads the same `policy.csv` text that Casbin reads, line by line, so that every
//! lint error can name the file and the line. A profile that fails the lint is never used.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::time::Duration;

use mailplane_types::{ActivityId, Duty, Letters, Party};

/// The raw text of a profile's files, before parsing.
#[derive(Debug, Clone)]
pub struct ProfileSource {
    /// The folder name, which is the profile id (`hosted-exchange`).
    pub id: String,
    /// `profile.conf`.
    pub header: String,
    /// `model.conf`, the Casbin model.
    pub model: String,
    /// `policy.csv`, the Casbin policy.
    pub policy: String,
    /// `activities.csv`, the activity catalogue.
    pub activities: String,
}

impl ProfileSource {
    /// Reads a profile folder from disk.
    pub fn read_dir(dir: &Path) -> std::io::Result<ProfileSource> {
        let id = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let read = |name: &str| std::fs::read_to_string(dir.join(name));
        Ok(ProfileSource {
            id,
            header: read("profile.conf")?,
            model: read("model.conf")?,
            policy: read("policy.csv")?,
            activities: read("activities.csv")?,
        })
    }
}

/// One lint finding: the file, the line (1-based, 0 for the whole file) and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintError {
    /// The file inside the profile folder.
    pub file: String,
    /// The 1-based line, or 0 when the finding is about the whole file.
    pub line: usize,
    /// What is wrong, as a sentence.
    pub message: String,
}

impl fmt::Display for LintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

/// All findings of one lint run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintErrors {
    /// The profile id.
    pub profile: String,
    /// The findings, in file and line order.
    pub errors: Vec<LintError>,
}

impl fmt::Display for LintErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "profile `{}` is malformed ({} problem(s)):",
            self.profile,
            self.errors.len()
        )?;
        for e in &self.errors {
            writeln!(f, "  policies/{}/{e}", self.profile)?;
        }
        Ok(())
    }
}

impl std::error::Error for LintErrors {}

/// One activity of the matrix with its catalogue entry.
#[derive(Debug, Clone)]
pub struct ActivityDef {
    /// The stable id.
    pub id: ActivityId,
    /// The lifecycle phase (`usage`, `end-of-service`).
    pub phase: String,
    /// The section inside the phase.
    pub section: String,
    /// What the activity is, as a sentence.
    pub description: String,
    /// Letters per party, indexed by [`Party::index`].
    pub letters: [Letters; 3],
}

/// A role: the party it belongs to and the letters it may exercise.
#[derive(Debug, Clone)]
pub struct RoleDef {
    /// The role name (`tenant-admin`).
    pub name: String,
    /// The party every holder of the role belongs to.
    pub party: Party,
    /// Letters the role exercises on every activity.
    pub everywhere: Letters,
    /// Letters the role exercises on named activities only.
    pub per_activity: HashMap<String, Letters>,
}

impl RoleDef {
    /// The letters this role may exercise on `activity`, before intersecting with the party's.
    pub fn grants(&self, activity: &str) -> Letters {
        self.everywhere
            .union(self.per_activity.get(activity).copied().unwrap_or_default())
    }
}

/// A linted profile with its decision tables.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The id (folder name).
    pub id: String,
    /// The version tenants bind to.
    pub version: u32,
    /// A one-line title.
    pub title: String,
    /// A paragraph describing the offer.
    pub description: String,
    /// The parties this profile uses.
    pub parties: Vec<Party>,
    /// Activities in catalogue order.
    pub activities: Vec<ActivityDef>,
    /// Roles by name.
    pub roles: BTreeMap<String, RoleDef>,
    /// How long a request or proposal may wait for an answer before it expires
    /// (`request_deadline` in `profile.conf`).
    pub request_deadline: Duration,
    /// How long an activity waits for the consulted parties' answers before it proceeds
    /// (`consultation_deadline` in `profile.conf`).
    pub consultation_deadline: Duration,
    /// How long the customer may still export its data after terminating the contract,
    /// before destruction begins (`export_window` in `profile.conf`).
    pub export_window: Duration,
    /// How long a deleted mailbox may be restored before its data is destroyed
    /// (`undelete_window` in `profile.conf`).
    pub undelete_window: Duration,
    /// How long a tenant suspended for `non_payment` has to pay before its contract is ended
    /// for cause (`contract.end`) by the dunning ladder (`dunning_grace` in `profile.conf`).
    pub dunning_grace: Duration,
    /// Activities that provider automation carries out at once when they are requested
    /// (`automated` in `profile.conf`): the customer's call answers with the result.
    pub automated: BTreeSet<String>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) source: ProfileSource,
}

struct Lint {
    errors: Vec<LintError>,
}

impl Lint {
    fn push(&mut self, file: &str, line: usize, message: impl Into<String>) {
        self.errors.push(LintError {
            file: file.to_string(),
            line,
            message: message.into(),
        });
    }
}

/// Splits a CSV line on commas, honouring double quotes (the catalogue's descriptions hold
/// commas), and trims each field.
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut current).trim().to_string()),
            c => current.push(c),
        }
    }
    fields.push(current.trim().to_string());
    fields
}

/// The Casbin model every profile uses; the fast path implements exactly its semantics.
const CANONICAL_MODEL: &str = include_str!("../../../policies/hosted-exchange/model.conf");

/// A model's meaningful lines, without comments, blank lines and surrounding spaces.
fn model_lines(model: &str) -> Vec<&str> {
    model
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The role provider automation acts with; a profile that automates activities declares it.
pub const AUTOMATION_ROLE: &str = "provider-automation";

/// How long a request waits when the profile does not say: a week.
pub const DEFAULT_REQUEST_DEADLINE: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a consultation waits when the profile does not say: two days.
pub const DEFAULT_CONSULTATION_DEADLINE: Duration = Duration::from_secs(2 * 24 * 3600);
/// How long the export window after a termination lasts when the profile does not say:
/// 30 days.
pub const DEFAULT_EXPORT_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long a deleted mailbox may be restored when the profile does not say: 30 days, as
/// Microsoft 365 and AWS WorkMail keep one.
pub const DEFAULT_UNDELETE_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long the dunning ladder's grace lasts when the profile does not say: 14 days.
pub const DEFAULT_DUNNING_GRACE: Duration = Duration::from_secs(14 * 24 * 3600);

/// Parses `30m`, `72h` or `14d` (from 1, at most ten years).
fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let unit = match v.chars().last()? {
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let n: u64 = v[..v.len() - 1].parse().ok()?;
    (1..=3650 * 86_400 / unit)
        .contains(&n)
        .then(|| Duration::from_secs(n * unit))
}

fn is_comment_or_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

impl Profile {
    /// Parses and lints a profile. Every problem found is reported, each naming its line.
    pub fn from_source(source: ProfileSource) -> Result<Profile, LintErrors> {
        let mut lint = Lint { errors: Vec::new() };

        // profile.conf: `key = value` lines.
        let mut header: HashMap<String, String> = HashMap::new();
        for (n, raw) in source.header.lines().enumerate() {
            if is_comment_or_blank(raw) {
                continue;
            }
            match raw.split_once('=') {
                Some((k, v)) => {
                    header.insert(k.trim().to_string(), v.trim().to_string());
                }
                None => lint.push("profile.conf", n + 1, "expected `key = value`"),
            }
        }
        let version = match header.get("version").map(|v| v.parse::<u32>()) {
            Some(Ok(v)) if v >= 1 => v,
            Some(_) => {
                lint.push("profile.conf", 0, "`version` must be a whole number from 1");
                1
            }
            None => {
                lint.push("profile.conf", 0, "`version` is missing");
                1
            }
        };
        let title = header.get("title").cloned().unwrap_or_default();
        if title.is_empty() {
            lint.push("profile.conf", 0, "`title` is missing");
        }
        let description = header.get("description").cloned().unwrap_or_default();
        let mut deadline = |key: &str, default: Duration| {
            match header.get(key) {
            None => default,
            Some(v) => parse_duration(v).unwrap_or_else(|| {
                lint.push(
                    "profile.conf",
                    0,
                    format!(
                        "`{key}` must be a whole number of minutes, hours or days from 1 (`30m`, `72h`, `14d`), found `{v}`"
                    ),
                );
                default
            }),
        }
        };
        let request_deadline = deadline("request_deadline", DEFAULT_REQUEST_DEADLINE);
        let consultation_deadline =
            deadline("consultation_deadline", DEFAULT_CONSULTATION_DEADLINE);
        let export_window = deadline("export_window", DEFAULT_EXPORT_WINDOW);
        let undelete_window = deadline("undelete_window", DEFAULT_UNDELETE_WINDOW);
        let dunning_grace = deadline("dunning_grace", DEFAULT_DUNNING_GRACE);
        let automated_list: Vec<String> = header
            .get("automated")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let mut parties = Vec::new();
        match header.get("parties") {
            Some(list) => {
                for p in list.split(',').map(str::trim) {
                    match p.parse::<Party>() {
                        Ok(p) => parties.push(p),
                        Err(e) => lint.push("profile.conf", 0, format!("`parties`: {e}")),
                    }
                }
            }
            None => lint.push("profile.conf", 0, "`parties` is missing"),
        }
        if header.get("id").is_some_and(|id| id != &source.id) {
            lint.push(
                "profile.conf",
                0,
                format!("`id` must equal the folder name `{}`", source.id),
            );
        }

        // activities.csv: id, phase, section, description.
        let mut activities: Vec<ActivityDef> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut activity_lines: HashMap<String, usize> = HashMap::new();
        for (n, raw) in source.activities.lines().enumerate() {
            if is_comment_or_blank(raw) || (n == 0 && raw.starts_with("id,")) {
                continue;
            }
            let f = split_csv(raw);
            if f.len() != 4 {
                lint.push(
                    "activities.csv",
                    n + 1,
                    format!(
                        "expected 4 fields (id, phase, section, description), found {}",
                        f.len()
                    ),
                );
                continue;
            }
            let id = match ActivityId::parse(&f[0]) {
                Ok(id) => id,
                Err(e) => {
                    lint.push("activities.csv", n + 1, e);
                    continue;
                }
            };
            if index.contains_key(id.as_str()) {
                lint.push(
                    "activities.csv",
                    n + 1,
                    format!("activity `{id}` is listed twice"),
                );
                continue;
            }
            index.insert(id.to_string(), activities.len());
            activity_lines.insert(id.to_string(), n + 1);
            activities.push(ActivityDef {
                id,
                phase: f[1].clone(),
                section: f[2].clone(),
                description: f[3].clone(),
                letters: [Letters::NONE; 3],
            });
        }

        // policy.csv: g (role -> party), g2 (role -> letter grant), p (party, activity, letter).
        let mut role_parties: BTreeMap<String, (Party, usize)> = BTreeMap::new();
        let mut grants: Vec<(String, String, usize)> = Vec::new();
        for (n, raw) in source.policy.lines().enumerate() {
            let line = n + 1;
            if is_comment_or_blank(raw) {
                continue;
            }
            let f = split_csv(raw);
            match f[0].as_str() {
                "p" => {
                    if f.len() != 4 {
                        lint.push(
                            "policy.csv",
                            line,
                            "a `p` line is `p, <party>, <activity>, <letter>`",
                        );
                        continue;
                    }
                    let party = match f[1].parse::<Party>() {
                        Ok(p) => p,
                        Err(e) => {
                            lint.push("policy.csv", line, e);
                            continue;
                        }
                    };
                    if !parties.contains(&party) {
                        lint.push(
                            "policy.csv",
                            line,
                            format!("party `{party}` is not one of this profile's parties"),
                        );
                        continue;
                    }
                    let duty = match f[3].chars().collect::<Vec<_>>().as_slice() {
                        [c] => Duty::from_letter(*c),
                        _ => None,
                    };
                    let Some(duty) = duty else {
                        lint.push(
                            "policy.csv",
                            line,
                            format!("unknown letter `{}`: one of R, A, C, I per line", f[3]),
                        );
                        continue;
                    };
                    let Some(&i) = index.get(f[2].as_str()) else {
                        lint.push(
                            "policy.csv",
                            line,
                            format!("activity `{}` is not in activities.csv", f[2]),
                        );
                        continue;
                    };
                    let slot = &mut activities[i].letters[party.index()];
                    if slot.has(duty) {
                        lint.push(
                            "policy.csv",
                            line,
                            format!("`{party}` already holds {duty} on `{}`", f[2]),
                        );
                    }
                    slot.insert(duty);
                }
                "g" => {
                    if f.len() != 3 {
                        lint.push("policy.csv", line, "a `g` line is `g, <role>, <party>`");
                        continue;
                    }
                    match f[2].parse::<Party>() {
                        Ok(p) => {
                            if let Some((other, first)) = role_parties.get(&f[1]) {
                                lint.push(
                                    "policy.csv",
                                    line,
                                    format!(
                                        "role `{}` already belongs to `{other}` (line {first}); a role has one party",
                                        f[1]
                                    ),
                                );
                            } else {
                                role_parties.insert(f[1].clone(), (p, line));
                            }
                        }
                        Err(e) => lint.push("policy.csv", line, e),
                    }
                }
                "g2" => {
                    if f.len() != 3 {
                        lint.push(
                            "policy.csv",
                            line,
                            "a `g2` line is `g2, <role>, <letter>` or `g2, <role>, <letter>@<activity>`",
                        );
                        continue;
                    }
                    grants.push((f[1].clone(), f[2].clone(), line));
                }
                other => lint.push(
                    "policy.csv",
                    line,
                    format!("unknown line type `{other}`: expected p, g or g2"),
                ),
            }
        }

        let mut roles: BTreeMap<String, RoleDef> = role_parties
            .iter()
            .map(|(name, (party, _))| {
                (
                    name.clone(),
                    RoleDef {
                        name: name.clone(),
                        party: *party,
                        everywhere: Letters::NONE,
                        per_activity: HashMap::new(),
                    },
                )
            })
            .collect();
        for (role, grant, line) in grants {
            let Some(def) = roles.get_mut(&role) else {
                lint.push(
                    "policy.csv",
                    line,
                    format!("role `{role}` has no `g, {role}, <party>` line"),
                );
                continue;
            };
            let (letter, activity) = match grant.split_once('@') {
                Some((l, a)) => (l, Some(a)),
                None => (grant.as_str(), None),
            };
            let duty = match letter.chars().collect::<Vec<_>>().as_slice() {
                [c] => Duty::from_letter(*c),
                _ => None,
            };
            let Some(duty) = duty else {
                lint.push(
                    "policy.csv",
                    line,
                    format!("unknown letter `{letter}`: one of R, A, C, I"),
                );
                continue;
            };
            match activity {
                None => def.everywhere.insert(duty),
                Some(a) if index.contains_key(a) => def
                    .per_activity
                    .entry(a.to_string())
                    .or_default()
                    .insert(duty),
                Some(a) => lint.push(
                    "policy.csv",
                    line,
                    format!("activity `{a}` is not in activities.csv"),
                ),
            }
        }

        for a in &activities {
            let line = activity_lines[a.id.as_str()];
            let accountable = a.letters.iter().filter(|l| l.has(Duty::A)).count();
            if accountable != 1 {
                lint.push(
                    "activities.csv",
                    line,
                    format!(
                        "activity `{}` must have exactly one accountable party (A), found {accountable}",
                        a.id
                    ),
                );
            }
            if !a.letters.iter().any(|l| l.has(Duty::R)) {
                lint.push(
                    "activities.csv",
                    line,
                    format!("activity `{}` has no responsible party (R)", a.id),
                );
            }
        }
        if activities.is_empty() {
            lint.push("activities.csv", 0, "the profile has no activity");
        }
        // Automation is a provider principal: it can only carry out what the provider is
        // responsible for, and only a request (someone else accountable) reaches it.
        let mut automated = BTreeSet::new();
        if !automated_list.is_empty()
            && roles
                .get(AUTOMATION_ROLE)
                .is_none_or(|r| r.party != Party::Provider)
        {
            lint.push(
                "profile.conf",
                0,
                format!(
                    "`automated` needs the provider role `{AUTOMATION_ROLE}` (`g, {AUTOMATION_ROLE}, provider` in policy.csv), which automation acts with"
                ),
            );
        }
        for a in automated_list {
            match index.get(&a).map(|&i| &activities[i]) {
                None => lint.push(
                    "profile.conf",
                    0,
                    format!("`automated`: activity `{a}` is not in activities.csv"),
                ),
                Some(def) if !def.letters[Party::Provider.index()].has(Duty::R) => lint.push(
                    "profile.conf",
                    0,
                    format!(
                        "`automated`: the provider does not hold R on `{a}`, so its automation cannot carry it out"
                    ),
                ),
                Some(def) if def.letters[Party::Provider.index()].has(Duty::A) => lint.push(
                    "profile.conf",
                    0,
                    format!(
                        "`automated`: the provider is accountable for `{a}`, so no party requests it of the provider"
                    ),
                ),
                Some(_) => {
                    automated.insert(a);
                }
            }
        }
        if model_lines(&source.model) != model_lines(CANONICAL_MODEL) {
            lint.push(
                "model.conf",
                0,
                "must be Mailplane's RACI model (comments aside): decisions are computed from its semantics, so another model would be silently ignored",
            );
        }

        if !lint.errors.is_empty() {
            return Err(LintErrors {
                profile: source.id.clone(),
                errors: lint.errors,
            });
        }
        Ok(Profile {
            id: source.id.clone(),
            version,
            title,
            description,
            parties,
            activities,
            roles,
            request_deadline,
            consultation_deadline,
            export_window,
            undelete_window,
            dunning_grace,
            automated,
            index,
            source,
        })
    }

    /// The raw files the profile was loaded from.
    pub fn source(&self) -> &ProfileSource {
        &self.source
    }

    /// The catalogue entry of an activity, if the profile has it.
    pub fn activity(&self, id: &str) -> Option<&ActivityDef> {
        self.index.get(id).map(|&i| &self.activities[i])
    }

    /// The letters `party` holds for `activity` (empty when the profile lacks either).
    pub fn letters(&self, party: Party, activity: &str) -> Letters {
        self.activity(activity)
            .map(|a| a.letters[party.index()])
            .unwrap_or_default()
    }

    /// `id@version`, the form stored on tenants and in refusals.
    pub fn key(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }
}
