//! Domain claims: an unverified domain is a claim that several tenants may hold on the same
//! name; the first to verify wins it, the others are refused at verification without being
//! told who won, and the database keeps a verified name unique, also when two tenants verify
//! at the same moment.

use serde_json::{Value, json};

use mailplane::types::TenantId;
use mailplane_tests::{Harness, e2e, field_errors, fixtures};
use sea_orm::ConnectionTrait;

/// The verification value a tenant's claim asks to publish.
async fn token_value(h: &Harness, t: TenantId, d: &str) -> String {
    let r = h
        .customer_admin(t)
        .get(&format!("/v1/tenants/{t}/domains/{d}/records"))
        .await
        .expect(200);
    r["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["purpose"] == "verification")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn verify(h: &Harness, t: TenantId, d: &str) -> mailplane_tests::Reply {
    h.customer_admin(t)
        .post(&format!("/v1/tenants/{t}/domains/{d}/verify"), json!({}))
        .await
}

async fn an_unverified_domain_is_a_claim_and_the_first_to_verify_wins(h: Harness) {
    let squatter = fixtures::tenant(&h, "Squatter").await;
    let owner = fixtures::tenant(&h, "Owner").await;
    let late = fixtures::tenant(&h, "Late").await;
    let name = "shared.example";
    // The squatter's unverified claim does not block the owner's.
    let squatted = fixtures::unverified_domain(&h, squatter, name).await;
    let owned = fixtures::unverified_domain(&h, owner, name).await;
    // A tenant holds one domain of a name.
    let twice = h
        .customer_admin(owner)
        .post(
            &format!("/v1/tenants/{owner}/domains"),
            json!({ "name": name }),
        )
        .await
        .expect(409);
    assert_eq!(field_errors(&twice), ["name"]);
    // Both publish their records (the squatter's too, as if it could); the owner verifies
    // first and wins.
    let values = [
        token_value(&h, squatter, &squatted).await,
        token_value(&h, owner, &owned).await,
    ];
    h.dns
        .set_txt(&format!("_mailplane.{name}"), &[&values[0], &values[1]]);
    let won = verify(&h, owner, &owned).await.expect(200);
    assert_eq!(won["verified"], true);
    // The squatter's claim is refused at verification, naming the field and not the winner.
    let refused = verify(&h, squatter, &squatted).await.expect(409);
    assert_eq!(field_errors(&refused), ["name"]);
    let text = refused.to_string();
    assert!(text.contains("verified by another tenant"), "{refused}");
    assert!(!text.contains(&owner.to_string()), "{refused}");
    assert!(!text.contains("Owner"), "{refused}");
    let claim = h
        .customer_admin(squatter)
        .get(&format!("/v1/tenants/{squatter}/domains/{squatted}"))
        .await
        .expect(200);
    assert_eq!(claim["verified"], false, "nothing was written: {claim}");
    // A new claim on a verified name is refused the same way.
    let after = h
        .customer_admin(late)
        .post(
            &format!("/v1/tenants/{late}/domains"),
            json!({ "name": name }),
        )
        .await
        .expect(409);
    assert_eq!(field_errors(&after), ["name"]);
    assert!(after.to_string().contains("verified by another tenant"));
    // The winner's domain carries addresses; the losing claim never does.
    fixtures::mailbox(&h, owner, &owned, "alice").await;
    let unverified = h
        .customer_admin(squatter)
        .post(
            &format!("/v1/tenants/{squatter}/mailboxes"),
            json!({ "local_part": "bob", "domain_id": squatted, "display_name": "Bob" }),
        )
        .await
        .expect(400);
    assert_eq!(field_errors(&unverified), ["domain_id"]);
    // The losing claim can be withdrawn.
    h.customer_admin(squatter)
        .delete(&format!("/v1/tenants/{squatter}/domains/{squatted}"))
        .await
        .expect(204);
    // The database refuses a second verified domain of the name, whatever the statement.
    fixtures::unverified_domain(&h, late, "other.example").await;
    fixtures::unverified_domain(&h, squatter, "other.example").await;
    let both = h
        .store
        .sql_writer()
        .execute_unprepared(
            "UPDATE domains SET verified_at = created_at WHERE name = 'other.example'",
        )
        .await;
    assert!(
        both.is_err(),
        "two verified domains of one name were stored"
    );
    h.store
        .sql_writer()
        .execute_unprepared(&format!(
            "UPDATE domains SET verified_at = created_at WHERE name = '{name}' AND verified_at IS NULL"
        ))
        .await
        .expect("no other claim is left on the verified name");
    fixtures::unverified_domain(&h, late, "third.example").await;
    fixtures::unverified_domain(&h, owner, "third.example").await;
    h.store
        .sql_writer()
        .execute_unprepared(
            "UPDATE domains SET verified_at = created_at WHERE name = 'third.example' AND tenant_id = (SELECT tenant_id FROM domains WHERE name = 'shared.example')",
        )
        .await
        .expect("one verified domain of a name is allowed");
    let second = h
        .store
        .sql_writer()
        .execute_unprepared(
            "UPDATE domains SET verified_at = created_at WHERE name = 'third.example'",
        )
        .await;
    assert!(second.is_err(), "a second verified domain was stored");
}
e2e!(an_unverified_domain_is_a_claim_and_the_first_to_verify_wins);

async fn of_tenants_verifying_one_name_at_once_exactly_one_wins(h: Harness) {
    let name = "race.example";
    let mut claims = Vec::new();
    let mut values = Vec::new();
    for n in 0..4 {
        let t = fixtures::tenant(&h, &format!("Racer {n}")).await;
        let d = fixtures::unverified_domain(&h, t, name).await;
        values.push(token_value(&h, t, &d).await);
        claims.push((t, d));
    }
    let published: Vec<&str> = values.iter().map(String::as_str).collect();
    h.dns.set_txt(&format!("_mailplane.{name}"), &published);
    let (a, b, c, d) = tokio::join!(
        verify(&h, claims[0].0, &claims[0].1),
        verify(&h, claims[1].0, &claims[1].1),
        verify(&h, claims[2].0, &claims[2].1),
        verify(&h, claims[3].0, &claims[3].1),
    );
    let replies = [a, b, c, d];
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        3,
        "{statuses:?}"
    );
    for r in replies.into_iter().filter(|r| r.status.as_u16() == 409) {
        let problem: Value = r.expect(409);
        assert_eq!(field_errors(&problem), ["name"]);
        assert!(problem.to_string().contains("verified by another tenant"));
    }
    // One domain of the name is verified, and one verification is audited.
    let mut verified = 0;
    for (t, d) in &claims {
        let got = h
            .customer_admin(*t)
            .get(&format!("/v1/tenants/{t}/domains/{d}"))
            .await
            .expect(200);
        if got["verified"] == true {
            verified += 1;
        }
    }
    assert_eq!(verified, 1);
    let audit = h.provider_admin().get("/v1/audit").await.expect(200);
    let rows = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "verified")
        .count();
    assert_eq!(rows, 1, "{audit}");
}
e2e!(of_tenants_verifying_one_name_at_once_exactly_one_wins);
