//! Stage `load`: YAML bytes to one positioned [`Node`] tree.
//!
//! Built on `saphyr-parser`'s event stream so that every node keeps its line
//! and column, duplicate keys can name both lines, and the budgets below are
//! enforced while the tree grows (an alias bomb is refused before it expands).
//! Pure: no I/O, never panics, reports problems as [`ConfigError`]s.

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use crate::diagnostic::{ConfigError, ErrorKind, Pos};
use crate::load::node::{Entry, Node, ScalarKey, Source, Value};

/// Budgets that keep hostile input cheap to refuse.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest file accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of lists and mappings.
    pub max_depth: usize,
    /// Most nodes the tree may hold once aliases are expanded.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 1024 * 1024,
            max_depth: 64,
            max_nodes: 200_000,
        }
    }
}

/// Parses `bytes` as a single YAML document.
///
/// Returns `None` with no error for a file holding no document at all (empty,
/// or only comments): what that means is the caller's decision.
pub fn parse(bytes: &[u8], file: &str, limits: &Limits) -> (Option<Node>, Vec<ConfigError>) {
    match parse_inner(bytes, file, limits) {
        Ok(root) => (root, Vec::new()),
        Err(e) => (None, vec![e]),
    }
}

/// A syntax problem found before the file name is at hand.
struct Problem {
    pos: Pos,
    message: String,
}

impl Problem {
    fn syntax(pos: Pos, message: impl Into<String>) -> Self {
        Problem {
            pos,
            message: message.into(),
        }
    }

    fn into_error(self, file: &str) -> ConfigError {
        ConfigError::new(file, self.pos, ErrorKind::Syntax, self.message)
    }
}

/// The error for a file of `len` bytes when that is over the budget.
pub fn size_error(file: &str, len: usize, limits: &Limits) -> Option<ConfigError> {
    (len > limits.max_bytes).then(|| {
        let (mut size, mut limit) = (human_size(len), human_size(limits.max_bytes));
        // Just over the limit, both round the same: say it in bytes.
        if size == limit {
            (size, limit) = (
                format!("{len} bytes"),
                format!("{} bytes", limits.max_bytes),
            );
        }
        ConfigError::new(
            file,
            Pos::START,
            ErrorKind::Io,
            format!("file is {size}, too large: the limit is {limit}; split it or shorten it"),
        )
    })
}

fn parse_inner(bytes: &[u8], file: &str, limits: &Limits) -> Result<Option<Node>, ConfigError> {
    if let Some(e) = size_error(file, bytes.len(), limits) {
        return Err(e);
    }
    let text = decode(bytes).map_err(|p| p.into_error(file))?;
    let mut builder = Builder::new(limits);
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| {
            let (line, mut col) = (e.marker().line(), e.marker().col());
            if e.info().contains("tab") {
                col = tab_column(text, line).unwrap_or(col);
            }
            Problem::syntax(marker_pos(line, col), syntax_message(e.info())).into_error(file)
        })?;
        if builder.event(event, span).map_err(|p| p.into_error(file))? {
            break;
        }
    }
    Ok(builder.root)
}

/// UTF-8 text without a byte-order mark; invalid bytes are a syntax error at
/// the position of the first one.
fn decode(bytes: &[u8]) -> Result<&str, Problem> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(Problem::syntax(
            Pos::START,
            "file is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8",
        ));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        // Text never holds NUL: UTF-16 without a mark has one beside every
        // ASCII character; otherwise it is binary data.
        let prefix = String::from_utf8_lossy(&bytes[..at]);
        let line = prefix.matches('\n').count() + 1;
        let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count());
        let nuls = bytes.iter().take(64).filter(|&&b| b == 0).count();
        let what = if nuls * 3 >= bytes.len().min(64) {
            "file looks like UTF-16 text (a NUL byte beside each character); save it as UTF-8"
        } else {
            "file holds a NUL byte (0x00), so it is binary data, not YAML text"
        };
        return Err(Problem::syntax(marker_pos(line, col), what));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        // The prefix is valid by construction; fall back to lossy just in case.
        let prefix = String::from_utf8_lossy(valid);
        let line = prefix.matches('\n').count() + 1;
        let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count());
        let bad = bytes.get(e.valid_up_to()).copied().unwrap_or(0);
        Problem::syntax(
            marker_pos(line, col),
            format!("file is not valid UTF-8 (byte 0x{bad:02x}); save it as UTF-8"),
        )
    })
}

