//! The registry's golden file: every operation with its stored name, its activity, its
//! HTTP operation id and whether it may run after the export window closes, written to
//! `crates/mailplane/golden/operations.txt` so that a reviewer reads any change as a diff.
//!
//! Every column is derived from the code the control plane runs (the registry's names and
//! activities, the dispatcher's export-window rule), so the file cannot drift from it. Run
//! with `MAILPLANE_BLESS=1` to rewrite the file after a deliberate change.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{Operation, OperationKind};

/// The HTTP operation ids that differ today from the naming rule (the stored name with
/// `_` for `.`), and the ids the routes carry instead. The rename to `resource_verb` is a
/// separate step of issue 17; when it lands, its entries leave this list.
const HTTP_TODAY: &[(&str, &[&str])] = &[
    ("group.member.add", &["member_add"]),
    ("group.member.remove", &["member_remove"]),
    ("mailbox.forward", &["forwarding_set", "forwarding_clear"]),
    ("tenant.password_policy", &["policy_set"]),
    ("tenant.offer", &["offer_choose"]),
    ("tenant.terminate", &["termination_create"]),
];

/// The HTTP operation id the naming rule gives an operation.
fn by_rule(kind: OperationKind) -> String {
    kind.name().replace('.', "_")
}

/// The position of a kind, by an exhaustive match: adding a variant to [`OperationKind`]
/// fails to compile here until it has a place, and then the test below fails until
/// [`OperationKind::ALL`] lists it.
fn position(kind: OperationKind) -> usize {
    match kind {
        OperationKind::TenantUpdate => 0,
        OperationKind::TenantRebind => 1,
        OperationKind::TenantDelete => 2,
        OperationKind::DomainCreate => 3,
        OperationKind::DomainDelete => 4,
        OperationKind::MailboxCreate => 5,
        OperationKind::MailboxUpdate => 6,
        OperationKind::MailboxDelete => 7,
        OperationKind::CredentialRegister => 8,
        OperationKind::CredentialRevoke => 9,
        OperationKind::AliasCreate => 10,
        OperationKind::AliasDelete => 11,
        OperationKind::GroupCreate => 12,
        OperationKind::GroupDelete => 13,
        OperationKind::GroupMemberAdd => 14,
        OperationKind::GroupMemberRemove => 15,
        OperationKind::MailboxForward => 16,
        OperationKind::RetentionSet => 17,
        OperationKind::HoldPlace => 18,
        OperationKind::HoldRelease => 19,
        OperationKind::PasswordPolicySet => 20,
        OperationKind::OfferChoose => 21,
        OperationKind::TenantRelocate => 22,
        OperationKind::SubscriptionCreate => 23,
        OperationKind::SubscriptionSeats => 24,
        OperationKind::LicenceAssign => 25,
        OperationKind::LicenceUnassign => 26,
        OperationKind::ExportCreate => 27,
        OperationKind::TenantTerminate => 28,
        OperationKind::TerminationCancel => 29,
        OperationKind::TicketOpen => 30,
        OperationKind::TicketComment => 31,
        OperationKind::TicketHandle => 32,
    }
}

#[test]
fn the_list_of_kinds_is_exhaustive() {
    let positions: Vec<usize> = OperationKind::ALL.iter().map(|k| position(*k)).collect();
    let expected: Vec<usize> = (0..OperationKind::ALL.len()).collect();
    assert_eq!(
        positions, expected,
        "OperationKind::ALL must list every kind once, in the order of the exhaustive match"
    );
}

#[test]
fn every_stored_name_is_the_serde_tag_of_its_variant() {
    let names: BTreeSet<&str> = OperationKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(
        names.len(),
        OperationKind::ALL.len(),
        "a stored name is used twice"
    );
    for kind in OperationKind::ALL {
        // An empty input fails on a missing field, never on an unknown operation name, when
        // the name is the variant's tag; the variants without fields parse.
        let parsed = serde_json::from_value::<Operation>(serde_json::json!({
            "operation": kind.name(),
            "input": {},
        }));
        match parsed {
            Ok(op) => assert_eq!(op.kind(), kind),
            Err(e) => assert!(
                !e.to_string().contains("unknown variant"),
                "`{}` is not the serde tag of {kind:?}: {e}",
                kind.name()
            ),
        }
    }
}

#[test]
fn the_http_ids_of_today_are_in_the_openapi_document() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/mailplane.json");
    let document = std::fs::read_to_string(path).expect("the OpenAPI document");
    let document: serde_json::Value = serde_json::from_str(&document).expect("JSON");
    let mut ids = BTreeSet::new();
    for item in document["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("a path item").values() {
            if let Some(id) = op["operationId"].as_str() {
                ids.insert(id.to_string());
            }
        }
    }
    for kind in OperationKind::ALL {
        let today = HTTP_TODAY.iter().find(|(n, _)| *n == kind.name());
        let expected: Vec<String> = match today {
            Some((_, list)) => list.iter().map(|s| s.to_string()).collect(),
            None => vec![by_rule(kind)],
        };
        for id in expected {
            assert!(
                ids.contains(&id),
                "`{}`: the OpenAPI document has no operation `{id}`; update HTTP_TODAY and bless the golden file",
                kind.name()
            );
        }
        if today.is_some() {
            assert!(
                !ids.contains(&by_rule(kind)),
                "`{}` has its id by the rule now: remove it from HTTP_TODAY",
                kind.name()
            );
        }
    }
}

#[test]
fn the_golden_file_lists_every_operation() {
    let mut text = String::from(
        "# Every operation of the registry: stored name, activity, HTTP operation id by the naming\n\
         # rule (the ids the routes carry today, where they differ), and whether it may run after\n\
         # the export window of a termination closes. Generated by\n\
         # crates/mailplane/src/control_plane/operations/golden.rs (MAILPLANE_BLESS=1 rewrites it).\n\n",
    );
    for kind in OperationKind::ALL {
        let today = HTTP_TODAY
            .iter()
            .find(|(n, _)| *n == kind.name())
            .map(|(_, ids)| format!(" (today: {})", ids.join(", ")))
            .unwrap_or_default();
        let after = if kind.runs_after_window() {
            "yes"
        } else {
            "no"
        };
        writeln!(
            text,
            "{:<24} activity={:<26} after_window={:<4} http={}{today}",
            kind.name(),
            kind.activity(),
            after,
            by_rule(kind),
        )
        .expect("a string");
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/operations.txt");
    if std::env::var_os("MAILPLANE_BLESS").is_some() {
        std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/golden")).expect("dir");
        std::fs::write(path, &text).expect("the golden file");
        return;
    }
    let stored = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        stored == text,
        "the registry changed: review the difference and run with MAILPLANE_BLESS=1\n--- stored\n{stored}\n--- now\n{text}"
    );
}
