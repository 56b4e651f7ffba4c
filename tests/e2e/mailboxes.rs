//! Domains and mailboxes: directory administration, where the customer is RA and the
//! provider IR in the hosted-exchange profile.

use serde_json::json;

use mailplane_tests::{Harness, e2e, fixtures};

async fn customers_administer_their_directory(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let admin = h.customer_admin(t);
    let d = admin
        .post(
            &format!("/v1/tenants/{t}/domains"),
            json!({ "name": "Bücher.Example." }),
        )
        .await
        .expect(201);
    assert_eq!(
        d["name"], "xn--bcher-kva.example",
        "lower-case A-label form"
    );
    let did = d["id"].as_str().unwrap();
    assert_eq!(d["verified"], false);
    // Until the domain is verified, it takes no address.
    admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes"),
            json!({ "local_part": "early", "domain_id": did, "display_name": "Early" }),
        )
        .await
        .expect(400);
    fixtures::publish_verification(&h, t, did).await;
    admin
        .post(&format!("/v1/tenants/{t}/domains/{did}/verify"), json!({}))
        .await
        .expect(200);
    let m = admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes"),
            json!({ "local_part": "Alice.Smith", "domain_id": did, "display_name": "Alice Smith" }),
        )
        .await
        .expect(201);
    assert_eq!(m["address"], "alice.smith@xn--bcher-kva.example");
    assert_eq!(m["quota_bytes"], 50i64 * 1024 * 1024 * 1024);
    assert_eq!(m["status"], "enabled");
    let mid = m["id"].as_str().unwrap();
    let u = admin
        .patch(
            &format!("/v1/tenants/{t}/mailboxes/{mid}"),
            json!({ "display_name": "Alice S.", "quota_bytes": 1024, "status": "disabled" }),
        )
        .await
        .expect(200);
    assert_eq!(u["display_name"], "Alice S.");
    assert_eq!(u["quota_bytes"], 1024);
    assert_eq!(u["status"], "disabled");
    let list = admin
        .get(&format!("/v1/tenants/{t}/mailboxes"))
        .await
        .expect(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let domains = admin
        .get(&format!("/v1/tenants/{t}/domains"))
        .await
        .expect(200);
    let items = domains["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "the default domain and the custom one");
    assert_eq!(items[0]["default"], true);
    assert_eq!(items[1]["id"], did);
    admin
        .get(&format!("/v1/tenants/{t}/domains/{did}"))
        .await
        .expect(200);
    admin
        .delete(&format!("/v1/tenants/{t}/mailboxes/{mid}"))
        .await
        .expect(204);
    // Deleted, it is kept for its undelete window: it reads with its status, and the list
    // shows it only when asked for.
    let deleted = admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{mid}"))
        .await
        .expect(200);
    assert_eq!(deleted["status"], "deleted");
    let list = admin
        .get(&format!("/v1/tenants/{t}/mailboxes"))
        .await
        .expect(200);
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
    let list = admin
        .get(&format!("/v1/tenants/{t}/mailboxes?status=deleted"))
        .await
        .expect(200);
    assert_eq!(list["items"][0]["id"], mid);
    let bad = admin
        .get(&format!("/v1/tenants/{t}/mailboxes?status=gone"))
        .await
        .expect(400);
    assert!(bad.to_string().contains("status"), "{bad}");
}
e2e!(customers_administer_their_directory);

/// A mailbox read is one statement, the tenant in scope joined with the mailbox: a missing
/// mailbox of a visible tenant, a missing tenant and a tenant out of scope still answer 404,
/// each naming what the caller cannot see, and the mailbox itself still reads.
async fn a_mailbox_read_tells_a_missing_mailbox_from_a_missing_tenant(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let other = fixtures::tenant(&h, "Other").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    let m = fixtures::mailbox(&h, t, &d, "alice").await;
    let admin = h.customer_admin(t);
    let found = admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(200);
    assert_eq!(found["id"], m.as_str());
    assert_eq!(found["address"], "alice@acme.example");

    let ghost = uuid::Uuid::now_v7();
    let missing = admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{ghost}"))
        .await
        .expect(404);
    assert_eq!(missing["detail"], format!("mailbox {ghost} not found"));
    let no_tenant = h
        .provider_admin()
        .get(&format!("/v1/tenants/{ghost}/mailboxes/{m}"))
        .await
        .expect(404);
    assert_eq!(no_tenant["detail"], format!("tenant {ghost} not found"));
    // Another tenant's administrator asks for this mailbox under this tenant's id.
    let out_of_scope = h
        .customer_admin(other)
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(404);
    assert_eq!(out_of_scope["detail"], format!("tenant {t} not found"));
}
e2e!(a_mailbox_read_tells_a_missing_mailbox_from_a_missing_tenant);

/// On SQLite the store remembers the tenants and mailboxes it reads. This test reads the
/// same mailbox again and again, and checks that what is remembered is never served once the
/// database holds something else: after a change through the API, after a change by another
/// connection to the file (as an operator's process would make), and to a caller out of
/// scope. On PostgreSQL nothing is remembered and the answers are the same.
async fn a_remembered_mailbox_is_never_served_after_a_change(h: Harness) {
    let p = fixtures::partner(&h, "Reseller").await;
    let other_partner = fixtures::partner(&h, "Other reseller").await;
    let t = fixtures::partner_tenant(&h, p, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    let m = fixtures::mailbox(&h, t, &d, "alice").await;
    let path = format!("/v1/tenants/{t}/mailboxes/{m}");
    let admin = h.customer_admin(t);
    let display_name =
        |reply: serde_json::Value| reply["display_name"].as_str().unwrap().to_owned();

    let before = h.control_plane.read_cache_stats();
    let first = display_name(admin.get(&path).await.expect(200));
    assert_eq!(display_name(admin.get(&path).await.expect(200)), first);
    let after = h.control_plane.read_cache_stats();
    match h.backend {
        mailplane_tests::Backend::Sqlite => {
            let (before, after) = (before.unwrap(), after.unwrap());
            assert!(
                after.hits > before.hits,
                "the second read is answered from memory: {before:?} then {after:?}"
            );
        }
        mailplane_tests::Backend::Postgres => assert_eq!(after, None),
    }

    // A change through the API is read at once.
    admin
        .patch(&path, json!({ "display_name": "Alice Changed" }))
        .await
        .expect(200);
    assert_eq!(
        display_name(admin.get(&path).await.expect(200)),
        "Alice Changed"
    );
    assert_eq!(
        display_name(admin.get(&path).await.expect(200)),
        "Alice Changed"
    );

    // So is a change by another connection, one this process's writer never saw.
    h.store
        .execute_unprepared_for_tests(
            "UPDATE mailboxes SET display_name = 'Alice Elsewhere' WHERE address = 'alice@acme.example'",
        )
        .await
        .unwrap();
    assert_eq!(
        display_name(admin.get(&path).await.expect(200)),
        "Alice Elsewhere"
    );

    // The tenant remembered for its partner is not shown to another partner, nor to its
    // customers' neighbours, and the partner still reads it.
    h.partner_admin(p).get(&path).await.expect(200);
    let refused = h.partner_admin(other_partner).get(&path).await.expect(404);
    assert_eq!(refused["detail"], format!("tenant {t} not found"));
    h.customer_admin(fixtures::tenant(&h, "Neighbour").await)
        .get(&path)
        .await
        .expect(404);

    // The tenant itself, read twice by its partner, is refused to the other partner and
    // to a neighbour's administrator, and a change to its row elsewhere is read at once.
    let tenant_path = format!("/v1/tenants/{t}");
    let partner = h.partner_admin(p);
    assert_eq!(partner.get(&tenant_path).await.expect(200)["name"], "Acme");
    let before = h.control_plane.read_cache_stats();
    assert_eq!(partner.get(&tenant_path).await.expect(200)["name"], "Acme");
    if let (Some(before), Some(after)) = (before, h.control_plane.read_cache_stats()) {
        assert!(
            after.hits > before.hits,
            "the tenant is answered from memory"
        );
    }
    let refused = h
        .partner_admin(other_partner)
        .get(&tenant_path)
        .await
        .expect(404);
    assert_eq!(refused["detail"], format!("tenant {t} not found"));
    h.customer_admin(fixtures::tenant(&h, "Second neighbour").await)
        .get(&tenant_path)
        .await
        .expect(404);
    h.store
        .execute_unprepared_for_tests(
            "UPDATE tenants SET name = 'Acme Renamed' WHERE name = 'Acme'",
        )
        .await
        .unwrap();
    assert_eq!(
        partner.get(&tenant_path).await.expect(200)["name"],
        "Acme Renamed"
    );

    // A deleted mailbox reads as deleted, however often it was read before.
    let deleted = admin.delete(&path).await;
    assert!(deleted.status.is_success(), "{:#}", deleted.body);
    let read = admin.get(&path).await.expect(200);
    assert_eq!(read["status"], "deleted");
}
e2e!(a_remembered_mailbox_is_never_served_after_a_change);

async fn conflicts_are_409_never_500(h: Harness) {
    let t1 = fixtures::tenant(&h, "One").await;
    let t2 = fixtures::tenant(&h, "Two").await;
    let d = fixtures::domain(&h, t1, "one.example").await;
    // A domain is unique across the platform, whatever the tenant and the case.
    let r = h
        .customer_admin(t2)
        .post(
            &format!("/v1/tenants/{t2}/domains"),
            json!({ "name": "ONE.example" }),
        )
        .await;
    assert_eq!(r.status, 409, "{:#}", r.body);
    assert_eq!(r.body["errors"][0]["field"], "name");
    assert_eq!(r.content_type, "application/problem+json");
    // An address is unique.
    fixtures::mailbox(&h, t1, &d, "bob").await;
    let r = h
        .customer_admin(t1)
        .post(
            &format!("/v1/tenants/{t1}/mailboxes"),
            json!({ "local_part": "BOB", "domain_id": d, "display_name": "Bob 2" }),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["errors"][0]["field"], "local_part");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("bob@one.example")
    );
    // A domain in use cannot be removed.
    let r = h
        .customer_admin(t1)
        .delete(&format!("/v1/tenants/{t1}/domains/{d}"))
        .await;
    assert_eq!(r.status, 409);
    assert!(r.body["detail"].as_str().unwrap().contains("1 mailbox"));
}
e2e!(conflicts_are_409_never_500);

async fn mailbox_input_names_every_bad_field(h: Harness) {
    let t1 = fixtures::tenant(&h, "One").await;
    let t2 = fixtures::tenant(&h, "Two").await;
    let foreign = fixtures::domain(&h, t2, "two.example").await;
    let r = h
        .customer_admin(t1)
        .post(
            &format!("/v1/tenants/{t1}/mailboxes"),
            json!({ "local_part": "a..b", "domain_id": foreign, "display_name": "", "quota_bytes": 0 }),
        )
        .await;
    assert_eq!(r.status, 400);
    let fields: Vec<_> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        fields,
        ["local_part", "display_name", "quota_bytes", "domain_id"]
    );
    let r = h
        .customer_admin(t1)
        .post(
            &format!("/v1/tenants/{t1}/domains"),
            json!({ "name": "no_underscores.example" }),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "name");
    assert!(
        r.body["errors"][0]["rule"]
            .as_str()
            .unwrap()
            .contains("RFC"),
        "{:#}",
        r.body
    );
    // Nothing was created by the refused calls.
    let list = h
        .customer_admin(t1)
        .get(&format!("/v1/tenants/{t1}/mailboxes"))
        .await
        .expect(200);
    assert!(list["items"].as_array().unwrap().is_empty());
}
e2e!(mailbox_input_names_every_bad_field);

