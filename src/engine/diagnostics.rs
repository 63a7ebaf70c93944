//! Stage `apply`: [`Diagnostics`], every diagnostic in force, by file.
//!
//! Persistent and shared: each file's list is one `Arc`, and the map is an
//! `imbl` map, so a revision that changes one file's diagnostics costs that
//! file's list, and every snapshot and event that did not change a file
//! shares its list with the ones before (a file with 30,000 errors is held
//! once, not once per revision). Beside the full lists it keeps each file's
//! first [`PER_FILE_IN_EVENTS`], which is what an event carries: events are
//! kept in history and in the broadcast, so theirs must stay small whatever
//! a file holds. No I/O, no locks.

use std::sync::Arc;

use imbl::OrdMap;

use crate::diagnostic::ConfigError;

/// Diagnostics of one file an event carries (the first ones by position);
/// the counts are always the whole file's.
pub const PER_FILE_IN_EVENTS: usize = 100;

/// One file's diagnostics, in position order, with its counts.
#[derive(Debug, PartialEq, Eq)]
pub struct FileDiagnostics {
    /// All of them, or the first [`PER_FILE_IN_EVENTS`] in an event's copy.
    /// Shared with the file's state in the applier, not copied (a `Vec`
    /// behind the `Arc`, so the load's list is moved in, never copied).
    pub list: Arc<Vec<ConfigError>>,
    /// How many the file has (`list` may hold fewer).
    pub total: usize,
    /// Diagnostics of severity error among `total` (the rest are warnings).
    pub errors: usize,
    /// What `list` holds on the heap, roughly (for history budgets).
    pub bytes: usize,
}

impl FileDiagnostics {
    fn new(list: Arc<Vec<ConfigError>>, total: usize, errors: usize) -> Self {
        FileDiagnostics {
            bytes: list.iter().map(error_bytes).sum(),
            list,
            total,
            errors,
        }
    }
}

/// Every diagnostic in force, by file (files without any are absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics {
    by_file: OrdMap<Arc<str>, Arc<FileDiagnostics>>,
    /// The same files, each cut to its first [`PER_FILE_IN_EVENTS`].
    heads: OrdMap<Arc<str>, Arc<FileDiagnostics>>,
    len: usize,
    errors: usize,
}

impl Diagnostics {
    /// Diagnostics from a flat list (any order).
    pub fn from_list(list: Vec<ConfigError>) -> Self {
        let mut by_file: std::collections::BTreeMap<String, Vec<ConfigError>> = Default::default();
        for e in list {
            by_file.entry(e.file.clone()).or_default().push(e);
        }
        let mut diagnostics = Diagnostics::default();
        for (file, list) in by_file {
            diagnostics.set(&file, list);
        }
        diagnostics
    }

    /// Replaces `file`'s diagnostics (none: the file leaves the map). An
    /// equal list keeps the one held, so it stays shared.
    pub fn set(&mut self, file: &str, mut list: Vec<ConfigError>) {
        sort_by_position(&mut list);
        self.set_sorted(file, Arc::new(list));
    }

    /// [`set`](Self::set) with a list already in position order (as
    /// [`sort_by_position`] leaves it), kept as it is given: a file's own
    /// list is held once, by the file's state and here.
    pub fn set_sorted(&mut self, file: &str, list: Arc<Vec<ConfigError>>) {
        debug_assert!(list.is_sorted_by_key(|e| (e.line, e.column)));
        if let Some(old) = self.by_file.get(file) {
            if Arc::ptr_eq(&old.list, &list) || *old.list == *list {
                return;
            }
            self.len -= old.total;
            self.errors -= old.errors;
        }
        if list.is_empty() {
            self.by_file.remove(file);
            self.heads.remove(file);
            return;
        }
        let (total, errors) = (list.len(), list.iter().filter(|e| e.is_error()).count());
        let head = if total <= PER_FILE_IN_EVENTS {
            Arc::clone(&list)
        } else {
            Arc::new(list[..PER_FILE_IN_EVENTS].to_vec())
        };
        let file: Arc<str> = Arc::from(file);
        self.heads.insert(
            Arc::clone(&file),
            Arc::new(FileDiagnostics::new(head, total, errors)),
        );
        self.by_file
            .insert(file, Arc::new(FileDiagnostics::new(list, total, errors)));
        self.len += total;
        self.errors += errors;
    }

