#!/usr/bin/env python3
# A reseller portal's day against a live Mailplane server, written with nothing but the Python
# client that openapi-python-client generates from openapi/mailplane.json. It exists to prove
# that the checked-in OpenAPI document gives a usable client: every API call below goes
# through the generated code, and every answer is checked, so a change to the document that
# breaks a client, or a server that answers otherwise than documented, fails this script.
#
# The day, with the party that does each step in the `master-hoster` profile (the reseller
# offer, book/src/profiles/master-hoster.md):
#
#   1. the provider signs up the reseller (a partner: partner.manage);
#   2. the reseller onboards a customer tenant (service.deliver: partner RA);
#   3. the portal, acting for the customer with a customer token, adds a domain, publishes its
#      records at the customer's DNS host and verifies it (directory.administer: customer RA;
#      the check needs R and A, so the reseller's R alone is not enough);
#   4. the portal creates mailboxes in bulk for the customer (mailbox_batch_create needs R and A);
#   5. the reseller assigns a licence: its R without A makes that a proposal, which the
#      customer approves (directory.administer: customer RA, partner R);
#   6. both read their event feeds;
#   7. the customer takes its export while the service still runs, downloads it through the
#      expiring link without a bearer token, checks it against the manifest and acknowledges
#      it (export.pst.deliver: customer A, provider R, automated);
#   8. the customer terminates the contract with an export window of 0 days
#      (contract.terminate: customer RA);
#   9. the reseller, consulted on destroying the configuration (configuration.destroy:
#      partner C), consents, which sends the termination on at once;
#  10. provider automation destroys the configuration and the data, and the tenant is closed
#      with a signed destruction certificate, which is verified offline.
#
# On the way, the portal uses the API's safeguards as a real one would: the tenant is created
# with an `Idempotency-Key` and its retry replays the first answer, and one mailbox is
# changed with `If-Match`, carrying the `ETag` of a read (a stale tag gets 412).
#
# Run it by hand as examples/sdk/README.md says, or through .ci/sdk. It reads:
#   MAILPLANE_URL             the server's base URL (default http://127.0.0.1:8080)
#   MAILPLANE_PROVIDER_TOKEN  a provider-admin token (the bootstrap token `serve` prints)
#   MAILPLANE_BIN             the `mailplane` binary, to mint partner and customer tokens
#   MAILPLANE_DATA_DIR        the server's data directory (its signing key signs the tokens)
#   MAILPLANE_DNS_ZONE        the zone file the DNS stub (examples/sdk/dns_stub.py) answers from
#   MAILPLANE_TIMEOUT         how long to wait for background jobs, in seconds (default 30)
# It exits 0 when the whole day went as expected, 1 at the first step that did not.

import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import uuid
import zipfile

import httpx

# The generated client names its modules after the operation ids and its models after the
# schemas: an operation or schema renamed or removed in openapi/mailplane.json fails here.
try:
    from mailplane_client import AuthenticatedClient, Client
    from mailplane_client.api.catalogue import licence_assign, licence_list, subscription_list
    from mailplane_client.api.domains import domain_create, domain_list, domain_records_view, domain_verify, domain_view
    from mailplane_client.api.events import event_list
    from mailplane_client.api.health import health_ready
    from mailplane_client.api.lifecycle import (
        destruction_key_list,
        export_acknowledge,
        export_create,
        export_download,
        export_view,
        termination_create,
        termination_view,
    )
    from mailplane_client.api.mailboxes import mailbox_batch_create, mailbox_list, mailbox_update, mailbox_view
    from mailplane_client.api.partners import partner_create
    from mailplane_client.api.requests import request_approve, request_consent, request_list
    from mailplane_client.api.tenants import tenant_create, tenant_list
    from mailplane_client.models import (
        DomainCreate,
        ExportCreate,
        ExportFormat,
        ExportState,
        LicenceAssign,
        Mailbox,
        MailboxBatchCreate,
        MailboxCreate,
        MailboxKind,
        MailboxStatus,
        MailboxUpdate,
        PartnerCreate,
        Problem,
        RecordStatus,
        RequestKind,
        RequestResolution,
        RequestState,
        TenantCreate,
        TerminationCreate,
        TerminationState,
    )
    from mailplane_client.types import File, Unset
