//! Strict JSON bodies: a body is exactly one JSON object, read as its schema says. Trailing
//! text, a second value, a positional array in place of an object, a scalar and a repeated
//! key are refused with a 400 naming `body`, and change nothing; a value of the wrong type
//! in an enum field names the field and its allowed values.

use axum::body::Body;
use axum::http::{Method, Request, header};
use serde_json::{Value, json};

use mailplane_tests::{Client, Harness, Reply, e2e, fixtures};

/// Sends a body exactly as written, as JSON.
async fn raw(client: &Client, method: Method, path: &str, body: &str) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", client.token().unwrap()),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    client.send_request(req).await
}

/// The malformed forms of a valid object body, each with a name for the failure message.
fn malformed(valid: &str, positional: &str) -> Vec<(&'static str, String)> {
    let object: Value = serde_json::from_str(valid).unwrap();
    let (key, value) = object.as_object().unwrap().iter().next().unwrap();
    let rest = valid.trim().strip_prefix('{').unwrap();
    vec![
        ("trailing braces", format!("{valid}}}}}}}")),
        ("trailing text", format!("{valid} and more")),
        ("a second object", format!("{valid} {valid}")),
        ("a second value", format!("{valid}[]")),
        ("a positional array", positional.to_string()),
        ("an empty array", "[]".to_string()),
        ("an array around the object", format!("[{valid}]")),
        ("a string", "\"x\"".to_string()),
        ("a number", "1".to_string()),
        ("null", "null".to_string()),
        (
            "a repeated key",
            format!("{{{}: {value}, {rest}", json!(key)),
        ),
    ]
}

