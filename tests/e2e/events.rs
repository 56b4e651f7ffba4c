//! The event feed: every executed change reaches the parties that hold I for its activity,
//! and the accountable party when another party acted; each organisation reads only its own.

use serde_json::{Value, json};

use mailplane_tests::{Client, Harness, e2e, fixtures};

async fn feed(client: &Client) -> Vec<Value> {
    client.get("/v1/events").await.expect(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn summary(events: &[Value]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["activity"].as_str().unwrap().to_string(),
                e["target_kind"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn informed_parties_read_the_changes_they_are_owed(h: Harness) {
    // hosted-exchange: service.deliver is provider RA, customer I; directory.administer is
    // customer RA, provider RI.
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    fixtures::mailbox(&h, t, &d, "alice").await;
    let other = fixtures::tenant(&h, "Other").await;

    let customer = feed(&h.customer(t, "tenant-reader")).await;
    assert_eq!(
        summary(&customer),
        [
            ("service.deliver".into(), "tenant".into(), "created".into()),
            (
                "service.location.choose".into(),
                "tenant".into(),
                "placed".into()
            ),
            (
                "licenses.provide".into(),
                "subscription".into(),
                "created".into()
            ),
        ],
        "the customer is informed of its tenant's delivery, placement and licences, not of its own directory work"
    );
    assert_eq!(customer[0]["audience"], json!(["customer"]));
    assert_eq!(customer[0]["actor_party"], "provider");

    let provider = feed(&h.provider("provider-auditor")).await;
    assert_eq!(
        summary(&provider),
        [
            (
                "directory.administer".into(),
                "domain".into(),
                "created".into()
            ),
            (
                "directory.administer".into(),
                "domain".into(),
                "verified".into()
            ),
            (
                "directory.administer".into(),
                "mailbox".into(),
                "created".into()
            ),
        ],
        "the provider holds I on directory administration and nothing on its own deliveries"
    );
    // The other tenant's customer reads only its own delivery.
    let others = feed(&h.customer_admin(other)).await;
    assert_eq!(others.len(), 3);
    assert!(others.iter().all(|e| e["tenant_id"] == other.to_string()));
    assert_eq!(others[0]["tenant_id"], other.to_string());
    // Paging by seq.
    let first = h
        .provider_admin()
        .get("/v1/events?limit=1")
        .await
        .expect(200);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let next = h
        .provider_admin()
        .get(&format!("/v1/events?cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(
        next["items"].as_array().unwrap().len(),
        2,
        "the domain's verification and the mailbox"
    );
    assert_eq!(
        h.provider_admin().get("/v1/events?cursor=x").await.status,
        400
    );
}
e2e!(informed_parties_read_the_changes_they_are_owed);

async fn partners_read_their_customers_events_only(h: Harness) {
    let a = fixtures::partner(&h, "A").await;
    let b = fixtures::partner(&h, "B").await;
    // master-hoster: service.deliver is partner RA, customer I, provider I.
    let ta = fixtures::partner_tenant(&h, a, "Customer of A").await;
    fixtures::partner_tenant(&h, b, "Customer of B").await;
    let resold_two_party = h
        .provider_admin()
        .post(
            "/v1/tenants",
            json!({ "name": "Two-party", "partner_id": a }),
        )
        .await
        .expect(201);
    // The partner acted itself and holds no I on delivery; it is informed of the provider's
    // placement of its customer and of the licences provided.
    let pa = feed(&h.partner_admin(a)).await;
    assert_eq!(
        summary(&pa),
        [
            (
                "service.location.choose".into(),
                "tenant".into(),
                "placed".into()
            ),
            (
                "licenses.provide".into(),
                "subscription".into(),
                "created".into()
            ),
        ],
        "{pa:?}"
    );
    assert!(pa.iter().all(|e| e["tenant_id"] == ta.to_string()));
    assert!(pa.iter().all(|e| e["actor"] == "mailplane-automation"));
    let customer = feed(&h.customer_admin(ta)).await;
    assert_eq!(
        summary(&customer)[0],
        ("service.deliver".into(), "tenant".into(), "created".into())
    );
    assert_eq!(customer[0]["actor_party"], "partner");
    // The customer's directory work in master-hoster (customer RA, partner R, provider I)
    // is news for the provider only; the partner is responsible there, not informed.
    let d = fixtures::domain(&h, ta, "a.example").await;
    fixtures::mailbox(&h, ta, &d, "x").await;
    let provider = feed(&h.provider_admin()).await;
    let of_ta: Vec<_> = provider
        .iter()
        .filter(|e| e["tenant_id"] == ta.to_string())
        .collect();
    assert_eq!(
        of_ta.len(),
        4,
        "delivery, domain, its verification and mailbox: {provider:?}"
    );
    let two_party_id = resold_two_party["id"].as_str().unwrap().to_string();
    assert!(
        provider.iter().all(|e| e["tenant_id"] != two_party_id),
        "the provider acted itself on the two-party tenant"
    );
    // The partners' feeds hold only the provider's placement and licences of their own
    // customers: the customer's directory work is no news to them.
    for partner in [a, b] {
        let news = feed(&h.partner_admin(partner)).await;
        assert_eq!(news.len(), 2, "{news:?}");
        assert!(news.iter().all(|e| e["activity"] != "directory.administer"));
    }
}
e2e!(partners_read_their_customers_events_only);

async fn a_rolled_back_change_sends_no_event(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let before = feed(&h.customer_admin(t)).await.len();
    h.store
        .execute_unprepared_for_tests("DELETE FROM audit_head")
        .await
        .unwrap();
    let r = h
        .provider_admin()
        .patch(&format!("/v1/tenants/{t}"), json!({ "name": "Renamed" }))
        .await;
    assert_eq!(r.status, 500);
    assert_eq!(feed(&h.customer_admin(t)).await.len(), before);
}
e2e!(a_rolled_back_change_sends_no_event);
