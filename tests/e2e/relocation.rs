//! A tenant's move between two regions, each with a Dovecot back end of its own: its mail
//! (delivered over SMTP and imported) is copied by dsync, its routing switched, mail
//! delivered during the move kept, the old copy destroyed, and all of it reads the same in
//! the new region, also when every step of the move runs twice (a worker killed before its
//! commit); and a move from a region on the embedded file store into Dovecot, by export and
//! import.

use std::sync::Arc;

use serde_json::{Value, json};

use mailplane::data_plane::{DataPlane, MailHosts, StoredMessage};
use mailplane::types::{MailboxId, TenantId};
use mailplane_tests::mail_clients::smtp_send;
use mailplane_tests::mailstack::MailStack;
use mailplane_tests::{Harness, e2e, fixtures};

/// The two back ends, `eu` and `ca`, serving the lookups of a control plane that knows both,
/// which the harness's app then serves.
async fn two_regions(h: &mut Harness) -> Option<(MailStack, MailStack)> {
    let mut eu = MailStack::start(h).await?;
    let mut ca = MailStack::start_beside(h, &eu).await?;
    let files = mailplane::data_plane::FileDataPlane::open(
        &h.mail_dir.join("mail"),
        &h.mail_dir.join("master.key"),
    )
    .expect("the harness's data plane");
    let hosts = MailHosts {
        regions: [eu.mail_hosts("eu").regions, ca.mail_hosts("ca").regions].concat(),
    };
    let control_plane = h
        .control_plane
        .clone()
        .with_mail_hosts(&hosts, files.keys())
        .expect("mail hosts");
    eu.serve_lookups_from(control_plane.clone()).await;
    ca.serve_lookups_from(control_plane.clone()).await;
    h.use_control_plane(control_plane);
    Some((eu, ca))
}

fn plane(h: &Harness, region: &str) -> Arc<dyn DataPlane> {
    h.control_plane
        .data_planes()
        .expect("data planes")
        .for_region(region)
        .clone()
}

async fn exported(
    plane: &Arc<dyn DataPlane>,
    t: TenantId,
    m: MailboxId,
) -> Vec<(StoredMessage, Vec<u8>)> {
    let mut out = Vec::new();
    plane
        .export(t, m, &mut |message, bytes| {
            out.push((message.clone(), bytes.to_vec()));
            Ok(())
        })
        .await
        .expect("exported");
    out
}

/// Sends a message to alice through `stack`'s Postfix, from a sender of its own: Postfix's
/// queue manager keeps the last routing it resolved for the same sender and recipient, a
/// delivery routed before the switch that the relocation's grace period is for.
async fn send(stack: &MailStack, subject: &str) {
    let sender = format!("{}@elsewhere.test", subject.replace(' ', "-"));
    let sent = smtp_send(
        stack.smtp(),
        None,
        &sender,
        &["alice@acme.example"],
        subject,
        &format!("Body of {subject}"),
    )
    .await
    .expect("a session");
    assert!(sent.accepted(), "{sent:?}\n{}", stack.logs());
}

async fn relocation(h: &Harness, t: TenantId) -> Value {
    h.provider_admin()
        .get(&format!("/v1/tenants/{t}/relocation"))
        .await
        .expect(200)
}

/// A tenant of `eu` with a mailbox holding one delivered and one imported message.
async fn tenant_with_mail(h: &Harness, eu: &MailStack) -> (TenantId, MailboxId) {
    let t = fixtures::tenant(h, "Acme").await;
    let d = fixtures::domain(h, t, "acme.example").await;
    let m: MailboxId = fixtures::mailbox(h, t, &d, "alice")
        .await
        .parse()
        .expect("a mailbox id");
    let region = h
        .provider_admin()
        .get(&format!("/v1/tenants/{t}"))
        .await
        .expect(200)["region"]
        .clone();
    assert_eq!(region, "eu");
    send(eu, "delivered before the move").await;
    let old = plane(h, "eu");
    eu.eventually("the first message reaches eu", || async {
        old.usage(t, m).await.expect("usage").messages == 1
    })
    .await;
    let imported: &[u8] = b"From: Old System <old@example.net>\r\nDate: Fri, 5 Jan 2024 10:00:00 +0000\r\nSubject: migrated\r\n\r\ncaf\xc3\xa9 \xe9\xff\r\n";
    h.customer_admin(t)
        .post_raw(
            &format!("/v1/tenants/{t}/mailboxes/{m}/messages"),
            "message/rfc822",
            imported.to_vec(),
        )
        .await
        .expect(201);
    (t, m)
}

