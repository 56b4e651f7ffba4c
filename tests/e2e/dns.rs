//! Custom-domain verification through the library: `mailplane::dns::DnsChecker`, a real
//! resolver, asks a real authoritative name server on loopback (`DnsServer`) for the four
//! records a customer publishes, and judges each one found, missing or wrong. The zone is
//! changed between checks to show that nothing is cached.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use mailplane::dns::{DnsChecker, DnsSettings};
use mailplane::types::dns::{DnsRecord, RecordCheck, RecordKind, RecordPurpose, RecordStatus};
use mailplane_tests::dns::DnsServer;
use serde_json::json;

const DOMAIN: &str = "example.com";
const TOKEN: &str = "mailplane-verification=3f9c2a7e1b";
const MX_HOST: &str = "mx.mail.example.net";
const SPF: &str = "v=spf1 include:spf.mail.example.net ~all";
const AUTODISCOVER: &str = "autodiscover.mail.example.net";

fn verification() -> DnsRecord {
    DnsRecord {
        purpose: RecordPurpose::Verification,
        kind: RecordKind::Txt,
        name: format!("_mailplane.{DOMAIN}"),
        value: TOKEN.into(),
        priority: None,
    }
}

fn mx() -> DnsRecord {
    DnsRecord {
        purpose: RecordPurpose::Mx,
        kind: RecordKind::Mx,
        name: DOMAIN.into(),
        value: MX_HOST.into(),
        priority: Some(10),
    }
}

fn spf() -> DnsRecord {
    DnsRecord {
        purpose: RecordPurpose::Spf,
        kind: RecordKind::Txt,
        name: DOMAIN.into(),
        value: SPF.into(),
        priority: None,
    }
}

fn autodiscover() -> DnsRecord {
    DnsRecord {
        purpose: RecordPurpose::Autodiscover,
        kind: RecordKind::Cname,
        name: format!("autodiscover.{DOMAIN}"),
        value: AUTODISCOVER.into(),
        priority: None,
    }
}

fn checker_for(server: &DnsServer) -> DnsChecker {
    DnsChecker::new(&DnsSettings {
        name_servers: vec![server.addr()],
        timeout: Duration::from_secs(2),
    })
    .expect("checker")
}

async fn check(checker: &DnsChecker, record: DnsRecord) -> RecordCheck {
    let mut checks = checker.check(std::slice::from_ref(&record)).await;
    assert_eq!(checks.len(), 1);
    let check = checks.remove(0);
    assert_eq!(
        check.record, record,
        "the check names the record it checked"
    );
    check
}

#[track_caller]
fn assert_status(check: &RecordCheck, status: RecordStatus) {
    assert_eq!(check.status, status, "unexpected status: {check:#?}");
}

#[tokio::test]
async fn dns_all_four_records_found_in_order() {
    let server = DnsServer::start().await;
    server.set_txt(&format!("_mailplane.{DOMAIN}"), &[TOKEN]);
    server.set_mx(DOMAIN, &[(10, MX_HOST)]);
    server.set_txt(DOMAIN, &[SPF, "some-other-verification=abc"]);
    server.set_cname(&format!("autodiscover.{DOMAIN}"), AUTODISCOVER);
    let checker = checker_for(&server);

    let expected = vec![verification(), mx(), spf(), autodiscover()];
    let checks = checker.check(&expected).await;
    assert_eq!(checks.len(), 4);
    for (check, record) in checks.iter().zip(&expected) {
        assert_eq!(
            &check.record, record,
            "results keep the order of the records"
        );
        assert_status(check, RecordStatus::Found);
    }
    assert_eq!(checks[0].found, vec![TOKEN]);
    assert_eq!(checks[1].found, vec![format!("10 {MX_HOST}")]);
    assert_eq!(checks[2].found.len(), 2, "every TXT at the name is shown");
    assert_eq!(checks[3].found, vec![AUTODISCOVER]);

    // The wire form callers see.
    let json = serde_json::to_value(&checks[1]).unwrap();
    assert_eq!(json["record"]["kind"], json!("MX"));
    assert_eq!(json["record"]["purpose"], json!("mx"));
    assert_eq!(json["record"]["priority"], json!(10));
    assert_eq!(json["status"], json!("found"));
    let json = serde_json::to_value(&checks[3]).unwrap();
    assert_eq!(json["record"]["kind"], json!("CNAME"));
    assert_eq!(json["record"]["purpose"], json!("autodiscover"));
}

