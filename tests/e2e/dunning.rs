//! The dunning ladder through HTTP, with the injectable clock: a tenant suspended for
//! `non_payment` gets the profile's grace (14 days in the shipped profiles); lifting the
//! suspension within it stops the ladder; when it passes with the suspension still placed,
//! provider automation ends the contract for cause (`contract.end`), and the existing end of
//! service runs to a certificate while the customer, still suspended, exports during the
//! export window. The step that ends the contract is run twice, the first run dropping its
//! commit, and ends it once.

use serde_json::{Value, json};
use time::Duration;

use mailplane::clock::Clock;
use mailplane::types::TenantId;
use mailplane_tests::{Harness, e2e, fixtures};

/// A tenant with a mailbox holding a message.
async fn tenant_with_mail(h: &Harness) -> TenantId {
    let t = fixtures::tenant(h, "Acme").await;
    let d = fixtures::default_domain(h, t).await;
    let m = fixtures::mailbox(h, t, &d, "alice").await;
    h.customer_admin(t)
        .post_raw(
            &format!("/v1/tenants/{t}/mailboxes/{m}/messages"),
            "message/rfc822",
            b"From: a@old-host.example\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nSubject: kept\r\n\r\nbody\r\n".to_vec(),
        )
        .await
        .expect(201);
    t
}

/// One suspension of the tenant, as its customer reads it.
async fn suspension(h: &Harness, t: TenantId, id: &str) -> Value {
    let list = h
        .customer_admin(t)
        .get(&format!("/v1/tenants/{t}/suspensions"))
        .await
        .expect(200);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .expect("the suspension is listed")
}

async fn the_ladder_runs_from_a_suspension_for_non_payment_to_a_certificate(h: Harness) {
    let t = tenant_with_mail(&h).await;
    let customer = h.customer_admin(t);
    let termination = format!("/v1/tenants/{t}/termination");
    let placed_at = h.clock.now();
    let s = h
        .provider_admin()
        .post(
            &format!("/v1/tenants/{t}/suspensions"),
            json!({ "reason": "non_payment", "note": "invoice 2026-11" }),
        )
        .await
        .expect(201);
    let id = s["id"].as_str().unwrap().to_string();
    assert_eq!(s["dunning"]["state"], "grace", "{s}");
    let grace_ends_at = time::OffsetDateTime::parse(
        s["dunning"]["grace_ends_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(grace_ends_at - placed_at, Duration::days(14));
    // Within the grace nothing ends.
    h.clock.advance(Duration::days(13));
    assert_eq!(h.run_jobs().await.failed, 0);
    customer.get(&termination).await.expect(404);
    assert_eq!(suspension(&h, t, &id).await["dunning"]["state"], "grace");

    // The grace passes with the suspension placed: provider automation ends the contract
    // for cause. The step runs twice, the first run dropping its commit.
    h.clock.advance(Duration::days(2));
    let report = h
        .control_plane
        .jobs_run_due_each_step_twice()
        .await
        .unwrap();
    assert_eq!(report.failed, 0, "{report:?}");
    let ended = customer.get(&termination).await.expect(200);
    assert_eq!(ended["state"], "terminating", "{ended}");
    assert_eq!(ended["cause"], "non_payment");
    assert_eq!(ended["requested_by"], "mailplane-automation");
    assert_eq!(ended["requested_by_party"], "provider");
    assert!(
        ended["cause_note"].as_str().unwrap().contains("grace"),
        "{ended}"
    );
    assert_eq!(ended["export_window_days"], 30);
    let s = suspension(&h, t, &id).await;
    assert_eq!(s["dunning"]["state"], "ended", "{s}");
    assert_eq!(s["dunning"]["termination_id"], ended["id"]);
    assert_eq!(s["active"], true, "the tenant stays suspended");
    // Audited once, under provider automation's letter, and announced to the customer.
    let audit = h.provider_admin().get("/v1/audit").await.expect(200);
    let rows: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["activity"] == "contract.end")
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["actor"], "mailplane-automation", "{}", rows[0]);
    assert_eq!(rows[0]["outcome"], "terminated");
    let events = customer.get("/v1/events").await.expect(200);
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["activity"] == "contract.end"),
        "{events:#}"
    );
    // The customer does not cancel an end for cause, but still exports, suspended, during
    // the window.
    let cancel = customer
        .post(&format!("{termination}/cancel"), json!({}))
        .await;
    assert_eq!(cancel.status, 409, "{}", cancel.body);
    assert!(
        cancel.str("detail").contains("for cause"),
        "{}",
        cancel.body
    );
    let export = customer
        .post(
            &format!("/v1/tenants/{t}/exports"),
            json!({ "format": "mbox" }),
        )
        .await
        .expect(201);
    assert_eq!(h.run_jobs().await.failed, 0);
    let e = export["id"].as_str().unwrap();
    assert_eq!(
        customer
            .get(&format!("/v1/tenants/{t}/exports/{e}"))
            .await
            .expect(200)["state"],
        "ready"
    );
    // Then the end of service runs to its certificate.
    h.clock.advance(Duration::days(31));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    let closed = customer.get(&termination).await.expect(200);
    assert_eq!(closed["state"], "closed", "{closed}");
    assert!(closed["certificate"].is_object(), "{closed}");
    assert_eq!(
        h.provider_admin()
            .get(&format!("/v1/tenants/{t}"))
            .await
            .expect(200)["status"],
        "terminated"
    );
}
e2e!(the_ladder_runs_from_a_suspension_for_non_payment_to_a_certificate);

