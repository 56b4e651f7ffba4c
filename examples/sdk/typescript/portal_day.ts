// A reseller portal's day against a live Mailplane server, written with nothing but the
// TypeScript client that openapi-typescript and openapi-fetch make from
// openapi/mailplane.json. It exists to prove that the checked-in OpenAPI document gives a
// usable, type-checked client: every API call below goes through `createClient<paths>`, so a
// change to the document that breaks a path, a parameter or a field the portal uses fails
// `tsc`, and every answer is checked, so a server that answers otherwise than documented fails
// the run.
//
// The day is the same as examples/sdk/python/portal_day.py, with the party that does each
// step in the `master-hoster` profile (the reseller offer, book/src/profiles/master-hoster.md):
//
//   1. the provider signs up the reseller (a partner: partner.manage);
//   2. the reseller onboards a customer tenant (service.deliver: partner RA);
//   3. the portal, acting for the customer with a customer token, adds a domain, publishes its
//      records at the customer's DNS host and verifies it (directory.administer: customer RA);
//   4. the portal creates mailboxes in bulk for the customer (mailbox_batch_create needs R and A);
//   5. the reseller assigns a licence: its R without A makes that a proposal, which the
//      customer approves;
//   6. both read their event feeds;
//   7. the customer takes its export while the service still runs, downloads it through the
//      expiring link without a bearer token, checks it against the manifest and acknowledges
//      it (export.pst.deliver: customer A, provider R, automated);
//   8. the customer terminates the contract with an export window of 0 days
//      (contract.terminate: customer RA);
//   9. the reseller, consulted on destroying the configuration (configuration.destroy:
//      partner C), consents, which sends the termination on at once;
//  10. provider automation destroys the configuration and the data, and the tenant is closed
//      with a signed destruction certificate, which is verified offline.
//
// On the way, the portal uses the API's safeguards as a real one would: the tenant is created
// with an `Idempotency-Key` and its retry replays the first answer, and one mailbox is
// changed with `If-Match`, carrying the `ETag` of a read (a stale tag gets 412).
//
// It reads the same environment variables as the Python script: MAILPLANE_URL,
// MAILPLANE_PROVIDER_TOKEN, MAILPLANE_BIN, MAILPLANE_DATA_DIR, MAILPLANE_DNS_ZONE and
// MAILPLANE_TIMEOUT (see examples/sdk/README.md). It exits 0 when the whole day went as
// expected, 1 at the first step that did not.

import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import createClient, { type Client } from "openapi-fetch";

import type { components, paths } from "./schema.js";

type Schemas = components["schemas"];
type Api = Client<paths>;

const PROFILE = "master-hoster";

/** A step got another answer than the one it expected. */
class StepFailed extends Error {}

function fail(message: string): never {
  throw new StepFailed(message);
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) {
    fail(message);
  }
}

function requiredEnv(name: string): string {
  const value = (process.env[name] ?? "").trim();
  if (!value) {
    fail(`the environment variable ${name} is not set (see examples/sdk/README.md)`);
  }
  return value;
}

/** What an openapi-fetch call gives back. */
interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** What came back, for a failure message: the problem document's type and detail, or the body. */
function describe(answer: Answer<unknown>): string {
  const problem = answer.error as Partial<Schemas["Problem"]> | undefined;
  if (problem && typeof problem === "object" && "type" in problem) {
    return `${problem.type} ${JSON.stringify(problem.detail)}`;
  }
  return JSON.stringify(answer.error ?? answer.data ?? null).slice(0, 500);
}

/** The body of a call that must answer `status`. */
async function expect<T>(what: string, call: Promise<Answer<T>>, status: number): Promise<NonNullable<T>> {
  const answer = await call;
  if (answer.response.status !== status) {
    fail(`${what}: expected HTTP ${status}, got ${answer.response.status}: ${describe(answer)}`);
  }
  if (answer.data === undefined || answer.data === null) {
    fail(`${what}: HTTP ${status} came without a body`);
  }
  return answer.data;
}

/**
 * Whether a body is a filed request (202) rather than the resource (201 or 200). The
 * generated type of an operation that may be filed is the union of both, since openapi-fetch
 * types `data` as every 2xx body: the status says which, and this guard tells TypeScript.
 */
function isFiled(body: object): body is Schemas["RequestView"] {
  return "kind" in body && "addressed_to" in body && "links" in body;
}

