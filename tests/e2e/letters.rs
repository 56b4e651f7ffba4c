//! Every letter combination of every shipped profile, through HTTP.
//!
//! For each tenant profile, each activity and each party, the party's administrator asks
//! for the activity with `POST /v1/tenants/{tenant}/requests`. What the answer must be
//! follows from the party's letters in `policies/`, by the rule of the book's RACI chapter,
//! written out here independently of the decision code:
//!
//! - no party of the profile: 404 (the tenant does not exist for it);
//! - R and A: 400, the party carries the activity out itself;
//! - A without R: 202, a request addressed to the responsible parties;
//! - R without A: 202, a proposal addressed to the accountable party;
//! - anything else (I, C, nothing): 403 with every party's letters.
//!
//! The table of combinations met is printed, so a new combination in a profile is visible.

use std::collections::BTreeSet;

use serde_json::json;

use mailplane::PolicySet;
use mailplane::types::{Duty, Party, TenantId};
use mailplane_tests::{Client, Harness, e2e, fixtures};

async fn every_letter_combination_answers_as_the_matrix_says(h: Harness) {
    let partner = fixtures::partner(&h, "Reseller").await;
    let policies = PolicySet::builtin();
    let mut met: BTreeSet<(String, String)> = BTreeSet::new();
    for profile in policies.iter().filter(|p| p.id != "platform") {
        // The tenant is created by whoever delivers the service in this profile.
        let tenant: TenantId = if profile.parties.contains(&Party::Partner) {
            fixtures::partner_tenant(&h, partner, &format!("T {}", profile.id)).await
        } else {
            let t = h
                .provider_admin()
                .post(
                    "/v1/tenants",
                    json!({ "name": format!("T {}", profile.id), "profile": profile.id }),
                )
                .await
                .expect(201);
            t["id"].as_str().unwrap().parse().unwrap()
        };
        let path = format!("/v1/tenants/{tenant}/requests");
        for party in Party::ALL {
            let client: Client = match party {
                Party::Customer => h.customer_admin(tenant),
                Party::Partner => h.partner_admin(partner),
                Party::Provider => h.provider_admin(),
            };
            for activity in &profile.activities {
                let letters = activity.letters[party.index()];
                let (r, a) = (letters.has(Duty::R), letters.has(Duty::A));
                met.insert((party.to_string(), letters.to_string()));
                let reply = client
                    .post(&path, json!({ "activity": activity.id.as_str() }))
                    .await;
                let context = format!(
                    "{} {} {party} holds {letters}: {:#}",
                    profile.key(),
                    activity.id,
                    reply.body
                );
                if !profile.parties.contains(&party) {
                    assert_eq!(reply.status, 404, "{context}");
                    continue;
                }
                match (r, a) {
                    (true, true) => {
                        assert_eq!(reply.status, 400, "{context}");
                        assert!(
                            reply.body["errors"][0]["rule"]
                                .as_str()
                                .unwrap()
                                .contains("carries it out itself"),
                            "{context}"
                        );
                    }
                    (false, true) => {
                        assert_eq!(reply.status, 202, "{context}");
                        assert_eq!(reply.body["kind"], "request", "{context}");
                        let responsible: Vec<String> = Party::ALL
                            .into_iter()
                            .filter(|p| activity.letters[p.index()].has(Duty::R))
                            .map(|p| p.to_string())
                            .collect();
                        assert_eq!(reply.body["addressed_to"], json!(responsible), "{context}");
                    }
                    (true, false) => {
                        assert_eq!(reply.status, 202, "{context}");
                        assert_eq!(reply.body["kind"], "proposal", "{context}");
                        let accountable: Vec<String> = Party::ALL
                            .into_iter()
                            .filter(|p| activity.letters[p.index()].has(Duty::A))
                            .map(|p| p.to_string())
                            .collect();
                        assert_eq!(reply.body["addressed_to"], json!(accountable), "{context}");
                    }
                    (false, false) => {
                        assert_eq!(reply.status, 403, "{context}");
                        assert_eq!(
                            reply.body["refusal"]["activity"],
                            activity.id.as_str(),
                            "{context}"
                        );
                    }
                }
            }
        }
    }
    // The combinations the shipped profiles use; a new one shows up here.
    let met: Vec<String> = met
        .into_iter()
        .map(|(party, letters)| {
            format!(
                "{party}:{}",
                if letters.is_empty() { "-" } else { &letters }
            )
        })
        .collect();
    insta::assert_snapshot!("letter_combinations", met.join("\n"));
}
e2e!(every_letter_combination_answers_as_the_matrix_says);

