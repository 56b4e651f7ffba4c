//! Webhooks against a real HTTP receiver on loopback: signed deliveries of exactly the
//! events an organisation's feed holds, retries with backoff after failures, a delivery
//! log, and a server that dies mid-delivery and delivers after it restarts.

use std::sync::Arc;

use serde_json::{Value, json};

use mailplane::clock::ManualClock;
use mailplane::types::TenantId;
use mailplane::webhooks::verify_signature;
use mailplane::{ControlPlane, ControlPlaneConfig, PolicySet};
use mailplane_tests::receiver::{Behaviour, Receiver};
use mailplane_tests::{Harness, e2e, fixtures};

async fn register(h: &Harness, t: TenantId, url: &str) -> (String, String) {
    let created = h
        .customer_admin(t)
        .post("/v1/webhooks", json!({ "url": url }))
        .await
        .expect(201);
    assert_eq!(created["org"], format!("tenant:{t}"));
    let secret = created["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 64);
    (created["id"].as_str().unwrap().to_string(), secret)
}

/// A change the customer is owed news of: the provider renames the tenant
/// (`service.deliver`: customer I).
async fn provider_renames(h: &Harness, t: TenantId, name: &str) {
    h.provider_admin()
        .patch(&format!("/v1/tenants/{t}"), json!({ "name": name }))
        .await
        .expect(200);
}

async fn deliveries(h: &Harness, t: TenantId, webhook: &str) -> Vec<Value> {
    h.customer_admin(t)
        .get(&format!("/v1/webhooks/{webhook}/deliveries"))
        .await
        .expect(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn deliveries_are_signed_retried_and_logged(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let receiver = Receiver::start(Behaviour {
        fail_first: 2,
        hang_first: false,
    })
    .await;
    // Registration: administrators only, with a checked URL; the secret is shown once.
    assert_eq!(
        h.customer(t, "tenant-reader")
            .post("/v1/webhooks", json!({ "url": receiver.url }))
            .await
            .status,
        403
    );
    let r = h
        .customer_admin(t)
        .post(
            "/v1/webhooks",
            json!({ "url": "ftp://user:pw@x", "secret": "short" }),
        )
        .await;
    assert_eq!(r.status, 400);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["url", "secret"]);
    let (webhook, secret) = register(&h, t, &receiver.url).await;
    let view = h
        .customer_admin(t)
        .get(&format!("/v1/webhooks/{webhook}"))
        .await
        .expect(200);
    assert!(view.get("secret").is_none());

    provider_renames(&h, t, "Acme Renamed").await;
    // Another tenant's change is not this customer's news.
    let other = fixtures::tenant(&h, "Other").await;
    provider_renames(&h, other, "Other Renamed").await;

    // First attempt: the receiver fails. The delivery waits for its backoff.
    let report = h.control_plane.webhooks_pump().await.unwrap();
    assert_eq!((report.delivered, report.failed_attempts), (0, 1));
    let report = h.control_plane.webhooks_pump().await.unwrap();
    assert_eq!(
        (report.delivered, report.failed_attempts),
        (0, 0),
        "not due yet"
    );
    h.clock.advance(time::Duration::seconds(10));
    let report = h.control_plane.webhooks_pump().await.unwrap();
    assert_eq!((report.delivered, report.failed_attempts), (0, 1));
    // The second wait is twice the first.
    h.clock.advance(time::Duration::seconds(10));
    assert_eq!(h.control_plane.webhooks_pump().await.unwrap().delivered, 0);
    h.clock.advance(time::Duration::seconds(10));
    assert_eq!(h.control_plane.webhooks_pump().await.unwrap().delivered, 1);
    assert_eq!(
        h.control_plane.webhooks_pump().await.unwrap(),
        Default::default()
    );

    // Three posts of one event, each signed over its body; the body is the feed's event.
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    let feed = h.customer_admin(t).get("/v1/events").await.expect(200);
    let event = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["target_kind"] == "tenant" && e["outcome"] == "updated")
        .unwrap()
        .clone();
    for r in &got {
        let header = r.headers["mailplane-signature"].to_str().unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        verify_signature(&secret, header, &r.body, now, 300).unwrap();
        assert!(
            verify_signature(
                "another-secret-entirely-32-chars!",
                header,
                &r.body,
                now,
                300
            )
            .is_err()
        );
        assert_eq!(r.headers["mailplane-event"].to_str().unwrap(), event["id"]);
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body, event);
    }

    // The log keeps every attempt.
    let log = deliveries(&h, t, &webhook).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["state"], "delivered");
    assert_eq!(log[0]["attempts"], 3);
    let statuses: Vec<Value> = log[0]["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert_eq!(statuses, [json!(500), json!(500), json!(204)]);
    assert!(log[0]["log"][0]["error"].as_str().unwrap().contains("500"));

    // Another organisation does not see the webhook; the owner removes it.
    assert_eq!(
        h.customer_admin(other)
            .get(&format!("/v1/webhooks/{webhook}"))
            .await
            .status,
        404
    );
    h.customer_admin(t)
        .delete(&format!("/v1/webhooks/{webhook}"))
        .await
        .expect(204);
}
e2e!(deliveries_are_signed_retried_and_logged);

