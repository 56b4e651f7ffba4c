//! Proposals (R without A) and deadlines: under `master-hoster` the partner does directory
//! work for its customers, who stay accountable. The partner's change becomes a proposal,
//! the customer approves it at most once, and it runs as the partner, recording both.
//! A request or proposal left unanswered expires at the profile's deadline.

use serde_json::{Value, json};

use mailplane::types::{PartnerId, TenantId};
use mailplane_tests::{Harness, e2e, fixtures};

async fn resold_tenant(h: &Harness) -> (PartnerId, TenantId, String) {
    let p = fixtures::partner(h, "Reseller").await;
    let t = fixtures::partner_tenant(h, p, "Resold customer").await;
    let d = fixtures::domain(h, t, "resold.example").await;
    (p, t, d)
}

fn mailbox(d: &str, local: &str) -> Value {
    json!({ "local_part": local, "domain_id": d, "display_name": local })
}

async fn a_partner_proposes_and_the_customer_approves(h: Harness) {
    let (p, t, d) = resold_tenant(&h).await;
    let partner = h.partner_admin(p);
    let path = format!("/v1/tenants/{t}/mailboxes");
    let r = partner.post(&path, mailbox(&d, "bob")).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    let proposal = r.body.clone();
    let id = proposal["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.headers["location"].to_str().unwrap(),
        format!("/v1/requests/{id}")
    );
    assert_eq!(proposal["kind"], "proposal");
    assert_eq!(proposal["state"], "pending");
    assert_eq!(proposal["operation"], "mailbox.create");
    assert_eq!(proposal["payload"]["local_part"], "bob");
    assert_eq!(proposal["requester_party"], "partner");
    assert_eq!(proposal["addressed_to"], json!(["customer"]));
    assert!(proposal["expires_at"].is_string());
    assert!(proposal["links"]["fulfil"].is_null());
    // Nothing exists until the customer approves.
    let list = h.customer_admin(t).get(&path).await.expect(200);
    assert!(list["items"].as_array().unwrap().is_empty());

    // A bad input is refused when proposed, naming the field, and files nothing.
    let r = partner
        .post(
            &path,
            json!({ "local_part": "a..b", "domain_id": d, "display_name": "x" }),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "local_part");

    // The partner cannot approve its own proposal; fulfil is the wrong answer to it;
    // rejecting needs a reason.
    let approve = format!("/v1/requests/{id}/approve");
    assert_eq!(partner.post(&approve, json!({})).await.status, 403);
    let customer = h.customer_admin(t);
    let r = customer
        .post(&format!("/v1/requests/{id}/fulfil"), json!({}))
        .await;
    assert_eq!(r.status, 409, "a proposal is approved, not fulfilled");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("approve or reject")
    );
    let r = customer
        .post(&format!("/v1/requests/{id}/reject"), json!({}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "reason");

    // The customer approves: the mailbox is created, as the partner.
    let approved = customer
        .post(&approve, json!({ "reason": "Go ahead." }))
        .await
        .expect(200);
    assert_eq!(approved["state"], "approved");
    assert_eq!(approved["result"]["kind"], "mailbox");
    assert!(approved["links"]["approve"].is_null());
    let mailbox_id = approved["result"]["id"].as_str().unwrap().to_string();
    let m = customer
        .get(&format!("{path}/{mailbox_id}"))
        .await
        .expect(200);
    assert_eq!(m["address"], "bob@resold.example");
    assert_eq!(customer.post(&approve, json!({})).await.status, 409);

    // The audit trail records both: the partner created the mailbox under the proposal,
    // the customer approved it with A.
    let audit = h.provider_admin().get("/v1/audit").await.expect(200);
    let rows: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["request_id"] == id.as_str())
        .collect();
    let outcomes: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["party"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["letters"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("partner", "proposed", "R"),
            ("partner", "created", "R"),
            ("customer", "approved", "A"),
        ]
    );
    // The partner learns that its proposal was approved and that the mailbox exists.
    let feed = partner.get("/v1/events").await.expect(200);
    let about: Vec<&str> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["request_id"] == id.as_str())
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert!(about.contains(&"approved"), "{about:?}");
    // The customer was owed the proposal itself.
    let feed = customer.get("/v1/events").await.expect(200);
    assert!(
        feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["request_id"] == id.as_str() && e["outcome"] == "proposed")
    );
}
e2e!(a_partner_proposes_and_the_customer_approves);

