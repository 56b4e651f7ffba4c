#!/usr/bin/env python3
"""Real objects for CI's schemathesis passes, made through the API before a pass.

Random ids only ever reach an operation's 404: this makes a tenant with a verified domain,
mailboxes, an alias, a group, a hold, a ticket, a webhook, a credential, a filed request and
a ready export, and writes their ids to a JSON file that .ci/schemathesis_hooks.py reads to
put real ids into the generated cases. It also mints the tokens the hooks act with, and
records what the hooks need to make a fresh object for an operation that uses its object up
(a deletion, a release, an answer to a request).

Usage: fuzz_fixtures.py --url URL --token PROVIDER_TOKEN --bin MAILPLANE --data-dir DIR
                        --zone ZONE_FILE --pass provider|tenant --out FIXTURES.json
It prints the id of the tenant it made, and exits non-zero at the first answer it did not
expect, with that answer.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

# An Ed25519 public key (SPKI PEM) for credential fixtures; its private half was thrown away.
PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAeyJvL6ntWGgfnTmS21NA4rSz03OeN0SHZ3aIhxt+3i0=\n"
    "-----END PUBLIC KEY-----\n"
)


class Api:
    """A caller with one bearer token."""

    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method, path, body=None, expect=(200, 201, 202, 204), raw=None):
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "message/rfc822" if raw is not None else "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        if status not in expect:
            sys.exit(f"fuzz_fixtures: {method} {path} answered {status}, expected {expect}: {raw[:500]!r}")
        return json.loads(raw) if raw else None


def mint(binary, data_dir, party, org, role):
    """A token minted with the CLI, as an operator would."""
    command = [binary, "--data-dir", data_dir, "token", "issue", "--party", party, "--org", str(org)]
    command += ["--role", role, "--ttl", "2h"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def publish(zone_path, domain, records):
    """Publishes a domain's records in the zone file the DNS stub answers from."""
    try:
        with open(zone_path, encoding="utf-8") as f:
            zone = json.load(f)
    except FileNotFoundError:
        zone = {"records": []}
    zone["records"] = [r for r in zone["records"] if not r["name"].endswith(domain)] + [
        {"kind": r["kind"], "name": r["name"], "value": r["value"], "priority": r.get("priority")} for r in records
    ]
    temporary = f"{zone_path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(zone, f)
    os.replace(temporary, zone_path)


def wait_for(what, fetch, ready, timeout=60, required=True):
    deadline = time.monotonic() + timeout
    while True:
        answer = fetch()
        if ready(answer):
            return answer
        if time.monotonic() > deadline:
            message = f"fuzz_fixtures: {what} not there after {timeout} s: {answer!r}"
            if required:
                sys.exit(message)
            print(message, file=sys.stderr)
            return None
        time.sleep(0.3)


