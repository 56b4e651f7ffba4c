#!/usr/bin/env python3
# A tiny authoritative DNS server for the SDK examples. Mailplane verifies a custom domain by
# looking its records up with a real resolver (`--dns-server IP:PORT`), so the examples need a
# name server whose zone they can change while the server runs: this one listens on loopback,
# over UDP and TCP on the same port, and answers from a JSON zone file that it reads again on
# every query. The examples play the customer's DNS host by writing that file.
#
# The zone file holds the records as `GET /v1/tenants/{tenant}/domains/{domain}/records`
# gives them (`kind` is TXT, MX or CNAME; `priority` is the MX preference):
#
#   {"records": [
#     {"kind": "TXT", "name": "_mailplane.acme.example", "value": "mailplane-verification=..."},
#     {"kind": "MX", "name": "acme.example", "value": "mx.mailplane.example", "priority": 10},
#     {"kind": "TXT", "name": "acme.example", "value": "v=spf1 include:spf.mailplane.example ~all"},
#     {"kind": "CNAME", "name": "autodiscover.acme.example", "value": "autodiscover.mailplane.example"}
#   ]}
#
# The server is authoritative for every name, as the test harness's server is
# (tests/src/dns.rs): a name without records is NXDOMAIN, a name with records of other types
# only is NoData, and both negative answers carry an SOA. A CNAME is followed inside the zone.
# A missing zone file is an empty zone; a file that cannot be read or parsed is SERVFAIL, so
# that a broken file shows up as a failed check and not as a silently missing record.
#
# Usage: dns_stub.py --zone FILE [--host 127.0.0.1] [--port 5353]

import argparse
import json
import signal
import sys
import threading

from dnslib import CNAME, MX, OPCODE, QTYPE, RCODE, RR, SOA, TXT, DNSError, DNSLabel, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

# Every answer carries a five-minute TTL, as a real zone would, so that a resolver that
# caches would see stale data: Mailplane's checker must not cache.
TTL = 300


def key(name):
    """The zone's key for a name: lower case, without the trailing dot."""
    return str(name).rstrip(".").lower()


def chunks(text):
    """A TXT value as character strings of at most 255 bytes, as zone files split them."""
    data = text.encode("utf-8")
    if not data:
        return [b""]
    return [data[i : i + 255] for i in range(0, len(data), 255)]


class ZoneFileResolver(BaseResolver):
    """Answers every query from the zone file, read again for each query."""

    def __init__(self, zone_path):
        self.zone_path = zone_path

    def load(self):
        """The zone as a dict from owner name to its records; raises on a broken file."""
        try:
            with open(self.zone_path, encoding="utf-8") as f:
                document = json.load(f)
        except FileNotFoundError:
            return {}
        nodes = {}
        for record in document.get("records", []):
            kind = str(record["kind"]).upper()
            if kind not in ("TXT", "MX", "CNAME"):
                raise ValueError(f"record kind {kind!r} is not TXT, MX or CNAME")
            nodes.setdefault(key(record["name"]), []).append(record)
        return nodes

    def records(self, owner, node, qtype):
        """The resource records of type `qtype` at one node, owned by `owner`."""
        out = []
        for record in node:
            kind = record["kind"].upper()
            if kind != qtype:
                continue
            if kind == "TXT":
                rdata = TXT(chunks(record["value"]))
            elif kind == "MX":
                rdata = MX(record["value"].rstrip(".") + ".", int(record.get("priority") or 0))
            else:
                rdata = CNAME(record["value"].rstrip(".") + ".")
            out.append(RR(owner, QTYPE.reverse[kind], rdata=rdata, ttl=TTL))
        return out

    @staticmethod
    def soa():
        return RR(
            ".",
            QTYPE.SOA,
            rdata=SOA("ns.mailplane.test.", "hostmaster.mailplane.test.", (1, 3600, 600, 86400, TTL)),
            ttl=TTL,
        )

    def resolve(self, request, handler):
        reply = request.reply(ra=0, aa=1)
        if request.header.opcode != OPCODE.QUERY:
            reply.header.rcode = RCODE.NOTIMP
            return reply
        if len(request.questions) != 1:
            reply.header.rcode = RCODE.FORMERR
            return reply
        try:
            zone = self.load()
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"dns_stub: cannot read the zone file {self.zone_path}: {e}", file=sys.stderr, flush=True)
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        qname = request.q.qname
        qtype = QTYPE.get(request.q.qtype)
        node = zone.get(key(qname))
        if node is None:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self.soa())
            return reply
        owner = DNSLabel(qname)
        # Follow CNAMEs inside the zone, as an authoritative server does, a few hops at most.
        for _ in range(8):
            answers = self.records(owner, node, qtype)
            if answers:
                for rr in answers:
                    reply.add_answer(rr)
                return reply
            aliases = self.records(owner, node, "CNAME")
            if not aliases or qtype == "CNAME":
                break
            reply.add_answer(aliases[0])
            target = DNSLabel(str(aliases[0].rdata.label))
            node = zone.get(key(target))
            if node is None:
                return reply
            owner = target
        if not reply.rr:
            # NoData: the name exists, but holds no record of this type.
            reply.add_auth(self.soa())
        return reply


class TruncatingHandler(DNSHandler):
    """Truncates a UDP answer too large for the client's buffer (512 bytes, or what its EDNS
    OPT record announces), so that the client comes back over TCP, as RFC 1035 asks."""

    def get_reply(self, data):
        try:
            request = DNSRecord.parse(data)
            sizes = [rr.rclass for rr in request.ar if rr.rtype == QTYPE.OPT]
            self.udplen = max([512] + sizes)
        except DNSError:
            self.udplen = 512
        return super().get_reply(data)


def main():
    parser = argparse.ArgumentParser(description="An authoritative DNS server answering from a JSON zone file.")
    parser.add_argument("--zone", required=True, help="the JSON zone file, read again on every query")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5353, help="the UDP and TCP port (default 5353)")
    args = parser.parse_args()

    resolver = ZoneFileResolver(args.zone)
    # Log each query and its answer on one line each; leave out the packet dumps.
    logger = DNSLogger(log="-recv,-send,-data", prefix=False)
    try:
        servers = [
            DNSServer(resolver, address=args.host, port=args.port, logger=logger, handler=TruncatingHandler),
            DNSServer(resolver, address=args.host, port=args.port, tcp=True, logger=logger, handler=TruncatingHandler),
        ]
    except OSError as e:
        print(f"dns_stub: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr, flush=True)
        return 1
    for server in servers:
        server.start_thread()
    print(f"dns_stub: listening on {args.host}:{args.port} (UDP and TCP), zone {args.zone}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set() and all(s.isAlive() for s in servers):
        stop.wait(0.5)
    for server in servers:
        server.stop()
    if not stop.is_set():
        print("dns_stub: a listener stopped unexpectedly", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
