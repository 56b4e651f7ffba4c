//! The undelete window and inactive mailboxes (issue 20, points 3 and 4): a deleted mailbox
//! signs nobody in, receives no mail (through a real Postfix and Dovecot), keeps its address,
//! data, aliases and memberships and frees its seat until it is restored or its window
//! closes; then a job destroys its data and issues a signed receipt that verifies offline.
//! Under a legal hold a deleted mailbox is inactive until the hold is released, and a hold
//! placed during the window stops the destruction. Time comes from the injectable clock.

use serde_json::{Value, json};

use mailplane::types::TenantId;
use mailplane_tests::mail_clients::{Imap, smtp_send};
use mailplane_tests::mailstack::MailStack;
use mailplane_tests::{Harness, e2e, e2e_stores, fixtures};

const PASSWORD: &str = "Correct-Horse-42-Battery";

fn message() -> Vec<u8> {
    b"From: a@old-host.example\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nSubject: kept\r\n\r\nbody\r\n"
        .to_vec()
}

/// A tenant with a verified domain `acme.example` and a mailbox `local` holding one message;
/// returns the tenant, the domain's id and the mailbox's id.
async fn mailbox_with_mail(h: &Harness, local: &str) -> (TenantId, String, String) {
    let t = fixtures::tenant(h, "Acme").await;
    let d = fixtures::domain(h, t, "acme.example").await;
    let m = fixtures::mailbox(h, t, &d, local).await;
    h.customer_admin(t)
        .post_raw(
            &format!("/v1/tenants/{t}/mailboxes/{m}/messages"),
            "message/rfc822",
            message(),
        )
        .await
        .expect(201);
    (t, d, m)
}

/// The seats assigned in the tenant's first subscription.
async fn assigned(h: &Harness, t: TenantId) -> i64 {
    h.customer_admin(t)
        .get(&format!("/v1/tenants/{t}/subscriptions"))
        .await
        .expect(200)["items"][0]["assigned"]
        .as_i64()
        .unwrap()
}

async fn usage(h: &Harness, t: TenantId, m: &str) -> Value {
    h.customer_admin(t)
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}/usage"))
        .await
        .expect(200)["messages"]
        .clone()
}

async fn status(h: &Harness, t: TenantId, m: &str) -> Value {
    h.customer_admin(t)
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(200)["status"]
        .clone()
}

async fn sign_in_refusal(h: &Harness, t: TenantId, m: &str) -> Value {
    h.customer_admin(t)
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}/sign-in"))
        .await
        .expect(200)["refused"]
        .clone()
}

/// Checks a receipt offline against the provider's published keys: it verifies, names the
/// mailbox, and fails once altered.
async fn verify_offline(h: &Harness, receipt: &Value, m: &str) {
    let keys = h
        .anonymous()
        .get("/.well-known/mailplane/destruction-keys")
        .await
        .expect(200);
    let trusted =
        mailplane::certificate::trusted_keys(&serde_json::to_vec(&keys).unwrap()).unwrap();
    let document = serde_json::to_vec(receipt).unwrap();
    assert!(mailplane::certificate::receipt::is_receipt(&document));
    let verified = mailplane::certificate::receipt::verify_receipt(&document, &trusted).unwrap();
    assert!(verified.pinned);
    assert_eq!(verified.body.mailbox.id.to_string(), m);
    assert!(
        verified.body.method.starts_with("deleted from "),
        "{}",
        verified.body.method
    );
    let mut forged = receipt.clone();
    forged["receipt"]["objects"] = json!(0);
    assert!(
        mailplane::certificate::receipt::verify_receipt(
            &serde_json::to_vec(&forged).unwrap(),
            &trusted
        )
        .is_err()
    );
}

