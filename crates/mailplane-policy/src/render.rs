//! Renders a profile as a Markdown table for the book and for reviewers.

use std::fmt::Write;

use crate::Profile;

/// The profile as Markdown: its header, then one table row per activity with each party's
/// letters, then the roles and the letters they exercise.
pub fn render_markdown(profile: &Profile) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {} (`{}`, version {})\n",
        profile.title, profile.id, profile.version
    );
    if !profile.description.is_empty() {
        let _ = writeln!(out, "{}\n", profile.description);
    }
    let parties: Vec<_> = profile.parties.clone();
    let _ = write!(out, "| activity | phase / section | description |");
    for p in &parties {
        let _ = write!(out, " {p} |");
    }
    let _ = write!(out, "\n|---|---|---|");
    for _ in &parties {
        let _ = write!(out, ":---:|");
    }
    out.push('\n');
    for a in &profile.activities {
        let _ = write!(
            out,
            "| `{}` | {} / {} | {} |",
            a.id,
            a.phase,
            a.section,
            a.description.replace('|', "\\|")
        );
        for p in &parties {
            let l = a.letters[p.index()];
            let _ = write!(
                out,
                " {} |",
                if l.is_empty() {
                    String::new()
                } else {
                    l.to_string()
                }
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "\n## Roles\n");
    let _ = writeln!(
        out,
        "| role | party | exercises everywhere | exercises on named activities |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for r in profile.roles.values() {
        let mut named: Vec<_> = r
            .per_activity
            .iter()
            .map(|(a, l)| format!("{l} on `{a}`"))
            .collect();
        named.sort();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            r.name,
            r.party,
            r.everywhere,
            if named.is_empty() {
                "-".into()
            } else {
                named.join(", ")
            }
        );
    }
    out
}