fn marker_pos(line: usize, col0: usize) -> Pos {
    Pos::new(
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col0.saturating_add(1)).unwrap_or(u32::MAX),
    )
}

fn span_pos(span: &Span) -> Pos {
    marker_pos(span.start.line(), span.start.col())
}

fn scalar_source(span: &Span, style: ScalarStyle) -> Source {
    let at = |line: usize, col: usize| {
        (
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(col).unwrap_or(u32::MAX),
        )
    };
    Source {
        start: at(span.start.line(), span.start.col()),
        end: at(span.end.line(), span.end.col()),
        quote: match style {
            ScalarStyle::SingleQuoted => Some('\''),
            ScalarStyle::DoubleQuoted => Some('"'),
            _ => None,
        },
    }
}

/// The 0-based column of the first tab in the indentation of `line`: the
/// parser reports the character after it, the person needs the tab itself.
fn tab_column(text: &str, line: usize) -> Option<usize> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    l.chars()
        .take_while(|c| c.is_whitespace() || *c == '-')
        .position(|c| c == '\t')
}

fn syntax_message(info: &str) -> String {
    let info = info.trim_end_matches('.');
    if info.contains("tab") {
        format!("invalid YAML: {info}; indent with spaces, not tabs")
    } else {
        format!("invalid YAML: {info}")
    }
}

fn human_size(bytes: usize) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    // Sizes here are far below f64's exact-integer range.
    #[allow(clippy::cast_precision_loss)]
    let mib = bytes as f64 / MIB;
    if mib >= 1.0 {
        format!("{mib:.1} MiB")
    } else {
        format!("{:.0} KiB", mib * 1024.0)
    }
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<Entry>,
        /// Each key written so far → its index in `entries` (duplicate keys
        /// are found by lookup, not by a scan).
        keys: HashMap<ScalarKey, usize>,
        /// A key waiting for its value; `true` when it is a plain `<<`.
        key: Option<(Node, bool)>,
        /// Mappings pulled in with `<<`, in the order they were named.
        merges: Vec<Node>,
    },
}

struct Builder<'l> {
    limits: &'l Limits,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    documents: usize,
    root: Option<Node>,
}

impl<'l> Builder<'l> {
    fn new(limits: &'l Limits) -> Self {
        Builder {
            limits,
            stack: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            documents: 0,
            root: None,
        }
    }

