//! Stage `diff`: the semantic diff of two versions of one entity's tree.
//!
//! Says which keys changed, not which lines: mappings are compared key-wise,
//! lists by identity (`id`, else `name`) or by a longest common subsequence,
//! reorders are moves and renamed ids are renames. Every value that leaves
//! this module is already masked when it is, or sits under, a secret. Pure:
//! no I/O, never panics, bounded work on any input.

use crate::diff::identity::list_key;
use crate::diff::order::longest_increasing;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};

use serde_json::Value as Json;

use crate::load::node::{Entry, Node, Value};
use crate::secret;

/// What happened at one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    /// The path exists only in the new version; `new` holds its value.
    Add,
    /// The path exists only in the old version; `old` holds its value.
    Remove,
    /// The value at the path changed (including its type).
    Replace,
    /// A list item kept its identity but changed its place among the others;
    /// `old` and `new` are its indexes.
    Move,
    /// A list item's identity changed and nothing else did; `old` and `new`
    /// are the two identities.
    Rename,
}

crate::named!(ChangeOp);

/// One semantic change.
///
/// `path` reads like `steps[id=reproduce].estimated_minutes` (empty for the
/// whole entity). `line` is in the new file, or in the old one for a removal.
/// `old` and `new` are already masked where they are secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    pub op: ChangeOp,
    pub old: Option<Json>,
    pub new: Option<Json>,
    pub line: Option<u32>,
}

/// Values longer than this are shortened in the human-readable form.
const DISPLAY_WIDTH: usize = 80;

impl fmt::Display for Change {
    /// One line for a person: `~ steps[id=a].name: "A" -> "B" (line 4)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(whole entity)"
        } else {
            &self.path
        };
        let old = self.old.as_ref().map(short_json).unwrap_or_default();
        let new = self.new.as_ref().map(short_json).unwrap_or_default();
        match self.op {
            ChangeOp::Add => write!(f, "+ {path}: {new}")?,
            ChangeOp::Remove => write!(f, "- {path}: {old}")?,
            ChangeOp::Replace => write!(f, "~ {path}: {old} -> {new}")?,
            ChangeOp::Move => write!(f, "> {path}: moved from {old} to {new}")?,
            ChangeOp::Rename => write!(f, "= {path}: renamed {old} -> {new}")?,
        }
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

fn short_json(value: &Json) -> String {
    let text = value.to_string();
    if text.chars().count() <= DISPLAY_WIDTH {
        return text;
    }
    let head: String = text.chars().take(DISPLAY_WIDTH - 1).collect();
    format!("{head}…")
}

/// The semantic changes that turn `old` into `new`.
///
/// `None` stands for "the entity does not exist": `None -> Some` is one `add`
/// at path `""`, `Some -> None` one `remove`. Formatting, comments, key order
/// and the spelling of null (`null`, `~`, empty) are not changes, and a key
/// set to null or to an empty list or mapping is the same as an absent key.
///
/// The order is stable: within a mapping, the new keys' order, then the
/// removed keys; within an identified list, removals, then the new items in
/// order. A value pulled in by an alias or `<<` reports the line it is
/// written at (the alias for `*a`, the anchored mapping for a merge).
pub fn diff(old: Option<&Node>, new: Option<&Node>) -> Vec<Change> {
    let mut differ = Differ { out: Vec::new() };
    match (old, new) {
        (None, None) => {}
        (None, Some(n)) => differ.push("", ChangeOp::Add, None, Some(n), n.pos.line, false),
        (Some(o), None) => differ.push("", ChangeOp::Remove, Some(o), None, o.pos.line, false),
        (Some(o), Some(n)) => {
            let at = n.pos.line;
            differ.node(&mut String::new(), o, n, at, false, 0);
        }
    }
    differ.out
}

/// Deeper than this, subtrees are compared whole. The parser's own depth
/// budget is far below it; this only guards trees built by other means.
const MAX_DEPTH: usize = 256;

/// A positional list diff fills a table of at most this many cells before it
/// falls back to anchoring on unique items.
const LCS_CELLS: usize = 1 << 21;