def seed_tenant(provider, args, run, profile):
    """A tenant with a verified domain and one of each object, and its administrator."""
    body = {"name": f"Fuzz customer {run}", "slug": f"fuzz-{run}", "seats": 5000}
    if profile:
        body["profile"] = profile
    # The offer needs licences: enough seats that generated mailboxes rarely run out.
    t = provider.call("POST", "/v1/tenants", body, expect=(201,))["id"]
    token = mint(args.bin, args.data_dir, "customer", t, "tenant-admin")
    customer = Api(args.url, token)
    base = f"/v1/tenants/{t}"
    name = f"fuzz-{run}.example"
    domain = customer.call("POST", f"{base}/domains", {"name": name}, expect=(201,))
    records = customer.call("GET", f"{base}/domains/{domain['id']}/records")["records"]
    publish(args.zone, name, records)
    verified = customer.call("POST", f"{base}/domains/{domain['id']}/verify")
    if not verified.get("verified"):
        sys.exit(f"fuzz_fixtures: {name} did not verify: {verified!r}")
    mailbox = customer.call(
        "POST",
        f"{base}/mailboxes",
        {"local_part": "fixture", "domain_id": domain["id"], "display_name": "Fixture"},
        expect=(201,),
    )
    m = mailbox["id"]
    customer.call("PUT", f"{base}/mailboxes/{m}/forwarding", {"address": "fixture@old-host.example"})
    customer.call("PUT", f"{base}/mailboxes/{m}/password", {"password": f"Fixture-{run}-Passw0rd!"})
    alias = customer.call(
        "POST", f"{base}/mailboxes/{m}/aliases", {"local_part": "fixture-alias", "domain_id": domain["id"]}, expect=(201,)
    )
    group = customer.call(
        "POST",
        f"{base}/groups",
        {"local_part": "fixture-group", "domain_id": domain["id"], "display_name": "Fixture group"},
        expect=(201,),
    )
    customer.call("POST", f"{base}/groups/{group['id']}/members", {"mailbox_id": m})
    hold = customer.call("POST", f"{base}/holds", {"mailbox_id": m, "reason": "fixture"}, expect=(201,))
    ticket = customer.call(
        "POST", f"{base}/tickets", {"title": "Fixture", "description": "A fixture ticket."}, expect=(201,)
    )
    credential = customer.call(
        "POST",
        f"{base}/credentials",
        {"name": "fixture", "public_key": PUBLIC_KEY, "roles": ["tenant-reader"]},
        expect=(201,),
    )
    subscription = customer.call("GET", f"{base}/subscriptions")["items"][0]
    customer.call(
        "POST",
        f"{base}/mailboxes/{m}/messages",
        raw=b"From: Fixture <old@old-host.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        b"Subject: fixture\r\n\r\nA fixture message.\r\n",
        expect=(201,),
    )
    return {
        "tenant": t,
        "customer_token": token,
        "domain": domain["id"],
        "mailbox": m,
        "alias": alias["id"],
        "group": group["id"],
        "hold": hold["id"],
        "ticket": ticket["id"],
        "credential": credential["id"],
        "subscription": subscription["id"],
        "sku": subscription["sku"],
    }


def ready_exports(customer, tenant, mailbox, count):
    """Exports of one mailbox, waited for until ready."""
    base = f"/v1/tenants/{tenant}/exports"
    made = [customer.call("POST", base, {"format": "mbox", "mailbox_id": mailbox}, expect=(201,)) for _ in range(count)]
    return [
        wait_for(
            "an export",
            lambda e=e: customer.call("GET", f"{base}/{e['id']}"),
            lambda e: e.get("state") != "preparing",
        )
        for e in made
    ]


