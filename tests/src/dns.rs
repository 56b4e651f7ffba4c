//! A real authoritative DNS server on loopback, for the custom-domain verification tests.
//!
//! The checker under test is a real resolver that speaks DNS over UDP and TCP, so the tests
//! need a real name server to ask, whose zone they can change between two checks. A
//! [`DnsServer`] answers on 127.0.0.1 (UDP and TCP on the same port) with the wire format of
//! `hickory-proto`. It is authoritative for every name, as the root zone would be: a name
//! without records is NXDOMAIN, a name with records of other types only is NoData (NOERROR
//! with an empty answer), and both negative answers carry the zone's SOA. Records carry a
//! five-minute TTL, so that a resolver which caches would see stale data. A UDP answer too
//! large for the client's buffer is truncated, and the client must come back over TCP.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{CNAME, MX, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

/// The TTL of every record, and the negative TTL of the SOA.
const TTL: u32 = 300;

/// The records at one name.
#[derive(Debug, Clone, Default)]
struct Node {
    txt: Vec<String>,
    mx: Vec<(u16, String)>,
    cname: Option<String>,
    /// Answer SERVFAIL for this name, whatever it holds.
    fail: bool,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.txt.is_empty() && self.mx.is_empty() && self.cname.is_none() && !self.fail
    }
}

/// The zone: every name the server has records for, keyed by its lower-case form without
/// the trailing dot.
type Zone = Arc<Mutex<HashMap<String, Node>>>;

/// A running authoritative name server on loopback. Dropping it stops the server.
pub struct DnsServer {
    addr: SocketAddr,
    zone: Zone,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl DnsServer {
    /// Starts a server on 127.0.0.1 with an ephemeral port, the same for UDP and TCP, and an
    /// empty zone.
    pub async fn start() -> DnsServer {
        let (udp, tcp) = bind().await;
        let addr = udp.local_addr().expect("the UDP socket's address");
        let zone = Zone::default();
        let tasks = vec![
            tokio::spawn(serve_udp(udp, zone.clone())),
            tokio::spawn(serve_tcp(tcp, zone.clone())),
        ];
        DnsServer { addr, zone, tasks }
    }

    /// The address to send queries to, over UDP or TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the TXT records at `name` (one record per value; a value longer than 255
    /// bytes is split into several character strings, as zone files do). No values removes
    /// them. A CNAME at the name is removed, since it cannot coexist with other data.
    pub fn set_txt(&self, name: &str, values: &[&str]) {
        self.edit(name, |node| {
            node.cname = None;
            node.txt = values.iter().map(|v| v.to_string()).collect();
        });
    }

    /// Replaces the MX records at `name` with `(preference, exchange)` pairs. No records
    /// removes them. A CNAME at the name is removed.
    pub fn set_mx(&self, name: &str, records: &[(u16, &str)]) {
        self.edit(name, |node| {
            node.cname = None;
            node.mx = records
                .iter()
                .map(|(preference, exchange)| (*preference, exchange.to_string()))
                .collect();
        });
    }

    /// Makes `name` an alias of `target`, replacing every other record at the name.
    pub fn set_cname(&self, name: &str, target: &str) {
        self.edit(name, |node| {
            *node = Node {
                cname: Some(target.to_string()),
                ..Node::default()
            };
        });
    }

    /// Makes the server answer SERVFAIL for `name` until it is cleared.
    pub fn fail(&self, name: &str) {
        self.edit(name, |node| node.fail = true);
    }

    /// Removes every record at `name`: it no longer exists (NXDOMAIN).
    pub fn clear(&self, name: &str) {
        self.zone
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key(name));
    }

    fn edit(&self, name: &str, change: impl FnOnce(&mut Node)) {
        let mut zone = self.zone.lock().unwrap_or_else(PoisonError::into_inner);
        let key = key(name);
        let node = zone.entry(key.clone()).or_default();
        change(node);
        if node.is_empty() {
            zone.remove(&key);
        }
    }
}

/// A UDP socket and a TCP listener on the same loopback port.
async fn bind() -> (UdpSocket, TcpListener) {
    // The port the system picks for UDP may be taken for TCP; try a few.
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind a UDP socket on loopback");
        let addr = udp.local_addr().expect("the UDP socket's address");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

async fn serve_udp(socket: UdpSocket, zone: Zone) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Ok(request) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        let response = respond(&zone, &request);
        let Ok(mut bytes) = response.to_vec() else {
            continue;
        };
        // The client's buffer is 512 bytes, or what its EDNS OPT record announced.
        if bytes.len() > usize::from(request.max_payload()) {
            match response.truncate().to_vec() {
                Ok(truncated) => bytes = truncated,
                Err(_) => continue,
            }
        }
        let _ = socket.send_to(&bytes, peer).await;
    }
}

