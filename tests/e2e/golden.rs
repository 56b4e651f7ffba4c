//! The golden decision table: every (profile, role, activity) through the real policy,
//! printed and compared with the checked-in snapshot. A change to `policies/` shows up
//! here as a diff a reviewer reads.

use std::fmt::Write;

use mailplane::PolicySet;

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
        table.push('\n');
    }
    insta::assert_snapshot!("decisions", table);
}
