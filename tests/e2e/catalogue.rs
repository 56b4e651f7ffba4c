//! The provider's catalogue through HTTP: regions, upgrade-only offers, mailbox quotas from
//! the offer, licence subscriptions with seats, and licence assignments that can never
//! oversell, on SQLite and PostgreSQL.

use serde_json::{Value, json};

use mailplane::types::TenantId;
use mailplane_tests::{Harness, e2e, field_errors, fixtures};

const GIB: i64 = 1 << 30;

async fn tenant_with(h: &Harness, body: Value) -> Value {
    h.provider_admin()
        .post("/v1/tenants", body)
        .await
        .expect(201)
}

fn id(v: &Value) -> TenantId {
    v["id"].as_str().unwrap().parse().unwrap()
}

async fn a_tenant_is_placed_in_a_region_and_gets_its_default_domain(h: Harness) {
    let catalogue = h
        .customer_admin(TenantId::new())
        .get("/v1/catalogue")
        .await
        .expect(200);
    assert_eq!(catalogue["default_region"], "eu");
    assert_eq!(catalogue["offers"][0]["id"], "mailbox-50gb");

    // Without a preference: the default region, the entry offer, a slug from the name.
    let acme = tenant_with(&h, json!({ "name": "Acme Corp." })).await;
    assert_eq!(acme["region"], "eu");
    assert_eq!(acme["region_preference"], Value::Null);
    assert_eq!(acme["offer"], "mailbox-50gb");
    assert_eq!(acme["slug"], "acme-corp");
    let t = id(&acme);
    let domains = h
        .customer_admin(t)
        .get(&format!("/v1/tenants/{t}/domains"))
        .await
        .expect(200);
    let default = &domains["items"][0];
    assert_eq!(default["name"], "acme-corp.mail.mailplane.example");
    assert_eq!(default["default"], true);
    assert_eq!(default["verified"], true);
    // The same name again gets a slug of its own.
    let twin = tenant_with(&h, json!({ "name": "Acme Corp." })).await;
    assert_ne!(twin["slug"], "acme-corp");
    assert!(twin["slug"].as_str().unwrap().starts_with("acme-corp-"));

    // A stated preference places the tenant there and is kept.
    let maple = tenant_with(
        &h,
        json!({ "name": "Maple", "region": "ca", "slug": "maple" }),
    )
    .await;
    assert_eq!(maple["region"], "ca");
    assert_eq!(maple["region_preference"], "ca");

    // Unknown catalogue entries and a bad slug are named, all at once, and nothing is made.
    let bad = h
        .provider_admin()
        .post(
            "/v1/tenants",
            json!({ "name": "Bad", "region": "mars", "slug": "-x" }),
        )
        .await
        .expect(400);
    let mut fields = field_errors(&bad);
    fields.sort();
    assert_eq!(fields, ["region", "slug"]);
    // Delivering the service carries no one else's choice: the offer is the customer's,
    // seats beyond the minimum the licence provider's (the provider here, so allowed).
    let offer = h
        .provider_admin()
        .post(
            "/v1/tenants",
            json!({ "name": "Big", "offer": "mailbox-300gb" }),
        )
        .await
        .expect(403);
    assert_eq!(
        offer["refusal"]["activity"], "service.sizing.choose",
        "{offer}"
    );
    assert!(bad.to_string().contains("must be one of: eu, ca"));
    let taken = h
        .provider_admin()
        .post("/v1/tenants", json!({ "name": "Maple 2", "slug": "maple" }))
        .await
        .expect(409);
    assert_eq!(field_errors(&taken), ["slug"]);

    // A partner delivering a master-hoster tenant states the customer's preference; the
    // provider, who places tenants, has not placed it there yet.
    let p = fixtures::partner(&h, "Reseller").await;
    let resold = h
        .partner_admin(p)
        .post(
            "/v1/tenants",
            json!({ "name": "Resold", "profile": "master-hoster", "region": "ca" }),
        )
        .await
        .expect(201);
    assert_eq!(resold["region"], "eu");
    assert_eq!(resold["region_preference"], "ca");
    h.partner_admin(p)
        .post(
            "/v1/tenants",
            json!({ "name": "Resold 2", "profile": "master-hoster", "seats": 50 }),
        )
        .await
        .expect(403);

    // The region never changes silently: not through an update, only by relocation, which
    // is the provider's (RA) and news to the customer (I).
    let m = id(&maple);
    let update = h
        .provider_admin()
        .patch(&format!("/v1/tenants/{m}"), json!({ "region": "eu" }))
        .await
        .expect(400);
    assert!(update.to_string().contains("region"), "{}", update);
    h.customer_admin(m)
        .post(
            &format!("/v1/tenants/{m}/region"),
            json!({ "region": "eu" }),
        )
        .await
        .expect(403);
    let moved = h
        .provider_admin()
        .post(
            &format!("/v1/tenants/{m}/region"),
            json!({ "region": "eu" }),
        )
        .await
        .expect(200);
    assert_eq!(moved["region"], "eu");
    h.provider_admin()
        .post(
            &format!("/v1/tenants/{m}/region"),
            json!({ "region": "eu" }),
        )
        .await
        .expect(400);
    let feed = h
        .customer(m, "tenant-reader")
        .get("/v1/events")
        .await
        .expect(200);
    assert!(
        feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["activity"] == "service.location.choose" && e["outcome"] == "relocated"),
        "{feed}"
    );
}
e2e!(a_tenant_is_placed_in_a_region_and_gets_its_default_domain);

