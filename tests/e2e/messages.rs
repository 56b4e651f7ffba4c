//! Importing messages through HTTP: RFC 5322 messages stored encrypted at rest by the
//! embedded data plane, with clear 413, 422 and quota refusals, and usage read back.

use serde_json::json;

use mailplane::types::TenantId;
use mailplane_tests::planes::{files_holding, files_under};
use mailplane_tests::{Harness, MAX_TEST_MESSAGE, Plane, e2e, e2e_stores, fixtures};

fn message(subject: &str, body_len: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Old System <alice@old-host.example>\r\nTo: alice@acme.example\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nSubject: {subject}\r\n\r\n"
    )
    .into_bytes();
    m.extend(std::iter::repeat_n(b'x', body_len));
    m
}

async fn setup(h: &Harness) -> (TenantId, String) {
    let t = fixtures::tenant(h, "Acme").await;
    let d = fixtures::default_domain(h, t).await;
    let m = fixtures::mailbox(h, t, &d, "alice").await;
    (t, m)
}

async fn a_migration_tool_fills_a_mailbox(h: Harness) {
    let (t, m) = setup(&h).await;
    let path = format!("/v1/tenants/{t}/mailboxes/{m}/messages");
    let admin = h.customer_admin(t);
    let first = message("the merger plans", 100);
    let stored = admin
        .post_raw(&path, "message/rfc822", first.clone())
        .await
        .expect(201);
    assert_eq!(stored["size"], first.len());
    assert_eq!(stored["sha256"].as_str().unwrap().len(), 64);
    admin
        .post_raw(&path, "message/rfc822", message("second", 10))
        .await
        .expect(201);
    let usage = admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}/usage"))
        .await
        .expect(200);
    assert_eq!(usage["messages"], 2);
    assert_eq!(
        usage["bytes"].as_u64().unwrap(),
        (first.len() + message("second", 10).len()) as u64
    );
    // The inventory counts the same, from the same mail store.
    let inventory = admin
        .get(&format!("/v1/tenants/{t}/inventory"))
        .await
        .expect(200);
    assert_eq!(inventory["storage"]["mailboxes"], 1);
    assert_eq!(inventory["storage"]["messages"], 2);
    assert_eq!(inventory["storage"]["bytes"], usage["bytes"]);
    let csv = admin
        .get(&format!("/v1/tenants/{t}/inventory?format=csv"))
        .await;
    assert!(
        csv.text.contains(&format!(
            "storage,used,,2,{},mailboxes=1\r\n",
            usage["bytes"]
        )),
        "{}",
        csv.text
    );
    // Encrypted at rest: no file under the data plane holds the subject in clear.
    let leaks = files_holding(&h.folders_at_rest(), b"the merger plans");
    assert!(leaks.is_empty(), "the message in clear in {leaks:?}");
    match h.plane {
        Plane::Files => assert_eq!(
            files_under(&[h.mail_dir.join("mail")]).len(),
            3,
            "two messages and the tenant's wrapped data key"
        ),
        // Each message in a file of its own, which mail_crypt marks as its.
        Plane::Dovecot => assert_eq!(
            files_holding(&[h.stack().config.mail_root()], b"CRYPTED").len(),
            2
        ),
    }
}
e2e_stores!(a_migration_tool_fills_a_mailbox);

async fn bad_messages_are_refused_clearly(h: Harness) {
    let (t, m) = setup(&h).await;
    let path = format!("/v1/tenants/{t}/mailboxes/{m}/messages");
    let admin = h.customer_admin(t);
    let not_mail = admin
        .post_raw(
            &path,
            "message/rfc822",
            b"hello, this is not a message".to_vec(),
        )
        .await;
    assert_eq!(not_mail.status, 422);
    assert_eq!(not_mail.body["errors"][0]["field"], "message");
    let no_date = admin
        .post_raw(
            &path,
            "message/rfc822",
            b"From: a@b.example\r\n\r\nbody".to_vec(),
        )
        .await;
    assert_eq!(no_date.status, 422);
    assert!(no_date.body["detail"].as_str().unwrap().contains("Date"));
    let too_big = admin
        .post_raw(&path, "message/rfc822", message("big", MAX_TEST_MESSAGE))
        .await;
    assert_eq!(too_big.status, 413);
    assert_eq!(too_big.body["errors"][0]["field"], "message");
    let wrong_type = admin
        .post_raw(&path, "text/plain", message("typed", 1))
        .await;
    assert_eq!(wrong_type.status, 400);
    // The quota counts: a 1 KiB mailbox takes no 2 KiB message.
    admin
        .patch(
            &format!("/v1/tenants/{t}/mailboxes/{m}"),
            json!({ "quota_bytes": 1024 }),
        )
        .await
        .expect(200);
    let full = admin
        .post_raw(&path, "message/rfc822", message("large", 2048))
        .await;
    assert_eq!(full.status, 409);
    assert_eq!(full.body["errors"][0]["field"], "quota_bytes");
    // Nothing was stored by any refusal.
    let usage = admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}/usage"))
        .await
        .expect(200);
    assert_eq!(usage["messages"], 0);
}
e2e_stores!(bad_messages_are_refused_clearly);

async fn only_the_data_plane_s_accountable_party_imports(h: Harness) {
    let (t, m) = setup(&h).await;
    let path = format!("/v1/tenants/{t}/mailboxes/{m}/messages");
    // The provider is informed of data-plane access (I), the reader only reads.
    for client in [h.provider_admin(), h.customer(t, "tenant-reader")] {
        client
            .post_raw(&path, "message/rfc822", message("x", 1))
            .await
            .expect(403);
    }
    // Another tenant does not see this mailbox.
    let other = fixtures::tenant(&h, "Other").await;
    h.customer_admin(other)
        .post_raw(&path, "message/rfc822", message("x", 1))
        .await
        .expect(404);
    let foreign = format!("/v1/tenants/{other}/mailboxes/{m}/messages");
    h.customer_admin(other)
        .post_raw(&foreign, "message/rfc822", message("x", 1))
        .await
        .expect(404);
}
e2e!(only_the_data_plane_s_accountable_party_imports);

async fn deleting_a_mailbox_removes_its_messages(h: Harness) {
    let (t, m) = setup(&h).await;
    let admin = h.customer_admin(t);
    admin
        .post_raw(
            &format!("/v1/tenants/{t}/mailboxes/{m}/messages"),
            "message/rfc822",
            message("gone soon", 10),
        )
        .await
        .expect(201);
    let dir = h.mailbox_files(t, &m);
    assert!(dir.exists());
    admin
        .delete(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(204);
    h.run_jobs().await;
    assert!(
        dir.exists(),
        "the messages are kept for the undelete window"
    );
    h.clock.advance(time::Duration::days(31));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    assert!(
        !dir.exists(),
        "the mailbox's messages are removed when its window closes"
    );
}
e2e_stores!(deleting_a_mailbox_removes_its_messages);
