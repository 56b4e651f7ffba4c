//! One region with two Dovecot back ends (`eu-1` and `eu-2`): tenants are placed on one each,
//! balanced, also when two are placed at once; Postfix delivers each tenant's mail to its own
//! back end and the exports read it there; a back end the mail hosts file no longer lists is
//! a temporary failure naming it; a draining back end takes no new tenant; and a tenant moves
//! from one back end to the other of its region with a message delivered during the move,
//! all of its mail ending on the new back end and none on the old; and a tenant from before
//! its region had two back ends is placed where its mail is.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use serde_json::{Value, json};

use mailplane::ControlPlane;
use mailplane::data_plane::{DataPlane, FileDataPlane, MailHosts, RegionMailHost, TenantKeys};
use mailplane::types::{MailboxId, TenantId};
use mailplane_tests::mail_clients::smtp_send;
use mailplane_tests::mailstack::MailStack;
use mailplane_tests::{Harness, e2e, fixtures};

/// The region's two back ends, with the control plane before its mail hosts (to build
/// others from) and the tenants' keys.
struct TwoBackends {
    one: MailStack,
    two: MailStack,
    base: ControlPlane,
    keys: TenantKeys,
}

impl TwoBackends {
    /// The mail hosts file: both Dovecots in `eu`, `eu-2` draining if asked.
    fn hosts(&self, second: &str, draining: bool) -> MailHosts {
        let mut two = self.two.dovecot_host(Some(second));
        two.draining = draining;
        MailHosts {
            regions: vec![RegionMailHost {
                region: "eu".into(),
                dovecot: None,
                backends: vec![self.one.dovecot_host(Some("eu-1")), two],
            }],
        }
    }

    fn control_plane(&self, hosts: &MailHosts) -> ControlPlane {
        self.base
            .clone()
            .with_mail_hosts(hosts, &self.keys)
            .expect("mail hosts")
    }
}

async fn two_backends(h: &mut Harness) -> Option<TwoBackends> {
    let one = MailStack::start(h).await?;
    let two = MailStack::start_beside(h, &one).await?;
    let files = FileDataPlane::open(&h.mail_dir.join("mail"), &h.mail_dir.join("master.key"))
        .expect("the harness's data plane");
    let mut s = TwoBackends {
        one,
        two,
        base: h.control_plane.clone(),
        keys: files.keys().clone(),
    };
    let control_plane = s.control_plane(&s.hosts("eu-2", false));
    s.one.serve_lookups_from(control_plane.clone()).await;
    s.two.serve_lookups_from(control_plane.clone()).await;
    h.use_control_plane(control_plane);
    Some(s)
}

fn backend(h: &Harness, name: &str) -> Arc<dyn DataPlane> {
    h.control_plane
        .data_planes()
        .expect("data planes")
        .backend(name)
        .expect("a listed back end")
        .clone()
}

fn lmtp(stack: &MailStack) -> Option<SocketAddr> {
    Some((Ipv4Addr::LOCALHOST, stack.config.lmtp_port).into())
}

async fn placement(h: &Harness, t: TenantId) -> Option<String> {
    h.control_plane
        .data_planes()
        .expect("data planes")
        .placement(t)
        .await
        .expect("a placement")
}

/// A tenant of `eu` with a domain and one mailbox, `local@domain`.
async fn tenant(h: &Harness, name: &str, domain: &str, local: &str) -> (TenantId, MailboxId) {
    let t = fixtures::tenant(h, name).await;
    let d = fixtures::domain(h, t, domain).await;
    let m = fixtures::mailbox(h, t, &d, local)
        .await
        .parse()
        .expect("a mailbox id");
    (t, m)
}

async fn send(stack: &MailStack, to: &str, subject: &str) {
    let sender = format!("{}@elsewhere.test", subject.replace(' ', "-"));
    let sent = smtp_send(
        stack.smtp(),
        None,
        &sender,
        &[to],
        subject,
        &format!("Body of {subject}"),
    )
    .await
    .expect("a session");
    assert!(sent.accepted(), "{sent:?}\n{}", stack.logs());
}

async fn subjects(plane: &dyn DataPlane, t: TenantId, m: MailboxId) -> Vec<String> {
    let mut out = Vec::new();
    plane
        .export(t, m, &mut |_, bytes| {
            let text = String::from_utf8_lossy(bytes);
            out.push(
                text.lines()
                    .find_map(|l| l.strip_prefix("Subject: "))
                    .unwrap_or_default()
                    .to_owned(),
            );
            Ok(())
        })
        .await
        .expect("exported");
    out.sort();
    out
}

