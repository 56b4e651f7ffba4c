//! Retention policies, the retention sweep and legal holds through HTTP: a locked policy is
//! never shortened or removed, the sweep deletes by age and records it, and a hold outranks
//! every delete path (the sweep, mailbox deletion, tenant deletion), naming itself.

use serde_json::json;

use mailplane::types::TenantId;
use mailplane_tests::{Harness, e2e, e2e_stores, field_errors, fixtures};

fn message() -> Vec<u8> {
    b"From: a@old-host.example\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nSubject: x\r\n\r\nbody\r\n"
        .to_vec()
}

async fn setup(h: &Harness) -> (TenantId, String) {
    let t = fixtures::tenant(h, "Acme").await;
    let d = fixtures::default_domain(h, t).await;
    let m = fixtures::mailbox(h, t, &d, "alice").await;
    (t, m)
}

async fn a_locked_policy_is_never_shortened_or_removed(h: Harness) {
    let (t, _) = setup(&h).await;
    let admin = h.customer_admin(t);
    let path = format!("/v1/tenants/{t}/retention");
    assert_eq!(
        admin.get(&path).await.expect(200)["policy"],
        serde_json::Value::Null
    );
    // The provider is informed of retention, it does not set it.
    h.provider_admin()
        .put(&path, json!({ "delete_after_days": 30 }))
        .await
        .expect(403);
    // An unlocked policy is removed by setting no values.
    admin
        .put(&path, json!({ "delete_after_days": 30 }))
        .await
        .expect(200);
    assert_eq!(
        admin.put(&path, json!({})).await.expect(200)["policy"],
        serde_json::Value::Null
    );
    assert_eq!(
        admin.get(&path).await.expect(200)["policy"],
        serde_json::Value::Null
    );
    let inverted = admin
        .put(
            &path,
            json!({ "delete_after_days": 30, "keep_at_least_days": 60 }),
        )
        .await
        .expect(400);
    assert_eq!(field_errors(&inverted), ["keep_at_least_days"]);
    let set = admin
        .put(
            &path,
            json!({ "delete_after_days": 3650, "keep_at_least_days": 1825, "locked": true }),
        )
        .await
        .expect(200);
    assert_eq!(set["policy"]["locked"], true);
    let shorter = admin
        .put(
            &path,
            json!({ "delete_after_days": 365, "keep_at_least_days": 365, "locked": true }),
        )
        .await
        .expect(400);
    let mut f = field_errors(&shorter);
    f.sort();
    assert_eq!(f, ["delete_after_days", "keep_at_least_days"]);
    let unlocked = admin
        .put(
            &path,
            json!({ "delete_after_days": 3650, "keep_at_least_days": 1825 }),
        )
        .await
        .expect(400);
    assert_eq!(field_errors(&unlocked), ["locked"]);
    let removed = admin.put(&path, json!({})).await.expect(400);
    let mut f = field_errors(&removed);
    f.sort();
    assert_eq!(f, ["delete_after_days", "keep_at_least_days", "locked"]);
    assert!(
        removed.to_string().contains("cannot be removed"),
        "{removed}"
    );
    // Longer is always allowed.
    let longer = admin
        .put(
            &path,
            json!({ "delete_after_days": 3660, "keep_at_least_days": 1830, "locked": true }),
        )
        .await
        .expect(200);
    assert_eq!(longer["policy"]["delete_after_days"], 3660);
    assert_eq!(
        admin.get(&path).await.expect(200)["policy"]["keep_at_least_days"],
        1830
    );
}
e2e!(a_locked_policy_is_never_shortened_or_removed);