except ImportError as e:
    sys.exit(
        f"portal_day.py: the generated client does not have what the portal uses ({e}); regenerate it "
        "from openapi/mailplane.json (see examples/sdk/README.md) or update the script"
    )

PROFILE = "master-hoster"


class StepFailed(Exception):
    """A step got another answer than the one it expected."""


class Day:
    """The state of the day: the clients, the ids made so far, the step being played."""

    def __init__(self):
        self.url = os.environ.get("MAILPLANE_URL", "http://127.0.0.1:8080").rstrip("/")
        self.provider_token = required_env("MAILPLANE_PROVIDER_TOKEN")
        self.bin = os.environ.get("MAILPLANE_BIN", "mailplane")
        self.data_dir = required_env("MAILPLANE_DATA_DIR")
        self.zone = required_env("MAILPLANE_DNS_ZONE")
        self.timeout = float(os.environ.get("MAILPLANE_TIMEOUT", "30"))
        # Names are unique on the platform (partners, domains, addresses): each run takes its own.
        self.run = uuid.uuid4().hex[:8]
        self.step = "start"
        self.number = 0
        self.provider = self.client(self.provider_token)
        # The download link carries its own credential: it is called without a bearer token.
        self.anonymous = Client(base_url=self.url, raise_on_unexpected_status=True, timeout=httpx.Timeout(30.0))

    def client(self, token):
        return AuthenticatedClient(
            base_url=self.url, token=token, raise_on_unexpected_status=True, timeout=httpx.Timeout(30.0)
        )

    def begin(self, name):
        self.number += 1
        self.step = name

    def done(self, detail):
        print(f"[{self.number:2}] {self.step}: {detail}", flush=True)

    def mint(self, party, org, role):
        """Mints a token with the CLI, as an operator would for the portal's service account."""
        command = [self.bin, "--data-dir", self.data_dir, "token", "issue", "--party", party, "--org", str(org)]
        command += ["--role", role, "--ttl", "1h", "--subject", f"portal-{self.run}"]
        result = subprocess.run(command, check=False, capture_output=True, text=True)
        token = result.stdout.strip()
        if result.returncode != 0 or not token:
            fail(f"`{' '.join(command)}` exited {result.returncode} without a token: {result.stderr.strip()}")
        return token


def required_env(name):
    value = os.environ.get(name, "").strip()
    if not value:
        raise StepFailed(f"the environment variable {name} is not set (see examples/sdk/README.md)")
    return value


def fail(message):
    raise StepFailed(message)


def check(condition, message):
    if not condition:
        fail(message)


def describe(response):
    """What came back, for a failure message: the problem document's type and detail, or the body."""
    parsed = response.parsed
    if isinstance(parsed, Problem):
        return f"{parsed.type_} {parsed.detail!r}"
    return response.content[:500].decode("utf-8", "replace")


def expect(what, response, status):
    """The parsed answer of a call that must answer `status`. The generated client parses the
    body by the status code (201 as the resource, 202 as the filed request, 4xx as a problem
    document), so checking the status is checking the type too."""
    if response.status_code != status:
        fail(f"{what}: expected HTTP {status}, got {int(response.status_code)}: {describe(response)}")
    if response.parsed is None:
        fail(f"{what}: HTTP {status} came without a body the client could parse: {describe(response)}")
    return response.parsed


def value(x):
    """An optional field's value, with `Unset` as None."""
    return None if isinstance(x, Unset) else x


def poll(day, what, fetch, ready):
    """Calls `fetch` until `ready` holds for its answer, or fails after the day's timeout."""
    deadline = time.monotonic() + day.timeout
    while True:
        answer = fetch()
        if ready(answer):
            return answer
        if time.monotonic() > deadline:
            fail(f"{what}: still not there after {day.timeout:.0f} s; last answer: {answer!r}")
        time.sleep(0.5)