/// How often the unique-item fallback may split a list before the rest is
/// compared position by position.
const ANCHOR_DEPTH: usize = 8;

struct Differ {
    out: Vec<Change>,
}

impl Differ {
    /// Diffs two values at `path`. `at` is the line reported when the new
    /// value is a list or mapping: its key's line, or the item's own.
    fn node(&mut self, path: &mut String, o: &Node, n: &Node, at: u32, secret: bool, depth: usize) {
        match (&o.value, &n.value) {
            (Value::Map(a), Value::Map(b)) if depth < MAX_DEPTH => {
                self.map(path, a, b, secret, depth + 1);
            }
            (Value::Seq(a), Value::Seq(b)) if depth < MAX_DEPTH => {
                self.seq(path, a, b, secret, depth + 1);
            }
            _ if o.same_value(n) => {}
            _ => {
                let line = line_of(n, at);
                self.push(path, ChangeOp::Replace, Some(o), Some(n), line, secret);
            }
        }
    }

    fn map(&mut self, path: &mut String, a: &[Entry], b: &[Entry], secret: bool, depth: usize) {
        // A key set to null or to an empty list or mapping means the same
        // as no key at all (the entity's JSON does not tell them apart).
        let present = |e: &&Entry| !is_nothing(&e.value);
        let a: Vec<&Entry> = a.iter().filter(present).collect();
        let b: Vec<&Entry> = b.iter().filter(present).collect();
        let old_keys: HashMap<KeyId, &Entry> = a.iter().map(|e| (key_id(&e.key), *e)).collect();
        let new_keys: HashSet<KeyId> = b.iter().map(|e| key_id(&e.key)).collect();
        let len = path.len();
        for e in b {
            push_key(path, &e.key);
            let secret = secret || is_secret_key_node(&e.key);
            match old_keys.get(&key_id(&e.key)) {
                Some(old) => {
                    let at = e.key.pos.line;
                    self.node(path, &old.value, &e.value, at, secret, depth);
                }
                None => {
                    let line = line_of(&e.value, e.key.pos.line);
                    self.push(path, ChangeOp::Add, None, Some(&e.value), line, secret);
                }
            }
            path.truncate(len);
        }
        for e in a {
            if !new_keys.contains(&key_id(&e.key)) {
                push_key(path, &e.key);
                let secret = secret || is_secret_key_node(&e.key);
                let line = line_of(&e.value, e.key.pos.line);
                self.push(path, ChangeOp::Remove, Some(&e.value), None, line, secret);
                path.truncate(len);
            }
        }
    }

    fn seq(&mut self, path: &mut String, a: &[Node], b: &[Node], secret: bool, depth: usize) {
        // Under a secret, an identity in the path would show the secret's
        // contents, so such lists are compared by position only.
        let identity = if secret { None } else { identity_key(a, b) };
        match identity {
            Some(key) => self.seq_by_identity(path, key, a, b, depth),
            None => self.seq_by_position(path, a, b, secret, depth),
        }
    }

    fn seq_by_identity(
        &mut self,
        path: &mut String,
        key: &str,
        a: &[Node],
        b: &[Node],
        depth: usize,
    ) {
        let old_ids: HashMap<KeyId, usize> = a
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((key_id(identity_of(n, key)?), i)))
            .collect();
        let new_ids: HashSet<KeyId> = b
            .iter()
            .filter_map(|n| Some(key_id(identity_of(n, key)?)))
            .collect();

        // For each new item: the old item it continues, and whether it does
        // so under another identity.
        let mut source: Vec<Option<(usize, bool)>> = b
            .iter()
            .map(|n| {
                let id = key_id(identity_of(n, key)?);
                old_ids.get(&id).map(|&i| (i, false))
            })
            .collect();
        let gone: Vec<usize> = (0..a.len())
            .filter(|&i| identity_of(&a[i], key).is_some_and(|id| !new_ids.contains(&key_id(id))))
            .collect();

