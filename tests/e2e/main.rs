//! Mailplane's end-to-end tests: one binary, through HTTP (`oneshot`) and through the
//! library, on SQLite and, when `MAILPLANE_TEST_DATABASE_URL` is set, on PostgreSQL.

mod audit;
mod auth;
mod batch;
mod bounds;
mod catalogue;
mod checked_in;
mod consultations;
mod credentials;
mod cross_tenant;
mod directory;
mod dns;
mod domain_claims;
mod exports;
mod free_text;
mod golden;
mod http_errors;
mod inventory;
mod job_steps;
mod letters;
mod library;
mod lifecycle;
mod mailboxes;
mod mailstack;
mod messages;
mod passwords;
mod plumbing;
mod profiles;
mod proposals;
mod requests;
mod retention;
mod strict_json;
mod tenants;
mod tickets;
mod webhooks;
mod workers;
