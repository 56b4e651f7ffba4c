//! Strict JSON bodies: exactly one JSON object, read field by field as the schema says.
//!
//! serde and serde_json are lenient where an API must not be: a reader stops after the first
//! value and ignores what follows unless asked (`{"name":"x"}}}}`), a derived struct also
//! accepts a positional array (`["new name"]` for `{"name": "new name"}`, `[]` for an
//! object whose fields all have defaults), a repeated key silently replaces the first, and an
//! enum given a number or an object answers with a parser error ("expected value at line 1
//! column 99") instead of naming the field.
//!
//! So a body is read in two passes. [`parse`] reads the bytes into one JSON value: the text
//! must be well-formed, hold a single value with nothing after it but white space, repeat no
//! key, and be an object. Its problems are problems of `body`. Then [`from_value`] builds the
//! body's type from that value through [`Strict`], a deserializer that refuses anything but
//! an object where a struct is expected (at every depth) and names the allowed values where
//! an enum is expected (a string, one of them), with `serde_path_to_error` recording the path of the value at fault
//! (`mailboxes[3].kind`), so that every type error names its field.

use std::cell::Cell;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Error as _, IntoDeserializer, MapAccess, SeqAccess,
    Visitor,
};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Number, Value};

use mailplane::types::{Error, FieldError};

/// The most JSON values (objects, arrays, strings, numbers, booleans and nulls, at every
/// depth) a body may hold. The largest body an operation needs, a batch of 10,000 mailboxes
/// of seven values each, holds about 70,000. The bound keeps the parsed value's memory in
/// proportion: a value takes tens of bytes where `0,` takes two, so without it a body of
/// small values within the byte limit would parse into a tree many times its size.
pub const MAX_JSON_VALUES: usize = 100_000;

/// Reads a body into one JSON value, an object; the error is the rule the body breaks.
pub fn parse(bytes: &[u8]) -> Result<Value, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let budget = Cell::new(MAX_JSON_VALUES);
    let value = ValueSeed(&budget)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                Error::invalid("body", strip_position(&e.to_string()))
            }
            _ => Error::invalid("body", format!("is not valid JSON: {e}")),
        })?;
    match value {
        Value::Object(_) => Ok(value),
        other => Err(Error::invalid(
            "body",
            format!("must be a JSON object, not {}", kind(&other)),
        )),
    }
}

/// Builds the body's type from a parsed value; the error names the field at fault by its
/// path (`body` for the value as a whole) and the rule.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(Strict(value)).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        Error::Invalid(vec![FieldError {
            field,
            rule: strip_position(&e.into_inner().to_string()),
        }])
    })
}

/// serde_json appends "at line 1 column 12"; the field name already says where.
pub fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// What a JSON value is, in words, for a rule.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads any JSON value, refusing an object that repeats a key.
/// Reads one value, counting it against the values the body may still hold.
struct ValueSeed<'b>(&'b Cell<usize>);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.0.get().checked_sub(1) {
            Some(left) => self.0.set(left),
            None => {
                return Err(D::Error::custom(format!(
                    "holds more than {MAX_JSON_VALUES} JSON values"
                )));
            }
        }
        d.deserialize_any(ValueVisitor(self.0))
    }
}

struct ValueVisitor<'b>(&'b Cell<usize>);

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("holds a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        ValueSeed(self.0).deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ValueSeed(self.0))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(A::Error::custom(format!("holds the key {key:?} twice")));
            }
            let value = map.next_value_seed(ValueSeed(self.0))?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A deserializer over a parsed value that wants an object wherever a struct is read and
/// names the allowed values wherever an enum is read.
struct Strict<'a>(&'a Value);

impl<'de> de::Deserializer<'de> for Strict<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => n.clone().deserialize_any(visitor),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => {
                let mut seq = Seq(items.iter());
                let value = visitor.visit_seq(&mut seq)?;
                match seq.0.len() {
                    0 => Ok(value),
                    left => Err(Self::Error::invalid_length(
                        items.len(),
                        &format!("{} items", items.len() - left).as_str(),
                    )),
                }
            }
            Value::Object(map) => {
                let mut access = Fields {
                    iter: map.iter(),
                    value: None,
                };
                let value = visitor.visit_map(&mut access)?;
                match access.iter.len() {
                    0 => Ok(value),
                    _ => Err(Self::Error::custom("holds more fields than expected")),
                }
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(_) => self.deserialize_any(visitor),
            other => Err(Self::Error::custom(format!(
                "must be a JSON object, not {}",
                kind(other)
            ))),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let allowed = || {
            let names: Vec<String> = variants.iter().map(|v| format!("`{v}`")).collect();
            Self::Error::custom(format!("must be one of {}", names.join(", ")))
        };
        // Every enum of the API's bodies is a set of names, written as a string; the object
        // form serde also knows (`{"user": null}`) is not part of any schema.
        match self.0 {
            Value::String(s) if variants.contains(&s.as_str()) => {
                visitor.visit_enum(s.as_str().into_deserializer())
            }
            _ => Err(allowed()),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map identifier
    }
}

