//! Special-purpose IP addresses: which addresses are public unicast, and why the others are not.
//!
//! The control plane connects to addresses its customers choose (webhook receivers), so it
//! must never be turned into a probe of the provider's own network or of anything that is
//! not an ordinary host on the internet. This module is the one classification it uses: the
//! IANA IPv4 and IPv6 Special-Purpose Address Registries, every entry, each with the RFC that
//! reserves it, plus the few blocks that are not unicast at all (multicast, the deprecated
//! IPv4-compatible and site-local forms, and the IPv6 space outside `2000::/3`, which IANA
//! has not allocated for global unicast). An address that falls in none of them is public
//! unicast.
//!
//! Every entry is refused, even the few the registries mark "globally reachable" (the
//! anycast addresses of PCP, TURN, AS112 and AMT): a webhook receiver is an ordinary host,
//! and none of these is one. IPv6 forms that carry an IPv4 address are judged by the
//! address they carry where a packet sent to them reaches it: IPv4-mapped (`::ffff:0:0/96`),
//! the NAT64 well-known prefix (`64:ff9b::/96`) and 6to4 (`2002::/16`). The forms whose
//! IPv4 address cannot be trusted or is not where the packet goes are refused outright:
//! IPv4-compatible (`::/96`, deprecated), local-use NAT64 (`64:ff9b:1::/48`) and Teredo
//! (`2001::/32`, whose client address is obfuscated and reached through a relay).
//!
//! The most specific entry names the range, so that `192.0.0.9` is "Port Control Protocol
//! Anycast" rather than "IETF Protocol Assignments". The registries change rarely; when they
//! do, an entry is added here with a row of the test table.
//!
//! Sources: <https://www.iana.org/assignments/iana-ipv4-special-registry/> and
//! <https://www.iana.org/assignments/iana-ipv6-special-registry/>.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A block of addresses: the first address as bits, and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    V4(u32, u8),
    V6(u128, u8),
}

impl Block {
    fn contains(self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Block::V4(base, len), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                a.to_bits() & mask == base
            }
            (Block::V6(base, len), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                a.to_bits() & mask == base
            }
            _ => false,
        }
    }

    fn len(self) -> u8 {
        match self {
            Block::V4(_, len) | Block::V6(_, len) => len,
        }
    }
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Block::V4(base, len) => write!(f, "{}/{len}", Ipv4Addr::from_bits(base)),
            Block::V6(base, len) => write!(f, "{}/{len}", Ipv6Addr::from_bits(base)),
        }
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Block {
    Block::V4(u32::from_be_bytes([a, b, c, d]), len)
}

const fn v6(segments: [u16; 8], len: u8) -> Block {
    let mut bits = 0u128;
    let mut i = 0;
    while i < 8 {
        bits = (bits << 16) | segments[i] as u128;
        i += 1;
    }
    Block::V6(bits, len)
}

/// What an address in an entry's block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Treatment {
    /// Not public unicast.
    Refuse,
    /// Carries an IPv4 address in these bits (the shift of its lowest bit), by which it is
    /// judged.
    Embeds(u32),
}

/// One entry of the classification.
struct Entry {
    block: Block,
    name: &'static str,
    reference: &'static str,
    treatment: Treatment,
}

const fn refuse(block: Block, name: &'static str, reference: &'static str) -> Entry {
    Entry {
        block,
        name,
        reference,
        treatment: Treatment::Refuse,
    }
}

const fn embeds(block: Block, shift: u32, name: &'static str, reference: &'static str) -> Entry {
    Entry {
        block,
        name,
        reference,
        treatment: Treatment::Embeds(shift),
    }
}