async fn offers_are_upgraded_never_downgraded(h: Harness) {
    let t = id(&tenant_with(&h, json!({ "name": "Acme" })).await);
    let d = fixtures::default_domain(&h, t).await;
    let admin = h.customer_admin(t);
    // Quotas default from the offer and may not exceed it.
    let m = admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes"),
            json!({ "local_part": "alice", "domain_id": d, "display_name": "Alice" }),
        )
        .await
        .expect(201);
    assert_eq!(m["quota_bytes"], 50 * GIB);
    let too_big = admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes"),
            json!({ "local_part": "bob", "domain_id": d, "display_name": "Bob", "quota_bytes": 51 * GIB }),
        )
        .await
        .expect(400);
    assert_eq!(field_errors(&too_big), ["quota_bytes"]);
    assert!(too_big.to_string().contains("mailbox-50gb"));

    // The provider is only informed of the sizing: it may not choose for the customer.
    h.provider_admin()
        .post(
            &format!("/v1/tenants/{t}/offer"),
            json!({ "offer": "mailbox-300gb" }),
        )
        .await
        .expect(403);
    let up = admin
        .post(
            &format!("/v1/tenants/{t}/offer"),
            json!({ "offer": "mailbox-300gb" }),
        )
        .await
        .expect(200);
    assert_eq!(up["offer"], "mailbox-300gb");
    let mid = m["id"].as_str().unwrap();
    admin
        .patch(
            &format!("/v1/tenants/{t}/mailboxes/{mid}"),
            json!({ "quota_bytes": 300 * GIB }),
        )
        .await
        .expect(200);
    let down = admin
        .post(
            &format!("/v1/tenants/{t}/offer"),
            json!({ "offer": "mailbox-50gb" }),
        )
        .await
        .expect(400);
    assert_eq!(field_errors(&down), ["offer"]);
    assert!(down.to_string().contains("never downgraded"), "{}", down);
    let tenant = admin.get(&format!("/v1/tenants/{t}")).await.expect(200);
    assert_eq!(
        tenant["offer"], "mailbox-300gb",
        "the refusal changed nothing"
    );
    // The provider is informed of the upgrade.
    let feed = h
        .provider("provider-auditor")
        .get("/v1/events")
        .await
        .expect(200);
    assert!(
        feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["activity"] == "service.sizing.choose" && e["outcome"] == "offer_changed")
    );
}
e2e!(offers_are_upgraded_never_downgraded);