    /// What an event carries: every file's first [`PER_FILE_IN_EVENTS`]
    /// with the whole counts. Shares its lists with every other revision's.
    pub fn heads(&self) -> Diagnostics {
        Diagnostics {
            by_file: self.heads.clone(),
            heads: self.heads.clone(),
            len: self.len,
            errors: self.errors,
        }
    }

    /// Every diagnostic, by file then position.
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.by_file.values().flat_map(|f| f.list.iter())
    }

    /// Each file with its diagnostics, in file order.
    pub fn files(&self) -> impl Iterator<Item = (&str, &FileDiagnostics)> {
        self.by_file.iter().map(|(file, d)| (&**file, &**d))
    }

    pub fn file(&self, file: &str) -> Option<&FileDiagnostics> {
        self.by_file.get(file).map(|d| &**d)
    }

    /// Diagnostics in force (errors and warnings), counting those an
    /// event's copy leaves out.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Diagnostics of severity error.
    pub fn error_count(&self) -> usize {
        self.errors
    }

    /// The heap bytes of the lists this one holds that `before` does not
    /// share: what keeping this one beside `before` costs.
    pub fn bytes_beyond(&self, before: &Diagnostics) -> usize {
        self.by_file
            .iter()
            .filter(|(file, d)| {
                before
                    .by_file
                    .get(&**file)
                    .is_none_or(|old| !Arc::ptr_eq(old, d))
            })
            .map(|(_, d)| d.bytes)
            .sum()
    }
}

/// The order a file's diagnostics are kept in: by position, and in the
/// order they were found where two share one (a stable sort).
pub fn sort_by_position(list: &mut [ConfigError]) {
    list.sort_by_key(|e| (e.line, e.column));
}

/// One diagnostic's heap size, roughly.
fn error_bytes(e: &ConfigError) -> usize {
    std::mem::size_of::<ConfigError>()
        + e.file.len()
        + e.message.len()
        + e.excerpt.as_ref().map_or(0, String::len)
        + e.entity.as_ref().map_or(0, |r| r.id.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::diagnostic::{ErrorKind, Pos};

    fn error(file: &str, line: u32) -> ConfigError {
        ConfigError::new(file, Pos { line, col: 1 }, ErrorKind::Schema, "bad value")
    }

    #[test]
    fn an_unchanged_file_stays_shared_and_costs_nothing_more() {
        let mut first = Diagnostics::default();
        first.set(
            "workflows/big.yaml",
            (1..=1000).map(|l| error("workflows/big.yaml", l)).collect(),
        );
        first.set("workflows/a.yaml", vec![error("workflows/a.yaml", 2)]);
        let mut second = first.clone();
        second.set("workflows/a.yaml", vec![error("workflows/a.yaml", 3)]);
        let a = second.file("workflows/a.yaml").unwrap().bytes;
        assert_eq!(second.bytes_beyond(&first), a);
        // An event's copy holds the first 100 of the big file, with its count.
        let heads = second.heads();
        let big = heads.file("workflows/big.yaml").unwrap();
        assert_eq!((big.list.len(), big.total), (PER_FILE_IN_EVENTS, 1000));
        assert_eq!(heads.len(), 1001);
        assert_eq!(heads.iter().count(), PER_FILE_IN_EVENTS + 1);
        assert_eq!(second.heads().bytes_beyond(&first.heads()), a);
        // An equal list is not a new one.
        let mut third = second.clone();
        third.set(
            "workflows/big.yaml",
            (1..=1000).map(|l| error("workflows/big.yaml", l)).collect(),
        );
        assert_eq!(third.bytes_beyond(&second), 0);
        assert_eq!((third.len(), third.error_count()), (1001, 1001));
        third.set("workflows/big.yaml", Vec::new());
        assert_eq!((third.len(), third.error_count()), (1, 1));
        assert!(third.file("workflows/big.yaml").is_none());
    }

    #[test]
    fn lists_are_kept_by_file_then_position() {
        let d = Diagnostics::from_list(vec![
            error("b.yaml", 5),
            error("a.yaml", 9),
            error("b.yaml", 1),
        ]);
        let order: Vec<(&str, u32)> = d.iter().map(|e| (e.file.as_str(), e.line)).collect();
        assert_eq!(order, [("a.yaml", 9), ("b.yaml", 1), ("b.yaml", 5)]);
    }
}
