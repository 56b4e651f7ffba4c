//! Tests of the shipped profiles: the fast path agrees with Casbin on every question, the
//! hosted-exchange matrix is the reference CSV, and malformed profiles are rejected with the
//! line named.

use casbin::CoreApi;
use mailplane_policy::{PolicySet, Profile, ProfileSource, Verdict};
use mailplane_types::{Duty, Party};

#[tokio::test]
async fn fast_path_agrees_with_casbin_on_every_role_activity_and_letter() {
    let mut checked = 0;
    for source in PolicySet::builtin_sources() {
        let profile = Profile::from_source(source.clone()).expect("lint");
        let enforcer = mailplane_policy::casbin_reference(&source)
            .await
            .expect("casbin");
        // Every role of the profile, plus one it does not define.
        let mut roles: Vec<(String, Party)> = profile
            .roles
            .values()
            .map(|r| (r.name.clone(), r.party))
            .collect();
        roles.push(("no-such-role".into(), Party::Customer));
        for (role, party) in &roles {
            for activity in &profile.activities {
                for duty in Duty::ALL {
                    let letter = duty.to_string();
                    let reference = enforcer
                        .enforce((role.as_str(), activity.id.as_str(), letter.as_str()))
                        .expect("enforce");
                    let fast = profile
                        .exercisable(*party, role, activity.id.as_str())
                        .has(duty);
                    assert_eq!(
                        reference, fast,
                        "{}: role {role}, activity {}, letter {letter}: casbin says {reference}",
                        profile.id, activity.id
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1000, "only {checked} questions were asked");
}

#[test]
fn hosted_exchange_matrix_is_the_reference_csv() {
    let set = PolicySet::builtin();
    let profile = set.get("hosted-exchange").expect("shipped");
    let reference = include_str!("../../../tests/fixtures/raci-hosted-exchange.csv");
    let mut rows = 0;
    for line in reference.lines().skip(1) {
        // The last two fields are the customer's and the provider's letters.
        let fields: Vec<&str> = line.rsplitn(3, ',').collect();
        let (provider, customer) = (fields[0], fields[1]);
        let id = line.split(',').next().unwrap();
        let a = profile
            .activity(id)
            .unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(
            a.letters[Party::Customer.index()],
            customer.parse().unwrap(),
            "{id}"
        );
        assert_eq!(
            a.letters[Party::Provider.index()],
            provider.parse().unwrap(),
            "{id}"
        );
        assert!(a.letters[Party::Partner.index()].is_empty(), "{id}");
        rows += 1;
    }
    assert_eq!(rows, 49);
}

#[test]
fn decisions_follow_the_letters() {
    let set = PolicySet::builtin();
    let he = set.get("hosted-exchange").unwrap();
    let admin = |s: &str| vec![s.to_string()];
    // Customer RA on directory administration: executes.
    let d = he.decide(
        Party::Customer,
        &admin("tenant-admin"),
        "directory.administer",
    );
    assert_eq!(d.verdict, Verdict::Execute);
    assert_eq!(d.letters_used().to_string(), "RA");
    // Provider IR: responsible without A, may only propose.
    let d = he.decide(
        Party::Provider,
        &admin("provider-admin"),
        "directory.administer",
    );
    assert_eq!(d.verdict, Verdict::Propose);
    // Customer A on control-plane access, provider RI: the customer requests.
    let d = he.decide(
        Party::Customer,
        &admin("tenant-admin"),
        "access.control-plane",
    );
    assert_eq!(d.verdict, Verdict::Request);
    // A reader only observes; a partner holds nothing in a two-party profile.
    let d = he.decide(
        Party::Customer,
        &admin("tenant-reader"),
        "directory.administer",
    );
    assert_eq!(d.verdict, Verdict::Observe);
    let d = he.decide(
        Party::Partner,
        &admin("partner-admin"),
        "directory.administer",
    );
    assert_eq!(d.verdict, Verdict::Refuse);
    assert!(d.explain().contains("holds no letter"), "{}", d.explain());
    // A role of another party exercises nothing.
    let d = he.decide(Party::Customer, &admin("provider-admin"), "service.deliver");
    assert_eq!(d.verdict, Verdict::Refuse);
    // Auditors read what their party holds any letter of.
    let d = he.decide(Party::Provider, &admin("provider-auditor"), "audit.review");
    assert_eq!(d.verdict, Verdict::Observe);
}

fn hosted_exchange_source() -> ProfileSource {
    PolicySet::builtin_sources()
        .into_iter()
        .find(|s| s.id == "hosted-exchange")
        .unwrap()
}

fn lint_messages(source: ProfileSource) -> Vec<String> {
    Profile::from_source(source)
        .expect_err("must be rejected")
        .errors
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn lint_rejects_two_accountable_parties() {
    let mut s = hosted_exchange_source();
    s.policy.push_str("p, provider, directory.administer, A\n");
    let msgs = lint_messages(s);
    assert!(
        msgs.iter().any(|m| m.contains(
            "`directory.administer` must have exactly one accountable party (A), found 2"
        )),
        "{msgs:?}"
    );
}

#[test]
fn lint_rejects_no_accountable_and_no_responsible() {
    let mut s = hosted_exchange_source();
    s.activities
        .push_str("orphan.activity,usage,test,Nobody holds anything\n");
    let msgs = lint_messages(s);
    assert!(
        msgs.iter().any(|m| m
            .contains("`orphan.activity` must have exactly one accountable party (A), found 0")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("`orphan.activity` has no responsible party (R)")),
        "{msgs:?}"
    );
}

#[test]
fn lint_names_the_line_of_an_unknown_letter_or_party() {
    let mut s = hosted_exchange_source();
    let lines_before = s.policy.lines().count();
    s.policy
        .push_str("p, customer, directory.administer, X\np, reseller, directory.administer, R\n");
    let msgs = lint_messages(s);
    assert!(
        msgs.contains(&format!(
            "policy.csv:{}: unknown letter `X`: one of R, A, C, I per line",
            lines_before + 1
        )),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.starts_with(&format!(
            "policy.csv:{}: unknown party `reseller`",
            lines_before + 2
        ))),
        "{msgs:?}"
    );
}

#[test]
fn lint_rejects_another_casbin_model() {
    let mut s = hosted_exchange_source();
    s.model = s.model.replace("r.duty == \"I\"", "r.duty == \"C\"");
    let msgs = lint_messages(s);
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("model.conf: must be Mailplane's RACI model")),
        "{msgs:?}"
    );
}

#[test]
fn lint_rejects_a_party_the_profile_does_not_use() {
    let mut s = hosted_exchange_source();
    s.policy.push_str("p, partner, directory.administer, I\n");
    let msgs = lint_messages(s);
    assert!(
        msgs.iter()
            .any(|m| m.contains("party `partner` is not one of this profile's parties")),
        "{msgs:?}"
    );
}

#[test]
fn deadlines_and_automation_come_from_profile_conf() {
    let he = Profile::from_source(hosted_exchange_source()).unwrap();
    assert_eq!(
        he.request_deadline,
        std::time::Duration::from_secs(5 * 86_400)
    );
    assert_eq!(
        he.consultation_deadline,
        std::time::Duration::from_secs(48 * 3600)
    );
    assert!(he.automated.contains("access.control-plane"));
    assert_eq!(
        he.undelete_window,
        std::time::Duration::from_secs(30 * 86_400)
    );
    assert_eq!(
        he.dunning_grace,
        std::time::Duration::from_secs(14 * 86_400)
    );
    // Without the line, the grace is the default's.
    let mut s = hosted_exchange_source();
    s.header = s
        .header
        .lines()
        .filter(|l| !l.starts_with("dunning_grace"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        Profile::from_source(s).unwrap().dunning_grace,
        mailplane_policy::DEFAULT_DUNNING_GRACE
    );
}

#[test]
fn the_undelete_window_defaults_to_30_days_and_is_linted() {
    let mut s = hosted_exchange_source();
    s.header = s
        .header
        .lines()
        .filter(|l| !l.starts_with("undelete_window"))
        .map(|l| format!("{l}\n"))
        .collect();
    let absent = Profile::from_source(s.clone()).unwrap();
    assert_eq!(
        absent.undelete_window,
        mailplane_policy::DEFAULT_UNDELETE_WINDOW
    );
    s.header.push_str("undelete_window = 0d\n");
    let msgs = lint_messages(s);
    assert!(
        msgs.iter()
            .any(|m| m.contains("`undelete_window` must be a whole number")),
        "{msgs:?}"
    );
}

#[test]
fn lint_rejects_bad_deadlines_and_automation_the_provider_cannot_do() {
    let mut s = hosted_exchange_source();
    s.header.push_str(
        "request_deadline = 3 weeks\nconsultation_deadline = 0h\ndunning_grace = soon\nautomated = access.panel-and-mailboxes, storage.encrypt, no.such\n",
    );
    let msgs = lint_messages(s);
    for expected in [
        "`request_deadline` must be a whole number of minutes, hours or days",
        "`consultation_deadline` must be a whole number",
        "`dunning_grace` must be a whole number of minutes, hours or days",
        // Customer RA, provider I: automation could not carry it out.
        "the provider does not hold R on `access.panel-and-mailboxes`",
        "the provider is accountable for `storage.encrypt`",
        "activity `no.such` is not in activities.csv",
    ] {
        assert!(
            msgs.iter().any(|m| m.contains(expected)),
            "{expected}: {msgs:?}"
        );
    }
}

#[test]
fn lint_requires_the_automation_role_where_activities_are_automated() {
    let mut s = hosted_exchange_source();
    s.policy = s
        .policy
        .lines()
        .filter(|l| !l.contains("provider-automation"))
        .map(|l| format!("{l}\n"))
        .collect();
    let msgs = lint_messages(s);
    assert!(
        msgs.iter()
            .any(|m| m.contains("needs the provider role `provider-automation`")),
        "{msgs:?}"
    );
}

#[test]
fn a_set_keeps_earlier_versions_and_refuses_a_version_twice() {
    let v1 = hosted_exchange_source();
    let mut v2 = hosted_exchange_source();
    v2.header = v2.header.replace("version = 1", "version = 2");
    let set = PolicySet::from_sources(vec![v2.clone(), v1.clone()]).unwrap();
    assert_eq!(set.get("hosted-exchange").unwrap().version, 2);
    assert_eq!(set.get_version("hosted-exchange", 1).unwrap().version, 1);
    assert!(set.get_version("hosted-exchange", 3).is_none());
    assert_eq!(
        set.iter().count(),
        1,
        "listing shows the current version only"
    );
    let err = PolicySet::from_sources(vec![v1.clone(), v1]).unwrap_err();
    assert!(
        err[0].to_string().contains("version 1 is loaded twice"),
        "{err:?}"
    );
}
