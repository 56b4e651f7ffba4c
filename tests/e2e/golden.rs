//! The golden decision table: every (profile, role, activity) through the real policy,
//! printed and compared with the checked-in snapshot. A change to `policies/` shows up
//! here as a diff a reviewer reads.

use std::fmt::Write;

use mailplane::{PolicySet, Verdict};

#[test]
fn every_decision_of_every_shipped_profile() {
    let set = PolicySet::builtin();
    let mut table = String::new();
    for profile in set.iter() {
        writeln!(table, "# {}", profile.key()).unwrap();
        for role in profile.roles.values() {
            for activity in &profile.activities {
                let d = profile.decide(
                    role.party,
                    std::slice::from_ref(&role.name),
                    activity.id.as_str(),
                );
                if d.verdict == Verdict::Refuse {
                    continue;
                }
                writeln!(
                    table,
                    "{:<9} {:<20} {:<32} {:<8} {}",
                    role.party.as_str(),
                    role.name,
                    activity.id.as_str(),
                    format!("{:?}", d.verdict),
                    d.exercisable
                )
                .unwrap();
            }
        }
        let refused = profile
            .roles
            .values()
            .flat_map(|r| profile.activities.iter().map(move |a| (r, a)))
            .filter(|(r, a)| {
                profile
                    .decide(r.party, std::slice::from_ref(&r.name), a.id.as_str())
                    .verdict
                    == Verdict::Refuse
            })
            .count();
        writeln!(table, "({refused} other role/activity pairs are refused)\n").unwrap();
    }
    insta::assert_snapshot!("decisions", table);
}
