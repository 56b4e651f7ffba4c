//! Tenant isolation, generated from the OpenAPI document: every operation with a path
//! parameter is called by every intruder role (a customer of tenant A, a partner of other
//! customers) once with the ids of tenant B's real objects and once with random ids, and
//! both answers must be the same 404 problem document, byte for byte once the ids in them
//! are replaced by their parameter's name. B's objects do not exist for intruders.
//!
//! The requests are built from the document, not listed by hand, so a new route is covered
//! by default: a path parameter with no real object to name, a body of a media type the
//! generator cannot build or a required query parameter it cannot fill fails the test with
//! the operation's id, unless the operation is in [`EXCEPTIONS`] with its reason.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, Request, header};
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use serde_json::{Map, Value, json};

use mailplane::types::{PartnerId, TenantId};
use mailplane_tests::{Client, Harness, Reply, e2e, fixtures};

/// Operations with path parameters the generator does not call, each with its reason.
const EXCEPTIONS: &[(&str, &str)] = &[(
    "profile_view",
    "profiles are the platform's published RACI matrices: every caller reads every one, and no tenant owns one",
)];

/// Body fields that name an object, by the path parameter whose ids they take.
const BODY_IDS: &[(&str, &str)] = &[("domain_id", "domain"), ("mailbox_id", "mailbox")];

