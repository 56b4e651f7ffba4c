//! Custom-domain verification: looks up the records a customer was asked to publish.
//!
//! The provider is not its customers' DNS host. To take a custom mail domain into service,
//! Mailplane tells the customer exactly which records to publish (a verification TXT, the
//! MX, the SPF TXT and the autodiscover CNAME, as [`DnsRecord`]s) and then checks them with
//! a real DNS resolver, against the name servers the deployment configures
//! ([`DnsSettings`]), or the system's when it configures none. Each check asks the name
//! servers again: nothing is cached, so a customer who has just fixed a record sees the fix
//! on the next check. The outcome of each record is a [`RecordCheck`] with what DNS
//! returned and one sentence of explanation, so that the customer can compare and correct.
//!
//! A name server that does not answer is reported as a missing record with the reason, not
//! as an error: the customer can simply check again later.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use mailplane_types::dns::{DnsRecord, RecordCheck, RecordKind, RecordPurpose, RecordStatus};
use mailplane_types::{Error, Result};
use tokio::task::JoinSet;

/// Where and how long to look up customers' DNS records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// The name servers to ask, over UDP and TCP. Empty means the system's configuration
    /// (`/etc/resolv.conf` on Unix).
    pub name_servers: Vec<SocketAddr>,
    /// How long to wait for one answer from a name server.
    pub timeout: Duration,
}

impl Default for DnsSettings {
    /// The system's name servers, with a five-second timeout.
    fn default() -> Self {
        DnsSettings {
            name_servers: Vec::new(),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Checks customers' DNS records with a real resolver. Cheap to clone; clones share the
/// resolver and its connections.
#[derive(Clone)]
pub struct DnsChecker {
    resolver: TokioResolver,
    /// The name servers, as the customer-facing sentences name them ("the name server
    /// 192.0.2.53:53").
    servers: Arc<str>,
}

impl fmt::Debug for DnsChecker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsChecker")
            .field("servers", &self.servers)
            .finish_non_exhaustive()
    }
}

/// What the name servers said about one name and type.
enum Answer {
    /// Records of the asked type (after following any CNAME).
    Records(Vec<RData>),
    /// No record of that type; `nxdomain` when the name does not exist at all.
    Nothing { nxdomain: bool },
    /// No usable answer: a timeout, a refusal, a server failure or a connection error.
    Failed(String),
}

impl DnsChecker {
    /// A checker that asks `settings.name_servers`, or the system's name servers when the
    /// list is empty. It caches nothing and applies no search domains: the names it looks
    /// up are absolute.
    pub fn new(settings: &DnsSettings) -> Result<Self> {
        let (mut builder, servers) = if settings.name_servers.is_empty() {
            let builder = TokioResolver::builder_tokio().map_err(|e| {
                Error::internal(format!("cannot read the system's DNS configuration: {e}"))
            })?;
            (builder, "the system's name server".to_string())
        } else {
            let name_servers = settings
                .name_servers
                .iter()
                .map(|addr| name_server(*addr))
                .collect();
            let config = ResolverConfig::from_parts(None, Vec::new(), name_servers);
            let builder =
                TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
            let addrs = settings
                .name_servers
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>();
            let servers = match addrs.as_slice() {
                [one] => format!("the name server {one}"),
                several => format!("the name servers {}", several.join(", ")),
            };
            (builder, servers)
        };
        configure(builder.options_mut(), settings.timeout);
        let resolver = builder
            .build()
            .map_err(|e| Error::internal(format!("cannot build the DNS resolver: {e}")))?;
        Ok(DnsChecker {
            resolver,
            servers: servers.into(),
        })
    }

