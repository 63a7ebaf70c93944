//! Diagnostics: the one error type every stage reports and survives.
//!
//! A `ConfigError` is data, not control flow: parse, validate and diff return
//! them beside their results and keep going. Nothing here does I/O.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

/// What part of the pipeline found the problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The bytes are not one well-formed YAML document within the budgets.
    Syntax,
    /// The YAML is well formed but does not fit the model (types, keys, ranges).
    Schema,
    /// A value names something that does not exist in the whole configuration.
    Reference,
    /// The file could not be read, is too large or is not allowed.
    Io,
}

/// Errors stop an entity from applying; warnings are reported and applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// The three kinds of configuration entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Workflow,
    Integration,
    Settings,
}

crate::named!(ErrorKind, Severity, EntityKind);

/// Which entity a diagnostic belongs to, when that is known.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityRef {
    pub kind: EntityKind,
    pub id: String,
}

/// A problem in one file, at one position, that a person can act on.
///
/// `file` is relative to the repository root with `/` separators; `line` and
/// `column` are 1-based (column counts characters, not bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConfigError {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub kind: ErrorKind,
    pub severity: Severity,
    pub message: String,
    pub entity: Option<EntityRef>,
    /// The source line the position is on, secrets masked, when the file's
    /// text was at hand (so a reader sees what to fix without opening it).
    pub excerpt: Option<String>,
}

impl ConfigError {
    pub fn new(
        file: impl Into<String>,
        pos: Pos,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            file: file.into(),
            line: pos.line,
            column: pos.col,
            kind,
            severity: Severity::Error,
            message: message.into(),
            entity: None,
            excerpt: None,
        }
    }

    /// Attaches the offending line (already masked by the caller).
    pub fn with_excerpt(mut self, excerpt: Option<String>) -> Self {
        self.excerpt = excerpt;
        self
    }

    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    pub fn for_entity(mut self, kind: EntityKind, id: impl Into<String>) -> Self {
        self.entity = Some(EntityRef {
            kind,
            id: id.into(),
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.column,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => self.kind.as_str().to_string(),
            Severity::Warning => format!("warning ({})", self.kind),
        };
        write!(
            f,
            "{}:{}:{}: {}: {}",
            one_line(&self.file),
            self.line,
            self.column,
            kind,
            one_line(&self.message)
        )
    }
}

/// Whether `c` may not be printed as it is in a line of text output: any
/// control character (C0, DEL, C1 such as NEL), the line and paragraph
/// separators, and the bidirectional marks, embeddings, overrides and
/// isolates (which make a terminal or a log viewer show text in another
/// order than it is).
pub fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{061C}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `s` as one line of plain text: every character [`is_unprintable`]
/// written as an escape (`\n`, `\u{1b}`, `\u{2028}`) and `\` doubled, so a
/// file name, a YAML key or a value cannot start a line of its own (a
/// forged `::error` workflow command, a forged diagnostic), move the
/// cursor, recolour the terminal or reorder what is shown; and the escaped
/// text reads back to exactly what the file holds.
pub fn one_line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c == '\\' || is_unprintable(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\\' || is_unprintable(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// How many characters of an id an error message echoes.
pub const SHOWN_ID_CHARS: usize = 100;

/// An id (of a workflow, a run, a step, an integration) as an error
/// message echoes it: at most [`SHOWN_ID_CHARS`] characters (then `…`),
/// as [`one_line`]. A client may send 60 KB of id, or NUL and U+202E.
pub fn shown_id(id: &str) -> String {
    match id.char_indices().nth(SHOWN_ID_CHARS) {
        Some((cut, _)) => format!("{}…", one_line(&id[..cut])),
        None => one_line(id).into_owned(),
    }
}

/// A 1-based position in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, col: 1 };

    pub fn new(line: u32, col: u32) -> Self {
        Pos { line, col }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_escapes_control_characters_of_file_and_message() {
        let e = ConfigError::new(
            "workflows/a\u{1b}]0;owned\u{7}\nb\r.yaml",
            Pos::new(2, 3),
            ErrorKind::Schema,
            "unknown key `\u{1b}[2J`\nnext line\tend \\n",
        );
        assert_eq!(
            e.to_string(),
            "workflows/a\\u{1b}]0;owned\\u{7}\\nb\\r.yaml:2:3: schema: \
             unknown key `\\u{1b}[2J`\\nnext line\\tend \\\\n"
        );
        let plain = ConfigError::new("workflows/ü.yaml", Pos::START, ErrorKind::Io, "gone");
        assert_eq!(plain.to_string(), "workflows/ü.yaml:1:1: io: gone");
    }

    #[test]
    fn one_line_escapes_separators_c1_and_bidi_controls() {
        for (raw, shown) in [
            ("a\u{85}b", "a\\u{85}b"),
            ("a\u{2028}b\u{2029}", "a\\u{2028}b\\u{2029}"),
            ("\u{202e}gpj.exe", "\\u{202e}gpj.exe"),
            ("\u{2066}x\u{2069}", "\\u{2066}x\\u{2069}"),
            ("\u{7}\u{7f}\u{9b}", "\\u{7}\\u{7f}\\u{9b}"),
            ("plain ü € ✓", "plain ü € ✓"),
        ] {
            assert_eq!(one_line(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn shown_ids_are_cut_and_escaped() {
        let long = "x".repeat(60_000);
        let shown = shown_id(&long);
        assert_eq!(shown.chars().count(), SHOWN_ID_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(shown_id("a\0b\u{202e}c"), "a\\u{0}b\\u{202e}c");
        assert_eq!(shown_id("login"), "login");
    }
}