def consultations(args, provider, partner, count, object_to=0):
    """Tenants of the partner, terminated with no export window: the partner is consulted
    on destroying each one's configuration. Returns the pending consultations' ids, and the
    tenants whose termination the partner's objection blocked (the first `object_to`)."""
    reseller = Api(args.url, partner["token"])
    tenants = []
    for i in range(count):
        body = {"name": f"Fuzz resold {i} {uuid.uuid4().hex[:6]}", "profile": "master-hoster"}
        t = reseller.call("POST", "/v1/tenants", body, expect=(201,))["id"]
        customer = Api(args.url, mint(args.bin, args.data_dir, "customer", t, "tenant-admin"))
        customer.call("POST", f"/v1/tenants/{t}/termination", {"export_window_days": 0}, expect=(201,))
        tenants.append(t)

    def pending():
        page = reseller.call("GET", "/v1/requests?state=pending&limit=1000")["items"]
        return {r["tenant_id"]: r["id"] for r in page if r["kind"] == "consultation" and r["tenant_id"] in tenants}

    found = wait_for("the consultations", pending, lambda p: len(p) == len(tenants))
    ids = [found[t] for t in tenants]
    blocked = []
    for t, request in zip(tenants[:object_to], ids[:object_to]):
        reseller.call("POST", f"/v1/requests/{request}/object", {"reason": "Not yet."})
        # The provider, accountable, withdraws the destruction: the withdrawal wakes the
        # termination, which stops at blocked until the provider resumes it.
        provider.call("POST", f"/v1/requests/{request}/cancel", {"reason": "We wait."})
        if wait_for(
            "a blocked termination",
            lambda t=t: provider.call("GET", f"/v1/tenants/{t}/termination"),
            lambda v: v.get("state") == "blocked",
            timeout=10,
            required=False,
        ):
            blocked.append(t)
    return ids[object_to:], blocked


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True, help="a provider-admin token")
    parser.add_argument("--bin", required=True, help="the mailplane binary, to mint tokens")
    parser.add_argument("--data-dir", required=True, help="the server's data directory")
    parser.add_argument("--zone", required=True, help="the zone file of the DNS stub")
    parser.add_argument("--pass", dest="pass_", choices=["provider", "tenant"], required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    provider = Api(args.url, args.token)

    partner = provider.call("POST", "/v1/partners", {"name": f"Fuzz partner {run}"}, expect=(201,))
    partner["token"] = mint(args.bin, args.data_dir, "partner", partner["id"], "partner-admin")
    # Each pass acts on a tenant of the default profile; requests are filed on a tenant of the
    # ticketed profile beside it, the only one with an activity Mailplane does not carry out.
    fixtures = seed_tenant(provider, args, run, None)
    ticketed = provider.call(
        "POST", "/v1/tenants", {"name": f"Fuzz ticketed {run}", "profile": "ticketed-suite"}, expect=(201,)
    )["id"]
    ticketed_token = mint(args.bin, args.data_dir, "customer", ticketed, "tenant-admin")
    customer = Api(args.url, fixtures["customer_token"])
    token = args.token if args.pass_ == "provider" else fixtures["customer_token"]
    webhook = Api(args.url, token).call(
        "POST", "/v1/webhooks", {"url": f"https://hooks.example.com/{run}"}, expect=(201,)
    )
    request = Api(args.url, ticketed_token).call(
        "POST", f"/v1/tenants/{ticketed}/requests", {"activity": "disclaimer.all-users", "payload": {}}, expect=(202,)
    )
    exports = ready_exports(customer, fixtures["tenant"], fixtures["mailbox"], 4)
    download = urllib.parse.urlparse(exports[0].get("download_url") or "")
    export_token = urllib.parse.parse_qs(download.query).get("token", [None])[0]
    consulted, blocked = consultations(args, provider, partner, 6, object_to=2)
    catalogue = provider.call("GET", "/v1/catalogue")
    tenant = provider.call("GET", f"/v1/tenants/{fixtures['tenant']}")
    profiles = [p["id"] for p in provider.call("GET", "/v1/profiles")["items"]]

    fixtures.update(
        {
            "pass": args.pass_,
            "url": args.url.rstrip("/"),
            "bin": args.bin,
            "data_dir": args.data_dir,
            "provider_token": args.token,
            "partner": partner["id"],
            "partner_token": partner["token"],
            "ticketed": ticketed,
            "ticketed_token": ticketed_token,
            "webhook": webhook["id"],
            "request": request["id"],
            "export": exports[0]["id"],
            "export_token": export_token,
            "ready_exports": [e["id"] for e in exports[1:]],
            "consultations_consent": consulted[:2],
            "consultations_object": consulted[2:],
            "blocked": blocked,
            "public_key": PUBLIC_KEY,
            "extra_sku": next((k["id"] for k in catalogue["skus"] if k["id"] != fixtures["sku"]), None),
            "upgrade_offer": next(o["id"] for o in catalogue["offers"] if o["id"] != tenant.get("offer")),
            "other_region": next(r["id"] for r in catalogue["regions"] if r["id"] != tenant.get("region")),
            "other_profile": next(p for p in profiles if p not in (tenant.get("profile"), "platform")),
        }
    )
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(fixtures, f, indent=2)
    print(fixtures["tenant"])


if __name__ == "__main__":
    main()
