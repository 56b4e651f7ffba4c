//! Consultations (C): in `master-hoster` the partner is consulted before the provider
//! destroys a resold customer's configuration (`configuration.destroy`: provider RA,
//! partner CI). The deletion waits for the partner's answer; a consent lets it run, an
//! objection hands it back to the provider, who decides; silence lets it run at the
//! profile's `consultation_deadline`.

use serde_json::json;

use mailplane::types::{PartnerId, TenantId};
use mailplane_tests::{Harness, e2e, fixtures};

async fn resold(h: &Harness, name: &str) -> (PartnerId, TenantId) {
    let p = fixtures::partner(h, &format!("Reseller {name}")).await;
    let t = fixtures::partner_tenant(h, p, name).await;
    (p, t)
}

async fn ask_to_delete(h: &Harness, t: TenantId) -> String {
    let r = h
        .provider_admin()
        .delete(&format!("/v1/tenants/{t}"))
        .await
        .expect(202);
    assert_eq!(r["kind"], "consultation");
    assert_eq!(r["operation"], "tenant.delete");
    assert_eq!(r["addressed_to"], json!(["partner"]));
    assert!(r["links"]["consent"].is_string());
    assert!(r["links"]["approve"].is_null());
    r["id"].as_str().unwrap().to_string()
}

async fn exists(h: &Harness, t: TenantId) -> bool {
    h.provider_admin()
        .get(&format!("/v1/tenants/{t}"))
        .await
        .status
        == 200
}

async fn a_consent_lets_the_activity_run(h: Harness) {
    let (p, t) = resold(&h, "Leaving").await;
    let id = ask_to_delete(&h, t).await;
    assert!(exists(&h, t).await, "nothing happens before the answer");
    // Only the consulted party answers; the provider cannot consent for it, nor approve yet.
    let consent = format!("/v1/requests/{id}/consent");
    assert_eq!(
        h.provider_admin().post(&consent, json!({})).await.status,
        403
    );
    assert_eq!(
        h.provider_admin()
            .post(&format!("/v1/requests/{id}/approve"), json!({}))
            .await
            .status,
        403
    );
    let done = h
        .partner_admin(p)
        .post(&consent, json!({ "reason": "Contract ended." }))
        .await
        .expect(200);
    assert_eq!(done["state"], "fulfilled");
    assert_eq!(done["answers"][0]["party"], "partner");
    assert_eq!(done["answers"][0]["consent"], true);
    assert!(!exists(&h, t).await);
    // The trail: the provider asked (RA), the partner consented (C), which closed the
    // consultation, and the provider's deletion ran under it.
    let audit = h.provider_admin().get("/v1/audit").await.expect(200);
    let trail: Vec<(&str, &str, &str)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["request_id"] == id.as_str())
        .map(|r| {
            (
                r["party"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["letters"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        trail,
        [
            ("provider", "consulting", "RA"),
            ("partner", "consented", "C"),
            ("partner", "fulfilled", "C"),
            ("provider", "deleted", "RA"),
        ]
    );
}
e2e!(a_consent_lets_the_activity_run);

async fn an_objection_goes_to_the_accountable_party(h: Harness) {
    let (p, t) = resold(&h, "Disputed").await;
    let id = ask_to_delete(&h, t).await;
    let object = format!("/v1/requests/{id}/object");
    let r = h.partner_admin(p).post(&object, json!({})).await;
    assert_eq!(r.status, 400, "an objection needs a reason");
    let objected = h
        .partner_admin(p)
        .post(
            &object,
            json!({ "reason": "A migration is still running." }),
        )
        .await
        .expect(200);
    assert_eq!(objected["state"], "pending");
    assert_eq!(objected["addressed_to"], json!(["provider"]));
    assert_eq!(objected["answers"][0]["consent"], false);
    assert_eq!(
        objected["answers"][0]["reason"],
        "A migration is still running."
    );
    assert!(objected["links"]["approve"].is_string());
    assert!(objected["links"]["consent"].is_null());
    assert!(exists(&h, t).await);
    // The partner cannot answer twice; the provider was told of the objection.
    assert_eq!(
        h.partner_admin(p)
            .post(&format!("/v1/requests/{id}/consent"), json!({}))
            .await
            .status,
        403
    );
    let feed = h.provider_admin().get("/v1/events").await.expect(200);
    assert!(
        feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["request_id"] == id.as_str() && e["outcome"] == "objected")
    );
    // The accountable provider decides: here it goes ahead despite the objection.
    let approved = h
        .provider_admin()
        .post(
            &format!("/v1/requests/{id}/approve"),
            json!({ "reason": "Contract terminated on 1 November." }),
        )
        .await
        .expect(200);
    assert_eq!(approved["state"], "approved");
    assert!(!exists(&h, t).await);
}
e2e!(an_objection_goes_to_the_accountable_party);

async fn silence_lets_the_activity_run_at_the_deadline(h: Harness) {
    let (_, t) = resold(&h, "Silent").await;
    let id = ask_to_delete(&h, t).await;
    // master-hoster: consultation_deadline = 48h.
    h.clock.advance(time::Duration::hours(47));
    assert_eq!(h.control_plane.requests_expire().await.unwrap(), 0);
    assert!(exists(&h, t).await);
    h.clock.advance(time::Duration::hours(2));
    assert_eq!(h.control_plane.requests_expire().await.unwrap(), 1);
    assert!(!exists(&h, t).await);
    let r = h.provider_admin().get(&format!("/v1/requests/{id}")).await;
    // The tenant is gone, and with it its requests; the audit trail keeps the story.
    assert_eq!(r.status, 404);
    let audit = h.provider_admin().get("/v1/audit").await.expect(200);
    let outcomes: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["request_id"] == id.as_str())
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["consulting", "fulfilled", "deleted"]);
}
e2e!(silence_lets_the_activity_run_at_the_deadline);

async fn a_two_party_profile_consults_nobody(h: Harness) {
    // hosted-exchange holds no C: the provider deletes at once.
    let t = fixtures::tenant(&h, "Direct").await;
    h.provider_admin()
        .delete(&format!("/v1/tenants/{t}"))
        .await
        .expect(204);
}
e2e!(a_two_party_profile_consults_nobody);
