//! Free text is safe text, on every route that takes some: names refuse control characters,
//! tabs, line breaks and bidirectional formatting; notes, reasons, comments and descriptions
//! accept tabs and line breaks but refuse the other control characters and the
//! bidirectional embeddings, overrides and isolates. Each refusal is a 400 naming the field
//! and the rule, and changes nothing.

use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use serde_json::{Value, json};

use mailplane_tests::{Client, Harness, e2e, fixtures};

/// Texts a name refuses, with a word of the rule each breaks.
const BAD_LINES: &[(&str, &str)] = &[
    ("a\0b", "control"),
    ("a\u{1B}[31mb", "control"),
    ("a\u{7F}b", "control"),
    ("a\u{85}b", "control"),
    ("a\u{9B}b", "control"),
    ("a\tb", "one line"),
    ("a\nb", "one line"),
    ("a\r\nb", "one line"),
    ("a\u{2028}b", "separator"),
    ("a\u{202E}b", "bidirectional"),
    ("a\u{202A}b", "bidirectional"),
    ("a\u{2066}b", "bidirectional"),
    ("a\u{2069}b", "bidirectional"),
    ("a\u{200F}b", "bidirectional"),
];

/// Texts a note, reason, comment or description refuses.
const BAD_PROSE: &[(&str, &str)] = &[
    ("a\0b", "control"),
    ("a\u{1B}[31mb", "control"),
    ("a\u{7F}b", "control"),
    ("a\u{9B}b", "control"),
    ("a\rb", "carriage return"),
    ("a\u{2029}b", "separator"),
    ("a\u{202E}b", "bidirectional"),
    ("a\u{2068}b", "bidirectional"),
];

const GOOD_LINE: &str = "Zoë's 東京 office";
const GOOD_PROSE: &str = "First line,\n\tindented;\r\nthen \u{200F}שלום.";

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Line,
    Prose,
}

/// One route that takes free text.
struct Route<'a> {
    client: &'a Client,
    method: axum::http::Method,
    path: String,
    body: Box<dyn Fn(&str) -> Value + 'a>,
    field: &'static str,
    kind: Kind,
    /// Where to read what the route changes.
    state: String,
}