async fn an_unreachable_receiver_is_given_up_after_the_last_attempt(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    // A port nobody listens on: bind, note it, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cp = h
        .control_plane
        .clone()
        .with_webhook_settings(mailplane::WebhookSettings {
            max_attempts: 3,
            allow_private_addresses: true,
            ..Default::default()
        })
        .unwrap();
    let (webhook, _) = register(&h, t, &format!("http://127.0.0.1:{port}/hook")).await;
    provider_renames(&h, t, "Acme 2").await;
    for _ in 0..3 {
        assert_eq!(cp.webhooks_pump().await.unwrap().failed_attempts, 1);
        h.clock.advance(time::Duration::hours(1));
    }
    assert_eq!(cp.webhooks_pump().await.unwrap(), Default::default());
    let log = deliveries(&h, t, &webhook).await;
    assert_eq!(log[0]["state"], "failed");
    assert_eq!(log[0]["log"].as_array().unwrap().len(), 3);
    assert!(
        log[0]["log"][2]["error"]
            .as_str()
            .unwrap()
            .contains("could not be reached")
    );
}
e2e!(an_unreachable_receiver_is_given_up_after_the_last_attempt);

async fn a_server_restarted_mid_delivery_delivers_after_the_lease(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let receiver = Receiver::start(Behaviour {
        fail_first: 0,
        hang_first: true,
    })
    .await;
    let (webhook, _) = register(&h, t, &receiver.url).await;
    provider_renames(&h, t, "Acme 2").await;

    // The first server leases the delivery and dies while the receiver holds the request.
    let first = h.control_plane.clone();
    let pump = tokio::spawn(async move { first.webhooks_pump().await });
    for _ in 0..200 {
        if !receiver.received().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(receiver.received().len(), 1);
    pump.abort();
    let _ = pump.await;
    let log = deliveries(&h, t, &webhook).await;
    assert_eq!(log[0]["state"], "pending");
    assert_eq!(log[0]["attempts"], 0, "the dead server recorded nothing");

    // A restarted server on the same database: the lease holds it off, then runs out.
    let clock = Arc::new(ManualClock::starting_now());
    let restarted = ControlPlane::open(
        &h.location,
        PolicySet::builtin(),
        ControlPlaneConfig::default(),
    )
    .await
    .unwrap()
    .with_clock(clock.clone())
    .with_webhook_settings(mailplane::WebhookSettings {
        allow_private_addresses: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(restarted.webhooks_pump().await.unwrap(), Default::default());
    clock.advance(time::Duration::seconds(61));
    assert_eq!(restarted.webhooks_pump().await.unwrap().delivered, 1);

    // At least once: the receiver saw the same event twice and deduplicates on its id.
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].headers["mailplane-event"],
        got[1].headers["mailplane-event"]
    );
    let log = deliveries(&h, t, &webhook).await;
    assert_eq!(log[0]["state"], "delivered");
    assert_eq!(log[0]["attempts"], 1);
}
e2e!(a_server_restarted_mid_delivery_delivers_after_the_lease);

async fn a_partner_webhook_receives_its_customers_news_only(h: Harness) {
    let p = fixtures::partner(&h, "Reseller").await;
    let mine = fixtures::partner_tenant(&h, p, "Mine").await;
    let receiver = Receiver::start(Behaviour::default()).await;
    let created = h
        .partner_admin(p)
        .post("/v1/webhooks", json!({ "url": receiver.url }))
        .await
        .expect(201);
    let webhook = created["id"].as_str().unwrap();
    // Access to the control plane is news to the partner under master-hoster (partner I);
    // a hosted-exchange tenant's is not, since the partner is no party there.
    let direct = fixtures::tenant(&h, "Direct").await;
    for t in [mine, direct] {
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let pem = ed25519_dalek::pkcs8::EncodePublicKey::to_public_key_pem(
            &key.verifying_key(),
            ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF,
        )
        .unwrap();
        h.customer_admin(t)
            .post(
                &format!("/v1/tenants/{t}/credentials"),
                json!({ "name": "bot", "public_key": pem, "roles": ["tenant-reader"] }),
            )
            .await
            .expect(201);
    }
    h.control_plane.webhooks_pump().await.unwrap();
    let feed = h.partner_admin(p).get("/v1/events").await.expect(200);
    let expected = feed["items"].as_array().unwrap().clone();
    let got: Vec<Value> = receiver
        .received()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert!(!got.is_empty());
    for e in &got {
        assert_eq!(e["tenant_id"], mine.to_string());
        assert!(expected.contains(e), "{e:#} is not in the partner's feed");
    }
    let log = h
        .partner_admin(p)
        .get(&format!("/v1/webhooks/{webhook}/deliveries"))
        .await
        .expect(200);
    assert_eq!(log["items"].as_array().unwrap().len(), got.len());
}
e2e!(a_partner_webhook_receives_its_customers_news_only);

/// A control plane with the default settings (no private receivers) over the harness's
/// database, a tenant, and that tenant's administrator.
async fn default_deployment(h: &Harness) -> (ControlPlane, TenantId, mailplane::Actor) {
    let cp = ControlPlane::open(
        &h.location,
        PolicySet::builtin(),
        ControlPlaneConfig::default(),
    )
    .await
    .unwrap()
    .with_clock(h.clock.clone());
    let t = fixtures::tenant(h, "Acme").await;
    let admin = mailplane::Actor::customer("alice", t, &["tenant-admin"]);
    (cp, t, admin)
}

async fn by_default_receivers_must_be_public_addresses(h: Harness) {
    // A deployment with the default settings: no loopback, private or link-local receiver,
    // whether written as an address or reached through a name.
    let (cp, t, admin) = default_deployment(&h).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ] {
        let input = mailplane::input::WebhookCreate {
            url: url.into(),
            secret: None,
        };
        match cp.webhook_create(&admin, input).await {
            Err(mailplane::types::Error::Invalid(problems)) => {
                assert_eq!(problems[0].field, "url", "{url}");
            }
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
    }
    // A name is resolved at delivery time, and a name that resolves inside is refused then.
    let receiver = Receiver::start(Behaviour::default()).await;
    let named = receiver.url.replace("127.0.0.1", "localhost");
    let hook = cp
        .webhook_create(
            &admin,
            mailplane::input::WebhookCreate {
                url: named,
                secret: None,
            },
        )
        .await
        .unwrap();
    provider_renames(&h, t, "Acme 2").await;
    assert_eq!(cp.webhooks_pump().await.unwrap().failed_attempts, 1);
    assert!(receiver.received().is_empty());
    let log = deliveries(&h, t, &hook.webhook.id.to_string()).await;
    assert!(
        log[0]["log"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not a public address"),
        "{log:#?}"
    );
    assert!(
        log[0]["log"][0]["error"]
            .as_str()
            .unwrap()
            .contains("127.0.0.0/8"),
        "{log:#?}"
    );
}
e2e!(by_default_receivers_must_be_public_addresses);

async fn every_special_purpose_range_is_refused_at_registration_and_at_delivery(h: Harness) {
    // The forms an outside attack registered before: benchmarking and reserved IPv4, and the
    // IPv6 forms that carry a private or loopback IPv4 address. Each is refused with its range.
    let (cp, t, admin) = default_deployment(&h).await;
    let create = |url: &str| mailplane::input::WebhookCreate {
        url: url.into(),
        secret: None,
    };
    for (url, range) in [
        ("http://198.18.0.1/hook", "198.18.0.0/15"),
        ("http://198.19.255.255/hook", "198.18.0.0/15"),
        ("http://240.0.0.1/hook", "240.0.0.0/4"),
        ("http://255.255.255.255/hook", "255.255.255.255/32"),
        ("http://224.0.0.1/hook", "224.0.0.0/4"),
        ("http://192.0.0.9/hook", "192.0.0.9/32"),
        ("http://100.64.0.1/hook", "100.64.0.0/10"),
        ("http://0.0.0.0/hook", "0.0.0.0/32"),
        ("http://2130706433/hook", "127.0.0.0/8"),
        ("http://[::ffff:127.0.0.1]/hook", "127.0.0.0/8"),
        ("http://[::ffff:10.0.0.1]/hook", "10.0.0.0/8"),
        ("http://[::127.0.0.1]/hook", "::/96"),
        ("http://[64:ff9b::127.0.0.1]/hook", "127.0.0.0/8"),
        ("http://[64:ff9b::192.168.1.1]/hook", "192.168.0.0/16"),
        ("http://[64:ff9b:1::1]/hook", "64:ff9b:1::/48"),
        ("http://[2002:7f00:1::1]/hook", "127.0.0.0/8"),
        ("http://[2002:a9fe:a9fe::1]/hook", "169.254.0.0/16"),
        ("http://[2001::1]/hook", "2001::/32"),
        ("http://[2001:db8::1]/hook", "2001:db8::/32"),
        ("http://[fd00::1]/hook", "fc00::/7"),
        ("http://[fe80::1]/hook", "fe80::/10"),
        ("http://[ff02::1]/hook", "ff00::/8"),
        ("http://[100::1]/hook", "100::/64"),
        ("http://[4000::1]/hook", "outside 2000::/3"),
    ] {
        match cp.webhook_create(&admin, create(url)).await {
            Err(mailplane::types::Error::Invalid(problems)) => {
                assert_eq!(problems[0].field, "url", "{url}");
                assert!(
                    problems[0].rule.contains(range),
                    "{url}: {}",
                    problems[0].rule
                );
            }
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
    }
    // Public unicast, however written, is accepted (nothing is sent at registration).
    for url in [
        "http://8.8.8.8/hook",
        "http://[::ffff:8.8.8.8]/hook",
        "http://[64:ff9b::8.8.8.8]/hook",
        "http://[2002:808:808::1]/hook",
        "http://[2606:4700:4700::1111]/hook",
    ] {
        let made = cp.webhook_create(&admin, create(url)).await;
        assert!(made.is_ok(), "{url}: {made:?}");
        cp.webhook_delete(&admin, made.unwrap().webhook.id)
            .await
            .unwrap();
    }
    // A receiver stored before the rule (here: registered where private addresses are
    // allowed) is refused at delivery, before any connection, naming its range.
    let hook = h
        .control_plane
        .webhook_create(&admin, create("http://198.18.0.1:9/hook"))
        .await
        .unwrap();
    provider_renames(&h, t, "Acme 2").await;
    assert_eq!(cp.webhooks_pump().await.unwrap().failed_attempts, 1);
    let log = deliveries(&h, t, &hook.webhook.id.to_string()).await;
    let error = log[0]["log"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("not a public address") && error.contains("198.18.0.0/15"),
        "{log:#?}"
    );
}
e2e!(every_special_purpose_range_is_refused_at_registration_and_at_delivery);

async fn registering_and_removing_a_webhook_is_audited_without_its_secret(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let receiver = Receiver::start(Behaviour::default()).await;
    let (webhook, secret) = register(&h, t, &receiver.url).await;
    h.customer_admin(t)
        .delete(&format!("/v1/webhooks/{webhook}"))
        .await
        .expect(204);
    let audit = h.customer_admin(t).get("/v1/audit").await.expect(200);
    let rows: Vec<(&str, &str)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["target_kind"] == "webhook")
        .map(|r| {
            (
                r["activity"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [("webhook.manage", "created"), ("webhook.manage", "deleted")]
    );
    assert!(!audit.to_string().contains(&secret));
}
e2e!(registering_and_removing_a_webhook_is_audited_without_its_secret);

async fn another_organisations_webhook_is_not_found_for_every_role(h: Harness) {
    let t = fixtures::tenant(&h, "Owner").await;
    let other = fixtures::tenant(&h, "Other").await;
    let (webhook, _) = register(&h, t, "http://127.0.0.1:9/hook").await;
    let path = format!("/v1/webhooks/{webhook}");
    // Within its organisation the webhook is visible, so a role that may not remove it is
    // refused, and the refusal says why.
    let refused = h.customer(t, "tenant-reader").delete(&path).await;
    assert_eq!(refused.status, 403, "{:#}", refused.body);
    // Outside it, the webhook does not exist for any role: the same 404 as a random id.
    let random = uuid::Uuid::now_v7().to_string();
    for role in ["tenant-admin", "tenant-helpdesk", "tenant-reader"] {
        let intruder = h.customer(other, role);
        let real = intruder.delete(&path).await;
        let none = intruder.delete(&path.replace(&webhook, &random)).await;
        assert_eq!(real.status, 404, "{role}: {:#}", real.body);
        assert_eq!(real.text, none.text.replace(&random, &webhook), "{role}");
    }
    h.customer_admin(t).get(&path).await.expect(200);
}
e2e!(another_organisations_webhook_is_not_found_for_every_role);