async fn a_deleted_mailbox_is_refused_reserved_and_restored_whole(h: Harness) {
    let Some(stack) = MailStack::start(&h).await else {
        return;
    };
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    let admin = h.customer_admin(t);
    let alice = fixtures::mailbox(&h, t, &d, "alice").await;
    admin
        .put(
            &format!("/v1/tenants/{t}/mailboxes/{alice}/password"),
            json!({ "password": PASSWORD }),
        )
        .await
        .expect(200);
    admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes/{alice}/aliases"),
            json!({ "local_part": "sales", "domain_id": d }),
        )
        .await
        .expect(201);
    let group = admin
        .post(
            &format!("/v1/tenants/{t}/groups"),
            json!({ "local_part": "team", "domain_id": d, "display_name": "Team" }),
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
    let sent = smtp_send(
        stack.smtp(),
        None,
        "bob@elsewhere.test",
        &["alice@acme.example"],
        "Before",
        "Kept through the deletion.",
    )
    .await
    .expect("a session");
    assert!(sent.accepted(), "{sent:?}\n{}", stack.logs());
    stack
        .eventually("the message reaches alice", || async {
            match Imap::login(stack.imap(), "alice@acme.example", PASSWORD).await {
                Ok(mut imap) => imap.subjects().await == ["Before"],
                Err(_) => false,
            }
        })
        .await;
    let seats = assigned(&h, t).await;

    admin
        .delete(&format!("/v1/tenants/{t}/mailboxes/{alice}"))
        .await
        .expect(204);
    assert_eq!(status(&h, t, &alice).await, "deleted");
    // No sign-in, no mail: the address, its alias and the group refuse it as unknown.
    assert_eq!(sign_in_refusal(&h, t, &alice).await, "mailbox_deleted");
    assert!(
        Imap::login(stack.imap(), "alice@acme.example", PASSWORD)
            .await
            .is_err(),
        "a deleted mailbox signs in"
    );
    let refused = smtp_send(
        stack.smtp(),
        None,
        "bob@elsewhere.test",
        &["alice@acme.example", "sales@acme.example"],
        "After",
        "Nobody is there.",
    )
    .await
    .expect("a session");
    let codes: Vec<u16> = refused.rcpt.iter().map(|r| r.code).collect();
    assert_eq!(codes, [550, 550], "{refused:?}\n{}", stack.logs());
    // The seat is free, the address reserved, naming the mailbox and its date.
    assert_eq!(assigned(&h, t).await, seats - 1);
    let clash = admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes"),
            json!({ "local_part": "alice", "domain_id": d, "display_name": "New Alice" }),
        )
        .await
        .expect(409);
    let detail = clash["detail"].as_str().unwrap();
    assert!(
        detail.contains(&alice) && detail.contains("restored until"),
        "{clash}"
    );
    let bob = fixtures::mailbox(&h, t, &d, "bob").await;
    let clash = admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes/{bob}/aliases"),
            json!({ "local_part": "alice", "domain_id": d }),
        )
        .await
        .expect(409);
    assert!(
        clash["detail"].as_str().unwrap().contains(&alice),
        "{clash}"
    );
    // It gains no alias and no group while deleted.
    admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes/{alice}/aliases"),
            json!({ "local_part": "extra", "domain_id": d }),
        )
        .await
        .expect(409);
    admin
        .post(
            &format!("/v1/tenants/{t}/groups/{g}/members"),
            json!({ "mailbox_id": alice }),
        )
        .await
        .expect(409);
    // The mailbox list shows it only when asked.
    let listed = admin
        .get(&format!("/v1/tenants/{t}/mailboxes?status=deleted"))
        .await
        .expect(200);
    assert_eq!(listed["items"][0]["id"], alice.as_str());
    // A mailbox deleted under a legal hold is inactive: no mail, no sign-in either.
    let carol = fixtures::mailbox(&h, t, &d, "carol").await;
    admin
        .put(
            &format!("/v1/tenants/{t}/mailboxes/{carol}/password"),
            json!({ "password": PASSWORD }),
        )
        .await
        .expect(200);
    admin
        .post(
            &format!("/v1/tenants/{t}/holds"),
            json!({ "reason": "Case 2026-21", "mailbox_id": carol }),
        )
        .await
        .expect(201);
    admin
        .delete(&format!("/v1/tenants/{t}/mailboxes/{carol}"))
        .await
        .expect(204);
    assert_eq!(status(&h, t, &carol).await, "inactive");
    let refused = smtp_send(
        stack.smtp(),
        None,
        "bob@elsewhere.test",
        &["carol@acme.example"],
        "Held",
        "Nobody reads this.",
    )
    .await
    .expect("a session");
    let codes: Vec<u16> = refused.rcpt.iter().map(|r| r.code).collect();
    assert_eq!(codes, [550], "{refused:?}\n{}", stack.logs());
    assert!(
        Imap::login(stack.imap(), "carol@acme.example", PASSWORD)
            .await
            .is_err(),
        "an inactive mailbox signs in"
    );

    // Restored inside the window: its status, seat, data, alias and membership are back.
    h.clock.advance(time::Duration::days(29));
    let restored = admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes/{alice}/restore"),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(restored["status"], "enabled");
    assert_eq!(assigned(&h, t).await, seats + 1, "alice's seat and bob's");
    admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes/{alice}/restore"),
            json!({}),
        )
        .await
        .expect(409);
    let groups = admin
        .get(&format!("/v1/tenants/{t}/groups"))
        .await
        .expect(200);
    assert_eq!(
        groups["items"][0]["members"][0]["mailbox_id"],
        alice.as_str()
    );
    let back = smtp_send(
        stack.smtp(),
        None,
        "bob@elsewhere.test",
        &["sales@acme.example", "team@acme.example"],
        "Back",
        "Welcome back.",
    )
    .await
    .expect("a session");
    assert!(back.accepted(), "{back:?}\n{}", stack.logs());
    stack
        .eventually("alice reads the old message and the new ones", || async {
            match Imap::login(stack.imap(), "alice@acme.example", PASSWORD).await {
                Ok(mut imap) => {
                    // Postfix delivers once to a recipient reached twice (alias and group).
                    let mut got = imap.subjects().await;
                    got.sort_unstable();
                    got.dedup();
                    got == ["Back", "Before"]
                }
                Err(_) => false,
            }
        })
        .await;
    // The restored mailbox's job finds nothing to destroy.
    h.clock.advance(time::Duration::days(5));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(status(&h, t, &alice).await, "enabled");
}
e2e!(a_deleted_mailbox_is_refused_reserved_and_restored_whole);

