//! The same guarantees through the embeddable library, with no HTTP at all.

use mailplane::input::{DomainCreate, MailboxCreate, TenantCreate};
use mailplane::types::resources::RequestKind;
use mailplane::types::{Error, Party};
use mailplane::{Actor, Outcome, Verdict};
use mailplane_tests::{Harness, e2e};

async fn the_library_authorizes_every_call(h: Harness) {
    let cp = &h.control_plane;
    let provider = Actor::provider("ops", &["provider-admin"]);
    let tenant = cp
        .tenant_create(
            &provider,
            TenantCreate {
                name: "Acme".into(),
                profile: None,
                partner_id: None,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let customer = Actor::customer("alice", tenant.id, &["tenant-admin"]);
    let domain = cp
        .domain_create(
            &customer,
            tenant.id,
            DomainCreate {
                name: "acme.example".into(),
            },
        )
        .await
        .unwrap()
        .done()
        .expect("the customer holds R and A: the domain is created at once");
    // The provider may only propose directory work: its call files a proposal addressed to
    // the accountable customer, and nothing is created yet.
    match cp
        .domain_create(
            &provider,
            tenant.id,
            DomainCreate {
                name: "p.example".into(),
            },
        )
        .await
    {
        Ok(Outcome::Filed(proposal)) => {
            assert_eq!(proposal.kind, RequestKind::Proposal);
            assert_eq!(proposal.activity, "directory.administer");
            assert_eq!(proposal.operation.as_deref(), Some("domain.create"));
            assert_eq!(proposal.addressed_to, vec![Party::Customer]);
        }
        other => panic!("expected a proposal, got {other:?}"),
    }
    let domains = cp
        .domain_list(&customer, tenant.id, None, None)
        .await
        .unwrap();
    assert_eq!(
        domains.items.len(),
        2,
        "a proposal creates nothing until approved: the default domain and the first one"
    );
    // A reader exercises only I: refused, and the refusal explains the letters.
    let reader = Actor::customer("rita", tenant.id, &["tenant-reader"]);
    match cp
        .domain_create(
            &reader,
            tenant.id,
            DomainCreate {
                name: "r.example".into(),
            },
        )
        .await
    {
        Err(Error::Forbidden(refusal)) => {
            assert_eq!(refusal.activity.as_str(), "directory.administer");
            assert_eq!(refusal.party, Party::Customer);
            assert_eq!(refusal.exercisable.to_string(), "I");
        }
        other => panic!("expected forbidden, got {other:?}"),
    }
    // Another tenant's customer does not see the tenant at all.
    let stranger = Actor::customer(
        "mallory",
        mailplane::types::TenantId::new(),
        &["tenant-admin"],
    );
    match cp.domain_view(&stranger, tenant.id, domain.id).await {
        Err(Error::NotFound { kind: "tenant", .. }) => {}
        other => panic!("expected not found, got {other:?}"),
    }
    // The customer publishes the verification record at its DNS host, and the library
    // checks it with a real resolver.
    let records = cp
        .domain_records_view(&customer, tenant.id, domain.id)
        .await
        .unwrap();
    let txt = &records.records[0];
    h.dns.set_txt(&txt.name, &[&txt.value]);
    let verification = cp
        .domain_verify(&customer, tenant.id, domain.id)
        .await
        .unwrap();
    assert!(verification.verified);
    // A failed change is atomic: the duplicate mailbox leaves no row and no audit entry.
    let input = || MailboxCreate {
        local_part: "alice".into(),
        domain_id: domain.id,
        display_name: "Alice".into(),
        quota_bytes: Some(1 << 30),
        status: None,
        kind: None,
    };
    cp.mailbox_create(&customer, tenant.id, input())
        .await
        .unwrap();
    let before = cp.audit_verify().await.unwrap().rows;
    assert!(matches!(
        cp.mailbox_create(&customer, tenant.id, input()).await,
        Err(Error::Conflict { .. })
    ));
    assert_eq!(cp.audit_verify().await.unwrap().rows, before);
    let list = cp
        .mailbox_list(&customer, tenant.id, None, None, None)
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    // The decision API is public for embedders that want to explain before acting.
    let profile = cp.policies().get("hosted-exchange").unwrap();
    let d = profile.decide(
        Party::Customer,
        &["tenant-admin".into()],
        "access.control-plane",
    );
    assert_eq!(d.verdict, Verdict::Request);
}
e2e!(the_library_authorizes_every_call);
