//! RACI duties and sets of them.
//!
//! A [`Duty`] is one letter; [`Letters`] is a small set of letters, stored as a bit set so the
//! decision fast path can intersect a party's letters with a role's in one instruction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One RACI letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Duty {
    /// Responsible: does the work.
    R,
    /// Accountable: answers for the outcome (exactly one party per activity).
    A,
    /// Consulted: asked before the activity runs.
    C,
    /// Informed: told after the activity ran.
    I,
}

impl Duty {
    /// Every duty in RACI order.
    pub const ALL: [Duty; 4] = [Duty::R, Duty::A, Duty::C, Duty::I];

    /// The letter as a character.
    pub fn letter(self) -> char {
        match self {
            Duty::R => 'R',
            Duty::A => 'A',
            Duty::C => 'C',
            Duty::I => 'I',
        }
    }

    /// Parses one letter; anything but `R`, `A`, `C` or `I` is refused.
    pub fn from_letter(c: char) -> Option<Duty> {
        match c {
            'R' => Some(Duty::R),
            'A' => Some(Duty::A),
            'C' => Some(Duty::C),
            'I' => Some(Duty::I),
            _ => None,
        }
    }

    fn bit(self) -> u8 {
        match self {
            Duty::R => 1,
            Duty::A => 2,
            Duty::C => 4,
            Duty::I => 8,
        }
    }
}

impl fmt::Display for Duty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.letter())
    }
}

/// A set of RACI letters, printed in RACI order (`RA`, `I`, `RACI`, or `-` when empty).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Letters(u8);

impl Letters {
    /// No letter at all.
    pub const NONE: Letters = Letters(0);
    /// All four letters.
    pub const ALL: Letters = Letters(15);

    /// A set holding exactly one duty.
    pub fn one(d: Duty) -> Letters {
        Letters(d.bit())
    }

    /// Whether the set holds `d`.
    pub fn has(self, d: Duty) -> bool {
        self.0 & d.bit() != 0
    }

    /// Adds `d` to the set.
    pub fn insert(&mut self, d: Duty) {
        self.0 |= d.bit();
    }

    /// The letters both sets hold.
    pub fn intersect(self, other: Letters) -> Letters {
        Letters(self.0 & other.0)
    }

    /// The letters either set holds.
    pub fn union(self, other: Letters) -> Letters {
        Letters(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The duties in RACI order.
    pub fn iter(self) -> impl Iterator<Item = Duty> {
        Duty::ALL.into_iter().filter(move |d| self.has(*d))
    }
}

impl fmt::Display for Letters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        for d in self.iter() {
            write!(f, "{}", d.letter())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Letters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Letters({self})")
    }
}

impl FromStr for Letters {
    type Err = String;

    /// Parses letters in any order (`RA`, `IR`); `-` and the empty string are the empty set.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = Letters::NONE;
        if s == "-" {
            return Ok(set);
        }
        for c in s.chars() {
            let d = Duty::from_letter(c)
                .ok_or_else(|| format!("unknown RACI letter `{c}`: expected R, A, C or I"))?;
            set.insert(d);
        }
        Ok(set)
    }
}

impl Serialize for Letters {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = if self.is_empty() {
            String::new()
        } else {
            self.to_string()
        };
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Letters {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Letters {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .pattern(Some("^R?A?C?I?$"))
            .description(Some(
                "RACI letters in RACI order: R responsible, A accountable, C consulted, I informed; empty when none.",
            ))
            .examples([serde_json::json!("RA")])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Letters {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_parse_in_any_order_and_print_in_raci_order() {
        let l: Letters = "IR".parse().unwrap();
        assert_eq!(l.to_string(), "RI");
        assert!(l.has(Duty::R) && l.has(Duty::I) && !l.has(Duty::A));
        assert_eq!("-".parse::<Letters>().unwrap(), Letters::NONE);
        assert!("RX".parse::<Letters>().unwrap_err().contains("`X`"));
    }
}