/** A member of a JSON document the API leaves untyped (the destruction certificate). */
function member(value: unknown, key: string): unknown {
  return value !== null && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class Day {
  readonly url = (process.env.MAILPLANE_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
  readonly providerToken = requiredEnv("MAILPLANE_PROVIDER_TOKEN");
  readonly bin = process.env.MAILPLANE_BIN ?? "mailplane";
  readonly dataDir = requiredEnv("MAILPLANE_DATA_DIR");
  readonly zone = requiredEnv("MAILPLANE_DNS_ZONE");
  readonly timeoutMs = Number(process.env.MAILPLANE_TIMEOUT ?? "30") * 1000;
  // Names are unique on the platform (partners, domains, addresses): each run takes its own.
  readonly run = randomUUID().replace(/-/g, "").slice(0, 8);
  step = "start";
  number = 0;
  readonly provider: Api = this.client(this.providerToken);
  // The download link carries its own credential: it is called without a bearer token.
  readonly anonymous: Api = this.client(undefined);

  client(token: string | undefined): Api {
    return createClient<paths>({
      baseUrl: this.url,
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      // No call may hang the day: each one gives up after 30 seconds.
      fetch: (request: Request) => fetch(request, { signal: AbortSignal.timeout(30_000) }),
    });
  }

  begin(name: string): void {
    this.number += 1;
    this.step = name;
  }

  done(detail: string): void {
    console.log(`[${String(this.number).padStart(2)}] ${this.step}: ${detail}`);
  }

  /** Mints a token with the CLI, as an operator would for the portal's service account. */
  mint(party: string, org: string, role: string): string {
    const args = ["--data-dir", this.dataDir, "token", "issue", "--party", party, "--org", org, "--role", role];
    args.push("--ttl", "1h", "--subject", `portal-${this.run}`);
    const result = spawnSync(this.bin, args, { encoding: "utf8" });
    const token = (result.stdout ?? "").trim();
    if (result.status !== 0 || !token) {
      fail(
        `\`${this.bin} ${args.join(" ")}\` exited ${result.status} without a token: ${(result.stderr ?? "").trim()}`,
      );
    }
    return token;
  }

  /** Calls `fetchIt` until `ready` holds for its answer, or fails after the day's timeout. */
  async poll<T>(what: string, fetchIt: () => Promise<T>, ready: (answer: T) => boolean): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const answer = await fetchIt();
      if (ready(answer)) {
        return answer;
      }
      if (Date.now() > deadline) {
        fail(`${what}: still not there after ${this.timeoutMs / 1000} s; last answer: ${JSON.stringify(answer)}`);
      }
      await sleep(500);
    }
  }
}

/**
 * The customer publishes the records at its DNS host. Here the DNS host is the zone file the
 * DNS stub (examples/sdk/dns_stub.py) answers from; the records of other domains are kept.
 */
