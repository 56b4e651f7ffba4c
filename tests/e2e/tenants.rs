//! Partners and tenants: who may create them under which profile, validation, pagination.

use serde_json::json;

use mailplane_tests::{Harness, e2e, fixtures};

async fn provider_creates_partners_and_hosted_exchange_tenants(h: Harness) {
    let provider = h.provider_admin();
    let p = provider
        .post("/v1/partners", json!({ "name": "Reseller One" }))
        .await
        .expect(201);
    assert_eq!(p["name"], "Reseller One");
    let dup = provider
        .post("/v1/partners", json!({ "name": "Reseller One" }))
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.body["errors"][0]["field"], "name");

    let t = provider
        .post("/v1/tenants", json!({ "name": "  Acme  " }))
        .await
        .expect(201);
    assert_eq!(t["name"], "Acme", "names are trimmed");
    assert_eq!(t["profile"], "hosted-exchange");
    assert_eq!(t["profile_version"], 1);
    assert_eq!(t["status"], "active");
    let id = t["id"].as_str().unwrap();
    let got = provider.get(&format!("/v1/tenants/{id}")).await.expect(200);
    assert_eq!(got, t);
}
e2e!(provider_creates_partners_and_hosted_exchange_tenants);

async fn who_creates_tenants_follows_the_profile(h: Harness) {
    let partner = fixtures::partner(&h, "Reseller").await;
    // hosted-exchange: the partner holds no letter on service.deliver.
    let r = h
        .partner_admin(partner)
        .post("/v1/tenants", json!({ "name": "X" }))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["refusal"]["activity"], "service.deliver");
    assert_eq!(r.body["refusal"]["party"], "partner");
    assert_eq!(
        r.body["type"],
        "https://mailplane.dev/problems/forbidden-by-raci"
    );
    // master-hoster: the partner is RA and the tenant is bound to it automatically.
    let t = h
        .partner_admin(partner)
        .post(
            "/v1/tenants",
            json!({ "name": "Customer of reseller", "profile": "master-hoster" }),
        )
        .await
        .expect(201);
    assert_eq!(t["partner_id"], partner.to_string());
    // ...while the provider holds only I there.
    let r = h
        .provider_admin()
        .post(
            "/v1/tenants",
            json!({ "name": "Y", "profile": "master-hoster" }),
        )
        .await;
    assert_eq!(r.status, 403);
    let letters = &r.body["refusal"]["letters"];
    let provider_letters = letters
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["party"] == "provider")
        .unwrap();
    assert_eq!(provider_letters["letters"], "I");
    // A partner may not create a tenant for another partner.
    let other = fixtures::partner(&h, "Other reseller").await;
    let r = h
        .partner_admin(partner)
        .post(
            "/v1/tenants",
            json!({ "name": "Z", "profile": "master-hoster", "partner_id": other }),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "partner_id");
    // Customers never create tenants.
    let tenant = fixtures::tenant(&h, "Acme").await;
    let r = h
        .customer_admin(tenant)
        .post("/v1/tenants", json!({ "name": "W" }))
        .await;
    assert_eq!(r.status, 403);
}
e2e!(who_creates_tenants_follows_the_profile);

async fn tenant_input_is_validated_with_every_field_named(h: Harness) {
    let provider = h.provider_admin();
    let r = provider
        .post("/v1/tenants", json!({ "name": "", "profile": "nope" }))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "profile");
    let r = provider.post("/v1/tenants", json!({ "name": " " })).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "name");
    assert_eq!(r.body["errors"][0]["rule"], "must not be empty");
    let r = provider
        .post(
            "/v1/tenants",
            json!({ "name": "A", "partner_id": uuid::Uuid::now_v7() }),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "partner_id");
    let r = provider
        .post("/v1/tenants", json!({ "name": "x".repeat(201) }))
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["errors"][0]["rule"]
            .as_str()
            .unwrap()
            .contains("200")
    );
}
e2e!(tenant_input_is_validated_with_every_field_named);

async fn tenants_update_and_delete(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let provider = h.provider_admin();
    let u = provider
        .patch(
            &format!("/v1/tenants/{t}"),
            json!({ "name": "Acme Ltd", "status": "active" }),
        )
        .await
        .expect(200);
    assert_eq!(u["name"], "Acme Ltd");
    assert_eq!(u["status"], "active");
    // A tenant is suspended through its suspensions, with a reason, not by its status.
    let r = provider
        .patch(
            &format!("/v1/tenants/{t}"),
            json!({ "status": "suspended" }),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["errors"][0]["rule"]
            .as_str()
            .unwrap()
            .contains("suspension_place")
    );
    let r = provider.patch(&format!("/v1/tenants/{t}"), json!({})).await;
    assert_eq!(r.status, 400);
    // The customer is only informed of service delivery: it sees but cannot change.
    let customer = h.customer_admin(t);
    customer.get(&format!("/v1/tenants/{t}")).await.expect(200);
    let r = customer
        .patch(&format!("/v1/tenants/{t}"), json!({ "name": "Mine" }))
        .await;
    assert_eq!(r.status, 403);
    // A tenant with a domain cannot be deleted; once empty it can.
    let d = fixtures::domain(&h, t, "acme.example").await;
    let r = provider.delete(&format!("/v1/tenants/{t}")).await;
    assert_eq!(r.status, 409);
    customer
        .delete(&format!("/v1/tenants/{t}/domains/{d}"))
        .await
        .expect(204);
    let r = customer.delete(&format!("/v1/tenants/{t}")).await;
    assert_eq!(r.status, 403, "configuration destruction is the provider's");
    provider
        .delete(&format!("/v1/tenants/{t}"))
        .await
        .expect(204);
    provider.get(&format!("/v1/tenants/{t}")).await.expect(404);
}
e2e!(tenants_update_and_delete);

