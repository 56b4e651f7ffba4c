//! Loading the provider's service catalogue (regions, offers, SKUs, DNS guidance) from TOML.
//!
//! The catalogue is the provider's published terms, kept as a file under version control
//! like the RACI profiles, so that a change to what is sold is reviewed as a diff. The
//! shipped `catalogue/catalogue.toml` is built in; `mailplane serve --catalogue FILE` serves
//! another. A catalogue that breaks a rule does not load, and the error lists every rule.

use std::path::Path;

use mailplane_types::catalogue::Catalogue;
use mailplane_types::{Error, Result};

/// The shipped catalogue's text.
pub const BUILTIN: &str = include_str!("../../../catalogue/catalogue.toml");

/// Parses and checks a catalogue; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Catalogue> {
    let catalogue: Catalogue =
        toml::from_str(text).map_err(|e| Error::invalid("catalogue", format!("{origin}: {e}")))?;
    let problems = catalogue.problems();
    if problems.is_empty() {
        Ok(catalogue)
    } else {
        Err(Error::invalid(
            "catalogue",
            format!("{origin}: {}", problems.join("; ")),
        ))
    }
}

/// The shipped catalogue.
pub fn builtin() -> Catalogue {
    parse(BUILTIN, "catalogue/catalogue.toml")
        .expect("the shipped catalogue is checked by its test")
}

/// Reads, parses and checks a catalogue file.
pub fn load(path: &Path) -> Result<Catalogue> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid("catalogue", format!("cannot read {}: {e}", path.display())))?;
    parse(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalogue_loads() {
        let c = parse(BUILTIN, "builtin").expect("loads");
        assert_eq!(c.default_region, "eu");
        assert!(c.offer("mailbox-300gb").is_some());
    }

    #[test]
    fn a_broken_catalogue_names_every_rule_it_breaks() {
        let text = BUILTIN
            .replace("default_region = \"eu\"", "default_region = \"us\"")
            .replace(
                "sku = \"exchange-mailbox\"\n\n[[offers]]",
                "sku = \"nope\"\n\n[[offers]]",
            )
            .replace("minimum_seats = 5", "minimum_seats = 0");
        let err = parse(&text, "broken").expect_err("refused").to_string();
        assert!(err.contains("default_region `us`: no such region"), "{err}");
        assert!(
            err.contains("offers `mailbox-50gb`: sku `nope` is not defined"),
            "{err}"
        );
        assert!(err.contains("minimum_seats must be at least 1"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let text = format!("{BUILTIN}\nprices = 3\n");
        let err = parse(&text, "extra").expect_err("refused").to_string();
        assert!(err.contains("prices"), "{err}");
    }
}