    /// Checks every expected record, concurrently, and returns one result per record in
    /// the same order. It never fails: a record that could not be looked up is `Missing`
    /// with the reason in its detail.
    pub async fn check(&self, expected: &[DnsRecord]) -> Vec<RecordCheck> {
        let mut tasks = JoinSet::new();
        for (index, record) in expected.iter().cloned().enumerate() {
            let checker = self.clone();
            tasks.spawn(async move { (index, checker.check_one(record).await) });
        }
        let mut results: Vec<Option<RecordCheck>> = vec![None; expected.len()];
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, check)) => {
                    if let Some(slot) = results.get_mut(index) {
                        *slot = Some(check);
                    }
                }
                Err(e) => tracing::error!(error = %e, "a DNS check task failed"),
            }
        }
        expected
            .iter()
            .zip(results)
            .map(|(record, result)| {
                result.unwrap_or_else(|| RecordCheck {
                    record: record.clone(),
                    status: RecordStatus::Missing,
                    found: Vec::new(),
                    detail: "the check of this record failed unexpectedly; try again".into(),
                })
            })
            .collect()
    }

    /// Looks up one record and judges what came back.
    async fn check_one(&self, record: DnsRecord) -> RecordCheck {
        let shown = record.name.trim().trim_end_matches('.').to_string();
        let name = match Name::from_utf8(format!("{shown}.")) {
            Ok(name) => name,
            Err(e) => {
                let detail = format!("{shown} is not a valid DNS name: {e}");
                return verdict(record, RecordStatus::Missing, Vec::new(), detail);
            }
        };
        let kind = record.kind.as_str();
        match self.lookup(name, record.kind).await {
            Answer::Failed(reason) => {
                let detail = format!(
                    "{} did not answer the {kind} query for {shown}: {reason}; check again later",
                    self.servers
                );
                verdict(record, RecordStatus::Missing, Vec::new(), detail)
            }
            Answer::Nothing { nxdomain } => {
                let reason = if nxdomain {
                    " (the name does not exist)"
                } else {
                    ""
                };
                let detail = match (record.kind, record.purpose) {
                    (RecordKind::Txt, RecordPurpose::Spf) => {
                        format!(
                            "no SPF record (a TXT record starting with v=spf1) at {shown}{reason}"
                        )
                    }
                    _ => format!("no {kind} record at {shown}{reason}"),
                };
                verdict(record, RecordStatus::Missing, Vec::new(), detail)
            }
            Answer::Records(data) => match record.kind {
                RecordKind::Txt => {
                    let texts = data.iter().filter_map(txt_text).collect::<Vec<_>>();
                    let (status, detail) = if record.purpose == RecordPurpose::Spf {
                        judge_spf(&shown, &record.value, &texts)
                    } else {
                        judge_txt(&shown, &record.value, &texts)
                    };
                    verdict(record, status, texts, detail)
                }
                RecordKind::Mx => {
                    let exchanges = data
                        .iter()
                        .filter_map(|d| match d {
                            RData::MX(mx) => Some((mx.preference, host(&mx.exchange))),
                            _ => None,
                        })
                        .collect::<Vec<_>>();
                    let (status, detail) =
                        judge_mx(&shown, &record.value, record.priority, &exchanges);
                    let found = exchanges
                        .iter()
                        .map(|(preference, exchange)| format!("{preference} {exchange}"))
                        .collect();
                    verdict(record, status, found, detail)
                }
                RecordKind::Cname => {
                    let targets = data
                        .iter()
                        .filter_map(|d| match d {
                            RData::CNAME(cname) => Some(host(&cname.0)),
                            _ => None,
                        })
                        .collect::<Vec<_>>();
                    let (status, detail) = judge_cname(&shown, &record.value, &targets);
                    verdict(record, status, targets, detail)
                }
            },
        }
    }

    /// Asks the name servers for the records of `kind` at `name`.
    async fn lookup(&self, name: Name, kind: RecordKind) -> Answer {
        let record_type = match kind {
            RecordKind::Txt => RecordType::TXT,
            RecordKind::Mx => RecordType::MX,
            RecordKind::Cname => RecordType::CNAME,
        };
        match self.resolver.lookup(name, record_type).await {
            Ok(lookup) => {
                // The answer may also hold the CNAMEs that led to the records.
                let records = lookup
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() == record_type)
                    .map(|r| r.data.clone())
                    .collect::<Vec<_>>();
                if records.is_empty() {
                    Answer::Nothing { nxdomain: false }
                } else {
                    Answer::Records(records)
                }
            }
            Err(e) => no_answer(&e),
        }
    }
}