/// Every entry of the IANA IPv4 and IPv6 Special-Purpose Address Registries, in the
/// registries' order, then the blocks that are not unicast.
const ENTRIES: &[Entry] = &[
    // The IANA IPv4 Special-Purpose Address Registry.
    refuse(v4(0, 0, 0, 0, 8), "This network", "RFC 791, section 3.2"),
    refuse(
        v4(0, 0, 0, 0, 32),
        "This host on this network",
        "RFC 1122, section 3.2.1.3",
    ),
    refuse(v4(10, 0, 0, 0, 8), "Private-Use", "RFC 1918"),
    refuse(v4(100, 64, 0, 0, 10), "Shared Address Space", "RFC 6598"),
    refuse(v4(127, 0, 0, 0, 8), "Loopback", "RFC 1122, section 3.2.1.3"),
    refuse(v4(169, 254, 0, 0, 16), "Link Local", "RFC 3927"),
    refuse(v4(172, 16, 0, 0, 12), "Private-Use", "RFC 1918"),
    refuse(
        v4(192, 0, 0, 0, 24),
        "IETF Protocol Assignments",
        "RFC 6890, section 2.1",
    ),
    refuse(
        v4(192, 0, 0, 0, 29),
        "IPv4 Service Continuity Prefix",
        "RFC 7335",
    ),
    refuse(v4(192, 0, 0, 8, 32), "IPv4 dummy address", "RFC 7600"),
    refuse(
        v4(192, 0, 0, 9, 32),
        "Port Control Protocol Anycast",
        "RFC 7723",
    ),
    refuse(
        v4(192, 0, 0, 10, 32),
        "Traversal Using Relays around NAT Anycast",
        "RFC 8155",
    ),
    refuse(
        v4(192, 0, 0, 170, 32),
        "NAT64/DNS64 Discovery",
        "RFC 8880, RFC 7050 section 2.2",
    ),
    refuse(
        v4(192, 0, 0, 171, 32),
        "NAT64/DNS64 Discovery",
        "RFC 8880, RFC 7050 section 2.2",
    ),
    refuse(
        v4(192, 0, 2, 0, 24),
        "Documentation (TEST-NET-1)",
        "RFC 5737",
    ),
    refuse(v4(192, 31, 196, 0, 24), "AS112-v4", "RFC 7535"),
    refuse(v4(192, 52, 193, 0, 24), "AMT", "RFC 7450"),
    refuse(
        v4(192, 88, 99, 0, 24),
        "Deprecated (6to4 Relay Anycast)",
        "RFC 7526",
    ),
    refuse(
        v4(192, 88, 99, 2, 32),
        "6a44-relay anycast address",
        "RFC 6751",
    ),
    refuse(v4(192, 168, 0, 0, 16), "Private-Use", "RFC 1918"),
    refuse(
        v4(192, 175, 48, 0, 24),
        "Direct Delegation AS112 Service",
        "RFC 7534",
    ),
    refuse(v4(198, 18, 0, 0, 15), "Benchmarking", "RFC 2544"),
    refuse(
        v4(198, 51, 100, 0, 24),
        "Documentation (TEST-NET-2)",
        "RFC 5737",
    ),
    refuse(
        v4(203, 0, 113, 0, 24),
        "Documentation (TEST-NET-3)",
        "RFC 5737",
    ),
    refuse(v4(240, 0, 0, 0, 4), "Reserved", "RFC 1112, section 4"),
    refuse(
        v4(255, 255, 255, 255, 32),
        "Limited Broadcast",
        "RFC 8190, RFC 919 section 7",
    ),
    // IPv4 blocks that are not unicast, from the IANA IPv4 Multicast Address Space Registry.
    refuse(v4(224, 0, 0, 0, 4), "Multicast", "RFC 5771"),
    // The IANA IPv6 Special-Purpose Address Registry.
    refuse(
        v6([0, 0, 0, 0, 0, 0, 0, 1], 128),
        "Loopback Address",
        "RFC 4291",
    ),
    refuse(
        v6([0, 0, 0, 0, 0, 0, 0, 0], 128),
        "Unspecified Address",
        "RFC 4291",
    ),
    embeds(
        v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96),
        0,
        "IPv4-mapped Address",
        "RFC 4291",
    ),
    embeds(
        v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96),
        0,
        "IPv4-IPv6 Translation",
        "RFC 6052",
    ),
    refuse(
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "IPv4-IPv6 Translation (local use)",
        "RFC 8215",
    ),
    refuse(
        v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        "Discard-Only Address Block",
        "RFC 6666",
    ),
    refuse(
        v6([0x100, 0, 0, 1, 0, 0, 0, 0], 64),
        "Dummy IPv6 Prefix",
        "RFC 9780",
    ),
    refuse(
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        "IETF Protocol Assignments",
        "RFC 2928",
    ),
    refuse(
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),
        "TEREDO",
        "RFC 4380, RFC 8190",
    ),
    refuse(
        v6([0x2001, 1, 0, 0, 0, 0, 0, 1], 128),
        "Port Control Protocol Anycast",
        "RFC 7723",
    ),
    refuse(
        v6([0x2001, 1, 0, 0, 0, 0, 0, 2], 128),
        "Traversal Using Relays around NAT Anycast",
        "RFC 8155",
    ),
    refuse(
        v6([0x2001, 1, 0, 0, 0, 0, 0, 3], 128),
        "DNS-SD Service Registration Protocol Anycast",
        "RFC 9665",
    ),
    refuse(
        v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48),
        "Benchmarking",
        "RFC 5180, RFC Errata 1752",
    ),
    refuse(v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32), "AMT", "RFC 7450"),
    refuse(
        v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48),
        "AS112-v6",
        "RFC 7535",
    ),
    refuse(
        v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28),
        "Deprecated (previously ORCHID)",
        "RFC 4843",
    ),
    refuse(
        v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28),
        "ORCHIDv2",
        "RFC 7343",
    ),
    refuse(
        v6([0x2001, 0x30, 0, 0, 0, 0, 0, 0], 28),
        "Drone Remote ID Protocol Entity Tags (DETs) Prefix",
        "RFC 9374",
    ),
    refuse(
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        "Documentation",
        "RFC 3849",
    ),
    embeds(
        v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16),
        80,
        "6to4",
        "RFC 3056",
    ),
    refuse(
        v6([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48),
        "Direct Delegation AS112 Service",
        "RFC 7534",
    ),
    refuse(
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        "Documentation",
        "RFC 9637",
    ),
    refuse(
        v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16),
        "Segment Routing (SRv6) SIDs",
        "RFC 9602",
    ),
    refuse(
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "Unique-Local",
        "RFC 4193, RFC 8190",
    ),
    refuse(
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        "Link-Local Unicast",
        "RFC 4291",
    ),
    // IPv6 blocks that are not unicast or are deprecated, from RFC 4291 and the IANA IPv6
    // Address Space Registry.
    refuse(
        v6([0, 0, 0, 0, 0, 0, 0, 0], 96),
        "IPv4-compatible Address (deprecated)",
        "RFC 4291, section 2.5.5.1",
    ),
    refuse(
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "Site-Local (deprecated)",
        "RFC 3879",
    ),
    refuse(
        v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
        "Multicast",
        "RFC 4291, section 2.7",
    ),
];