/// One lookup over the dict protocol on the socket `stack`'s Dovecot asks; the reply line.
async fn dict_lookup(stack: &MailStack, key: &str) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut socket = tokio::net::UnixStream::connect(&stack.config.dovecot_dict)
        .await
        .expect("the dict socket");
    socket
        .write_all(format!("H3\t2\t0\t\tmailplane\nL{key}\t\n").as_bytes())
        .await
        .expect("a lookup");
    let mut line = String::new();
    tokio::io::BufReader::new(socket)
        .read_line(&mut line)
        .await
        .expect("a reply");
    line.trim_end().to_owned()
}

/// The message files (`u.<uid>`, sdbox) of the tenant in a Dovecot's mail root.
fn message_files(stack: &MailStack, t: TenantId) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .map(|e| {
                let path = e.path();
                if path.is_dir() {
                    walk(&path)
                } else {
                    usize::from(e.file_name().to_string_lossy().starts_with("u."))
                }
            })
            .sum()
    }
    walk(&stack.config.mail_root().join(t.to_string()))
}

async fn relocation(h: &Harness, t: TenantId) -> Value {
    h.provider_admin()
        .get(&format!("/v1/tenants/{t}/relocation"))
        .await
        .expect(200)
}

async fn each_tenant_is_placed_on_one_back_end_and_its_mail_goes_there(mut h: Harness) {
    let Some(s) = two_backends(&mut h).await else {
        return;
    };
    let (b1, b2) = (backend(&h, "eu-1"), backend(&h, "eu-2"));
    let (acme, alice) = tenant(&h, "Acme", "acme.example", "alice").await;
    let (bolt, bob) = tenant(&h, "Bolt", "bolt.example", "bob").await;
    // Placed at their first need, one on each back end (the fewest tenants, ties by name),
    // and placed for good.
    assert_eq!(placement(&h, acme).await.as_deref(), Some("eu-1"));
    assert_eq!(placement(&h, bolt).await.as_deref(), Some("eu-2"));
    assert_eq!(placement(&h, acme).await.as_deref(), Some("eu-1"));
    let lookups = h.control_plane.mail_lookups();
    assert_eq!(
        lookups
            .transport("alice@acme.example")
            .await
            .expect("a route"),
        lmtp(&s.one)
    );
    assert_eq!(
        lookups.transport("bolt.example").await.expect("a route"),
        lmtp(&s.two)
    );

    // Postfix delivers each tenant's mail to its own back end, and only there.
    send(&s.one, "alice@acme.example", "for acme").await;
    send(&s.one, "bob@bolt.example", "for bolt").await;
    s.one
        .eventually("each message reaches its back end", || async {
            b1.usage(acme, alice).await.expect("usage").messages == 1
                && b2.usage(bolt, bob).await.expect("usage").messages == 1
        })
        .await;
    assert_eq!(subjects(b1.as_ref(), acme, alice).await, ["for acme"]);
    assert_eq!(subjects(b2.as_ref(), bolt, bob).await, ["for bolt"]);
    assert_eq!(b2.usage(acme, alice).await.expect("usage").messages, 0);
    assert_eq!(b1.usage(bolt, bob).await.expect("usage").messages, 0);
    // The other back end's files hold no message of the tenant (Dovecot may have made an
    // empty home there when the front end's quota check asked it about the recipient).
    assert_eq!(
        message_files(&s.two, acme),
        0,
        "eu-2 holds no message of acme"
    );
    assert_eq!(
        message_files(&s.one, bolt),
        0,
        "eu-1 holds no message of bolt"
    );
    assert_eq!(message_files(&s.one, acme), 1);
    assert_eq!(message_files(&s.two, bolt), 1);
    // The exports (the deployment's data plane) read each tenant's mail on its back end.
    let planes = h.control_plane.data_planes().expect("data planes");
    assert_eq!(subjects(planes, acme, alice).await, ["for acme"]);
    assert_eq!(subjects(planes, bolt, bob).await, ["for bolt"]);
    let usage = h
        .customer_admin(bolt)
        .get(&format!("/v1/tenants/{bolt}/mailboxes/{bob}/usage"))
        .await
        .expect(200);
    assert_eq!(usage["messages"], 1, "{usage}");

    // A Dovecot front proxy's passdb answer sends each tenant's IMAP clients to its back end.
    for (tenant, mailbox, address, stack) in [
        (acme, alice, "alice@acme.example", &s.one),
        (bolt, bob, "bob@bolt.example", &s.two),
    ] {
        h.customer_admin(tenant)
            .put(
                &format!("/v1/tenants/{tenant}/mailboxes/{mailbox}/password"),
                json!({ "password": "Correct-Horse-7-Staple" }),
            )
            .await
            .expect(200);
        let answer = dict_lookup(&s.one, &format!("shared/proxydb/{address}")).await;
        let fields: Value = serde_json::from_str(
            answer
                .strip_prefix('O')
                .unwrap_or_else(|| panic!("found: {answer}")),
        )
        .expect("JSON");
        assert_eq!(fields["proxy"], "y", "{fields}");
        assert_eq!(fields["host"], "127.0.0.1", "{fields}");
        assert_eq!(
            fields["port"],
            stack.config.imap_port.to_string(),
            "{fields}"
        );
        assert!(
            fields["password"]
                .as_str()
                .unwrap()
                .starts_with("{ARGON2ID}"),
            "{fields}"
        );
        // The back end's own passdb answer has no proxy fields.
        let own = dict_lookup(&s.one, &format!("shared/passdb/{address}")).await;
        assert!(own.starts_with('O') && !own.contains("proxy"), "{own}");
    }
    assert_eq!(
        dict_lookup(&s.one, "shared/proxydb/nobody@acme.example").await,
        "N"
    );

    // Tenants placed at once are counted one after the other: balanced all the same.
    let mut racing = Vec::new();
    for i in 0..8 {
        racing.push(
            tenant(&h, &format!("Race {i}"), &format!("race{i}.example"), "r")
                .await
                .0,
        );
    }
    let mut tasks = tokio::task::JoinSet::new();
    for &t in &racing {
        let planes = h.control_plane.data_planes().expect("data planes").clone();
        tasks.spawn(async move { planes.placement(t).await.expect("a placement") });
    }
    let placed = tasks.join_all().await;
    let on_one = placed
        .iter()
        .filter(|p| p.as_deref() == Some("eu-1"))
        .count();
    assert_eq!(on_one, 4, "{placed:?}");

    // A draining back end takes no new tenant, however few it holds; its tenants stay.
    let draining = s.control_plane(&s.hosts("eu-2", true));
    let planes = draining.data_planes().expect("data planes");
    let (e, _) = tenant(&h, "Ebb", "ebb.example", "eve").await;
    let (f, _) = tenant(&h, "Fir", "fir.example", "fred").await;
    assert_eq!(
        planes.placement(e).await.expect("placed").as_deref(),
        Some("eu-1")
    );
    assert_eq!(
        planes.placement(f).await.expect("placed").as_deref(),
        Some("eu-1")
    );
    assert_eq!(
        planes.placement(bolt).await.expect("placed").as_deref(),
        Some("eu-2")
    );

    // A back end renamed in the file while a tenant is placed on it: its mail is deferred
    // (a lookup error, which Postfix and Dovecot turn into "try again later") with the name,
    // never "unknown user".
    let renamed = s.control_plane(&s.hosts("eu-3", false));
    let lookups = renamed.mail_lookups();
    let e = lookups
        .transport("bob@bolt.example")
        .await
        .expect_err("eu-2 is not listed");
    assert!(e.to_string().contains("`eu-2`"), "{e}");
    let e = lookups
        .userdb("bob@bolt.example")
        .await
        .expect_err("eu-2 is not listed");
    assert!(e.to_string().contains("`eu-2`"), "{e}");
    assert_eq!(
        lookups.transport("acme.example").await.expect("a route"),
        lmtp(&s.one),
        "the tenants of the back end still listed are served"
    );
}
e2e!(each_tenant_is_placed_on_one_back_end_and_its_mail_goes_there);

