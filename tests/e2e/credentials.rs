//! Automatic fulfilment: `access.control-plane` is customer A, provider R, and marked
//! `automated`. A customer's registration of an API credential is a request that provider
//! automation fulfils at once: the call answers 201 with the credential and the request id,
//! and the audit trail shows "customer asked, provider automation carried out". The
//! customer then signs its own tokens with the key pair it kept.

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use serde_json::{Value, json};

use mailplane::Actor;
use mailplane::auth::TokenIssuer;
use mailplane::types::TenantId;
use mailplane_tests::{Harness, e2e, fixtures};

/// A fresh key pair: (private PKCS#8 PEM, public SPKI PEM).
fn key_pair() -> (String, String) {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    (
        key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        key.verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
    )
}

/// A token the customer signs with its credential's private key.
fn credential_token(id: &str, private_pem: &str, tenant: TenantId, roles: &[&str]) -> String {
    let issuer = TokenIssuer::credential(id.parse().unwrap(), private_pem.as_bytes()).unwrap();
    issuer
        .issue(&Actor::customer("ci-bot", tenant, roles), 600)
        .unwrap()
}

async fn register(h: &Harness, t: TenantId, public_pem: &str) -> (Value, String) {
    let r = h
        .customer_admin(t)
        .post(
            &format!("/v1/tenants/{t}/credentials"),
            json!({ "name": "provisioning", "public_key": public_pem, "roles": ["tenant-admin"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    let request = r.headers["mailplane-request"].to_str().unwrap().to_string();
    (r.body, request)
}

async fn automation_fulfils_a_customers_credential_request_at_once(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let (private_pem, public_pem) = key_pair();
    let (credential, request) = register(&h, t, &public_pem).await;
    let id = credential["id"].as_str().unwrap().to_string();
    assert_eq!(credential["roles"], json!(["tenant-admin"]));
    assert_eq!(credential["fingerprint"].as_str().unwrap().len(), 64);
    assert!(credential["revoked_at"].is_null());

    // The request records who asked and who carried it out.
    let req = h
        .customer_admin(t)
        .get(&format!("/v1/requests/{request}"))
        .await
        .expect(200);
    assert_eq!(req["kind"], "request");
    assert_eq!(req["state"], "fulfilled");
    assert_eq!(req["operation"], "credential.register");
    assert_eq!(req["activity"], "access.control-plane");
    assert_eq!(req["requester_party"], "customer");
    assert_eq!(req["decided_by"], "mailplane-automation");
    assert_eq!(req["result"]["id"], id.as_str());
    let audit = h.provider_admin().get("/v1/audit").await.expect(200);
    let trail: Vec<(&str, &str, &str, &str)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["request_id"] == request.as_str())
        .map(|r| {
            (
                r["actor"].as_str().unwrap().split('@').next().unwrap(),
                r["party"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["letters"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        trail,
        [
            ("tenant-admin", "customer", "requested", "A"),
            ("mailplane-automation", "provider", "created", "R"),
            ("mailplane-automation", "provider", "fulfilled", "R"),
        ]
    );

    // The customer's own token, signed with the private key, acts for the tenant; its
    // changes are audited as the credential.
    let token = credential_token(&id, &private_pem, t, &["tenant-admin"]);
    let bot = h.client_with_token(Some(token));
    bot.get(&format!("/v1/tenants/{t}")).await.expect(200);
    bot.post(
        &format!("/v1/tenants/{t}/domains"),
        json!({ "name": "bot.example" }),
    )
    .await
    .expect(201);
    let audit = h.provider_admin().get("/v1/audit").await.expect(200);
    let last = audit["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], format!("credential:{id}"));
    // A credential cannot register another: a leaked key must not outlive its revocation.
    let (_, other_pem) = key_pair();
    let r = bot
        .post(
            &format!("/v1/tenants/{t}/credentials"),
            json!({ "name": "child", "public_key": other_pem, "roles": ["tenant-reader"] }),
        )
        .await;
    assert_eq!(r.status, 403, "{:#}", r.body);
    assert!(
        r.body["refusal"]["reason"]
            .as_str()
            .unwrap()
            .contains("cannot register another")
    );
    assert_eq!(last["target_kind"], "domain");

    // A role the credential does not allow, another tenant, or a revoked credential: 401.
    let other = fixtures::tenant(&h, "Other").await;
    for token in [
        credential_token(&id, &private_pem, t, &["tenant-helpdesk"]),
        credential_token(&id, &private_pem, other, &["tenant-admin"]),
    ] {
        let r = h
            .client_with_token(Some(token))
            .get(&format!("/v1/tenants/{t}"))
            .await;
        assert_eq!(r.status, 401, "{:#}", r.body);
    }
    // A token signed with another key under this credential's id does not verify.
    let (stranger_pem, _) = key_pair();
    let r = h
        .client_with_token(Some(credential_token(
            &id,
            &stranger_pem,
            t,
            &["tenant-admin"],
        )))
        .get(&format!("/v1/tenants/{t}"))
        .await;
    assert_eq!(r.status, 401);
    let revoked = h
        .customer_admin(t)
        .post(
            &format!("/v1/tenants/{t}/credentials/{id}/revoke"),
            json!({}),
        )
        .await;
    assert_eq!(revoked.status, 200, "{:#}", revoked.body);
    assert!(revoked.headers.contains_key("mailplane-request"));
    assert!(revoked.body["revoked_at"].is_string());
    // Revoking again changes nothing and says so; no request, no audit row.
    let before = h.control_plane.audit_verify().await.unwrap().rows;
    let again = h
        .customer_admin(t)
        .post(
            &format!("/v1/tenants/{t}/credentials/{id}/revoke"),
            json!({}),
        )
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(h.control_plane.audit_verify().await.unwrap().rows, before);
    let r = bot.get(&format!("/v1/tenants/{t}")).await;
    assert_eq!(r.status, 401);
    assert!(r.body["detail"].as_str().unwrap().contains("revoked"));
}
e2e!(automation_fulfils_a_customers_credential_request_at_once);

async fn a_bad_credential_names_every_field_and_files_nothing(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let r = h
        .customer_admin(t)
        .post(
            &format!("/v1/tenants/{t}/credentials"),
            json!({
                "name": "",
                "public_key": "not a key",
                "roles": [],
                "expires_at": "2001-01-01T00:00:00Z",
            }),
        )
        .await;
    assert_eq!(r.status, 400, "{:#}", r.body);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "public_key", "roles", "expires_at"]);
    // A provider role is no customer role, and a helpdesk may not ask for an admin key:
    // refused before the request is filed, so nothing at all is written.
    let (_, public_pem) = key_pair();
    let r = h
        .customer_admin(t)
        .post(
            &format!("/v1/tenants/{t}/credentials"),
            json!({ "name": "x", "public_key": public_pem, "roles": ["provider-admin"] }),
        )
        .await;
    assert_eq!(r.status, 400, "{:#}", r.body);
    assert_eq!(r.body["errors"][0]["field"], "roles");
    let r = h
        .customer(t, "tenant-helpdesk")
        .post(
            &format!("/v1/tenants/{t}/credentials"),
            json!({ "name": "x", "public_key": public_pem, "roles": ["tenant-admin"] }),
        )
        .await;
    assert_eq!(r.status, 403, "{:#}", r.body);
    let requests = h.customer_admin(t).get("/v1/requests").await.expect(200);
    assert!(requests["items"].as_array().unwrap().is_empty());
    let list = h
        .customer_admin(t)
        .get(&format!("/v1/tenants/{t}/credentials"))
        .await
        .expect(200);
    assert!(list["items"].as_array().unwrap().is_empty());
}
e2e!(a_bad_credential_names_every_field_and_files_nothing);

async fn a_provider_proposes_a_credential_the_customer_approves(h: Harness) {
    // The provider is responsible but not accountable: its registration is a proposal.
    let t = fixtures::tenant(&h, "Acme").await;
    let (_, public_pem) = key_pair();
    let r = h
        .provider_admin()
        .post(
            &format!("/v1/tenants/{t}/credentials"),
            json!({ "name": "migration", "public_key": public_pem, "roles": ["tenant-reader"] }),
        )
        .await
        .expect(202);
    assert_eq!(r["kind"], "proposal");
    let approved = h
        .customer_admin(t)
        .post(
            &format!("/v1/requests/{}/approve", r["id"].as_str().unwrap()),
            json!({}),
        )
        .await
        .expect(200);
    let id = approved["result"]["id"].as_str().unwrap();
    let c = h
        .customer(t, "tenant-reader")
        .get(&format!("/v1/tenants/{t}/credentials/{id}"))
        .await
        .expect(200);
    assert_eq!(c["roles"], json!(["tenant-reader"]));
    // A partner holds no letter under hosted-exchange: the tenant does not exist for it.
    let p = fixtures::partner(&h, "P").await;
    assert_eq!(
        h.partner_admin(p)
            .get(&format!("/v1/tenants/{t}/credentials"))
            .await
            .status,
        404
    );
}
e2e!(a_provider_proposes_a_credential_the_customer_approves);
