//! `/v1/profiles`: the matrices are readable by every principal, and tenants bound to
//! different profiles follow their own letters.

use serde_json::json;

use mailplane_tests::{Harness, e2e, fixtures};

async fn every_principal_reads_the_matrices(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let list = h
        .customer(t, "tenant-reader")
        .get("/v1/profiles")
        .await
        .expect(200);
    let ids: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "hosted-exchange",
            "master-hoster",
            "platform",
            "ticketed-suite"
        ]
    );
    let platform = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "platform")
        .unwrap();
    assert_eq!(platform["binds_tenants"], false);

    let he = h
        .provider("provider-auditor")
        .get("/v1/profiles/hosted-exchange")
        .await
        .expect(200);
    assert_eq!(he["version"], 1);
    assert_eq!(he["parties"], json!(["customer", "provider"]));
    assert_eq!(he["activities"].as_array().unwrap().len(), 50);
    let dir = he["activities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "directory.administer")
        .unwrap();
    assert_eq!(
        (
            dir["customer"].as_str(),
            dir["partner"].as_str(),
            dir["provider"].as_str()
        ),
        (Some("RA"), Some(""), Some("RI"))
    );
    let helpdesk = he["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "tenant-helpdesk")
        .unwrap();
    assert_eq!(helpdesk["everywhere"], "I");
    assert_eq!(helpdesk["per_activity"]["directory.administer"], "R");

    h.provider_admin()
        .get("/v1/profiles/no-such-offer")
        .await
        .expect(404);
    assert_eq!(h.anonymous().get("/v1/profiles").await.status, 401);
}
e2e!(every_principal_reads_the_matrices);

async fn a_ticketed_suite_tenant_follows_its_own_matrix(h: Harness) {
    let t = h
        .provider_admin()
        .post(
            "/v1/tenants",
            json!({ "name": "Suite customer", "profile": "ticketed-suite" }),
        )
        .await
        .expect(201);
    assert_eq!(t["profile"], "ticketed-suite");
    let t: mailplane::types::TenantId = t["id"].as_str().unwrap().parse().unwrap();
    // Customers run their directory; here the provider is only informed (I), not R.
    let d = fixtures::domain(&h, t, "suite.example").await;
    let r = h
        .provider_admin()
        .post(
            &format!("/v1/tenants/{t}/mailboxes"),
            json!({ "local_part": "x", "domain_id": d, "display_name": "X" }),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.body["refusal"]["reason"]
            .as_str()
            .unwrap()
            .contains("may only observe"),
        "{:#}",
        r.body
    );
    // The platform profile cannot be bound.
    let r = h
        .provider_admin()
        .post("/v1/tenants", json!({ "name": "X", "profile": "platform" }))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "profile");
}
e2e!(a_ticketed_suite_tenant_follows_its_own_matrix);
