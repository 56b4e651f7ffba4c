//! Real mail through a real Postfix and Dovecot that ask Mailplane: tenants, domains,
//! mailboxes, aliases, groups, forwarding and passwords set through the API; messages sent
//! over SMTP; mailboxes read over IMAP. Each test runs its own Postfix and Dovecot (see
//! `mailplane_tests::mailstack`), on SQLite and on PostgreSQL.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use mailplane::types::TenantId;
use mailplane_tests::mail_clients::{Imap, SmtpOutcome, smtp_send, smtp_send_declaring};
use mailplane_tests::mailstack::MailStack;
use mailplane_tests::{Harness, e2e, fixtures};

const PASSWORD: &str = "Correct-Horse-42-Battery";

/// A tenant with a verified domain and a mailbox `alice` whose password is [`PASSWORD`];
/// returns the tenant, the domain's name and the mailbox's id.
async fn alice(h: &Harness) -> (TenantId, String, String) {
    let t = fixtures::tenant(h, "Acme").await;
    let d = fixtures::domain(h, t, "acme.example").await;
    let m = fixtures::mailbox(h, t, &d, "alice").await;
    h.customer_admin(t)
        .put(
            &format!("/v1/tenants/{t}/mailboxes/{m}/password"),
            json!({ "password": PASSWORD }),
        )
        .await
        .expect(200);
    (t, "acme.example".into(), m)
}

async fn a_message_sent_over_smtp_is_read_over_imap_with_the_password_set_through_the_api(
    h: Harness,
) {
    let Some(stack) = MailStack::start(&h).await else {
        return;
    };
    let ids = alice(&h).await;
    let alice = format!("alice@{}", ids.1);
    let sent = smtp_send(
        stack.smtp(),
        None,
        "bob@elsewhere.test",
        &[&alice],
        "Hello Alice",
        "A first message.",
    )
    .await
    .expect("a session");
    assert!(sent.accepted(), "{sent:?}\n{}", stack.logs());
    stack
        .eventually("the message reaches alice's INBOX", || async {
            let mut imap = Imap::login(stack.imap(), &alice, PASSWORD)
                .await
                .expect("alice signs in");
            imap.subjects().await == ["Hello Alice"]
        })
        .await;
    let wrong = Imap::login(stack.imap(), &alice, "Wrong-Horse-42-Battery").await;
    assert!(wrong.is_err(), "a wrong password signs in");
    // A changed password takes effect at the next sign-in; the old one no longer works.
    let (t, _, m) = (ids.0, (), ids.2);
    h.customer_admin(t)
        .put(
            &format!("/v1/tenants/{t}/mailboxes/{m}/password"),
            json!({ "password": "Another-Horse-8-Battery" }),
        )
        .await
        .expect(200);
    assert!(Imap::login(stack.imap(), &alice, PASSWORD).await.is_err());
    Imap::login(stack.imap(), &alice, "Another-Horse-8-Battery")
        .await
        .expect("the new password signs in at once");
    // Submission: the mailbox signs in with its password and sends to another domain, which
    // Postfix relays (to the test's sink, never to the internet).
    let sent = smtp_send(
        stack.submission(),
        Some((&alice, "Another-Horse-8-Battery")),
        &alice,
        &["carol@elsewhere.test"],
        "From Alice",
        "Sent through submission.",
    )
    .await
    .expect("signed in for submission");
    assert!(sent.accepted(), "{sent:?}");
    stack
        .eventually("the relayed message reaches the sink", || async {
            stack
                .sink
                .received()
                .iter()
                .any(|m| m.rcpt == ["carol@elsewhere.test"])
        })
        .await;
    let refused = smtp_send(
        stack.submission(),
        Some((&alice, PASSWORD)),
        &alice,
        &["carol@elsewhere.test"],
        "x",
        "x",
    )
    .await;
    assert!(refused.is_err(), "submission with the old password");
}
e2e!(a_message_sent_over_smtp_is_read_over_imap_with_the_password_set_through_the_api);

/// Sends a short message to `to` through the stack's SMTP port, from outside.
async fn send(stack: &MailStack, to: &[&str], subject: &str) -> SmtpOutcome {
    smtp_send(
        stack.smtp(),
        None,
        "sender@elsewhere.test",
        to,
        subject,
        "Hello.",
    )
    .await
    .expect("an SMTP session")
}