async fn a_tenant_moves_to_the_other_back_end_of_its_region_and_loses_nothing(mut h: Harness) {
    let Some(s) = two_backends(&mut h).await else {
        return;
    };
    let (old, new) = (backend(&h, "eu-1"), backend(&h, "eu-2"));
    let (t, m) = tenant(&h, "Acme", "acme.example", "alice").await;
    send(&s.one, "alice@acme.example", "before the move").await;
    s.one
        .eventually("the first message reaches eu-1", || async {
            old.usage(t, m).await.expect("usage").messages == 1
        })
        .await;
    assert_eq!(placement(&h, t).await.as_deref(), Some("eu-1"));

    // The back end is checked: listed in the region, taking tenants, not the tenant's own.
    for (backend, rule) in [
        ("eu-9", "is not a mail back end of `eu`"),
        ("eu-1", "on `eu-1` already"),
    ] {
        let e = h
            .provider_admin()
            .post(
                &format!("/v1/tenants/{t}/region"),
                json!({ "region": "eu", "backend": backend }),
            )
            .await
            .expect(400);
        assert!(
            e.to_string().contains("backend") && e.to_string().contains(rule),
            "{e}"
        );
    }

    h.provider_admin()
        .post(
            &format!("/v1/tenants/{t}/region"),
            json!({ "region": "eu", "backend": "eu-2" }),
        )
        .await
        .expect(200);
    let r = relocation(&h, t).await;
    assert_eq!(
        (
            r["state"].as_str(),
            r["from"].as_str(),
            r["to"].as_str(),
            r["from_backend"].as_str(),
            r["to_backend"].as_str()
        ),
        (
            Some("copying"),
            Some("eu"),
            Some("eu"),
            Some("eu-1"),
            Some("eu-2")
        ),
        "{r}"
    );
    let ran = h.control_plane.jobs_run_one_due().await.expect("a step");
    assert_eq!(ran, Some(("relocation".into(), "copy".into())));
    assert_eq!(new.usage(t, m).await.expect("usage").messages, 1);
    // Delivered between the copy and the switch: still to eu-1.
    send(&s.one, "alice@acme.example", "during the move").await;
    s.one
        .eventually("the mid-move message reaches eu-1", || async {
            old.usage(t, m).await.expect("usage").messages == 2
        })
        .await;
    let ran = h.control_plane.jobs_run_one_due().await.expect("a step");
    assert_eq!(ran, Some(("relocation".into(), "switch".into())));
    assert_eq!(placement(&h, t).await.as_deref(), Some("eu-2"));
    assert_eq!(
        h.control_plane
            .mail_lookups()
            .transport("acme.example")
            .await
            .expect("a route"),
        lmtp(&s.two)
    );
    send(&s.one, "alice@acme.example", "after the switch").await;
    s.one
        .eventually("the message after the switch reaches eu-2", || async {
            new.usage(t, m).await.expect("usage").messages == 2
        })
        .await;
    h.clock.advance(time::Duration::minutes(11));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    let r = relocation(&h, t).await;
    assert_eq!(r["state"], "done", "{r}");
    assert_eq!(r["erased_mailboxes"], 1, "{r}");

    // All of it on eu-2, nothing on eu-1.
    assert_eq!(
        subjects(new.as_ref(), t, m).await,
        ["after the switch", "before the move", "during the move"]
    );
    assert_eq!(old.usage(t, m).await.expect("usage").messages, 0);
    let home = s
        .one
        .config
        .mail_root()
        .join(t.to_string())
        .join(m.to_string());
    assert!(!home.exists(), "{} is left", home.display());
    let tenant = h
        .provider_admin()
        .get(&format!("/v1/tenants/{t}"))
        .await
        .expect(200);
    assert_eq!(tenant["region"], "eu");
}
e2e!(a_tenant_moves_to_the_other_back_end_of_its_region_and_loses_nothing);

