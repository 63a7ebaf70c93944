//! Diagnostics: the one error type every stage reports and survives.
//!
//! A `ConfigError` is data, not control flow: parse, validate and diff return
//! them beside their results and keep going. Nothing here does I/O.

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
            printable(&self.file, false),
            self.line,
            self.column,
            kind,
            printable(&self.message, true)
        )
    }
}

/// `s` with control characters written as escapes (`\u{1b}`), so a file
/// name or a YAML key cannot move the cursor, recolour or retitle the
/// terminal that prints a diagnostic, nor start a line of its own. Line
/// feeds and tabs in a message are kept when `lines` is set.
fn printable(s: &str, lines: bool) -> std::borrow::Cow<'_, str> {
    let keep = |c: char| !c.is_control() || (lines && matches!(c, '\n' | '\t'));
    if s.chars().all(keep) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if keep(c) {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out.into()
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
            "unknown key `\u{1b}[2J`\nnext line\tend",
        );
        assert_eq!(
            e.to_string(),
            "workflows/a\\u{1b}]0;owned\\u{7}\\nb\\r.yaml:2:3: schema: \
             unknown key `\\u{1b}[2J`\nnext line\tend"
        );
        let plain = ConfigError::new("workflows/ü.yaml", Pos::START, ErrorKind::Io, "gone");
        assert_eq!(plain.to_string(), "workflows/ü.yaml:1:1: io: gone");
    }
}
