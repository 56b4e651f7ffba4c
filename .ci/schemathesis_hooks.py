"""Schemathesis hooks for Mailplane's CI.

`message/rfc822` bodies (message import) are not a format Schemathesis generates on its
own: this draws well-formed messages, messages without the headers RFC 5322 requires, and
arbitrary bytes, so the import is exercised on its success and refusal paths.

Random ids only reach an operation's 404, so the hooks also aim cases at real objects: the
fixtures .ci/fuzz_fixtures.py made before the pass (MAILPLANE_CI_FIXTURES names its JSON
file). Three cases of every four of an operation get real ids in their path, and the ids,
SKUs, offers, profiles and regions their body refers to; the fourth keeps what was generated,
so the refusals stay fuzzed too. An operation that uses its object up (a deletion, a release,
an answer to a request) gets a fresh object, made through the API just before the call, or
taken from a pool the fixtures prepared when making one takes a background job. Cases of the
stateful phase keep the ids their links carried.

The hooks also authenticate every case (no `--header`, which would override them): with
the pass's token (the provider's, or the fixture tenant's administrator's), or, for a fresh
object that only another party may act on, that party's token (the partner answering its
consultation, a ticketed tenant's customer answering the provider's proposal).

Every answer is counted per operation and status, and the counts are written at exit to the
JSON file MAILPLANE_CI_COUNTS names, for .ci/fuzz_coverage.py.
"""

import atexit
import collections
import itertools
import json
import os
import subprocess
import threading
import urllib.error
import urllib.request
import uuid

from hypothesis import strategies as st

import schemathesis

_valid = st.builds(
    lambda subject, body: (
        "From: Migration <old@old-host.example>\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        f"Subject: {subject}\r\n\r\n{body}\r\n"
    ).encode(),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    st.text(max_size=200),
)

schemathesis.openapi.media_type(
    "message/rfc822",
    st.one_of(_valid, st.binary(max_size=512), st.just(b"From: a@b.example\r\n\r\nno date")),
)


def _load(name):
    path = os.environ.get(name)
    if not path:
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


FIX = _load("MAILPLANE_CI_FIXTURES")
PASS = os.environ.get("MAILPLANE_CI_PASS", "provider")
_lock = threading.Lock()
_counts = collections.defaultdict(collections.Counter)
_seen = collections.Counter()
_serial = itertools.count()


def _operation_id(case):
    return case.operation.definition.raw.get("operationId") or case.operation.label


# ---------------------------------------------------------------------------------------
# Counting answers.
# ---------------------------------------------------------------------------------------


@schemathesis.hook
def after_call(context, case, response):
    with _lock:
        _counts[_operation_id(case)][str(response.status_code)] += 1


def _write_counts():
    path = os.environ.get("MAILPLANE_CI_COUNTS")
    if not path:
        return
    with _lock:
        data = {op: dict(statuses) for op, statuses in sorted(_counts.items())}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)


atexit.register(_write_counts)


# ---------------------------------------------------------------------------------------
# Real objects.
# ---------------------------------------------------------------------------------------