/// Bodies for operations whose schema allows a minimal body the library refuses as input
/// (an empty change, a short password), so that the call reaches the object it names. A
/// string `{name}` stands for the id of that parameter.
const BODIES: &[(&str, &str)] = &[
    ("mailbox_update", r#"{"display_name": "Intruder"}"#),
    (
        "mailbox_forwarding_set",
        r#"{"address": "x@elsewhere.example"}"#,
    ),
    ("group_member_add", r#"{"address": "x@elsewhere.example"}"#),
    (
        "mailbox_password_set",
        r#"{"password": "Correct-Horse-Battery-9"}"#,
    ),
    ("subscription_seats_set", r#"{"add": 1}"#),
];

/// Queries for operations whose generated query the library refuses before it looks the
/// object up (a group member named by a mailbox of another tenant).
const QUERIES: &[(&str, &str)] = &[("group_member_remove", "address=x@elsewhere.example")];

/// The objects of tenant B and its partner: for each path parameter, every real id to try
/// (a webhook of the tenant and one of the partner, say).
struct Victims {
    ids: BTreeMap<String, Vec<String>>,
    /// A working download token, of one of tenant A's own exports.
    token: String,
}

/// One request built from the document, before it is sent.
struct Built {
    method: Method,
    uri: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    /// Each id in the request with the name it is replaced by in the answer.
    ids: Vec<(String, String)>,
}

/// Creates the object with the first of `callers` that may (201), as the matrix of the
/// tenant's profile decides who that is.
async fn create(callers: &[&Client], path: &str, body: Value) -> Value {
    let mut answers = Vec::new();
    for c in callers {
        let r = c.post(path, body.clone()).await;
        if r.status == 201 {
            return r.body;
        }
        answers.push(format!("{} {}", r.status, r.text));
    }
    panic!("no caller could create {path}: {answers:#?}");
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

/// A ready export of `tenant`, made by provider automation and the job worker.
async fn ready_export(h: &Harness, tenant: TenantId) -> Value {
    let e = create(
        &[&h.customer_admin(tenant)],
        &format!("/v1/tenants/{tenant}/exports"),
        json!({ "format": "mbox" }),
    )
    .await;
    h.run_jobs().await;
    let e = h
        .customer_admin(tenant)
        .get(&format!("/v1/tenants/{tenant}/exports/{}", id_of(&e)))
        .await
        .expect(200);
    assert_eq!(e["state"], "ready", "{e:#}");
    e
}

/// A real object of every kind in tenant B and its partner.
async fn victims(h: &Harness, partner_b: PartnerId, b: TenantId, tenant_a: TenantId) -> Victims {
    let owner = h.customer_admin(b);
    let reseller = h.partner_admin(partner_b);
    let provider = h.provider_admin();
    let callers = [&owner, &reseller, &provider];
    let d = fixtures::domain(h, b, "b.example").await;
    let m = fixtures::mailbox(h, b, &d, "victim").await;
    let alias = create(
        &callers,
        &format!("/v1/tenants/{b}/mailboxes/{m}/aliases"),
        json!({ "local_part": "sales", "domain_id": d }),
    )
    .await;
    let group = create(
        &callers,
        &format!("/v1/tenants/{b}/groups"),
        json!({ "local_part": "team", "domain_id": d, "display_name": "Team" }),
    )
    .await;
    let tenant_hook = create(
        &[&owner],
        "/v1/webhooks",
        json!({ "url": "http://127.0.0.1:9/tenant-b" }),
    )
    .await;
    let partner_hook = create(
        &[&reseller],
        "/v1/webhooks",
        json!({ "url": "http://127.0.0.1:9/partner-b" }),
    )
    .await;
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let credential = create(
        &callers,
        &format!("/v1/tenants/{b}/credentials"),
        json!({ "name": "ci", "public_key": public_pem, "roles": ["tenant-reader"] }),
    )
    .await;
    let ticket = create(
        &callers,
        &format!("/v1/tenants/{b}/tickets"),
        json!({ "title": "Slow", "description": "Mail is slow." }),
    )
    .await;
    // A pending proposal: the partner's helpdesk reports for its customer.
    let proposal = h
        .partner(partner_b, "partner-helpdesk")
        .post(
            &format!("/v1/tenants/{b}/tickets"),
            json!({ "title": "Bounces", "description": "Many bounces." }),
        )
        .await
        .expect(202);
    let hold = create(
        &callers,
        &format!("/v1/tenants/{b}/holds"),
        json!({ "mailbox_id": m, "reason": "Case 7" }),
    )
    .await;
    let suspension = create(
        &callers,
        &format!("/v1/tenants/{b}/suspensions"),
        json!({ "mailbox_id": m, "reason": "abuse" }),
    )
    .await;
    let subscriptions = owner
        .get(&format!("/v1/tenants/{b}/subscriptions"))
        .await
        .expect(200);
    let subscription = match subscriptions["items"].as_array().unwrap().first() {
        Some(s) => s.clone(),
        None => {
            create(
                &callers,
                &format!("/v1/tenants/{b}/subscriptions"),
                json!({ "sku": "exchange-mailbox" }),
            )
            .await
        }
    };
    let sku = subscription["sku"].as_str().unwrap().to_string();
    let export = ready_export(h, b).await;
    // The intruder's token is a real one, of tenant A's own export.
    let own = ready_export(h, tenant_a).await;
    let url = own["download_url"].as_str().expect("a download link");
    let token = url.split_once("token=").expect("a token").1.to_string();
    let mut ids = BTreeMap::new();
    for (name, values) in [
        ("tenant", vec![b.to_string()]),
        ("partner", vec![partner_b.to_string()]),
        ("domain", vec![d]),
        ("mailbox", vec![m]),
        ("alias", vec![id_of(&alias)]),
        ("group", vec![id_of(&group)]),
        ("webhook", vec![id_of(&tenant_hook), id_of(&partner_hook)]),
        ("credential", vec![id_of(&credential)]),
        ("ticket", vec![id_of(&ticket)]),
        ("request", vec![id_of(&proposal)]),
        ("hold", vec![id_of(&hold)]),
        ("suspension", vec![id_of(&suspension)]),
        ("subscription", vec![id_of(&subscription)]),
        ("sku", vec![sku]),
        ("export", vec![id_of(&export)]),
    ] {
        ids.insert(name.to_string(), values);
    }
    Victims { ids, token }
}

/// Follows a `$ref` within the document.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let mut at = doc;
            for part in r.trim_start_matches("#/").split('/') {
                at = &at[part];
            }
            resolve(doc, at)
        }
        None => schema,
    }
}

/// A minimal value of `schema`: the required properties of objects, the first of enums
/// and alternatives, the least allowed number and string. A field that names an object
/// (`mailbox_id`) takes the id the request is built with.
fn minimal(doc: &Value, schema: &Value, field: &str, ids: &BTreeMap<String, String>) -> Value {
    let schema = resolve(doc, schema);
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(options) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        let option = options
            .iter()
            .find(|o| o["type"] != "null")
            .expect("an alternative other than null");
        return minimal(doc, option, field, ids);
    }
    let kind = match &schema["type"] {
        Value::Array(types) => types
            .iter()
            .find(|t| *t != "null")
            .and_then(Value::as_str)
            .unwrap_or("null"),
        t => t.as_str().unwrap_or("object"),
    };
    match kind {
        "object" => {
            let mut out = Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                out.insert(
                    name.to_string(),
                    minimal(doc, &schema["properties"][name], name, ids),
                );
            }
            Value::Object(out)
        }
        "array" => Value::Array(vec![]),
        "integer" | "number" => json!(schema["minimum"].as_i64().unwrap_or(0).max(1)),
        "boolean" => json!(false),
        "string" if schema["format"] == "uuid" => {
            let kind = BODY_IDS
                .iter()
                .find(|(f, _)| *f == field)
                .map(|(_, kind)| *kind);
            match kind.and_then(|k| ids.get(k)) {
                Some(id) => json!(id),
                None => json!(uuid::Uuid::now_v7().to_string()),
            }
        }
        "string" => {
            let len = schema["minLength"].as_u64().unwrap_or(1).max(1) as usize;
            json!("x".repeat(len))
        }
        _ => Value::Null,
    }
}