/// The IPv6 space IANA allocates for global unicast; any other IPv6 address that no entry
/// names is reserved by the IETF.
const GLOBAL_UNICAST: Block = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// Why an address is not public unicast: the range it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Special {
    /// The address judged: the one given, or the IPv4 address an IPv6 form carries.
    pub address: IpAddr,
    /// The range, such as `198.18.0.0/15`.
    pub range: String,
    /// The registry's name of the range, such as `Benchmarking`.
    pub name: &'static str,
    /// The RFC that reserves it.
    pub reference: &'static str,
    /// The IPv6 form that carried the IPv4 address judged, such as `::ffff:0:0/96`.
    pub carried_by: Option<String>,
}

impl fmt::Display for Special {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(form) = &self.carried_by {
            write!(f, "it carries {} ({form}), which is ", self.address)?;
        }
        write!(f, "in {} ({}, {})", self.range, self.name, self.reference)
    }
}

/// The most specific entry whose block holds the address.
fn entry_of(ip: IpAddr) -> Option<&'static Entry> {
    ENTRIES
        .iter()
        .filter(|e| e.block.contains(ip))
        .max_by_key(|e| e.block.len())
}

/// Classifies an address: `None` when it is public unicast, else the range it is in.
pub fn classify(ip: IpAddr) -> Option<Special> {
    let special = |e: &Entry, address: IpAddr| Special {
        address,
        range: e.block.to_string(),
        name: e.name,
        reference: e.reference,
        carried_by: None,
    };
    match entry_of(ip) {
        Some(e) => match e.treatment {
            Treatment::Refuse => Some(special(e, ip)),
            Treatment::Embeds(shift) => {
                let IpAddr::V6(v6) = ip else {
                    return Some(special(e, ip));
                };
                let carried = IpAddr::V4(Ipv4Addr::from_bits((v6.to_bits() >> shift) as u32));
                classify(carried).map(|inner| Special {
                    carried_by: Some(e.block.to_string()),
                    ..inner
                })
            }
        },
        None if ip.is_ipv6() && !GLOBAL_UNICAST.contains(ip) => Some(Special {
            address: ip,
            range: format!("outside {GLOBAL_UNICAST}"),
            name: "Reserved by the IETF",
            reference: "RFC 4291, section 2.4",
            carried_by: None,
        }),
        None => None,
    }
}

#[cfg(test)]
mod tests;
