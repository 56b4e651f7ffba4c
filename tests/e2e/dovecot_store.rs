//! The Dovecot data plane on a real Postfix and Dovecot: mail that arrives over SMTP and mail
//! imported through Mailplane live in the same encrypted store, are exported byte for byte,
//! age out, and become unreadable at once when the tenant's data key is erased; the tenant's
//! exports (zip of .eml files and mbox) hold mail that arrived over SMTP byte for byte.

use std::io::Read;
use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::macros::datetime;

use mailplane::data_plane::DataPlane;
use mailplane::types::{MailboxId, TenantId};
use mailplane_tests::mail_clients::{Imap, smtp_send};
use mailplane_tests::mailstack::MailStack;
use mailplane_tests::{Harness, e2e, e2e_stores, fixtures};

const PASSWORD: &str = "Correct-Horse-42-Battery";

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if !kind.is_file() {
                // Sockets and FIFOs hold nothing at rest (and reading a FIFO would block).
                continue;
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// The exact bytes of message `uid` in INBOX as the mailbox itself reads them over IMAP.
async fn body_over_imap(imap: &mut Imap, uid: u32) -> Vec<u8> {
    let select = imap.command("SELECT INBOX").await;
    assert!(select.status.starts_with("OK"), "{select:?}");
    let fetch = imap
        .command(&format!("UID FETCH {uid} (BODY.PEEK[])"))
        .await;
    assert!(fetch.status.starts_with("OK"), "{fetch:?}");
    // The test client inlines a literal after a newline, and the answer's `)` after it.
    let line = fetch.data.first().expect("a FETCH answer");
    let open = line.find('{').expect("a literal");
    let close = line[open..].find('}').expect("a literal") + open;
    let n: usize = line[open + 1..close].parse().expect("a literal's length");
    line.as_bytes()[close + 2..close + 2 + n].to_vec()
}

async fn mail_delivered_and_imported_is_encrypted_exported_exactly_and_erased_with_the_tenant_key(
    h: Harness,
) {
    let Some(stack) = MailStack::start(&h).await else {
        return;
    };
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    let m = fixtures::mailbox(&h, t, &d, "alice").await;
    h.customer_admin(t)
        .put(
            &format!("/v1/tenants/{t}/mailboxes/{m}/password"),
            json!({ "password": PASSWORD }),
        )
        .await
        .expect(200);
    let (tenant, mailbox): (TenantId, MailboxId) = (t, m.parse().expect("a mailbox id"));
    let store = stack.dovecot_data_plane(&h);
    store
        .provision_mailbox(tenant, mailbox)
        .await
        .expect("provisioned");
    store
        .provision_mailbox(tenant, mailbox)
        .await
        .expect("provisioning again changes nothing");
    assert_eq!(
        store.usage(tenant, mailbox).await.expect("usage").messages,
        0
    );

    // Mail from the world, through Postfix and Dovecot's LMTP.
    let marker = format!("MARKER{}", uuid::Uuid::now_v7().simple());
    let sent = smtp_send(
        stack.smtp(),
        None,
        "bob@elsewhere.test",
        &["alice@acme.example"],
        &format!("Subject {marker}"),
        &format!("Body {marker}"),
    )
    .await
    .expect("a session");
    assert!(sent.accepted(), "{sent:?}\n{}", stack.logs());
    stack
        .eventually("the message reaches Dovecot", || async {
            store.usage(tenant, mailbox).await.expect("usage").messages == 1
        })
        .await;

    // Mail imported through Mailplane, with its own received date and 8-bit bytes.
    let imported: &[u8] = b"From: Old System <old@example.net>\r\nDate: Fri, 5 Jan 2024 10:00:00 +0000\r\nSubject: migrated\r\n\r\ncaf\xc3\xa9 \xe9\xff\r\n.\r\n) a line that looks like the end\r\n";
    let stored = store
        .import(
            tenant,
            mailbox,
            imported,
            datetime!(2024-01-05 10:00:00 UTC),
        )
        .await
        .unwrap_or_else(|e| panic!("imported: {e:?}\n{}", stack.logs()));
    assert_eq!(stored.received_at, datetime!(2024-01-05 10:00:00 UTC));
    assert_eq!(stored.size, imported.len() as u64);
    assert_eq!(
        store.read(tenant, mailbox, stored.id).await.expect("read"),
        imported,
        "an imported message reads back byte for byte"
    );

    // Nothing of either message is on disk in clear: not the files, the indexes, the keys.
    // (The search reaches the messages' files, which mail_crypt marks as its own.)
    assert_eq!(
        files_containing(&stack.config.mail_root(), b"CRYPTED").len(),
        2,
        "the two messages' files"
    );
    for dir in [
        stack.config.mail_root(),
        stack.config.state_dir.join("dovecot"),
    ] {
        let leaks = files_containing(&dir, marker.as_bytes());
        assert!(leaks.is_empty(), "the marker is readable in {leaks:?}");
        let leaks = files_containing(&dir, b"migrated");
        assert!(
            leaks.is_empty(),
            "the imported subject is readable in {leaks:?}"
        );
    }

    // The export: oldest first, each message as the mailbox itself reads it over IMAP.
    let mut exported = Vec::new();
    store
        .export(tenant, mailbox, &mut |message, bytes| {
            exported.push((message.clone(), bytes.to_vec()));
            Ok(())
        })
        .await
        .expect("exported");
    assert_eq!(exported.len(), 2);
    assert_eq!(exported[0].1, imported);
    assert_eq!(exported[0].0.id, stored.id);
    let delivered = &exported[1].1;
    let text = String::from_utf8_lossy(delivered);
    assert!(
        text.contains(&format!("Subject: Subject {marker}\r\n")),
        "{text}"
    );
    assert!(text.contains(&format!("Body {marker}")), "{text}");
    let mut imap = Imap::login(stack.imap(), "alice@acme.example", PASSWORD)
        .await
        .expect("alice signs in");
    // The delivered message was the mailbox's first.
    assert_eq!(
        &body_over_imap(&mut imap, 1).await,
        delivered,
        "the export holds the delivered message byte for byte"
    );

    // Retention: the imported message is older than the cutoff, the delivered one is not.
    let deleted = store
        .delete_older_than(tenant, mailbox, datetime!(2025-01-01 00:00:00 UTC))
        .await
        .expect("deleted by age");
    assert_eq!(deleted.messages, 1);
    let again = store
        .delete_older_than(tenant, mailbox, datetime!(2025-01-01 00:00:00 UTC))
        .await
        .expect("deleting again");
    assert_eq!(again.messages, 0, "a retry deletes nothing more");
    assert_eq!(
        store.usage(tenant, mailbox).await.expect("usage").messages,
        1
    );

    // The erase: from the key's removal on, nothing of the tenant opens.
    assert!(store.tenant_readable(tenant).await.expect("readable"));
    let erasure = store.crypto_erase_tenant(tenant).await.expect("erased");
    assert_eq!((erasure.mailboxes, erasure.messages), (1, 1));
    assert_eq!(erasure.key_ids.len(), 1);
    assert!(!store.tenant_readable(tenant).await.expect("readable"));
    assert!(
        store.read(tenant, mailbox, exported[1].0.id).await.is_err(),
        "a message read after the erase"
    );
    assert_eq!(
        store
            .crypto_erase_tenant(tenant)
            .await
            .expect("erased again"),
        erasure,
        "a retry answers what the first erase destroyed"
    );

    // The purge removes the files, and says what they held.
    let purged = store.purge_tenant(tenant).await.expect("purged");
    assert_eq!(purged.messages, 1);
    assert!(!stack.config.mail_root().join(tenant.to_string()).exists());
    assert_eq!(
        store.usage(tenant, mailbox).await.expect("usage").messages,
        0
    );
}
e2e!(mail_delivered_and_imported_is_encrypted_exported_exactly_and_erased_with_the_tenant_key);

async fn a_region_with_a_dovecot_back_end_gets_its_mail_there_and_others_wait(h: Harness) {
    // The mail stack's own transport leads nowhere: only the region's mail host delivers.
    let Some(mut stack) =
        MailStack::start_with(&h, &["virtual_transport = lmtp:inet:127.0.0.1:9"]).await
    else {
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
        .with_mail_hosts(&stack.mail_hosts("eu"), files.keys())
        .expect("mail hosts");
    stack.serve_lookups_from(control_plane.clone()).await;

    // A tenant of the region `eu`, whose back end is this Dovecot.
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    let m: MailboxId = fixtures::mailbox(&h, t, &d, "alice")
        .await
        .parse()
        .expect("a mailbox id");
    // A tenant of the region `ca`, which has no back end of its own.
    let other = h
        .provider_admin()
        .post("/v1/tenants", json!({ "name": "Maple", "region": "ca" }))
        .await
        .expect(201);
    let other: TenantId = other["id"].as_str().unwrap().parse().unwrap();
    let d2 = fixtures::domain(&h, other, "maple.example").await;
    fixtures::mailbox(&h, other, &d2, "bob").await;

    let lookups = control_plane.mail_lookups();
    assert_eq!(
        lookups
            .transport("acme.example")
            .await
            .expect("a transport"),
        Some((std::net::Ipv4Addr::LOCALHOST, stack.config.lmtp_port).into())
    );
    assert_eq!(
        lookups
            .transport("alice@acme.example")
            .await
            .expect("a transport"),
        lookups
            .transport("acme.example")
            .await
            .expect("a transport"),
        "Postfix asks with the whole address"
    );
    assert_eq!(
        lookups
            .transport("maple.example")
            .await
            .expect("a transport"),
        None
    );
    for to in ["alice@acme.example", "bob@maple.example"] {
        let sent = smtp_send(
            stack.smtp(),
            None,
            "x@elsewhere.test",
            &[to],
            "Hi",
            "Hello.",
        )
        .await
        .expect("a session");
        assert!(sent.accepted(), "{to}: {sent:?}\n{}", stack.logs());
    }
    let planes = control_plane.data_planes().expect("data planes");
    let eu = planes.for_region("eu").clone();
    stack
        .eventually("alice's message reaches the region's back end", || async {
            eu.usage(t, m).await.expect("usage").messages == 1
        })
        .await;
    // Bob's region has no mail host: his mail waits in Postfix's queue for the default
    // transport, deferred and never bounced.
    stack
        .eventually("bob's message is deferred", || async {
            stack.logs().contains("to=<bob@maple.example>")
                && stack.logs().contains("status=deferred")
        })
        .await;
    assert!(!stack.logs().contains("status=bounced"), "{}", stack.logs());

    // The mailbox was recorded when Dovecot first asked for it, without any provisioning:
    // the tenant's erase counts it, and its purge removes its files.
    let erasure = planes.crypto_erase_tenant(t).await.expect("erased");
    assert_eq!((erasure.mailboxes, erasure.messages), (1, 1));
    assert!(!planes.tenant_readable(t).await.expect("readable"));
    planes.purge_tenant(t).await.expect("purged");
    assert!(!stack.config.mail_root().join(t.to_string()).exists());
}
e2e!(a_region_with_a_dovecot_back_end_gets_its_mail_there_and_others_wait);

/// Asks for an export of the whole tenant in `format`, runs the jobs and downloads it.
async fn downloaded_export(h: &Harness, t: TenantId, format: &str) -> (Value, Vec<u8>) {
    let path = format!("/v1/tenants/{t}/exports");
    let customer = h.customer_admin(t);
    let created = customer
        .post(&path, json!({ "format": format }))
        .await
        .expect(201);
    assert_eq!(h.run_jobs().await.failed, 0);
    let ready = customer
        .get(&format!("{path}/{}", created["id"].as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(ready["state"], "ready", "{ready}");
    let got = h
        .anonymous()
        .get(ready["download_url"].as_str().unwrap())
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    (ready["manifest"].clone(), got.bytes)
}

/// The messages of an mboxrd file, as they were before it was written: the separator lines
/// and the empty line after each message dropped, one `>` taken from each `>…From ` line.
fn mbox_messages(mbox: &[u8]) -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> = Vec::new();
    for line in mbox.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b"From ") {
            messages.push(Vec::new());
            continue;
        }
        let current = messages.last_mut().expect("a separator line first");
        let quoted = line.iter().take_while(|b| **b == b'>').count();
        if quoted > 0 && line[quoted..].starts_with(b"From ") {
            current.extend_from_slice(&line[1..]);
        } else {
            current.extend_from_slice(line);
        }
    }
    for message in &mut messages {
        assert_eq!(
            message.pop(),
            Some(b'\n'),
            "each message ends with an empty line"
        );
    }
    messages
}

async fn mail_that_arrives_over_smtp_is_exported_as_the_mailbox_reads_it(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    let m = fixtures::mailbox(&h, t, &d, "alice").await;
    h.customer_admin(t)
        .put(
            &format!("/v1/tenants/{t}/mailboxes/{m}/password"),
            json!({ "password": PASSWORD }),
        )
        .await
        .expect(200);
    let mailbox: MailboxId = m.parse().expect("a mailbox id");
    // Two messages from the world, one with lines an mbox must quote.
    let bodies = [
        "Hello Alice.\r\nSee you on Monday.".to_string(),
        "From the start, a line an mbox quotes.\r\n>From an already quoted one.\r\nEnd."
            .to_string(),
    ];
    for (n, body) in bodies.iter().enumerate() {
        let sent = smtp_send(
            h.stack().smtp(),
            None,
            "bob@elsewhere.test",
            &["alice@acme.example"],
            &format!("Message {n}"),
            body,
        )
        .await
        .expect("a session");
        assert!(sent.accepted(), "{sent:?}\n{}", h.stack().logs());
    }
    h.stack()
        .eventually("both messages reach Dovecot", || async {
            h.data_plane()
                .usage(t, mailbox)
                .await
                .expect("usage")
                .messages
                == 2
        })
        .await;
    let mut imap = Imap::login(h.stack().imap(), "alice@acme.example", PASSWORD)
        .await
        .expect("alice signs in");
    let mut read = vec![
        body_over_imap(&mut imap, 1).await,
        body_over_imap(&mut imap, 2).await,
    ];
    read.sort();

    // The zip of .eml files: one file per message, as the mailbox reads it, listed in the
    // manifest with its digest.
    let (manifest, zip) = downloaded_export(&h, t, "eml-zip").await;
    assert_eq!(manifest["messages"], 2);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a zip");
    let mut inner = String::new();
    zip.by_name("manifest.json")
        .expect("a manifest")
        .read_to_string(&mut inner)
        .unwrap();
    let inner: Value = serde_json::from_str(&inner).unwrap();
    let mut exported = Vec::new();
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
        exported.push(bytes);
    }
    exported.sort();
    assert_eq!(
        exported, read,
        "the .eml files are the messages as IMAP reads them"
    );

    // The mbox: the same messages, quoted and unquoted again.
    let (manifest, mbox) = downloaded_export(&h, t, "mbox").await;
    assert_eq!(manifest["messages"], 2);
    let text = String::from_utf8_lossy(&mbox);
    assert!(text.contains("\n>From the start"), "{text}");
    assert!(text.contains("\n>>From an already quoted"), "{text}");
    let mut exported = mbox_messages(&mbox);
    exported.sort();
    assert_eq!(
        exported, read,
        "the mbox holds the messages as IMAP reads them"
    );
}
e2e_stores!(
    mail_that_arrives_over_smtp_is_exported_as_the_mailbox_reads_it,
    dovecot_only
);