    /// Feeds one event; `Ok(true)` when the stream has ended.
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<bool, Problem> {
        let pos = span_pos(&span);
        match event {
            Event::StreamEnd => return Ok(true),
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Problem::syntax(
                        pos,
                        "only one document is allowed per file; remove the second `---` or move it to its own file",
                    ));
                }
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or_else(|| {
                    Problem::syntax(
                        pos,
                        "alias refers to an anchor that is not defined before it",
                    )
                })?;
                self.count(node.size(), pos)?;
                // The alias stands where it is used; its contents keep their
                // own positions, and a scalar keeps where its text lies.
                let node = Node::new(node.value, pos).with_source(node.source);
                if matches!(node.value, Value::Seq(_) | Value::Map(_)) {
                    self.complete(node, 0, pos)?;
                } else {
                    // A scalar alias may be a mapping key (`*k: v`).
                    self.complete_scalar(node, 0, false, pos)?;
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, pos)?;
                let value = resolve_scalar(&text, style, tag.as_deref(), pos)?;
                let plain_merge = style == ScalarStyle::Plain && text == "<<";
                let node = Node::new(value, pos).with_source(Some(scalar_source(&span, style)));
                self.complete_scalar(node, anchor, plain_merge, pos)?;
            }
            Event::SequenceStart(anchor, tag) => {
                check_collection_tag(tag.as_deref(), "seq", pos)?;
                self.open(
                    Frame::Seq {
                        pos,
                        anchor,
                        items: Vec::new(),
                    },
                    pos,
                )?;
            }
            Event::MappingStart(anchor, tag) => {
                check_collection_tag(tag.as_deref(), "map", pos)?;
                self.open(
                    Frame::Map {
                        pos,
                        anchor,
                        entries: Vec::new(),
                        keys: HashMap::new(),
                        key: None,
                        merges: Vec::new(),
                    },
                    pos,
                )?;
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq { pos, anchor, items }) => {
                    self.complete(Node::new(Value::Seq(items), pos), anchor, pos)?;
                }
                _ => return Err(Problem::syntax(pos, "invalid YAML: unexpected end of list")),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map {
                    pos,
                    anchor,
                    mut entries,
                    merges,
                    ..
                }) => {
                    apply_merges(&mut entries, merges);
                    self.complete(Node::new(Value::Map(entries), pos), anchor, pos)?;
                }
                _ => {
                    return Err(Problem::syntax(
                        pos,
                        "invalid YAML: unexpected end of mapping",
                    ));
                }
            },
        }
        Ok(false)
    }

    fn count(&mut self, nodes: usize, pos: Pos) -> Result<(), Problem> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > self.limits.max_nodes {
            return Err(Problem::syntax(
                pos,
                format!(
                    "document expands to more than {} values (alias bomb?); use fewer aliases",
                    self.limits.max_nodes
                ),
            ));
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame, pos: Pos) -> Result<(), Problem> {
        if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
            return Err(Problem::syntax(
                pos,
                "a list or mapping cannot be used as a mapping key",
            ));
        }
        self.count(1, pos)?;
        if self.stack.len() >= self.limits.max_depth {
            return Err(Problem::syntax(
                pos,
                format!(
                    "nesting is deeper than {} levels; flatten the structure",
                    self.limits.max_depth
                ),
            ));
        }
        self.stack.push(frame);
        Ok(())
    }

    fn complete_scalar(
        &mut self,
        node: Node,
        anchor: usize,
        plain_merge: bool,
        pos: Pos,
    ) -> Result<(), Problem> {
        if let Some(Frame::Map {
            key: key @ None, ..
        }) = self.stack.last_mut()
        {
            if anchor != 0 {
                self.anchors.insert(anchor, node.clone());
            }
            *key = Some((node, plain_merge));
            return Ok(());
        }
        self.complete(node, anchor, pos)
    }

    /// Places a finished node into its parent (or makes it the root).
    fn complete(&mut self, node: Node, anchor: usize, pos: Pos) -> Result<(), Problem> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                keys,
                key,
                merges,
                ..
            }) => match key.take() {
                None => {
                    return Err(Problem::syntax(
                        pos,
                        "a list or mapping cannot be used as a mapping key",
                    ));
                }
                Some((_, true)) => merges.extend(merge_sources(node)?),
                Some((key, false)) => {
                    // Keys are scalars (a collection key is refused above).
                    if let Some(id) = key.scalar_key() {
                        if let Some(first) = keys.get(&id).and_then(|&i| entries.get(i)) {
                            return Err(Problem::syntax(
                                key.pos,
                                format!(
                                    "duplicate key `{}` (first at line {}); remove one of them",
                                    key.scalar_text().unwrap_or_default(),
                                    first.key.pos.line
                                ),
                            ));
                        }
                        keys.insert(id, entries.len());
                    }
                    entries.push(Entry { key, value: node });
                }
            },
        }
        Ok(())
    }
}

/// What a `<<` key pulls in: one mapping or a list of mappings.
fn merge_sources(node: Node) -> Result<Vec<Node>, Problem> {
    let pos = node.pos;
    match node.value {
        Value::Map(_) => Ok(vec![node]),
        Value::Seq(items) if items.iter().all(|n| matches!(n.value, Value::Map(_))) => Ok(items),
        _ => Err(Problem::syntax(
            pos,
            "`<<` must be followed by a mapping or a list of mappings",
        )),
    }
}

/// Keys written in the mapping win over merged ones; earlier merge sources win
/// over later ones (YAML merge-key semantics).
fn apply_merges(entries: &mut Vec<Entry>, merges: Vec<Node>) {
    if merges.is_empty() {
        return;
    }
    let mut present: HashSet<ScalarKey> =
        entries.iter().filter_map(|e| e.key.scalar_key()).collect();
    for source in merges {
        if let Value::Map(merged) = source.value {
            for entry in merged {
                let new = entry.key.scalar_key().is_none_or(|k| present.insert(k));
                if new {
                    entries.push(entry);
                }
            }
        }
    }
}

/// The prefix every tag of the YAML core schema resolves to (`!!str` is
/// `tag:yaml.org,2002:str`).
const CORE_PREFIX: &str = "tag:yaml.org,2002:";

/// What a tag asks of the node it is on.
#[derive(Debug, PartialEq, Eq)]
enum TagAsk<'t> {
    /// The non-specific `!`: a scalar is a string, a collection is what
    /// it is.
    NonSpecific,
    /// A core-schema type (`str`, `int`, `seq`…), written as `!!str` or
    /// verbatim as `!<tag:yaml.org,2002:str>`.
    Core(&'t str),
    /// Anything else (a local `!foo`, another namespace): refused.
    Other,
}

