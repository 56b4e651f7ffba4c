//! Which RACI activity governs each operation of the API: a table per resource, kept beside
//! its routes (`api/<resource>.rs`) and listed here, which the OpenAPI document carries as the
//! extension `x-mailplane-activity` on every operation, and from which the book's endpoint
//! table is generated ([`endpoints_markdown`]).
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

use serde_json::Value;

/// The extension's name in the OpenAPI document.
pub const EXTENSION: &str = "x-mailplane-activity";

/// The value for an operation that no RACI matrix governs.
pub const NONE: &str = "none";

/// The value for an operation on a request, which takes the activity of the request it names.
pub const PER_REQUEST: &str = "per-request";

/// Every resource's table of its operation ids with the activity that governs each, in the
/// order of the book's endpoint table. Each table lives beside its routes (`api/<resource>.rs`).
const TABLES: &[&[(&str, &str)]] = &[
    crate::api::partners::ACTIVITIES,
    crate::api::tenants::ACTIVITIES,
    crate::api::catalogue::ACTIVITIES,
    crate::api::passwords::ACTIVITIES,
    crate::api::inventory::ACTIVITIES,
    crate::api::domains::ACTIVITIES,
    crate::api::mailboxes::ACTIVITIES,
    crate::api::directory::ACTIVITIES,
    crate::api::messages::ACTIVITIES,
    crate::api::retention::ACTIVITIES,
    crate::api::suspensions::ACTIVITIES,
    crate::api::credentials::ACTIVITIES,
    crate::api::tickets::ACTIVITIES,
    crate::api::lifecycle::ACTIVITIES,
    crate::api::audit::ACTIVITIES,
    crate::api::requests::ACTIVITIES,
    crate::api::webhooks::ACTIVITIES,
    crate::api::profiles::ACTIVITIES,
    crate::api::health::ACTIVITIES,
];

/// Every operation id of the API with the activity that governs it.
pub fn operations() -> impl Iterator<Item = (&'static str, &'static str)> {
    TABLES.iter().flat_map(|table| table.iter().copied())
}

/// The activity of an operation, by its id.
pub fn of(operation_id: &str) -> Option<&'static str> {
    operations()
        .find(|(id, _)| *id == operation_id)
        .map(|(_, activity)| activity)
}

/// Writes each operation's activity into the document. An operation no table names
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

    /// The tables name every operation of the document once, and nothing else.
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
        for (id, _) in operations() {
            assert_eq!(
                operations().filter(|(other, _)| *other == id).count(),
                1,
                "`{id}` is named twice"
            );
            assert!(ids.iter().any(|i| i == id), "`{id}` is no operation");
        }
        assert_eq!(ids.len(), operations().count());
    }

    /// Every activity of the tables is one of the shipped tenant profiles', or one of the two
    /// words that are none.
    #[test]
    fn every_activity_is_a_profile_activity() {
        let set = mailplane::PolicySet::builtin();
        for (id, activity) in operations() {
            if activity == NONE || activity == PER_REQUEST {
                continue;
            }
            assert!(
                set.iter()
                    .any(|p| p.activities.iter().any(|a| a.id.as_str() == activity)),
                "`{id}`: `{activity}` is no activity of a shipped profile"
            );
        }
    }

    /// The document carries the tables' value on every operation.
    #[test]
    fn the_document_carries_each_activity() {
        let doc = crate::openapi();
        let mailbox_create = &doc["paths"]["/v1/tenants/{tenant}/mailboxes"]["post"];
        assert_eq!(mailbox_create[EXTENSION], "directory.administer");
        let health = &doc["paths"]["/healthz"]["get"];
        assert_eq!(health[EXTENSION], NONE);
    }
}
