//! Values between sea-orm and SQLite: how a bound value is stored, and how a stored value
//! is read back as the type its entity's column expects.
//!
//! It exists apart from the transport ([`super::transport`]) because it is the part that
//! must stay byte-compatible with what sqlx-sqlite wrote before the transport replaced it:
//! UUIDs as 16-byte blobs, times as RFC 3339 text, and every layout of time sqlx read.
//! Columns are typed by the entity list ([`crate::entity::column_types`]).

use std::collections::HashMap;
use std::sync::OnceLock;

use rusqlite::types::{Value as SqlValue, ValueRef};
use sea_orm::sea_query::ColumnType;
use sea_orm::{DbErr, RuntimeErr, Statement, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::transport::query_error;

pub(super) fn bind(
    prepared: &mut rusqlite::CachedStatement<'_>,
    statement: &Statement,
) -> Result<(), DbErr> {
    let values = statement
        .values
        .as_ref()
        .map(|v| v.0.as_slice())
        .unwrap_or(&[]);
    if values.len() != prepared.parameter_count() {
        return Err(DbErr::Query(RuntimeErr::Internal(format!(
            "the statement takes {} values, {} were given: {}",
            prepared.parameter_count(),
            values.len(),
            statement.sql
        ))));
    }
    for (i, value) in values.iter().enumerate() {
        prepared
            .raw_bind_parameter(i + 1, encode(value)?)
            .map_err(query_error)?;
    }
    Ok(())
}

/// A sea-query value as sqlx-sqlite stores it.
fn encode(value: &Value) -> Result<SqlValue, DbErr> {
    fn int(v: Option<i64>) -> SqlValue {
        v.map_or(SqlValue::Null, SqlValue::Integer)
    }
    let time_text = |formatted: Result<String, time::error::Format>| {
        formatted
            .map(SqlValue::Text)
            .map_err(|e| DbErr::Type(format!("a time value cannot be written: {e}")))
    };
    Ok(match value {
        Value::Bool(v) => int(v.map(i64::from)),
        Value::TinyInt(v) => int(v.map(i64::from)),
        Value::SmallInt(v) => int(v.map(i64::from)),
        Value::Int(v) => int(v.map(i64::from)),
        Value::BigInt(v) => int(*v),
        Value::TinyUnsigned(v) => int(v.map(i64::from)),
        Value::SmallUnsigned(v) => int(v.map(i64::from)),
        Value::Unsigned(v) => int(v.map(i64::from)),
        Value::BigUnsigned(v) => match v {
            None => SqlValue::Null,
            Some(n) => SqlValue::Integer(
                i64::try_from(*n).map_err(|_| DbErr::Type(format!("{n} is too large")))?,
            ),
        },
        Value::Float(v) => v.map_or(SqlValue::Null, |f| SqlValue::Real(f64::from(f))),
        Value::Double(v) => v.map_or(SqlValue::Null, SqlValue::Real),
        Value::String(v) => v.clone().map_or(SqlValue::Null, SqlValue::Text),
        Value::Char(v) => v.map_or(SqlValue::Null, |c| SqlValue::Text(c.to_string())),
        Value::Enum(v) => match v {
            sea_orm::sea_query::OptionEnum::Some(e) => SqlValue::Text(e.value.to_string()),
            sea_orm::sea_query::OptionEnum::None(_) => SqlValue::Null,
        },
        Value::Bytes(v) => v.clone().map_or(SqlValue::Null, SqlValue::Blob),
        Value::Json(v) => v
            .as_ref()
            .map_or(SqlValue::Null, |j| SqlValue::Text(j.to_string())),
        Value::Uuid(v) => v.map_or(SqlValue::Null, |u| SqlValue::Blob(u.as_bytes().to_vec())),
        Value::TimeDateTimeWithTimeZone(v) => match v {
            None => SqlValue::Null,
            Some(t) => time_text(t.format(&Rfc3339))?,
        },
        Value::TimeDateTime(v) => match v {
            None => SqlValue::Null,
            Some(t) => time_text(t.format(&formats::DATE_TIME))?,
        },
        Value::TimeDate(v) => match v {
            None => SqlValue::Null,
            Some(t) => time_text(t.format(&formats::DATE))?,
        },
        Value::TimeTime(v) => match v {
            None => SqlValue::Null,
            Some(t) => time_text(t.format(&formats::TIME))?,
        },
        #[allow(unreachable_patterns)]
        other => {
            return Err(DbErr::Type(format!(
                "SQLite does not store values like {other:?}"
            )));
        }
    })
}

/// What a column holds, as far as decoding is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Uuid,
    Time,
    Bool,
    Int,
    BigInt,
    Double,
    Text,
    Json,
    Bytes,
    /// A computed column: decoded by its storage class.
    Any,
}

