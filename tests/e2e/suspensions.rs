//! Suspensions with reasons (`service.suspend`): reasons overlap and each is lifted on its
//! own; a suspended tenant's customer reads and exports but changes nothing in its
//! directory (409 naming the suspension); a mailbox is suspended alone through the same
//! table; each placement and lift is audited and announced to the informed parties; and,
//! through a real Postfix and Dovecot, a suspended mailbox does not sign in while its mail
//! is still delivered.

use serde_json::{Value, json};

use mailplane::types::TenantId;
use mailplane_tests::mail_clients::{Imap, smtp_send};
use mailplane_tests::mailstack::MailStack;
use mailplane_tests::{Harness, e2e, field_errors, fixtures};

const PASSWORD: &str = "Correct-Horse-42-Battery";

/// Places a suspension as the provider; returns its id.
async fn place(h: &Harness, t: TenantId, body: Value) -> String {
    let s = h
        .provider_admin()
        .post(&format!("/v1/tenants/{t}/suspensions"), body)
        .await
        .expect(201);
    assert_eq!(s["active"], true, "{s}");
    s["id"].as_str().unwrap().to_string()
}

/// Lifts a suspension as the provider; returns it.
async fn lift(h: &Harness, t: TenantId, id: &str) -> Value {
    h.provider_admin()
        .post(
            &format!("/v1/tenants/{t}/suspensions/{id}/lift"),
            json!({ "note": "paid in full" }),
        )
        .await
        .expect(200)
}