class _Api:
    """The API as the hooks call it, with one of the fixtures' tokens."""

    def __init__(self, token):
        self.token = token

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(FIX["url"] + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return json.loads(raw) if raw else {}
        except (urllib.error.URLError, OSError, ValueError):
            # No fresh object: the case keeps what it had.
            return None


def _id(answer):
    return answer.get("id") if isinstance(answer, dict) else None


def _unique(prefix):
    return f"{prefix}-{next(_serial)}-{uuid.uuid4().hex[:6]}"


def _mint(tenant):
    """A tenant administrator's token for a tenant made by the hooks."""
    command = [FIX["bin"], "--data-dir", FIX["data_dir"], "token", "issue", "--party", "customer"]
    command += ["--org", tenant, "--role", "tenant-admin", "--ttl", "2h"]
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    return result.stdout.strip() or None


def _fresh_mailbox(kind="shared", status=None):
    body = {"local_part": _unique("victim"), "domain_id": FIX["domain"], "display_name": "Victim", "kind": kind}
    if status:
        body["status"] = status
    return _id(CUSTOMER.call("POST", f"{TENANT}/mailboxes", body))


def _fresh_tenant(terminating=False):
    """A tenant of its own, with its administrator's token; terminating when asked, with an
    export window long enough that nothing is destroyed under the pass."""
    tenant = _id(PROVIDER.call("POST", "/v1/tenants", {"name": _unique("Victim tenant"), "seats": 5}))
    if tenant is None:
        return {}
    token = _mint(tenant)
    if terminating and token:
        _Api(token).call("POST", f"/v1/tenants/{tenant}/termination", {"export_window_days": 30})
    return {"tenant": tenant, "!token": token}


def _release_tenant_holds():
    """Releases the active holds of the pass's tenant that cover every mailbox."""
    page = CUSTOMER.call("GET", f"{TENANT}/holds?limit=1000") or {}
    for hold in page.get("items", []):
        if hold.get("active") and not hold.get("mailbox_id"):
            CUSTOMER.call("POST", f"{TENANT}/holds/{hold['id']}/release", {"reason": "fuzz: a deletion case"})


def _pop(pool):
    with _lock:
        items = FIX.get(pool) or []
        return items.pop(0) if items else None


def _file(token, tenant):
    """A request (from the customer, accountable) or proposal (from the provider,
    responsible) on `disclaimer.all-users`, which Mailplane does not carry out itself."""
    body = {"activity": "disclaimer.all-users", "payload": {"text": "fuzz"}}
    return _id(_Api(token).call("POST", f"/v1/tenants/{tenant}/requests", body))


def _victim(op):
    """For an operation that uses its object up: a fresh object, as the path parameters it
    fills (`?name`: a query parameter; `!token`: the token to call with). None for an
    operation that does not use its object up."""
    customer, t = CUSTOMER, TENANT
    if op == "partner_delete":
        return {"partner": _id(PROVIDER.call("POST", "/v1/partners", {"name": _unique("Victim partner")}))}
    if op in ("tenant_delete", "tenant_update", "tenant_relocate", "tenant_rebind", "tenant_offer_choose", "subscription_create"):
        fresh = _fresh_tenant()
        if op in ("tenant_delete", "tenant_update", "tenant_relocate", "subscription_create"):
            # The provider's to do (service.deliver, service.location.choose).
            fresh.pop("!token", None)
        return fresh
    if op == "termination_create":
        return _fresh_tenant()
    if op == "termination_cancel":
        return _fresh_tenant(terminating=True)
    if op == "termination_view":
        return _fresh_tenant(terminating=True)
    if op == "termination_resume":
        blocked = _pop("blocked")
        return {"tenant": blocked, "!token": FIX["provider_token"]} if blocked else {}
    if op == "alias_delete":
        body = {"local_part": _unique("victim-alias"), "domain_id": FIX["domain"]}
        return {"alias": _id(customer.call("POST", f"{t}/mailboxes/{FIX['mailbox']}/aliases", body))}
    if op == "credential_revoke":
        body = {"name": _unique("victim"), "public_key": FIX["public_key"], "roles": ["tenant-reader"]}
        return {"credential": _id(customer.call("POST", f"{t}/credentials", body))}
    if op == "domain_delete":
        return {"domain": _id(customer.call("POST", f"{t}/domains", {"name": _unique("victim") + ".example"}))}
    if op == "export_acknowledge":
        ready = _pop("ready_exports")
        return {"export": ready} if ready else {}
    if op == "group_delete":
        body = {"local_part": _unique("victim-group"), "domain_id": FIX["domain"], "display_name": "Victim"}
        return {"group": _id(customer.call("POST", f"{t}/groups", body))}
    if op == "group_member_remove":
        mailbox = _fresh_mailbox()
        customer.call("POST", f"{t}/groups/{FIX['group']}/members", {"mailbox_id": mailbox})
        return {"group": FIX["group"], "?mailbox_id": mailbox}
    if op == "group_member_add":
        return {"group": FIX["group"]}
    if op == "hold_release":
        return {"hold": _id(customer.call("POST", f"{t}/holds", {"reason": "victim"}))}
    if op == "contract_end":
        # Ending the pass's own tenant's contract would freeze it for the rest of the pass:
        # each case ends a tenant of its own, as the provider (contract.end is provider RA),
        # or is refused to that tenant's customer (I only).
        fresh = _fresh_tenant()
        if PASS == "provider":
            fresh.pop("!token", None)
        return fresh
    if op in ("suspension_place", "suspension_lift"):
        # A suspension of the pass's own tenant would stop its customer's directory changes
        # (409) for the rest of the pass: each case suspends a tenant of its own, as the
        # provider (service.suspend is provider RA), or is refused to its customer (I only).
        fresh = _fresh_tenant()
        if PASS == "provider":
            fresh.pop("!token", None)
        if op == "suspension_lift" and fresh.get("tenant"):
            path = f"/v1/tenants/{fresh['tenant']}/suspensions"
            fresh["suspension"] = _id(PROVIDER.call("POST", path, {"reason": "abuse"}))
        return fresh
    if op == "mailbox_delete":
        # A tenant-wide hold that a `hold_place` case of this pass made would turn the deletion
        # into an inactive mailbox: it is lifted first, so that the deletion meets the mailbox
        # alone and opens its undelete window.
        _release_tenant_holds()
        return {"mailbox": _fresh_mailbox()}
    if op == "mailbox_restore":
        # Only a deleted mailbox is restored: a fresh one is deleted first.
        mailbox = _fresh_mailbox()
        if mailbox:
            customer.call("DELETE", f"{t}/mailboxes/{mailbox}")
        return {"mailbox": mailbox}
    if op == "request_view" and PASS == "tenant":
        # The standing request sits on the ticketed tenant: its own customer reads it.
        return {"request": FIX["request"], "!token": FIX["ticketed_token"]}
    if op == "licence_unassign":
        # A user's enabled mailbox takes a licence of the tenant's SKU at creation; an offer
        # that needs licences keeps it while the mailbox is enabled, so it is disabled first.
        mailbox = _fresh_mailbox(kind="user")
        if mailbox:
            customer.call("PATCH", f"{t}/mailboxes/{mailbox}", {"status": "disabled"})
        return {"mailbox": mailbox, "sku": FIX["sku"]}
    if op == "licence_assign":
        # A disabled mailbox holds no licence yet.
        return {"mailbox": _fresh_mailbox(kind="user", status="disabled")}
    if op == "webhook_delete":
        body = {"url": f"https://hooks.example.com/{_unique('victim')}"}
        return {"webhook": _id(_Api(TOKEN).call("POST", "/v1/webhooks", body))}
    if op in ("request_fulfil", "request_decline"):
        # Filed by the ticketed tenant's customer, for the provider to carry out.
        return {"request": _file(FIX["ticketed_token"], FIX["ticketed"]), "!token": FIX["provider_token"]}
    if op in ("request_approve", "request_reject"):
        # Proposed by the provider, for the ticketed tenant's customer to answer.
        return {"request": _file(FIX["provider_token"], FIX["ticketed"]), "!token": FIX["ticketed_token"]}
    if op == "request_cancel":
        # Cancelled by the party that filed it.
        return {"request": _file(FIX["ticketed_token"], FIX["ticketed"]), "!token": FIX["ticketed_token"]}
    if op in ("request_consent", "request_object"):
        # The partner is consulted on destroying a terminated tenant's configuration.
        consultation = _pop(f"consultations_{op.removeprefix('request_')}")
        return {"request": consultation, "!token": FIX["partner_token"]} if consultation else {}
    return None


def _standing(name):
    """The fixtures' object for a path parameter, for an operation that does not use it up."""
    if name == "tenant":
        return FIX["tenant"]
    if name == "webhook":
        return FIX["webhook"]
    return FIX.get(name)


def _fill_body(op, case):
    """Real ids, SKUs, offers, profiles and regions in the fields of a generated body."""
    body = case.body
    if not isinstance(body, dict):
        return
    if "domain_id" in body:
        body["domain_id"] = FIX["domain"]
    if body.get("mailbox_id") is not None:
        body["mailbox_id"] = _fresh_mailbox() if op == "group_member_add" else FIX["mailbox"]
    if op == "mailbox_batch_create" and isinstance(body.get("mailboxes"), list):
        # One refused row refuses the whole batch: every row gets a fresh address and a
        # plain name, and keeps its generated quota, status and kind.
        for row in body["mailboxes"]:
            if isinstance(row, dict):
                row.update(domain_id=FIX["domain"], local_part=_unique("batch"), display_name="Fuzz batch")
    if op in ("mailbox_create", "alias_create", "group_create") and "local_part" in body:
        # A generated local part is mostly refused (not a dot-atom) or taken by an earlier case.
        body["local_part"] = _unique(op.removesuffix("_create"))
        if "display_name" in body:
            body["display_name"] = "Fuzz " + op.removesuffix("_create")
    if op == "partner_update" and "name" in body:
        # A partner's name is unique on the platform: a generated one is often taken.
        body["name"] = _unique("Fuzz partner")
    if op == "domain_create" and "name" in body:
        body["name"] = _unique("fuzz") + ".example"
    if op == "subscription_seats_set":
        # Exactly one of `seats`, `add` and `remove`; adding one never falls below the
        # assigned seats.
        for field in ("seats", "remove"):
            body.pop(field, None)
        body["add"] = 1
    if op == "licence_assign" and "sku" in body:
        body["sku"] = FIX["sku"]
    if op == "subscription_create" and "sku" in body and FIX.get("extra_sku"):
        body["sku"] = FIX["extra_sku"]
    if op == "tenant_offer_choose" and "offer" in body:
        body["offer"] = FIX["upgrade_offer"]
    if op == "tenant_rebind" and "profile" in body:
        body["profile"] = FIX["other_profile"]
    if op == "tenant_relocate" and "region" in body:
        body["region"] = FIX["other_region"]
    if op == "tenant_create":
        for field in ("profile", "region", "offer", "partner_id"):
            body.pop(field, None)
        if "slug" in body:
            body["slug"] = _unique("fuzz")
    if op == "credential_register":
        body["public_key"] = FIX["public_key"]
        if "roles" in body:
            body["roles"] = ["tenant-reader"]
    if op == "mailbox_password_set" and "password" in body:
        body["password"] = "Fuzz-" + uuid.uuid4().hex + "-Aa1!"
    if op == "request_create" and "activity" in body:
        body["activity"] = "disclaimer.all-users"
        if not isinstance(body.get("payload"), dict):
            body["payload"] = {}
    if op == "hold_release" or op == "request_decline" or op == "request_reject" or op == "request_object":
        if not body.get("reason"):
            body["reason"] = "fuzz"


if FIX is not None:
    PROVIDER = _Api(FIX["provider_token"])
    CUSTOMER = _Api(FIX["customer_token"])
    TENANT = f"/v1/tenants/{FIX['tenant']}"
    # The pass's own token: the provider's, or the fixture tenant's administrator's.
    TOKEN = FIX["provider_token"] if PASS == "provider" else FIX["customer_token"]


@schemathesis.hook
def before_call(context, case, kwargs):
    if FIX is None:
        return
    if case.headers is None:
        case.headers = {}
    case.headers["Authorization"] = f"Bearer {TOKEN}"
    op = _operation_id(case)
    with _lock:
        n = _seen[op]
        _seen[op] += 1
    # One case of four keeps what was generated.
    if n % 4 == 3:
        return
    stateful = case.meta is not None and str(case.meta.phase.name) == "stateful"
    # A generated Idempotency-Key repeats across cases with other bodies, which is a 422.
    for name in list(case.headers):
        if name.lower() == "idempotency-key":
            case.headers[name] = _unique("fuzz")
    params = case.path_parameters
    if params and not stateful:
        victim = _victim(op)
        for name in list(params):
            if victim is not None and victim.get(name) is not None:
                params[name] = victim[name]
            elif victim is None or name not in victim:
                standing = _standing(name)
                if standing is not None:
                    params[name] = standing
        if op == "request_create":
            # Only the ticketed profile has an activity Mailplane does not carry out itself.
            params["tenant"] = FIX["ticketed"]
            if PASS == "tenant":
                case.headers["Authorization"] = f"Bearer {FIX['ticketed_token']}"
        for key, value in (victim or {}).items():
            if key.startswith("?") and value is not None:
                if case.query is None:
                    case.query = {}
                case.query[key[1:]] = value
                case.query.pop("address", None)
            if key == "!token" and value:
                case.headers["Authorization"] = f"Bearer {value}"
    if op == "export_download" and FIX.get("export_token") and not stateful:
        if case.query is None:
            case.query = {}
        case.query["token"] = FIX["export_token"]
    _fill_body(op, case)
