//! Passwords through HTTP: the tenant's password policy, and mailbox passwords under it that
//! never leave the call.

use serde_json::json;

use mailplane::types::TenantId;
use mailplane_tests::{Harness, e2e, field_errors, fixtures};

async fn setup(h: &Harness) -> (TenantId, String, String) {
    let t = fixtures::tenant(h, "Acme").await;
    let d = fixtures::domain(h, t, "acme.example").await;
    let m = fixtures::mailbox(h, t, &d, "alice").await;
    (t, d, m)
}

async fn passwords_follow_the_policy_and_never_leave_the_call(h: Harness) {
    let (t, _, alice) = setup(&h).await;
    let admin = h.customer_admin(t);
    let path = format!("/v1/tenants/{t}/mailboxes/{alice}/password");
    let policy = admin
        .get(&format!("/v1/tenants/{t}/password-policy"))
        .await
        .expect(200);
    assert_eq!(policy["min_length"], 12);
    assert_eq!(policy["max_age_days"], 90);
    // The customer tightens its policy (`service.customize`); the provider may not.
    h.provider_admin()
        .put(
            &format!("/v1/tenants/{t}/password-policy"),
            json!({ "min_length": 16 }),
        )
        .await
        .expect(403);
    let bad_policy = admin
        .put(
            &format!("/v1/tenants/{t}/password-policy"),
            json!({ "min_length": 4, "history_depth": 99 }),
        )
        .await
        .expect(400);
    let mut f = field_errors(&bad_policy);
    f.sort();
    assert_eq!(f, ["history_depth", "min_length"]);
    let set = admin
        .put(
            &format!("/v1/tenants/{t}/password-policy"),
            json!({ "min_length": 14, "require_symbol": true, "history_depth": 2 }),
        )
        .await
        .expect(200);
    assert_eq!(set["min_length"], 14);
    assert_eq!(
        set["max_age_days"], 90,
        "fields left out take their defaults"
    );

    // Every broken rule is named under `password`.
    let weak = admin
        .put(&path, json!({ "password": "short" }))
        .await
        .expect(400);
    assert!(weak["errors"].as_array().unwrap().len() >= 3, "{weak}");
    assert!(field_errors(&weak).iter().all(|f| f == "password"));
    assert!(
        !weak.to_string().contains("\"short\""),
        "the password is not echoed"
    );

    let secret = "Correct-Horse-7-Battery";
    let status = admin
        .put(&path, json!({ "password": secret }))
        .await
        .expect(200);
    assert_eq!(status["rotation_due"], false);
    let set_at = time::OffsetDateTime::parse(
        status["set_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let due_at = time::OffsetDateTime::parse(
        status["rotation_due_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(due_at - set_at, time::Duration::days(90));
    // The same password again repeats the history.
    let again = admin
        .put(&path, json!({ "password": secret }))
        .await
        .expect(400);
    assert!(again["detail"].as_str().unwrap().contains("last 2"));
    // After 91 days, rotation is due.
    h.clock.advance(time::Duration::days(91));
    let later = admin.get(&path).await.expect(200);
    assert_eq!(later["rotation_due"], true);

    // The provider is informed (I) but does not set passwords; a helpdesk with R only may
    // not file one either: a password is never stored in a request.
    h.provider_admin()
        .put(&path, json!({ "password": "Another-Horse-8-Battery" }))
        .await
        .expect(403);

    // Only an Argon2id hash is stored, and the password appears nowhere.
    let stored = h
        .store
        .query_strings_for_tests("SELECT hash FROM mailbox_passwords")
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].starts_with("$argon2id$"));
    let audit = admin.get("/v1/audit").await.expect(200).to_string();
    let events = admin.get("/v1/events").await.expect(200).to_string();
    let provider_events = h
        .provider_admin()
        .get("/v1/events")
        .await
        .expect(200)
        .to_string();
    for text in [&audit, &events, &provider_events] {
        assert!(!text.contains(secret));
        assert!(!text.contains("argon2"));
    }
    assert!(audit.contains("password_set"));
    assert!(
        provider_events.contains("access.data-plane"),
        "the provider is informed"
    );
}
e2e!(passwords_follow_the_policy_and_never_leave_the_call);