fn key_pair() -> String {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    key.verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

async fn every_free_text_field_refuses_unsafe_text(h: Harness) {
    use axum::http::Method;
    let t = fixtures::tenant(&h, "Acme").await;
    let p = fixtures::partner(&h, "Reseller").await;
    let domain = fixtures::default_domain(&h, t).await;
    let mailbox = fixtures::mailbox(&h, t, &domain, "alice").await;
    let provider = h.provider_admin();
    let operator = h.provider("provider-operator");
    let admin = h.customer_admin(t);
    let tickets = format!("/v1/tenants/{t}/tickets");
    let ticket = admin
        .post(
            &tickets,
            json!({ "title": "No mail", "description": "Since nine." }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let holds = format!("/v1/tenants/{t}/holds");
    let hold = admin
        .post(&holds, json!({ "reason": "Case 1" }))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let suite = fixtures::suite_tenant(&h).await;
    let suite_admin = h.customer_admin(suite);
    let requests = format!("/v1/tenants/{suite}/requests");
    let wipe = suite_admin
        .post(
            &requests,
            json!({ "activity": "mobile.device.wipe", "payload": { "device": "bb-42" } }),
        )
        .await
        .expect(202)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let public_key = key_pair();
    let mailboxes = format!("/v1/tenants/{t}/mailboxes");
    let dom = domain.clone();
    let dom2 = domain.clone();
    let dom3 = domain.clone();
    let routes = vec![
        Route {
            client: &provider,
            method: Method::POST,
            path: "/v1/partners".into(),
            body: Box::new(|s| json!({ "name": s })),
            field: "name",
            kind: Kind::Line,
            state: "/v1/partners".into(),
        },
        Route {
            client: &provider,
            method: Method::PATCH,
            path: format!("/v1/partners/{p}"),
            body: Box::new(|s| json!({ "name": s })),
            field: "name",
            kind: Kind::Line,
            state: format!("/v1/partners/{p}"),
        },
        Route {
            client: &provider,
            method: Method::POST,
            path: "/v1/tenants".into(),
            body: Box::new(|s| json!({ "name": s, "slug": "zoe" })),
            field: "name",
            kind: Kind::Line,
            state: "/v1/tenants".into(),
        },
        Route {
            client: &provider,
            method: Method::PATCH,
            path: format!("/v1/tenants/{t}"),
            body: Box::new(|s| json!({ "name": s })),
            field: "name",
            kind: Kind::Line,
            state: format!("/v1/tenants/{t}"),
        },
        Route {
            client: &admin,
            method: Method::POST,
            path: mailboxes.clone(),
            body: Box::new(
                move |s| json!({ "local_part": "bob", "domain_id": dom, "display_name": s }),
            ),
            field: "display_name",
            kind: Kind::Line,
            state: mailboxes.clone(),
        },
        Route {
            client: &admin,
            method: Method::PATCH,
            path: format!("{mailboxes}/{mailbox}"),
            body: Box::new(|s| json!({ "display_name": s })),
            field: "display_name",
            kind: Kind::Line,
            state: format!("{mailboxes}/{mailbox}"),
        },
        Route {
            client: &admin,
            method: Method::POST,
            path: format!("{mailboxes}/batch"),
            body: Box::new(move |s| {
                json!({ "mailboxes": [
                    { "local_part": "carol", "domain_id": dom2, "display_name": s }
                ] })
            }),
            field: "mailboxes[0].display_name",
            kind: Kind::Line,
            state: mailboxes.clone(),
        },
        Route {
            client: &admin,
            method: Method::POST,
            path: format!("/v1/tenants/{t}/groups"),
            body: Box::new(
                move |s| json!({ "local_part": "team", "domain_id": dom3, "display_name": s }),
            ),
            field: "display_name",
            kind: Kind::Line,
            state: format!("/v1/tenants/{t}/groups"),
        },
        Route {
            client: &admin,
            method: Method::POST,
            path: format!("/v1/tenants/{t}/credentials"),
            body: Box::new(
                move |s| json!({ "name": s, "public_key": public_key, "roles": ["tenant-admin"] }),
            ),
            field: "name",
            kind: Kind::Line,
            state: format!("/v1/tenants/{t}/credentials"),
        },
        Route {
            client: &admin,
            method: Method::POST,
            path: tickets.clone(),
            body: Box::new(|s| json!({ "title": s, "description": "Since ten." })),
            field: "title",
            kind: Kind::Line,
            state: tickets.clone(),
        },
        Route {
            client: &admin,
            method: Method::POST,
            path: tickets.clone(),
            body: Box::new(|s| json!({ "title": "Slow", "description": s })),
            field: "description",
            kind: Kind::Prose,
            state: tickets.clone(),
        },
        Route {
            client: &admin,
            method: Method::POST,
            path: format!("{tickets}/{ticket}/comments"),
            body: Box::new(|s| json!({ "comment": s })),
            field: "comment",
            kind: Kind::Prose,
            state: format!("{tickets}/{ticket}"),
        },
        Route {
            client: &operator,
            method: Method::POST,
            path: format!("{tickets}/{ticket}/steps"),
            body: Box::new(|s| json!({ "comment": s })),
            field: "comment",
            kind: Kind::Prose,
            state: format!("{tickets}/{ticket}"),
        },
        Route {
            client: &admin,
            method: Method::POST,
            path: holds.clone(),
            body: Box::new(|s| json!({ "reason": s })),
            field: "reason",
            kind: Kind::Prose,
            state: holds.clone(),
        },
        Route {
            client: &suite_admin,
            method: Method::POST,
            path: requests.clone(),
            body: Box::new(
                |s| json!({ "activity": "disclaimer.all-users", "payload": {}, "note": s }),
            ),
            field: "note",
            kind: Kind::Prose,
            state: "/v1/requests".into(),
        },
        Route {
            client: &suite_admin,
            method: Method::POST,
            path: requests.clone(),
            body: Box::new(
                |s| json!({ "activity": "disclaimer.all-users", "payload": { "lines": ["ok", s] } }),
            ),
            field: "payload.lines[1]",
            kind: Kind::Prose,
            state: "/v1/requests".into(),
        },
        // The two routes that close something come last: their accepted text ends them.
        Route {
            client: &admin,
            method: Method::POST,
            path: format!("{holds}/{hold}/release"),
            body: Box::new(|s| json!({ "reason": s })),
            field: "reason",
            kind: Kind::Prose,
            state: holds.clone(),
        },
        Route {
            client: &provider,
            method: Method::POST,
            path: format!("/v1/requests/{wipe}/decline"),
            body: Box::new(|s| json!({ "reason": s })),
            field: "reason",
            kind: Kind::Prose,
            state: format!("/v1/requests/{wipe}"),
        },
    ];
    for (i, route) in routes.iter().enumerate() {
        let Route {
            client,
            method,
            path,
            body,
            field,
            kind,
            state,
        } = route;
        let (bad, good) = match kind {
            Kind::Line => (BAD_LINES, GOOD_LINE),
            Kind::Prose => (BAD_PROSE, GOOD_PROSE),
        };
        let before = client.get(state).await.expect(200);
        for (text, word) in bad {
            let r = client.send(method.clone(), path, Some(body(text))).await;
            let what = format!("{method} {path} with {text:?} in `{field}`");
            assert_eq!(r.status, 400, "{what}: {:#}", r.body);
            assert_eq!(r.content_type, "application/problem+json", "{what}");
            let problem = r.body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["field"] == *field)
                .unwrap_or_else(|| panic!("{what}: {:#}", r.body));
            let rule = problem["rule"].as_str().unwrap();
            assert!(rule.contains(word) && rule.contains("U+"), "{what}: {rule}");
            assert_eq!(
                client.get(state).await.expect(200),
                before,
                "{what} changed"
            );
        }
        // Safe text of the same kind is accepted by the same route (numbered, since some
        // names are unique).
        let good = format!("{good} {i}");
        let r = client.send(method.clone(), path, Some(body(&good))).await;
        assert!(r.status.is_success(), "{method} {path}: {:#}", r.body);
    }
}
e2e!(every_free_text_field_refuses_unsafe_text);

async fn the_library_refuses_unsafe_text_too(h: Harness) {
    // Not only HTTP: an embedder calling the library directly gets the same answer.
    let t = fixtures::tenant(&h, "Acme").await;
    let admin = mailplane::Actor::customer("alice", t, &["tenant-admin"]);
    let refused = h
        .control_plane
        .hold_place(
            &admin,
            t,
            mailplane::input::HoldPlace {
                mailbox_id: None,
                reason: "Case \u{202E}7102".into(),
            },
        )
        .await;
    match refused {
        Err(mailplane::types::Error::Invalid(problems)) => {
            assert_eq!(problems[0].field, "reason");
            assert!(problems[0].rule.contains("bidirectional"), "{problems:?}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let provider = mailplane::Actor::provider("ops", &["provider-admin"]);
    let refused = h
        .control_plane
        .partner_create(
            &provider,
            mailplane::input::PartnerCreate {
                name: "Evil\0Corp".into(),
            },
        )
        .await;
    assert!(
        matches!(&refused, Err(mailplane::types::Error::Invalid(p)) if p[0].field == "name"),
        "{refused:?}"
    );
}
e2e!(the_library_refuses_unsafe_text_too);

async fn a_token_subject_is_one_line_of_safe_text(h: Harness) {
    // Subjects reach audit rows and events: a token whose subject hides a bidirectional
    // override is not accepted.
    let t = fixtures::tenant(&h, "Acme").await;
    let path = format!("/v1/tenants/{t}");
    let r = h
        .client(mailplane::Actor::customer(
            "ali\u{202E}ec",
            t,
            &["tenant-admin"],
        ))
        .get(&path)
        .await;
    assert_eq!(r.status, 401, "{:#}", r.body);
    assert_eq!(r.content_type, "application/problem+json");
    h.client(mailplane::Actor::customer("alice", t, &["tenant-admin"]))
        .get(&path)
        .await
        .expect(200);
}
e2e!(a_token_subject_is_one_line_of_safe_text);
