//! `/v1/profiles`: the matrices are readable by every principal, and tenants bound to
//! different profiles follow their own letters.

use serde_json::json;

use mailplane_tests::{Harness, e2e, fixtures};

async fn every_principal_reads_the_matrices(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let list = h
        .customer(t, "tenant-reader")
        .get("/v1/profiles")
        .await
        .expect(200);
    let ids: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "hosted-exchange",
            "master-hoster",
            "platform",
            "ticketed-suite"
        ]
    );
    let platform = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "platform")
        .unwrap();
    assert_eq!(platform["binds_tenants"], false);

    let he = h
        .provider("provider-auditor")
        .get("/v1/profiles/hosted-exchange")
        .await
        .expect(200);
    assert_eq!(he["version"], 1);
    assert_eq!(he["parties"], json!(["customer", "provider"]));
    assert_eq!(he["activities"].as_array().unwrap().len(), 56);
    let dir = he["activities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "directory.administer")
        .unwrap();
    assert_eq!(
        (
            dir["customer"].as_str(),
            dir["partner"].as_str(),
            dir["provider"].as_str()
        ),
        (Some("RA"), Some(""), Some("RI"))
    );
    let helpdesk = he["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "tenant-helpdesk")
        .unwrap();
    assert_eq!(helpdesk["everywhere"], "I");
    assert_eq!(helpdesk["per_activity"]["directory.administer"], "R");

    h.provider_admin()
        .get("/v1/profiles/no-such-offer")
        .await
        .expect(404);
    assert_eq!(h.anonymous().get("/v1/profiles").await.status, 401);
}
e2e!(every_principal_reads_the_matrices);

async fn a_ticketed_suite_tenant_follows_its_own_matrix(h: Harness) {
    let t = h
        .provider_admin()
        .post(
            "/v1/tenants",
            json!({ "name": "Suite customer", "profile": "ticketed-suite" }),
        )
        .await
        .expect(201);
    assert_eq!(t["profile"], "ticketed-suite");
    let t: mailplane::types::TenantId = t["id"].as_str().unwrap().parse().unwrap();
    // Customers run their directory; here the provider is only informed (I), not R.
    let d = fixtures::domain(&h, t, "suite.example").await;
    let r = h
        .provider_admin()
        .post(
            &format!("/v1/tenants/{t}/mailboxes"),
            json!({ "local_part": "x", "domain_id": d, "display_name": "X" }),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.body["refusal"]["reason"]
            .as_str()
            .unwrap()
            .contains("may only observe"),
        "{:#}",
        r.body
    );
    // The platform profile cannot be bound.
    let r = h
        .provider_admin()
        .post("/v1/tenants", json!({ "name": "X", "profile": "platform" }))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "profile");
}
e2e!(a_ticketed_suite_tenant_follows_its_own_matrix);

async fn changing_a_tenants_profile_needs_the_customer_and_the_provider(h: Harness) {
    let t = mailplane_tests::fixtures::tenant(&h, "Moving").await;
    let customer = h.customer_admin(t);
    // A request filed under hosted-exchange before the change keeps that binding.
    let pst = customer
        .post(
            &format!("/v1/tenants/{t}/requests"),
            serde_json::json!({ "activity": "export.pst.deliver" }),
        )
        .await
        .expect(202);
    assert_eq!(pst["profile"], "hosted-exchange");
    // The provider starts the change: a proposal the customer approves.
    let path = format!("/v1/tenants/{t}/profile");
    let r = h
        .provider_admin()
        .post(&path, serde_json::json!({ "profile": "no-such" }))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "profile");
    let proposal = h
        .provider_admin()
        .post(&path, serde_json::json!({ "profile": "ticketed-suite" }))
        .await
        .expect(202);
    assert_eq!(proposal["kind"], "proposal");
    assert_eq!(proposal["activity"], "profile.change");
    let still = customer.get(&format!("/v1/tenants/{t}")).await.expect(200);
    assert_eq!(still["profile"], "hosted-exchange");
    customer
        .post(
            &format!("/v1/requests/{}/approve", proposal["id"].as_str().unwrap()),
            serde_json::json!({}),
        )
        .await
        .expect(200);
    let moved = customer.get(&format!("/v1/tenants/{t}")).await.expect(200);
    assert_eq!(moved["profile"], "ticketed-suite");
    // The new profile decides from now on: a disclaimer is now a ticket to the provider.
    customer
        .post(
            &format!("/v1/tenants/{t}/requests"),
            serde_json::json!({ "activity": "disclaimer.all-users" }),
        )
        .await
        .expect(202);
    // The old request is still decided under the version it was filed under.
    let pst_id = pst["id"].as_str().unwrap();
    let fulfilled = h
        .provider_admin()
        .post(
            &format!("/v1/requests/{pst_id}/fulfil"),
            serde_json::json!({ "reason": "PST sent." }),
        )
        .await
        .expect(200);
    assert_eq!(fulfilled["profile"], "hosted-exchange");
    // The customer may start the way back: a request the provider fulfils.
    let back = customer
        .post(&path, serde_json::json!({ "profile": "hosted-exchange" }))
        .await
        .expect(202);
    assert_eq!(back["kind"], "request");
    h.provider("provider-operator")
        .post(
            &format!("/v1/requests/{}/fulfil", back["id"].as_str().unwrap()),
            serde_json::json!({}),
        )
        .await
        .expect(200);
    let back = customer.get(&format!("/v1/tenants/{t}")).await.expect(200);
    assert_eq!(back["profile"], "hosted-exchange");
    // A resold tenant cannot move to a profile without partners.
    let p = mailplane_tests::fixtures::partner(&h, "Reseller").await;
    let resold = mailplane_tests::fixtures::partner_tenant(&h, p, "Resold").await;
    let r = h
        .provider_admin()
        .post(
            &format!("/v1/tenants/{resold}/profile"),
            serde_json::json!({ "profile": "hosted-exchange" }),
        )
        .await;
    assert_eq!(r.status, 400, "{:#}", r.body);
    assert!(
        r.body["errors"][0]["rule"]
            .as_str()
            .unwrap()
            .contains("partner")
    );
}
e2e!(changing_a_tenants_profile_needs_the_customer_and_the_provider);

