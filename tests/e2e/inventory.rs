//! A tenant's inventory through HTTP (`inventory.provide`): offer, region, seats and their
//! assignments, domain states and mailbox totals as JSON, the same as a CSV download that
//! quotes by RFC 4180 and defuses formulas, and who may read it, on SQLite and PostgreSQL.

use serde_json::{Value, json};

use mailplane::types::TenantId;
use mailplane_tests::{Harness, Reply, e2e, field_errors, fixtures};

const GIB: i64 = 1 << 30;

/// Creates a mailbox with extra fields (status, kind, quota) as the tenant's admin.
async fn mailbox_with(h: &Harness, t: TenantId, domain: &str, local: &str, extra: Value) -> String {
    let mut body = json!({ "local_part": local, "domain_id": domain, "display_name": local });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let m = h
        .customer_admin(t)
        .post(&format!("/v1/tenants/{t}/mailboxes"), body)
        .await
        .expect(201);
    m["id"].as_str().unwrap().to_string()
}

/// The CSV body's records, checking that every line ends in CRLF.
fn records(reply: &Reply) -> Vec<String> {
    let text = &reply.text;
    assert!(text.ends_with("\r\n"), "{text:?}");
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "a bare LF in {text:?}"
    );
    text.trim_end_matches("\r\n")
        .split("\r\n")
        .map(str::to_string)
        .collect()
}

async fn the_inventory_shows_offer_seats_domains_and_mailboxes(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let default = fixtures::default_domain(&h, t).await;
    let verified = fixtures::domain(&h, t, "acme.example").await;
    let pending = fixtures::unverified_domain(&h, t, "pending.example").await;
    // Two enabled people, each taking a seat; a disabled one and a shared one take none.
    let alice = fixtures::mailbox(&h, t, &verified, "alice").await;
    let bob = fixtures::mailbox(&h, t, &default, "bob").await;
    mailbox_with(
        &h,
        t,
        &verified,
        "carol",
        json!({ "status": "disabled", "quota_bytes": GIB }),
    )
    .await;
    mailbox_with(
        &h,
        t,
        &verified,
        "team",
        json!({ "kind": "shared", "quota_bytes": 2 * GIB }),
    )
    .await;
    let admin = h.customer_admin(t);
    admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes/{alice}/aliases"),
            json!({ "local_part": "a.smith", "domain_id": verified }),
        )
        .await
        .expect(201);
    admin
        .post(
            &format!("/v1/tenants/{t}/groups"),
            json!({ "local_part": "all", "domain_id": verified, "display_name": "Everyone" }),
        )
        .await
        .expect(201);

    let inv = h
        .provider_admin()
        .get(&format!("/v1/tenants/{t}/inventory"))
        .await
        .expect(200);
    assert_eq!(inv["tenant_id"], t.to_string());
    assert_eq!(inv["name"], "Acme");
    assert_eq!(inv["slug"], "acme");
    assert_eq!(inv["status"], "active");
    assert_eq!(inv["profile"], "hosted-exchange");
    assert_eq!(inv["region"]["id"], "eu");
    assert_eq!(inv["region"]["primary_site"], "Frankfurt");
    assert_eq!(inv["offer"]["id"], "mailbox-50gb");
    assert_eq!(inv["offer"]["mailbox_quota_bytes"], 50 * GIB);
    assert!(inv["generated_at"].is_string());

    // Seats: the SKU's minimum of 5, one per enabled person's mailbox.
    let subs = inv["subscriptions"].as_array().unwrap();
    assert_eq!(subs.len(), 1, "{inv:#}");
    assert_eq!(subs[0]["sku"], "exchange-mailbox");
    assert_eq!(subs[0]["seats"], 5);
    assert_eq!(subs[0]["assigned"], 2);
    assert_eq!(subs[0]["free"], 3);
    assert_eq!(subs[0]["assigned"], inv["mailboxes"]["enabled_users"]);
    let assignments: Vec<(String, String, String)> = inv["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["mailbox_id"].as_str().unwrap().to_string(),
                a["address"].as_str().unwrap().to_string(),
                a["sku"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        assignments,
        [
            (
                alice.clone(),
                "alice@acme.example".to_string(),
                "exchange-mailbox".to_string()
            ),
            (
                bob.clone(),
                "bob@acme.mail.mailplane.example".to_string(),
                "exchange-mailbox".to_string()
            ),
        ]
    );

    // Every domain, with its state.
    let domains = inv["domains"].as_array().unwrap();
    assert_eq!(domains.len(), 3, "{inv:#}");
    let by_id = |id: &str| -> Value {
        domains
            .iter()
            .find(|d| d["id"] == id)
            .unwrap_or_else(|| panic!("domain {id} missing from {inv:#}"))
            .clone()
    };
    let d = by_id(&default);
    assert_eq!(
        (&d["name"], &d["default"], &d["verified"]),
        (
            &json!("acme.mail.mailplane.example"),
            &json!(true),
            &json!(true)
        )
    );
    let d = by_id(&verified);
    assert_eq!(
        (&d["name"], &d["default"], &d["verified"]),
        (&json!("acme.example"), &json!(false), &json!(true))
    );
    assert!(d["verified_at"].is_string());
    let d = by_id(&pending);
    assert_eq!(
        (&d["name"], &d["default"], &d["verified"]),
        (&json!("pending.example"), &json!(false), &json!(false))
    );
    assert_eq!(d["verified_at"], Value::Null);

    // Mailbox totals and quota sums: 50 GiB each for the people, as given for the others.
    assert_eq!(
        inv["mailboxes"],
        json!({
            "total": 4,
            "enabled": 3,
            "disabled": 1,
            "shared": 1,
            "enabled_users": 2,
            "quota_bytes_total": 100 * GIB + 3 * GIB,
            "quota_bytes_enabled": 100 * GIB + 2 * GIB,
            "quota_bytes_disabled": GIB,
            "quota_bytes_shared": 2 * GIB,
        })
    );
    assert_eq!(inv["aliases"], 1);
    assert_eq!(inv["groups"], 1);

    // The customer is informed (I): a reader sees the same inventory.
    let read = h
        .customer(t, "tenant-reader")
        .get(&format!("/v1/tenants/{t}/inventory?format=json"))
        .await
        .expect(200);
    assert_eq!(read["tenant_id"], inv["tenant_id"]);
    assert_eq!(read["mailboxes"], inv["mailboxes"]);
    assert_eq!(read["assignments"], inv["assignments"]);
}
e2e!(the_inventory_shows_offer_seats_domains_and_mailboxes);