async fn lifting_the_suspension_within_the_grace_stops_the_ladder(h: Harness) {
    let t = tenant_with_mail(&h).await;
    let path = format!("/v1/tenants/{t}/suspensions");
    let s = h
        .provider_admin()
        .post(&path, json!({ "reason": "non_payment" }))
        .await
        .expect(201);
    let id = s["id"].as_str().unwrap().to_string();
    // Other reasons, and a mailbox's suspension for non-payment, start no ladder.
    let abuse = h
        .provider_admin()
        .post(&path, json!({ "reason": "abuse" }))
        .await
        .expect(201);
    assert!(abuse["dunning"].is_null(), "{abuse}");
    h.clock.advance(Duration::days(10));
    h.run_jobs().await;
    let lifted = h
        .provider_admin()
        .post(
            &format!("{path}/{id}/lift"),
            json!({ "note": "paid on day 10" }),
        )
        .await
        .expect(200);
    assert_eq!(lifted["dunning"]["state"], "stopped", "{lifted}");
    // Long after the grace, nothing ended: the tenant stays suspended for abuse only.
    h.clock.advance(Duration::days(60));
    assert_eq!(h.run_jobs().await.failed, 0);
    h.customer_admin(t)
        .get(&format!("/v1/tenants/{t}/termination"))
        .await
        .expect(404);
    assert_eq!(suspension(&h, t, &id).await["dunning"]["state"], "stopped");
    let tenant = h
        .customer_admin(t)
        .get(&format!("/v1/tenants/{t}"))
        .await
        .expect(200);
    assert_eq!(tenant["status"], "suspended");
}
e2e!(lifting_the_suspension_within_the_grace_stops_the_ladder);

async fn a_contract_that_ended_otherwise_during_the_grace_ends_the_ladder(h: Harness) {
    let t = tenant_with_mail(&h).await;
    let s = h
        .provider_admin()
        .post(
            &format!("/v1/tenants/{t}/suspensions"),
            json!({ "reason": "non_payment" }),
        )
        .await
        .expect(201);
    let id = s["id"].as_str().unwrap().to_string();
    // The customer ends its own contract with no export window: its end of service runs to
    // the end, and its suspensions go with its configuration.
    let termination = format!("/v1/tenants/{t}/termination");
    h.customer_admin(t)
        .post(&termination, json!({ "export_window_days": 0 }))
        .await
        .expect(201);
    h.clock.advance(Duration::days(1));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    let closed = h.customer_admin(t).get(&termination).await.expect(200);
    assert_eq!(closed["state"], "closed", "{closed}");
    assert!(closed["cause"].is_null(), "{closed}");
    // The ladder's job finds nothing left to end when its grace passes, and finishes.
    h.clock.advance(Duration::days(14));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");
    assert!(report.steps >= 1, "{report:?}");
    let job = h
        .store
        .job_get("dunning", id.parse().unwrap())
        .await
        .unwrap()
        .expect("the ladder's job");
    assert_eq!(job.state, "done", "{job:?}");
}
e2e!(a_contract_that_ended_otherwise_during_the_grace_ends_the_ladder);