fn tag_ask(tag: &Tag) -> TagAsk<'_> {
    if tag.handle.is_empty() && tag.suffix == "!" {
        return TagAsk::NonSpecific;
    }
    let core = if tag.is_yaml_core_schema() || tag.handle == "!!" {
        Some(tag.suffix.as_str())
    } else if tag.handle == "!" {
        // `!!str` under a parser that keeps the secondary handle local.
        tag.suffix.strip_prefix('!')
    } else if tag.handle.is_empty() {
        // Verbatim: `!<tag:yaml.org,2002:str>`.
        tag.suffix.strip_prefix(CORE_PREFIX)
    } else {
        None
    };
    core.map_or(TagAsk::Other, TagAsk::Core)
}

/// A tag as the file spells it (the parser's own `Display` writes `!` as
/// `!!` and `!!str` as `tag:yaml.org,2002:!str`): `!`, `!!str`, `!foo`,
/// `!<tag:example.com,2000:x>`.
fn tag_name(tag: &Tag) -> String {
    if tag.handle.is_empty() && tag.suffix == "!" {
        "!".to_owned()
    } else if tag.is_yaml_core_schema() {
        format!("!!{}", tag.suffix)
    } else if tag.handle == "!" || tag.handle == "!!" {
        format!("{}{}", tag.handle, tag.suffix)
    } else {
        // Verbatim, or a `%TAG` handle: the whole tag it stands for.
        format!("!<{}{}>", tag.handle, tag.suffix)
    }
}

fn unsupported_tag(tag: &Tag, pos: Pos) -> Problem {
    Problem::syntax(
        pos,
        format!(
            "unsupported tag `{}`; remove it (only the YAML core schema's tags are read: \
             `!`, `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!seq`, `!!map`)",
            crate::diagnostic::shown_id(&tag_name(tag))
        ),
    )
}

fn check_collection_tag(tag: Option<&Tag>, expected: &str, pos: Pos) -> Result<(), Problem> {
    match tag.map(|t| (t, tag_ask(t))) {
        None | Some((_, TagAsk::NonSpecific)) => Ok(()),
        Some((_, TagAsk::Core(suffix))) if suffix == expected => Ok(()),
        Some((t, _)) => Err(unsupported_tag(t, pos)),
    }
}

/// Resolves a scalar by the YAML 1.2 core schema. Quoted and block scalars
/// are always strings; so `yes`, `no`, `on` and `off` are strings too.
fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    pos: Pos,
) -> Result<Value, Problem> {
    if let Some(tag) = tag {
        let wrong = || {
            Problem::syntax(
                pos,
                format!(
                    "the value does not match its tag `{}`",
                    crate::diagnostic::shown_id(&tag_name(tag))
                ),
            )
        };
        return match tag_ask(tag) {
            TagAsk::NonSpecific | TagAsk::Core("str") => Ok(Value::Str(text.to_string())),
            TagAsk::Core("null") => match plain_value(text) {
                v @ Value::Null => Ok(v),
                _ => Err(wrong()),
            },
            TagAsk::Core("bool") => match plain_value(text) {
                v @ Value::Bool(_) => Ok(v),
                _ => Err(wrong()),
            },
            TagAsk::Core("int") => match plain_value(text) {
                v @ Value::Int(_) => Ok(v),
                _ => Err(wrong()),
            },
            TagAsk::Core("float") => match plain_value(text) {
                v @ Value::Float(_) => Ok(v),
                // `!!float 1` is the float one.
                Value::Int(i) => Ok(Value::Float(i as f64)),
                _ => Err(wrong()),
            },
            _ => Err(unsupported_tag(tag, pos)),
        };
    }
    Ok(match style {
        ScalarStyle::Plain => plain_value(text),
        _ => Value::Str(text.to_string()),
    })
}

fn plain_value(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(v) = parse_int(text) {
        return v;
    }
    if is_float(text)
        && let Ok(f) = text.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::Str(text.to_string())
}

