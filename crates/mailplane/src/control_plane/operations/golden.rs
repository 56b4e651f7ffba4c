//! The registry's golden file: every operation with its stored name, its activity, its
//! HTTP operation id and whether it may run after the export window closes, written to
//! `crates/mailplane/golden/operations.txt` so that a reviewer reads any change as a diff.
//!
//! Every column is derived from the code the control plane runs (the registry's names and
//! activities, the dispatcher's export-window rule) or, for the HTTP ids, from the kind's
//! name with a short list of exceptions, checked against the OpenAPI document, so the file
//! cannot drift from either. Run
//! with `MAILPLANE_BLESS=1` to rewrite the file after a deliberate change.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::{Operation, OperationKind};

/// The operations whose HTTP ids are not the default one: where the resource is named in
/// full (`tenant_offer_choose`), the verb is spelled out (`subscription_seats_set`), the route
/// creates what the operation is named after (`termination_create`) or one operation has a
/// route per direction (`mailbox_forwarding_set`, `..._clear`). Every other kind is run by
/// the one id [`default_id`] derives from it.
const EXCEPTIONS: &[(OperationKind, &[&str])] = &[
    (OperationKind::OfferChoose, &["tenant_offer_choose"]),
    (
        OperationKind::SubscriptionSeats,
        &["subscription_seats_set"],
    ),
    (
        OperationKind::MailboxForward,
        &["mailbox_forwarding_set", "mailbox_forwarding_clear"],
    ),
    (OperationKind::TenantTerminate, &["termination_create"]),
];

/// A kind's default HTTP id: its variant's name in snake case (`TicketOpen` is run by
/// `ticket_open`, `GroupMemberAdd` by `group_member_add`).
fn default_id(kind: OperationKind) -> String {
    let mut id = String::new();
    for c in format!("{kind:?}").chars() {
        if c.is_ascii_uppercase() && !id.is_empty() {
            id.push('_');
        }
        id.push(c.to_ascii_lowercase());
    }
    id
}

/// The HTTP operation ids that run an operation directly: the exception's, or the default
/// one. Filing a request (`request_create`) may carry any operation and is not listed. The
/// test below checks each id against `openapi/mailplane.json`, so a new kind whose route has
/// another id fails there until it is listed in [`EXCEPTIONS`].
fn http_ids(kind: OperationKind) -> Vec<String> {
    match EXCEPTIONS.iter().find(|(k, _)| *k == kind) {
        Some((_, ids)) => ids.iter().map(|id| (*id).to_owned()).collect(),
        None => vec![default_id(kind)],
    }
}

#[test]
fn a_default_id_is_the_snake_case_of_the_variant() {
    assert_eq!(default_id(OperationKind::TicketOpen), "ticket_open");
    assert_eq!(
        default_id(OperationKind::GroupMemberAdd),
        "group_member_add"
    );
    assert_eq!(
        default_id(OperationKind::PasswordPolicySet),
        "password_policy_set"
    );
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
        OperationKind::MailboxRestore => 8,
        OperationKind::CredentialRegister => 9,
        OperationKind::CredentialRevoke => 10,
        OperationKind::AliasCreate => 11,
        OperationKind::AliasDelete => 12,
        OperationKind::GroupCreate => 13,
        OperationKind::GroupDelete => 14,
        OperationKind::GroupMemberAdd => 15,
        OperationKind::GroupMemberRemove => 16,
        OperationKind::MailboxForward => 17,
        OperationKind::RetentionSet => 18,
        OperationKind::HoldPlace => 19,
        OperationKind::HoldRelease => 20,
        OperationKind::PasswordPolicySet => 21,
        OperationKind::OfferChoose => 22,
        OperationKind::TenantRelocate => 23,
        OperationKind::SubscriptionCreate => 24,
        OperationKind::SubscriptionSeats => 25,
        OperationKind::LicenceAssign => 26,
        OperationKind::LicenceUnassign => 27,
        OperationKind::ExportCreate => 28,
        OperationKind::TenantTerminate => 29,
        OperationKind::TerminationCancel => 30,
        OperationKind::TicketOpen => 31,
        OperationKind::TicketComment => 32,
        OperationKind::TicketHandle => 33,
        OperationKind::SuspensionPlace => 34,
        OperationKind::SuspensionLift => 35,
        OperationKind::ContractEnd => 36,
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

/// Each operation's HTTP ids are operations of the OpenAPI document, each carries the
/// operation's activity in `x-mailplane-activity`, and no id is claimed by two operations.
#[test]
fn the_http_ids_are_in_the_openapi_document_with_the_same_activity() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/mailplane.json");
    let document = std::fs::read_to_string(path).expect("the OpenAPI document");
    let document: serde_json::Value = serde_json::from_str(&document).expect("JSON");
    let mut activities = BTreeMap::new();
    for item in document["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("a path item").values() {
            if let Some(id) = op["operationId"].as_str() {
                activities.insert(id.to_string(), op["x-mailplane-activity"].clone());
            }
        }
    }
    let mut claimed = BTreeSet::new();
    for kind in OperationKind::ALL {
        for id in http_ids(kind) {
            assert!(
                claimed.insert(id.clone()),
                "`{id}` is named by two operations; each route runs one"
            );
            let activity = activities.get(&id).unwrap_or_else(|| {
                panic!(
                    "`{}`: the OpenAPI document has no operation `{id}`; list it in EXCEPTIONS and bless the golden file",
                    kind.name()
                )
            });
            assert_eq!(
                activity.as_str(),
                Some(kind.activity()),
                "`{}` runs under `{}`, but the document gives `{id}` the activity {activity}",
                kind.name(),
                kind.activity()
            );
        }
    }
}

#[test]
fn the_golden_file_lists_every_operation() {
    let mut text = String::from(
        "# Every operation of the registry: stored name, activity, whether it may run after the\n\
         # export window of a termination closes, and the HTTP operation ids that run it (checked\n\
         # against openapi/mailplane.json). Generated by\n\
         # crates/mailplane/src/control_plane/operations/golden.rs (MAILPLANE_BLESS=1 rewrites it).\n\n",
    );
    for kind in OperationKind::ALL {
        let after = if kind.runs_after_window() {
            "yes"
        } else {
            "no"
        };
        writeln!(
            text,
            "{:<24} activity={:<26} after_window={:<4} http={}",
            kind.name(),
            kind.activity(),
            after,
            http_ids(kind).join(", "),
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