async fn lists_use_stable_keyset_pages(h: Harness) {
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            fixtures::tenant(&h, &format!("Tenant {i}"))
                .await
                .to_string(),
        );
    }
    let provider = h.provider_admin();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/tenants?limit=3&cursor={c}"),
            None => "/v1/tenants?limit=3".to_string(),
        };
        let page = provider.get(&path).await.expect(200);
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen, created,
        "every tenant once, in creation (UUID v7) order"
    );
    let r = provider.get("/v1/tenants?limit=0").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "limit");
    let r = provider.get("/v1/tenants?cursor=not-a-cursor").await;
    assert_eq!(r.body["errors"][0]["field"], "cursor");
}
e2e!(lists_use_stable_keyset_pages);

async fn partners_see_themselves_and_their_customers_only(h: Harness) {
    let a = fixtures::partner(&h, "A").await;
    let b = fixtures::partner(&h, "B").await;
    let ta = fixtures::partner_tenant(&h, a, "Customer of A").await;
    let _tb = fixtures::partner_tenant(&h, b, "Customer of B").await;
    let direct = fixtures::tenant(&h, "Direct customer").await;
    let pa = h.partner_admin(a);
    let list = pa.get("/v1/tenants").await.expect(200);
    let ids: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![ta.to_string()]);
    let partners = pa.get("/v1/partners").await.expect(200);
    assert_eq!(partners["items"].as_array().unwrap().len(), 1);
    assert_eq!(partners["items"][0]["id"], a.to_string());
    pa.get(&format!("/v1/partners/{b}")).await.expect(404);
    pa.get(&format!("/v1/tenants/{direct}")).await.expect(404);
    // Partners may not manage partners (they are only informed).
    let r = pa.post("/v1/partners", json!({ "name": "C" })).await;
    assert_eq!(r.status, 403);
    // A tenant resold by A but bound to the two-party hosted-exchange profile gives A no
    // letter: A does not see it at all (404, not 403).
    let two_party = h
        .provider_admin()
        .post(
            "/v1/tenants",
            serde_json::json!({ "name": "Resold, two-party", "partner_id": a }),
        )
        .await
        .expect(201);
    let two_party = two_party["id"].as_str().unwrap();
    pa.get(&format!("/v1/tenants/{two_party}"))
        .await
        .expect(404);
    pa.get(&format!("/v1/tenants/{two_party}/mailboxes"))
        .await
        .expect(404);
    let listed = pa.get("/v1/tenants").await.expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    // The provider sees all four tenants.
    let all = h.provider_admin().get("/v1/tenants").await.expect(200);
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    // A partner with tenants cannot be deleted.
    assert_eq!(
        h.provider_admin()
            .delete(&format!("/v1/partners/{a}"))
            .await
            .status,
        409
    );
}
e2e!(partners_see_themselves_and_their_customers_only);

async fn deleting_a_tenant_with_requests_and_credentials(h: Harness) {
    let t = fixtures::tenant(&h, "Leaving").await;
    // A pending proposal blocks the deletion: somebody still waits for an answer.
    let proposal = h
        .provider_admin()
        .post(
            &format!("/v1/tenants/{t}/domains"),
            serde_json::json!({ "name": "leaving.example" }),
        )
        .await
        .expect(202);
    let r = h.provider_admin().delete(&format!("/v1/tenants/{t}")).await;
    assert_eq!(r.status, 409, "{:#}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("pending"),
        "{:#}",
        r.body
    );
    // Once it is answered, the tenant goes, with its closed requests.
    h.provider_admin()
        .post(
            &format!("/v1/requests/{}/cancel", proposal["id"].as_str().unwrap()),
            serde_json::json!({}),
        )
        .await
        .expect(200);
    h.provider_admin()
        .delete(&format!("/v1/tenants/{t}"))
        .await
        .expect(204);
    assert_eq!(
        h.provider_admin()
            .get(&format!(
                "/v1/requests/{}",
                proposal["id"].as_str().unwrap()
            ))
            .await
            .status,
        404
    );
    assert!(h.control_plane.audit_verify().await.unwrap().is_intact());
}
e2e!(deleting_a_tenant_with_requests_and_credentials);
