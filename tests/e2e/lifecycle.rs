//! The end of a tenant's life through HTTP: exports delivered by provider automation,
//! downloaded through an expiring link and acknowledged by the customer; the termination
//! walked from `terminating` to `closed` with the clock moved past the export window; holds
//! and locked retention stopping it at `blocked`; and the certificate verified offline
//! against the provider's published key.

use std::io::Read;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::Duration;

use mailplane::clock::Clock;
use mailplane::types::{PartnerId, TenantId};
use mailplane_tests::{Harness, Plane, e2e, e2e_stores, field_errors, fixtures};

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: sender{n}@old-host.example\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nSubject: note {n}\r\n\r\nFrom the start, body {n}\r\n"
    )
    .into_bytes()
}

/// A tenant with two mailboxes holding two and one messages.
async fn tenant_with_mail(h: &Harness) -> (TenantId, Vec<String>) {
    let t = fixtures::tenant(h, "Acme").await;
    let d = fixtures::default_domain(h, t).await;
    let mut mailboxes = Vec::new();
    for (local, count) in [("alice", 2), ("bob", 1)] {
        let m = fixtures::mailbox(h, t, &d, local).await;
        for n in 0..count {
            h.customer_admin(t)
                .post_raw(
                    &format!("/v1/tenants/{t}/mailboxes/{m}/messages"),
                    "message/rfc822",
                    message(n),
                )
                .await
                .expect(201);
        }
        mailboxes.push(m);
    }
    (t, mailboxes)
}

async fn an_export_is_delivered_downloaded_and_acknowledged(h: Harness) {
    let (t, mailboxes) = tenant_with_mail(&h).await;
    let customer = h.customer_admin(t);
    let path = format!("/v1/tenants/{t}/exports");
    let bad = customer
        .post(&path, json!({ "format": "pst" }))
        .await
        .expect(400);
    assert_eq!(field_errors(&bad), ["format"]);
    // The customer is accountable, the provider responsible: automation takes it on.
    let created = customer.post(&path, json!({ "format": "eml-zip" })).await;
    assert!(created.headers.get("mailplane-request").is_some());
    let export = created.expect(201);
    assert_eq!(export["state"], "preparing");
    let id = export["id"].as_str().unwrap().to_string();
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0);
    // start, collect:0, collect:1, package.
    assert_eq!(report.steps, 4);
    let ready = customer.get(&format!("{path}/{id}")).await.expect(200);
    assert_eq!(ready["state"], "ready");
    // The accountable customer is told its export was delivered.
    let events = customer.get("/v1/events").await.expect(200);
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["outcome"] == "delivered" && e["target_id"] == id.as_str()),
        "{events}"
    );
    let manifest = &ready["manifest"];
    assert_eq!(manifest["messages"], 3);
    assert_eq!(manifest["mailboxes"].as_array().unwrap().len(), 2);
    let url = ready["download_url"].as_str().unwrap().to_string();
    // The provider (R) sees the link too.
    assert_eq!(
        h.provider_admin()
            .get(&format!("{path}/{id}"))
            .await
            .expect(200)["download_url"],
        url.as_str()
    );
    // The link is the credential: no bearer token.
    let download = h.anonymous().get(&url).await;
    assert_eq!(download.status, 200, "{}", download.text);
    assert_eq!(download.content_type, "application/zip");
    let archive = manifest["archive"]["sha256"].as_str().unwrap();
    assert_eq!(hex::encode(Sha256::digest(&download.bytes)), archive);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(download.bytes.clone())).unwrap();
    let mut inner = String::new();
    zip.by_name("manifest.json")
        .unwrap()
        .read_to_string(&mut inner)
        .unwrap();
    let inner: Value = serde_json::from_str(&inner).unwrap();
    for file in inner["files"].as_array().unwrap() {
        let mut bytes = Vec::new();
        zip.by_name(file["path"].as_str().unwrap())
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            file["sha256"].as_str().unwrap()
        );
    }
    assert_eq!(inner["files"].as_array().unwrap().len(), 3);
    // A forged token is a 404, like a random export.
    let forged = url.replace("token=", "token=00");
    h.anonymous().get(&forged).await.expect(404);
    // Only the accountable party acknowledges.
    h.provider_admin()
        .post(&format!("{path}/{id}/acknowledge"), json!({}))
        .await
        .expect(403);
    let acked = customer
        .post(&format!("{path}/{id}/acknowledge"), json!({}))
        .await
        .expect(200);
    assert_eq!(acked["state"], "acknowledged");
    let again = customer
        .post(&format!("{path}/{id}/acknowledge"), json!({}))
        .await
        .expect(200);
    assert_eq!(again["acknowledged_at"], acked["acknowledged_at"]);
    // A single mailbox as mbox.
    let one = customer
        .post(
            &path,
            json!({ "format": "mbox", "mailbox_id": mailboxes[0] }),
        )
        .await
        .expect(201);
    h.run_jobs().await;
    let one = customer
        .get(&format!("{path}/{}", one["id"].as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(one["manifest"]["messages"], 2);
    let mbox = h
        .anonymous()
        .get(one["download_url"].as_str().unwrap())
        .await;
    assert_eq!(mbox.content_type, "application/mbox");
    assert_eq!(
        hex::encode(Sha256::digest(&mbox.bytes)),
        one["manifest"]["archive"]["sha256"].as_str().unwrap()
    );
    assert_eq!(mbox.text.matches("\nFrom ").count() + 1, 2);
    assert!(mbox.text.contains(">From the start"));
    // Every step of the first export ran once, and finished.
    let ledger = h
        .control_plane
        .job_ledger("export", id.parse().unwrap())
        .await
        .unwrap();
    let steps: Vec<&str> = ledger.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(steps, ["start", "collect:0", "collect:1", "package"]);
    assert!(ledger.iter().all(|s| s.outcome.as_deref() == Some("done")));
    // The link expires with its archive: an expired link is a 404, like a random export.
    h.clock.advance(Duration::days(8));
    h.run_jobs().await;
    h.anonymous().get(&url).await.expect(404);
    let listed = customer.get(&path).await.expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["download_url"].is_null())
    );
}
e2e_stores!(an_export_is_delivered_downloaded_and_acknowledged);

