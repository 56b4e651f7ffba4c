//! Requests (A without R): the accountable customer asks, the responsible provider fulfils
//! or declines, at most once, with audit rows and events for both steps.

use serde_json::{Value, json};

use mailplane_tests::{Harness, e2e, fixtures};

fn disclaimer() -> Value {
    json!({
        "activity": "disclaimer.all-users",
        "payload": { "text": "This message is confidential." },
        "note": "For every user, please.",
    })
}

async fn a_ticket_to_the_provider_is_filed_and_fulfilled_once(h: Harness) {
    let t = fixtures::suite_tenant(&h).await;
    let customer = h.customer_admin(t);
    let filed = customer
        .post(&format!("/v1/tenants/{t}/requests"), disclaimer())
        .await
        .expect(202);
    assert_eq!(filed["state"], "pending");
    assert_eq!(filed["activity"], "disclaimer.all-users");
    assert_eq!(filed["profile"], "ticketed-suite");
    assert_eq!(filed["requester_party"], "customer");
    assert_eq!(filed["responsible"], json!(["provider"]));
    assert_eq!(filed["payload"]["text"], "This message is confidential.");
    let id = filed["id"].as_str().unwrap().to_string();
    assert_eq!(
        filed["links"]["fulfil"],
        format!("/v1/requests/{id}/fulfil")
    );

    // The provider's queue holds it; the customer sees it too.
    let queue = h
        .provider("provider-operator")
        .get("/v1/requests?state=pending")
        .await
        .expect(200);
    assert_eq!(queue["items"].as_array().unwrap().len(), 1);
    customer
        .get(&format!("/v1/requests/{id}"))
        .await
        .expect(200);
    assert_eq!(
        h.provider_admin().get("/v1/requests?state=open").await.body["errors"][0]["field"],
        "state"
    );

    // The customer holds no R: it cannot fulfil its own ticket.
    let r = customer
        .post(&format!("/v1/requests/{id}/fulfil"), json!({}))
        .await;
    assert_eq!(r.status, 403);
    // An operator (R without A) carries it out under the customer's request.
    let done = h
        .provider("provider-operator")
        .post(
            &format!("/v1/requests/{id}/fulfil"),
            json!({ "reason": "Disclaimer set on the transport rules." }),
        )
        .await
        .expect(200);
    assert_eq!(done["state"], "fulfilled");
    assert_eq!(done["decided_by"], "provider-operator@provider");
    let again = h
        .provider_admin()
        .post(&format!("/v1/requests/{id}/fulfil"), json!({}))
        .await;
    assert_eq!(again.status, 409);
    assert!(
        again.body["detail"]
            .as_str()
            .unwrap()
            .contains("fulfilled already")
    );

    // Evidence: the customer's A to ask, the provider's R to carry out.
    let audit = h.provider_admin().get("/v1/audit").await.expect(200);
    let rows: Vec<_> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["target_id"] == id)
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (
            rows[0]["outcome"].as_str(),
            rows[0]["letters"].as_str(),
            rows[0]["party"].as_str()
        ),
        (Some("requested"), Some("A"), Some("customer"))
    );
    assert_eq!(
        (
            rows[1]["outcome"].as_str(),
            rows[1]["letters"].as_str(),
            rows[1]["party"].as_str()
        ),
        (Some("fulfilled"), Some("R"), Some("provider"))
    );
    // News: the provider learns of the request, the customer of its fulfilment.
    let provider_feed = h.provider_admin().get("/v1/events").await.expect(200);
    assert!(
        provider_feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["target_id"] == id && e["outcome"] == "requested")
    );
    let customer_feed = customer.get("/v1/events").await.expect(200);
    assert!(
        customer_feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["target_id"] == id && e["outcome"] == "fulfilled")
    );
    assert!(
        !customer_feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["target_id"] == id && e["outcome"] == "requested")
    );
}
e2e!(a_ticket_to_the_provider_is_filed_and_fulfilled_once);

