//! Decisions: what a caller's party and roles let it do with one activity.
//!
//! The fast path reads two small tables (the matrix row of the activity and the grants of
//! each role), so its cost is independent of the number of tenants, partners or mailboxes.
//! Tenant scope is not decided here: it comes from the data model and the token.

use mailplane_types::{ActivityId, Duty, Letters, Party, PartyLetters, Refusal};

use crate::Profile;

/// What the matrix lets the caller do with the activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The caller exercises R and its party is accountable: it may carry the activity out now.
    Execute,
    /// The caller exercises R but another party is accountable: it may only propose, and the
    /// accountable party approves.
    Propose,
    /// The caller exercises A but its party is not responsible: the call files a request to
    /// the responsible party.
    Request,
    /// The caller may only see the activity's objects and events (it exercises only C or I).
    Observe,
    /// No usable letter.
    Refuse,
}

/// A decision with everything needed to explain it.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The verdict.
    pub verdict: Verdict,
    /// The activity asked for.
    pub activity: ActivityId,
    /// `profile@version`.
    pub profile: String,
    /// The caller's party.
    pub party: Party,
    /// The caller's roles, as given.
    pub roles: Vec<String>,
    /// Letters the caller's roles may exercise here (party letters ∩ role grants).
    pub exercisable: Letters,
    /// Every party's letters for the activity, indexed by [`Party::index`].
    pub letters: [Letters; 3],
}

impl Decision {
    /// Whether the caller may see objects governed by this activity (any usable letter).
    pub fn can_view(&self) -> bool {
        !self.exercisable.is_empty()
    }

    /// The letters the caller uses when it executes: R, plus A when it exercises it.
    pub fn letters_used(&self) -> Letters {
        let mut used = Letters::NONE;
        for d in [Duty::R, Duty::A] {
            if self.exercisable.has(d) {
                used.insert(d);
            }
        }
        used
    }

    /// The party that holds A.
    pub fn accountable(&self) -> Option<Party> {
        Party::ALL
            .into_iter()
            .find(|p| self.letters[p.index()].has(Duty::A))
    }

    /// The parties that hold R.
    pub fn responsible(&self) -> Vec<Party> {
        Party::ALL
            .into_iter()
            .filter(|p| self.letters[p.index()].has(Duty::R))
            .collect()
    }

    /// A sentence saying what the caller may do and why.
    pub fn explain(&self) -> String {
        let party_letters = self.letters[self.party.index()];
        let matrix = Party::ALL
            .iter()
            .filter(|p| !self.letters[p.index()].is_empty())
            .map(|p| format!("{p} {}", self.letters[p.index()]))
            .collect::<Vec<_>>()
            .join(", ");
        let roles = if self.roles.is_empty() {
            "no role".to_string()
        } else {
            self.roles.join(", ")
        };
        let what = match self.verdict {
            Verdict::Execute => "may carry it out now".to_string(),
            Verdict::Propose => format!(
                "is responsible but not accountable: it may only propose it for approval by the {}",
                self.accountable()
                    .map(|p| p.as_str())
                    .unwrap_or("accountable party")
            ),
            Verdict::Request => format!(
                "is accountable but not responsible: it may only request it from the {}",
                self.responsible()
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            Verdict::Observe => format!(
                "may only observe it (its roles exercise {})",
                self.exercisable
            ),
            Verdict::Refuse if party_letters.is_empty() => "holds no letter for it".to_string(),
            Verdict::Refuse => {
                format!("holds {party_letters} but the roles {roles} exercise none of them here")
            }
        };
        format!(
            "activity `{}` in profile {} ({matrix}): the {} party ({roles}) {what}",
            self.activity, self.profile, self.party
        )
    }

    /// The refusal a forbidden answer carries.
    pub fn refusal(&self) -> Refusal {
        Refusal {
            activity: self.activity.clone(),
            profile: self.profile.clone(),
            party: self.party,
            roles: self.roles.clone(),
            exercisable: self.exercisable,
            letters: Party::ALL
                .into_iter()
                .map(|p| PartyLetters {
                    party: p,
                    letters: self.letters[p.index()],
                })
                .collect(),
            reason: self.explain(),
        }
    }
}

impl Profile {
    /// The letters a role may exercise on an activity: its party's letters intersected with
    /// the role's grants. A role of another party, or an unknown role, exercises nothing.
    pub fn exercisable(&self, party: Party, role: &str, activity: &str) -> Letters {
        match self.roles.get(role) {
            Some(def) if def.party == party => {
                // Whoever holds any letter of an activity is at least informed of it.
                let mut held = self.letters(party, activity);
                if !held.is_empty() {
                    held.insert(Duty::I);
                }
                held.intersect(def.grants(activity))
            }
            _ => Letters::NONE,
        }
    }

    /// Decides what a caller of `party` holding `roles` may do with `activity`.
    pub fn decide(&self, party: Party, roles: &[String], activity: &str) -> Decision {
        let row = self
            .activity(activity)
            .map(|a| a.letters)
            .unwrap_or_default();
        let party_letters = row[party.index()];
        let exercisable = roles.iter().fold(Letters::NONE, |acc, role| {
            acc.union(self.exercisable(party, role, activity))
        });
        let verdict = if exercisable.has(Duty::R) && party_letters.has(Duty::A) {
            Verdict::Execute
        } else if exercisable.has(Duty::R) {
            Verdict::Propose
        } else if exercisable.has(Duty::A) && !party_letters.has(Duty::R) {
            Verdict::Request
        } else if !exercisable.is_empty() {
            Verdict::Observe
        } else {
            Verdict::Refuse
        };
        Decision {
            verdict,
            activity: ActivityId::parse(activity)
                .unwrap_or_else(|_| ActivityId::parse("unknown").expect("valid id")),
            profile: self.key(),
            party,
            roles: roles.to_vec(),
            exercisable,
            letters: row,
        }
    }
}