async fn the_data_plane_ends_the_open_sessions_of_a_mailbox(h: Harness) {
    let Some(stack) = MailStack::start(&h).await else {
        return;
    };
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    let alice = fixtures::mailbox(&h, t, &d, "alice").await;
    let bob = fixtures::mailbox(&h, t, &d, "bob").await;
    for m in [&alice, &bob] {
        h.customer_admin(t)
            .put(
                &format!("/v1/tenants/{t}/mailboxes/{m}/password"),
                json!({ "password": PASSWORD }),
            )
            .await
            .expect(200);
    }
    let mut alice_session = Imap::login(stack.imap(), "alice@acme.example", PASSWORD)
        .await
        .expect("alice signs in");
    let mut bob_session = Imap::login(stack.imap(), "bob@acme.example", PASSWORD)
        .await
        .expect("bob signs in");
    let store = stack.dovecot_data_plane(&h);
    store
        .end_sessions(t, &["alice@acme.example".to_string()])
        .await
        .expect("the sessions end");
    assert!(
        alice_session
            .ended_within(std::time::Duration::from_secs(10))
            .await,
        "alice's session is still open\n{}",
        stack.logs()
    );
    // Only the user named: bob's session goes on, and a user with no session is no error.
    assert!(
        !bob_session
            .ended_within(std::time::Duration::from_millis(300))
            .await
    );
    let noop = bob_session.command("NOOP").await;
    assert!(noop.status.starts_with("OK"), "{noop:?}");
    store
        .end_sessions(t, &["nobody@acme.example".to_string()])
        .await
        .expect("no session is no failure");
}
e2e!(the_data_plane_ends_the_open_sessions_of_a_mailbox);

