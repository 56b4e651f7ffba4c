//! Which RACI activity governs each operation of the API: one table, which the OpenAPI
//! document carries as the extension `x-mailplane-activity` on every operation, and from
//! which the book's endpoint table is generated ([`endpoints_markdown`]).
//!
//! The table exists so that a client, a reviewer and the book read the activity of a route
//! from the document instead of from prose. A value is an activity id of the tenant profiles
//! (it always contains a dot), or one of two words that cannot be mistaken for one:
//! [`NONE`] for operations no matrix governs (health probes, the published profiles and
//! catalogue, the caller's own feed and organisation, the tokenless destruction keys and
//! export downloads, whose link is the credential) and [`PER_REQUEST`] for the operations
//! on a request, a proposal or a consultation, which take the activity of the request they
//! name. The activity ids are spelled out here because the library's activity constants are
//! private to its control plane today; they are to name those constants once the library
//! exports them.

use serde_json::Value;

/// The extension's name in the OpenAPI document.
pub const EXTENSION: &str = "x-mailplane-activity";

/// The value for an operation that no RACI matrix governs.
pub const NONE: &str = "none";

/// The value for an operation on a request, which takes the activity of the request it names.
pub const PER_REQUEST: &str = "per-request";

/// Every operation id of the API with the activity that governs it, in the order of the
/// book's endpoint table.
pub const OPERATIONS: &[(&str, &str)] = &[
    ("partner_list", "partner.manage"),
    ("partner_create", "partner.manage"),
    ("partner_view", "partner.manage"),
    ("partner_update", "partner.manage"),
    ("partner_delete", "partner.manage"),
    ("tenant_list", "service.deliver"),
    ("tenant_create", "service.deliver"),
    ("tenant_view", "service.deliver"),
    ("tenant_update", "service.deliver"),
    ("tenant_delete", "configuration.destroy"),
    ("tenant_rebind", "profile.change"),
    ("tenant_relocate", "service.location.choose"),
    ("tenant_offer_choose", "service.sizing.choose"),
    ("subscription_list", "licenses.provide"),
    ("subscription_create", "licenses.provide"),
    ("subscription_seats_set", "service.customize"),
    ("password_policy_view", "service.customize"),
    ("password_policy_set", "service.customize"),
    ("inventory_view", "inventory.provide"),
    ("domain_list", "directory.administer"),
    ("domain_create", "directory.administer"),
    ("domain_view", "directory.administer"),
    ("domain_delete", "directory.administer"),
    ("domain_records_view", "directory.administer"),
    ("domain_verify", "directory.administer"),
    ("mailbox_list", "directory.administer"),
    ("mailbox_create", "directory.administer"),
    ("mailbox_batch_create", "directory.administer"),
    ("mailbox_view", "directory.administer"),
    ("mailbox_update", "directory.administer"),
    ("mailbox_delete", "directory.administer"),
    ("licence_list", "directory.administer"),
    ("licence_assign", "directory.administer"),
    ("licence_unassign", "directory.administer"),
    ("alias_create", "directory.administer"),
    ("mailbox_forwarding_set", "directory.administer"),
    ("mailbox_forwarding_clear", "directory.administer"),
    ("mailbox_password_status", "access.data-plane"),
    ("mailbox_password_set", "access.data-plane"),
    ("message_import", "access.data-plane"),
    ("mailbox_usage_view", "directory.administer"),
    ("retention_view", "retention.manage"),
    ("retention_set", "retention.manage"),
    ("retention_run_list", "retention.manage"),
    ("hold_list", "legal-hold.manage"),
    ("hold_place", "legal-hold.manage"),
    ("hold_release", "legal-hold.manage"),
    ("alias_list", "directory.administer"),
    ("alias_delete", "directory.administer"),
    ("group_list", "directory.administer"),
    ("group_create", "directory.administer"),
    ("group_delete", "directory.administer"),
    ("group_member_add", "directory.administer"),
    ("group_member_remove", "directory.administer"),
    ("credential_list", "access.control-plane"),
    ("credential_register", "access.control-plane"),
    ("credential_view", "access.control-plane"),
    ("credential_revoke", "access.control-plane"),
    ("ticket_list", "incident.report"),
    ("ticket_open", "incident.report"),
    ("ticket_view", "incident.report"),
    ("ticket_comment", "incident.report"),
    ("ticket_handle", "incident.handle"),
    ("export_list", "export.pst.deliver"),
    ("export_create", "export.pst.deliver"),
    ("export_view", "export.pst.deliver"),
    ("export_acknowledge", "export.pst.deliver"),
    ("export_download", NONE),
    ("termination_view", "contract.terminate"),
    ("termination_create", "contract.terminate"),
    ("termination_cancel", "contract.terminate"),
    ("termination_resume", "configuration.destroy"),
    ("destruction_key_list", NONE),
    ("audit_list", "audit.review"),
    ("request_create", PER_REQUEST),
    ("request_list", NONE),
    ("request_view", NONE),
    ("request_fulfil", PER_REQUEST),
    ("request_decline", PER_REQUEST),
    ("request_approve", PER_REQUEST),
    ("request_reject", PER_REQUEST),
    ("request_consent", PER_REQUEST),
    ("request_object", PER_REQUEST),
    ("request_cancel", PER_REQUEST),
    ("event_list", NONE),
    ("webhook_list", NONE),
    ("webhook_create", NONE),
    ("webhook_view", NONE),
    ("webhook_delete", NONE),
    ("webhook_delivery_list", NONE),
    ("profile_list", NONE),
    ("profile_view", NONE),
    ("catalogue_view", NONE),
    ("health_live", NONE),
    ("health_ready", NONE),
];