#[tokio::test]
async fn dns_verification_txt() {
    let server = DnsServer::start().await;
    let checker = checker_for(&server);
    let name = format!("_mailplane.{DOMAIN}");

    // Nothing at the name: NXDOMAIN.
    let c = check(&checker, verification()).await;
    assert_status(&c, RecordStatus::Missing);
    assert!(c.found.is_empty());
    assert!(c.detail.contains(&name), "{}", c.detail);

    // The name exists with another type only: NoData.
    server.set_mx(&name, &[(10, MX_HOST)]);
    let c = check(&checker, verification()).await;
    assert_status(&c, RecordStatus::Missing);

    // A TXT with another token: wrong, and the customer sees what is there.
    server.set_txt(&name, &["mailplane-verification=stale"]);
    let c = check(&checker, verification()).await;
    assert_status(&c, RecordStatus::Wrong);
    assert_eq!(c.found, vec!["mailplane-verification=stale"]);

    // A token that merely contains the expected one is not it.
    server.set_txt(&name, &[&format!("{TOKEN}x")]);
    assert_status(&check(&checker, verification()).await, RecordStatus::Wrong);

    // The token among other TXT records: found.
    server.set_txt(&name, &["unrelated", TOKEN]);
    let c = check(&checker, verification()).await;
    assert_status(&c, RecordStatus::Found);
    assert_eq!(c.found.len(), 2);
}

#[tokio::test]
async fn dns_verification_txt_split_into_character_strings_and_over_tcp() {
    let server = DnsServer::start().await;
    let checker = checker_for(&server);
    let name = format!("_mailplane.{DOMAIN}");
    // Longer than one character string (255 bytes): the server splits it, the checker
    // joins the chunks back.
    let long_token = format!("mailplane-verification={}", "a".repeat(400));
    let record = DnsRecord {
        value: long_token.clone(),
        ..verification()
    };
    server.set_txt(&name, &[&long_token]);
    let c = check(&checker, record.clone()).await;
    assert_status(&c, RecordStatus::Found);
    assert_eq!(c.found, vec![long_token.clone()]);

    // Too many records for one UDP answer: the server truncates, the resolver asks again
    // over TCP and still finds the token.
    let filler = (0..12)
        .map(|i| format!("filler-{i}-{}", "b".repeat(300)))
        .collect::<Vec<_>>();
    let mut values = filler.iter().map(String::as_str).collect::<Vec<_>>();
    values.push(&long_token);
    server.set_txt(&name, &values);
    let c = check(&checker, record).await;
    assert_status(&c, RecordStatus::Found);
    assert_eq!(c.found.len(), 13);
}

#[tokio::test]
async fn dns_mx() {
    let server = DnsServer::start().await;
    let checker = checker_for(&server);

    let c = check(&checker, mx()).await;
    assert_status(&c, RecordStatus::Missing);
    assert!(c.detail.contains("MX"), "{}", c.detail);

    // The domain exists (it has an SPF record) but has no MX: NoData.
    server.set_txt(DOMAIN, &[SPF]);
    assert_status(&check(&checker, mx()).await, RecordStatus::Missing);

    server.set_mx(DOMAIN, &[(10, "mx.other.net")]);
    let c = check(&checker, mx()).await;
    assert_status(&c, RecordStatus::Wrong);
    assert_eq!(c.found, vec!["10 mx.other.net"]);
    assert!(c.detail.contains("mx.other.net"), "{}", c.detail);
    assert!(c.detail.contains(MX_HOST), "{}", c.detail);

    // Case and a trailing dot do not matter; another MX beside it does not either.
    server.set_mx(DOMAIN, &[(5, "mx.other.net"), (20, "MX.Mail.Example.NET.")]);
    let c = check(&checker, mx()).await;
    assert_status(&c, RecordStatus::Found);
    assert_eq!(c.found.len(), 2);
}

#[tokio::test]
async fn dns_spf() {
    let server = DnsServer::start().await;
    let checker = checker_for(&server);

    let c = check(&checker, spf()).await;
    assert_status(&c, RecordStatus::Missing);

    // TXT records, but none of them is SPF.
    server.set_txt(
        DOMAIN,
        &["google-site-verification=abc", "v=spf10 nonsense"],
    );
    let c = check(&checker, spf()).await;
    assert_status(&c, RecordStatus::Missing);
    assert_eq!(c.found.len(), 2, "the TXT records are shown even so");

    // An SPF record without the provider's include.
    server.set_txt(DOMAIN, &["v=spf1 include:spf.other.net -all"]);
    let c = check(&checker, spf()).await;
    assert_status(&c, RecordStatus::Wrong);
    assert!(
        c.detail.contains("include:spf.mail.example.net"),
        "{}",
        c.detail
    );

    // The customer's own SPF record with the include added: found, whatever the rest.
    server.set_txt(
        DOMAIN,
        &["V=SPF1 mx include:spf.other.net include:spf.mail.example.net -all"],
    );
    assert_status(&check(&checker, spf()).await, RecordStatus::Found);

    // Two SPF records are invalid (RFC 7208), even if one of them is right.
    server.set_txt(DOMAIN, &[SPF, "v=spf1 include:spf.other.net -all"]);
    let c = check(&checker, spf()).await;
    assert_status(&c, RecordStatus::Wrong);
    assert!(c.detail.contains("RFC 7208"), "{}", c.detail);
    assert_eq!(c.found.len(), 2);
}