/// Builds the request of one operation with `ids` for its path parameters, or says why it
/// cannot.
fn build(
    doc: &Value,
    method: &str,
    template: &str,
    op: &Value,
    ids: &BTreeMap<String, String>,
    token: &str,
) -> Result<Built, String> {
    let op_id = op["operationId"].as_str().unwrap_or_default();
    let mut uri = template.to_string();
    let mut query = Vec::new();
    let mut used = Vec::new();
    let fixed_query = QUERIES.iter().find(|(id, _)| *id == op_id).map(|(_, q)| *q);
    for p in op["parameters"].as_array().into_iter().flatten() {
        let p = resolve(doc, p);
        let name = p["name"].as_str().unwrap_or_default();
        match p["in"].as_str() {
            Some("path") => {
                let id = ids
                    .get(name)
                    .ok_or_else(|| format!("no real object for the path parameter `{name}`"))?;
                uri = uri.replace(&format!("{{{name}}}"), id);
                used.push((id.clone(), format!("{{{name}}}")));
            }
            Some("query") if fixed_query.is_some() => {}
            Some("query") => {
                // An id in the query names an object like a path parameter does.
                let kind = name.strip_suffix("_id");
                if let Some(id) = kind.and_then(|k| ids.get(k)) {
                    query.push(format!("{name}={id}"));
                    used.push((id.clone(), format!("{{{}}}", kind.unwrap())));
                } else if name == "token" {
                    query.push(format!("token={token}"));
                } else if p["required"] == true {
                    return Err(format!(
                        "no value for the required query parameter `{name}`"
                    ));
                }
            }
            _ => {}
        }
    }
    query.extend(fixed_query.map(str::to_string));
    if !query.is_empty() {
        uri = format!("{uri}?{}", query.join("&"));
    }
    let (content_type, body) = match op["requestBody"]["content"].as_object() {
        None => (None, Vec::new()),
        Some(content) if content.contains_key("application/json") => {
            let schema = &content["application/json"]["schema"];
            let value = match BODIES.iter().find(|(id, _)| *id == op_id) {
                Some((_, text)) => {
                    let mut text = text.to_string();
                    for (name, id) in ids {
                        text = text.replace(&format!("{{{name}}}"), id);
                    }
                    serde_json::from_str(&text).unwrap()
                }
                None => minimal(doc, schema, "", ids),
            };
            for (field, kind) in BODY_IDS {
                if let (Some(id), Some(v)) = (ids.get(*kind), value[*field].as_str())
                    && v == id
                {
                    used.push((id.clone(), format!("{{{kind}}}")));
                }
            }
            (
                Some("application/json"),
                serde_json::to_vec(&value).unwrap(),
            )
        }
        Some(content) if content.contains_key("message/rfc822") => (
            Some("message/rfc822"),
            b"From: a@b.example\r\nSubject: hi\r\n\r\nHello\r\n".to_vec(),
        ),
        Some(content) => {
            return Err(format!(
                "no body for the media types {:?}",
                content.keys().collect::<Vec<_>>()
            ));
        }
    };
    Ok(Built {
        method: method.to_uppercase().parse().unwrap(),
        uri,
        content_type,
        body,
        ids: used,
    })
}