async fn only_callers_who_see_the_tenant_read_its_inventory(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let other = fixtures::tenant(&h, "Other").await;
    let p = fixtures::partner(&h, "Reseller").await;
    let stranger = fixtures::partner(&h, "Stranger").await;
    let pt = fixtures::partner_tenant(&h, p, "Resold").await;
    let path = format!("/v1/tenants/{t}/inventory");
    let resold = format!("/v1/tenants/{pt}/inventory");

    // Another customer and a partner outside the contract do not see the tenant at all.
    h.customer_admin(other).get(&path).await.expect(404);
    h.customer(other, "tenant-reader")
        .get(&path)
        .await
        .expect(404);
    h.partner_admin(p).get(&path).await.expect(404);
    h.anonymous().get(&path).await.expect(401);
    // Under the master-hoster profile the reselling partner is informed (I); another
    // partner is not in scope.
    let inv = h.partner_admin(p).get(&resold).await.expect(200);
    assert_eq!(inv["tenant_id"], pt.to_string());
    assert_eq!(inv["profile"], "master-hoster");
    h.partner_admin(stranger).get(&resold).await.expect(404);
    h.customer_admin(t).get(&resold).await.expect(404);
    h.customer(pt, "tenant-reader")
        .get(&resold)
        .await
        .expect(200);
    // A tenant that does not exist is not found, whoever asks.
    h.provider_admin()
        .get(&format!("/v1/tenants/{}/inventory", TenantId::new()))
        .await
        .expect(404);
}
e2e!(only_callers_who_see_the_tenant_read_its_inventory);