async fn a_termination_ends_in_a_certificate_that_verifies_offline(h: Harness) {
    let (t, mailboxes) = tenant_with_mail(&h).await;
    let customer = h.customer_admin(t);
    let provider = h.provider_admin();
    let path = format!("/v1/tenants/{t}/termination");
    customer.get(&path).await.expect(404);
    // The customer terminates its contract; the provider is only informed.
    provider.post(&path, json!({})).await.expect(403);
    let bad = customer
        .post(&path, json!({ "export_window_days": 400 }))
        .await
        .expect(400);
    assert_eq!(field_errors(&bad), ["export_window_days"]);
    // Only end of service terminates a tenant; its status cannot be set to that.
    let bad = provider
        .patch(
            &format!("/v1/tenants/{t}"),
            json!({ "status": "terminated" }),
        )
        .await
        .expect(400);
    assert_eq!(field_errors(&bad), ["status"]);
    // More configuration than mailboxes: an alias, and a group with a member.
    let d = fixtures::default_domain(&h, t).await;
    customer
        .post(
            &format!("/v1/tenants/{t}/mailboxes/{}/aliases", mailboxes[0]),
            json!({ "local_part": "sales", "domain_id": d }),
        )
        .await
        .expect(201);
    let group = customer
        .post(
            &format!("/v1/tenants/{t}/groups"),
            json!({ "local_part": "team", "domain_id": d, "display_name": "Team" }),
        )
        .await
        .expect(201);
    customer
        .post(
            &format!(
                "/v1/tenants/{t}/groups/{}/members",
                group["id"].as_str().unwrap()
            ),
            json!({ "mailbox_id": mailboxes[1] }),
        )
        .await
        .expect(200);
    let tenant_files = h.tenant_files(t);
    let key_id = uuid::Uuid::from_slice(&std::fs::read(h.data_key_file(t)).unwrap()[..16]).unwrap();
    let term = customer.post(&path, json!({})).await.expect(201);
    assert_eq!(term["state"], "terminating");
    assert_eq!(term["export_window_days"], 30);
    customer.post(&path, json!({})).await.expect(409);
    // Inside the window nothing is destroyed, and the customer can still export.
    h.run_jobs().await;
    assert_eq!(
        customer.get(&path).await.expect(200)["state"],
        "terminating"
    );
    customer
        .post(
            &format!("/v1/tenants/{t}/exports"),
            json!({ "format": "eml-zip" }),
        )
        .await
        .expect(201);
    h.run_jobs().await;
    assert!(tenant_files.exists());
    h.clock.advance(Duration::days(31));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    let closed = customer.get(&path).await.expect(200);
    assert_eq!(closed["state"], "closed", "{closed}");
    // The tenant row is the tombstone, and says so.
    assert_eq!(
        provider.get(&format!("/v1/tenants/{t}")).await.expect(200)["status"],
        "terminated"
    );
    for field in [
        "configuration_destroyed_at",
        "data_destroyed_at",
        "files_removed_at",
        "closed_at",
    ] {
        assert!(closed[field].is_string(), "{field}: {closed}");
    }
    assert!(!tenant_files.exists(), "the tenant's files are gone");
    assert!(
        !h.mail_dir.join("exports").join(t.to_string()).exists(),
        "the export archives are gone"
    );
    // The certificate names the tenant, its mailboxes, what was destroyed and how.
    let cert = &closed["certificate"];
    let body = &cert["certificate"];
    assert_eq!(body["tenant"]["id"], t.to_string());
    assert_eq!(body["objects"], 3);
    assert_eq!(body["mailboxes"].as_array().unwrap().len(), 2);
    assert!(
        body["mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| mailboxes.contains(&m["id"].as_str().unwrap().to_string()))
    );
    assert_eq!(body["key_ids"], json!([key_id.to_string()]));
    assert_eq!(
        body["bytes"],
        (2 * message(0).len() + message(1).len()) as u64
    );
    assert_eq!(body["standard"], "NIST SP 800-88 Rev. 1");
    // It names the store that held the data, and how the erase destroyed it there.
    let store = &body["store"];
    match h.plane {
        Plane::Files => assert_eq!(store["name"], "Mailplane embedded file store"),
        Plane::Dovecot => assert_eq!(
            store["name"],
            format!(
                "Dovecot with mail_crypt at http://127.0.0.1:{}",
                h.stack().config.doveadm_port
            )
        ),
    }
    let method = store["method"].as_str().unwrap();
    assert!(
        method.starts_with("cryptographic erase of the tenant's data key"),
        "{method}"
    );
    assert!(
        method.contains(match h.plane {
            Plane::Files => "XChaCha20-Poly1305",
            Plane::Dovecot => "mail_crypt",
        }),
        "{method}"
    );
    assert_eq!(body["responsible"]["party"], "provider");
    assert_eq!(body["accountable_informed"][0]["party"], "customer");
    // Offline: the document and the published key are all an auditor needs.
    let keys = h
        .anonymous()
        .get("/.well-known/mailplane/destruction-keys")
        .await
        .expect(200);
    let document = serde_json::to_vec(cert).unwrap();
    let trusted =
        mailplane::certificate::trusted_keys(&serde_json::to_vec(&keys).unwrap()).unwrap();
    let verified = mailplane::certificate::verify(&document, &trusted).unwrap();
    assert!(verified.pinned);
    let mut forged = cert.clone();
    forged["certificate"]["objects"] = json!(2);
    assert!(
        mailplane::certificate::verify(&serde_json::to_vec(&forged).unwrap(), &trusted).is_err()
    );
    // The tombstone: the tenant is still there, empty, and nothing changes it.
    customer.get(&format!("/v1/tenants/{t}")).await.expect(200);
    let left = customer
        .get(&format!("/v1/tenants/{t}/mailboxes"))
        .await
        .expect(200);
    assert_eq!(left["items"].as_array().unwrap().len(), 0);
    for what in ["domains", "aliases", "groups"] {
        let rest = customer
            .get(&format!("/v1/tenants/{t}/{what}"))
            .await
            .expect(200);
        assert_eq!(rest["items"], json!([]), "{what}: {rest}");
    }
    let refused = customer
        .post(
            &format!("/v1/tenants/{t}/domains"),
            json!({ "name": "late.example" }),
        )
        .await
        .expect(409);
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("end of service")
    );
    // Each step ran once; each party was told of the destruction.
    let ledger = h
        .control_plane
        .job_ledger(
            "termination",
            closed["id"].as_str().unwrap().parse().unwrap(),
        )
        .await
        .unwrap();
    let done: Vec<&str> = ledger
        .iter()
        .filter(|s| s.outcome.as_deref() == Some("done"))
        .map(|s| s.step.as_str())
        .collect();
    assert_eq!(
        done,
        [
            "window",
            "check",
            "consult",
            "configuration",
            "erase",
            "verify",
            "certify",
            "purge"
        ]
    );
    let events = customer.get("/v1/events").await.expect(200);
    let outcomes: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    assert!(
        outcomes.contains(&"configuration_destroyed"),
        "{outcomes:?}"
    );
    assert!(outcomes.contains(&"data_destroyed"), "{outcomes:?}");
}
e2e_stores!(a_termination_ends_in_a_certificate_that_verifies_offline);

