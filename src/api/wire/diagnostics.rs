//! Stage `api`: diagnostics as every body writes them, and how many of them
//! a body carries.
//!
//! May not: do I/O or hold state (conversions only; see `wire`).

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::diagnostic::{ConfigError, EntityKind, EntityRef, ErrorKind, Severity};
use crate::engine::Diagnostics;
use crate::engine::diagnostics::PER_FILE_IN_EVENTS;

/// A diagnostic: `{"file","line","column","kind","severity","message","entity"}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConfigErrorWire {
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    pub kind: ErrorKind,
    pub severity: Severity,
    pub message: String,
    pub entity: Option<EntityRefWire>,
    /// The source line at `line`, secrets masked; `None` when the error is
    /// not about one file's text (e.g. a cross-file reference).
    pub excerpt: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntityRefWire {
    pub kind: EntityKind,
    pub id: String,
}

/// A diagnostic as its wire value (used by the `check` and `diff` commands).
pub fn config_error(e: &ConfigError) -> Value {
    to_value(&ConfigErrorWire::from(e))
}

/// A wire value as JSON (see `crate::json` for why this cannot fail).
pub fn to_value<T: Serialize>(value: &T) -> Value {
    crate::json::to_value(value)
}

impl From<&ConfigError> for ConfigErrorWire {
    fn from(e: &ConfigError) -> Self {
        ConfigErrorWire {
            file: e.file.clone(),
            line: e.line,
            column: e.column,
            kind: e.kind,
            severity: e.severity,
            message: e.message.clone(),
            entity: e.entity.as_ref().map(EntityRefWire::from),
            excerpt: e.excerpt.clone(),
        }
    }
}

impl From<&EntityRef> for EntityRefWire {
    fn from(r: &EntityRef) -> Self {
        EntityRefWire {
            kind: r.kind,
            id: r.id.clone(),
        }
    }
}

/// Which diagnostics a body carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorsShown {
    /// The first [`PER_FILE_IN_EVENTS`] of each file: a file with thousands
    /// of errors must not make every frame megabytes (the first ones say
    /// what is wrong; the full list is on `GET .../status?errors=all`).
    /// Every file with diagnostics still appears, so a client can tell
    /// which files are broken.
    Capped,
    All,
}

/// The `errors` of a status: the list, or left out of the serialised
/// object for the route to append (`?errors=all` appends the one shared
/// serialisation of every diagnostic, see `cache::SerialCache::all_errors`).
#[derive(Debug, Clone)]
pub enum ErrorsField {
    List(Vec<ConfigErrorWire>),
    Appended,
}

impl ErrorsField {
    pub(super) fn is_appended(&self) -> bool {
        matches!(self, ErrorsField::Appended)
    }
}

impl Serialize for ErrorsField {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ErrorsField::List(list) => list.serialize(serializer),
            ErrorsField::Appended => serializer.collect_seq(std::iter::empty::<()>()),
        }
    }
}

/// Every diagnostic in force, written one at a time as the body is
/// serialised (30,000 diagnostics' wire copies were built whole before).
pub struct AllErrors<'a>(pub &'a Diagnostics);

impl Serialize for AllErrors<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.0
                .files()
                .flat_map(|(_, file)| file.list.iter())
                .map(ConfigErrorWire::from),
        )
    }
}

/// The diagnostics shown, how many there are, and whether some were left out.
pub(super) fn errors(d: &Diagnostics, shown: ErrorsShown) -> (Vec<ConfigErrorWire>, usize, bool) {
    let per_file = match shown {
        ErrorsShown::Capped => PER_FILE_IN_EVENTS,
        ErrorsShown::All => usize::MAX,
    };
    let list: Vec<ConfigErrorWire> = d
        .files()
        .flat_map(|(_, file)| file.list.iter().take(per_file))
        .map(ConfigErrorWire::from)
        .collect();
    let truncated = list.len() < d.len();
    (list, d.len(), truncated)
}