async fn seats_bound_the_enabled_mailboxes(h: Harness) {
    let t = id(&tenant_with(&h, json!({ "name": "Acme" })).await);
    let d = fixtures::default_domain(&h, t).await;
    let admin = h.customer_admin(t);
    let subs = admin
        .get(&format!("/v1/tenants/{t}/subscriptions"))
        .await
        .expect(200);
    let sub = &subs["items"][0];
    assert_eq!(sub["sku"], "exchange-mailbox");
    assert_eq!(sub["seats"], 5);
    assert_eq!(sub["minimum_seats"], 5);
    let s = sub["id"].as_str().unwrap().to_string();
    // Every enabled mailbox takes a seat; the sixth finds none.
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(fixtures::mailbox(&h, t, &d, &format!("user{i}")).await);
    }
    let sixth = admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes"),
            json!({ "local_part": "user5", "domain_id": d, "display_name": "Six" }),
        )
        .await
        .expect(409);
    assert!(sixth["detail"].as_str().unwrap().contains("no free seat"));
    // A disabled mailbox needs no licence until it is enabled.
    let spare = admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes"),
            json!({ "local_part": "user5", "domain_id": d, "display_name": "Six", "status": "disabled" }),
        )
        .await
        .expect(201);
    let spare = spare["id"].as_str().unwrap().to_string();
    admin
        .patch(
            &format!("/v1/tenants/{t}/mailboxes/{spare}"),
            json!({ "status": "enabled" }),
        )
        .await
        .expect(409);

    // The customer adds seats, one or many at a time (`service.customize`).
    let sub = admin
        .patch(
            &format!("/v1/tenants/{t}/subscriptions/{s}"),
            json!({ "add": 3 }),
        )
        .await
        .expect(200);
    assert_eq!(
        (sub["seats"].as_i64(), sub["assigned"].as_i64()),
        (Some(8), Some(5))
    );
    let enabled = admin
        .patch(
            &format!("/v1/tenants/{t}/mailboxes/{spare}"),
            json!({ "status": "enabled" }),
        )
        .await
        .expect(200);
    assert_eq!(enabled["status"], "enabled");
    let held = admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{spare}/licences"))
        .await
        .expect(200);
    assert_eq!(held["skus"], json!(["exchange-mailbox"]));

    // Lowering the seats below what is assigned says how many licences to unassign.
    let lower = admin
        .patch(
            &format!("/v1/tenants/{t}/subscriptions/{s}"),
            json!({ "seats": 5 }),
        )
        .await
        .expect(409);
    assert_eq!(field_errors(&lower), ["seats"]);
    assert!(
        lower["detail"]
            .as_str()
            .unwrap()
            .contains("unassign 1 licence"),
        "{}",
        lower
    );
    // Below the minimum is refused whatever is assigned.
    let below = admin
        .patch(
            &format!("/v1/tenants/{t}/subscriptions/{s}"),
            json!({ "remove": 4 }),
        )
        .await
        .expect(400);
    assert_eq!(field_errors(&below), ["seats"]);
    admin
        .patch(
            &format!("/v1/tenants/{t}/subscriptions/{s}"),
            json!({ "add": 1, "remove": 1 }),
        )
        .await
        .expect(400);

    // An enabled mailbox keeps its licence; once disabled, the seat is freed.
    let first = &ids[0];
    admin
        .delete(&format!(
            "/v1/tenants/{t}/mailboxes/{first}/licences/exchange-mailbox"
        ))
        .await
        .expect(409);
    admin
        .patch(
            &format!("/v1/tenants/{t}/mailboxes/{first}"),
            json!({ "status": "disabled" }),
        )
        .await
        .expect(200);
    let freed = admin
        .delete(&format!(
            "/v1/tenants/{t}/mailboxes/{first}/licences/exchange-mailbox"
        ))
        .await
        .expect(200);
    assert_eq!(freed["assigned"], 5);
    // Deleting a mailbox frees its seat.
    let second = &ids[1];
    admin
        .delete(&format!("/v1/tenants/{t}/mailboxes/{second}"))
        .await
        .expect(204);
    // Seats are removed a number at a time as well as set: 8 - 2.
    let now = admin
        .patch(
            &format!("/v1/tenants/{t}/subscriptions/{s}"),
            json!({ "remove": 2 }),
        )
        .await
        .expect(200);
    assert_eq!(
        (now["seats"].as_i64(), now["assigned"].as_i64()),
        (Some(6), Some(4))
    );

    // Licences are the provider's to provide: the customer cannot take a subscription.
    h.customer_admin(t)
        .post(
            &format!("/v1/tenants/{t}/subscriptions"),
            json!({ "sku": "exchange-mailbox" }),
        )
        .await
        .expect(403);
    let again = h
        .provider_admin()
        .post(
            &format!("/v1/tenants/{t}/subscriptions"),
            json!({ "sku": "exchange-mailbox" }),
        )
        .await
        .expect(409);
    assert_eq!(field_errors(&again), ["sku"]);
}
e2e!(seats_bound_the_enabled_mailboxes);