/// The items of an array, each read strictly.
struct Seq<'a>(std::slice::Iter<'a, Value>);

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0
            .next()
            .map(|item| seed.deserialize(Strict(item)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// The fields of an object, each value read strictly.
struct Fields<'a> {
    iter: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'de> MapAccess<'de> for Fields<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(BorrowedStrDeserializer::new(key))
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(Strict(value)),
            None => Err(Self::Error::custom("a value was read before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        name: String,
        #[serde(default)]
        kind: Option<Kind>,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        User,
        Shared,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(default)]
        items: Vec<Inner>,
        #[serde(default)]
        count: Option<u32>,
    }

    fn read(body: &str) -> Result<Outer, (String, String)> {
        parse(body.as_bytes())
            .and_then(|value| from_value::<Outer>(&value))
            .map_err(|e| match e {
                Error::Invalid(mut fields) => {
                    let f = fields.remove(0);
                    (f.field, f.rule)
                }
                other => panic!("{other:?}"),
            })
    }

    /// Each malformed body with the field its problem names and a word of its rule.
    #[test]
    fn every_lax_form_is_refused_with_its_field() {
        let cases = [
            (r#"{"items": []} }"#, "body", "trailing characters"),
            (r#"{"items": []}{}"#, "body", "trailing characters"),
            (r#"{"items": []} x"#, "body", "trailing characters"),
            ("[]", "body", "must be a JSON object, not an array"),
            (r#"[[{"name": "a"}]]"#, "body", "not an array"),
            ("\"a\"", "body", "not a string"),
            ("null", "body", "not null"),
            ("5", "body", "not a number"),
            (
                r#"{"items": [["a"]]}"#,
                "items[0]",
                "must be a JSON object, not an array",
            ),
            (r#"{"items": ["a"]}"#, "items[0]", "not a string"),
            (
                r#"{"items": [{"name": "a", "kind": 5}]}"#,
                "items[0].kind",
                "`user`, `shared`",
            ),
            (
                r#"{"items": [{"name": "a", "kind": {}}]}"#,
                "items[0].kind",
                "`user`, `shared`",
            ),
            (
                r#"{"items": [{"name": "a", "kind": []}]}"#,
                "items[0].kind",
                "`user`, `shared`",
            ),
            (
                r#"{"items": [{"name": "a", "kind": "admin"}]}"#,
                "items[0].kind",
                "`user`, `shared`",
            ),
            (
                r#"{"items": [{"name": "a", "kind": {"user": null}}]}"#,
                "items[0].kind",
                "`user`, `shared`",
            ),
            (r#"{"count": 1, "count": 2}"#, "body", "twice"),
            (
                r#"{"items": [{"name": "a", "name": "b"}]}"#,
                "body",
                "twice",
            ),
            (r#"{"count": "1"}"#, "count", "invalid type"),
            (r#"{"count": 1.5}"#, "count", "invalid type"),
            (r#"{"colour": 1}"#, "colour", "unknown field"),
            (r#"{"items": [{}]}"#, "items[0]", "missing field `name`"),
            (r#"{"items": "#, "body", "not valid JSON"),
        ];
        for (body, field, word) in cases {
            match read(body) {
                Ok(v) => panic!("{body} was accepted as {v:?}"),
                Err((f, rule)) => {
                    assert_eq!(f, field, "{body}: {rule}");
                    assert!(rule.contains(word), "{body}: {rule}");
                    // Only a syntax error says where the parser stopped.
                    assert!(
                        rule.starts_with("is not valid JSON") || !rule.contains(" at line "),
                        "{body}: {rule}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_body_of_too_many_values_is_refused_before_it_is_held() {
        // Counted at every depth: the object, the array and each of its items.
        let fits = format!(
            r#"{{"items": [{}]}}"#,
            vec!["0"; MAX_JSON_VALUES - 2].join(",")
        );
        assert!(parse(fits.as_bytes()).is_ok());
        let over = format!(
            r#"{{"items": [{}]}}"#,
            vec!["0"; MAX_JSON_VALUES - 1].join(",")
        );
        match parse(over.as_bytes()) {
            Err(Error::Invalid(errors)) => {
                assert_eq!(errors[0].field, "body");
                assert!(
                    errors[0]
                        .rule
                        .contains(&format!("more than {MAX_JSON_VALUES} JSON values")),
                    "{}",
                    errors[0].rule
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_well_formed_body_reads_as_before() {
        let v = read(
            r#" {"items": [{"name": "a", "kind": "shared"}, {"name": "b", "kind": null}], "count": 3}
            "#,
        )
        .unwrap();
        assert_eq!(
            v,
            Outer {
                items: vec![
                    Inner {
                        name: "a".into(),
                        kind: Some(Kind::Shared)
                    },
                    Inner {
                        name: "b".into(),
                        kind: None
                    }
                ],
                count: Some(3),
            }
        );
        assert_eq!(read("{}").unwrap().items, vec![]);
    }
}
