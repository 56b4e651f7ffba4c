//! Bad requests: malformed JSON, unknown fields, bad ids, bad query parameters and unknown
//! paths all get problem documents that name the field, never an undocumented status.

use axum::body::Body;
use axum::http::{Method, Request, header};
use serde_json::json;

use mailplane_tests::{Harness, fixtures};

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    let h = Harness::sqlite().await;
    let t = fixtures::tenant(&h, "Acme").await;
    let provider = h.provider_admin();
    let token = provider.token().unwrap().to_string();
    let raw = |body: &'static str, content_type: &'static str| {
        Request::post("/v1/tenants")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    };
    let r = provider
        .send_request(raw("{\"name\": ", "application/json"))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "body");
    assert!(
        r.body["errors"][0]["rule"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let r = provider
        .send_request(raw("{\"name\": 5}", "application/json"))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "name");
    let r = provider
        .send_request(raw("{\"name\": \"a\"}", "text/plain"))
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["errors"][0]["rule"]
            .as_str()
            .unwrap()
            .contains("Content-Type")
    );
    let r = provider
        .post("/v1/tenants", json!({ "name": "a", "colour": "blue" }))
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["errors"][0]["rule"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{:#}",
        r.body
    );
    let r = provider.post("/v1/tenants", json!({})).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["errors"][0]["rule"]
            .as_str()
            .unwrap()
            .contains("name"),
        "{:#}",
        r.body
    );
    let r = h
        .customer_admin(t)
        .post(
            &format!("/v1/tenants/{t}/mailboxes"),
            json!({ "local_part": "a", "domain_id": "zzz", "display_name": "A" }),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "domain_id");

    let r = provider.get("/v1/tenants/not-a-uuid").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "tenant");
    let r = provider
        .get(&format!("/v1/tenants/{t}/mailboxes/123"))
        .await;
    assert_eq!(r.body["errors"][0]["field"], "mailbox");
    let r = provider.get("/v1/tenants/%FF").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(r.body["errors"][0]["field"], "path");
    // Typed path extractors check the ids in path order, each named as in the route, the
    // ones without a typed id of their own too.
    let r = provider.get("/v1/tenants/x/mailboxes/y").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "tenant");
    for (path, field) in [
        ("/v1/requests/42".to_string(), "request"),
        ("/v1/webhooks/42".to_string(), "webhook"),
        ("/v1/partners/42".to_string(), "partner"),
        (format!("/v1/tenants/{t}/tickets/42"), "ticket"),
        (format!("/v1/tenants/{t}/credentials/42"), "credential"),
        (format!("/v1/tenants/{t}/domains/42"), "domain"),
    ] {
        let r = provider.get(&path).await;
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(r.body["errors"][0]["field"], field, "{path}");
        assert_eq!(
            r.body["errors"][0]["rule"], "must be a UUID",
            "{path}: {:#}",
            r.body
        );
    }
    // The same 400 on the routes whose ids became typed, whatever the method.
    for (method, path, field) in [
        (
            Method::DELETE,
            format!("/v1/tenants/{t}/aliases/42"),
            "alias",
        ),
        (
            Method::DELETE,
            format!("/v1/tenants/{t}/groups/42"),
            "group",
        ),
        (
            Method::POST,
            format!("/v1/tenants/{t}/groups/42/members"),
            "group",
        ),
        (
            Method::POST,
            format!("/v1/tenants/{t}/holds/42/release"),
            "hold",
        ),
        (Method::GET, format!("/v1/tenants/{t}/exports/42"), "export"),
        (
            Method::PATCH,
            format!("/v1/tenants/{t}/subscriptions/42"),
            "subscription",
        ),
        (
            Method::POST,
            "/v1/requests/42/approve".to_string(),
            "request",
        ),
    ] {
        let r = provider.send(method.clone(), &path, Some(json!({}))).await;
        assert_eq!(r.status, 400, "{method} {path}");
        assert_eq!(r.body["errors"][0]["field"], field, "{method} {path}");
        assert_eq!(
            r.body["errors"][0]["rule"], "must be a UUID",
            "{method} {path}"
        );
    }
    let r = provider
        .delete("/v1/tenants/x/mailboxes/y/licences/any-sku")
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "tenant");
    let r = provider.get("/v1/partners?limit=abc").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "limit");
    let r = provider.get("/v1/partners?limit=5000").await;
    assert_eq!(r.status, 400);
    let r = provider
        .send(Method::PUT, "/v1/tenants", Some(json!({})))
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.content_type, "application/problem+json");
    let r = provider.get("/v1/nothing-here").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.content_type, "application/problem+json");
}

#[tokio::test]
async fn probes_and_docs_are_served() {
    let h = Harness::sqlite().await;
    let anon = h.anonymous();
    assert_eq!(anon.get("/healthz").await.expect(200)["status"], "ok");
    assert_eq!(anon.get("/readyz").await.expect(200)["database"], "sqlite");
    let doc = anon.get("/openapi.json").await.expect(200);
    assert_eq!(doc["info"]["title"], "Mailplane");
    let docs = anon
        .send_request(Request::get("/docs/").body(Body::empty()).unwrap())
        .await;
    assert_eq!(docs.status, 200);
    assert!(docs.content_type.starts_with("text/html"));
}