        // Renames: a vanished item whose body reappears under a new identity.
        let mut by_body: HashMap<u64, Vec<usize>> = HashMap::new();
        for &i in &gone {
            by_body
                .entry(body_fingerprint(&a[i], key))
                .or_default()
                .push(i);
        }
        let mut renamed_from: HashSet<usize> = HashSet::new();
        for (j, slot) in source.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            let Some(candidates) = by_body.get_mut(&body_fingerprint(&b[j], key)) else {
                continue;
            };
            if let Some(k) = candidates
                .iter()
                .position(|&i| same_body(&a[i], &b[j], key))
            {
                let i = candidates.remove(k);
                renamed_from.insert(i);
                *slot = Some((i, true));
            }
        }

        // Items whose relative order changed: those outside the longest run
        // that kept its order, so moving one item is one move.
        let kept_order: Vec<(usize, usize)> = source
            .iter()
            .enumerate()
            .filter_map(|(j, s)| s.map(|(i, _)| (j, i)))
            .collect();
        let olds: Vec<usize> = kept_order.iter().map(|&(_, i)| i).collect();
        let stay = longest_increasing(&olds);
        let moved: HashSet<usize> = kept_order
            .iter()
            .zip(&stay)
            .filter(|&(_, &s)| !s)
            .map(|(&(j, _), _)| j)
            .collect();

        let len = path.len();
        for &i in &gone {
            if renamed_from.contains(&i) {
                continue;
            }
            push_identity(path, key, &a[i]);
            self.push(
                path,
                ChangeOp::Remove,
                Some(&a[i]),
                None,
                a[i].pos.line,
                false,
            );
            path.truncate(len);
        }
        for (j, n) in b.iter().enumerate() {
            match source[j] {
                None => {
                    push_identity(path, key, n);
                    self.push(path, ChangeOp::Add, None, Some(n), n.pos.line, false);
                }
                Some((i, renamed)) => {
                    let o = &a[i];
                    // An item that kept its identity, its place and its
                    // value has nothing to say: skip it before building its
                    // path (most items of a long list, after one edit).
                    if !renamed && !moved.contains(&j) && o.same_value(n) {
                        continue;
                    }
                    if renamed {
                        push_identity(path, key, o);
                        let (old_id, new_id) = (identity_of(o, key), identity_of(n, key));
                        let line = new_id.map_or(n.pos.line, |id| id.pos.line);
                        self.push(path, ChangeOp::Rename, old_id, new_id, line, false);
                        path.truncate(len);
                    }
                    push_identity(path, key, n);
                    if moved.contains(&j) {
                        self.push_move(path, i, j, n.pos.line);
                    }
                    // A renamed item's body is unchanged by definition.
                    if !renamed {
                        self.node(path, o, n, n.pos.line, false, depth);
                    }
                }
            }
            path.truncate(len);
        }
    }

    fn seq_by_position(
        &mut self,
        path: &mut String,
        a: &[Node],
        b: &[Node],
        secret: bool,
        depth: usize,
    ) {
        let (ia, ib) = intern(a, b);
        let mut pairs = Vec::new();
        align(&ia, &ib, 0, 0, 0, &mut pairs);
        // A sentinel past both ends closes the last gap.
        pairs.push((a.len(), b.len()));

        let len = path.len();
        let (mut oi, mut ni) = (0, 0);
        for (mo, mn) in pairs {
            // Within a gap, items at the same offset are edits of each other;
            // the rest were removed or added.
            let common = (mo - oi).min(mn - ni);
            for k in 0..common {
                let (o, n) = (&a[oi + k], &b[ni + k]);
                push_index(path, ni + k);
                let at = n.pos.line;
                self.node(path, o, n, at, secret, depth);
                path.truncate(len);
            }
            for (i, o) in a.iter().enumerate().take(mo).skip(oi + common) {
                push_index(path, i);
                self.push(path, ChangeOp::Remove, Some(o), None, o.pos.line, secret);
                path.truncate(len);
            }
            for (j, n) in b.iter().enumerate().take(mn).skip(ni + common) {
                push_index(path, j);
                self.push(path, ChangeOp::Add, None, Some(n), n.pos.line, secret);
                path.truncate(len);
            }
            oi = mo + 1;
            ni = mn + 1;
        }
    }

    fn push(
        &mut self,
        path: &str,
        op: ChangeOp,
        old: Option<&Node>,
        new: Option<&Node>,
        line: u32,
        secret: bool,
    ) {
        // A `${NAME}` reference on either side hides the other side: it is
        // likely the value the variable stood for. The reference itself is
        // shown (`masked` keeps it); text that merely mentions `${…}` hides
        // nothing.
        let env = [old, new]
            .iter()
            .flatten()
            .any(|n| n.as_str().is_some_and(secret::is_only_env_references));
        let secret = secret || env;
        self.out.push(Change {
            path: path.to_string(),
            op,
            old: old.map(|n| masked(n.to_json(), secret)),
            new: new.map(|n| masked(n.to_json(), secret)),
            line: Some(line),
        });
    }

    fn push_move(&mut self, path: &str, from: usize, to: usize, line: u32) {
        self.out.push(Change {
            path: path.to_string(),
            op: ChangeOp::Move,
            old: Some(Json::from(from)),
            new: Some(Json::from(to)),
            line: Some(line),
        });
    }
}