/// The tenant's status as its customer reads it.
async fn status(h: &Harness, t: TenantId) -> String {
    h.customer_admin(t)
        .get(&format!("/v1/tenants/{t}"))
        .await
        .expect(200)["status"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn overlapping_reasons_keep_the_tenant_suspended_until_each_is_lifted(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let path = format!("/v1/tenants/{t}/suspensions");
    assert_eq!(status(&h, t).await, "active");
    let unpaid = place(
        &h,
        t,
        json!({ "reason": "non_payment", "note": "invoice 2026-11 unpaid" }),
    )
    .await;
    assert_eq!(status(&h, t).await, "suspended");
    let abuse = place(&h, t, json!({ "reason": "abuse" })).await;
    // A reason is placed once per subject.
    let again = h
        .provider_admin()
        .post(&path, json!({ "reason": "non_payment" }))
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.str("detail").contains(&unpaid), "{}", again.body);
    // `other` needs a note; an unknown reason is refused naming the field.
    let other = h
        .provider_admin()
        .post(&path, json!({ "reason": "other" }))
        .await;
    assert_eq!(other.status, 400);
    assert_eq!(field_errors(&other.body), ["note"]);
    let unknown = h
        .provider_admin()
        .post(&path, json!({ "reason": "late" }))
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    // The customer is informed only: it reads, it does not suspend.
    let refused = h
        .customer_admin(t)
        .post(&path, json!({ "reason": "customer_request" }))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.body["refusal"]["activity"], "service.suspend");

    // Lifting one reason keeps the tenant suspended while the other remains.
    let lifted = lift(&h, t, &unpaid).await;
    assert_eq!(lifted["active"], false);
    assert_eq!(lifted["lifted_by_party"], "provider");
    assert_eq!(lifted["lift_note"], "paid in full");
    assert_eq!(status(&h, t).await, "suspended");
    let twice = h
        .provider_admin()
        .post(&format!("{path}/{unpaid}/lift"), json!({}))
        .await;
    assert_eq!(twice.status, 409);
    // The status comes from the reasons: `tenant.update` neither sets it nor clears it.
    let set = h
        .provider_admin()
        .patch(
            &format!("/v1/tenants/{t}"),
            json!({ "status": "suspended" }),
        )
        .await;
    assert_eq!(set.status, 400);
    assert_eq!(field_errors(&set.body), ["status"]);
    let clear = h
        .provider_admin()
        .patch(&format!("/v1/tenants/{t}"), json!({ "status": "active" }))
        .await;
    assert_eq!(clear.status, 409, "{}", clear.body);
    lift(&h, t, &abuse).await;
    assert_eq!(status(&h, t).await, "active");
    // A reason lifted may be placed again.
    let again = place(&h, t, json!({ "reason": "non_payment" })).await;
    lift(&h, t, &again).await;
    // A `suspended` status stored before suspensions had reasons still reads, and refuses
    // sign-in like one with reasons; `tenant.update` clears it.
    h.store
        .execute_unprepared_for_tests("UPDATE tenants SET status = 'suspended'")
        .await
        .unwrap();
    assert_eq!(status(&h, t).await, "suspended");
    h.provider_admin()
        .patch(&format!("/v1/tenants/{t}"), json!({ "status": "active" }))
        .await
        .expect(200);
    assert_eq!(status(&h, t).await, "active");

    // The customer reads every suspension, active and lifted, oldest first.
    let list = h.customer_admin(t).get(&path).await.expect(200);
    let items = list["items"].as_array().unwrap();
    let summary: Vec<(&str, bool)> = items
        .iter()
        .map(|s| {
            (
                s["reason"].as_str().unwrap(),
                s["active"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("non_payment", false),
            ("abuse", false),
            ("non_payment", false)
        ]
    );
    assert_eq!(items[0]["note"], "invoice 2026-11 unpaid");
    assert_eq!(items[0]["placed_by_party"], "provider");

    // Each placement and lift is audited under the provider's letters and announced to the
    // customer, who is informed.
    let audit = h.provider_admin().get("/v1/audit").await.expect(200);
    let rows: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["activity"] == "service.suspend")
        .map(|r| {
            assert_eq!(r["letters"], "RA", "{r}");
            assert_eq!(r["target_kind"], "suspension", "{r}");
            (
                r["target_id"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 6, "{rows:?}");
    assert!(
        rows.contains(&(unpaid.clone(), "placed".into())),
        "{rows:?}"
    );
    assert!(
        rows.contains(&(unpaid.clone(), "lifted".into())),
        "{rows:?}"
    );
    let events = h.customer_admin(t).get("/v1/events").await.expect(200);
    let seen = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["activity"] == "service.suspend")
        .count();
    assert_eq!(seen, 6, "{events:#}");
}
e2e!(overlapping_reasons_keep_the_tenant_suspended_until_each_is_lifted);

async fn a_suspended_tenants_customer_reads_and_exports_but_changes_no_directory(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    let m = fixtures::mailbox(&h, t, &d, "alice").await;
    let claim = fixtures::unverified_domain(&h, t, "claim.example").await;
    let legal = place(
        &h,
        t,
        json!({ "reason": "legal", "note": "court order 12/2026" }),
    )
    .await;
    let admin = h.customer_admin(t);
    let changes = [
        (
            "POST",
            format!("/v1/tenants/{t}/mailboxes"),
            json!({ "local_part": "bob", "domain_id": d, "display_name": "Bob" }),
        ),
        (
            "PATCH",
            format!("/v1/tenants/{t}/mailboxes/{m}"),
            json!({ "display_name": "Alice B." }),
        ),
        (
            "POST",
            format!("/v1/tenants/{t}/mailboxes/{m}/aliases"),
            json!({ "local_part": "sales", "domain_id": d }),
        ),
        (
            "POST",
            format!("/v1/tenants/{t}/groups"),
            json!({ "local_part": "team", "domain_id": d, "display_name": "Team" }),
        ),
        (
            "PUT",
            format!("/v1/tenants/{t}/mailboxes/{m}/forwarding"),
            json!({ "address": "alice@elsewhere.test" }),
        ),
        (
            "PUT",
            format!("/v1/tenants/{t}/mailboxes/{m}/password"),
            json!({ "password": PASSWORD }),
        ),
        (
            "POST",
            format!("/v1/tenants/{t}/domains"),
            json!({ "name": "other.example" }),
        ),
        // The paths that change the directory without filing an operation.
        (
            "POST",
            format!("/v1/tenants/{t}/mailboxes/batch"),
            json!({ "mailboxes": [{ "local_part": "carol", "domain_id": d, "display_name": "Carol" }] }),
        ),
        (
            "POST",
            format!("/v1/tenants/{t}/domains/{claim}/verify"),
            json!({}),
        ),
    ];
    for (method, path, body) in &changes {
        let reply = admin
            .send(method.parse().unwrap(), path, Some(body.clone()))
            .await;
        assert_eq!(reply.status, 409, "{method} {path}: {}", reply.body);
        let detail = reply.str("detail");
        assert!(detail.contains("suspended"), "{detail}");
        assert!(detail.contains("legal"), "{detail}");
        assert!(detail.contains("court order 12/2026"), "{detail}");
    }
    // Reads and exports keep working.
    admin
        .get(&format!("/v1/tenants/{t}/mailboxes"))
        .await
        .expect(200);
    admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(200);
    let export = admin
        .post(
            &format!("/v1/tenants/{t}/exports"),
            json!({ "format": "mbox" }),
        )
        .await
        .expect(201);
    assert_eq!(h.run_jobs().await.failed, 0);
    let id = export["id"].as_str().unwrap();
    let ready = admin
        .get(&format!("/v1/tenants/{t}/exports/{id}"))
        .await
        .expect(200);
    assert_eq!(ready["state"], "ready");
    // Once lifted, the same change goes through.
    lift(&h, t, &legal).await;
    let (method, path, body) = &changes[0];
    let reply = admin
        .send(method.parse().unwrap(), path, Some(body.clone()))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}
e2e!(a_suspended_tenants_customer_reads_and_exports_but_changes_no_directory);

/// Sets a mailbox's password as the customer.
async fn with_password(h: &Harness, t: TenantId, m: &str) {
    h.customer_admin(t)
        .put(
            &format!("/v1/tenants/{t}/mailboxes/{m}/password"),
            json!({ "password": PASSWORD }),
        )
        .await
        .expect(200);
}

/// The API's sign-in answer for a mailbox.
async fn sign_in(h: &Harness, t: TenantId, m: &str) -> Value {
    h.customer_admin(t)
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}/sign-in"))
        .await
        .expect(200)
}

async fn a_suspended_mailbox_does_not_sign_in_and_still_receives_mail(h: Harness) {
    let Some(stack) = MailStack::start(&h).await else {
        return;
    };
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    let alice = fixtures::mailbox(&h, t, &d, "alice").await;
    let bob = fixtures::mailbox(&h, t, &d, "bob").await;
    with_password(&h, t, &alice).await;
    with_password(&h, t, &bob).await;
    let s = place(
        &h,
        t,
        json!({ "mailbox_id": alice, "reason": "abuse", "note": "sends spam" }),
    )
    .await;
    // Only the mailbox is suspended: the tenant is active and its customer still changes
    // its directory.
    assert_eq!(status(&h, t).await, "active");
    h.customer_admin(t)
        .patch(
            &format!("/v1/tenants/{t}/mailboxes/{bob}"),
            json!({ "display_name": "Bob B." }),
        )
        .await
        .expect(200);
    assert_eq!(sign_in(&h, t, &alice).await["refused"], "mailbox_suspended");
    assert_eq!(sign_in(&h, t, &bob).await, json!({ "allowed": true }));
    // A mailbox of another tenant is not a subject of this one.
    let other = fixtures::tenant(&h, "Other").await;
    let d2 = fixtures::default_domain(&h, other).await;
    let stranger = fixtures::mailbox(&h, other, &d2, "zed").await;
    let r = h
        .provider_admin()
        .post(
            &format!("/v1/tenants/{t}/suspensions"),
            json!({ "mailbox_id": stranger, "reason": "abuse" }),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(field_errors(&r.body), ["mailbox_id"]);

    // Through Dovecot: the right password does not sign in, Bob's does, and mail to Alice
    // is still delivered.
    let refused = Imap::login(stack.imap(), "alice@acme.example", PASSWORD).await;
    let reason = refused.err().expect("a suspended mailbox signs in");
    assert!(reason.contains("suspended"), "{reason}");
    Imap::login(stack.imap(), "bob@acme.example", PASSWORD)
        .await
        .expect("bob signs in");
    let sent = smtp_send(
        stack.smtp(),
        None,
        "carol@elsewhere.test",
        &["alice@acme.example"],
        "While suspended",
        "Kept for later.",
    )
    .await
    .expect("a session");
    assert!(sent.accepted(), "{sent:?}\n{}", stack.logs());
    // Lifted, Alice signs in and reads what arrived meanwhile.
    lift(&h, t, &s).await;
    stack
        .eventually("alice reads the message after the lift", || async {
            match Imap::login(stack.imap(), "alice@acme.example", PASSWORD).await {
                Ok(mut imap) => imap.subjects().await == ["While suspended"],
                Err(_) => false,
            }
        })
        .await;
}
e2e!(a_suspended_mailbox_does_not_sign_in_and_still_receives_mail);

/// The tenant's status as the provider reads it, and whether a suspension of the whole
/// tenant is active.
async fn status_and_active(h: &Harness, t: TenantId) -> (String, bool) {
    let status = h
        .provider_admin()
        .get(&format!("/v1/tenants/{t}"))
        .await
        .expect(200)["status"]
        .as_str()
        .unwrap()
        .to_string();
    let list = h
        .provider_admin()
        .get(&format!("/v1/tenants/{t}/suspensions"))
        .await
        .expect(200);
    let active = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["active"] == true && s["mailbox_id"].is_null());
    (status, active)
}

async fn concurrent_placements_and_lifts_keep_the_status_the_sum_of_the_reasons(h: Harness) {
    // On PostgreSQL each transaction counted the active suspensions without seeing the
    // other's uncommitted change: a lift beside a placement left the tenant `active` with a
    // reason placed, two lifts left it `suspended` with none.
    let t = fixtures::tenant(&h, "Acme").await;
    let mut held = place(&h, t, json!({ "reason": "abuse" })).await;
    let mut held_reason = "abuse";
    for round in 0..20 {
        // One reason placed while the other is lifted, at once: one stays.
        let next = if held_reason == "abuse" {
            "legal"
        } else {
            "abuse"
        };
        let (provider, path) = (h.provider_admin(), format!("/v1/tenants/{t}/suspensions"));
        let (placed, lifted) = tokio::join!(
            provider.post(&path, json!({ "reason": next })),
            lift(&h, t, &held),
        );
        assert_eq!(lifted["active"], false);
        held = placed.expect(201)["id"].as_str().unwrap().to_string();
        held_reason = next;
        let (status, active) = status_and_active(&h, t).await;
        assert!(active, "round {round}");
        assert_eq!(status, "suspended", "round {round}: a reason is placed");
        // Two reasons lifted at once: none stays.
        let other = place(&h, t, json!({ "reason": "other", "note": "round" })).await;
        let (a, b) = tokio::join!(lift(&h, t, &held), lift(&h, t, &other));
        assert_eq!(
            (a["active"].clone(), b["active"].clone()),
            (json!(false), json!(false))
        );
        let (status, active) = status_and_active(&h, t).await;
        assert!(!active, "round {round}");
        assert_eq!(status, "active", "round {round}: every reason is lifted");
        held = place(&h, t, json!({ "reason": held_reason })).await;
    }
}
e2e!(concurrent_placements_and_lifts_keep_the_status_the_sum_of_the_reasons);

async fn a_proposal_approved_during_a_suspension_answers_409_and_changes_nothing(h: Harness) {
    // The partner proposes a mailbox before the suspension; the customer approves it after.
    let p = fixtures::partner(&h, "Reseller").await;
    let t = fixtures::partner_tenant(&h, p, "Resold customer").await;
    let d = fixtures::domain(&h, t, "resold.example").await;
    let path = format!("/v1/tenants/{t}/mailboxes");
    let proposal = h
        .partner_admin(p)
        .post(
            &path,
            json!({ "local_part": "bob", "domain_id": d, "display_name": "Bob" }),
        )
        .await
        .expect(202);
    let id = proposal["id"].as_str().unwrap().to_string();
    place(
        &h,
        t,
        json!({ "reason": "legal", "note": "court order 12/2026" }),
    )
    .await;
    let approve = format!("/v1/requests/{id}/approve");
    let reply = h.customer_admin(t).post(&approve, json!({})).await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    let detail = reply.str("detail");
    assert!(detail.contains("suspended for legal"), "{detail}");
    // Nothing was created, and the proposal is still pending.
    let list = h.provider_admin().get(&path).await.expect(200);
    assert!(list["items"].as_array().unwrap().is_empty(), "{list:#}");
    let view = h
        .customer_admin(t)
        .get(&format!("/v1/requests/{id}"))
        .await
        .expect(200);
    assert_eq!(view["state"], "pending", "{view:#}");
}
e2e!(a_proposal_approved_during_a_suspension_answers_409_and_changes_nothing);
