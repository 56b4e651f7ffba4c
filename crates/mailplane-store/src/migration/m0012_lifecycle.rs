//! Durable jobs with leases and their step ledger; exports; terminations.
//!
//! A job is claimed by one worker at a time through a lease (`lease_owner`, `lease_until`)
//! taken by a conditional update, so that two servers on one database never run the same
//! step at once. Every claim is written to `job_steps`; a partial unique index allows one
//! finished row per step, so a finished step can never be finished twice.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("jobs")
                    .col(pk_uuid("id"))
                    .col(string("kind"))
                    .col(uuid("subject"))
                    .col(uuid_null("tenant_id"))
                    .col(string("step"))
                    .col(string("state"))
                    .col(timestamp_with_time_zone("run_after"))
                    .col(string_null("lease_owner"))
                    .col(timestamp_with_time_zone_null("lease_until"))
                    .col(integer("attempts"))
                    .col(text("progress"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_jobs_kind_subject")
                    .table("jobs")
                    .col("kind")
                    .col("subject")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_jobs_due")
                    .table("jobs")
                    .col("state")
                    .col("run_after")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("job_steps")
                    .col(pk_uuid("id"))
                    .col(uuid("job_id"))
                    .col(string("step"))
                    .col(string("owner"))
                    .col(integer("attempt"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .col(string_null("outcome"))
                    .col(text_null("error"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_job_steps_job")
                            .from("job_steps", "job_id")
                            .to("jobs", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // One finished row per step, whatever races: the database's guarantee, not only
        // the lease's.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_job_steps_done ON job_steps (job_id, step) WHERE outcome = 'done'",
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table("exports")
                    .col(pk_uuid("id"))
                    .col(uuid("tenant_id"))
                    .col(uuid_null("mailbox_id"))
                    .col(string("format"))
                    .col(string("state"))
                    .col(string("requested_by"))
                    .col(string("requested_by_party"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("ready_at"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .col(text_null("manifest"))
                    .col(timestamp_with_time_zone_null("acknowledged_at"))
                    .col(string_null("acknowledged_by"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_exports_tenant")
                            .from("exports", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_exports_tenant")
                    .table("exports")
                    .col("tenant_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("terminations")
                    .col(pk_uuid("id"))
                    .col(uuid("tenant_id"))
                    .col(string("state"))
                    .col(string("requested_by"))
                    .col(string("requested_by_party"))
                    .col(timestamp_with_time_zone("terminated_at"))
                    .col(integer("export_window_days"))
                    .col(timestamp_with_time_zone("window_ends_at"))
                    .col(text("blocked_by"))
                    .col(timestamp_with_time_zone_null("cancelled_at"))
                    .col(string_null("cancelled_by"))
                    .col(timestamp_with_time_zone_null("configuration_destroyed_at"))
                    .col(timestamp_with_time_zone_null("data_destroyed_at"))
                    .col(timestamp_with_time_zone_null("files_removed_at"))
                    .col(timestamp_with_time_zone_null("closed_at"))
                    .col(text_null("snapshot"))
                    .col(text_null("erasure"))
                    .col(text_null("certificate"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_terminations_tenant")
                            .from("terminations", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One termination under way per tenant; cancelled ones stay as history.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_terminations_open ON terminations (tenant_id) WHERE state <> 'cancelled'",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["terminations", "exports", "job_steps", "jobs"] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}