async fn concurrent_assignments_never_oversell(h: Harness) {
    let t = id(&tenant_with(&h, json!({ "name": "Acme", "seats": 10 })).await);
    let d = fixtures::default_domain(&h, t).await;
    let admin = h.customer_admin(t);
    let mut mailboxes = Vec::new();
    for i in 0..64 {
        let m = admin
            .post(
                &format!("/v1/tenants/{t}/mailboxes"),
                json!({ "local_part": format!("u{i}"), "domain_id": d, "display_name": "U", "status": "disabled" }),
            )
            .await
            .expect(201);
        mailboxes.push(m["id"].as_str().unwrap().to_string());
    }
    let mut tasks = Vec::new();
    for m in mailboxes {
        let client = h.customer_admin(t);
        tasks.push(tokio::spawn(async move {
            client
                .post(
                    &format!("/v1/tenants/{t}/mailboxes/{m}/licences"),
                    json!({ "sku": "exchange-mailbox" }),
                )
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let won = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((won, refused), (10, 54), "{statuses:?}");
    let subs = admin
        .get(&format!("/v1/tenants/{t}/subscriptions"))
        .await
        .expect(200);
    assert_eq!(subs["items"][0]["assigned"], 10);
    assert_eq!(subs["items"][0]["free"], 0);
    let report = h.control_plane.audit_verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
}
e2e!(concurrent_assignments_never_oversell);

async fn the_database_itself_refuses_overselling(h: Harness) {
    let t = id(&tenant_with(&h, json!({ "name": "Acme" })).await);
    let d = fixtures::default_domain(&h, t).await;
    fixtures::mailbox(&h, t, &d, "alice").await;
    // Code is not the only guard: a hand-written statement meets the same checks.
    for sql in [
        "UPDATE subscriptions SET seats = 4",
        "UPDATE subscriptions SET assigned = 6",
        "UPDATE subscriptions SET assigned = -1",
    ] {
        assert!(
            h.store.execute_unprepared_for_tests(sql).await.is_err(),
            "{sql} must be refused"
        );
    }
    let subs = h
        .customer_admin(t)
        .get(&format!("/v1/tenants/{t}/subscriptions"))
        .await
        .expect(200);
    assert_eq!(subs["items"][0]["seats"], 5);
    assert_eq!(
        subs["items"][0]["assigned"], 1,
        "the trigger counted the seat"
    );
}
e2e!(the_database_itself_refuses_overselling);

async fn custom_domains_are_verified_against_dns(h: Harness) {
    let t = id(&tenant_with(&h, json!({ "name": "Acme" })).await);
    let admin = h.customer_admin(t);
    let d = fixtures::unverified_domain(&h, t, "acme.example").await;
    let records = admin
        .get(&format!("/v1/tenants/{t}/domains/{d}/records"))
        .await
        .expect(200);
    let token = records["domain"]["verification_token"].as_str().unwrap();
    assert_eq!(
        records["records"],
        json!([
            { "purpose": "verification", "kind": "TXT", "name": "_mailplane.acme.example",
              "value": format!("mailplane-verification={token}"), "priority": null },
            { "purpose": "mx", "kind": "MX", "name": "acme.example",
              "value": "mx.mailplane.example", "priority": 10 },
            { "purpose": "spf", "kind": "TXT", "name": "acme.example",
              "value": "v=spf1 include:spf.mailplane.example ~all", "priority": null },
            { "purpose": "autodiscover", "kind": "CNAME", "name": "autodiscover.acme.example",
              "value": "autodiscover.mailplane.example", "priority": null },
        ])
    );
    let verify = format!("/v1/tenants/{t}/domains/{d}/verify");
    let status = |r: &Value, purpose: &str| -> String {
        r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["record"]["purpose"] == purpose)
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Nothing published: every record is missing and the domain stays unverified.
    let first = admin.post(&verify, json!({})).await.expect(200);
    assert_eq!(first["verified"], false);
    for p in ["verification", "mx", "spf", "autodiscover"] {
        assert_eq!(status(&first, p), "missing", "{p}");
    }
    // Wrong values are reported as wrong, with what DNS holds.
    h.dns.set_txt(
        "_mailplane.acme.example",
        &["mailplane-verification=not-it"],
    );
    h.dns
        .set_mx("acme.example", &[(10, "mx.elsewhere.example")]);
    let wrong = admin.post(&verify, json!({})).await.expect(200);
    assert_eq!(wrong["verified"], false);
    assert_eq!(status(&wrong, "verification"), "wrong");
    assert_eq!(status(&wrong, "mx"), "wrong");
    // A mailbox cannot use the domain yet.
    h.customer_admin(t)
        .post(
            &format!("/v1/tenants/{t}/mailboxes"),
            json!({ "local_part": "alice", "domain_id": d, "display_name": "Alice" }),
        )
        .await
        .expect(400);
    // The right TXT record verifies the domain; mail is ready once every record is right.
    h.dns.set_txt(
        "_mailplane.acme.example",
        &[&format!("mailplane-verification={token}")],
    );
    let verified = admin.post(&verify, json!({})).await.expect(200);
    assert_eq!(verified["verified"], true);
    assert_eq!(verified["mail_ready"], false);
    assert_eq!(verified["domain"]["verified"], true);
    h.dns
        .set_mx("acme.example", &[(10, "mx.mailplane.example")]);
    h.dns.set_txt(
        "acme.example",
        &["v=spf1 include:spf.mailplane.example ~all"],
    );
    h.dns.set_cname(
        "autodiscover.acme.example",
        "autodiscover.mailplane.example",
    );
    let ready = admin.post(&verify, json!({})).await.expect(200);
    assert_eq!(ready["mail_ready"], true);
    fixtures::mailbox(&h, t, &d, "alice").await;
    // The verification is audited once, as the customer's directory work.
    let audit = admin.get("/v1/audit").await.expect(200);
    let verifications: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "verified")
        .collect();
    assert_eq!(verifications.len(), 1);
    assert_eq!(verifications[0]["activity"], "directory.administer");
    // A reader may see the records but not run the check, nor may the provider, which only
    // proposes directory work here; the default domain needs none.
    h.customer(t, "tenant-reader")
        .post(&verify, json!({}))
        .await
        .expect(403);
    h.provider_admin()
        .post(&verify, json!({}))
        .await
        .expect(403);
    let default = fixtures::default_domain(&h, t).await;
    admin
        .post(
            &format!("/v1/tenants/{t}/domains/{default}/verify"),
            json!({}),
        )
        .await
        .expect(409);
    admin
        .delete(&format!("/v1/tenants/{t}/domains/{default}"))
        .await
        .expect(409);
}
e2e!(custom_domains_are_verified_against_dns);

async fn a_catalogue_that_drops_an_entry_in_use_does_not_open(h: Harness) {
    tenant_with(&h, json!({ "name": "Acme", "region": "ca" })).await;
    let mut catalogue = mailplane::catalogue::builtin();
    catalogue.regions.retain(|r| r.id != "ca");
    let config = mailplane::ControlPlaneConfig {
        catalogue: catalogue.clone(),
        ..Default::default()
    };
    let refused =
        mailplane::ControlPlane::open(&h.location, mailplane::PolicySet::builtin(), config)
            .await
            .err()
            .expect("a catalogue without the region in use is refused");
    assert!(refused.to_string().contains("region `ca`"), "{refused}");
    // Closing the entry instead keeps the tenants' terms and opens.
    let mut closed = mailplane::catalogue::builtin();
    for r in closed.regions.iter_mut().filter(|r| r.id == "ca") {
        r.open = false;
    }
    let config = mailplane::ControlPlaneConfig {
        catalogue: closed,
        ..Default::default()
    };
    mailplane::ControlPlane::open(&h.location, mailplane::PolicySet::builtin(), config)
        .await
        .expect("a closed region is still known");
}
e2e!(a_catalogue_that_drops_an_entry_in_use_does_not_open);
