//! Stage `load`: the reader one entity's keys are checked with. It
//! collects every problem at its exact key or value (unknown keys with a
//! suggestion, types, ranges, ids, steps, settings with `${VAR}`).
//!
//! May not: decide what a file kind holds (the tables of `shape` do), read
//! the disk or the environment (a setting's variables come through `Env`).

use crate::diagnostic::{ConfigError, EntityKind, EntityRef, ErrorKind, Pos};
use crate::load::node::{Entry, Node, Value};
use crate::load::shape::{self, Range};
use crate::model::{Setting, Step};
use crate::secret;

use super::substitute::{Substituted, substitute};
use super::{Env, ID_RULE, is_valid_id};

pub(super) fn get<'n>(entries: &'n [Entry], key: &str) -> Option<&'n Entry> {
    entries
        .iter()
        .find(|e| matches!(&e.key.value, Value::Str(k) if k == key))
}

/// Collects diagnostics for one entity while its file is read.
pub(super) struct Reader<'f> {
    pub(super) file: &'f str,
    pub(super) entity: EntityRef,
    pub(super) errors: Vec<ConfigError>,
}

impl<'f> Reader<'f> {
    pub(super) fn new(file: &'f str, kind: EntityKind, id: &str) -> Self {
        Reader {
            file,
            entity: EntityRef {
                kind,
                id: id.to_string(),
            },
            errors: Vec::new(),
        }
    }

    pub(super) fn set_entity_id(&mut self, id: &str) {
        self.entity.id = id.to_string();
        for e in &mut self.errors {
            e.entity = Some(self.entity.clone());
        }
    }

    pub(super) fn has_errors(&self) -> bool {
        self.errors.iter().any(ConfigError::is_error)
    }

    pub(super) fn error(&mut self, pos: Pos, kind: ErrorKind, message: impl Into<String>) {
        let mut e = ConfigError::new(self.file, pos, kind, message);
        e.entity = Some(self.entity.clone());
        self.errors.push(e);
    }

    pub(super) fn type_error(&mut self, node: &Node, key: &str, expected: &str) {
        let hint = match (&node.value, expected) {
            (Value::Int(_) | Value::Float(_) | Value::Bool(_), "a string") => "; put it in quotes",
            (Value::Str(_), "a whole number") => "; remove the quotes",
            _ => "",
        };
        self.error(
            node.pos,
            ErrorKind::Schema,
            format!(
                "`{key}` must be {expected}, found {}{hint}",
                node.value.type_name()
            ),
        );
    }

