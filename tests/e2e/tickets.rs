//! Tickets: the customer reports an incident, the provider qualifies, updates and closes
//! it, and the customer is informed at each step; a partner doing first-line support
//! proposes a report to its customer.

use serde_json::{Value, json};

use mailplane_tests::{Harness, e2e, fixtures};

async fn a_customer_reports_and_the_provider_handles_an_incident(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let customer = h.customer_admin(t);
    let provider = h.provider("provider-operator");
    let base = format!("/v1/tenants/{t}/tickets");
    // Every bad field at once.
    let r = customer
        .post(
            &base,
            json!({ "title": " ", "description": "", "severity": "normal" }),
        )
        .await;
    assert_eq!(r.status, 400);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["title", "description"]);
    let ticket = customer
        .post(
            &base,
            json!({ "title": "No mail since 9:00", "description": "Outlook says disconnected.", "severity": "high" }),
        )
        .await
        .expect(201);
    let id = ticket["id"].as_str().unwrap().to_string();
    assert_eq!(ticket["state"], "open");
    assert_eq!(ticket["opened_by_party"], "customer");

    // The provider's operator takes each step; the customer may not (it holds only I).
    let steps = format!("{base}/{id}/steps");
    assert_eq!(
        customer
            .post(
                &steps,
                json!({ "state": "closed", "comment": "Never mind." })
            )
            .await
            .status,
        403
    );
    for (state, comment) in [
        ("qualified", "Confirmed: the EU front end is down."),
        ("in_progress", "Failing over."),
        ("resolved", "Service restored at 9:42."),
    ] {
        let t = provider
            .post(&steps, json!({ "state": state, "comment": comment }))
            .await
            .expect(200);
        assert_eq!(t["state"], state);
    }
    // The customer adds information; the provider closes; nothing changes after that.
    customer
        .post(
            &format!("{base}/{id}/comments"),
            json!({ "comment": "Confirmed on our side." }),
        )
        .await
        .expect(200);
    provider
        .post(&steps, json!({ "state": "closed", "comment": "Closing." }))
        .await
        .expect(200);
    let r = provider
        .post(&steps, json!({ "comment": "One more thing." }))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        provider
            .post(&steps, json!({ "state": "open", "comment": "Reopen." }))
            .await
            .status,
        400
    );
    let t = customer.get(&format!("{base}/{id}")).await.expect(200);
    let history: Vec<(&str, Value)> = t["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["party"].as_str().unwrap(), u["state"].clone()))
        .collect();
    assert_eq!(
        history,
        [
            ("provider", json!("qualified")),
            ("provider", json!("in_progress")),
            ("provider", json!("resolved")),
            ("customer", Value::Null),
            ("provider", json!("closed")),
        ]
    );
    // The customer was informed of every provider step, in order.
    let feed = customer.get("/v1/events").await.expect(200);
    let told: Vec<&str> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target_id"] == id.as_str() && e["actor_party"] == "provider")
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(told, ["qualified", "in_progress", "resolved", "closed"]);
    // The provider was informed of the report itself (incident.report: provider I).
    let feed = h.provider_admin().get("/v1/events").await.expect(200);
    assert!(
        feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["target_id"] == id.as_str() && e["outcome"] == "opened")
    );
    let open = customer
        .get(&format!("{base}?state=closed"))
        .await
        .expect(200);
    assert_eq!(open["items"].as_array().unwrap().len(), 1);
    // Another tenant's customer does not see the ticket.
    let other = fixtures::tenant(&h, "Other").await;
    assert_eq!(
        h.customer_admin(other)
            .get(&format!("/v1/tenants/{other}/tickets/{id}"))
            .await
            .status,
        404
    );
}
e2e!(a_customer_reports_and_the_provider_handles_an_incident);

async fn a_partner_reports_for_its_customer_by_proposal(h: Harness) {
    // master-hoster: incident.report is customer RA, partner R.
    let p = fixtures::partner(&h, "Reseller").await;
    let t = fixtures::partner_tenant(&h, p, "Resold").await;
    let r = h
        .partner(p, "partner-helpdesk")
        .post(
            &format!("/v1/tenants/{t}/tickets"),
            json!({ "title": "Bounce storm", "description": "Many NDRs since noon." }),
        )
        .await
        .expect(202);
    assert_eq!(r["kind"], "proposal");
    assert_eq!(r["operation"], "ticket.open");
    let approved = h
        .customer_admin(t)
        .post(
            &format!("/v1/requests/{}/approve", r["id"].as_str().unwrap()),
            json!({}),
        )
        .await
        .expect(200);
    let ticket_id = approved["result"]["id"].as_str().unwrap();
    let ticket = h
        .customer_admin(t)
        .get(&format!("/v1/tenants/{t}/tickets/{ticket_id}"))
        .await
        .expect(200);
    assert_eq!(ticket["opened_by_party"], "partner");
    assert_eq!(ticket["severity"], "normal");
}
e2e!(a_partner_reports_for_its_customer_by_proposal);