/// Sends like [`send`] and asserts that every recipient accepted the message.
async fn accept(stack: &MailStack, to: &[&str], subject: &str) {
    let outcome = send(stack, to, subject).await;
    assert!(outcome.accepted(), "{outcome:?}\n{}", stack.logs());
}

/// Waits until `address` (signing in with `password`) holds exactly `subjects`, in any
/// order (Postfix delivers messages in parallel).
async fn inbox_is(stack: &MailStack, address: &str, password: &str, subjects: &[&str]) {
    let mut expected: Vec<&str> = subjects.to_vec();
    expected.sort_unstable();
    stack
        .eventually(&format!("{address} holds {subjects:?}"), || async {
            match Imap::login(stack.imap(), address, password).await {
                Ok(mut imap) => {
                    let mut got = imap.subjects().await;
                    got.sort_unstable();
                    got == expected
                }
                Err(_) => false,
            }
        })
        .await;
}

/// Creates a mailbox `local` on domain `d` of tenant `t` with [`PASSWORD`]; returns its id.
async fn mailbox_with_password(h: &Harness, t: TenantId, d: &str, local: &str) -> String {
    let m = fixtures::mailbox(h, t, d, local).await;
    h.customer_admin(t)
        .put(
            &format!("/v1/tenants/{t}/mailboxes/{m}/password"),
            json!({ "password": PASSWORD }),
        )
        .await
        .expect(200);
    m
}

async fn aliases_groups_and_forwarding_route_mail_as_the_directory_says(h: Harness) {
    let Some(stack) = MailStack::start(&h).await else {
        return;
    };
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    let admin = h.customer_admin(t);
    let alice = mailbox_with_password(&h, t, &d, "alice").await;
    let bob = mailbox_with_password(&h, t, &d, "bob").await;
    let carol = mailbox_with_password(&h, t, &d, "carol").await;
    admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes/{alice}/aliases"),
            json!({ "local_part": "sales", "domain_id": d }),
        )
        .await
        .expect(201);
    let g = admin
        .post(
            &format!("/v1/tenants/{t}/groups"),
            json!({ "local_part": "team", "domain_id": d, "display_name": "Team" }),
        )
        .await
        .expect(201);
    let g = g["id"].as_str().unwrap();
    for member in [
        json!({ "mailbox_id": alice }),
        json!({ "mailbox_id": bob }),
        json!({ "address": "partner@elsewhere.test" }),
    ] {
        admin
            .post(&format!("/v1/tenants/{t}/groups/{g}/members"), member)
            .await
            .expect(200);
    }
    admin
        .put(
            &format!("/v1/tenants/{t}/mailboxes/{carol}/forwarding"),
            json!({ "address": "carol@new-host.test" }),
        )
        .await
        .expect(200);

    accept(&stack, &["sales@acme.example"], "To sales").await;
    accept(&stack, &["team@acme.example"], "To the team").await;
    accept(&stack, &["carol@acme.example"], "To Carol").await;
    inbox_is(
        &stack,
        "alice@acme.example",
        PASSWORD,
        &["To sales", "To the team"],
    )
    .await;
    inbox_is(&stack, "bob@acme.example", PASSWORD, &["To the team"]).await;
    stack
        .eventually(
            "the group's external member and Carol's forward reach the sink",
            || async {
                let got = stack.sink.received();
                got.iter()
                    .any(|m| m.rcpt == ["partner@elsewhere.test"] && m.data.contains("To the team"))
                    && got
                        .iter()
                        .any(|m| m.rcpt == ["carol@new-host.test"] && m.data.contains("To Carol"))
            },
        )
        .await;
    // Forwarding keeps no copy.
    inbox_is(&stack, "carol@acme.example", PASSWORD, &[]).await;
    // A removed alias no longer exists for the next message.
    let aliases = admin
        .get(&format!("/v1/tenants/{t}/aliases"))
        .await
        .expect(200);
    let alias = aliases["items"][0]["id"].as_str().unwrap().to_owned();
    let deleted = admin
        .delete(&format!("/v1/tenants/{t}/aliases/{alias}"))
        .await;
    assert!(deleted.status.is_success(), "{:?}", deleted.status);
    let gone = send(&stack, &["sales@acme.example"], "Too late").await;
    assert_eq!(gone.rcpt[0].code, 550, "{gone:?}");
}
e2e!(aliases_groups_and_forwarding_route_mail_as_the_directory_says);