pub(super) fn kind_of(table: &str, column: &str) -> Kind {
    static KINDS: OnceLock<HashMap<(&'static str, &'static str), Kind>> = OnceLock::new();
    let kinds = KINDS.get_or_init(|| {
        crate::entity::column_types()
            .into_iter()
            .map(|(table, column, ty)| ((table, column), kind_of_type(&ty)))
            .collect()
    });
    kinds.get(&(table, column)).copied().unwrap_or(Kind::Any)
}

fn kind_of_type(ty: &ColumnType) -> Kind {
    match ty {
        ColumnType::Uuid => Kind::Uuid,
        ColumnType::TimestampWithTimeZone => Kind::Time,
        ColumnType::Boolean => Kind::Bool,
        ColumnType::TinyInteger | ColumnType::SmallInteger | ColumnType::Integer => Kind::Int,
        ColumnType::BigInteger => Kind::BigInt,
        ColumnType::Float | ColumnType::Double => Kind::Double,
        ColumnType::Char(_) | ColumnType::String(_) | ColumnType::Text => Kind::Text,
        ColumnType::Json | ColumnType::JsonBinary => Kind::Json,
        ColumnType::Binary(_) | ColumnType::VarBinary(_) | ColumnType::Blob => Kind::Bytes,
        _ => Kind::Any,
    }
}

/// The table an `INSERT`, `UPDATE` or `DELETE` names: its `RETURNING` columns have no origin,
/// so they are typed by that table's columns of the same name.
pub(super) fn target_table(sql: &str) -> Option<&str> {
    let rest = sql
        .strip_prefix("INSERT INTO ")
        .or_else(|| sql.strip_prefix("UPDATE "))
        .or_else(|| sql.strip_prefix("DELETE FROM "))?;
    let rest = rest.strip_prefix('"')?;
    rest.split('"').next()
}

