//! The directory beyond mailboxes through HTTP: aliases, groups, forwarding, shared
//! mailboxes, and one namespace of addresses enforced by the database.

use serde_json::{Value, json};

use mailplane::types::TenantId;
use mailplane_tests::{Harness, e2e, field_errors, fixtures};

async fn setup(h: &Harness) -> (TenantId, String, String) {
    let t = fixtures::tenant(h, "Acme").await;
    let d = fixtures::domain(h, t, "acme.example").await;
    let m = fixtures::mailbox(h, t, &d, "alice").await;
    (t, d, m)
}

async fn aliases_and_groups_share_one_namespace(h: Harness) {
    let (t, d, alice) = setup(&h).await;
    let admin = h.customer_admin(t);
    let alias = admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes/{alice}/aliases"),
            json!({ "local_part": "sales", "domain_id": d }),
        )
        .await
        .expect(201);
    assert_eq!(alias["address"], "sales@acme.example");
    // The alias's address is taken for mailboxes and groups too, and the reverse.
    let clash = admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes"),
            json!({ "local_part": "sales", "domain_id": d, "display_name": "Sales" }),
        )
        .await
        .expect(409);
    assert_eq!(field_errors(&clash), ["local_part"]);
    admin
        .post(
            &format!("/v1/tenants/{t}/groups"),
            json!({ "local_part": "sales", "domain_id": d, "display_name": "Sales" }),
        )
        .await
        .expect(409);
    admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes/{alice}/aliases"),
            json!({ "local_part": "alice", "domain_id": d }),
        )
        .await
        .expect(409);
    // An unverified domain carries no alias.
    let pending = fixtures::unverified_domain(&h, t, "pending.example").await;
    let unverified = admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes/{alice}/aliases"),
            json!({ "local_part": "x", "domain_id": pending }),
        )
        .await
        .expect(400);
    assert_eq!(field_errors(&unverified), ["domain_id"]);

    // A group with a mailbox and an external member.
    let group = admin
        .post(
            &format!("/v1/tenants/{t}/groups"),
            json!({ "local_part": "team", "domain_id": d, "display_name": "The team" }),
        )
        .await
        .expect(201);
    let g = group["id"].as_str().unwrap();
    admin
        .post(
            &format!("/v1/tenants/{t}/groups/{g}/members"),
            json!({ "mailbox_id": alice }),
        )
        .await
        .expect(200);
    let with_both = admin
        .post(
            &format!("/v1/tenants/{t}/groups/{g}/members"),
            json!({ "address": "Partner@Elsewhere.example" }),
        )
        .await
        .expect(200);
    assert_eq!(
        with_both["members"],
        json!([
            { "mailbox_id": alice, "address": "alice@acme.example" },
            { "mailbox_id": null, "address": "partner@elsewhere.example" },
        ])
    );
    admin
        .post(
            &format!("/v1/tenants/{t}/groups/{g}/members"),
            json!({ "mailbox_id": alice }),
        )
        .await
        .expect(409);
    let both = admin
        .post(
            &format!("/v1/tenants/{t}/groups/{g}/members"),
            json!({ "mailbox_id": alice, "address": "a@b.example" }),
        )
        .await
        .expect(400);
    assert_eq!(field_errors(&both), ["mailbox_id"]);
    // Another tenant's mailbox is no member.
    let other = fixtures::tenant(&h, "Other").await;
    let od = fixtures::default_domain(&h, other).await;
    let stranger = fixtures::mailbox(&h, other, &od, "bob").await;
    admin
        .post(
            &format!("/v1/tenants/{t}/groups/{g}/members"),
            json!({ "mailbox_id": stranger }),
        )
        .await
        .expect(400);
    let removed = admin
        .delete(&format!(
            "/v1/tenants/{t}/groups/{g}/members?address=Partner@elsewhere.example"
        ))
        .await
        .expect(200);
    assert_eq!(removed["members"].as_array().unwrap().len(), 1);
    let groups = admin
        .get(&format!("/v1/tenants/{t}/groups"))
        .await
        .expect(200);
    assert_eq!(groups["items"][0]["address"], "team@acme.example");

    // The domain cannot go while an alias or a group uses it; a deleted mailbox keeps its
    // aliases and memberships for its undelete window, and takes them with it when the
    // window closes.
    let a = alias["id"].as_str().unwrap();
    admin
        .delete(&format!("/v1/tenants/{t}/mailboxes/{alice}"))
        .await
        .expect(204);
    let kept = admin
        .get(&format!("/v1/tenants/{t}/aliases"))
        .await
        .expect(200);
    assert_eq!(kept["items"].as_array().unwrap().len(), 1, "{kept}");
    h.clock.advance(time::Duration::days(31));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    assert!(
        admin
            .get(&format!("/v1/tenants/{t}/aliases"))
            .await
            .expect(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let groups = admin
        .get(&format!("/v1/tenants/{t}/groups"))
        .await
        .expect(200);
    assert!(groups["items"][0]["members"].as_array().unwrap().is_empty());
    let busy = admin
        .delete(&format!("/v1/tenants/{t}/domains/{d}"))
        .await
        .expect(409);
    assert!(
        busy["detail"].as_str().unwrap().contains("1 group"),
        "{busy}"
    );
    admin
        .delete(&format!("/v1/tenants/{t}/groups/{g}"))
        .await
        .expect(204);
    admin
        .delete(&format!("/v1/tenants/{t}/aliases/{a}"))
        .await
        .expect(404);
    admin
        .delete(&format!("/v1/tenants/{t}/domains/{d}"))
        .await
        .expect(204);
    // The freed address can be used again.
    let d2 = fixtures::domain(&h, t, "acme.example").await;
    fixtures::mailbox(&h, t, &d2, "sales").await;
}
e2e!(aliases_and_groups_share_one_namespace);

async fn the_database_refuses_a_second_owner_of_an_address(h: Harness) {
    let (t, d, alice) = setup(&h).await;
    // A statement that bypasses the control plane meets the same rule.
    let _ = (d, alice);
    let copy = "INSERT INTO aliases (id, tenant_id, mailbox_id, domain_id, address, created_at) \
         SELECT id, tenant_id, id, domain_id, 'alice@acme.example', created_at FROM mailboxes \
         WHERE address = 'alice@acme.example'";
    // The statement itself is sound: with a free address it inserts the row.
    let free = copy.replace(
        "'alice@acme.example', created_at",
        "'free@acme.example', created_at",
    );
    h.store.execute_unprepared_for_tests(&free).await.unwrap();
    h.store
        .execute_unprepared_for_tests("DELETE FROM aliases")
        .await
        .unwrap();
    let sql = copy.to_string();
    let result = h.store.execute_unprepared_for_tests(&sql).await;
    assert!(result.is_err(), "a second owner of alice@acme.example");
    let aliases = h
        .customer_admin(t)
        .get(&format!("/v1/tenants/{t}/aliases"))
        .await
        .expect(200);
    assert!(aliases["items"].as_array().unwrap().is_empty());
    // Changing an owner's address in place meets it too, and a free address moves along.
    h.store.execute_unprepared_for_tests(&free).await.unwrap();
    for table in ["aliases", "mailboxes"] {
        let taken = if table == "aliases" {
            "alice@acme.example"
        } else {
            "free@acme.example"
        };
        let result = h
            .store
            .execute_unprepared_for_tests(&format!("UPDATE {table} SET address = '{taken}'"))
            .await;
        assert!(result.is_err(), "{table}: a second owner of {taken}");
    }
    h.store
        .execute_unprepared_for_tests("UPDATE aliases SET address = 'moved@acme.example'")
        .await
        .unwrap();
    assert_eq!(
        h.store
            .query_strings_for_tests("SELECT address FROM addresses WHERE owner_kind = 'alias'")
            .await
            .unwrap(),
        ["moved@acme.example"]
    );
}
e2e!(the_database_refuses_a_second_owner_of_an_address);

async fn forwarding_and_shared_mailboxes(h: Harness) {
    let (t, d, alice) = setup(&h).await;
    let admin = h.customer_admin(t);
    let fwd = admin
        .put(
            &format!("/v1/tenants/{t}/mailboxes/{alice}/forwarding"),
            json!({ "address": "alice@old-host.example" }),
        )
        .await
        .expect(200);
    assert_eq!(fwd["forward_to"], "alice@old-host.example");
    let own = admin
        .put(
            &format!("/v1/tenants/{t}/mailboxes/{alice}/forwarding"),
            json!({ "address": "alice@acme.example" }),
        )
        .await
        .expect(400);
    assert_eq!(field_errors(&own), ["address"]);
    admin
        .put(
            &format!("/v1/tenants/{t}/mailboxes/{alice}/forwarding"),
            json!({ "address": "not an address" }),
        )
        .await
        .expect(400);
    let cleared = admin
        .delete(&format!("/v1/tenants/{t}/mailboxes/{alice}/forwarding"))
        .await
        .expect(200);
    assert_eq!(cleared["forward_to"], Value::Null);
    // A reader sees, but does not change.
    h.customer(t, "tenant-reader")
        .put(
            &format!("/v1/tenants/{t}/mailboxes/{alice}/forwarding"),
            json!({ "address": "x@y.example" }),
        )
        .await
        .expect(403);

    // Shared mailboxes take no seat: five people's mailboxes fill the five seats, and a
    // shared one still fits.
    for i in 0..4 {
        fixtures::mailbox(&h, t, &d, &format!("user{i}")).await;
    }
    let shared = admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes"),
            json!({ "local_part": "support", "domain_id": d, "display_name": "Support", "kind": "shared" }),
        )
        .await
        .expect(201);
    assert_eq!(shared["kind"], "shared");
    let sid = shared["id"].as_str().unwrap();
    let subs = admin
        .get(&format!("/v1/tenants/{t}/subscriptions"))
        .await
        .expect(200);
    assert_eq!(subs["items"][0]["assigned"], 5);
    // A shared mailbox has no password of its own.
    admin
        .put(
            &format!("/v1/tenants/{t}/mailboxes/{sid}/password"),
            json!({ "password": "Correct-Horse-7-Battery" }),
        )
        .await
        .expect(409);
}
e2e!(forwarding_and_shared_mailboxes);

async fn a_tenant_with_a_group_is_not_deleted(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::default_domain(&h, t).await;
    h.customer_admin(t)
        .post(
            &format!("/v1/tenants/{t}/groups"),
            json!({ "local_part": "team", "domain_id": d, "display_name": "Team" }),
        )
        .await
        .expect(201);
    let refused = h
        .provider_admin()
        .delete(&format!("/v1/tenants/{t}"))
        .await
        .expect(409);
    assert!(
        refused["detail"].as_str().unwrap().contains("1 group"),
        "{refused}"
    );
}
e2e!(a_tenant_with_a_group_is_not_deleted);