async fn every_malformed_body_is_a_400_naming_body_and_changes_nothing(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let p = fixtures::partner(&h, "Reseller").await;
    let domain = fixtures::default_domain(&h, t).await;
    let provider = h.provider_admin();
    let admin = h.customer_admin(t);
    let retention = format!("/v1/tenants/{t}/retention");
    admin
        .put(&retention, json!({ "delete_after_days": 30 }))
        .await
        .expect(200);
    let mailboxes = format!("/v1/tenants/{t}/mailboxes");
    let mailbox_body = |local: &str| {
        format!(
            r#"{{"local_part": "{local}", "domain_id": "{domain}", "display_name": "{local}"}}"#
        )
    };
    let mailbox_positional = format!(r#"["bob", "{domain}", "bob"]"#);
    let batch_body = format!(r#"{{"mailboxes": [{}]}}"#, mailbox_body("carol"));
    let batch_positional = format!(r#"[[{}]]"#, mailbox_body("carol"));
    // (who, method, path, a valid body, its positional form, where to read the state).
    let routes: Vec<(&Client, Method, String, String, String, String)> = vec![
        (
            &provider,
            Method::POST,
            "/v1/partners".into(),
            r#"{"name": "Zeta"}"#.into(),
            r#"["Zeta"]"#.into(),
            "/v1/partners".into(),
        ),
        (
            &provider,
            Method::PATCH,
            format!("/v1/partners/{p}"),
            r#"{"name": "new name"}"#.into(),
            r#"["new name"]"#.into(),
            format!("/v1/partners/{p}"),
        ),
        (
            &provider,
            Method::PATCH,
            format!("/v1/tenants/{t}"),
            r#"{"name": "Acme 2"}"#.into(),
            r#"["Acme 2"]"#.into(),
            format!("/v1/tenants/{t}"),
        ),
        (
            &admin,
            Method::PUT,
            retention.clone(),
            r#"{"delete_after_days": 60, "keep_at_least_days": 10}"#.into(),
            "[60, 10]".into(),
            retention.clone(),
        ),
        (
            &admin,
            Method::POST,
            mailboxes.clone(),
            mailbox_body("bob"),
            mailbox_positional,
            mailboxes.clone(),
        ),
        (
            &admin,
            Method::POST,
            format!("{mailboxes}/batch"),
            batch_body,
            batch_positional,
            mailboxes.clone(),
        ),
    ];
    for (client, method, path, valid, positional, state) in &routes {
        let before = client.get(state).await.expect(200);
        for (form, body) in malformed(valid, positional) {
            let r = raw(client, method.clone(), path, &body).await;
            assert_eq!(
                r.status, 400,
                "{method} {path} with {form} `{body}`: {:#}",
                r.body
            );
            assert_eq!(r.content_type, "application/problem+json", "{path} {form}");
            assert_eq!(
                r.body["errors"][0]["field"], "body",
                "{method} {path} with {form}: {:#}",
                r.body
            );
            let after = client.get(state).await.expect(200);
            assert_eq!(
                after, before,
                "{method} {path} with {form} changed the state"
            );
        }
        // The well-formed body itself is accepted, so the refusals were about the form.
        let r = raw(client, method.clone(), path, valid).await;
        assert!(r.status.is_success(), "{method} {path}: {:#}", r.body);
    }
}
e2e!(every_malformed_body_is_a_400_naming_body_and_changes_nothing);

async fn a_nested_object_must_be_an_object_too(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let domain = fixtures::default_domain(&h, t).await;
    let admin = h.customer_admin(t);
    let mailboxes = format!("/v1/tenants/{t}/mailboxes");
    let before = admin.get(&mailboxes).await.expect(200);
    for (body, field) in [
        (
            format!(r#"{{"mailboxes": [["bob", "{domain}", "Bob"]]}}"#),
            "mailboxes[0]",
        ),
        (r#"{"mailboxes": ["bob"]}"#.to_string(), "mailboxes[0]"),
        (
            r#"{"mailboxes": {"local_part": "bob"}}"#.to_string(),
            "mailboxes",
        ),
    ] {
        let r = raw(&admin, Method::POST, &format!("{mailboxes}/batch"), &body).await;
        assert_eq!(r.status, 400, "{body}: {:#}", r.body);
        assert_eq!(r.content_type, "application/problem+json");
        assert_eq!(r.body["errors"][0]["field"], field, "{body}: {:#}", r.body);
    }
    assert_eq!(admin.get(&mailboxes).await.expect(200), before);
}
e2e!(a_nested_object_must_be_an_object_too);

async fn a_wrong_value_in_an_enum_field_names_the_field_and_its_values(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let domain = fixtures::default_domain(&h, t).await;
    let admin = h.customer_admin(t);
    let mailboxes = format!("/v1/tenants/{t}/mailboxes");
    let before = admin.get(&mailboxes).await.expect(200);
    let mailbox = |kind: Value| json!({ "local_part": "bob", "domain_id": domain, "display_name": "Bob", "kind": kind });
    for kind in [
        json!(5),
        json!({}),
        json!([]),
        json!(true),
        json!("admin"),
        json!({ "user": null }),
    ] {
        let r = admin.post(&mailboxes, mailbox(kind.clone())).await;
        assert_eq!(r.status, 400, "{kind}: {:#}", r.body);
        assert_eq!(r.content_type, "application/problem+json");
        assert_eq!(r.body["errors"][0]["field"], "kind", "{kind}: {:#}", r.body);
        let rule = r.body["errors"][0]["rule"].as_str().unwrap();
        assert!(
            !rule.contains("line 1") && !rule.contains("not valid JSON"),
            "{kind}: {rule}"
        );
        assert!(rule.contains("`user`, `shared`"), "{kind}: {rule}");
    }
    // Deeper down, the path names the row too.
    let r = admin
        .post(
            &format!("{mailboxes}/batch"),
            json!({ "mailboxes": [mailbox(json!("user")), mailbox(json!(7))] }),
        )
        .await;
    assert_eq!(r.status, 400, "{:#}", r.body);
    assert_eq!(r.body["errors"][0]["field"], "mailboxes[1].kind");
    assert!(
        r.body["errors"][0]["rule"]
            .as_str()
            .unwrap()
            .contains("`user`, `shared`")
    );
    // The other enums of the API say the same.
    let r = h
        .provider_admin()
        .patch(&format!("/v1/tenants/{t}"), json!({ "status": 1 }))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "status");
    assert!(
        r.body["errors"][0]["rule"]
            .as_str()
            .unwrap()
            .contains("`active`"),
        "{:#}",
        r.body
    );
    assert_eq!(admin.get(&mailboxes).await.expect(200), before);
}
e2e!(a_wrong_value_in_an_enum_field_names_the_field_and_its_values);