async fn letters_decide_who_changes_the_directory(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    let path = format!("/v1/tenants/{t}/mailboxes");
    let body = |local: &str| json!({ "local_part": local, "domain_id": d, "display_name": local });
    // The provider holds I and R, not A: it sees the directory, and its change becomes a
    // proposal to the accountable customer (202), which creates nothing yet.
    let provider = h.provider_admin();
    provider.get(&path).await.expect(200);
    let r = provider.post(&path, body("p")).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.body["kind"], "proposal");
    assert_eq!(r.body["operation"], "mailbox.create");
    assert_eq!(r.body["addressed_to"], json!(["customer"]));
    assert!(r.body["links"]["approve"].is_string());
    // A reader reads only: refused, with every party's letters.
    let reader = h.customer(t, "tenant-reader");
    reader.get(&path).await.expect(200);
    let r = reader.post(&path, body("r")).await;
    assert_eq!(r.status, 403);
    let refusal = &r.body["refusal"];
    assert_eq!(refusal["activity"], "directory.administer");
    assert_eq!(refusal["profile"], "hosted-exchange@1");
    assert_eq!(refusal["party"], "customer");
    assert_eq!(
        refusal["letters"],
        json!([
            { "party": "customer", "letters": "RA" },
            { "party": "partner", "letters": "" },
            { "party": "provider", "letters": "RI" },
        ])
    );
    assert!(
        refusal["reason"]
            .as_str()
            .unwrap()
            .contains("may only observe"),
        "{refusal:#}"
    );
    // A helpdesk does first-line directory work for its accountable party.
    h.customer(t, "tenant-helpdesk")
        .post(&path, body("helpdesk"))
        .await
        .expect(201);
    // A provider auditor is informed: it reads.
    h.provider("provider-auditor").get(&path).await.expect(200);
}
e2e!(letters_decide_who_changes_the_directory);
