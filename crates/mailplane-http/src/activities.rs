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
//! name. Each activity is named by the library's constant
//! ([`mailplane::activity`]), the same one the control plane decides with, so a renamed
//! activity changes here too.

use mailplane::activity;
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
    ("partner_list", activity::PARTNER_MANAGE),
    ("partner_create", activity::PARTNER_MANAGE),
    ("partner_view", activity::PARTNER_MANAGE),
    ("partner_update", activity::PARTNER_MANAGE),
    ("partner_delete", activity::PARTNER_MANAGE),
    ("tenant_list", activity::TENANT_DELIVER),
    ("tenant_create", activity::TENANT_DELIVER),
    ("tenant_view", activity::TENANT_DELIVER),
    ("tenant_update", activity::TENANT_DELIVER),
    ("tenant_delete", activity::TENANT_DESTROY),
    ("tenant_rebind", activity::PROFILE_CHANGE),
    ("tenant_relocate", activity::LOCATION),
    ("tenant_offer_choose", activity::SIZING),
    ("subscription_list", activity::LICENCES),
    ("subscription_create", activity::LICENCES),
    ("subscription_seats_set", activity::CUSTOMIZE),
    ("password_policy_view", activity::CUSTOMIZE),
    ("password_policy_set", activity::CUSTOMIZE),
    ("inventory_view", activity::INVENTORY),
    ("domain_list", activity::DIRECTORY),
    ("domain_create", activity::DIRECTORY),
    ("domain_view", activity::DIRECTORY),
    ("domain_delete", activity::DIRECTORY),
    ("domain_records_view", activity::DIRECTORY),
    ("domain_verify", activity::DIRECTORY),
    ("mailbox_list", activity::DIRECTORY),
    ("mailbox_create", activity::DIRECTORY),
    ("mailbox_batch_create", activity::DIRECTORY),
    ("mailbox_view", activity::DIRECTORY),
    ("mailbox_update", activity::DIRECTORY),
    ("mailbox_delete", activity::DIRECTORY),
    ("licence_list", activity::DIRECTORY),
    ("licence_assign", activity::DIRECTORY),
    ("licence_unassign", activity::DIRECTORY),
    ("alias_create", activity::DIRECTORY),
    ("mailbox_forwarding_set", activity::DIRECTORY),
    ("mailbox_forwarding_clear", activity::DIRECTORY),
    ("mailbox_password_status", activity::DATA_PLANE_ACCESS),
    ("mailbox_password_set", activity::DATA_PLANE_ACCESS),
    ("message_import", activity::DATA_PLANE_ACCESS),
    ("mailbox_usage_view", activity::DIRECTORY),
    ("retention_view", activity::RETENTION),
    ("retention_set", activity::RETENTION),
    ("retention_run_list", activity::RETENTION),
    ("hold_list", activity::HOLDS),
    ("hold_place", activity::HOLDS),
    ("hold_release", activity::HOLDS),
    ("alias_list", activity::DIRECTORY),
    ("alias_delete", activity::DIRECTORY),
    ("group_list", activity::DIRECTORY),
    ("group_create", activity::DIRECTORY),
    ("group_delete", activity::DIRECTORY),
    ("group_member_add", activity::DIRECTORY),
    ("group_member_remove", activity::DIRECTORY),
    ("credential_list", activity::CONTROL_PLANE_ACCESS),
    ("credential_register", activity::CONTROL_PLANE_ACCESS),
    ("credential_view", activity::CONTROL_PLANE_ACCESS),
    ("credential_revoke", activity::CONTROL_PLANE_ACCESS),
    ("ticket_list", activity::INCIDENT_REPORT),
    ("ticket_open", activity::INCIDENT_REPORT),
    ("ticket_view", activity::INCIDENT_REPORT),
    ("ticket_comment", activity::INCIDENT_REPORT),
    ("ticket_handle", activity::INCIDENT_HANDLE),
    ("export_list", activity::EXPORT),
    ("export_create", activity::EXPORT),
    ("export_view", activity::EXPORT),
    ("export_acknowledge", activity::EXPORT),
    ("export_download", NONE),
    ("termination_view", activity::TERMINATE),
    ("termination_create", activity::TERMINATE),
    ("termination_cancel", activity::TERMINATE),
    ("termination_resume", activity::TENANT_DESTROY),
    ("destruction_key_list", NONE),
    ("audit_list", activity::AUDIT_REVIEW),
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