def publish(zone_path, domain, records):
    """The customer publishes the records at its DNS host. Here the DNS host is the zone file
    the DNS stub answers from; the records of other domains in it are kept."""
    try:
        with open(zone_path, encoding="utf-8") as f:
            zone = json.load(f)
    except FileNotFoundError:
        zone = {"records": []}

    def ours(name):
        return name == domain or name.endswith("." + domain)

    kept = [r for r in zone.get("records", []) if not ours(r["name"])]
    published = [
        {"kind": r.kind.value, "name": r.name, "value": r.value, "priority": value(r.priority)} for r in records
    ]
    zone["records"] = kept + published
    # Written whole and renamed, so that the stub never reads half a file.
    temporary = f"{zone_path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(zone, f, indent=2)
    os.replace(temporary, zone_path)


def play(day):
    started = time.monotonic()

    day.begin("server ready")
    ready = expect("health_ready", health_ready.sync_detailed(client=day.anonymous), 200)
    day.done(f"database {ready.database}")

    day.begin("provider signs up the reseller")
    partner_name = f"Portal reseller py-{day.run}"
    partner = expect(
        "partner_create", partner_create.sync_detailed(client=day.provider, body=PartnerCreate(name=partner_name)), 201
    )
    check(partner.name == partner_name, f"partner_create: expected the name {partner_name!r}, got {partner.name!r}")
    reseller = day.client(day.mint("partner", partner.id, "partner-admin"))
    day.done(f"partner {partner.id}")

    day.begin("reseller onboards a customer")
    tenant_name = f"Acme py-{day.run}"
    tenant_body = TenantCreate(name=tenant_name, profile=PROFILE)
    # The portal names the call, so that a retry after a lost answer cannot make a second tenant.
    tenant_key = f"portal-tenant-{day.run}"
    created = tenant_create.sync_detailed(client=reseller, body=tenant_body, idempotency_key=tenant_key)
    tenant = expect("tenant_create", created, 201)
    check(
        "Idempotency-Replayed" not in created.headers,
        f"tenant_create: expected a first call to be answered afresh, got Idempotency-Replayed: "
        f"{created.headers.get('Idempotency-Replayed')}",
    )
    check(tenant.profile == PROFILE, f"tenant_create: expected the profile {PROFILE}, got {tenant.profile}")
    check(
        value(tenant.partner_id) == partner.id,
        f"tenant_create: expected the tenant to be resold by {partner.id}, got partner_id {value(tenant.partner_id)}",
    )
    check(tenant.status.value == "active", f"tenant_create: expected status active, got {tenant.status.value}")
    # A retry with the same Idempotency-Key gets the first answer back and creates nothing.
    retried = tenant_create.sync_detailed(client=reseller, body=tenant_body, idempotency_key=tenant_key)
    again = expect("tenant_create (retry)", retried, 201)
    check(
        retried.headers.get("Idempotency-Replayed") == "true" and again.id == tenant.id,
        f"tenant_create (retry): expected the stored answer for tenant {tenant.id} with Idempotency-Replayed: true, "
        f"got tenant {again.id} with Idempotency-Replayed: {retried.headers.get('Idempotency-Replayed')}",
    )
    resold_tenants = [
        t.id for t in expect("tenant_list", tenant_list.sync_detailed(client=reseller, limit=1000), 200).items
    ]
    check(
        resold_tenants == [tenant.id],
        f"tenant_list (reseller): expected its one tenant {tenant.id} after the retry, got {resold_tenants}",
    )
    # The portal acts for its customer with a customer token: directory work, the
    # termination and the export are the customer's to decide in this profile.
    customer = day.client(day.mint("customer", tenant.id, "tenant-admin"))
    day.done(
        f"tenant {tenant.id} ({tenant.profile}, offer {value(tenant.offer)}, region {value(tenant.region)}), retry replayed"
    )

    day.begin("customer adds its domain")
    domain_name = f"acme-py-{day.run}.example"
    domain = expect(
        "domain_create",
        domain_create.sync_detailed(tenant.id, client=customer, body=DomainCreate(name=domain_name)),
        201,
    )
    check(domain.name == domain_name, f"domain_create: expected {domain_name}, got {domain.name}")
    check(not domain.verified, "domain_create: expected a new custom domain to start unverified, got verified")
    check(bool(value(domain.verification_token)), "domain_create: expected a verification_token, got none")
    day.done(f"{domain.name} ({domain.id}), unverified")

    day.begin("domain verified through DNS")
    wanted = expect("domain_records_view", domain_records_view.sync_detailed(tenant.id, domain.id, client=customer), 200)
    purposes = sorted(r.purpose.value for r in wanted.records)
    check(
        purposes == ["autodiscover", "mx", "spf", "verification"],
        f"domain_records_view: expected the verification, MX, SPF and autodiscover records, got {purposes}",
    )
    token_record = next(r for r in wanted.records if r.purpose.value == "verification")
    check(
        value(domain.verification_token) in token_record.value,
        f"domain_records_view: expected the verification TXT to carry {value(domain.verification_token)}, got {token_record.value!r}",
    )
    # Before the records are published, the check finds none of them.
    before = expect("domain_verify", domain_verify.sync_detailed(tenant.id, domain.id, client=customer), 200)
    check(not before.verified, "domain_verify before publishing: expected verified false, got true")
    not_found = [c.record.purpose.value for c in before.checks if c.status != RecordStatus.FOUND]
    check(
        len(not_found) == len(wanted.records),
        f"domain_verify before publishing: expected no record found, got {[(c.record.purpose.value, c.status.value) for c in before.checks]}",
    )
    publish(day.zone, domain.name, wanted.records)
    after = expect("domain_verify", domain_verify.sync_detailed(tenant.id, domain.id, client=customer), 200)
    statuses = {c.record.purpose.value: c.status.value for c in after.checks}
    check(
        after.verified and after.mail_ready and all(s == "found" for s in statuses.values()),
        f"domain_verify after publishing: expected verified and mail_ready with every record found, got verified={after.verified} "
        f"mail_ready={after.mail_ready} {statuses}; details: {[c.detail for c in after.checks]}",
    )
    viewed = expect("domain_view", domain_view.sync_detailed(tenant.id, domain.id, client=customer), 200)
    check(
        viewed.verified and value(viewed.verified_at) is not None,
        f"domain_view: expected the domain verified with verified_at, got verified={viewed.verified} verified_at={value(viewed.verified_at)}",
    )
    day.done(f"{len(statuses)} records found, verified at {value(viewed.verified_at)}")

    day.begin("customer's mailboxes created in bulk")
    subscriptions = expect("subscription_list", subscription_list.sync_detailed(tenant.id, client=customer), 200).items
    check(
        len(subscriptions) == 1, f"subscription_list: expected the offer's one subscription, got {len(subscriptions)}"
    )
    subscription = subscriptions[0]
    people = [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")]
    # Dave starts disabled, so he takes no seat until the reseller gives him a licence; the
    # shared mailbox never takes one.
    rows = [MailboxCreate(local_part=l, domain_id=domain.id, display_name=n) for l, n in people]
    rows.append(
        MailboxCreate(local_part="dave", domain_id=domain.id, display_name="Dave", status=MailboxStatus.DISABLED)
    )
    rows.append(
        MailboxCreate(local_part="info", domain_id=domain.id, display_name="Info desk", kind=MailboxKind.SHARED)
    )
    seats_needed = len(people) + 1
    check(
        subscription.free >= seats_needed,
        f"subscription_list: the day needs {seats_needed} free seats, the subscription has {subscription.free}",
    )
    key = f"portal-day-{day.run}"
    batch_body = MailboxBatchCreate(mailboxes=rows)
    batch = expect(
        "mailbox_batch_create",
        mailbox_batch_create.sync_detailed(tenant.id, client=customer, body=batch_body, idempotency_key=key),
        201,
    )
    addresses = [f"{row.local_part}@{domain.name}" for row in rows]
    check(batch.created == len(rows), f"mailbox_batch_create: expected {len(rows)} mailboxes created, got {batch.created}")
    check(
        [m.address for m in batch.mailboxes] == addresses,
        f"mailbox_batch_create: expected {addresses} in order, got {[m.address for m in batch.mailboxes]}",
    )
    # A retry with the same Idempotency-Key gets the stored answer and creates nothing.
    replay = mailbox_batch_create.sync_detailed(tenant.id, client=customer, body=batch_body, idempotency_key=key)
    replayed = expect("mailbox_batch_create (retry)", replay, 201)
    check(
        replay.headers.get("Idempotency-Replayed") == "true" and replayed.id == batch.id,
        f"mailbox_batch_create (retry): expected the stored answer of batch {batch.id} with Idempotency-Replayed: true, "
        f"got batch {replayed.id} with Idempotency-Replayed: {replay.headers.get('Idempotency-Replayed')}",
    )
    listed = expect("mailbox_list", mailbox_list.sync_detailed(tenant.id, client=customer, limit=1000), 200)
    check(
        sorted(m.address for m in listed.items) == sorted(addresses),
        f"mailbox_list: expected {sorted(addresses)}, got {sorted(m.address for m in listed.items)}",
    )
    counted = expect("subscription_list", subscription_list.sync_detailed(tenant.id, client=customer), 200).items[0]
    check(
        counted.assigned == subscription.assigned + len(people),
        f"subscription_list: expected {subscription.assigned + len(people)} seats assigned (one per enabled user), got {counted.assigned}",
    )
    day.done(
        f"batch {batch.id}: {batch.created} mailboxes, {counted.assigned}/{counted.seats} seats assigned, retry replayed"
    )

    day.begin("customer renames a mailbox, guarded by its ETag")
    alice = batch.mailboxes[0]

    def read_alice(what):
        answer = mailbox_view.sync_detailed(tenant.id, alice.id, client=customer)
        mailbox = expect(what, answer, 200)
        tag = answer.headers.get("ETag")
        check(bool(tag), f"{what}: expected an ETag on the mailbox, got none")
        return mailbox, tag

    _, stale = read_alice("mailbox_view")
    # Meanwhile another of the customer's admins changes the mailbox, without a condition.
    meanwhile = expect(
        "mailbox_update (another admin)",
        mailbox_update.sync_detailed(tenant.id, alice.id, client=customer, body=MailboxUpdate(display_name="Alice M.")),
        200,
    )
    check(
        meanwhile.display_name == "Alice M.",
        f"mailbox_update (another admin): expected the display name 'Alice M.', got {meanwhile.display_name!r}",
    )
    # The portal's change, made on what it read before, is refused: the mailbox changed since.
    rename = MailboxUpdate(display_name="Alice Martin")
    refused = expect(
        "mailbox_update (stale If-Match)",
        mailbox_update.sync_detailed(tenant.id, alice.id, client=customer, body=rename, if_match=stale),
        412,
    )
    check(
        isinstance(refused, Problem), f"mailbox_update (stale If-Match): expected a problem document, got {refused!r}"
    )
    kept, current = read_alice("mailbox_view (after the 412)")
    check(
        kept.display_name == "Alice M." and current != stale,
        f"mailbox_view after the 412: expected the other admin's 'Alice M.' under a new tag (not {stale}), "
        f"got {kept.display_name!r} under {current}",
    )
    # Read again, the portal retries with the current tag, and the change goes through.
    renamed = expect(
        "mailbox_update (current If-Match)",
        mailbox_update.sync_detailed(tenant.id, alice.id, client=customer, body=rename, if_match=current),
        200,
    )
    check(
        isinstance(renamed, Mailbox) and renamed.display_name == "Alice Martin",
        f"mailbox_update (current If-Match): expected the mailbox renamed 'Alice Martin', got {renamed!r}",
    )
    final, latest = read_alice("mailbox_view (after the rename)")
    check(
        final.display_name == "Alice Martin" and latest != current,
        f"mailbox_view after the rename: expected 'Alice Martin' under a new tag (not {current}), "
        f"got {final.display_name!r} under {latest}",
    )
    day.done(f"{alice.address}: stale tag {stale} refused with 412, renamed {final.display_name!r} with {current}")

    day.begin("reseller assigns a licence, customer approves")
    dave = batch.mailboxes[3]
    proposal = expect(
        "licence_assign (reseller)",
        licence_assign.sync_detailed(tenant.id, dave.id, client=reseller, body=LicenceAssign(sku=counted.sku)),
        202,
    )
    check(
        proposal.kind == RequestKind.PROPOSAL and proposal.state == RequestState.PENDING,
        f"licence_assign (reseller): expected a pending proposal, got a {proposal.kind.value} {proposal.state.value}",
    )
    check(
        [p.value for p in proposal.addressed_to] == ["customer"] and value(proposal.operation) == "licence.assign",
        f"licence_assign (reseller): expected licence.assign addressed to the customer, got {value(proposal.operation)} "
        f"addressed to {[p.value for p in proposal.addressed_to]}",
    )
    approved = expect(
        "request_approve",
        request_approve.sync_detailed(
            proposal.id, client=customer, body=RequestResolution(reason="Dave joins the sales team.")
        ),
        200,
    )
    result = value(approved.result)
    result = result.additional_properties if result is not None else {}
    check(
        approved.state == RequestState.APPROVED and result.get("id") == str(dave.id),
        f"request_approve: expected approved with the licence on {dave.id}, got {approved.state.value} with result {result}",
    )
    skus = expect("licence_list", licence_list.sync_detailed(tenant.id, dave.id, client=customer), 200).skus
    check(counted.sku in skus, f"licence_list: expected {dave.address} to hold {counted.sku}, got {skus}")
    seats = expect("subscription_list", subscription_list.sync_detailed(tenant.id, client=customer), 200).items[0]
    check(
        seats.assigned == counted.assigned + 1 and seats.free == seats.seats - seats.assigned,
        f"subscription_list: expected {counted.assigned + 1} seats assigned and the rest free, "
        f"got assigned={seats.assigned} free={seats.free} seats={seats.seats}",
    )
    day.done(f"{dave.address} holds {counted.sku}; seats {seats.assigned}/{seats.seats} assigned, {seats.free} free")

    day.begin("events read")
    own = [
        e
        for e in expect("event_list (customer)", event_list.sync_detailed(client=customer, limit=1000), 200).items
        if value(e.tenant_id) == tenant.id
    ]
    delivered = [e for e in own if e.activity == "service.deliver" and e.outcome == "created"]
    check(
        delivered and delivered[0].actor_party.value == "partner",
        f"event_list (customer): expected the reseller's delivery of the tenant (service.deliver, created), "
        f"got {[(e.activity, e.outcome) for e in own]}",
    )
    check(
        any(value(e.request_id) == proposal.id for e in own),
        f"event_list (customer): expected events of the licence proposal {proposal.id}, got none",
    )
    resold = [
        e
        for e in expect("event_list (reseller)", event_list.sync_detailed(client=reseller, limit=1000), 200).items
        if value(e.tenant_id) == tenant.id
    ]
    check(
        any(e.activity == "licenses.provide" and e.target_kind == "subscription" for e in resold),
        f"event_list (reseller): expected the subscription provided to its customer (licenses.provide), "
        f"got {[(e.activity, e.outcome) for e in resold]}",
    )
    check(
        any(value(e.request_id) == proposal.id and e.outcome == "approved" for e in resold),
        f"event_list (reseller): expected the approval of its proposal {proposal.id}, got {[(e.activity, e.outcome) for e in resold]}",
    )
    check(
        all("partner" in [p.value for p in e.audience] for e in resold),
        "event_list (reseller): expected every event of the reseller's feed to be addressed to the partner",
    )
    day.done(f"customer feed {len(own)} events, reseller feed {len(resold)} events")

    day.begin("customer's export, downloaded and acknowledged")
    # The customer takes its mail out before it ends the contract: the export is checked against
    # its manifest and acknowledged while every mailbox still exists.
    asked = export_create.sync_detailed(tenant.id, client=customer, body=ExportCreate(format_=ExportFormat.EML_ZIP))
    export = expect("export_create", asked, 201)
    check(
        bool(asked.headers.get("Mailplane-Request")),
        "export_create: expected provider automation to fulfil the request (a Mailplane-Request header), got none",
    )
    export = poll(
        day,
        f"export {export.id} ready",
        lambda: expect("export_view", export_view.sync_detailed(tenant.id, export.id, client=customer), 200),
        lambda e: e.state != ExportState.PREPARING,
    )
    check(export.state == ExportState.READY, f"export_view: expected the export ready, got {export.state.value}")
    manifest = value(export.manifest)
    check(manifest is not None, "export_view: expected a manifest on a ready export, got none")
    exported = sorted(m.address for m in manifest.mailboxes)
    check(
        exported == sorted(addresses), f"export_view: expected the manifest to list {sorted(addresses)}, got {exported}"
    )
    link = value(export.download_url)
    check(bool(link), "export_view: expected a download_url for the accountable customer, got none")
    token = urllib.parse.parse_qs(urllib.parse.urlparse(link).query).get("token", [""])[0]
    downloaded = export_download.sync_detailed(tenant.id, export.id, client=day.anonymous, token=token)
    # The archive is a binary body (`format: binary`): the client gives it as a File.
    archive_file = expect("export_download", downloaded, 200)
    check(isinstance(archive_file, File), f"export_download: expected the archive as a File, got {archive_file!r}")
    content = archive_file.payload.read()
    content_type = downloaded.headers.get("Content-Type", "")
    check(
        content_type.split(";")[0].strip() == "application/zip",
        f"export_download: expected an eml-zip export as application/zip, got Content-Type {content_type!r}",
    )
    archive = value(manifest.archive)
    digest = hashlib.sha256(content).hexdigest()
    check(
        archive is not None and digest == archive.sha256 and len(content) == archive.bytes_,
        f"export_download: expected {archive.bytes_ if archive else '?'} bytes with SHA-256 {archive.sha256 if archive else '?'}, "
        f"got {len(content)} bytes with {digest}",
    )
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        names = z.namelist()
    check("manifest.json" in names, f"export_download: expected manifest.json in the zip, got {names}")
    acknowledged = expect(
        "export_acknowledge", export_acknowledge.sync_detailed(tenant.id, export.id, client=customer), 200
    )
    check(
        acknowledged.state == ExportState.ACKNOWLEDGED,
        f"export_acknowledge: expected acknowledged, got {acknowledged.state.value}",
    )
    day.done(f"export {export.id}: {len(manifest.mailboxes)} mailboxes, {len(content)} bytes, acknowledged")

    day.begin("customer terminates the contract")
    termination = expect(
        "termination_create",
        termination_create.sync_detailed(tenant.id, client=customer, body=TerminationCreate(export_window_days=0)),
        201,
    )
    check(
        termination.state == TerminationState.TERMINATING and termination.export_window_days == 0,
        f"termination_create: expected terminating with a 0-day window, got {termination.state.value} "
        f"with {termination.export_window_days} days",
    )
    check(
        termination.window_ends_at == termination.terminated_at,
        f"termination_create: expected the window to close at once, got {termination.window_ends_at} "
        f"for a termination at {termination.terminated_at}",
    )
    day.done(f"termination {termination.id}, window closed at {termination.window_ends_at}")

    day.begin("reseller consulted, consents")

    def consultations():
        page = expect(
            "request_list (reseller)", request_list.sync_detailed(client=reseller, state="pending", limit=1000), 200
        )
        return [
            r
            for r in page.items
            if r.tenant_id == tenant.id and r.kind == RequestKind.CONSULTATION and r.activity == "configuration.destroy"
        ]

    consultation = poll(day, "the consultation on configuration.destroy", consultations, bool)[0]
    payload = consultation.payload.additional_properties
    check(
        payload.get("termination_id") == str(termination.id),
        f"request_list: expected the consultation to name termination {termination.id}, got payload {payload}",
    )
    check(
        [p.value for p in consultation.addressed_to] == ["partner"],
        f"request_list: expected the consultation addressed to the partner, got {[p.value for p in consultation.addressed_to]}",
    )
    consented = expect(
        "request_consent",
        request_consent.sync_detailed(
            consultation.id, client=reseller, body=RequestResolution(reason="The customer's mail has been moved.")
        ),
        200,
    )
    answers = [(a.party.value, a.consent) for a in consented.answers]
    check(
        consented.state == RequestState.FULFILLED and answers == [("partner", True)],
        f"request_consent: expected the consultation fulfilled by the partner's consent, got {consented.state.value} with {answers}",
    )
    day.done(f"consultation {consultation.id} {consented.state.value}")

    day.begin("tenant closed with a destruction certificate")
    # The consent wakes the termination's job at once: the destruction runs in seconds, well
    # within the day's timeout, not at the job's next hourly check.
    closed = poll(
        day,
        f"termination {termination.id} closed",
        lambda: expect("termination_view", termination_view.sync_detailed(tenant.id, client=customer), 200),
        lambda t: t.state in (TerminationState.CLOSED, TerminationState.BLOCKED, TerminationState.CANCELLED),
    )
    check(
        closed.state == TerminationState.CLOSED,
        f"termination_view: expected closed, got {closed.state.value} (blocked by {[b.reason for b in closed.blocked_by]})",
    )
    for field in ("configuration_destroyed_at", "data_destroyed_at", "closed_at"):
        check(
            value(getattr(closed, field)) is not None,
            f"termination_view: expected {field} on a closed termination, got none",
        )
    certificate = value(closed.certificate)
    check(isinstance(certificate, dict), f"termination_view: expected a certificate document, got {certificate!r}")
    body = certificate.get("certificate", {})
    certified = sorted(m.get("address") for m in body.get("mailboxes", []))
    check(
        body.get("tenant", {}).get("id") == str(tenant.id) and certified == sorted(addresses),
        f"termination_view: expected a certificate for tenant {tenant.id} naming {sorted(addresses)}, "
        f"got tenant {body.get('tenant')} naming {certified}",
    )
    keys = expect("destruction_key_list", destruction_key_list.sync_detailed(client=day.anonymous), 200)
    check(len(keys.keys) >= 1, "destruction_key_list: expected at least one published key, got none")
    with tempfile.TemporaryDirectory() as folder:
        certificate_file = os.path.join(folder, "certificate.json")
        keys_file = os.path.join(folder, "destruction-keys.json")
        with open(certificate_file, "w", encoding="utf-8") as f:
            json.dump(certificate, f)
        with open(keys_file, "w", encoding="utf-8") as f:
            json.dump(keys.to_dict(), f)
        verified = subprocess.run(
            [day.bin, "certificate", "verify", certificate_file, "--key", keys_file],
            check=False,
            capture_output=True,
            text=True,
        )
    check(
        verified.returncode == 0,
        f"mailplane certificate verify: expected the certificate to verify against the published keys, "
        f"got exit {verified.returncode}: {verified.stdout.strip()} {verified.stderr.strip()}",
    )
    left = expect("mailbox_list", mailbox_list.sync_detailed(tenant.id, client=customer), 200).items
    domains = expect("domain_list", domain_list.sync_detailed(tenant.id, client=customer), 200).items
    check(not left, f"mailbox_list: expected no mailbox after the destruction, got {[m.address for m in left]}")
    check(
        domain.id not in [d.id for d in domains],
        f"domain_list: expected {domain.name} removed with the configuration, got {[d.name for d in domains]}",
    )
    day.done(f"closed at {value(closed.closed_at)}, certificate {body.get('certificate_id')} verifies")

    print(f"portal day done in {time.monotonic() - started:.1f} s (tenant {tenant.id})", flush=True)


def main():
    try:
        day = Day()
    except StepFailed as e:
        print(f"portal_day.py: {e}", file=sys.stderr)
        return 1
    try:
        play(day)
    except StepFailed as e:
        print(f"FAILED at step {day.number} ({day.step}): {e}", file=sys.stderr)
        return 1
    except httpx.HTTPError as e:
        print(f"FAILED at step {day.number} ({day.step}): the server did not answer: {e!r}", file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 (the step and the traceback are printed)
        # A generated client that no longer fits the script (a renamed field or module, a
        # body it cannot parse) shows up here, with the step it broke.
        print(f"FAILED at step {day.number} ({day.step}): unexpected error:", file=sys.stderr)
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