async fn suspensions_and_deletions_end_the_sessions_opened_before(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    let admin = h.customer_admin(t);
    let mut sessions = Vec::new();
    let mut ids = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let m = fixtures::mailbox(&h, t, &d, name).await;
        admin
            .put(
                &format!("/v1/tenants/{t}/mailboxes/{m}/password"),
                json!({ "password": PASSWORD }),
            )
            .await
            .expect(200);
        let session = Imap::login(h.stack().imap(), &format!("{name}@acme.example"), PASSWORD)
            .await
            .expect("signs in");
        sessions.push(session);
        ids.push(m);
    }
    let [alice, bob, carol] = &mut sessions[..] else {
        unreachable!()
    };
    let ended = std::time::Duration::from_secs(10);
    let goes_on = std::time::Duration::from_millis(300);

    // Deleting alice's mailbox ends her session, once the job committed with it runs.
    admin
        .delete(&format!("/v1/tenants/{t}/mailboxes/{}", ids[0]))
        .await
        .expect(204);
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    assert!(alice.ended_within(ended).await, "{}", h.stack().logs());
    assert!(!bob.ended_within(goes_on).await);

    // Suspending bob's mailbox alone ends his session, and only his.
    h.provider_admin()
        .post(
            &format!("/v1/tenants/{t}/suspensions"),
            json!({ "reason": "abuse", "mailbox_id": ids[1], "note": "sends spam" }),
        )
        .await
        .expect(201);
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    assert!(bob.ended_within(ended).await, "{}", h.stack().logs());
    assert!(!carol.ended_within(goes_on).await);
    let noop = carol.command("NOOP").await;
    assert!(noop.status.starts_with("OK"), "{noop:?}");

    // Suspending the tenant ends every session left.
    h.provider_admin()
        .post(
            &format!("/v1/tenants/{t}/suspensions"),
            json!({ "reason": "legal", "note": "court order" }),
        )
        .await
        .expect(201);
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    assert!(carol.ended_within(ended).await, "{}", h.stack().logs());
    assert!(
        Imap::login(h.stack().imap(), "carol@acme.example", PASSWORD)
            .await
            .is_err(),
        "a suspended tenant's mailbox signs in again"
    );
}
e2e_stores!(
    suspensions_and_deletions_end_the_sessions_opened_before,
    dovecot_only
);