async fn the_customers_own_termination_becomes_one_for_cause_when_the_grace_ends(h: Harness) {
    // The customer, suspended for non-payment, terminates its own contract during the
    // grace: at the grace's end the ladder must not adopt a termination the customer can
    // then cancel, escaping the ladder.
    let t = tenant_with_mail(&h).await;
    let customer = h.customer_admin(t);
    let termination = format!("/v1/tenants/{t}/termination");
    let s = h
        .provider_admin()
        .post(
            &format!("/v1/tenants/{t}/suspensions"),
            json!({ "reason": "non_payment" }),
        )
        .await
        .expect(201);
    let id = s["id"].as_str().unwrap().to_string();
    h.clock.advance(Duration::days(3));
    let own = customer.post(&termination, json!({})).await.expect(201);
    assert!(own["cause"].is_null(), "{own}");
    h.clock.advance(Duration::days(12));
    let report = h
        .control_plane
        .jobs_run_due_each_step_twice()
        .await
        .unwrap();
    assert_eq!(report.failed, 0, "{report:?}");
    let ended = customer.get(&termination).await.expect(200);
    assert_eq!(ended["id"], own["id"], "the same termination");
    assert_eq!(ended["cause"], "non_payment", "{ended}");
    assert_eq!(ended["state"], "terminating");
    assert_eq!(ended["requested_by_party"], "customer");
    assert_eq!(
        ended["window_ends_at"], own["window_ends_at"],
        "its dates kept"
    );
    assert_eq!(ended["terminated_at"], own["terminated_at"]);
    let s = suspension(&h, t, &id).await;
    assert_eq!(s["dunning"]["state"], "ended", "{s}");
    assert_eq!(s["dunning"]["termination_id"], own["id"]);
    // The customer can no longer cancel it.
    let cancel = customer
        .post(&format!("{termination}/cancel"), json!({}))
        .await;
    assert_eq!(cancel.status, 409, "{}", cancel.body);
    assert!(
        cancel.str("detail").contains("for cause"),
        "{}",
        cancel.body
    );
    assert_eq!(
        customer.get(&termination).await.expect(200)["state"],
        "terminating"
    );
    // The take-over is audited once, as provider automation's end of the contract.
    let audit = h.provider_admin().get("/v1/audit").await.expect(200);
    let rows: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["activity"] == "contract.end")
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["actor"], "mailplane-automation", "{}", rows[0]);
    assert_eq!(rows[0]["target_id"], own["id"]);
}
e2e!(the_customers_own_termination_becomes_one_for_cause_when_the_grace_ends);

async fn a_customer_cancellation_during_the_grace_leaves_the_ladder_to_end_the_contract(
    h: Harness,
) {
    let t = tenant_with_mail(&h).await;
    let customer = h.customer_admin(t);
    let termination = format!("/v1/tenants/{t}/termination");
    h.provider_admin()
        .post(
            &format!("/v1/tenants/{t}/suspensions"),
            json!({ "reason": "non_payment" }),
        )
        .await
        .expect(201);
    customer.post(&termination, json!({})).await.expect(201);
    h.clock.advance(Duration::days(5));
    customer
        .post(&format!("{termination}/cancel"), json!({}))
        .await
        .expect(200);
    h.clock.advance(Duration::days(10));
    assert_eq!(h.run_jobs().await.failed, 0);
    let ended = customer.get(&termination).await.expect(200);
    assert_eq!(ended["cause"], "non_payment", "{ended}");
    assert_eq!(ended["requested_by_party"], "provider");
}
e2e!(a_customer_cancellation_during_the_grace_leaves_the_ladder_to_end_the_contract);