/// Sends a built request as `client` (with its bearer token) or without any token.
async fn send(client: &Client, built: &Built, bearer: bool, extra: &[(&str, &str)]) -> Reply {
    let mut req = Request::builder()
        .method(built.method.clone())
        .uri(&built.uri);
    if let (true, Some(t)) = (bearer, client.token()) {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(ct) = built.content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    client
        .send_request(req.body(Body::from(built.body.clone())).unwrap())
        .await
}

/// The answer's bytes with every id of the request replaced by its parameter's name.
fn normalised(reply: &Reply, built: &Built) -> String {
    let mut text = reply.text.clone();
    for (id, name) in &built.ids {
        text = text.replace(id, name);
    }
    text
}

async fn other_tenants_objects_are_invisible(h: Harness) {
    let partner_a = fixtures::partner(&h, "Partner A").await;
    let partner_b = fixtures::partner(&h, "Partner B").await;
    let tenant_a = fixtures::partner_tenant(&h, partner_a, "A").await;
    let tenant_b = fixtures::partner_tenant(&h, partner_b, "B").await;
    let b = tenant_b;
    let victims = victims(&h, partner_b, tenant_b, tenant_a).await;
    let intruders = [
        ("customer admin of A", h.customer_admin(tenant_a)),
        (
            "customer helpdesk of A",
            h.customer(tenant_a, "tenant-helpdesk"),
        ),
        (
            "customer reader of A",
            h.customer(tenant_a, "tenant-reader"),
        ),
        ("partner admin of A", h.partner_admin(partner_a)),
        (
            "partner helpdesk of A",
            h.partner(partner_a, "partner-helpdesk"),
        ),
    ];

    let doc: Value = serde_json::from_str(&mailplane_http::openapi_json()).unwrap();
    let mut problems = Vec::new();
    // Lists never leak B either: no read without a path parameter (the audit trail, the
    // feed, requests, partners, tenants, webhooks, and any list added later) names any of
    // B's objects to an intruder. They are read before the calls below, which file requests
    // in the intruders' own tenant naming B's ids themselves.
    let b_ids: Vec<&String> = victims
        .ids
        .values()
        .flatten()
        .filter(|v| v.len() == 36)
        .collect();
    for (template, item) in doc["paths"].as_object().unwrap() {
        let Some(op) = item.get("get") else {
            continue;
        };
        if template.contains('{') {
            continue;
        }
        for (who, client) in &intruders {
            let r = client.get(template).await;
            for id in &b_ids {
                if r.text.contains(id.as_str()) {
                    problems.push(format!(
                        "{} (GET {template}) as {who} names B's object {id}: {}",
                        op["operationId"], r.text
                    ));
                }
            }
        }
    }
    let mut covered = 0;
    let mut seen = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(op_id) = op["operationId"].as_str() else {
                continue;
            };
            seen.push(op_id.to_string());
            let params: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| resolve(&doc, p))
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect();
            if params.is_empty() || EXCEPTIONS.iter().any(|(id, _)| *id == op_id) {
                continue;
            }
            covered += 1;
            // The token of the download link is the credential: no bearer token.
            let bearer = op.get("security").is_some();
            let rounds = params
                .iter()
                .map(|p| victims.ids.get(p).map_or(1, Vec::len))
                .max()
                .unwrap_or(1);
            // Two scenarios: B's tenant with its objects, and the intruder's own tenant
            // with B's objects (a route that looked an object up by its id alone would
            // find B's there). Only operations on an object under the tenant take the
            // second: the others would act on the intruder's own tenant.
            let own_tenant = params.iter().any(|p| p == "tenant") && params.len() > 1;
            for own in [false, true] {
                if own && !own_tenant {
                    continue;
                }
                for round in 0..rounds {
                    let mut real = BTreeMap::new();
                    let mut random = BTreeMap::new();
                    for (name, values) in &victims.ids {
                        real.insert(name.clone(), values[round.min(values.len() - 1)].clone());
                        random.insert(name.clone(), uuid::Uuid::now_v7().to_string());
                    }
                    if own {
                        real.insert("tenant".into(), tenant_a.to_string());
                        random.insert("tenant".into(), tenant_a.to_string());
                    }
                    let built = (
                        build(&doc, method, template, op, &real, &victims.token),
                        build(&doc, method, template, op, &random, &victims.token),
                    );
                    let (real_req, random_req) = match built {
                        (Ok(r), Ok(x)) => (r, x),
                        (Err(why), _) | (_, Err(why)) => {
                            problems.push(format!("{op_id}: the generator cannot build it: {why}"));
                            continue;
                        }
                    };
                    let mut variants: Vec<Vec<(&str, &str)>> = vec![vec![]];
                    match real_req.method {
                        Method::PATCH | Method::PUT | Method::DELETE => {
                            variants.push(vec![("If-Match", "*")])
                        }
                        Method::GET => variants.push(vec![("If-None-Match", "*")]),
                        _ => {}
                    }
                    let callers: Vec<&(&str, Client)> = if bearer {
                        intruders.iter().collect()
                    } else {
                        intruders.iter().take(1).collect()
                    };
                    for (who, client) in callers {
                        let who = if bearer {
                            *who
                        } else {
                            "anyone without a token"
                        };
                        for extra in &variants {
                            let a = send(client, &real_req, bearer, extra).await;
                            let z = send(client, &random_req, bearer, extra).await;
                            let label = format!(
                                "{op_id} ({} {template}{}{}) as {who}",
                                real_req.method,
                                if own { " in A's own tenant" } else { "" },
                                extra
                                    .iter()
                                    .map(|(n, v)| format!(", {n}: {v}"))
                                    .collect::<String>()
                            );
                            // In B's tenant nothing exists for the intruder: 404. In its own
                            // tenant the intruder may be refused the activity first (403), or
                            // file a request or proposal that names the id (202) and then meet
                            // `If-Match` (412); either way B's objects answer as random ids do.
                            let allowed: &[u16] = if own { &[202, 403, 404, 412] } else { &[404] };
                            for (what, r) in [("B's real objects", &a), ("random ids", &z)] {
                                let problem = r.content_type == "application/problem+json";
                                if !allowed.contains(&r.status.as_u16())
                                    || (r.status != 202 && !problem)
                                {
                                    problems.push(format!(
                                        "{label}: {what} answered {} {}",
                                        r.status, r.text
                                    ));
                                }
                            }
                            let (na, nz) = (normalised(&a, &real_req), normalised(&z, &random_req));
                            // A filed request has an id and times of its own.
                            let filed = a.status == 202 && z.status == 202;
                            if !filed && na != nz {
                                problems.push(format!(
                                    "{label}: real and random ids answer differently:\n  real:   {na}\n  random: {nz}"
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    for (id, _) in EXCEPTIONS {
        assert!(
            seen.iter().any(|s| s == id),
            "the exception `{id}` names no operation of the document"
        );
    }
    assert!(covered > 60, "only {covered} operations were generated");

    assert!(
        problems.is_empty(),
        "{} calls leaked or could not be built:\n{}",
        problems.len(),
        problems.join("\n")
    );
    for (who, client) in &intruders {
        // The audit trail and the partners in particular.
        let audit = client.get("/v1/audit").await.expect(200);
        for row in audit["items"].as_array().unwrap() {
            assert_ne!(row["tenant_id"], b.to_string(), "{who} read B's audit rows");
        }
        let partners = client.get("/v1/partners").await.expect(200);
        for p in partners["items"].as_array().unwrap() {
            assert_ne!(p["id"], partner_b.to_string(), "{who} listed partner B");
        }
        let tenants = client.get("/v1/tenants").await;
        if tenants.status == 200 {
            for t in tenants.body["items"].as_array().unwrap() {
                assert_ne!(t["id"], b.to_string(), "{who} listed tenant B");
            }
        }
    }
    // A tenant resold by A under the two-party profile is invisible to A everywhere,
    // its audit rows included.
    let two_party = h
        .provider_admin()
        .post(
            "/v1/tenants",
            json!({ "name": "Resold", "partner_id": partner_a }),
        )
        .await
        .expect(201);
    let two_party: TenantId = two_party["id"].as_str().unwrap().parse().unwrap();
    fixtures::domain(&h, two_party, "resold.example").await;
    let audit = h
        .partner_admin(partner_a)
        .get("/v1/audit")
        .await
        .expect(200);
    for row in audit["items"].as_array().unwrap() {
        assert_ne!(
            row["tenant_id"],
            two_party.to_string(),
            "partner A read a two-party tenant's audit rows"
        );
    }
    assert!(
        !audit["items"].as_array().unwrap().is_empty(),
        "A still reads its own master-hoster customer's rows"
    );
    // B's objects are untouched.
    let owner = h.customer_admin(b);
    let m = &victims.ids["mailbox"][0];
    let mb = owner
        .get(&format!("/v1/tenants/{b}/mailboxes/{m}"))
        .await
        .expect(200);
    assert_eq!(mb["display_name"], "victim");
    let domains = owner
        .get(&format!("/v1/tenants/{b}/domains"))
        .await
        .expect(200);
    assert_eq!(
        domains["items"].as_array().unwrap().len(),
        2,
        "B's default domain and its custom one"
    );
    let hooks = owner.get("/v1/webhooks").await.expect(200);
    assert_eq!(hooks["items"].as_array().unwrap().len(), 1, "B's webhook");
}
e2e!(other_tenants_objects_are_invisible);
