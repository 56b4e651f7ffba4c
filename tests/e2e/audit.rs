//! What is recorded of each change. The audit log: one row per allowed change, in the same
//! transaction, hash chained, readable with the same scoping as everything else, and
//! tamper-evident. The event feed: every executed change reaches the parties that hold I for
//! its activity, and the accountable party when another party acted; each organisation reads
//! only its own.

use serde_json::{Value, json};

use mailplane::types::TenantId;
use mailplane_tests::{Client, Harness, e2e, fixtures};

async fn every_change_appends_one_scoped_row(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let other = fixtures::tenant(&h, "Other").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    fixtures::mailbox(&h, t, &d, "alice").await;
    fixtures::domain(&h, other, "other.example").await;
    // A refused change and an invalid one leave no row.
    h.customer(t, "tenant-reader")
        .post(
            &format!("/v1/tenants/{t}/domains"),
            json!({ "name": "p.example" }),
        )
        .await
        .expect(403);
    h.customer_admin(t)
        .post(
            &format!("/v1/tenants/{t}/domains"),
            json!({ "name": "bad name" }),
        )
        .await
        .expect(400);

    let all = h
        .provider("provider-auditor")
        .get("/v1/audit")
        .await
        .expect(200);
    let rows = all["items"].as_array().unwrap();
    // Each tenant: created, placed in its region, its licences provided; each domain:
    // created and verified; one mailbox.
    assert_eq!(rows.len(), 11, "two tenants, two domains, one mailbox");
    let seqs: Vec<i64> = rows.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<i64>>());
    for pair in rows.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    let mailbox_row = rows
        .iter()
        .find(|r| r["target_kind"] == "mailbox")
        .expect("the mailbox's row");
    assert_eq!(mailbox_row["activity"], "directory.administer");
    assert_eq!(mailbox_row["letters"], "RA");
    assert_eq!(mailbox_row["party"], "customer");
    assert_eq!(mailbox_row["org"], format!("tenant:{t}"));
    assert_eq!(mailbox_row["target_kind"], "mailbox");
    assert_eq!(mailbox_row["outcome"], "created");
    assert_eq!(rows[0]["activity"], "service.deliver");
    assert_eq!(rows[0]["party"], "provider");

    // The customer reads its own tenant's rows only.
    let mine = h
        .customer(t, "tenant-reader")
        .get("/v1/audit")
        .await
        .expect(200);
    let mine = mine["items"].as_array().unwrap();
    assert_eq!(mine.len(), 6);
    assert!(mine.iter().all(|r| r["tenant_id"] == t.to_string()));
    // Paging by seq.
    let first = h
        .provider_admin()
        .get("/v1/audit?limit=2")
        .await
        .expect(200);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let next = h
        .provider_admin()
        .get(&format!("/v1/audit?limit=2&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(next["items"][0]["seq"], 3);
    assert_eq!(
        h.provider_admin().get("/v1/audit?cursor=-4").await.status,
        400
    );

    let report = h.control_plane.audit_verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.rows, 11);
}
e2e!(every_change_appends_one_scoped_row);

async fn a_change_whose_audit_row_fails_is_rolled_back(h: Harness) {
    let before = h.provider_admin().get("/v1/tenants").await.expect(200);
    assert!(before["items"].as_array().unwrap().is_empty());
    // Without the chain's head row no audit row can be appended.
    h.store
        .execute_unprepared_for_tests("DELETE FROM audit_head")
        .await
        .unwrap();
    let r = h
        .provider_admin()
        .post("/v1/tenants", json!({ "name": "Lost" }))
        .await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body["type"], "https://mailplane.dev/problems/internal");
    assert!(
        !r.body.to_string().contains("audit_head"),
        "the cause stays in the log"
    );
    let after = h.provider_admin().get("/v1/tenants").await.expect(200);
    assert!(
        after["items"].as_array().unwrap().is_empty(),
        "the tenant was rolled back"
    );
}
e2e!(a_change_whose_audit_row_fails_is_rolled_back);

async fn some_rows(h: &Harness) {
    let t = fixtures::tenant(h, "Acme").await;
    fixtures::domain(h, t, "a.example").await;
    fixtures::domain(h, t, "b.example").await;
    assert!(h.control_plane.audit_verify().await.unwrap().is_intact());
}

async fn an_edited_row_is_detected(h: Harness) {
    some_rows(&h).await;
    h.store
        .execute_unprepared_for_tests("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2")
        .await
        .unwrap();
    let report = h.control_plane.audit_verify().await.unwrap();
    assert_eq!(
        report.problem.as_deref(),
        Some("row 2 was altered: its content does not match its hash")
    );
    assert_eq!(report.rows, 1);
}
e2e!(an_edited_row_is_detected);

/// Rows stored with an older spelling of an outcome (the termination job once wrote
/// `configuration destroyed` and `data destroyed`) read as the one spelling of today, in
/// the audit trail and in the feed alike.
async fn rows_stored_with_an_old_spelling_still_read(h: Harness) {
    some_rows(&h).await;
    h.store
        .execute_unprepared_for_tests("UPDATE audit_log SET outcome = 'configuration destroyed'")
        .await
        .unwrap();
    h.store
        .execute_unprepared_for_tests("UPDATE events SET outcome = 'data destroyed'")
        .await
        .unwrap();
    let audit = h
        .provider("provider-auditor")
        .get("/v1/audit")
        .await
        .expect(200);
    let rows = audit["items"].as_array().unwrap();
    assert!(!rows.is_empty());
    for r in rows {
        assert_eq!(r["outcome"], "configuration_destroyed", "{r}");
    }
    let events = h.provider_admin().get("/v1/events").await.expect(200);
    let events = events["items"].as_array().unwrap();
    assert!(!events.is_empty());
    for e in events {
        assert_eq!(e["outcome"], "data_destroyed", "{e}");
    }
}
e2e!(rows_stored_with_an_old_spelling_still_read);

async fn a_removed_row_is_detected(h: Harness) {
    some_rows(&h).await;
    h.store
        .execute_unprepared_for_tests("DELETE FROM audit_log WHERE seq = 2")
        .await
        .unwrap();
    let report = h.control_plane.audit_verify().await.unwrap();
    assert!(
        report
            .problem
            .as_deref()
            .unwrap()
            .contains("rows 2..2 are missing"),
        "{report:?}"
    );
}
e2e!(a_removed_row_is_detected);

async fn a_removed_last_row_is_detected(h: Harness) {
    some_rows(&h).await;
    h.store
        .execute_unprepared_for_tests(
            "DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)",
        )
        .await
        .unwrap();
    let report = h.control_plane.audit_verify().await.unwrap();
    assert!(
        report
            .problem
            .as_deref()
            .unwrap()
            .contains("rows at the end were removed"),
        "{report:?}"
    );
}
e2e!(a_removed_last_row_is_detected);

async fn concurrent_writers_extend_one_chain(h: Harness) {
    let t: TenantId = h
        .provider_admin()
        .post("/v1/tenants", json!({ "name": "Acme", "seats": 24 }))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let d = fixtures::domain(&h, t, "acme.example").await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let client = h.customer_admin(t);
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(
                    &format!("/v1/tenants/{t}/mailboxes"),
                    json!({ "local_part": format!("user{i}"), "domain_id": d, "display_name": "U" }),
                )
                .await
                .status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 201);
    }
    let report = h.control_plane.audit_verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.rows, 3 + 2 + 24);
}
e2e!(concurrent_writers_extend_one_chain);

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