async fn the_window_end_destroys_the_data_and_issues_a_receipt(h: Harness) {
    let (t, d, m) = mailbox_with_mail(&h, "alice").await;
    let admin = h.customer_admin(t);
    admin
        .delete(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(204);
    // Inside the window nothing is destroyed and no receipt exists.
    h.clock.advance(time::Duration::days(29));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(usage(&h, t, &m).await, 1);
    admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}/receipt"))
        .await
        .expect(404);
    // The window closes at 30 days (the profile's `undelete_window`).
    h.clock
        .advance(time::Duration::days(1) + time::Duration::minutes(1));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(404);
    let receipt = admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}/receipt"))
        .await
        .expect(200);
    assert_eq!(
        receipt["receipt"]["mailbox"]["address"],
        "alice@acme.example"
    );
    assert_eq!(receipt["receipt"]["objects"], 1);
    verify_offline(&h, &receipt, &m).await;
    // A late restore names the receipt; the address is free again.
    let late = admin
        .post(&format!("/v1/tenants/{t}/mailboxes/{m}/restore"), json!({}))
        .await
        .expect(409);
    let id = receipt["receipt"]["receipt_id"].as_str().unwrap();
    assert!(late["detail"].as_str().unwrap().contains(id), "{late}");
    fixtures::mailbox(&h, t, &d, "alice").await;
    // Another tenant sees neither the receipt nor the mailbox.
    let other = fixtures::tenant(&h, "Other").await;
    h.customer_admin(other)
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}/receipt"))
        .await
        .expect(404);
}
e2e_stores!(the_window_end_destroys_the_data_and_issues_a_receipt);

async fn a_held_mailbox_goes_inactive_then_through_the_window(h: Harness) {
    let (t, _, m) = mailbox_with_mail(&h, "alice").await;
    let admin = h.customer_admin(t);
    let hold = admin
        .post(
            &format!("/v1/tenants/{t}/holds"),
            json!({ "reason": "Case 2026-20", "mailbox_id": m }),
        )
        .await
        .expect(201);
    let hold_id = hold["id"].as_str().unwrap();
    let seats = assigned(&h, t).await;
    admin
        .delete(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(204);
    assert_eq!(status(&h, t, &m).await, "inactive");
    assert_eq!(sign_in_refusal(&h, t, &m).await, "mailbox_inactive");
    assert_eq!(assigned(&h, t).await, seats - 1);
    admin
        .post_raw(
            &format!("/v1/tenants/{t}/mailboxes/{m}/messages"),
            "message/rfc822",
            message(),
        )
        .await
        .expect(409);
    // However long the hold lasts, the data is kept.
    h.clock.advance(time::Duration::days(400));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(usage(&h, t, &m).await, 1);
    // Released, the mailbox enters its window, then is destroyed with a receipt.
    admin
        .post(
            &format!("/v1/tenants/{t}/holds/{hold_id}/release"),
            json!({ "reason": "Case closed" }),
        )
        .await
        .expect(200);
    assert_eq!(status(&h, t, &m).await, "deleted");
    h.clock.advance(time::Duration::days(29));
    h.run_jobs().await;
    assert_eq!(usage(&h, t, &m).await, 1);
    h.clock.advance(time::Duration::days(2));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    let receipt = admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}/receipt"))
        .await
        .expect(200);
    verify_offline(&h, &receipt, &m).await;
}
e2e!(a_held_mailbox_goes_inactive_then_through_the_window);