/// A copy of the shipped `policies/` where `hosted-exchange` is at version 2 and version 1
/// is kept under `versions/1`. Version 2 takes the provider's R on `directory.administer`
/// away, so the two versions decide a provider's domain differently.
fn policies_with_hosted_exchange_v2() -> std::path::PathBuf {
    let shipped = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let dir = std::env::temp_dir().join(format!("mailplane-policies-{}", uuid::Uuid::now_v7()));
    for profile in [
        "hosted-exchange",
        "master-hoster",
        "platform",
        "ticketed-suite",
    ] {
        std::fs::create_dir_all(dir.join(profile)).unwrap();
        for f in ["profile.conf", "model.conf", "policy.csv", "activities.csv"] {
            std::fs::copy(shipped.join(profile).join(f), dir.join(profile).join(f)).unwrap();
        }
    }
    let he = dir.join("hosted-exchange");
    let v1 = he.join("versions").join("1");
    std::fs::create_dir_all(&v1).unwrap();
    for f in ["profile.conf", "model.conf", "policy.csv", "activities.csv"] {
        std::fs::copy(he.join(f), v1.join(f)).unwrap();
    }
    let conf = std::fs::read_to_string(he.join("profile.conf")).unwrap();
    std::fs::write(
        he.join("profile.conf"),
        conf.replace("version = 1", "version = 2"),
    )
    .unwrap();
    let policy = std::fs::read_to_string(he.join("policy.csv")).unwrap();
    assert!(policy.contains("p, provider, directory.administer, R\n"));
    std::fs::write(
        he.join("policy.csv"),
        policy.replace("p, provider, directory.administer, R\n", ""),
    )
    .unwrap();
    dir
}

async fn earlier_profile_versions_keep_deciding_what_was_bound_to_them(h: Harness) {
    use mailplane::input::{DomainCreate, RequestResolution, TenantCreate, TenantRebind};
    use mailplane::types::Error;
    use mailplane::{Actor, ControlPlane, ControlPlaneConfig, Outcome, PolicySet};

    // Under version 1: a tenant, and a provider's proposal waiting for the customer.
    let t = fixtures::tenant(&h, "Early").await;
    let proposal = h
        .provider_admin()
        .post(
            &format!("/v1/tenants/{t}/domains"),
            json!({ "name": "early.example" }),
        )
        .await
        .expect(202);
    let proposal: mailplane::types::RequestId = proposal["id"].as_str().unwrap().parse().unwrap();

    // The deployment upgrades hosted-exchange to version 2, keeping version 1 loaded.
    let dir = policies_with_hosted_exchange_v2();
    let set = PolicySet::load_dir(&dir).unwrap();
    assert_eq!(set.get("hosted-exchange").unwrap().version, 2);
    assert!(set.get_version("hosted-exchange", 1).is_some());
    let cp = ControlPlane::open(&h.location, set, ControlPlaneConfig::default())
        .await
        .unwrap();
    let provider = Actor::provider("ops", &["provider-admin"]);
    let customer = Actor::customer("alice", t, &["tenant-admin"]);
    let domain = |name: &str| DomainCreate { name: name.into() };

    // The tenant bound to version 1 is still decided by it: the provider may propose.
    let early = cp.tenant_view(&provider, t).await.unwrap();
    assert_eq!(early.profile_version, 1);
    assert!(matches!(
        cp.domain_create(&provider, t, domain("more.example")).await,
        Ok(Outcome::Filed(_))
    ));
    // The request filed under version 1 is answered under it.
    let approved = cp
        .request_approve(&customer, proposal, RequestResolution::default())
        .await
        .unwrap();
    assert_eq!(approved.profile_version, 1);

    // New tenants bind to version 2, where the provider holds no R on the directory.
    let late = cp
        .tenant_create(
            &provider,
            TenantCreate {
                name: "Late".into(),
                profile: None,
                partner_id: None,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(late.profile_version, 2);
    match cp
        .domain_create(&provider, late.id, domain("late.example"))
        .await
    {
        Err(Error::Forbidden(r)) => assert_eq!(r.profile, "hosted-exchange@2"),
        other => panic!("expected a refusal under version 2, got {other:?}"),
    }

    // Moving the early tenant to version 2 is a change of binding like any other.
    let Ok(Outcome::Filed(rebind)) = cp
        .tenant_rebind(
            &provider,
            t,
            TenantRebind {
                profile: "hosted-exchange".into(),
            },
        )
        .await
    else {
        panic!("the provider's rebinding should be a proposal");
    };
    cp.request_approve(&customer, rebind.id, RequestResolution::default())
        .await
        .unwrap();
    assert_eq!(
        cp.tenant_view(&provider, t).await.unwrap().profile_version,
        2
    );
    assert!(matches!(
        cp.domain_create(&provider, t, domain("after.example"))
            .await,
        Err(Error::Forbidden(_))
    ));
    std::fs::remove_dir_all(dir).ok();
}
e2e!(earlier_profile_versions_keep_deciding_what_was_bound_to_them);
