//! Real mail through a real Postfix and Dovecot that ask Mailplane: a tenant, a domain, a
//! mailbox and a password set through the API; a message sent over SMTP; the mailbox read
//! over IMAP with that password.

use serde_json::json;

use mailplane::types::TenantId;
use mailplane_tests::mail_clients::{Imap, smtp_send};
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
    let (_, domain, _) = alice(&h).await;
    let alice = format!("alice@{domain}");
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
}
e2e!(a_message_sent_over_smtp_is_read_over_imap_with_the_password_set_through_the_api);