async fn a_rejected_proposal_changes_nothing(h: Harness) {
    let (p, t, _) = resold_tenant(&h).await;
    let r = h
        .partner_admin(p)
        .post(
            &format!("/v1/tenants/{t}/domains"),
            json!({ "name": "more.example" }),
        )
        .await
        .expect(202);
    let id = r["id"].as_str().unwrap();
    let rejected = h
        .customer_admin(t)
        .post(
            &format!("/v1/requests/{id}/reject"),
            json!({ "reason": "We do not own that domain." }),
        )
        .await
        .expect(200);
    assert_eq!(rejected["state"], "rejected");
    assert_eq!(rejected["reason"], "We do not own that domain.");
    assert!(rejected["result"].is_null());
    let domains = h
        .customer_admin(t)
        .get(&format!("/v1/tenants/{t}/domains"))
        .await
        .expect(200);
    let names: Vec<&str> = domains["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["default"] == false)
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["resold.example"]);
}
e2e!(a_rejected_proposal_changes_nothing);

async fn an_approval_that_no_longer_fits_leaves_the_proposal_pending(h: Harness) {
    let (p, t, d) = resold_tenant(&h).await;
    let r = h
        .partner_admin(p)
        .post(&format!("/v1/tenants/{t}/mailboxes"), mailbox(&d, "carol"))
        .await
        .expect(202);
    let id = r["id"].as_str().unwrap().to_string();
    // Meanwhile the customer takes the address itself.
    fixtures::mailbox(&h, t, &d, "carol").await;
    let r = h
        .customer_admin(t)
        .post(&format!("/v1/requests/{id}/approve"), json!({}))
        .await;
    assert_eq!(r.status, 409, "{:#}", r.body);
    // The failed approval rolled back whole: still pending, and no audit row for it.
    let view = h
        .customer_admin(t)
        .get(&format!("/v1/requests/{id}"))
        .await
        .expect(200);
    assert_eq!(view["state"], "pending");
    let audit = h.provider_admin().get("/v1/audit").await.expect(200);
    let rows = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["request_id"] == id.as_str())
        .count();
    assert_eq!(rows, 1, "only the proposal's own row");
}
e2e!(an_approval_that_no_longer_fits_leaves_the_proposal_pending);