function publish(zonePath: string, domain: string, records: Schemas["DnsRecord"][]): void {
  let zone: { records: { kind: string; name: string; value: string; priority?: number | null }[] };
  try {
    zone = JSON.parse(readFileSync(zonePath, "utf8"));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
      throw e;
    }
    zone = { records: [] };
  }
  const ours = (name: string) => name === domain || name.endsWith(`.${domain}`);
  zone.records = [
    ...(zone.records ?? []).filter((r) => !ours(r.name)),
    ...records.map((r) => ({ kind: r.kind, name: r.name, value: r.value, priority: r.priority ?? null })),
  ];
  // Written whole and renamed, so that the stub never reads half a file.
  const temporary = `${zonePath}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(zone, null, 2));
  renameSync(temporary, zonePath);
}

async function play(day: Day): Promise<void> {
  const started = Date.now();

  day.begin("server ready");
  const ready = await expect("health_ready", day.anonymous.GET("/readyz"), 200);
  day.done(`database ${ready.database}`);

  day.begin("provider signs up the reseller");
  const partnerName = `Portal reseller ts-${day.run}`;
  const partner = await expect(
    "partner_create",
    day.provider.POST("/v1/partners", { body: { name: partnerName } }),
    201,
  );
  check(partner.name === partnerName, `partner_create: expected the name ${partnerName}, got ${partner.name}`);
  const reseller = day.client(day.mint("partner", partner.id, "partner-admin"));
  day.done(`partner ${partner.id}`);

  day.begin("reseller onboards a customer");
  const tenantName = `Acme ts-${day.run}`;
  // The portal names the call, so that a retry after a lost answer cannot make a second tenant.
  const tenantKey = `portal-tenant-${day.run}`;
  const tenantCall = () =>
    reseller.POST("/v1/tenants", {
      params: { header: { "Idempotency-Key": tenantKey } },
      body: { name: tenantName, profile: PROFILE },
    });
  const created = await tenantCall();
  const tenant = await expect("tenant_create", Promise.resolve(created), 201);
  check(
    !created.response.headers.has("Idempotency-Replayed"),
    `tenant_create: expected a first call to be answered afresh, got Idempotency-Replayed: ${created.response.headers.get("Idempotency-Replayed")}`,
  );
  check(tenant.profile === PROFILE, `tenant_create: expected the profile ${PROFILE}, got ${tenant.profile}`);
  check(
    tenant.partner_id === partner.id,
    `tenant_create: expected the tenant to be resold by ${partner.id}, got partner_id ${tenant.partner_id}`,
  );
  check(tenant.status === "active", `tenant_create: expected status active, got ${tenant.status}`);
  // A retry with the same Idempotency-Key gets the first answer back and creates nothing.
  const retried = await tenantCall();
  check(
    retried.response.status === 201 &&
      retried.response.headers.get("Idempotency-Replayed") === "true" &&
      retried.data?.id === tenant.id,
    `tenant_create (retry): expected the stored answer for tenant ${tenant.id} with Idempotency-Replayed: true, got HTTP ` +
      `${retried.response.status} tenant ${retried.data?.id} with Idempotency-Replayed: ${retried.response.headers.get("Idempotency-Replayed")}`,
  );
  const resoldTenants = (
    await expect("tenant_list", reseller.GET("/v1/tenants", { params: { query: { limit: 1000 } } }), 200)
  ).items.map((x) => x.id);
  check(
    JSON.stringify(resoldTenants) === JSON.stringify([tenant.id]),
    `tenant_list (reseller): expected its one tenant ${tenant.id} after the retry, got ${resoldTenants}`,
  );
  // The portal acts for its customer with a customer token: directory work, the termination
  // and the export are the customer's to decide in this profile.
  const customer = day.client(day.mint("customer", tenant.id, "tenant-admin"));
  const t = { tenant: tenant.id };
  day.done(`tenant ${tenant.id} (${tenant.profile}, offer ${tenant.offer}, region ${tenant.region}), retry replayed`);

  day.begin("customer adds its domain");
  const domainName = `acme-ts-${day.run}.example`;
  const domain = await expect(
    "domain_create",
    customer.POST("/v1/tenants/{tenant}/domains", { params: { path: t }, body: { name: domainName } }),
    201,
  );
  check(!isFiled(domain), `domain_create: expected the domain, got a filed ${JSON.stringify(domain)}`);
  check(domain.name === domainName, `domain_create: expected ${domainName}, got ${domain.name}`);
  check(!domain.verified, "domain_create: expected a new custom domain to start unverified, got verified");
  check(domain.verification_token, "domain_create: expected a verification_token, got none");
  const d = { path: { tenant: tenant.id, domain: domain.id } };
  day.done(`${domain.name} (${domain.id}), unverified`);

  day.begin("domain verified through DNS");
  const wanted = await expect(
    "domain_records_view",
    customer.GET("/v1/tenants/{tenant}/domains/{domain}/records", { params: d }),
    200,
  );
  const purposes = wanted.records.map((r) => r.purpose).sort();
  check(
    JSON.stringify(purposes) === JSON.stringify(["autodiscover", "mx", "spf", "verification"]),
    `domain_records_view: expected the verification, MX, SPF and autodiscover records, got ${purposes}`,
  );
  const tokenRecord = wanted.records.find((r) => r.purpose === "verification");
  check(
    tokenRecord?.value.includes(domain.verification_token),
    `domain_records_view: expected the verification TXT to carry ${domain.verification_token}, got ${tokenRecord?.value}`,
  );
  // Before the records are published, the check finds none of them.
  const before = await expect(
    "domain_verify",
    customer.POST("/v1/tenants/{tenant}/domains/{domain}/verify", { params: d }),
    200,
  );
  check(!before.verified, "domain_verify before publishing: expected verified false, got true");
  check(
    before.checks.every((c) => c.status !== "found"),
    `domain_verify before publishing: expected no record found, got ${JSON.stringify(before.checks.map((c) => [c.record.purpose, c.status]))}`,
  );
  publish(day.zone, domain.name, wanted.records);
  const after = await expect(
    "domain_verify",
    customer.POST("/v1/tenants/{tenant}/domains/{domain}/verify", { params: d }),
    200,
  );
  const statuses = Object.fromEntries(after.checks.map((c) => [c.record.purpose, c.status]));
  check(
    after.verified && after.mail_ready && after.checks.every((c) => c.status === "found"),
    `domain_verify after publishing: expected verified and mail_ready with every record found, got verified=${after.verified} ` +
      `mail_ready=${after.mail_ready} ${JSON.stringify(statuses)}; details: ${JSON.stringify(after.checks.map((c) => c.detail))}`,
  );
  const viewed = await expect("domain_view", customer.GET("/v1/tenants/{tenant}/domains/{domain}", { params: d }), 200);
  check(
    viewed.verified && viewed.verified_at,
    `domain_view: expected the domain verified with verified_at, got verified=${viewed.verified} verified_at=${viewed.verified_at}`,
  );
  day.done(`${after.checks.length} records found, verified at ${viewed.verified_at}`);

  day.begin("customer's mailboxes created in bulk");
  const subscriptions = (
    await expect("subscription_list", customer.GET("/v1/tenants/{tenant}/subscriptions", { params: { path: t } }), 200)
  ).items;
  const subscription = subscriptions[0];
  check(
    subscriptions.length === 1 && subscription,
    `subscription_list: expected the offer's one subscription, got ${subscriptions.length}`,
  );
  const people: [string, string][] = [
    ["alice", "Alice"],
    ["bob", "Bob"],
    ["carol", "Carol"],
  ];
  // Dave starts disabled, so he takes no seat until the reseller gives him a licence; the
  // shared mailbox never takes one.
  const rows: Schemas["MailboxCreate"][] = people.map(([local_part, display_name]) => ({
    local_part,
    domain_id: domain.id,
    display_name,
  }));
  rows.push({ local_part: "dave", domain_id: domain.id, display_name: "Dave", status: "disabled" });
  rows.push({ local_part: "info", domain_id: domain.id, display_name: "Info desk", kind: "shared" });
  const seatsNeeded = people.length + 1;
  check(
    subscription.free >= seatsNeeded,
    `subscription_list: the day needs ${seatsNeeded} free seats, the subscription has ${subscription.free}`,
  );
  const key = `portal-day-${day.run}`;
  const batchCall = () =>
    customer.POST("/v1/tenants/{tenant}/mailboxes/batch", {
      params: { path: t, header: { "Idempotency-Key": key } },
      body: { mailboxes: rows },
    });
  const batch = await expect("mailbox_batch_create", batchCall(), 201);
  const addresses = rows.map((r) => `${r.local_part}@${domain.name}`);
  check(
    batch.created === rows.length,
    `mailbox_batch_create: expected ${rows.length} mailboxes created, got ${batch.created}`,
  );
  check(
    JSON.stringify(batch.mailboxes.map((m) => m.address)) === JSON.stringify(addresses),
    `mailbox_batch_create: expected ${addresses} in order, got ${batch.mailboxes.map((m) => m.address)}`,
  );
  // A retry with the same Idempotency-Key gets the stored answer and creates nothing.
  const replay = await batchCall();
  check(
    replay.response.status === 201 &&
      replay.response.headers.get("Idempotency-Replayed") === "true" &&
      replay.data?.id === batch.id,
    `mailbox_batch_create (retry): expected the stored answer of batch ${batch.id} with Idempotency-Replayed: true, got HTTP ` +
      `${replay.response.status} batch ${replay.data?.id} with Idempotency-Replayed: ${replay.response.headers.get("Idempotency-Replayed")}`,
  );
  const listed = await expect(
    "mailbox_list",
    customer.GET("/v1/tenants/{tenant}/mailboxes", { params: { path: t, query: { limit: 1000 } } }),
    200,
  );
  const listedAddresses = listed.items.map((m) => m.address).sort();
  check(
    JSON.stringify(listedAddresses) === JSON.stringify([...addresses].sort()),
    `mailbox_list: expected ${[...addresses].sort()}, got ${listedAddresses}`,
  );
  const counted = (
    await expect("subscription_list", customer.GET("/v1/tenants/{tenant}/subscriptions", { params: { path: t } }), 200)
  ).items[0];
  check(
    counted?.assigned === subscription.assigned + people.length,
    `subscription_list: expected ${subscription.assigned + people.length} seats assigned (one per enabled user), got ${counted?.assigned}`,
  );
  day.done(
    `batch ${batch.id}: ${batch.created} mailboxes, ${counted.assigned}/${counted.seats} seats assigned, retry replayed`,
  );

  day.begin("customer renames a mailbox, guarded by its ETag");
  const alice = batch.mailboxes[0];
  check(alice, "mailbox_batch_create: expected a first mailbox, got none");
  const a = { path: { tenant: tenant.id, mailbox: alice.id } };
  const readAlice = async (what: string): Promise<[Schemas["Mailbox"], string]> => {
    const answer = await customer.GET("/v1/tenants/{tenant}/mailboxes/{mailbox}", { params: a });
    const mailbox = await expect(what, Promise.resolve(answer), 200);
    const tag = answer.response.headers.get("ETag");
    check(tag, `${what}: expected an ETag on the mailbox, got none`);
    return [mailbox, tag];
  };
  const rename = (displayName: string, ifMatch?: string) =>
    customer.PATCH("/v1/tenants/{tenant}/mailboxes/{mailbox}", {
      params: { ...a, header: ifMatch === undefined ? {} : { "If-Match": ifMatch } },
      body: { display_name: displayName },
    });
  const [, stale] = await readAlice("mailbox_view");
  // Meanwhile another of the customer's admins changes the mailbox, without a condition.
  const meanwhile = await expect("mailbox_update (another admin)", rename("Alice M."), 200);
  check(
    !isFiled(meanwhile) && meanwhile.display_name === "Alice M.",
    `mailbox_update (another admin): expected the display name 'Alice M.', got ${JSON.stringify(meanwhile)}`,
  );
  // The portal's change, made on what it read before, is refused: the mailbox changed since.
  const refused = await rename("Alice Martin", stale);
  check(
    refused.response.status === 412 && refused.data === undefined && typeof member(refused.error, "type") === "string",
    `mailbox_update (stale If-Match): expected HTTP 412 with a problem document, got ${refused.response.status}: ${describe(refused)}`,
  );
  const [kept, current] = await readAlice("mailbox_view (after the 412)");
  check(
    kept.display_name === "Alice M." && current !== stale,
    `mailbox_view after the 412: expected the other admin's 'Alice M.' under a new tag (not ${stale}), got ${JSON.stringify(kept.display_name)} under ${current}`,
  );
  // Read again, the portal retries with the current tag, and the change goes through.
  const renamed = await expect("mailbox_update (current If-Match)", rename("Alice Martin", current), 200);
  check(
    !isFiled(renamed) && renamed.display_name === "Alice Martin",
    `mailbox_update (current If-Match): expected the mailbox renamed 'Alice Martin', got ${JSON.stringify(renamed)}`,
  );
  const [final, latest] = await readAlice("mailbox_view (after the rename)");
  check(
    final.display_name === "Alice Martin" && latest !== current,
    `mailbox_view after the rename: expected 'Alice Martin' under a new tag (not ${current}), got ${JSON.stringify(final.display_name)} under ${latest}`,
  );
  day.done(`${alice.address}: stale tag ${stale} refused with 412, renamed '${final.display_name}' with ${current}`);

  day.begin("reseller assigns a licence, customer approves");
  const dave = batch.mailboxes[3];
  check(dave, "mailbox_batch_create: expected a fourth mailbox, got none");
  const proposal = await expect(
    "licence_assign (reseller)",
    reseller.POST("/v1/tenants/{tenant}/mailboxes/{mailbox}/licences", {
      params: { path: { tenant: tenant.id, mailbox: dave.id } },
      body: { sku: counted.sku },
    }),
    202,
  );
  check(isFiled(proposal), `licence_assign (reseller): expected a filed request, got ${JSON.stringify(proposal)}`);
  check(
    proposal.kind === "proposal" && proposal.state === "pending",
    `licence_assign (reseller): expected a pending proposal, got a ${proposal.kind} ${proposal.state}`,
  );
  check(
    JSON.stringify(proposal.addressed_to) === JSON.stringify(["customer"]) && proposal.operation === "licence.assign",
    `licence_assign (reseller): expected licence.assign addressed to the customer, got ${proposal.operation} addressed to ${proposal.addressed_to}`,
  );
  const approved = await expect(
    "request_approve",
    customer.POST("/v1/requests/{request}/approve", {
      params: { path: { request: proposal.id } },
      body: { reason: "Dave joins the sales team." },
    }),
    200,
  );
  check(
    approved.state === "approved" && approved.result?.id === dave.id,
    `request_approve: expected approved with the licence on ${dave.id}, got ${approved.state} with result ${JSON.stringify(approved.result)}`,
  );
  const m = { path: { tenant: tenant.id, mailbox: dave.id } };
  const skus = (
    await expect("licence_list", customer.GET("/v1/tenants/{tenant}/mailboxes/{mailbox}/licences", { params: m }), 200)
  ).skus;
  check(skus.includes(counted.sku), `licence_list: expected ${dave.address} to hold ${counted.sku}, got ${skus}`);
  const seats = (
    await expect("subscription_list", customer.GET("/v1/tenants/{tenant}/subscriptions", { params: { path: t } }), 200)
  ).items[0];
  check(
    seats && seats.assigned === counted.assigned + 1 && seats.free === seats.seats - seats.assigned,
    `subscription_list: expected ${counted.assigned + 1} seats assigned and the rest free, got ${JSON.stringify(seats)}`,
  );
  day.done(`${dave.address} holds ${counted.sku}; seats ${seats.assigned}/${seats.seats} assigned, ${seats.free} free`);

  day.begin("events read");
  const own = (
    await expect("event_list (customer)", customer.GET("/v1/events", { params: { query: { limit: 1000 } } }), 200)
  ).items.filter((e) => e.tenant_id === tenant.id);
  const delivered = own.find((e) => e.activity === "service.deliver" && e.outcome === "created");
  check(
    delivered?.actor_party === "partner",
    `event_list (customer): expected the reseller's delivery of the tenant (service.deliver, created), got ${JSON.stringify(own.map((e) => [e.activity, e.outcome]))}`,
  );
  check(
    own.some((e) => e.request_id === proposal.id),
    `event_list (customer): expected events of the licence proposal ${proposal.id}, got none`,
  );
  const resold = (
    await expect("event_list (reseller)", reseller.GET("/v1/events", { params: { query: { limit: 1000 } } }), 200)
  ).items.filter((e) => e.tenant_id === tenant.id);
  check(
    resold.some((e) => e.activity === "licenses.provide" && e.target_kind === "subscription"),
    `event_list (reseller): expected the subscription provided to its customer (licenses.provide), got ${JSON.stringify(resold.map((e) => [e.activity, e.outcome]))}`,
  );
  check(
    resold.some((e) => e.request_id === proposal.id && e.outcome === "approved"),
    `event_list (reseller): expected the approval of its proposal ${proposal.id}, got ${JSON.stringify(resold.map((e) => [e.activity, e.outcome]))}`,
  );
  check(
    resold.every((e) => e.audience.includes("partner")),
    "event_list (reseller): expected every event of the reseller's feed to be addressed to the partner",
  );
  day.done(`customer feed ${own.length} events, reseller feed ${resold.length} events`);

  day.begin("customer's export, downloaded and acknowledged");
  // The customer takes its mail out before it ends the contract: the export is checked against
  // its manifest and acknowledged while every mailbox still exists.
  const asked = await customer.POST("/v1/tenants/{tenant}/exports", {
    params: { path: t },
    body: { format: "eml-zip" },
  });
  const first = await expect("export_create", Promise.resolve(asked), 201);
  check(!isFiled(first), `export_create: expected the export, got a filed ${JSON.stringify(first)}`);
  check(
    asked.response.headers.get("Mailplane-Request"),
    "export_create: expected provider automation to fulfil the request (a Mailplane-Request header), got none",
  );
  const e = { path: { tenant: tenant.id, export: first.id } };
  const exported = await day.poll(
    `export ${first.id} ready`,
    () => expect("export_view", customer.GET("/v1/tenants/{tenant}/exports/{export}", { params: e }), 200),
    (x) => x.state !== "preparing",
  );
  check(exported.state === "ready", `export_view: expected the export ready, got ${exported.state}`);
  const manifest = exported.manifest;
  check(manifest, "export_view: expected a manifest on a ready export, got none");
  const inArchive = manifest.mailboxes.map((x) => x.address).sort();
  check(
    JSON.stringify(inArchive) === JSON.stringify([...addresses].sort()),
    `export_view: expected the manifest to list ${[...addresses].sort()}, got ${inArchive}`,
  );
  const link = exported.download_url;
  check(link, "export_view: expected a download_url for the accountable customer, got none");
  const token = new URL(link, day.url).searchParams.get("token") ?? "";
  const download = await day.anonymous.GET("/v1/tenants/{tenant}/exports/{export}/download", {
    params: { ...e, query: { token } },
    parseAs: "arrayBuffer",
  });
  if (download.response.status !== 200 || !download.data) {
    fail(`export_download: expected HTTP 200 with the archive, got ${download.response.status}: ${describe(download)}`);
  }
  const contentType = download.response.headers.get("Content-Type") ?? "";
  check(
    contentType.split(";")[0]?.trim() === "application/zip",
    `export_download: expected an eml-zip export as application/zip, got Content-Type ${JSON.stringify(contentType)}`,
  );
  const bytes = Buffer.from(download.data);
  const digest = createHash("sha256").update(bytes).digest("hex");
  const archive = manifest.archive;
  check(
    archive && digest === archive.sha256 && bytes.length === archive.bytes,
    `export_download: expected ${archive?.bytes} bytes with SHA-256 ${archive?.sha256}, got ${bytes.length} bytes with ${digest}`,
  );
  // A zip starts with a local file header, and its central directory names manifest.json.
  check(
    bytes.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04])) && bytes.includes("manifest.json"),
    "export_download: expected a zip archive holding manifest.json",
  );
  const acknowledged = await expect(
    "export_acknowledge",
    customer.POST("/v1/tenants/{tenant}/exports/{export}/acknowledge", { params: e }),
    200,
  );
  check(acknowledged.state === "acknowledged", `export_acknowledge: expected acknowledged, got ${acknowledged.state}`);
  day.done(`export ${first.id}: ${manifest.mailboxes.length} mailboxes, ${bytes.length} bytes, acknowledged`);

  day.begin("customer terminates the contract");
  const termination = await expect(
    "termination_create",
    customer.POST("/v1/tenants/{tenant}/termination", { params: { path: t }, body: { export_window_days: 0 } }),
    201,
  );
  check(
    !isFiled(termination),
    `termination_create: expected the termination, got a filed ${JSON.stringify(termination)}`,
  );
  check(
    termination.state === "terminating" && termination.export_window_days === 0,
    `termination_create: expected terminating with a 0-day window, got ${termination.state} with ${termination.export_window_days} days`,
  );
  check(
    Date.parse(termination.window_ends_at) === Date.parse(termination.terminated_at),
    `termination_create: expected the window to close at once, got ${termination.window_ends_at} for a termination at ${termination.terminated_at}`,
  );
  day.done(`termination ${termination.id}, window closed at ${termination.window_ends_at}`);

  day.begin("reseller consulted, consents");
  const pending = await day.poll(
    "the consultation on configuration.destroy",
    async () =>
      (
        await expect(
          "request_list (reseller)",
          reseller.GET("/v1/requests", { params: { query: { state: "pending", limit: 1000 } } }),
          200,
        )
      ).items.filter(
        (r) => r.tenant_id === tenant.id && r.kind === "consultation" && r.activity === "configuration.destroy",
      ),
    (found) => found.length > 0,
  );
  const consultation = pending[0];
  check(consultation, "request_list (reseller): expected a consultation, got none");
  check(
    consultation.payload.termination_id === termination.id,
    `request_list: expected the consultation to name termination ${termination.id}, got payload ${JSON.stringify(consultation.payload)}`,
  );
  check(
    JSON.stringify(consultation.addressed_to) === JSON.stringify(["partner"]),
    `request_list: expected the consultation addressed to the partner, got ${consultation.addressed_to}`,
  );
  const consented = await expect(
    "request_consent",
    reseller.POST("/v1/requests/{request}/consent", {
      params: { path: { request: consultation.id } },
      body: { reason: "The customer's mail has been moved." },
    }),
    200,
  );
  const answers = consented.answers.map((a) => [a.party, a.consent]);
  check(
    consented.state === "fulfilled" && JSON.stringify(answers) === JSON.stringify([["partner", true]]),
    `request_consent: expected the consultation fulfilled by the partner's consent, got ${consented.state} with ${JSON.stringify(answers)}`,
  );
  day.done(`consultation ${consultation.id} ${consented.state}`);

  day.begin("tenant closed with a destruction certificate");
  // The consent wakes the termination's job at once: the destruction runs in seconds, well
  // within the day's timeout, not at the job's next hourly check.
  const closed = await day.poll(
    `termination ${termination.id} closed`,
    () => expect("termination_view", customer.GET("/v1/tenants/{tenant}/termination", { params: { path: t } }), 200),
    (x) => ["closed", "blocked", "cancelled"].includes(x.state),
  );
  check(
    closed.state === "closed",
    `termination_view: expected closed, got ${closed.state} (blocked by ${JSON.stringify(closed.blocked_by.map((b) => b.reason))})`,
  );
  for (const field of ["configuration_destroyed_at", "data_destroyed_at", "closed_at"] as const) {
    check(closed[field], `termination_view: expected ${field} on a closed termination, got none`);
  }
  const certificate = closed.certificate;
  const body = member(certificate, "certificate");
  const certified = ((member(body, "mailboxes") as unknown[] | undefined) ?? [])
    .map((x) => member(x, "address"))
    .sort();
  check(
    member(member(body, "tenant"), "id") === tenant.id &&
      JSON.stringify(certified) === JSON.stringify([...addresses].sort()),
    `termination_view: expected a certificate for tenant ${tenant.id} naming ${[...addresses].sort()}, got ${JSON.stringify(member(body, "tenant"))} naming ${certified}`,
  );
  const keys = await expect("destruction_key_list", day.anonymous.GET("/.well-known/mailplane/destruction-keys"), 200);
  check(keys.keys.length >= 1, "destruction_key_list: expected at least one published key, got none");
  const folder = mkdtempSync(join(tmpdir(), "mailplane-certificate-"));
  try {
    writeFileSync(join(folder, "certificate.json"), JSON.stringify(certificate));
    writeFileSync(join(folder, "destruction-keys.json"), JSON.stringify(keys));
    try {
      execFileSync(
        day.bin,
        ["certificate", "verify", join(folder, "certificate.json"), "--key", join(folder, "destruction-keys.json")],
        { encoding: "utf8", stdio: "pipe" },
      );
    } catch (err) {
      const e = err as { status?: number; stdout?: string; stderr?: string };
      fail(
        `mailplane certificate verify: expected the certificate to verify against the published keys, got exit ${e.status}: ${e.stdout ?? ""} ${e.stderr ?? ""}`,
      );
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  const left = (
    await expect("mailbox_list", customer.GET("/v1/tenants/{tenant}/mailboxes", { params: { path: t } }), 200)
  ).items;
  const domains = (
    await expect("domain_list", customer.GET("/v1/tenants/{tenant}/domains", { params: { path: t } }), 200)
  ).items;
  check(
    left.length === 0,
    `mailbox_list: expected no mailbox after the destruction, got ${left.map((x) => x.address)}`,
  );
  check(
    !domains.some((x) => x.id === domain.id),
    `domain_list: expected ${domain.name} removed with the configuration, got ${domains.map((x) => x.name)}`,
  );
  day.done(`closed at ${closed.closed_at}, certificate ${member(body, "certificate_id")} verifies`);

  console.log(`portal day done in ${((Date.now() - started) / 1000).toFixed(1)} s (tenant ${tenant.id})`);
}

async function main(): Promise<number> {
  let day: Day;
  try {
    day = new Day();
  } catch (e) {
    console.error(`portal_day.ts: ${e instanceof Error ? e.message : e}`);
    return 1;
  }
  try {
    await play(day);
    return 0;
  } catch (e) {
    if (e instanceof StepFailed) {
      console.error(`FAILED at step ${day.number} (${day.step}): ${e.message}`);
    } else if (e instanceof TypeError && e.cause) {
      // fetch reports a refused connection or a timeout as a TypeError whose cause says why.
      console.error(`FAILED at step ${day.number} (${day.step}): the server did not answer: ${e.message} (${e.cause})`);
    } else {
      console.error(`FAILED at step ${day.number} (${day.step}): ${e instanceof Error ? (e.stack ?? e.message) : e}`);
    }
    return 1;
  }
}

process.exitCode = await main();