async fn a_tenant_moves_to_another_dovecot_with_its_mail_and_loses_none(mut h: Harness) {
    let Some((eu, ca)) = two_regions(&mut h).await else {
        return;
    };
    let (old, new) = (plane(&h, "eu"), plane(&h, "ca"));
    let (t, m) = tenant_with_mail(&h, &eu).await;
    let before = exported(&old, t, m).await;
    assert_eq!(before.len(), 2);

    h.provider_admin()
        .post(
            &format!("/v1/tenants/{t}/region"),
            json!({ "region": "ca" }),
        )
        .await
        .expect(200);
    let r = relocation(&h, t).await;
    assert_eq!(
        (r["state"].as_str(), r["from"].as_str(), r["to"].as_str()),
        (Some("copying"), Some("eu"), Some("ca")),
        "{r}"
    );
    // A second move while this one runs is refused.
    h.provider_admin()
        .post(
            &format!("/v1/tenants/{t}/region"),
            json!({ "region": "eu" }),
        )
        .await
        .expect(409);

    // The copy: the mail is at ca too, and the tenant still in eu.
    let ran = h.control_plane.jobs_run_one_due().await.expect("a step");
    assert_eq!(ran, Some(("relocation".into(), "copy".into())));
    assert_eq!(new.usage(t, m).await.expect("usage").messages, 2);
    assert_eq!(relocation(&h, t).await["state"], "switching");
    // Mail delivered between the copy and the switch still goes to eu.
    send(&eu, "delivered during the move").await;
    eu.eventually("the mid-move message reaches eu", || async {
        old.usage(t, m).await.expect("usage").messages == 3
    })
    .await;

    // The switch: the region changes, and new mail goes to ca.
    let ran = h.control_plane.jobs_run_one_due().await.expect("a step");
    assert_eq!(ran, Some(("relocation".into(), "switch".into())));
    let tenant = h
        .provider_admin()
        .get(&format!("/v1/tenants/{t}"))
        .await
        .expect(200);
    assert_eq!(tenant["region"], "ca");
    assert_eq!(
        h.control_plane
            .mail_lookups()
            .transport("acme.example")
            .await
            .expect("a transport"),
        Some((std::net::Ipv4Addr::LOCALHOST, ca.config.lmtp_port).into())
    );
    send(&eu, "delivered after the switch").await;
    eu.eventually("the message after the switch reaches ca", || async {
        new.usage(t, m).await.expect("usage").messages == 3
    })
    .await;
    assert_eq!(relocation(&h, t).await["state"], "catching_up");
    // The catch-up waits for the grace period.
    assert_eq!(h.run_jobs().await.steps, 0);
    h.clock.advance(time::Duration::minutes(11));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    let r = relocation(&h, t).await;
    assert_eq!(r["state"], "done", "{r}");
    assert_eq!(r["missing_messages"], 0);
    assert_eq!(r["erased_mailboxes"], 1);

    // None of it remains at eu: the home is gone, and nothing is counted.
    let home = eu
        .config
        .mail_root()
        .join(t.to_string())
        .join(m.to_string());
    assert!(!home.exists(), "{} is left", home.display());
    assert_eq!(old.usage(t, m).await.expect("usage").messages, 0);

    // All of it reads at ca: the messages from before byte for byte, with their ids and
    // dates, the one delivered during the move, and the one after the switch.
    let after = exported(&new, t, m).await;
    assert_eq!(
        after.len(),
        4,
        "{:?}",
        after.iter().map(|m| &m.0).collect::<Vec<_>>()
    );
    for (message, bytes) in &before {
        assert!(
            after.iter().any(|(m, b)| m.id == message.id
                && m.received_at == message.received_at
                && b == bytes),
            "message {} is not at ca as it was at eu",
            message.id
        );
    }
    for subject in ["delivered during the move", "delivered after the switch"] {
        assert!(
            after
                .iter()
                .any(|(_, b)| String::from_utf8_lossy(b)
                    .contains(&format!("Subject: {subject}\r\n"))),
            "`{subject}` is lost"
        );
    }
    // Through the API too, and new mail keeps going to ca.
    let usage = h
        .customer_admin(t)
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}/usage"))
        .await
        .expect(200);
    assert_eq!(usage["messages"], 4, "{usage}");
    send(&eu, "delivered after the move").await;
    eu.eventually("mail after the move reaches ca", || async {
        new.usage(t, m).await.expect("usage").messages == 5
    })
    .await;
    assert_eq!(
        old.usage(t, m).await.expect("usage").messages,
        0,
        "nothing went to eu again"
    );
}
e2e!(a_tenant_moves_to_another_dovecot_with_its_mail_and_loses_none);