fn parse_int(text: &str) -> Option<Value> {
    let (digits, radix) = if let Some(h) = text.strip_prefix("0x") {
        (h, 16)
    } else if let Some(o) = text.strip_prefix("0o") {
        (o, 8)
    } else {
        let body = text.strip_prefix(['-', '+']).unwrap_or(text);
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return Some(match text.parse::<i64>() {
            Ok(i) => Value::Int(i),
            // Too large for an integer: keep the number, as a float.
            Err(_) => Value::Float(text.parse::<f64>().ok()?),
        });
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    i64::from_str_radix(digits, radix).ok().map(Value::Int)
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_float(text: &str) -> bool {
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (!int.is_empty() || !frac.is_empty())
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
                && !(int.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ok(src: &str) -> Node {
        let (node, errors) = parse(src.as_bytes(), "t.yaml", &Limits::default());
        assert!(errors.is_empty(), "unexpected errors: {errors:?}");
        node.unwrap()
    }

    fn err(src: &[u8]) -> ConfigError {
        let (_, mut errors) = parse(src, "t.yaml", &Limits::default());
        assert_eq!(errors.len(), 1, "expected one error, got {errors:?}");
        errors.remove(0)
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let n = ok("a: 1\nb: 1.0\nc: '1'\nd: yes\ne: ~\nf:\ng: true\nh: 0x1F\ni: .inf\nj: 1e3\n");
        let get = |k: &str| n.get(k).unwrap().value.value.clone();
        assert!(matches!(get("a"), Value::Int(1)));
        assert!(matches!(get("b"), Value::Float(f) if f == 1.0));
        assert!(matches!(get("c"), Value::Str(s) if s == "1"));
        assert!(matches!(get("d"), Value::Str(s) if s == "yes"));
        assert!(matches!(get("e"), Value::Null));
        assert!(matches!(get("f"), Value::Null));
        assert!(matches!(get("g"), Value::Bool(true)));
        assert!(matches!(get("h"), Value::Int(31)));
        assert!(matches!(get("i"), Value::Float(f) if f.is_infinite()));
        assert!(matches!(get("j"), Value::Float(f) if f == 1000.0));
    }

    #[test]
    fn core_schema_tags_are_read_in_every_spelling() {
        let str_ = |s: &str| Value::Str(s.to_owned());
        for (src, want) in [
            ("v: ! a\n", str_("a")),
            ("v: ! 12\n", str_("12")),
            ("v: !!str 12\n", str_("12")),
            ("v: !<tag:yaml.org,2002:str> 12\n", str_("12")),
            ("v: !!int 12\n", Value::Int(12)),
            ("v: !<tag:yaml.org,2002:int> 12\n", Value::Int(12)),
            ("v: !<tag:yaml.org,2002:float> 1\n", Value::Float(1.0)),
            ("v: !<tag:yaml.org,2002:bool> true\n", Value::Bool(true)),
            ("v: !<tag:yaml.org,2002:null> ~\n", Value::Null),
        ] {
            let n = ok(src);
            let got = &n.get("v").unwrap().value;
            assert!(got.same_value(&Node::new(want, got.pos)), "{src}: {got:?}");
        }
        for src in [
            "v: ! [a]\n",
            "v: !<tag:yaml.org,2002:seq> [a]\n",
            "v: ! {a: 1}\n",
            "v: !<tag:yaml.org,2002:map> {a: 1}\n",
            "! {v: [a]}\n",
        ] {
            ok(src);
        }
    }

    #[test]
    fn a_refused_tag_is_named_as_the_file_spells_it() {
        for (src, named) in [
            ("v: !custom a\n", "`!custom`"),
            ("v: !!binary aGk=\n", "`!!binary`"),
            (
                "v: !<tag:example.com,2000:x> a\n",
                "`!<tag:example.com,2000:x>`",
            ),
            (
                "v: !<tag:yaml.org,2002:set> {a: ~}\n",
                "`!<tag:yaml.org,2002:set>`",
            ),
            ("v: !!int [1]\n", "`!!int`"),
            (
                "v: !<tag:yaml.org,2002:str> [a]\n",
                "`!<tag:yaml.org,2002:str>`",
            ),
        ] {
            let e = err(src.as_bytes());
            assert!(
                e.message.contains(&format!("unsupported tag {named}")),
                "{src}: {}",
                e.message
            );
        }
        let e = err(b"v: !!int abc\n");
        assert!(
            e.message.contains("does not match its tag `!!int`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn positions_are_one_based() {
        let n = ok("name: x\nsteps:\n  - id: a\n    estimated_minutes: 5\n");
        let steps = &n.get("steps").unwrap().value;
        let Value::Seq(items) = &steps.value else {
            panic!("not a list")
        };
        let min = items[0].get("estimated_minutes").unwrap();
        assert_eq!(min.key.pos, Pos::new(4, 5));
        assert_eq!(min.value.pos, Pos::new(4, 24));
    }

    #[test]
    fn bom_and_crlf_keep_positions() {
        let n = ok("\u{feff}a: 1\r\nb: 2\r\n");
        assert_eq!(n.get("a").unwrap().key.pos, Pos::new(1, 1));
        assert_eq!(n.get("b").unwrap().value.pos, Pos::new(2, 4));
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        let e = err(b"name: a\nid: x\nname: b\n");
        assert_eq!((e.line, e.column), (3, 1));
        assert!(e.message.contains("first at line 1"), "{}", e.message);
    }

    #[test]
    fn merge_keys_and_aliases_resolve() {
        let n = ok("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\nd: *b\n");
        let c = &n.get("c").unwrap().value;
        assert!(matches!(c.get("x").unwrap().value.value, Value::Int(1)));
        assert!(matches!(c.get("y").unwrap().value.value, Value::Int(3)));
        assert!(
            n.get("d")
                .unwrap()
                .value
                .same_value(&n.get("base").unwrap().value)
        );
    }

    #[test]
    fn a_scalar_alias_can_be_a_key() {
        let n = ok("k: &key name\n*key : x\n");
        assert!(matches!(&n.get("name").unwrap().value.value, Value::Str(s) if s == "x"));
        let e = err(b"a: &m {x: 1}\n? *m\n: 2\n");
        assert!(
            e.message.contains("cannot be used as a mapping key"),
            "{}",
            e.message
        );
    }

    #[test]
    fn billion_laughs_is_refused() {
        // Expanded, this would be 9^10 nodes; its time is in the
        // `adversarial` bench, not asserted here.
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            src.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let e = err(src.as_bytes());
        assert!(e.message.contains("alias"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let src = format!("a: {}{}\n", "[".repeat(200), "]".repeat(200));
        let e = err(src.as_bytes());
        assert!(e.message.contains("nesting"), "{}", e.message);
    }

    #[test]
    fn multi_document_is_refused_at_the_second_document() {
        let e = err(b"a: 1\n---\nb: 2\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("one document"));
    }

    #[test]
    fn empty_and_comment_only_files_have_no_document() {
        for src in ["", "# only a comment\n", "\n\n"] {
            let (node, errors) = parse(src.as_bytes(), "t.yaml", &Limits::default());
            assert!(node.is_none() && errors.is_empty(), "{src:?}");
        }
    }

    #[test]
    fn invalid_utf8_points_at_the_byte() {
        let e = err(b"a: 1\nb: x\xffy\n");
        assert_eq!((e.line, e.column, e.kind), (2, 5, ErrorKind::Syntax));
    }

    #[test]
    fn oversized_file_is_an_io_error() {
        let big = vec![b'#'; 2 * 1024 * 1024];
        let e = err(&big);
        assert_eq!(e.kind, ErrorKind::Io);
        assert!(e.message.contains("2.0 MiB"), "{}", e.message);
    }

    #[test]
    fn nul_and_utf16_input_say_what_they_are() {
        let e = err(b"name: a\nid: \x00x\n");
        assert_eq!((e.line, e.column), (2, 5), "{e}");
        assert!(e.message.contains("NUL byte"), "{}", e.message);
        let utf16: Vec<u8> = "name: a\n".bytes().flat_map(|b| [b, 0]).collect();
        let e = err(&utf16);
        assert!(e.message.contains("UTF-16"), "{}", e.message);
        let mut marked = vec![0xFF, 0xFE];
        marked.extend(&utf16);
        let e = err(&marked);
        assert!(e.message.contains("UTF-16"), "{}", e.message);
        for e in [err(b"a: \x00"), err(&utf16)] {
            assert!(!e.message.contains("tabs"), "{}", e.message);
        }
    }

    #[test]
    fn a_file_just_over_the_limit_gives_sizes_that_differ() {
        let e = err(&vec![b'#'; 1024 * 1024 + 1]);
        assert!(
            e.message.contains("1048577 bytes") && e.message.contains("limit is 1048576 bytes"),
            "{}",
            e.message
        );
    }

    #[test]
    fn tab_indentation_is_a_syntax_error_with_its_line() {
        let e = err(b"name: x\nsteps:\n\t- id: a\n");
        assert_eq!(e.kind, ErrorKind::Syntax);
        assert_eq!((e.line, e.column), (3, 1), "{e}");
    }
}