async fn a_hold_placed_during_the_window_stops_the_destruction(h: Harness) {
    let (t, _, m) = mailbox_with_mail(&h, "alice").await;
    let admin = h.customer_admin(t);
    admin
        .delete(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(204);
    h.clock.advance(time::Duration::days(10));
    let hold = admin
        .post(
            &format!("/v1/tenants/{t}/holds"),
            json!({ "reason": "Late request" }),
        )
        .await
        .expect(201);
    let hold_id = hold["id"].as_str().unwrap();
    h.clock.advance(time::Duration::days(60));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(status(&h, t, &m).await, "deleted");
    assert_eq!(usage(&h, t, &m).await, 1, "the hold keeps the data");
    admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}/receipt"))
        .await
        .expect(404);
    // Past its window, the mailbox is not restored, and the answer names the hold that keeps
    // its data rather than a destruction that is not happening.
    let refused = admin
        .post(&format!("/v1/tenants/{t}/mailboxes/{m}/restore"), json!({}))
        .await
        .expect(409);
    let detail = refused["detail"].as_str().unwrap();
    assert!(detail.contains(hold_id), "{detail}");
    // Its domain keeps the deleted mailbox's address, and says so.
    let mailbox = admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(200);
    let domain = mailbox["domain_id"].as_str().unwrap();
    let refused = admin
        .delete(&format!("/v1/tenants/{t}/domains/{domain}"))
        .await
        .expect(409);
    let detail = refused["detail"].as_str().unwrap();
    assert!(detail.contains("1 deleted or inactive mailbox"), "{detail}");
    // The window closed while the hold kept the data: the release lets the job go on.
    admin
        .post(
            &format!("/v1/tenants/{t}/holds/{hold_id}/release"),
            json!({ "reason": "Withdrawn" }),
        )
        .await
        .expect(200);
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}/receipt"))
        .await
        .expect(200);
}
e2e!(a_hold_placed_during_the_window_stops_the_destruction);

async fn a_restore_needs_a_free_seat(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::default_domain(&h, t).await;
    let admin = h.customer_admin(t);
    let subs = admin
        .get(&format!("/v1/tenants/{t}/subscriptions"))
        .await
        .expect(200);
    let seats = subs["items"][0]["seats"].as_i64().unwrap();
    let mut ids = Vec::new();
    for i in 0..seats {
        ids.push(fixtures::mailbox(&h, t, &d, &format!("user{i}")).await);
    }
    admin
        .delete(&format!("/v1/tenants/{t}/mailboxes/{}", ids[0]))
        .await
        .expect(204);
    // Its seat went to a newcomer: the restore finds none.
    fixtures::mailbox(&h, t, &d, "newcomer").await;
    let refused = admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes/{}/restore", ids[0]),
            json!({}),
        )
        .await
        .expect(409);
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("needs a free seat"),
        "{refused}"
    );
    assert_eq!(status(&h, t, &ids[0]).await, "deleted", "nothing changed");
    // Nor does a deleted mailbox take a licence another way.
    admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes/{}/licences", ids[0]),
            json!({ "sku": "exchange-mailbox" }),
        )
        .await
        .expect(409);
}
e2e!(a_restore_needs_a_free_seat);

async fn end_of_service_destroys_a_mailbox_inside_its_window_with_the_rest(h: Harness) {
    let (t, d, m) = mailbox_with_mail(&h, "alice").await;
    let bob = fixtures::mailbox(&h, t, &d, "bob").await;
    let admin = h.customer_admin(t);
    admin
        .delete(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(204);
    let path = format!("/v1/tenants/{t}/termination");
    admin
        .post(&path, json!({ "export_window_days": 0 }))
        .await
        .expect(201);
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    let closed = admin.get(&path).await.expect(200);
    assert_eq!(closed["state"], "closed", "{closed}");
    // The certificate names the deleted mailbox too: the tenant's erase destroyed its data.
    let named: Vec<&str> = closed["certificate"]["certificate"]["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        named.contains(&m.as_str()) && named.contains(&bob.as_str()),
        "{closed}"
    );
    assert_eq!(closed["certificate"]["certificate"]["objects"], 1);
    // The window's job, when it comes, finds the mailbox gone and fails nothing.
    h.clock.advance(time::Duration::days(31));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
}
e2e_stores!(end_of_service_destroys_a_mailbox_inside_its_window_with_the_rest);