async fn holds_and_locked_retention_block_the_destruction(h: Harness) {
    let (t, mailboxes) = tenant_with_mail(&h).await;
    let customer = h.customer_admin(t);
    let hold = customer
        .post(
            &format!("/v1/tenants/{t}/holds"),
            json!({ "mailbox_id": mailboxes[1], "reason": "case 2026-17" }),
        )
        .await
        .expect(201);
    customer
        .put(
            &format!("/v1/tenants/{t}/retention"),
            json!({ "keep_at_least_days": 3650, "locked": true }),
        )
        .await
        .expect(200);
    let path = format!("/v1/tenants/{t}/termination");
    customer
        .post(&path, json!({ "export_window_days": 0 }))
        .await
        .expect(201);
    h.run_jobs().await;
    let blocked = customer.get(&path).await.expect(200);
    assert_eq!(blocked["state"], "blocked");
    let kinds: Vec<&str> = blocked["blocked_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["legal_hold", "locked_retention"]);
    assert_eq!(blocked["blocked_by"][0]["hold_id"], hold["id"]);
    // The provider, accountable for the destruction, is told it waits.
    let provider_events = h.provider_admin().get("/v1/events").await.expect(200);
    assert!(
        provider_events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["outcome"] == "blocked")
    );
    // The configuration is frozen for its destruction: only holds and exports change.
    let d = fixtures::default_domain(&h, t).await;
    let frozen = customer
        .post(
            &format!("/v1/tenants/{t}/groups"),
            json!({ "local_part": "late", "domain_id": d, "display_name": "Late" }),
        )
        .await
        .expect(409);
    assert!(
        frozen["detail"].as_str().unwrap().contains("export window"),
        "{frozen}"
    );
    // So are the paths that do not file operations: batches and message imports.
    let batch = customer
        .post(
            &format!("/v1/tenants/{t}/mailboxes/batch"),
            json!({ "mailboxes": [{ "local_part": "late", "domain_id": d, "display_name": "Late" }] }),
        )
        .await
        .expect(409);
    assert!(batch["detail"].as_str().unwrap().contains("export window"));
    customer
        .post_raw(
            &format!("/v1/tenants/{t}/mailboxes/{}/messages", mailboxes[0]),
            "message/rfc822",
            message(9),
        )
        .await
        .expect(409);
    // Nothing is destroyed while blocked, however long it waits.
    h.clock.advance(Duration::days(3));
    h.run_jobs().await;
    assert_eq!(customer.get(&path).await.expect(200)["state"], "blocked");
    assert!(h.tenant_files(t).exists());
    // Releasing the hold leaves the locked retention.
    customer
        .post(
            &format!(
                "/v1/tenants/{t}/holds/{}/release",
                hold["id"].as_str().unwrap()
            ),
            json!({ "reason": "case closed" }),
        )
        .await
        .expect(200);
    h.run_jobs().await;
    let still = customer.get(&path).await.expect(200);
    assert_eq!(still["state"], "blocked");
    assert_eq!(still["blocked_by"].as_array().unwrap().len(), 1);
    // An acknowledged export of the whole tenant meets the retention obligation.
    let export = customer
        .post(
            &format!("/v1/tenants/{t}/exports"),
            json!({ "format": "mbox" }),
        )
        .await
        .expect(201);
    h.run_jobs().await;
    customer
        .post(
            &format!(
                "/v1/tenants/{t}/exports/{}/acknowledge",
                export["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await
        .expect(200);
    h.run_jobs().await;
    let closed = customer.get(&path).await.expect(200);
    assert_eq!(closed["state"], "closed", "{closed}");
    assert!(!h.tenant_files(t).exists());
}
e2e_stores!(holds_and_locked_retention_block_the_destruction);

async fn the_customer_cancels_during_the_window_only(h: Harness) {
    let (t, mailboxes) = tenant_with_mail(&h).await;
    let customer = h.customer_admin(t);
    let path = format!("/v1/tenants/{t}/termination");
    customer
        .post(&format!("{path}/cancel"), json!({}))
        .await
        .expect(404);
    customer
        .post(&path, json!({ "export_window_days": 10 }))
        .await
        .expect(201);
    h.provider_admin()
        .post(&format!("{path}/cancel"), json!({}))
        .await
        .expect(403);
    let cancelled = customer
        .post(&format!("{path}/cancel"), json!({}))
        .await
        .expect(200);
    assert_eq!(cancelled["state"], "cancelled");
    h.clock.advance(Duration::days(11));
    h.run_jobs().await;
    // Nothing was destroyed, and the tenant can be terminated again.
    customer
        .get(&format!("/v1/tenants/{t}/mailboxes/{}", mailboxes[0]))
        .await
        .expect(200);
    customer.get(&path).await.expect(404);
    customer
        .post(&path, json!({ "export_window_days": 1 }))
        .await
        .expect(201);
    h.clock.advance(Duration::days(2));
    let late = customer
        .post(&format!("{path}/cancel"), json!({}))
        .await
        .expect(409);
    assert!(late["detail"].as_str().unwrap().contains("export window"));
}
e2e!(the_customer_cancels_during_the_window_only);

async fn without_automation_the_provider_fulfils_the_export_request(h: Harness) {
    let t: TenantId = h
        .provider_admin()
        .post(
            "/v1/tenants",
            json!({ "name": "Suite customer", "profile": "ticketed-suite" }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let d = fixtures::default_domain(&h, t).await;
    let m = fixtures::mailbox(&h, t, &d, "carol").await;
    let customer = h.customer_admin(t);
    customer
        .post_raw(
            &format!("/v1/tenants/{t}/mailboxes/{m}/messages"),
            "message/rfc822",
            message(1),
        )
        .await
        .expect(201);
    // ticketed-suite does not automate exports: the request waits for the provider.
    let filed = customer
        .post(
            &format!("/v1/tenants/{t}/exports"),
            json!({ "format": "eml-zip", "mailbox_id": m }),
        )
        .await
        .expect(202);
    assert_eq!(filed["activity"], "export.pst.deliver");
    assert_eq!(
        customer
            .get(&format!("/v1/tenants/{t}/exports"))
            .await
            .expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    h.provider("provider-operator")
        .post(
            &format!("/v1/requests/{}/fulfil", filed["id"].as_str().unwrap()),
            json!({}),
        )
        .await
        .expect(200);
    h.run_jobs().await;
    let exports = customer
        .get(&format!("/v1/tenants/{t}/exports"))
        .await
        .expect(200);
    assert_eq!(exports["items"][0]["state"], "ready");
    assert_eq!(exports["items"][0]["manifest"]["messages"], 1);
    // Deleting the mailbox leaves a durable job that waits for its undelete window, then
    // removes its messages.
    customer
        .delete(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(204);
    h.run_jobs().await;
    assert!(h.mailbox_files(t, &m).exists());
    h.clock.advance(time::Duration::days(31));
    h.run_jobs().await;
    let ledger = h
        .control_plane
        .job_ledger("mailbox-destroy", m.parse().unwrap())
        .await
        .unwrap();
    let steps: Vec<_> = ledger
        .iter()
        .map(|r| (r.step.as_str(), r.outcome.as_deref()))
        .collect();
    assert_eq!(
        steps,
        [("window", Some("done")), ("destroy", Some("done"))],
        "the job was first due when the window closed"
    );
    assert!(!h.mailbox_files(t, &m).exists());
}
e2e_stores!(without_automation_the_provider_fulfils_the_export_request);

/// The partner's pending consultation on destroying a configuration, if any.
async fn pending_consultation(h: &Harness, p: PartnerId) -> Option<Value> {
    let asked = h
        .partner_admin(p)
        .get("/v1/requests?state=pending")
        .await
        .expect(200);
    asked["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["activity"] == "configuration.destroy")
        .cloned()
}

async fn the_partner_is_consulted_before_the_configuration_goes(h: Harness) {
    // master-hoster: configuration.destroy is provider RA, partner CI.
    let p = fixtures::partner(&h, "Reseller").await;
    let t = fixtures::partner_tenant(&h, p, "Resold").await;
    let d = fixtures::default_domain(&h, t).await;
    fixtures::mailbox(&h, t, &d, "dave").await;
    let customer = h.customer_admin(t);
    let path = format!("/v1/tenants/{t}/termination");
    customer
        .post(&path, json!({ "export_window_days": 0 }))
        .await
        .expect(201);
    h.run_jobs().await;
    // The configuration waits for the partner's answer.
    assert_eq!(
        customer.get(&path).await.expect(200)["state"],
        "terminating"
    );
    let consultation = pending_consultation(&h, p)
        .await
        .expect("a consultation of the partner");
    assert_eq!(consultation["kind"], "consultation");
    assert_eq!(consultation["addressed_to"], json!(["partner"]));
    let id = consultation["id"].as_str().unwrap();
    // An objection goes to the provider, accountable, who decides.
    h.partner_admin(p)
        .post(
            &format!("/v1/requests/{id}/object"),
            json!({ "reason": "A migration to another host is still running." }),
        )
        .await
        .expect(200);
    h.clock.advance(Duration::hours(2));
    h.run_jobs().await;
    assert_eq!(
        customer.get(&path).await.expect(200)["state"],
        "terminating"
    );
    h.provider_admin()
        .post(
            &format!("/v1/requests/{id}/approve"),
            json!({ "reason": "The migration finished yesterday." }),
        )
        .await
        .expect(200);
    // The approval wakes the termination at once: no clock needs to move.
    h.run_jobs().await;
    let closed = customer.get(&path).await.expect(200);
    assert_eq!(closed["state"], "closed", "{closed}");
    // The partner, informed of the destruction in this profile, is named as informed.
    let informed: Vec<&str> = closed["certificate"]["certificate"]["accountable_informed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["party"].as_str().unwrap())
        .collect();
    assert_eq!(informed, ["customer", "partner"]);
}
e2e!(the_partner_is_consulted_before_the_configuration_goes);

async fn a_silent_partner_lets_the_destruction_go_on_at_the_deadline(h: Harness) {
    let p = fixtures::partner(&h, "Quiet reseller").await;
    let t = fixtures::partner_tenant(&h, p, "Resold quietly").await;
    let customer = h.customer_admin(t);
    let path = format!("/v1/tenants/{t}/termination");
    customer
        .post(&path, json!({ "export_window_days": 0 }))
        .await
        .expect(201);
    h.run_jobs().await;
    // Past the consultation deadline, before the request sweep closes it, the job looks
    // again later instead of spinning.
    h.clock.advance(Duration::days(3));
    let report = h.run_jobs().await;
    assert!(report.steps <= 2, "{report:?}");
    assert_eq!(
        customer.get(&path).await.expect(200)["state"],
        "terminating"
    );
    assert_eq!(h.control_plane.requests_expire().await.unwrap(), 1);
    h.clock.advance(Duration::minutes(2));
    h.run_jobs().await;
    assert_eq!(customer.get(&path).await.expect(200)["state"], "closed");
}
e2e!(a_silent_partner_lets_the_destruction_go_on_at_the_deadline);

async fn a_withdrawn_consultation_blocks_until_the_provider_resumes(h: Harness) {
    let p = fixtures::partner(&h, "Careful reseller").await;
    let t = fixtures::partner_tenant(&h, p, "Migrating").await;
    let customer = h.customer_admin(t);
    let partner = h.partner_admin(p);
    let provider = h.provider_admin();
    let path = format!("/v1/tenants/{t}/termination");
    customer
        .post(&path, json!({ "export_window_days": 0 }))
        .await
        .expect(201);
    provider
        .post(&format!("{path}/resume"), json!({}))
        .await
        .expect(409);
    h.run_jobs().await;
    let id = pending_consultation(&h, p).await.expect("a consultation")["id"]
        .as_str()
        .unwrap()
        .to_string();
    partner
        .post(
            &format!("/v1/requests/{id}/object"),
            json!({ "reason": "The mailboxes are still being copied." }),
        )
        .await
        .expect(200);
    // The objection wakes the termination, which waits for the accountable party's answer.
    h.run_jobs().await;
    assert_eq!(
        customer.get(&path).await.expect(200)["state"],
        "terminating"
    );
    // The provider, accountable, withdraws the destruction instead of approving it.
    provider
        .post(
            &format!("/v1/requests/{id}/cancel"),
            json!({ "reason": "We wait for the copy." }),
        )
        .await
        .expect(200);
    // The withdrawal wakes the termination at once, as an answer does: no clock needs to move.
    h.run_jobs().await;
    let blocked = customer.get(&path).await.expect(200);
    assert_eq!(blocked["state"], "blocked", "{blocked}");
    assert_eq!(blocked["blocked_by"][0]["kind"], "consultation");
    // Only the party accountable for the destruction resumes it; the partner is asked again.
    customer
        .post(&format!("{path}/resume"), json!({}))
        .await
        .expect(403);
    let resumed = provider
        .post(&format!("{path}/resume"), json!({}))
        .await
        .expect(200);
    assert_eq!(resumed["state"], "terminating");
    h.run_jobs().await;
    let again = pending_consultation(&h, p)
        .await
        .expect("a second consultation")["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(again, id);
    partner
        .post(&format!("/v1/requests/{again}/consent"), json!({}))
        .await
        .expect(200);
    // The consent wakes the termination at once: no clock needs to move.
    h.run_jobs().await;
    assert_eq!(customer.get(&path).await.expect(200)["state"], "closed");
}
e2e!(a_withdrawn_consultation_blocks_until_the_provider_resumes);

async fn an_export_abandoned_by_a_dead_worker_is_taken_over(h: Harness) {
    let (t, _) = tenant_with_mail(&h).await;
    let customer = h.customer_admin(t);
    let export = customer
        .post(
            &format!("/v1/tenants/{t}/exports"),
            json!({ "format": "eml-zip" }),
        )
        .await
        .expect(201);
    let id: uuid::Uuid = export["id"].as_str().unwrap().parse().unwrap();
    // Another worker claims the first step and dies without a word.
    let dead = h
        .store
        .job_claim("dead-worker", h.clock.now(), Duration::seconds(30))
        .await
        .unwrap()
        .expect("a due step");
    assert_eq!(dead.job.step, "start");
    // Its lease still stands: nobody else runs the step.
    assert_eq!(h.run_jobs().await.steps, 0);
    h.clock.advance(Duration::seconds(31));
    let report = h.run_jobs().await;
    assert_eq!(report.steps, 4, "{report:?}");
    let ready = customer
        .get(&format!("/v1/tenants/{t}/exports/{id}"))
        .await
        .expect(200);
    assert_eq!(ready["state"], "ready");
    assert_eq!(ready["manifest"]["messages"], 3);
    let ledger = h.control_plane.job_ledger("export", id).await.unwrap();
    assert_eq!(ledger[0].owner, "dead-worker");
    assert_eq!(ledger[0].outcome, None);
    assert_eq!(ledger[1].step, "start");
    assert_eq!(ledger[1].attempt, 2);
    assert_eq!(ledger[1].outcome.as_deref(), Some("done"));
}
e2e_stores!(an_export_abandoned_by_a_dead_worker_is_taken_over);

async fn a_tenant_wide_hold_blocks_the_destruction_until_released(h: Harness) {
    let (t, _) = tenant_with_mail(&h).await;
    let customer = h.customer_admin(t);
    let hold = customer
        .post(
            &format!("/v1/tenants/{t}/holds"),
            json!({ "reason": "regulator's inquiry" }),
        )
        .await
        .expect(201);
    let path = format!("/v1/tenants/{t}/termination");
    customer
        .post(&path, json!({ "export_window_days": 0 }))
        .await
        .expect(201);
    h.run_jobs().await;
    let blocked = customer.get(&path).await.expect(200);
    assert_eq!(blocked["state"], "blocked");
    assert_eq!(blocked["blocked_by"][0]["kind"], "legal_hold");
    assert_eq!(blocked["blocked_by"][0]["hold_id"], hold["id"]);
    assert!(
        blocked["blocked_by"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("regulator's inquiry")
    );
    assert!(h.data_key_file(t).exists());
    customer
        .post(
            &format!(
                "/v1/tenants/{t}/holds/{}/release",
                hold["id"].as_str().unwrap()
            ),
            json!({ "reason": "inquiry closed" }),
        )
        .await
        .expect(200);
    h.run_jobs().await;
    assert_eq!(customer.get(&path).await.expect(200)["state"], "closed");
}
e2e_stores!(a_tenant_wide_hold_blocks_the_destruction_until_released);