/// The activity of an operation, by its id.
pub fn of(operation_id: &str) -> Option<&'static str> {
    OPERATIONS
        .iter()
        .find(|(id, _)| *id == operation_id)
        .map(|(_, activity)| *activity)
}

/// Writes each operation's activity into the document. An operation the table does not name
/// is a bug of this crate, caught when the document is built (every test builds it).
pub fn annotate(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            let activity = of(id).unwrap_or_else(|| {
                panic!("the operation `{id}` has no activity in mailplane-http's activities table")
            });
            op[EXTENSION] = Value::from(activity);
        }
    }
}

/// The book's endpoint table (`book/src/endpoints.md`), generated from the OpenAPI document:
/// every operation with its method, path, id, activity, successful answers and summary, in
/// the document's order of paths.
pub fn endpoints_markdown(doc: &Value) -> String {
    let mut out = String::from(
        "<!-- Generated from openapi/mailplane.json by `MAILPLANE_BLESS=1 cargo test -p mailplane-tests --test e2e checked_in`; do not edit. -->\n\n\
         # Endpoints\n\n\
         Every operation of the HTTP API with the RACI activity that governs it, as the OpenAPI\n\
         document carries it in `x-mailplane-activity`. `none`: no matrix governs the operation\n\
         (health probes, the published profiles and catalogue, the caller's own feed, requests\n\
         and webhooks, the tokenless destruction keys and export downloads). `per-request`: the\n\
         operation takes the activity of the request, proposal or consultation it names. See\n\
         [HTTP API](http-api.md) for what the answers mean.\n\n\
         | method | path | operation id | activity | success | summary |\n\
         |---|---|---|---|---|---|\n",
    );
    let Some(paths) = doc["paths"].as_object() else {
        return out;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for method in ["get", "put", "post", "patch", "delete"] {
            let Some(op) = item.get(method) else {
                continue;
            };
            let id = op["operationId"].as_str().unwrap_or("");
            let activity = op[EXTENSION].as_str().unwrap_or(NONE);
            let activity = if activity.contains('.') {
                format!("`{activity}`")
            } else {
                activity.to_owned()
            };
            let summary = op["summary"]
                .as_str()
                .or_else(|| op["description"].as_str())
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace('|', "\\|");
            let success: Vec<&str> = op["responses"]
                .as_object()
                .map(|r| {
                    r.keys()
                        .map(String::as_str)
                        .filter(|code| code.starts_with('2'))
                        .collect()
                })
                .unwrap_or_default();
            out.push_str(&format!(
                "| {} | `{path}` | `{id}` | {activity} | {} | {summary} |\n",
                method.to_uppercase(),
                success.join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table names every operation of the document once, and nothing else.
    #[test]
    fn the_table_names_every_operation_once() {
        let doc = crate::openapi();
        let mut ids = Vec::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                    ids.push(id.to_owned());
                }
            }
        }
        for (id, _) in OPERATIONS {
            assert_eq!(
                OPERATIONS.iter().filter(|(other, _)| other == id).count(),
                1,
                "`{id}` is named twice"
            );
            assert!(ids.iter().any(|i| i == id), "`{id}` is no operation");
        }
        assert_eq!(ids.len(), OPERATIONS.len());
    }

    /// Every activity of the table is one of the shipped tenant profiles', or one of the two
    /// words that are none.
    #[test]
    fn every_activity_is_a_profile_activity() {
        let set = mailplane::PolicySet::builtin();
        for (id, activity) in OPERATIONS {
            if *activity == NONE || *activity == PER_REQUEST {
                continue;
            }
            assert!(
                set.iter()
                    .any(|p| p.activities.iter().any(|a| a.id.as_str() == *activity)),
                "`{id}`: `{activity}` is no activity of a shipped profile"
            );
        }
    }

    /// The document carries the table's value on every operation.
    #[test]
    fn the_document_carries_each_activity() {
        let doc = crate::openapi();
        let mailbox_create = &doc["paths"]["/v1/tenants/{tenant}/mailboxes"]["post"];
        assert_eq!(mailbox_create[EXTENSION], "directory.administer");
        let health = &doc["paths"]["/healthz"]["get"];
        assert_eq!(health[EXTENSION], NONE);
    }
}