/// Null, or an empty list or mapping: what an absent key means.
fn is_nothing(node: &Node) -> bool {
    match &node.value {
        Value::Null => true,
        Value::Seq(items) => items.is_empty(),
        Value::Map(entries) => entries.is_empty(),
        _ => false,
    }
}

/// A value's line, or `collection_line` when the value is a list or mapping
/// (whose own position is where its first item starts).
fn line_of(value: &Node, collection_line: u32) -> u32 {
    match value.value {
        Value::Seq(_) | Value::Map(_) => collection_line,
        _ => value.pos.line,
    }
}

/// Masks secret values inside `value`: every string and number when
/// `secret`, everything under a secret key, and the userinfo of any URL.
/// `${NAME}` references are shown as written (the name is not the secret);
/// null and booleans stay visible, they cannot carry a credential.
fn masked(value: Json, secret: bool) -> Json {
    match value {
        Json::String(s) if secret && !secret::is_only_env_references(&s) => {
            Json::String(secret::mask(&s))
        }
        Json::String(s) => Json::String(secret::mask_url_secrets(&s)),
        Json::Number(n) if secret => Json::String(secret::mask(&n.to_string())),
        Json::Array(items) => Json::Array(items.into_iter().map(|v| masked(v, secret)).collect()),
        Json::Object(map) => Json::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let secret = secret || secret::is_secret_key(&k);
                    (k, masked(v, secret))
                })
                .collect(),
        ),
        other => other,
    }
}

fn is_secret_key_node(key: &Node) -> bool {
    key.scalar_text().is_some_and(|k| secret::is_secret_key(&k))
}

/// A scalar's identity for matching: its type and its text, so that `1`
/// and `"1"` are different keys, as they are different values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct KeyId(u8, String);

fn key_id(node: &Node) -> KeyId {
    let tag = match node.value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Int(_) => 2,
        Value::Float(_) => 3,
        Value::Str(_) => 4,
        Value::Seq(_) => 5,
        Value::Map(_) => 6,
    };
    let text = node
        .scalar_text()
        .unwrap_or_else(|| node.to_json().to_string());
    KeyId(tag, text)
}

fn is_plain(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn quoted(text: &str) -> String {
    Json::String(text.to_string()).to_string()
}

fn node_text(node: &Node) -> String {
    node.scalar_text()
        .unwrap_or_else(|| node.to_json().to_string())
}

fn push_key(path: &mut String, key: &Node) {
    let text = node_text(key);
    if is_plain(&text) {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&text);
    } else {
        path.push('[');
        path.push_str(&quoted(&text));
        path.push(']');
    }
}

fn push_index(path: &mut String, index: usize) {
    path.push('[');
    path.push_str(&index.to_string());
    path.push(']');
}