pub(super) fn decode(value: ValueRef<'_>, kind: Kind, column: &str) -> Result<Value, DbErr> {
    let mismatch = || {
        DbErr::Type(format!(
            "column {column}: a stored {:?} cannot be read as {kind:?}",
            value.data_type()
        ))
    };
    let text = |bytes: &[u8]| {
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| DbErr::Type(format!("column {column}: the text is not UTF-8")))
    };
    Ok(match (kind, value) {
        (Kind::Uuid, ValueRef::Null) => Value::Uuid(None),
        (Kind::Time, ValueRef::Null) => Value::TimeDateTimeWithTimeZone(None),
        (Kind::Bool, ValueRef::Null) => Value::Bool(None),
        (Kind::Int, ValueRef::Null) => Value::Int(None),
        (Kind::BigInt, ValueRef::Null) => Value::BigInt(None),
        (Kind::Double, ValueRef::Null) => Value::Double(None),
        (Kind::Json, ValueRef::Null) => Value::Json(None),
        (Kind::Bytes, ValueRef::Null) => Value::Bytes(None),
        (Kind::Text | Kind::Any, ValueRef::Null) => Value::String(None),

        (Kind::Uuid | Kind::Any, ValueRef::Blob(b)) if b.len() == 16 => {
            Value::Uuid(Some(Uuid::from_slice(b).map_err(|_| mismatch())?))
        }
        (Kind::Uuid, ValueRef::Text(t)) => {
            Value::Uuid(Some(Uuid::parse_str(&text(t)?).map_err(|_| mismatch())?))
        }
        (Kind::Time, ValueRef::Text(t)) => {
            Value::TimeDateTimeWithTimeZone(Some(parse_time(&text(t)?).ok_or_else(mismatch)?))
        }
        (Kind::Time, ValueRef::Integer(i)) => Value::TimeDateTimeWithTimeZone(Some(
            OffsetDateTime::from_unix_timestamp(i).map_err(|_| mismatch())?,
        )),
        (Kind::Bool, ValueRef::Integer(i)) => Value::Bool(Some(i != 0)),
        (Kind::Int, ValueRef::Integer(i)) => {
            Value::Int(Some(i32::try_from(i).map_err(|_| mismatch())?))
        }
        (Kind::BigInt | Kind::Any, ValueRef::Integer(i)) => Value::BigInt(Some(i)),
        (Kind::Double | Kind::Any, ValueRef::Real(f)) => Value::Double(Some(f)),
        (Kind::Double, ValueRef::Integer(i)) => Value::Double(Some(i as f64)),
        (Kind::Text | Kind::Any, ValueRef::Text(t)) => Value::String(Some(text(t)?)),
        // SQLite's text affinity keeps what it is given; sqlx read numbers as their text.
        (Kind::Text, ValueRef::Integer(i)) => Value::String(Some(i.to_string())),
        (Kind::Text, ValueRef::Real(f)) => Value::String(Some(f.to_string())),
        (Kind::Json, ValueRef::Text(t)) => Value::Json(Some(Box::new(
            serde_json::from_slice(t).map_err(|e| DbErr::Json(e.to_string()))?,
        ))),
        (Kind::Bytes | Kind::Any, ValueRef::Blob(b)) => Value::Bytes(Some(b.to_vec())),
        _ => return Err(mismatch()),
    })
}

/// Reads a stored time the way sqlx-sqlite does: RFC 3339 first, then SQLite's own layouts
/// (taken as UTC when they carry no offset).
pub(super) fn parse_time(text: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    [
        formats::DATE_TIME,
        formats::DATE_TIME_SECONDS,
        formats::DATE_TIME_T,
        formats::DATE_TIME_T_SECONDS,
    ]
    .iter()
    .find_map(|f| time::PrimitiveDateTime::parse(text, f).ok())
    .map(time::PrimitiveDateTime::assume_utc)
}

mod formats {
    use time::format_description::BorrowedFormatItem;
    use time::macros::format_description;

    pub(super) const DATE_TIME: &[BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]");
    pub(super) const DATE_TIME_SECONDS: &[BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    pub(super) const DATE_TIME_T: &[BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]");
    pub(super) const DATE_TIME_T_SECONDS: &[BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    pub(super) const DATE: &[BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]");
    pub(super) const TIME: &[BorrowedFormatItem<'static>] =
        format_description!("[hour]:[minute]:[second].[subsecond]");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returning_columns_are_typed_by_the_target_table() {
        assert_eq!(
            target_table(r#"INSERT INTO "mailboxes" ("id") VALUES (?) RETURNING "id""#),
            Some("mailboxes")
        );
        assert_eq!(target_table(r#"UPDATE "jobs" SET "x" = ?"#), Some("jobs"));
        assert_eq!(
            target_table(r#"DELETE FROM "events" WHERE 1"#),
            Some("events")
        );
        assert_eq!(target_table("SELECT 1"), None);
        assert_eq!(kind_of("mailboxes", "created_at"), Kind::Time);
        assert_eq!(kind_of("mailboxes", "quota_bytes"), Kind::BigInt);
        assert_eq!(kind_of("tenants", "profile_version"), Kind::Int);
    }

    #[test]
    fn stored_times_read_in_every_layout_sqlx_read() {
        let t = time::macros::datetime!(2026-11-24 07:30:01.25 UTC);
        for text in [
            "2026-11-24T07:30:01.25Z",
            "2026-11-24T07:30:01.250+00:00",
            "2026-11-24 07:30:01.25",
            "2026-11-24T07:30:01.25",
        ] {
            assert_eq!(parse_time(text), Some(t), "{text}");
        }
        assert_eq!(parse_time("yesterday"), None);
    }
}
