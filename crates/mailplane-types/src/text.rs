//! Free text: the one rule every name, note, reason and description a caller writes must keep.
//!
//! Free text is shown to people: in portals, in the audit log, in e-mails and terminals of
//! other parties. Characters that are invisible there, or that change how the text around
//! them is shown, let one party mislead another: a NUL cuts a value short in C libraries, a
//! carriage return or an escape sequence rewrites a line in a terminal or a log, and a
//! right-to-left override shows `exe.txt` for `txt.exe` ("Trojan Source", CVE-2021-42574).
//! So every free-text input of the control plane goes through [`check`], once, in the
//! library, and a value that breaks the rule is refused with the rule named, never cleaned
//! up silently.
//!
//! There are two kinds of free text ([`TextKind`]):
//!
//! - a **line** (names, display names, titles) is one line: no control character at all
//!   (C0, DEL, C1, tab and line breaks included), no line or paragraph separator, and no
//!   bidirectional formatting character, marks (LRM, RLM, ALM) included, since a name is
//!   compared and recognised by people at a glance;
//! - **prose** (notes, reasons, comments, descriptions) may hold tabs and line breaks
//!   (`\n`, or `\r\n`), but no other control character, no lone carriage return, no line or
//!   paragraph separator, and no bidirectional embedding, override or isolate. The implicit
//!   marks LRM, RLM and ALM are allowed there: they only help mixed right-to-left and
//!   left-to-right prose to read correctly and cannot reorder the text around them.
//!
//! Lengths are not checked here: each field has its own, and the callers check it.

use std::fmt;

/// The kind of a free-text field, which decides the characters it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// One line: a name, a display name, a title.
    Line,
    /// Several lines: a note, a reason, a comment, a description.
    Prose,
}

/// The explicit bidirectional embeddings, overrides and isolates (Unicode Standard Annex #9,
/// table 2): LRE, RLE, PDF, LRO, RLO (U+202A to U+202E) and LRI, RLI, FSI, PDI (U+2066 to
/// U+2069). They reorder the text that follows them, so they are refused in every kind.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The implicit bidirectional marks: LRM (U+200E), RLM (U+200F) and ALM (U+061C).
fn is_bidi_mark(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// How a character is shown in a rule: its code point, since it may be invisible.
struct CodePoint(char);

impl fmt::Display for CodePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "U+{:04X}", self.0 as u32)
    }
}

