//! Generated files that are checked in must match their sources: the OpenAPI document, the
//! book's endpoint table and the profile tables of the book. Regenerate with the commands in
//! the failure message.

use std::path::PathBuf;

fn repo_file(path: &str) -> (PathBuf, String) {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (p, text)
}

#[test]
fn openapi_document_matches_the_code() {
    let (path, checked_in) = repo_file("openapi/mailplane.json");
    let generated = mailplane_http::openapi_json();
    assert!(
        checked_in == generated,
        "{} is out of date: run `cargo run -- openapi --out openapi/mailplane.json` and commit it",
        path.display()
    );
}

/// The resources operation ids start with: one word each, multi-word resources continue
/// after them (`mailbox_password_set`, `group_member_add`).
const RESOURCES: &[&str] = &[
    "alias",
    "audit",
    "catalogue",
    "contract",
    "credential",
    "destruction",
    "domain",
    "event",
    "export",
    "group",
    "health",
    "hold",
    "inventory",
    "licence",
    "mailbox",
    "message",
    "partner",
    "password",
    "profile",
    "request",
    "retention",
    "subscription",
    "suspension",
    "tenant",
    "termination",
    "ticket",
    "webhook",
];

/// The verbs operation ids end with. `status`, `live` and `ready` are the reads of a state
/// (a mailbox password's, the process's), kept as the probes and the library call them.
const VERBS: &[&str] = &[
    "acknowledge",
    "add",
    "approve",
    "assign",
    "cancel",
    "choose",
    "clear",
    "comment",
    "consent",
    "create",
    "decline",
    "delete",
    "download",
    "end",
    "fulfil",
    "handle",
    "import",
    "lift",
    "list",
    "live",
    "object",
    "open",
    "place",
    "ready",
    "rebind",
    "register",
    "reject",
    "release",
    "relocate",
    "remove",
    "restore",
    "resume",
    "revoke",
    "set",
    "status",
    "unassign",
    "update",
    "verify",
    "view",
];

#[test]
fn every_operation_id_is_resource_verb() {
    let doc: serde_json::Value = serde_json::from_str(&mailplane_http::openapi_json()).unwrap();
    let mut ids = Vec::new();
    for (_, item) in doc["paths"].as_object().unwrap() {
        for (_, op) in item.as_object().unwrap() {
            if let Some(id) = op.get("operationId").and_then(|v| v.as_str()) {
                ids.push(id.to_string());
            }
        }
    }
    assert!(ids.len() >= 17, "{ids:?}");
    for id in &ids {
        let parts: Vec<_> = id.split('_').collect();
        assert!(parts.len() >= 2, "`{id}` is not resource_verb");
        assert!(
            RESOURCES.contains(&parts[0]),
            "`{id}` does not start with a resource of {RESOURCES:?}"
        );
        assert!(
            VERBS.contains(parts.last().unwrap()),
            "`{id}` does not end with a verb of {VERBS:?}"
        );
    }
}

#[test]
fn book_profile_pages_are_rendered_from_policies() {
    for profile in mailplane::PolicySet::builtin().iter() {
        let (path, checked_in) = repo_file(&format!("book/src/profiles/{}.md", profile.id));
        assert!(
            checked_in == mailplane_policy::render_markdown(profile),
            "{} is out of date: run `cargo run -- policy render {} > {}`",
            path.display(),
            profile.id,
            path.display()
        );
    }
}

/// The book's endpoint table is generated from the OpenAPI document (each operation's method,
/// path, id, `x-mailplane-activity` and summary). With `MAILPLANE_BLESS=1` the test writes the
/// page instead of comparing it.
#[test]
fn book_endpoint_table_is_rendered_from_the_document() {
    let (path, checked_in) = repo_file("book/src/endpoints.md");
    let generated = mailplane_http::activities::endpoints_markdown(&mailplane_http::openapi());
    if std::env::var_os("MAILPLANE_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    assert!(
        checked_in == generated,
        "{} is out of date: run `MAILPLANE_BLESS=1 cargo test -p mailplane-tests --test e2e checked_in` and commit it",
        path.display()
    );
}