/// `service.suspend` through its own operation, for each of its letter combinations: the
/// provider (RA) suspends at once in every profile; the customer (I) is refused naming the
/// letters; in master-hoster the partner (R, I) proposes a suspension for non-payment, which
/// the accountable provider approves, and the suspension is then placed by the partner.
async fn each_letter_combination_of_service_suspend(h: Harness) {
    let partner = fixtures::partner(&h, "Reseller").await;
    for profile in ["hosted-exchange", "ticketed-suite"] {
        let t = h
            .provider_admin()
            .post(
                "/v1/tenants",
                json!({ "name": profile, "profile": profile }),
            )
            .await
            .expect(201);
        let path = format!("/v1/tenants/{}/suspensions", t["id"].as_str().unwrap());
        let tenant: TenantId = t["id"].as_str().unwrap().parse().unwrap();
        let r = h
            .customer_admin(tenant)
            .post(&path, json!({ "reason": "customer_request" }))
            .await;
        assert_eq!(r.status, 403, "{profile}: {}", r.body);
        assert_eq!(r.body["refusal"]["activity"], "service.suspend");
        let s = h
            .provider_admin()
            .post(&path, json!({ "reason": "abuse" }))
            .await
            .expect(201);
        assert_eq!(s["placed_by_party"], "provider");
    }
    let t = fixtures::partner_tenant(&h, partner, "Resold").await;
    let path = format!("/v1/tenants/{t}/suspensions");
    let r = h
        .customer_admin(t)
        .post(&path, json!({ "reason": "customer_request" }))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // The provider polices abuse without the partner's consent.
    h.provider_admin()
        .post(&path, json!({ "reason": "abuse" }))
        .await
        .expect(201);
    // The partner proposes a suspension for non-payment; the provider approves it.
    let proposal = h
        .partner_admin(partner)
        .post(
            &path,
            json!({ "reason": "non_payment", "note": "invoice 7 unpaid" }),
        )
        .await
        .expect(202);
    assert_eq!(proposal["kind"], "proposal");
    assert_eq!(proposal["addressed_to"], json!(["provider"]));
    let id = proposal["id"].as_str().unwrap();
    h.provider_admin()
        .post(&format!("/v1/requests/{id}/approve"), json!({}))
        .await
        .expect(200);
    let list = h.customer_admin(t).get(&path).await.expect(200);
    let placed: Vec<(&str, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["reason"].as_str().unwrap(),
                s["placed_by_party"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(placed, [("abuse", "provider"), ("non_payment", "partner")]);
}
e2e!(each_letter_combination_of_service_suspend);

/// `contract.end` through its own operation, for each of its letter combinations: the
/// provider (RA) ends a contract for cause at once, with its reason; the customer (I) is
/// refused; in master-hoster the partner (R, I) proposes an end for non-payment to the
/// accountable provider.
async fn each_letter_combination_of_contract_end(h: Harness) {
    let partner = fixtures::partner(&h, "Reseller").await;
    for profile in ["hosted-exchange", "ticketed-suite"] {
        let t = h
            .provider_admin()
            .post(
                "/v1/tenants",
                json!({ "name": profile, "profile": profile }),
            )
            .await
            .expect(201);
        let tenant: TenantId = t["id"].as_str().unwrap().parse().unwrap();
        let path = format!("/v1/tenants/{tenant}/termination/for-cause");
        let r = h
            .customer_admin(tenant)
            .post(&path, json!({ "reason": "abuse" }))
            .await;
        assert_eq!(r.status, 403, "{profile}: {}", r.body);
        assert_eq!(r.body["refusal"]["activity"], "contract.end");
        // The customer's own request is its own termination, and `other` needs a note.
        for (body, field) in [
            (json!({ "reason": "customer_request" }), "reason"),
            (json!({ "reason": "other" }), "note"),
        ] {
            let r = h.provider_admin().post(&path, body).await;
            assert_eq!(r.status, 400, "{}", r.body);
            assert_eq!(mailplane_tests::field_errors(&r.body), [field]);
        }
        let ended = h
            .provider_admin()
            .post(&path, json!({ "reason": "abuse", "note": "phishing kit" }))
            .await
            .expect(201);
        assert_eq!(ended["cause"], "abuse");
        assert_eq!(ended["cause_note"], "phishing kit");
        assert_eq!(ended["requested_by_party"], "provider");
        assert_eq!(ended["state"], "terminating");
        let again = h
            .provider_admin()
            .post(&path, json!({ "reason": "legal" }))
            .await;
        assert_eq!(again.status, 409, "{}", again.body);
    }
    let t = fixtures::partner_tenant(&h, partner, "Resold").await;
    let path = format!("/v1/tenants/{t}/termination/for-cause");
    assert_eq!(
        h.customer_admin(t)
            .post(&path, json!({ "reason": "abuse" }))
            .await
            .status,
        403
    );
    let proposal = h
        .partner_admin(partner)
        .post(&path, json!({ "reason": "non_payment" }))
        .await
        .expect(202);
    assert_eq!(proposal["kind"], "proposal");
    assert_eq!(proposal["addressed_to"], json!(["provider"]));
    let id = proposal["id"].as_str().unwrap();
    h.provider_admin()
        .post(&format!("/v1/requests/{id}/approve"), json!({}))
        .await
        .expect(200);
    let ended = h
        .customer_admin(t)
        .get(&format!("/v1/tenants/{t}/termination"))
        .await
        .expect(200);
    assert_eq!(ended["cause"], "non_payment");
    assert_eq!(ended["requested_by_party"], "partner");
}
e2e!(each_letter_combination_of_contract_end);