async fn a_move_whose_every_step_runs_twice_still_ends_complete(mut h: Harness) {
    let Some((eu, _ca)) = two_regions(&mut h).await else {
        return;
    };
    let (old, new) = (plane(&h, "eu"), plane(&h, "ca"));
    let (t, m) = tenant_with_mail(&h, &eu).await;
    let before = exported(&old, t, m).await;
    h.provider_admin()
        .post(
            &format!("/v1/tenants/{t}/region"),
            json!({ "region": "ca" }),
        )
        .await
        .expect(200);
    // Each step does its work, "dies" before its commit, and is run again.
    let report = h
        .control_plane
        .jobs_run_due_each_step_twice()
        .await
        .expect("the worker");
    assert_eq!((report.steps, report.failed), (2, 0), "copy and switch");
    h.clock.advance(time::Duration::minutes(11));
    let report = h
        .control_plane
        .jobs_run_due_each_step_twice()
        .await
        .expect("the worker");
    assert_eq!((report.steps, report.failed), (2, 0), "catch-up and erase");
    let r = relocation(&h, t).await;
    assert_eq!(r["state"], "done", "{r}");
    let ledger = h
        .control_plane
        .job_ledger("relocation", t.uuid())
        .await
        .expect("the ledger");
    assert_eq!(
        ledger.iter().map(|s| s.step.as_str()).collect::<Vec<_>>(),
        ["copy", "switch", "catch-up", "erase"]
    );
    let after = exported(&new, t, m).await;
    assert_eq!(
        after
            .iter()
            .map(|(m, b)| (m.id, b.clone()))
            .collect::<Vec<_>>(),
        before
            .iter()
            .map(|(m, b)| (m.id, b.clone()))
            .collect::<Vec<_>>(),
        "the mail at ca is the mail eu had, once each"
    );
    assert!(
        !eu.config
            .mail_root()
            .join(t.to_string())
            .join(m.to_string())
            .exists()
    );
    assert_eq!(old.usage(t, m).await.expect("usage").messages, 0);
}
e2e!(a_move_whose_every_step_runs_twice_still_ends_complete);

async fn a_tenant_moves_from_the_file_store_to_dovecot_with_its_mail(mut h: Harness) {
    // `eu` keeps its mail in Dovecot; `ca` has no mail host and keeps it in the file store.
    let Some(mut eu) = MailStack::start(&h).await else {
        return;
    };
    let files = mailplane::data_plane::FileDataPlane::open(
        &h.mail_dir.join("mail"),
        &h.mail_dir.join("master.key"),
    )
    .expect("the harness's data plane");
    let control_plane = h
        .control_plane
        .clone()
        .with_mail_hosts(&eu.mail_hosts("eu"), files.keys())
        .expect("mail hosts");
    eu.serve_lookups_from(control_plane.clone()).await;
    h.use_control_plane(control_plane);
    let (old, new) = (plane(&h, "ca"), plane(&h, "eu"));

    let t = h
        .provider_admin()
        .post("/v1/tenants", json!({ "name": "Maple", "region": "ca" }))
        .await
        .expect(201);
    let t: TenantId = t["id"].as_str().unwrap().parse().unwrap();
    let d = fixtures::domain(&h, t, "maple.example").await;
    let m: MailboxId = fixtures::mailbox(&h, t, &d, "bob")
        .await
        .parse()
        .expect("a mailbox id");
    for subject in ["first", "second"] {
        let message = format!(
            "From: Old System <old@example.net>\r\nDate: Fri, 5 Jan 2024 10:00:00 +0000\r\nSubject: {subject}\r\n\r\nThe {subject} message, caf\u{e9}.\r\n"
        );
        h.customer_admin(t)
            .post_raw(
                &format!("/v1/tenants/{t}/mailboxes/{m}/messages"),
                "message/rfc822",
                message.into_bytes(),
            )
            .await
            .expect(201);
    }
    let before = exported(&old, t, m).await;
    assert_eq!(before.len(), 2);
    assert_eq!(new.usage(t, m).await.expect("usage").messages, 0);

    h.provider_admin()
        .post(
            &format!("/v1/tenants/{t}/region"),
            json!({ "region": "eu" }),
        )
        .await
        .expect(200);
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    h.clock.advance(time::Duration::minutes(11));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    let r = relocation(&h, t).await;
    assert_eq!(r["state"], "done", "{r}");

    // Every message is in Dovecot, byte for byte with its received time (to the second, as
    // IMAP keeps it), and the file store holds none of them any more.
    let after = exported(&new, t, m).await;
    assert_eq!(after.len(), 2);
    for (message, bytes) in &before {
        assert!(
            after.iter().any(|(m, b)| b == bytes
                && m.received_at.unix_timestamp() == message.received_at.unix_timestamp()),
            "message {} is not in Dovecot as it was in the file store",
            message.id
        );
    }
    assert_eq!(old.usage(t, m).await.expect("usage").messages, 0);
    let usage = h
        .customer_admin(t)
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}/usage"))
        .await
        .expect(200);
    assert_eq!(usage["messages"], 2, "{usage}");
}
e2e!(a_tenant_moves_from_the_file_store_to_dovecot_with_its_mail);