fn push_identity(path: &mut String, key: &str, item: &Node) {
    let text = identity_of(item, key).map(node_text).unwrap_or_default();
    path.push('[');
    path.push_str(key);
    path.push('=');
    if is_plain(&text) {
        path.push_str(&text);
    } else {
        path.push_str(&quoted(&text));
    }
    path.push(']');
}

/// The identity key shared by both lists, by the rule of
/// [`list_key`].
fn identity_key(a: &[Node], b: &[Node]) -> Option<&'static str> {
    list_key(a, b, |n, key| identity_of(n, key).map(key_id))
}

fn identity_of<'n>(item: &'n Node, key: &str) -> Option<&'n Node> {
    let value = &item.get(key)?.value;
    match value.value {
        Value::Str(_) | Value::Int(_) | Value::Float(_) => Some(value),
        _ => None,
    }
}

/// Whether two items are equal apart from their `key` entries.
fn same_body(a: &Node, b: &Node, key: &str) -> bool {
    let (Value::Map(ea), Value::Map(eb)) = (&a.value, &b.value) else {
        return false;
    };
    let is_key = |e: &&Entry| e.key.as_str() == Some(key);
    let ra: Vec<&Entry> = ea.iter().filter(|e| !is_key(e)).collect();
    let rb: Vec<&Entry> = eb.iter().filter(|e| !is_key(e)).collect();
    ra.len() == rb.len()
        && ra.iter().all(|x| {
            rb.iter()
                .any(|y| x.key.same_value(&y.key) && x.value.same_value(&y.value))
        })
}

/// A hash that agrees with `same_value`: equal values hash equal (mapping
/// key order and `0.0`/`-0.0` included).
fn fingerprint(value: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    match value {
        Value::Null => 0u8.hash(&mut h),
        Value::Bool(b) => (1u8, b).hash(&mut h),
        Value::Int(i) => (2u8, i).hash(&mut h),
        Value::Float(f) => {
            let bits = if f.is_nan() {
                f64::NAN.to_bits()
            } else if *f == 0.0 {
                0
            } else {
                f.to_bits()
            };
            (3u8, bits).hash(&mut h);
        }
        Value::Str(s) => (4u8, s).hash(&mut h),
        Value::Seq(items) => {
            (5u8, items.len()).hash(&mut h);
            for item in items {
                fingerprint(&item.value).hash(&mut h);
            }
        }
        Value::Map(entries) => {
            (6u8, entries_fingerprint(entries.iter())).hash(&mut h);
        }
    }
    h.finish()
}

/// Order-independent: the entries' hashes are summed.
fn entries_fingerprint<'e>(entries: impl Iterator<Item = &'e Entry>) -> u64 {
    entries.fold(0u64, |acc, e| {
        let mut h = DefaultHasher::new();
        (fingerprint(&e.key.value), fingerprint(&e.value.value)).hash(&mut h);
        acc.wrapping_add(h.finish())
    })
}

fn body_fingerprint(item: &Node, key: &str) -> u64 {
    match &item.value {
        Value::Map(entries) => {
            entries_fingerprint(entries.iter().filter(|e| e.key.as_str() != Some(key)))
        }
        other => fingerprint(other),
    }
}

/// Numbers the distinct values of both lists, so equal items get equal
/// numbers and the alignment compares integers.
fn intern<'n>(a: &'n [Node], b: &'n [Node]) -> (Vec<u32>, Vec<u32>) {
    let mut buckets: HashMap<u64, Vec<(u32, &'n Node)>> = HashMap::new();
    let mut next = 0u32;
    let mut number = |n: &'n Node| -> u32 {
        let bucket = buckets.entry(fingerprint(&n.value)).or_default();
        if let Some(&(id, _)) = bucket.iter().find(|(_, m)| m.same_value(n)) {
            return id;
        }
        let id = next;
        next = next.saturating_add(1);
        bucket.push((id, n));
        id
    };
    let ia = a.iter().map(&mut number).collect();
    let ib = b.iter().map(&mut number).collect();
    (ia, ib)
}

