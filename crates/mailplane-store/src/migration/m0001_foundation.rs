//! The foundation schema: partners, tenants, domains, mailboxes and the audit chain.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("partners")
                    .col(pk_uuid("id"))
                    .col(string_uniq("name"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("tenants")
                    .col(pk_uuid("id"))
                    .col(string("name"))
                    .col(string("status"))
                    .col(string("profile"))
                    .col(integer("profile_version"))
                    .col(uuid_null("partner_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tenants_partner")
                            .from("tenants", "partner_id")
                            .to("partners", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_tenants_partner")
                    .table("tenants")
                    .col("partner_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("domains")
                    .col(pk_uuid("id"))
                    .col(uuid("tenant_id"))
                    .col(string_uniq("name"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_domains_tenant")
                            .from("domains", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_domains_tenant")
                    .table("domains")
                    .col("tenant_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("mailboxes")
                    .col(pk_uuid("id"))
                    .col(uuid("tenant_id"))
                    .col(uuid("domain_id"))
                    .col(string("local_part"))
                    .col(string_uniq("address"))
                    .col(string("display_name"))
                    .col(big_integer("quota_bytes"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_mailboxes_tenant")
                            .from("mailboxes", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_mailboxes_domain")
                            .from("mailboxes", "domain_id")
                            .to("domains", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .check(Expr::col("quota_bytes").gt(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_mailboxes_tenant")
                    .table("mailboxes")
                    .col("tenant_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_mailboxes_domain")
                    .table("mailboxes")
                    .col("domain_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .col(big_integer("seq").primary_key())
                    .col(uuid_uniq("id"))
                    .col(timestamp_with_time_zone("at"))
                    .col(string("actor"))
                    .col(string("party"))
                    .col(string("org"))
                    .col(string("roles"))
                    .col(string("activity"))
                    .col(string("letters"))
                    .col(uuid_null("tenant_id"))
                    .col(string("target_kind"))
                    .col(string("target_id"))
                    .col(string("outcome"))
                    .col(string("prev_hash"))
                    .col(string("hash"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_tenant")
                    .table("audit_log")
                    .col("tenant_id")
                    .col("seq")
                    .to_owned(),
            )
            .await?;
        // One row: the end of the chain. Appending locks it, so concurrent writers on
        // PostgreSQL extend the chain one after another instead of forking it.
        manager
            .create_table(
                Table::create()
                    .table("audit_head")
                    .col(integer("id").primary_key())
                    .col(big_integer("seq"))
                    .col(string("hash"))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table("audit_head")
                    .columns(["id", "seq", "hash"])
                    // The genesis hash: the `prev_hash` of the first row, written out here so
                    // that this frozen migration depends on nothing that may change.
                    .values_panic([
                        1.into(),
                        0i64.into(),
                        "0000000000000000000000000000000000000000000000000000000000000000".into(),
                    ])
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "audit_head",
            "audit_log",
            "mailboxes",
            "domains",
            "tenants",
            "partners",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