/// The resolver configuration shared by both kinds of checker: the timeout, no cache, no
/// hosts file.
fn configure(options: &mut ResolverOpts, timeout: Duration) {
    options.timeout = timeout;
    // One try per name server and transport: a check that cannot reach the name server
    // answers within about twice the timeout, and the customer simply checks again.
    options.attempts = 1;
    // Every check must see the zone as it is now: no cache, and should an entry be kept
    // anyway, it expires at once.
    options.cache_size = 0;
    options.positive_min_ttl = None;
    options.negative_min_ttl = None;
    options.positive_max_ttl = Some(Duration::ZERO);
    options.negative_max_ttl = Some(Duration::ZERO);
    options.use_hosts_file = ResolveHosts::Never;
}

/// One configured name server, over UDP and TCP on its own port.
fn name_server(addr: SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
    server.connections = vec![udp, tcp];
    server
}

/// Sorts a resolver error into "no such records" and "no usable answer".
fn no_answer(error: &NetError) -> Answer {
    if error.is_nx_domain() {
        Answer::Nothing { nxdomain: true }
    } else if error.is_no_records_found() {
        Answer::Nothing { nxdomain: false }
    } else {
        Answer::Failed(error.to_string())
    }
}

fn verdict(
    record: DnsRecord,
    status: RecordStatus,
    found: Vec<String>,
    detail: String,
) -> RecordCheck {
    RecordCheck {
        record,
        status,
        found,
        detail,
    }
}

/// The text of a TXT record: its character strings joined without separator.
fn txt_text(data: &RData) -> Option<String> {
    match data {
        RData::TXT(txt) => Some(
            txt.txt_data
                .iter()
                .map(|chunk| String::from_utf8_lossy(chunk))
                .collect(),
        ),
        _ => None,
    }
}

/// A host name as customers write it: ASCII, without the trailing dot.
fn host(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_string()
}

/// A host name in the form used for comparison: ASCII (IDNA), lower case, no trailing dot.
fn comparable_host(value: &str) -> String {
    let trimmed = value.trim().trim_end_matches('.');
    match Name::from_utf8(trimmed) {
        Ok(name) => host(&name).to_ascii_lowercase(),
        Err(_) => trimmed.to_ascii_lowercase(),
    }
}

/// The verification TXT: one of the texts must equal the token exactly.
fn judge_txt(name: &str, value: &str, texts: &[String]) -> (RecordStatus, String) {
    if texts.iter().any(|t| t == value) {
        (
            RecordStatus::Found,
            format!("the TXT record at {name} has the expected value"),
        )
    } else {
        (
            RecordStatus::Wrong,
            format!(
                "the TXT records at {name} do not contain the expected value {value:?}, found {}",
                quoted(texts)
            ),
        )
    }
}

/// Whether a TXT text is an SPF record: its first term is the version `v=spf1`.
fn is_spf(text: &str) -> bool {
    text.split_ascii_whitespace()
        .next()
        .is_some_and(|version| version.eq_ignore_ascii_case("v=spf1"))
}

/// The `include:` mechanisms of a suggested SPF record, in lower case.
fn spf_includes(record: &str) -> Vec<String> {
    record
        .split_ascii_whitespace()
        .map(str::to_ascii_lowercase)
        .filter_map(|term| {
            let term = term.strip_prefix('+').unwrap_or(&term);
            term.starts_with("include:").then(|| term.to_string())
        })
        .collect()
}

/// The SPF TXT: exactly one SPF record, which includes every `include:` of the suggestion.
fn judge_spf(name: &str, value: &str, texts: &[String]) -> (RecordStatus, String) {
    let records = texts.iter().filter(|t| is_spf(t)).collect::<Vec<_>>();
    let required = spf_includes(value);
    let wanted = if required.is_empty() {
        value.to_string()
    } else {
        required.join(" ")
    };
    match records.as_slice() {
        [] => (
            RecordStatus::Missing,
            format!("no SPF record (a TXT record starting with v=spf1) at {name}"),
        ),
        [record] => {
            let present = spf_includes(record);
            let complete = if required.is_empty() {
                normalised_spf(record) == normalised_spf(value)
            } else {
                required.iter().all(|term| present.contains(term))
            };
            if complete {
                (
                    RecordStatus::Found,
                    format!("the SPF record at {name} has {wanted}"),
                )
            } else {
                (
                    RecordStatus::Wrong,
                    format!("the SPF record at {name} lacks {wanted}: found {record:?}"),
                )
            }
        }
        several => (
            RecordStatus::Wrong,
            format!(
                "{name} has {} SPF records, but RFC 7208 allows only one: merge them into one \
                 record with {wanted}",
                several.len()
            ),
        ),
    }
}

