//! Tenant isolation: a customer of tenant A and a partner of other customers try every
//! operation on tenant B's objects, and each gets 404: B's objects do not exist for them.

use axum::http::Method;
use serde_json::json;

use mailplane_tests::{Harness, e2e, fixtures};

async fn other_tenants_objects_are_invisible(h: Harness) {
    let partner_a = fixtures::partner(&h, "Partner A").await;
    let partner_b = fixtures::partner(&h, "Partner B").await;
    let tenant_a = fixtures::partner_tenant(&h, partner_a, "A").await;
    let tenant_b = fixtures::partner_tenant(&h, partner_b, "B").await;
    let d = fixtures::domain(&h, tenant_b, "b.example").await;
    let m = fixtures::mailbox(&h, tenant_b, &d, "victim").await;
    let b = tenant_b;
    let operations: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/v1/tenants/{b}"), None),
        (
            Method::PATCH,
            format!("/v1/tenants/{b}"),
            Some(json!({ "name": "pwned" })),
        ),
        (Method::DELETE, format!("/v1/tenants/{b}"), None),
        (Method::GET, format!("/v1/tenants/{b}/domains"), None),
        (
            Method::POST,
            format!("/v1/tenants/{b}/domains"),
            Some(json!({ "name": "evil.example" })),
        ),
        (Method::GET, format!("/v1/tenants/{b}/domains/{d}"), None),
        (Method::DELETE, format!("/v1/tenants/{b}/domains/{d}"), None),
        (Method::GET, format!("/v1/tenants/{b}/mailboxes"), None),
        (
            Method::POST,
            format!("/v1/tenants/{b}/mailboxes"),
            Some(json!({ "local_part": "x", "domain_id": d, "display_name": "x" })),
        ),
        (Method::GET, format!("/v1/tenants/{b}/mailboxes/{m}"), None),
        (
            Method::PATCH,
            format!("/v1/tenants/{b}/mailboxes/{m}"),
            Some(json!({ "display_name": "pwned" })),
        ),
        (
            Method::DELETE,
            format!("/v1/tenants/{b}/mailboxes/{m}"),
            None,
        ),
    ];
    let intruders = [
        ("customer admin of A", h.customer_admin(tenant_a)),
        (
            "customer helpdesk of A",
            h.customer(tenant_a, "tenant-helpdesk"),
        ),
        ("partner admin of A", h.partner_admin(partner_a)),
        (
            "partner helpdesk of A",
            h.partner(partner_a, "partner-helpdesk"),
        ),
    ];
    for (who, client) in &intruders {
        for (method, path, body) in &operations {
            let r = client.send(method.clone(), path, body.clone()).await;
            assert_eq!(
                r.status, 404,
                "{who}: {method} {path} answered {} {:#}",
                r.status, r.body
            );
            assert_eq!(r.content_type, "application/problem+json");
        }
        // Lists never leak B either.
        let audit = client.get("/v1/audit").await.expect(200);
        for row in audit["items"].as_array().unwrap() {
            assert_ne!(row["tenant_id"], b.to_string(), "{who} read B's audit rows");
        }
        let partner_b_view = client.get(&format!("/v1/partners/{partner_b}")).await;
        assert_eq!(partner_b_view.status, 404, "{who} saw partner B");
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
    let two_party: mailplane::types::TenantId = two_party["id"].as_str().unwrap().parse().unwrap();
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
    let owner = h.customer_admin(tenant_b);
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
}
e2e!(other_tenants_objects_are_invisible);
