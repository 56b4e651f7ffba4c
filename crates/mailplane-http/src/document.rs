//! What the plumbing adds to every operation of the OpenAPI document.
//!
//! The middleware in [`crate::conditional`], [`crate::idempotency`] and [`crate::limits`]
//! applies to every route, so its headers and answers are added here, once, rather than
//! in each handler's annotation: entity tags and 304 on reads, `If-Match` and 412 on
//! changes of a readable resource, `Idempotency-Key` and its 409 and 422 on every `POST`,
//! and 429 with `Retry-After` on every authenticated operation, 413 on every operation
//! that takes a body ([`crate::bodies`]) and 431 on every operation ([`crate::headers`]).
//! Generated clients see them all. Two corrections of utoipa's output for generators are
//! made here too: free-form objects say they take any member, and raw bodies are binary
//! strings. Last, every creation links to what can be done with what it created (OpenAPI
//! `links`), so that clients and stateful fuzzers can chain a created object's id into the
//! next call.

use serde_json::{Value, json};
use utoipa::openapi::OpenApi;

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

fn header_param(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "header", "description": description, "required": false, "schema": schema})
}

/// The shared pieces, referenced from every operation.
fn components() -> Value {
    let mut limited =
        problem("The caller sent more requests than its rate allows; nothing was done.");
    limited["headers"] = json!({"Retry-After": {"$ref": "#/components/headers/RetryAfter"}});
    json!({
        "parameters": {
            "IfNoneMatch": header_param(
                "If-None-Match",
                "Entity tags the caller holds; a match answers 304 with no body.",
                json!({"type": "string"}),
            ),
            "IfMatch": header_param(
                "If-Match",
                "Change only if the resource's current entity tag (its `ETag`) is one of these; `*`: only if it exists. Checked inside the change's transaction.",
                json!({"type": "string"}),
            ),
            "IdempotencyKey": header_param(
                "Idempotency-Key",
                "1 to 255 visible ASCII characters naming this call; a retry by the same principal (party, organisation, subject and roles) with the same key and request within 24 hours replays the first answer, marked `Idempotency-Replayed: true`. Another principal's call with the same key is its own.",
                json!({"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}),
            ),
        },
        "headers": {
            "ETag": {
                "description": "The entity tag of this representation: send it as `If-Match` to change the resource only if it is unchanged, or as `If-None-Match` to be told 304 when it is.",
                "schema": {"type": "string"}
            },
            "IdempotencyReplayed": {
                "description": "`true` when the answer is the stored one of an earlier call with the same `Idempotency-Key`; absent otherwise.",
                "schema": {"type": "string", "enum": ["true"]}
            },
            "RetryAfter": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer", "minimum": 1}
            }
        },
        "responses": {
            "NotModified": {"description": "The representation still has one of the tags of `If-None-Match`; no body."},
            "PreconditionFailed": problem("`If-Match` does not match the resource's current entity tag; nothing was changed."),
            "IdempotencyConflict": problem("A conflict with existing state, or a call with the same `Idempotency-Key` is still running."),
            "IdempotencyMismatch": problem("The `Idempotency-Key` was used for another request in the last 24 hours; nothing was done."),
            "TooManyRequests": limited,
            "PayloadTooLarge": problem("The body is larger than this operation takes (2 MiB; 16 MiB for a mailbox batch; the data plane's largest message for an import); it was not read, and nothing was done."),
            "HeadersTooLarge": problem("The request's header fields total more than 64 KiB; `errors` names the largest. Nothing was read or done. A request head over 2 MiB cannot be read at all and gets an empty 431."),
        }
    })
}

fn reference(kind: &str, name: &str) -> Value {
    json!({"$ref": format!("#/components/{kind}/{name}")})
}

fn add_param(op: &mut Value, name: &str, component: &str) {
    let params = op
        .as_object_mut()
        .expect("an operation is an object")
        .entry("parameters")
        .or_insert_with(|| json!([]));
    let list = params.as_array_mut().expect("parameters are a list");
    if !list
        .iter()
        .any(|p| p["name"] == name && p["in"] == "header")
    {
        list.push(reference("parameters", component));
    }
}

fn add_response(op: &mut Value, status: &str, component: &str) {
    let responses = op["responses"]
        .as_object_mut()
        .expect("responses are an object");
    responses
        .entry(status)
        .or_insert_with(|| reference("responses", component));
    // Keep the answers in status order, as the rest of the document has them.
    responses.sort_keys();
}

/// Says of a free-form object (`serde_json::Value` fields, such as a request's payload)
/// that it may hold any member: without `additionalProperties`, generators such as
/// openapi-typescript read it as an object with no members at all.
fn open_free_form_objects(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let is_object = match map.get("type") {
                Some(Value::String(t)) => t == "object",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
                _ => false,
            };
            let shaped = [
                "properties",
                "additionalProperties",
                "$ref",
                "allOf",
                "oneOf",
                "anyOf",
            ]
            .iter()
            .any(|k| map.contains_key(*k));
            if is_object && !shaped {
                map.insert("additionalProperties".into(), Value::Bool(true));
            }
            for child in map.values_mut() {
                open_free_form_objects(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(open_free_form_objects),
        _ => {}
    }
}

/// Declares raw bodies (an archive, a message) as binary strings: utoipa writes a byte
/// vector as an array of integers, which generated clients turn into lists of numbers, and
/// a message as text, which they would decode.
fn binary_bodies(op: &mut Value) {
    let Some(op) = op.as_object_mut() else {
        return;
    };
    let mut contents: Vec<&mut Value> = Vec::new();
    for (key, part) in op.iter_mut() {
        match key.as_str() {
            "requestBody" => contents.extend(part.get_mut("content")),
            "responses" => contents.extend(
                part.as_object_mut()
                    .into_iter()
                    .flat_map(|r| r.values_mut())
                    .filter_map(|r| r.get_mut("content")),
            ),
            _ => {}
        }
    }
    for content in contents {
        let Some(media) = content.as_object_mut() else {
            continue;
        };
        for (media_type, entry) in media.iter_mut() {
            let schema = &entry["schema"];
            let bytes = (schema["type"] == "array" && schema["items"]["type"] == "integer")
                || (schema["type"] == "string" && schema.get("format").is_none());
            if !media_type.contains("json") && bytes {
                entry["schema"] = json!({"type": "string", "format": "binary"});
            }
        }
    }
}

/// Adds the plumbing's headers and answers to every operation. The result stays JSON:
/// utoipa's types do not read their own output back.
pub fn with_plumbing(doc: OpenApi) -> Value {
    let mut value = serde_json::to_value(&doc).expect("the OpenAPI document serialises");
    open_free_form_objects(&mut value);
    let paths = value["paths"]
        .as_object_mut()
        .expect("the document has paths");
    for item in paths.values_mut() {
        let readable = item.get("get").is_some_and(|get| {
            get["responses"]["200"]["content"]
                .get("application/json")
                .is_some()
        });
        let item = item.as_object_mut().expect("a path item is an object");
        for (method, op) in item.iter_mut() {
            let authenticated = op.get("security").is_some();
            binary_bodies(op);
            match method.as_str() {
                "get" => {
                    if let Some(ok) = op["responses"].get_mut("200")
                        && ok["content"].get("application/json").is_some()
                    {
                        ok.as_object_mut()
                            .expect("a response is an object")
                            .entry("headers")
                            .or_insert_with(|| json!({}))
                            .as_object_mut()
                            .expect("headers are an object")
                            .insert("ETag".into(), reference("headers", "ETag"));
                        add_param(op, "If-None-Match", "IfNoneMatch");
                        add_response(op, "304", "NotModified");
                    }
                }
                "patch" | "put" | "delete" if readable => {
                    add_param(op, "If-Match", "IfMatch");
                    add_response(op, "412", "PreconditionFailed");
                }
                "post" => {
                    add_param(op, "Idempotency-Key", "IdempotencyKey");
                    let answers = op["responses"]
                        .as_object_mut()
                        .expect("responses are an object");
                    for (status, answer) in answers.iter_mut() {
                        if status.starts_with('2')
                            && let Some(answer) = answer.as_object_mut()
                            && !answer.contains_key("$ref")
                        {
                            answer
                                .entry("headers")
                                .or_insert_with(|| json!({}))
                                .as_object_mut()
                                .expect("headers are an object")
                                .entry("Idempotency-Replayed")
                                .or_insert_with(|| reference("headers", "IdempotencyReplayed"));
                        }
                    }
                    add_response(op, "409", "IdempotencyConflict");
                    add_response(op, "422", "IdempotencyMismatch");
                }
                _ => {}
            }
            if authenticated {
                add_response(op, "429", "TooManyRequests");
            }
            if op.get("requestBody").is_some() {
                add_response(op, "413", "PayloadTooLarge");
            }
            add_response(op, "431", "HeadersTooLarge");
        }
    }
    let shared = value["components"]
        .as_object_mut()
        .expect("the document has components");
    for (kind, entries) in components().as_object().expect("components are an object") {
        let target = shared
            .entry(kind.clone())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("a component kind is an object");
        for (name, entry) in entries.as_object().expect("entries are an object") {
            target.insert(name.clone(), entry.clone());
        }
    }
    add_links(&mut value);
    crate::activities::annotate(&mut value);
    value
}

/// The names of the path parameters of a path template, in order: `{tenant}` and `{mailbox}`
/// of `/v1/tenants/{tenant}/mailboxes/{mailbox}`.
fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// The path parameter an answer's `id` fills: the answer's schema named as a parameter
/// (`Alias` is `{alias}`, a filed `RequestView` is `{request}`), else the one right after
/// the creating path (`POST .../holds` makes the `LegalHold` that `.../holds/{hold}` names).
fn created_parameter(path: &str, schema: &str, operations: &[(String, String)]) -> Option<String> {
    let named = schema.strip_suffix("View").unwrap_or(schema).to_lowercase();
    if operations
        .iter()
        .any(|(_, p)| path_parameters(p).contains(&named.as_str()))
    {
        return Some(named);
    }
    let prefix = format!("{path}/{{");
    operations.iter().find_map(|(_, p)| {
        let rest = p.strip_prefix(&prefix)?;
        Some(rest.split('}').next()?.to_owned())
    })
}

/// Adds OpenAPI `links` to the answers of creations (`201`, and `202` for a filed request):
/// from the created object's `id` to every operation that takes it as a path parameter, with
/// the creation's own path parameters passed on. An operation that needs a path parameter the
/// creation does not have is not linked.
fn add_links(value: &mut Value) {
    // Every operation, as its id and its path.
    let mut operations: Vec<(String, String)> = Vec::new();
    for (path, item) in value["paths"].as_object().expect("the document has paths") {
        for (method, op) in item.as_object().expect("a path item is an object") {
            if let Some(id) = op.get("operationId").and_then(Value::as_str)
                && ["get", "put", "post", "patch", "delete"].contains(&method.as_str())
            {
                operations.push((id.to_owned(), path.clone()));
            }
        }
    }
    for (path, item) in value["paths"]
        .as_object_mut()
        .expect("the document has paths")
    {
        let Some(post) = item.get_mut("post") else {
            continue;
        };
        let own = path_parameters(path);
        for (status, answer) in post["responses"]
            .as_object_mut()
            .expect("responses are an object")
        {
            if status != "201" && status != "202" {
                continue;
            }
            let Some(schema) = answer["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .map(str::to_owned)
            else {
                continue;
            };
            let Some(created) = created_parameter(path, &schema, &operations) else {
                continue;
            };
            let mut links = serde_json::Map::new();
            for (target, target_path) in &operations {
                let wanted = path_parameters(target_path);
                if !wanted.contains(&created.as_str())
                    || wanted.iter().any(|p| *p != created && !own.contains(p))
                {
                    continue;
                }
                let parameters: serde_json::Map<String, Value> = wanted
                    .iter()
                    .map(|p| {
                        let from = if *p == created {
                            "$response.body#/id".to_owned()
                        } else {
                            format!("$request.path.{p}")
                        };
                        ((*p).to_owned(), Value::String(from))
                    })
                    .collect();
                links.insert(
                    target.clone(),
                    json!({"operationId": target, "parameters": parameters}),
                );
            }
            if !links.is_empty() {
                answer
                    .as_object_mut()
                    .expect("a response is an object")
                    .insert("links".into(), Value::Object(links));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operation with this id, and its path.
    fn operation<'a>(doc: &'a Value, id: &str) -> (&'a str, &'a Value) {
        doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .values()
                    .map(move |op| (path.as_str(), op))
            })
            .find(|(_, op)| op["operationId"] == id)
            .unwrap_or_else(|| panic!("no operation {id}"))
    }

    #[test]
    fn a_creation_links_its_id_to_what_acts_on_it() {
        let doc = crate::openapi();
        let (_, create) = operation(&doc, "domain_create");
        let links = &create["responses"]["201"]["links"];
        for target in [
            "domain_view",
            "domain_delete",
            "domain_records_view",
            "domain_verify",
        ] {
            assert_eq!(
                links[target],
                json!({"operationId": target, "parameters": {
                    "tenant": "$request.path.tenant", "domain": "$response.body#/id"}}),
                "domain_create -> {target}"
            );
        }
        // A filed request (202) leads to the request's operations, not the mailbox's.
        let filed = &operation(&doc, "mailbox_create").1["responses"]["202"]["links"];
        assert!(filed.get("request_approve").is_some(), "{filed}");
        assert!(filed.get("mailbox_view").is_none(), "{filed}");
        let created = &operation(&doc, "mailbox_create").1["responses"]["201"]["links"];
        assert!(created.get("mailbox_delete").is_some(), "{created}");
        assert!(created.get("mailbox_password_set").is_some(), "{created}");
        let held = &operation(&doc, "hold_place").1["responses"]["201"]["links"];
        assert!(held.get("hold_release").is_some(), "{held}");
    }

    #[test]
    fn every_link_names_an_operation_and_fills_all_its_path_parameters() {
        let doc = crate::openapi();
        let mut count = 0;
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let Some(answers) = op.get("responses").and_then(Value::as_object) else {
                    continue;
                };
                for answer in answers.values() {
                    for (name, link) in answer["links"].as_object().into_iter().flatten() {
                        let (path, _) = operation(&doc, link["operationId"].as_str().unwrap());
                        let mut filled: Vec<&str> = link["parameters"]
                            .as_object()
                            .unwrap()
                            .keys()
                            .map(String::as_str)
                            .collect();
                        filled.sort_unstable();
                        let mut wanted = path_parameters(path);
                        wanted.sort_unstable();
                        assert_eq!(filled, wanted, "link {name} of {}", op["operationId"]);
                        count += 1;
                    }
                }
            }
        }
        assert!(count > 50, "only {count} links");
    }
}