#[tokio::test]
async fn dns_autodiscover_cname() {
    let server = DnsServer::start().await;
    let checker = checker_for(&server);
    let name = format!("autodiscover.{DOMAIN}");

    assert_status(
        &check(&checker, autodiscover()).await,
        RecordStatus::Missing,
    );

    // The name exists, but with a TXT instead of the alias.
    server.set_txt(&name, &["autodiscover"]);
    assert_status(
        &check(&checker, autodiscover()).await,
        RecordStatus::Missing,
    );

    server.set_cname(&name, "autodiscover.other.net");
    let c = check(&checker, autodiscover()).await;
    assert_status(&c, RecordStatus::Wrong);
    assert_eq!(c.found, vec!["autodiscover.other.net"]);
    assert!(c.detail.contains("autodiscover.other.net"), "{}", c.detail);

    server.set_cname(&name, "AutoDiscover.Mail.Example.Net.");
    assert_status(&check(&checker, autodiscover()).await, RecordStatus::Found);
}

#[tokio::test]
async fn dns_changes_are_seen_on_the_next_check() {
    let server = DnsServer::start().await;
    let checker = checker_for(&server);
    let name = format!("_mailplane.{DOMAIN}");
    // The server's answers carry a five-minute TTL, negative ones too: a resolver that
    // cached would repeat its first answer.
    assert_status(
        &check(&checker, verification()).await,
        RecordStatus::Missing,
    );
    server.set_txt(&name, &["mailplane-verification=old"]);
    assert_status(&check(&checker, verification()).await, RecordStatus::Wrong);
    server.set_txt(&name, &[TOKEN]);
    assert_status(&check(&checker, verification()).await, RecordStatus::Found);
    server.clear(&name);
    assert_status(
        &check(&checker, verification()).await,
        RecordStatus::Missing,
    );

    server.set_mx(DOMAIN, &[(10, MX_HOST)]);
    assert_status(&check(&checker, mx()).await, RecordStatus::Found);
    server.set_mx(DOMAIN, &[(10, "mx.other.net")]);
    assert_status(&check(&checker, mx()).await, RecordStatus::Wrong);
}

#[tokio::test]
async fn dns_unreachable_name_server_is_missing_with_the_reason() {
    // A socket that receives queries and never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let checker = DnsChecker::new(&DnsSettings {
        name_servers: vec![addr],
        timeout: Duration::from_secs(1),
    })
    .unwrap();

    let started = Instant::now();
    let checks = checker
        .check(&[verification(), mx(), spf(), autodiscover()])
        .await;
    let elapsed = started.elapsed();
    assert_eq!(checks.len(), 4);
    for c in &checks {
        assert_status(c, RecordStatus::Missing);
        assert!(c.found.is_empty());
        assert!(c.detail.contains("name server"), "{}", c.detail);
        assert!(c.detail.contains(&addr.to_string()), "{}", c.detail);
        assert!(c.detail.contains("did not answer"), "{}", c.detail);
    }
    // The records are checked concurrently, each bounded by the timeout and its retries.
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    drop(silent);
}

#[tokio::test]
async fn dns_server_failure_is_missing_with_the_reason() {
    let server = DnsServer::start().await;
    let checker = checker_for(&server);
    server.set_mx(DOMAIN, &[(10, MX_HOST)]);
    server.fail(DOMAIN);
    let c = check(&checker, mx()).await;
    assert_status(&c, RecordStatus::Missing);
    assert!(c.detail.contains("did not answer"), "{}", c.detail);

    // Once the server answers again, the record is found.
    server.clear(DOMAIN);
    server.set_mx(DOMAIN, &[(10, MX_HOST)]);
    assert_status(&check(&checker, mx()).await, RecordStatus::Found);
}

#[tokio::test]
async fn dns_server_stops_when_dropped() {
    let server = DnsServer::start().await;
    server.set_mx(DOMAIN, &[(10, MX_HOST)]);
    let addr = server.addr();
    let checker = DnsChecker::new(&DnsSettings {
        name_servers: vec![addr],
        timeout: Duration::from_millis(500),
    })
    .unwrap();
    assert_status(&check(&checker, mx()).await, RecordStatus::Found);
    drop(server);
    tokio::task::yield_now().await;
    assert_status(&check(&checker, mx()).await, RecordStatus::Missing);
}