/// Appends to `out` the pairs `(i + ao, j + bo)` of a common subsequence of
/// `a` and `b`, in order: the longest one while the work stays bounded,
/// otherwise one anchored on items unique to both sides.
fn align(a: &[u32], b: &[u32], ao: usize, bo: usize, level: usize, out: &mut Vec<(usize, usize)>) {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    out.extend((0..prefix).map(|k| (ao + k, bo + k)));
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);
    let (mao, mbo) = (ao + prefix, bo + prefix);

    if !ma.is_empty() && !mb.is_empty() {
        if ma.len().saturating_mul(mb.len()) <= LCS_CELLS {
            lcs_table(ma, mb, mao, mbo, out);
        } else if level < ANCHOR_DEPTH {
            anchored(ma, mb, mao, mbo, level, out);
        }
    }
    out.extend((0..suffix).map(|k| (mao + ma.len() + k, mbo + mb.len() + k)));
}

/// Classic dynamic-programming LCS; callers bound `a.len() * b.len()`.
fn lcs_table(a: &[u32], b: &[u32], ao: usize, bo: usize, out: &mut Vec<(usize, usize)>) {
    let (n, m) = (a.len(), b.len());
    let width = m + 1;
    // table[i * width + j] = LCS length of a[i..] and b[j..].
    let mut table = vec![0u32; (n + 1) * width];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[i * width + j] = if a[i] == b[j] {
                table[(i + 1) * width + j + 1] + 1
            } else {
                table[(i + 1) * width + j].max(table[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            out.push((ao + i, bo + j));
            i += 1;
            j += 1;
        } else if table[(i + 1) * width + j] >= table[i * width + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
}

/// Patience-style alignment for lists too large for the table: items that
/// occur once on each side anchor the match, and the stretches between
/// anchors are aligned on their own.
fn anchored(
    a: &[u32],
    b: &[u32],
    ao: usize,
    bo: usize,
    level: usize,
    out: &mut Vec<(usize, usize)>,
) {
    let mut counts: HashMap<u32, (u32, u32, usize)> = HashMap::new();
    for (i, v) in a.iter().enumerate() {
        let c = counts.entry(*v).or_insert((0, 0, 0));
        c.0 += 1;
        c.2 = i;
    }
    for v in b {
        if let Some(c) = counts.get_mut(v) {
            c.1 += 1;
        }
    }
    let candidates: Vec<(usize, usize)> = b
        .iter()
        .enumerate()
        .filter_map(|(j, v)| match counts.get(v) {
            Some(&(1, 1, i)) => Some((i, j)),
            _ => None,
        })
        .collect();
    let olds: Vec<usize> = candidates.iter().map(|&(i, _)| i).collect();
    let anchors: Vec<(usize, usize)> = candidates
        .iter()
        .zip(longest_increasing(&olds))
        .filter_map(|(&p, keep)| keep.then_some(p))
        .collect();
    let (mut pi, mut pj) = (0, 0);
    for (i, j) in anchors {
        align(&a[pi..i], &b[pj..j], ao + pi, bo + pj, level + 1, out);
        out.push((ao + i, bo + j));
        pi = i + 1;
        pj = j + 1;
    }
    align(&a[pi..], &b[pj..], ao + pi, bo + pj, level + 1, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_increasing_keeps_the_unmoved() {
        assert_eq!(
            longest_increasing(&[1, 2, 0, 3]),
            vec![true, true, false, true]
        );
        assert_eq!(longest_increasing(&[]), Vec::<bool>::new());
    }

    #[test]
    fn align_finds_a_head_insert() {
        let mut out = Vec::new();
        align(&[1, 2, 3], &[0, 1, 2, 3], 0, 0, 0, &mut out);
        assert_eq!(out, vec![(0, 1), (1, 2), (2, 3)]);
    }

    #[test]
    fn anchored_alignment_matches_unique_items() {
        let mut out = Vec::new();
        anchored(&[5, 1, 2, 7], &[1, 9, 2, 7], 0, 0, 0, &mut out);
        assert_eq!(out, vec![(1, 0), (2, 2), (3, 3)]);
    }
}