async fn the_sweep_deletes_by_age_and_holds_stop_it(h: Harness) {
    // The story starts 400 days ago and ends now: Dovecot keeps no message received in the
    // future (it stores the time of the import instead).
    h.clock.advance(time::Duration::days(-400));
    let (t, m) = setup(&h).await;
    let admin = h.customer_admin(t);
    let messages = format!("/v1/tenants/{t}/mailboxes/{m}/messages");
    admin
        .post_raw(&messages, "message/rfc822", message())
        .await
        .expect(201);
    h.clock.advance(time::Duration::days(400));
    admin
        .post_raw(&messages, "message/rfc822", message())
        .await
        .expect(201);
    admin
        .put(
            &format!("/v1/tenants/{t}/retention"),
            json!({ "delete_after_days": 365 }),
        )
        .await
        .expect(200);
    // A hold on the mailbox stops the sweep, which records the hold.
    let hold = admin
        .post(
            &format!("/v1/tenants/{t}/holds"),
            json!({ "mailbox_id": m, "reason": "Case 2026-17" }),
        )
        .await
        .expect(201);
    let hold_id = hold["id"].as_str().unwrap().to_string();
    assert_eq!(hold["active"], true);
    let held = h.control_plane.retention_sweep().await.unwrap();
    assert_eq!((held.deleted_messages, held.held), (0, 1));
    let usage = format!("/v1/tenants/{t}/mailboxes/{m}/usage");
    assert_eq!(admin.get(&usage).await.expect(200)["messages"], 2);
    // The hold keeps a deleted mailbox inactive, with its messages, and the directory's
    // administrator may still restore it.
    admin
        .delete(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(204);
    let inactive = admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(200);
    assert_eq!(inactive["status"], "inactive");
    assert_eq!(admin.get(&usage).await.expect(200)["messages"], 2);
    let restored = admin
        .post(&format!("/v1/tenants/{t}/mailboxes/{m}/restore"), json!({}))
        .await
        .expect(200);
    assert_eq!(restored["status"], "enabled");
    // Released, the sweep deletes the old message only, and records it.
    admin
        .post(
            &format!("/v1/tenants/{t}/holds/{hold_id}/release"),
            json!({ "reason": "Case closed" }),
        )
        .await
        .expect(200);
    admin
        .post(
            &format!("/v1/tenants/{t}/holds/{hold_id}/release"),
            json!({ "reason": "Again" }),
        )
        .await
        .expect(409);
    let swept = h.control_plane.retention_sweep().await.unwrap();
    assert_eq!((swept.deleted_messages, swept.held), (1, 0));
    assert_eq!(admin.get(&usage).await.expect(200)["messages"], 1);
    let runs = admin
        .get(&format!("/v1/tenants/{t}/retention/runs"))
        .await
        .expect(200);
    let runs = runs["items"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["blocked_by"], hold_id.as_str());
    assert_eq!(runs[0]["deleted_messages"], 0);
    assert_eq!(runs[1]["blocked_by"], serde_json::Value::Null);
    assert_eq!(runs[1]["deleted_messages"], 1);
    // A second sweep finds nothing more to delete.
    assert_eq!(
        h.control_plane
            .retention_sweep()
            .await
            .unwrap()
            .deleted_messages,
        0
    );
}
e2e_stores!(the_sweep_deletes_by_age_and_holds_stop_it);

async fn a_tenant_hold_stops_every_delete_path(h: Harness) {
    let (t, m) = setup(&h).await;
    let admin = h.customer_admin(t);
    // The provider may not place a hold for the customer (I only).
    h.provider_admin()
        .post(&format!("/v1/tenants/{t}/holds"), json!({ "reason": "x" }))
        .await
        .expect(403);
    admin
        .post(&format!("/v1/tenants/{t}/holds"), json!({ "reason": "" }))
        .await
        .expect(400);
    let hold = admin
        .post(
            &format!("/v1/tenants/{t}/holds"),
            json!({ "reason": "Regulator's request" }),
        )
        .await
        .expect(201);
    let hold_id = hold["id"].as_str().unwrap().to_string();
    assert_eq!(hold["mailbox_id"], serde_json::Value::Null);
    admin
        .post_raw(
            &format!("/v1/tenants/{t}/mailboxes/{m}/messages"),
            "message/rfc822",
            message(),
        )
        .await
        .expect(201);
    // Deleting the held mailbox keeps it, inactive, with its data.
    admin
        .delete(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(204);
    let kept = admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(200);
    assert_eq!(kept["status"], "inactive");
    h.clock.advance(time::Duration::days(40));
    admin
        .put(
            &format!("/v1/tenants/{t}/retention"),
            json!({ "delete_after_days": 30 }),
        )
        .await
        .expect(200);
    assert_eq!(h.control_plane.retention_sweep().await.unwrap().held, 1);
    // The provider's deletion of the tenant (configuration.destroy) names the hold.
    let refused = h
        .provider_admin()
        .delete(&format!("/v1/tenants/{t}"))
        .await
        .expect(409);
    assert!(
        refused["detail"].as_str().unwrap().contains(&hold_id),
        "{refused}"
    );
    let holds = h
        .provider("provider-auditor")
        .get(&format!("/v1/tenants/{t}/holds"))
        .await
        .expect(200);
    assert_eq!(holds["items"].as_array().unwrap().len(), 1);
    // Released, the mailbox can go.
    admin
        .post(
            &format!("/v1/tenants/{t}/holds/{hold_id}/release"),
            json!({ "reason": "Request withdrawn" }),
        )
        .await
        .expect(200);
    // Released, the mailbox enters its undelete window.
    let deleted = admin
        .get(&format!("/v1/tenants/{t}/mailboxes/{m}"))
        .await
        .expect(200);
    assert_eq!(deleted["status"], "deleted");
}
e2e_stores!(a_tenant_hold_stops_every_delete_path);