async fn a_mailbox_deleted_during_a_move_leaves_no_copy_in_either_region(mut h: Harness) {
    let Some((eu, ca)) = two_regions(&mut h).await else {
        return;
    };
    let (old, new) = (plane(&h, "eu"), plane(&h, "ca"));
    let (t, m) = tenant_with_mail(&h, &eu).await;
    h.provider_admin()
        .post(
            &format!("/v1/tenants/{t}/region"),
            json!({ "region": "ca" }),
        )
        .await
        .expect(200);
    let ran = h.control_plane.jobs_run_one_due().await.expect("a step");
    assert_eq!(ran, Some(("relocation".into(), "copy".into())));
    assert_eq!(new.usage(t, m).await.expect("usage").messages, 2);

    // Deleted between the copy and the switch, it is kept for its undelete window; when
    // the window closes, it is gone from both regions.
    h.customer_admin(t)
        .delete(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(204);
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(new.usage(t, m).await.expect("usage").messages, 2);
    h.clock.advance(time::Duration::days(31));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    for (plane, stack, region) in [(&old, &eu, "eu"), (&new, &ca, "ca")] {
        let home = stack
            .config
            .mail_root()
            .join(t.to_string())
            .join(m.to_string());
        assert!(!home.exists(), "{} is left", home.display());
        assert_eq!(
            plane.usage(t, m).await.expect("usage").messages,
            0,
            "a copy is left in {region}"
        );
    }
    // The move itself goes on and ends.
    h.clock.advance(time::Duration::minutes(11));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(relocation(&h, t).await["state"], "done");
}
e2e!(a_mailbox_deleted_during_a_move_leaves_no_copy_in_either_region);

async fn a_tenant_moves_there_and_back_with_all_its_mail(mut h: Harness) {
    let Some((eu, ca)) = two_regions(&mut h).await else {
        return;
    };
    let (first, second) = (plane(&h, "eu"), plane(&h, "ca"));
    let (t, m) = tenant_with_mail(&h, &eu).await;
    let before = exported(&first, t, m).await;
    for (to, here, there, stack) in [("ca", &second, &first, &eu), ("eu", &first, &second, &ca)] {
        h.provider_admin()
            .post(&format!("/v1/tenants/{t}/region"), json!({ "region": to }))
            .await
            .expect(200);
        let report = h.run_jobs().await;
        assert_eq!(report.failed, 0, "{report:?} {}", relocation(&h, t).await);
        h.clock.advance(time::Duration::minutes(11));
        let report = h.run_jobs().await;
        assert_eq!(report.failed, 0, "{report:?}");
        let r = relocation(&h, t).await;
        assert_eq!(
            (r["state"].as_str(), r["to"].as_str()),
            (Some("done"), Some(to)),
            "{r}"
        );
        let after = exported(here, t, m).await;
        assert_eq!(
            after
                .iter()
                .map(|(m, b)| (m.id, b.clone()))
                .collect::<Vec<_>>(),
            before
                .iter()
                .map(|(m, b)| (m.id, b.clone()))
                .collect::<Vec<_>>(),
            "the mail in {to} is the mail the tenant had, once each"
        );
        let home = stack
            .config
            .mail_root()
            .join(t.to_string())
            .join(m.to_string());
        assert!(!home.exists(), "{} is left", home.display());
        assert_eq!(there.usage(t, m).await.expect("usage").messages, 0);
    }
}
e2e!(a_tenant_moves_there_and_back_with_all_its_mail);