async fn a_tenant_from_before_its_region_had_two_back_ends_stays_where_its_mail_is(mut h: Harness) {
    let Some(mut s) = two_backends(&mut h).await else {
        return;
    };
    // The region had one back end, the first Dovecot, as `[regions.dovecot]` (named `eu`).
    let before = s.control_plane(&s.one.mail_hosts("eu"));
    s.one.serve_lookups_from(before.clone()).await;
    h.use_control_plane(before);
    let (t, m) = tenant(&h, "Acme", "acme.example", "alice").await;
    send(&s.one, "alice@acme.example", "from the one back end days").await;
    let old = backend(&h, "eu");
    s.one
        .eventually("the message reaches the one back end", || async {
            old.usage(t, m).await.expect("usage").messages == 1
        })
        .await;

    // Now the region has two: the old one, still `eu`, and a new one whose name sorts first
    // (a tie of counts would place a tenant there).
    let hosts = MailHosts {
        regions: vec![RegionMailHost {
            region: "eu".into(),
            dovecot: None,
            backends: vec![
                s.two.dovecot_host(Some("a-new")),
                s.one.dovecot_host(Some("eu")),
            ],
        }],
    };
    let after = s.control_plane(&hosts);
    s.one.serve_lookups_from(after.clone()).await;
    s.two.serve_lookups_from(after.clone()).await;
    h.use_control_plane(after);
    // The tenant is placed where its mail is, and its mail keeps going there.
    assert_eq!(placement(&h, t).await.as_deref(), Some("eu"));
    send(&s.one, "alice@acme.example", "with two back ends").await;
    s.one
        .eventually("the second message reaches the old back end", || async {
            old.usage(t, m).await.expect("usage").messages == 2
        })
        .await;
    assert_eq!(message_files(&s.two, t), 0);
    // A new tenant goes to the new back end, which has fewer tenants.
    let (u, _) = tenant(&h, "Bolt", "bolt.example", "bob").await;
    assert_eq!(placement(&h, u).await.as_deref(), Some("a-new"));
}
e2e!(a_tenant_from_before_its_region_had_two_back_ends_stays_where_its_mail_is);