    pub(super) fn mapping<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Entry]> {
        match &node.value {
            Value::Map(entries) => Some(entries),
            other => {
                self.error(
                    node.pos,
                    ErrorKind::Schema,
                    format!(
                        "{what} must be a mapping of keys to values, found {}",
                        other.type_name()
                    ),
                );
                None
            }
        }
    }

    pub(super) fn unknown_keys(&mut self, entries: &[Entry], allowed: &[&str], context: &str) {
        let known =
            |e: &Entry| matches!(&e.key.value, Value::Str(k) if allowed.contains(&k.as_str()));
        let unknown = entries.iter().filter(|e| !known(e)).count();
        if unknown == 0 {
            return;
        }
        // A file of thousands of unknown keys: room for their errors at
        // once, and the hint that does not depend on the key written once.
        self.errors.reserve(unknown);
        let expected = format!("; expected one of: {}", allowed.join(", "));
        for e in entries.iter().filter(|e| !known(e)) {
            let text;
            let key = match &e.key.value {
                Value::Str(k) => k.as_str(),
                _ => {
                    text = e.key.scalar_text().unwrap_or_default();
                    text.as_str()
                }
            };
            let suggestion = suggest(key, allowed);
            let mut message = String::with_capacity(
                key.len() + context.len() + 20 + suggestion.map_or(expected.len(), str::len),
            );
            message.push_str("unknown key `");
            message.push_str(key);
            message.push_str("` in ");
            message.push_str(context);
            match suggestion {
                Some(s) => {
                    message.push_str("; did you mean `");
                    message.push_str(s);
                    message.push_str("`?");
                }
                None => message.push_str(&expected),
            }
            self.error(e.key.pos, ErrorKind::Schema, message);
        }
    }

    /// A present, non-null value; `null` counts as absent for optional keys.
    pub(super) fn optional<'n>(&mut self, entries: &'n [Entry], key: &str) -> Option<&'n Node> {
        get(entries, key)
            .map(|e| &e.value)
            .filter(|n| !matches!(n.value, Value::Null))
    }

    pub(super) fn required<'n>(
        &mut self,
        map: &Node,
        entries: &'n [Entry],
        key: &str,
    ) -> Option<&'n Node> {
        let found = get(entries, key).map(|e| &e.value);
        if found.is_none() {
            self.error(
                map.pos,
                ErrorKind::Schema,
                format!("missing required key `{key}`"),
            );
        }
        found
    }

    /// A non-empty string. A URL's userinfo in it is masked here, so the
    /// entity never holds it (workflow text is shown as it is kept).
    pub(super) fn string(&mut self, node: &Node, key: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) if !s.trim().is_empty() => Some(secret::mask_url_secrets(s)),
            Value::Str(_) => {
                self.error(
                    node.pos,
                    ErrorKind::Schema,
                    format!("`{key}` must not be empty"),
                );
                None
            }
            _ => {
                self.type_error(node, key, "a string");
                None
            }
        }
    }

    /// One of `names`, as written.
    pub(super) fn one_of(
        &mut self,
        node: &Node,
        key: &str,
        names: &[&'static str],
    ) -> Option<&'static str> {
        let found = match &node.value {
            Value::Str(s) => names.iter().find(|n| **n == s.as_str()).copied(),
            _ => None,
        };
        if found.is_none() {
            let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            self.error(
                node.pos,
                ErrorKind::Schema,
                format!("`{key}` must be one of {}", list.join(", ")),
            );
        }
        found
    }

    pub(super) fn string_list(&mut self, node: &Node, key: &str) -> Option<Vec<String>> {
        let Value::Seq(items) = &node.value else {
            self.type_error(node, key, "a list of strings");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            match self.string(item, &format!("{key} item")) {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A whole number in `range`. A float with no fraction (`5.0`,
    /// `1.0e+3`) is that whole number, as the JSON Schema of the file kind
    /// (draft-07: an `integer` is any number with a zero fraction) says.
    pub(super) fn int_in(&mut self, node: &Node, key: &str, range: Range) -> Option<i64> {
        let value = match node.value {
            Value::Int(i) => i,
            Value::Float(f) if whole(f) => f as i64,
            Value::Float(f) => {
                let found = if f.is_finite() {
                    "a number with a fraction"
                } else {
                    not_a_finite_number(f)
                };
                self.error(
                    node.pos,
                    ErrorKind::Schema,
                    format!("`{key}` must be a whole number, found {found}"),
                );
                return None;
            }
            _ => {
                self.type_error(node, key, "a whole number");
                return None;
            }
        };
        if range.contains(value) {
            Some(value)
        } else {
            self.out_of_range(node, key, range);
            None
        }
    }

    pub(super) fn out_of_range(&mut self, node: &Node, key: &str, Range { min, max }: Range) {
        self.error(
            node.pos,
            ErrorKind::Schema,
            format!("`{key}` must be between {min} and {max}"),
        );
    }

    /// Milliseconds in `range`, whole or with a fraction, rounded to the
    /// microsecond.
    pub(super) fn millis_in(&mut self, node: &Node, key: &str, range: Range) -> Option<f64> {
        let ms = match node.value {
            Value::Int(i) => i as f64,
            Value::Float(f) if f.is_finite() => f,
            Value::Float(f) => {
                self.error(
                    node.pos,
                    ErrorKind::Schema,
                    format!(
                        "`{key}` must be a number of milliseconds between {} and {}, found {}",
                        range.min,
                        range.max,
                        not_a_finite_number(f)
                    ),
                );
                return None;
            }
            _ => {
                self.type_error(node, key, "a number of milliseconds");
                return None;
            }
        };
        if ms < range.min as f64 || ms > range.max as f64 {
            self.out_of_range(node, key, range);
            return None;
        }
        Some((ms * 1000.0).round() / 1000.0)
    }

    pub(super) fn steps(&mut self, node: &Node) -> Option<Vec<Step>> {
        let Value::Seq(items) = &node.value else {
            self.type_error(node, "steps", "a list of steps");
            return None;
        };
        if items.is_empty() {
            self.error(
                node.pos,
                ErrorKind::Schema,
                "`steps` must list at least one step",
            );
            return None;
        }
        let mut steps = Vec::with_capacity(items.len());
        // Step id → where it first appeared (a map: a scan is quadratic).
        let mut seen: std::collections::HashMap<String, Pos> = std::collections::HashMap::new();
        let mut ok = true;
        for item in items {
            match self.step(item, &mut seen) {
                Some(step) => steps.push(step),
                None => ok = false,
            }
        }
        ok.then_some(steps)
    }

    pub(super) fn step(
        &mut self,
        node: &Node,
        seen: &mut std::collections::HashMap<String, Pos>,
    ) -> Option<Step> {
        let entries = self.mapping(node, "a step")?;
        let errors_before = self.errors.len();
        self.unknown_keys(entries, &shape::STEP.keys(), "a step");
        let id = self.required(node, entries, "id").and_then(|n| {
            let id = self.string(n, "id")?;
            if !is_valid_id(&id) {
                self.error(
                    n.pos,
                    ErrorKind::Schema,
                    format!("`id` is not a valid step id: {ID_RULE}"),
                );
            } else if let Some(first) = seen.get(&id) {
                let line = first.line;
                self.error(
                    n.pos,
                    ErrorKind::Schema,
                    format!("duplicate step id `{id}` (first at line {line}); step ids must be unique within a workflow"),
                );
            } else {
                seen.insert(id.clone(), n.pos);
            }
            Some(id)
        });
        let name = self
            .required(node, entries, "name")
            .and_then(|n| self.string(n, "name"));
        let minutes = self
            .required(node, entries, "estimated_minutes")
            .and_then(|n| self.int_in(n, "estimated_minutes", shape::ESTIMATED_MINUTES));
        let (integration, integration_pos) = match self.optional(entries, "integration") {
            Some(n) => (self.string(n, "integration"), n.pos),
            None => (None, node.pos),
        };
        let checklist = self
            .optional(entries, "checklist")
            .and_then(|n| self.string_list(n, "checklist"));
        let failed = self.errors[errors_before..]
            .iter()
            .any(ConfigError::is_error);
        if failed {
            return None;
        }
        Some(Step {
            id: id?,
            name: name?,
            estimated_minutes: u32::try_from(minutes?).ok()?,
            integration,
            checklist: checklist.unwrap_or_default(),
            integration_pos,
        })
    }

    /// A string setting, with `${VAR}` read from the environment.
    pub(super) fn setting(
        &mut self,
        node: &Node,
        key: &str,
        env: Env<'_>,
        strict: bool,
    ) -> Option<Setting> {
        let raw = match &node.value {
            Value::Str(s) => s.clone(),
            // Ids are often written as bare numbers (`project_id: 42`).
            Value::Int(i) => i.to_string(),
            _ => {
                self.type_error(node, key, "a string");
                return None;
            }
        };
        let Substituted {
            value,
            vars,
            missing,
            bad,
        } = substitute(&raw, env);
        if let Some((at, why)) = bad {
            // At the reference itself where the text is the scalar's own
            // (a plain or quoted scalar on one line); else at the value.
            let pos = match (node.source, raw[..at].contains('\n')) {
                (Some(src), false) if src.start.0 == src.end.0 => Pos {
                    line: node.pos.line,
                    col: node.pos.col
                        + u32::from(src.quote.is_some())
                        + raw[..at].chars().count() as u32,
                },
                _ => node.pos,
            };
            self.error(pos, ErrorKind::Schema, format!("`{key}`: {why}"));
            return None;
        }
        let masked = secret::is_secret_key(key) || !vars.is_empty();
        if let Some(var) = missing.first() {
            let e = ConfigError::new(
                self.file,
                node.pos,
                ErrorKind::Schema,
                if strict {
                    format!("environment variable `{var}` (for `{key}`) is not set; export it, or set `enabled: false`")
                } else {
                    format!("environment variable `{var}` (for `{key}`) is not set; the integration is disabled, so this is only a warning")
                },
            )
            .for_entity(self.entity.kind, self.entity.id.clone());
            self.errors.push(if strict { e } else { e.warning() });
            return Some(Setting::new(None, vars, masked));
        }
        if value.trim().is_empty() {
            self.error(
                node.pos,
                ErrorKind::Schema,
                format!("`{key}` must not be empty"),
            );
            return None;
        }
        Some(Setting::new(Some(value), vars, masked))
    }
}

/// The allowed key closest to a typo, when one is close enough.
pub(super) fn suggest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let len = key.chars().count();
    allowed
        .iter()
        // The distance is at least the difference in length: most keys of
        // a file full of unknown ones need no table at all.
        .filter(|a| len.abs_diff(a.len()) <= 2.max(a.len() / 4))
        .map(|a| (levenshtein(key, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4) && *d < a.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

pub(super) fn levenshtein(a: &str, b: &str) -> usize {
    // Two rows, reused, on the stack for the short keys of the key tables:
    // a file of 95,000 unknown keys asks this for each of them.
    const ON_STACK: usize = 32;
    let n = b.chars().count();
    if n < ON_STACK {
        let (mut prev, mut cur) = ([0; ON_STACK], [0; ON_STACK]);
        edit_distance(a, b, &mut prev[..=n], &mut cur[..=n])
    } else {
        edit_distance(a, b, &mut vec![0; n + 1], &mut vec![0; n + 1])
    }
}

/// The Levenshtein distance of `a` and `b` with two rows of `b`'s length
/// in characters, plus one.
pub(super) fn edit_distance<'r>(
    a: &str,
    b: &str,
    mut prev: &'r mut [usize],
    mut cur: &'r mut [usize],
) -> usize {
    for (j, p) in prev.iter_mut().enumerate() {
        *p = j;
    }
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.chars().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[prev.len() - 1]
}

/// Whether `f` is a whole number an `i64` holds exactly.
pub(super) fn whole(f: f64) -> bool {
    // 2^63 is the first float past `i64::MAX`.
    f.is_finite() && f.fract() == 0.0 && f.abs() < 9_223_372_036_854_775_808.0
}

/// `.nan` or `.inf` as an error names it: the YAML spells them as
/// numbers, but neither is a number in any range.
pub(super) fn not_a_finite_number(f: f64) -> &'static str {
    if f.is_nan() {
        "`.nan`, which is not a number"
    } else {
        "an infinite number"
    }
}