async fn serve_tcp(listener: TcpListener, zone: Zone) {
    // The connections end with this task: dropping the set aborts them.
    let mut connections = JoinSet::new();
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            connections.spawn(serve_connection(stream, zone.clone()));
        }
        while connections.try_join_next().is_some() {}
    }
}

/// Answers the messages of one TCP connection, each framed by a two-byte length.
async fn serve_connection(mut stream: TcpStream, zone: Zone) {
    loop {
        let Ok(len) = stream.read_u16().await else {
            return;
        };
        let mut buf = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut buf).await.is_err() {
            return;
        }
        let Ok(request) = Message::from_vec(&buf) else {
            return;
        };
        let Ok(bytes) = respond(&zone, &request).to_vec() else {
            return;
        };
        let Ok(len) = u16::try_from(bytes.len()) else {
            return;
        };
        if stream.write_u16(len).await.is_err() || stream.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

/// The authoritative answer to one query.
fn respond(zone: &Zone, request: &Message) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.add_queries(request.queries.iter().cloned());
    if let Some(edns) = &request.edns {
        let mut opt = hickory_proto::op::Edns::new();
        opt.set_max_payload(edns.max_payload().max(512));
        response.set_edns(opt);
    }
    if request.metadata.op_code != OpCode::Query {
        response.metadata.response_code = ResponseCode::NotImp;
        return response;
    }
    let [query] = request.queries.as_slice() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response;
    };
    let zone = zone.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(node) = zone.get(&key(&query.name.to_ascii())) else {
        response.metadata.response_code = ResponseCode::NXDomain;
        response.add_authority(soa());
        return response;
    };
    if node.fail {
        response.metadata.response_code = ResponseCode::ServFail;
        return response;
    }
    // Follow CNAMEs inside the zone, as an authoritative server does, a few hops at most.
    let mut owner = query.name.clone();
    let mut node = node;
    for _ in 0..8 {
        let answers = records(&owner, node, query.query_type);
        if !answers.is_empty() {
            response.add_answers(answers);
            return response;
        }
        let Some(target) = node.cname.as_deref().and_then(|t| fqdn(t).ok()) else {
            break;
        };
        response.add_answer(Record::from_rdata(
            owner.clone(),
            TTL,
            RData::CNAME(CNAME(target.clone())),
        ));
        match zone.get(&key(&target.to_ascii())) {
            Some(next) if !next.fail => {
                owner = target;
                node = next;
            }
            _ => return response,
        }
    }
    if response.answers.is_empty() {
        // NoData: the name exists, but has no records of this type.
        response.add_authority(soa());
    }
    response
}

/// The records of `record_type` at one node, owned by `owner`.
fn records(owner: &Name, node: &Node, record_type: RecordType) -> Vec<Record> {
    let record = |data: RData| Record::from_rdata(owner.clone(), TTL, data);
    match record_type {
        RecordType::TXT => node
            .txt
            .iter()
            .map(|value| record(RData::TXT(TXT::from_bytes(chunks(value)))))
            .collect(),
        RecordType::MX => node
            .mx
            .iter()
            .filter_map(|(preference, exchange)| {
                let exchange = fqdn(exchange).ok()?;
                Some(record(RData::MX(MX::new(*preference, exchange))))
            })
            .collect(),
        RecordType::CNAME => node
            .cname
            .iter()
            .filter_map(|target| Some(record(RData::CNAME(CNAME(fqdn(target).ok()?)))))
            .collect(),
        _ => Vec::new(),
    }
}

/// A TXT value as character strings of at most 255 bytes.
fn chunks(value: &str) -> Vec<&[u8]> {
    if value.is_empty() {
        return vec![&[]];
    }
    value.as_bytes().chunks(255).collect()
}

/// The SOA of the zone the server is authoritative for: the root.
fn soa() -> Record {
    let mname = fqdn("ns.mailplane.test").unwrap_or_else(|_| Name::root());
    let rname = fqdn("hostmaster.mailplane.test").unwrap_or_else(|_| Name::root());
    Record::from_rdata(
        Name::root(),
        TTL,
        RData::SOA(SOA::new(mname, rname, 1, 3600, 600, 86_400, TTL)),
    )
}

/// A host name as an absolute DNS name.
fn fqdn(host: &str) -> Result<Name, hickory_proto::ProtoError> {
    Name::from_ascii(format!("{}.", host.trim_end_matches('.')))
}

/// The zone's key for a name: lower case, without the trailing dot.
fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}