async fn the_inventory_downloads_as_csv(h: Harness) {
    let t = fixtures::tenant(&h, "Smith, \"Jones\" & Co").await;
    let verified = fixtures::domain(&h, t, "smith.example").await;
    fixtures::unverified_domain(&h, t, "jones.example").await;
    fixtures::mailbox(&h, t, &verified, "ann").await;

    let reply = h
        .customer(t, "tenant-reader")
        .get(&format!("/v1/tenants/{t}/inventory?format=csv"))
        .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    assert_eq!(reply.content_type, "text/csv; charset=utf-8");
    assert_eq!(
        reply.headers["content-disposition"],
        "attachment; filename=\"inventory-smith-jones-co.csv\""
    );
    let lines = records(&reply);
    assert_eq!(lines[0], "section,name,state,count,bytes,detail");
    // The name holds a comma and quotes: one quoted field with the quotes doubled.
    assert!(
        lines[1].starts_with("tenant,\"Smith, \"\"Jones\"\" & Co\",active,,,id="),
        "{}",
        lines[1]
    );
    assert!(
        lines.iter().any(|l| l.starts_with("region,eu,")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("offer,mailbox-50gb,,,53687091200,")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "subscription,exchange-mailbox,,5,,assigned=1;free=4;minimum=5"),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("assignment,ann@smith.example,exchange-mailbox,,,")),
        "{lines:#?}"
    );
    // One row per domain, with its state.
    let domains: Vec<&String> = lines.iter().filter(|l| l.starts_with("domain,")).collect();
    assert_eq!(domains.len(), 3, "{lines:#?}");
    assert!(
        domains.iter().any(|l| l.starts_with(
            "domain,smith-jones-co.mail.mailplane.example,verified,,,default;verified_at="
        )),
        "{domains:#?}"
    );
    assert!(
        domains
            .iter()
            .any(|l| l.starts_with("domain,smith.example,verified,,,custom;verified_at=")),
        "{domains:#?}"
    );
    assert!(
        domains
            .iter()
            .any(|l| *l == "domain,jones.example,unverified,,,custom"),
        "{domains:#?}"
    );
    let quota = 50 * GIB;
    for row in [
        format!("mailboxes,all,,1,{quota},"),
        format!("mailboxes,enabled,,1,{quota},"),
        "mailboxes,disabled,,0,0,".to_string(),
        "mailboxes,shared,,0,0,".to_string(),
        "aliases,all,,0,,".to_string(),
        "groups,all,,0,,".to_string(),
    ] {
        assert!(lines.contains(&row), "{row} missing from {lines:#?}");
    }

    // A name a spreadsheet would run as a formula is defused with a leading `'`.
    let f = fixtures::tenant(&h, "=HYPERLINK(\"http://evil.example\",\"x\")").await;
    let reply = h
        .provider_admin()
        .get(&format!("/v1/tenants/{f}/inventory?format=csv"))
        .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    let lines = records(&reply);
    assert!(
        lines[1].starts_with(
            "tenant,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",active,,,id="
        ),
        "{}",
        lines[1]
    );
    // The JSON form keeps the name as given.
    let inv = h
        .provider_admin()
        .get(&format!("/v1/tenants/{f}/inventory"))
        .await
        .expect(200);
    assert_eq!(inv["name"], "=HYPERLINK(\"http://evil.example\",\"x\")");

    // Any other format is refused, naming the parameter.
    let bad = h
        .provider_admin()
        .get(&format!("/v1/tenants/{t}/inventory?format=xml"))
        .await
        .expect(400);
    assert_eq!(field_errors(&bad), ["format"]);
    // A caller who does not see the tenant learns nothing from the CSV form either.
    let other = fixtures::tenant(&h, "Other").await;
    h.customer_admin(other)
        .get(&format!("/v1/tenants/{t}/inventory?format=csv"))
        .await
        .expect(404);
}
e2e!(the_inventory_downloads_as_csv);