/// Checks a free text against the rule of its kind; the error is the rule broken, naming the
/// first offending character by its code point and its position (counted in characters
/// from 1), for the caller to attach to the field's name.
pub fn check(value: &str, kind: TextKind) -> Result<(), String> {
    let mut chars = value.chars().enumerate().peekable();
    while let Some((i, c)) = chars.next() {
        let at = i + 1;
        let found = CodePoint(c);
        match kind {
            TextKind::Line if c == '\t' || c == '\n' || c == '\r' => {
                return Err(format!(
                    "must be one line, without tabs or line breaks (found {found} at character {at})"
                ));
            }
            TextKind::Prose if c == '\t' || c == '\n' => continue,
            TextKind::Prose if c == '\r' => {
                if chars.peek().is_some_and(|&(_, next)| next == '\n') {
                    continue;
                }
                return Err(format!(
                    "may break lines with \\n or \\r\\n only, not with a lone carriage return (found U+000D at character {at})"
                ));
            }
            _ => {}
        }
        if c.is_control() {
            return Err(format!(
                "must not contain control characters (U+0000 to U+001F, U+007F to U+009F{}); found {found} at character {at}",
                match kind {
                    TextKind::Line => "",
                    TextKind::Prose => ", except tab and line breaks",
                }
            ));
        }
        if c == '\u{2028}' || c == '\u{2029}' {
            return Err(format!(
                "must not contain the Unicode line or paragraph separator (found {found} at character {at}){}",
                match kind {
                    TextKind::Line => "",
                    TextKind::Prose => ": break lines with \\n",
                }
            ));
        }
        if is_bidi_control(c) || (kind == TextKind::Line && is_bidi_mark(c)) {
            return Err(format!(
                "must not contain bidirectional formatting characters (U+202A to U+202E, U+2066 to U+2069{}); found {found} at character {at}",
                match kind {
                    TextKind::Line => ", U+200E, U+200F, U+061C",
                    TextKind::Prose => "",
                }
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every class of character the rule names, with the verdict for each kind: `None` is
    /// accepted, `Some(word)` is refused by a rule that contains `word`.
    #[test]
    fn each_kind_accepts_and_refuses_what_its_rule_says() {
        type Verdict = Option<&'static str>;
        let cases: &[(&str, &str, Verdict, Verdict)] = &[
            // (what, text, as a line, as prose)
            ("plain", "Acme GmbH", None, None),
            ("accents and CJK", "Zoë 東京", None, None),
            ("right-to-left letters", "שלום", None, None),
            ("emoji with a zero-width joiner", "👩\u{200D}💻", None, None),
            ("NUL", "a\0b", Some("control"), Some("control")),
            ("bell", "a\u{7}b", Some("control"), Some("control")),
            ("escape", "a\u{1B}[2Jb", Some("control"), Some("control")),
            (
                "unit separator",
                "a\u{1F}b",
                Some("control"),
                Some("control"),
            ),
            ("DEL", "a\u{7F}b", Some("control"), Some("control")),
            ("C1 first", "a\u{80}b", Some("control"), Some("control")),
            ("C1 CSI", "a\u{9B}b", Some("control"), Some("control")),
            ("C1 last", "a\u{9F}b", Some("control"), Some("control")),
            ("first after C1", "a\u{A0}b", None, None),
            ("tab", "a\tb", Some("one line"), None),
            ("line feed", "a\nb", Some("one line"), None),
            ("CRLF", "a\r\nb", Some("one line"), None),
            (
                "lone CR",
                "a\rb",
                Some("one line"),
                Some("lone carriage return"),
            ),
            (
                "CR at the end",
                "a\r",
                Some("one line"),
                Some("lone carriage return"),
            ),
            (
                "line separator",
                "a\u{2028}b",
                Some("separator"),
                Some("separator"),
            ),
            (
                "paragraph separator",
                "a\u{2029}b",
                Some("separator"),
                Some("separator"),
            ),
            (
                "LRE",
                "a\u{202A}b",
                Some("bidirectional"),
                Some("bidirectional"),
            ),
            (
                "RLE",
                "a\u{202B}b",
                Some("bidirectional"),
                Some("bidirectional"),
            ),
            (
                "PDF",
                "a\u{202C}b",
                Some("bidirectional"),
                Some("bidirectional"),
            ),
            (
                "LRO",
                "a\u{202D}b",
                Some("bidirectional"),
                Some("bidirectional"),
            ),
            (
                "RLO",
                "a\u{202E}b",
                Some("bidirectional"),
                Some("bidirectional"),
            ),
            ("before the separators", "a\u{2027}b", None, None),
            ("after the overrides", "a\u{202F}b", None, None),
            (
                "LRI",
                "a\u{2066}b",
                Some("bidirectional"),
                Some("bidirectional"),
            ),
            (
                "RLI",
                "a\u{2067}b",
                Some("bidirectional"),
                Some("bidirectional"),
            ),
            (
                "FSI",
                "a\u{2068}b",
                Some("bidirectional"),
                Some("bidirectional"),
            ),
            (
                "PDI",
                "a\u{2069}b",
                Some("bidirectional"),
                Some("bidirectional"),
            ),
            ("before the isolates", "a\u{2065}b", None, None),
            ("after the isolates", "a\u{206A}b", None, None),
            ("LRM", "a\u{200E}b", Some("bidirectional"), None),
            ("RLM", "a\u{200F}b", Some("bidirectional"), None),
            ("ALM", "a\u{061C}b", Some("bidirectional"), None),
        ];
        for (what, text, line, prose) in cases {
            for (kind, expected) in [(TextKind::Line, line), (TextKind::Prose, prose)] {
                match (check(text, kind), expected) {
                    (Ok(()), None) => {}
                    (Err(rule), Some(word)) => {
                        assert!(rule.contains(word), "{what} as {kind:?}: {rule}");
                        assert!(rule.contains("U+"), "{what} as {kind:?}: {rule}");
                    }
                    (got, expected) => {
                        panic!("{what} as {kind:?}: got {got:?}, expected {expected:?}")
                    }
                }
            }
        }
    }

    #[test]
    fn the_rule_names_the_character_and_where_it_is() {
        let rule = check("ab\u{202E}cd", TextKind::Line).unwrap_err();
        assert!(rule.contains("U+202E at character 3"), "{rule}");
        let rule = check("é\0", TextKind::Prose).unwrap_err();
        assert!(rule.contains("U+0000 at character 2"), "{rule}");
    }
}