async fn only_verified_and_default_domains_receive_mail(h: Harness) {
    let Some(stack) = MailStack::start(&h).await else {
        return;
    };
    let t = fixtures::tenant(&h, "Acme").await;
    let default = fixtures::default_domain(&h, t).await;
    let default_name = h
        .provider_admin()
        .get(&format!("/v1/tenants/{t}/domains/{default}"))
        .await
        .expect(200)["name"]
        .as_str()
        .unwrap()
        .to_owned();
    mailbox_with_password(&h, t, &default, "alice").await;
    let pending = fixtures::unverified_domain(&h, t, "pending.example").await;
    assert!(!pending.is_empty());
    let on_default = format!("alice@{default_name}");
    let outcome = send(
        &stack,
        &[
            &on_default,
            "alice@pending.example",
            "nobody@nowhere.test",
            &format!("ghost@{default_name}"),
        ],
        "Four recipients",
    )
    .await;
    let codes: Vec<u16> = outcome.rcpt.iter().map(|r| r.code).collect();
    // The default domain receives; an unverified domain and a domain nobody hosts are refused
    // as relaying; an unknown address of a hosted domain is unknown.
    assert_eq!(codes, [250, 554, 554, 550], "{outcome:?}");
    inbox_is(&stack, &on_default, PASSWORD, &["Four recipients"]).await;
}
e2e!(only_verified_and_default_domains_receive_mail);

/// The sign-in answer of the API for a mailbox.
async fn sign_in(h: &Harness, t: TenantId, m: &str) -> Value {
    h.customer_admin(t)
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}/sign-in"))
        .await
        .expect(200)
}

async fn disabled_shared_suspended_and_expired_mailboxes_receive_mail_but_do_not_sign_in(
    h: Harness,
) {
    let Some(stack) = MailStack::start(&h).await else {
        return;
    };
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    let admin = h.customer_admin(t);
    let alice = mailbox_with_password(&h, t, &d, "alice").await;
    let bob = mailbox_with_password(&h, t, &d, "bob").await;
    admin
        .post(
            &format!("/v1/tenants/{t}/mailboxes"),
            json!({ "local_part": "info", "domain_id": d, "display_name": "Info", "kind": "shared" }),
        )
        .await
        .expect(201);
    assert_eq!(sign_in(&h, t, &alice).await, json!({ "allowed": true }));

    // Disabled: mail is delivered, the right password does not sign in, the API says why.
    admin
        .patch(
            &format!("/v1/tenants/{t}/mailboxes/{bob}"),
            json!({ "status": "disabled" }),
        )
        .await
        .expect(200);
    accept(&stack, &["bob@acme.example", "info@acme.example"], "Kept").await;
    let refused = Imap::login(stack.imap(), "bob@acme.example", PASSWORD).await;
    assert!(refused.is_err(), "a disabled mailbox signs in");
    assert_eq!(sign_in(&h, t, &bob).await["refused"], "mailbox_disabled");
    admin
        .patch(
            &format!("/v1/tenants/{t}/mailboxes/{bob}"),
            json!({ "status": "enabled" }),
        )
        .await
        .expect(200);
    inbox_is(&stack, "bob@acme.example", PASSWORD, &["Kept"]).await;
    // A shared mailbox has no sign-in of its own.
    assert!(
        Imap::login(stack.imap(), "info@acme.example", PASSWORD)
            .await
            .is_err()
    );

    // Suspended for two reasons: nobody of the tenant signs in until both are lifted;
    // mail is still delivered.
    let suspensions = format!("/v1/tenants/{t}/suspensions");
    let mut placed = Vec::new();
    for reason in ["non_payment", "abuse"] {
        let s = h
            .provider_admin()
            .post(&suspensions, json!({ "reason": reason }))
            .await
            .expect(201);
        placed.push(s["id"].as_str().unwrap().to_string());
    }
    accept(&stack, &["alice@acme.example"], "While suspended").await;
    let refused = Imap::login(stack.imap(), "alice@acme.example", PASSWORD).await;
    let reason = refused
        .err()
        .expect("a suspended tenant's mailbox signs in");
    assert!(reason.contains("suspended"), "{reason}");
    assert_eq!(sign_in(&h, t, &alice).await["refused"], "tenant_suspended");
    for (i, id) in placed.iter().enumerate() {
        h.provider_admin()
            .post(&format!("{suspensions}/{id}/lift"), json!({}))
            .await
            .expect(200);
        if i == 0 {
            // One reason remains: still no sign-in.
            assert!(
                Imap::login(stack.imap(), "alice@acme.example", PASSWORD)
                    .await
                    .is_err()
            );
        }
    }
    inbox_is(&stack, "alice@acme.example", PASSWORD, &["While suspended"]).await;

    // A password past the policy's maximum age (90 days by default) no longer signs in.
    h.clock.advance(time::Duration::days(91));
    assert!(
        Imap::login(stack.imap(), "alice@acme.example", PASSWORD)
            .await
            .is_err()
    );
    let expired = sign_in(&h, t, &alice).await;
    assert_eq!(expired["refused"], "password_expired");
    assert!(
        expired["reason"]
            .as_str()
            .unwrap()
            .contains("older than the policy")
    );
}
e2e!(disabled_shared_suspended_and_expired_mailboxes_receive_mail_but_do_not_sign_in);