async fn two_simultaneous_approvals_run_the_operation_once(h: Harness) {
    let (p, t, d) = resold_tenant(&h).await;
    let r = h
        .partner_admin(p)
        .post(&format!("/v1/tenants/{t}/mailboxes"), mailbox(&d, "dave"))
        .await
        .expect(202);
    let approve = format!("/v1/requests/{}/approve", r["id"].as_str().unwrap());
    let (a, b) = (h.customer_admin(t), h.customer_admin(t));
    let (ra, rb) = tokio::join!(a.post(&approve, json!({})), b.post(&approve, json!({})));
    let mut statuses = [ra.status.as_u16(), rb.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{:#} {:#}", ra.body, rb.body);
    let list = h
        .customer_admin(t)
        .get(&format!("/v1/tenants/{t}/mailboxes"))
        .await
        .expect(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // One change, one event about the mailbox.
    let feed = h.customer_admin(t).get("/v1/events").await.expect(200);
    let created = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target_kind"] == "mailbox" && e["outcome"] == "created")
        .count();
    assert_eq!(created, 1);
    assert!(h.control_plane.audit_verify().await.unwrap().is_intact());
}
e2e!(two_simultaneous_approvals_run_the_operation_once);

async fn unanswered_requests_expire_at_the_profile_deadline(h: Harness) {
    let (p, t, d) = resold_tenant(&h).await;
    let r = h
        .partner_admin(p)
        .post(&format!("/v1/tenants/{t}/mailboxes"), mailbox(&d, "erin"))
        .await
        .expect(202);
    let late = r["id"].as_str().unwrap().to_string();
    let r = h
        .partner_admin(p)
        .post(&format!("/v1/tenants/{t}/mailboxes"), mailbox(&d, "frank"))
        .await
        .expect(202);
    let swept = r["id"].as_str().unwrap().to_string();
    // master-hoster sets `request_deadline = 72h`.
    let filed: time::OffsetDateTime = time::OffsetDateTime::parse(
        r["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires: time::OffsetDateTime = time::OffsetDateTime::parse(
        r["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let deadline = expires - filed;
    assert!(
        (deadline - time::Duration::hours(72)).abs() < time::Duration::minutes(1),
        "{deadline}"
    );
    // Before the deadline nothing expires.
    h.clock.advance(time::Duration::hours(71));
    assert_eq!(h.control_plane.requests_expire().await.unwrap(), 0);
    h.clock.advance(time::Duration::hours(2));
    // An answer after the deadline expires the request on the spot and is refused.
    let r = h
        .customer_admin(t)
        .post(&format!("/v1/requests/{late}/approve"), json!({}))
        .await;
    assert_eq!(r.status, 409);
    assert!(
        r.body["detail"].as_str().unwrap().contains("expired"),
        "{:#}",
        r.body
    );
    // The sweep expires the rest, once.
    assert_eq!(h.control_plane.requests_expire().await.unwrap(), 1);
    assert_eq!(h.control_plane.requests_expire().await.unwrap(), 0);
    for id in [&late, &swept] {
        let v = h
            .partner_admin(p)
            .get(&format!("/v1/requests/{id}"))
            .await
            .expect(200);
        assert_eq!(v["state"], "expired");
        assert_eq!(v["decided_by"], "mailplane-automation");
    }
    let expired = h
        .customer_admin(t)
        .get("/v1/requests?state=expired")
        .await
        .expect(200);
    assert_eq!(expired["items"].as_array().unwrap().len(), 2);
    // Nothing was created, and the partner was told.
    let list = h
        .customer_admin(t)
        .get(&format!("/v1/tenants/{t}/mailboxes"))
        .await
        .expect(200);
    assert!(list["items"].as_array().unwrap().is_empty());
    let feed = h.partner_admin(p).get("/v1/events").await.expect(200);
    let expiries = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "expired")
        .count();
    assert_eq!(expiries, 2);
    assert!(h.control_plane.audit_verify().await.unwrap().is_intact());
}
e2e!(unanswered_requests_expire_at_the_profile_deadline);

async fn an_approval_racing_a_cancellation_gives_one_winner_and_no_error(h: Harness) {
    let (p, t, d) = resold_tenant(&h).await;
    for round in 0..10 {
        let r = h
            .partner_admin(p)
            .post(
                &format!("/v1/tenants/{t}/mailboxes"),
                mailbox(&d, &format!("race{round}")),
            )
            .await
            .expect(202);
        let id = r["id"].as_str().unwrap();
        let (approver, canceller) = (h.customer_admin(t), h.partner_admin(p));
        let approve = format!("/v1/requests/{id}/approve");
        let cancel = format!("/v1/requests/{id}/cancel");
        let (ra, rc) = tokio::join!(
            approver.post(&approve, json!({})),
            canceller.post(&cancel, json!({}))
        );
        let mut statuses = [ra.status.as_u16(), rc.status.as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{:#} {:#}", ra.body, rc.body);
        let view = h
            .customer_admin(t)
            .get(&format!("/v1/requests/{id}"))
            .await
            .expect(200);
        let approved = ra.status == 200;
        assert_eq!(
            view["state"],
            if approved { "approved" } else { "cancelled" }
        );
        let exists = h
            .customer_admin(t)
            .get(&format!("/v1/tenants/{t}/mailboxes"))
            .await
            .expect(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["address"] == format!("race{round}@resold.example"));
        assert_eq!(exists, approved);
    }
    assert!(h.control_plane.audit_verify().await.unwrap().is_intact());
}
e2e!(an_approval_racing_a_cancellation_gives_one_winner_and_no_error);