/// An SPF record with its terms in lower case and single spaces between them.
fn normalised_spf(record: &str) -> String {
    record
        .split_ascii_whitespace()
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The MX: one of the exchanges must be the expected host.
fn judge_mx(
    name: &str,
    value: &str,
    priority: Option<u16>,
    exchanges: &[(u16, String)],
) -> (RecordStatus, String) {
    let expected = comparable_host(value);
    let matching = exchanges
        .iter()
        .find(|(_, exchange)| comparable_host(exchange) == expected);
    match matching {
        Some((preference, exchange)) => {
            let mut detail = format!("the MX record at {name} points to {exchange}");
            if let Some(suggested) = priority.filter(|p| p != preference) {
                detail.push_str(&format!(
                    " (with priority {preference}; {suggested} was suggested)"
                ));
            }
            (RecordStatus::Found, detail)
        }
        None => {
            let hosts = exchanges
                .iter()
                .map(|(_, exchange)| exchange.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            (
                RecordStatus::Wrong,
                format!("MX at {name} points to {hosts}, expected {expected}"),
            )
        }
    }
}

/// The autodiscover CNAME: the alias must point to the expected host.
fn judge_cname(name: &str, value: &str, targets: &[String]) -> (RecordStatus, String) {
    let expected = comparable_host(value);
    if let Some(target) = targets.iter().find(|t| comparable_host(t) == expected) {
        (
            RecordStatus::Found,
            format!("{name} is an alias (CNAME) of {target}"),
        )
    } else {
        (
            RecordStatus::Wrong,
            format!(
                "CNAME at {name} points to {}, expected {expected}",
                targets.join(", ")
            ),
        )
    }
}

/// Texts quoted and separated by commas, for details.
fn quoted(texts: &[String]) -> String {
    texts
        .iter()
        .map(|t| format!("{t:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checker_can_be_shared_between_tasks() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<DnsChecker>();
    }

    #[test]
    fn spf_version_must_be_the_first_term() {
        assert!(is_spf("v=spf1 -all"));
        assert!(is_spf("V=SPF1 include:a.example -all"));
        assert!(!is_spf("v=spf10 -all"));
        assert!(!is_spf("google-site-verification=abc v=spf1"));
    }

    #[test]
    fn spf_includes_accept_an_explicit_pass_qualifier_only() {
        assert_eq!(
            spf_includes("v=spf1 +include:A.example ~include:b.example include:c.example ~all"),
            vec!["include:a.example", "include:c.example"]
        );
    }

    #[test]
    fn spf_judgement() {
        let value = "v=spf1 include:spf.mail.example.net ~all";
        let one = |t: &str| vec![t.to_string()];
        let judge = |texts: &[String]| judge_spf("example.com", value, texts).0;
        assert_eq!(
            judge(&one("v=spf1 mx include:SPF.mail.example.net -all")),
            RecordStatus::Found
        );
        assert_eq!(
            judge(&one("v=spf1 include:spf.other.net ~all")),
            RecordStatus::Wrong
        );
        assert_eq!(
            judge(&[
                "v=spf1 include:spf.mail.example.net ~all".into(),
                "v=spf1 -all".into()
            ]),
            RecordStatus::Wrong
        );
        assert_eq!(judge(&one("some-verification=x")), RecordStatus::Missing);
    }

    #[test]
    fn hosts_compare_without_case_or_trailing_dot() {
        assert_eq!(
            comparable_host("MX.Mail.Example.NET."),
            "mx.mail.example.net"
        );
        let (status, _) = judge_mx(
            "example.com",
            "mx.mail.example.net",
            Some(10),
            &[(20, "MX.mail.example.net".into())],
        );
        assert_eq!(status, RecordStatus::Found);
    }
}