async fn a_full_mailbox_is_refused_at_rcpt_and_another_tenant_is_out_of_reach(h: Harness) {
    let Some(stack) = MailStack::start(&h).await else {
        return;
    };
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    let alice = mailbox_with_password(&h, t, &d, "alice").await;
    h.customer_admin(t)
        .patch(
            &format!("/v1/tenants/{t}/mailboxes/{alice}"),
            json!({ "quota_bytes": 1500 }),
        )
        .await
        .expect(200);
    let other = fixtures::tenant(&h, "Other").await;
    let od = fixtures::domain(&h, other, "other.example").await;
    let bob = mailbox_with_password(&h, other, &od, "bob").await;
    h.customer_admin(other)
        .put(
            &format!("/v1/tenants/{other}/mailboxes/{bob}/password"),
            json!({ "password": "Bobs-Own-Horse-77" }),
        )
        .await
        .expect(200);

    accept(&stack, &["alice@acme.example"], "Small").await;
    accept(&stack, &["bob@other.example"], "For Bob only").await;
    inbox_is(&stack, "alice@acme.example", PASSWORD, &["Small"]).await;
    // A message that does not fit is refused at RCPT, so the sender's server tells its user
    // at once; nothing is accepted and then lost.
    let big = smtp_send(
        stack.smtp(),
        None,
        "sender@elsewhere.test",
        &["alice@acme.example"],
        "Too big",
        &"x".repeat(4000),
    )
    .await
    .expect("a session");
    assert_eq!(big.rcpt[0].code, 552, "{big:?}\n{}", stack.logs());
    assert!(big.rcpt[0].text.contains("5.2.2"), "{big:?}");
    // A sender that declares no size passes RCPT; Dovecot refuses the message at delivery
    // and Postfix returns it to the sender with the same reason: a bounce, not a loss.
    let undeclared = smtp_send_declaring(
        stack.smtp(),
        None,
        "sender@elsewhere.test",
        &["alice@acme.example"],
        "Too big, undeclared",
        &"x".repeat(4000),
        false,
    )
    .await
    .expect("a session");
    assert!(undeclared.accepted(), "{undeclared:?}\n{}", stack.logs());
    stack
        .eventually(
            "the sender gets the message back as undeliverable",
            || async {
                stack.sink.received().iter().any(|m| {
                    m.rcpt == ["sender@elsewhere.test"]
                        && m.data.contains("5.2.2")
                        && m.data.contains("Too big, undeclared")
                })
            },
        )
        .await;

    // Alice's password does not open Bob's mailbox, and Alice's mailbox holds nothing of his.
    assert!(
        Imap::login(stack.imap(), "bob@other.example", PASSWORD)
            .await
            .is_err()
    );
    inbox_is(
        &stack,
        "bob@other.example",
        "Bobs-Own-Horse-77",
        &["For Bob only"],
    )
    .await;
    inbox_is(&stack, "alice@acme.example", PASSWORD, &["Small"]).await;
}
e2e!(a_full_mailbox_is_refused_at_rcpt_and_another_tenant_is_out_of_reach);