async fn a_lift_racing_the_end_of_the_grace_either_stops_or_follows_the_end(h: Harness) {
    // The job and a lift run at once when the grace ends: whichever commits first wins and
    // the other sees it. A lift that answers `stopped` leaves no termination; an end leaves
    // the lift answering `ended`.
    for round in 0..6 {
        let t = fixtures::tenant(&h, &format!("Acme {round}")).await;
        let path = format!("/v1/tenants/{t}/suspensions");
        let s = h
            .provider_admin()
            .post(&path, json!({ "reason": "non_payment" }))
            .await
            .expect(201);
        let id = s["id"].as_str().unwrap().to_string();
        h.clock.advance(Duration::days(15));
        let (provider, lift) = (h.provider_admin(), format!("{path}/{id}/lift"));
        let (report, lifted) = tokio::join!(
            h.control_plane.jobs_run_due(),
            provider.post(&lift, json!({})),
        );
        let report = report.unwrap();
        let lifted = lifted.expect(200);
        let state = lifted["dunning"]["state"].as_str().unwrap().to_string();
        // Whatever the job left to do runs now; nothing fails.
        h.clock.advance(Duration::minutes(5));
        assert_eq!(h.run_jobs().await.failed, 0, "round {round}: {report:?}");
        let termination = h
            .customer_admin(t)
            .get(&format!("/v1/tenants/{t}/termination"))
            .await;
        let now = suspension(&h, t, &id).await;
        assert_eq!(
            now["dunning"]["state"],
            state.as_str(),
            "round {round}: {now}"
        );
        match state.as_str() {
            "stopped" => assert_eq!(termination.status, 404, "round {round}"),
            "ended" => {
                assert_eq!(termination.status, 200, "round {round}");
                assert_eq!(termination.body["id"], now["dunning"]["termination_id"]);
            }
            other => panic!("round {round}: a lift answered `{other}`"),
        }
    }
}
e2e!(a_lift_racing_the_end_of_the_grace_either_stops_or_follows_the_end);

async fn without_r_on_contract_end_the_ladder_stops_for_good_instead_of_retrying(h: Harness) {
    // A master-hoster where the provider answers for ending contracts (A) and only the
    // partner ends them (R): provider automation, capped at R and I, can neither end the
    // contract nor ask for its end. The step used to fail and be retried for ever; it now
    // finishes the job, saying why, and leaves the suspension placed.
    let mut sources = mailplane::PolicySet::builtin_sources();
    for s in &mut sources {
        if s.id == "master-hoster" {
            s.policy = s.policy.replace("p, provider, contract.end, R\n", "");
        }
    }
    let policies = mailplane::PolicySet::from_sources(sources).expect("the changed profile");
    let worker = mailplane::ControlPlane::open(
        &h.location,
        policies,
        mailplane::ControlPlaneConfig::default(),
    )
    .await
    .expect("a second control plane")
    .with_clock(h.clock.clone());
    let p = fixtures::partner(&h, "Reseller").await;
    let t = fixtures::partner_tenant(&h, p, "Resold customer").await;
    let s = h
        .provider_admin()
        .post(
            &format!("/v1/tenants/{t}/suspensions"),
            json!({ "reason": "non_payment" }),
        )
        .await
        .expect(201);
    let id = s["id"].as_str().unwrap().to_string();
    // The suspension's own job (ending the sessions opened before it) runs first.
    worker.jobs_run_due_each_step_twice().await.unwrap();
    h.clock.advance(Duration::days(15));
    let report = worker.jobs_run_due_each_step_twice().await.unwrap();
    assert_eq!(
        report,
        mailplane::JobReport {
            steps: 1,
            failed: 0
        }
    );
    let job = h
        .store
        .job_get("dunning", id.parse().unwrap())
        .await
        .unwrap()
        .expect("the ladder's job");
    assert_eq!(job.state, "done", "{job:?}");
    let why = job.progress["refused"].as_str().unwrap_or_default();
    assert!(
        why.contains("no R on `contract.end` in master-hoster"),
        "{job:?}"
    );
    // Nothing ended and nothing is retried; the partner still ends the contract itself.
    h.clock.advance(Duration::days(1));
    assert_eq!(worker.jobs_run_due().await.unwrap().steps, 0);
    h.customer_admin(t)
        .get(&format!("/v1/tenants/{t}/termination"))
        .await
        .expect(404);
    assert_eq!(suspension(&h, t, &id).await["active"], true);
}
e2e!(without_r_on_contract_end_the_ladder_stops_for_good_instead_of_retrying);