async fn only_the_letters_that_fit_may_file_decline_or_cancel(h: Harness) {
    let t = fixtures::suite_tenant(&h).await;
    let path = format!("/v1/tenants/{t}/requests");
    // A reader only observes, the provider is responsible but not accountable.
    assert_eq!(
        h.customer(t, "tenant-reader")
            .post(&path, disclaimer())
            .await
            .status,
        403
    );
    // The provider, responsible but not accountable, may only propose the work.
    let r = h.provider_admin().post(&path, disclaimer()).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body["kind"], "proposal");
    assert_eq!(r.body["addressed_to"], json!(["customer"]));
    // The customer cannot cancel what it did not file; the provider withdraws it.
    let proposal = r.body["id"].as_str().unwrap().to_string();
    let cancel = format!("/v1/requests/{proposal}/cancel");
    assert_eq!(
        h.customer_admin(t).post(&cancel, json!({})).await.status,
        403
    );
    let r = h.provider_admin().post(&cancel, json!({})).await;
    assert_eq!(r.body["state"], "cancelled");
    // A party that may act itself needs no request; unknown activities are named.
    let r = h
        .customer_admin(t)
        .post(&path, json!({ "activity": "directory.administer" }))
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["errors"][0]["rule"]
            .as_str()
            .unwrap()
            .contains("no request is needed")
    );
    let r = h
        .customer_admin(t)
        .post(&path, json!({ "activity": "no.such" }))
        .await;
    assert_eq!(r.body["errors"][0]["field"], "activity");
    let r = h
        .customer_admin(t)
        .post(
            &path,
            json!({ "activity": "mobile.device.wipe", "payload": [1] }),
        )
        .await;
    assert_eq!(r.body["errors"][0]["field"], "payload");
    // PostgreSQL refuses NUL in text: it is a 400 naming the field, never a 500.
    let r = h
        .customer_admin(t)
        .post(
            &path,
            json!({ "activity": "mobile.device.wipe", "note": "a\u{0}b" }),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "note");

    let wipe = h
        .customer_admin(t)
        .post(
            &path,
            json!({ "activity": "mobile.device.wipe", "payload": { "device": "bb-42" } }),
        )
        .await
        .expect(202);
    let wipe = wipe["id"].as_str().unwrap().to_string();
    let r = h
        .provider_admin()
        .post(&format!("/v1/requests/{wipe}/decline"), json!({}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "reason");
    let declined = h
        .provider_admin()
        .post(
            &format!("/v1/requests/{wipe}/decline"),
            json!({ "reason": "The device is already gone." }),
        )
        .await
        .expect(200);
    assert_eq!(declined["state"], "declined");
    assert_eq!(declined["reason"], "The device is already gone.");

    let stats = h
        .customer_admin(t)
        .post(&path, json!({ "activity": "mobile.sync.statistics" }))
        .await
        .expect(202);
    let stats = stats["id"].as_str().unwrap().to_string();
    assert_eq!(
        h.provider_admin()
            .post(&format!("/v1/requests/{stats}/cancel"), json!({}))
            .await
            .status,
        403
    );
    let cancelled = h
        .customer_admin(t)
        .post(&format!("/v1/requests/{stats}/cancel"), json!({}))
        .await
        .expect(200);
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(
        h.provider_admin()
            .post(&format!("/v1/requests/{stats}/fulfil"), json!({}))
            .await
            .status,
        409
    );
    let pending = h
        .provider_admin()
        .get("/v1/requests?state=pending")
        .await
        .expect(200);
    assert!(pending["items"].as_array().unwrap().is_empty());

    // Another tenant's customer and a partner do not see the request at all.
    let other = fixtures::tenant(&h, "Other").await;
    assert_eq!(
        h.customer_admin(other)
            .get(&format!("/v1/requests/{wipe}"))
            .await
            .status,
        404
    );
    assert_eq!(
        h.customer_admin(other)
            .post(&format!("/v1/requests/{stats}/cancel"), json!({}))
            .await
            .status,
        404
    );
    let partner = fixtures::partner(&h, "P").await;
    assert_eq!(
        h.partner_admin(partner)
            .get(&format!("/v1/requests/{wipe}"))
            .await
            .status,
        404
    );
    assert!(
        h.customer_admin(other)
            .get("/v1/requests")
            .await
            .expect(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
e2e!(only_the_letters_that_fit_may_file_decline_or_cancel);

async fn simultaneous_fulfilments_succeed_once(h: Harness) {
    let t = fixtures::suite_tenant(&h).await;
    // Eight provider principals click "fulfil" at the same moment.
    let filed = h
        .customer_admin(t)
        .post(&format!("/v1/tenants/{t}/requests"), disclaimer())
        .await
        .expect(202);
    let id = filed["id"].as_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let operator = h.provider(["provider-operator", "provider-admin"][i % 2]);
        let path = format!("/v1/requests/{id}/fulfil");
        tasks.push(tokio::spawn(async move {
            operator.post(&path, json!({})).await.status.as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409]);
    let audit = h
        .provider_admin()
        .get("/v1/audit?limit=1000")
        .await
        .expect(200);
    let fulfilled = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["target_id"] == id && r["outcome"] == "fulfilled")
        .count();
    assert_eq!(fulfilled, 1);
    let events = h.customer_admin(t).get("/v1/events").await.expect(200);
    let news = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target_id"] == id)
        .count();
    assert_eq!(news, 1, "one event for one fulfilment");
    assert!(h.control_plane.audit_verify().await.unwrap().is_intact());
}
e2e!(simultaneous_fulfilments_succeed_once);

async fn a_customer_requests_control_plane_access_in_hosted_exchange(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let filed = h
        .customer_admin(t)
        .post(
            &format!("/v1/tenants/{t}/requests"),
            json!({ "activity": "access.control-plane", "payload": { "user": "bob" } }),
        )
        .await
        .expect(202);
    assert_eq!(filed["responsible"], json!(["provider"]));
    assert_eq!(filed["profile_version"], 1);
}
e2e!(a_customer_requests_control_plane_access_in_hosted_exchange);