async fn while_mailplane_is_stopped_mail_waits_and_nothing_is_lost(h: Harness) {
    // Deliveries wait for a flush, so that one is queued before Mailplane stops.
    let Some(mut stack) = MailStack::start_with(&h, &["defer_transports = lmtp"]).await else {
        return;
    };
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    mailbox_with_password(&h, t, &d, "alice").await;
    accept(&stack, &["alice@acme.example"], "Queued").await;
    // Postfix has resolved the address (with Mailplane's answers) and holds the message for
    // its LMTP delivery. (Had Mailplane stopped before that, Postfix would retry the
    // resolution too; its resolver remembers a failure for up to 30 s.)
    stack
        .eventually("the message waits in Postfix's queue", || async {
            stack
                .logs()
                .contains("status=deferred (deferred transport)")
        })
        .await;

    stack.stop_lookups();
    // Postfix answers "try again later" to a new message, never "no such user".
    let refused = send(&stack, &["alice@acme.example"], "Refused for now").await;
    assert_eq!(refused.rcpt[0].code / 100, 4, "{refused:?}");
    // Dovecot refuses sign-in for now, and the queued message stays queued.
    let login = Imap::login(stack.imap(), "alice@acme.example", PASSWORD).await;
    let reason = login.err().expect("a sign-in while Mailplane is stopped");
    assert!(reason.contains("UNAVAILABLE"), "{reason}");
    stack.flush();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;

    stack.start_lookups().await;
    // Postfix retries when asked (a flush, as its queue manager would do by itself later).
    stack
        .eventually(
            "the queued message is delivered once Mailplane is back",
            || async {
                stack.flush();
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                match Imap::login(stack.imap(), "alice@acme.example", PASSWORD).await {
                    Ok(mut imap) => imap.subjects().await == ["Queued"],
                    Err(_) => false,
                }
            },
        )
        .await;
}
e2e!(while_mailplane_is_stopped_mail_waits_and_nothing_is_lost);

async fn lookups_answer_from_the_committed_state_on_every_replica(h: Harness) {
    // No mail servers here: the answers themselves, from this replica and from a second
    // control plane on the same database, as a second host's Mailplane would be.
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    let alice = mailbox_with_password(&h, t, &d, "alice").await;
    let here = h.control_plane.mail_lookups();
    let replica = mailplane::ControlPlane::open(
        &h.location,
        mailplane::PolicySet::builtin(),
        mailplane::ControlPlaneConfig::default(),
    )
    .await
    .expect("a second replica")
    .mail_lookups();
    for lookups in [&here, &replica] {
        assert!(lookups.domain("acme.example").await.unwrap());
        assert!(
            lookups.domain("ACME.example.").await.unwrap(),
            "case and the root dot"
        );
        assert!(!lookups.domain("elsewhere.example").await.unwrap());
        let record = lookups
            .mailbox("Alice@Acme.Example")
            .await
            .unwrap()
            .expect("a mailbox");
        assert_eq!(record.tenant_id, t);
        assert_eq!(record.mailbox_id.to_string(), alice);
        let password = lookups
            .password("alice@acme.example")
            .await
            .unwrap()
            .expect("a hash");
        assert!(
            password.hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            password.hash
        );
        assert!(password.sign_in.allowed);
        // Postfix also asks for `@domain` and a bare local part; neither is an address here.
        for key in ["@acme.example", "alice", ""] {
            assert_eq!(
                lookups.route(key).await.unwrap(),
                mailplane::mailstack::Route::Unchanged
            );
            assert!(lookups.mailbox(key).await.unwrap().is_none());
        }
    }
    // A change committed through one replica is the other's next answer.
    h.customer_admin(t)
        .put(
            &format!("/v1/tenants/{t}/mailboxes/{alice}/forwarding"),
            json!({ "address": "alice@new-host.test" }),
        )
        .await
        .expect(200);
    assert_eq!(
        replica.route("alice@acme.example").await.unwrap(),
        mailplane::mailstack::Route::To(vec![
            mailplane::types::EmailAddress::parse("alice@new-host.test").unwrap()
        ])
    );
    // From configuration destroyed on, the tenant's domains and addresses no longer exist.
    h.store
        .sql_writer()
        .execute_unprepared(
            "UPDATE tenants SET status = 'terminated' WHERE id IN (SELECT tenant_id FROM domains WHERE name = 'acme.example')",
        )
        .await
        .expect("mark the tenant terminated");
    for lookups in [&here, &replica] {
        assert!(!lookups.domain("acme.example").await.unwrap());
        assert_eq!(
            lookups.route("alice@acme.example").await.unwrap(),
            mailplane::mailstack::Route::Unchanged
        );
        assert!(
            lookups
                .mailbox("alice@acme.example")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            lookups
                .password("alice@acme.example")
                .await
                .unwrap()
                .is_none()
        );
    }
}
e2e!(lookups_answer_from_the_committed_state_on_every_replica);
