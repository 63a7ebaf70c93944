//! Stage `load`: secrets masked out of YAML source text, by span.
//!
//! A secret's text can span several lines (block scalars, quoted or plain
//! scalars continued on the next line), so masking is planned over the whole
//! text, not line by line: the positioned tree says exactly where each secret
//! scalar lies, and every line it covers is masked. Lines keep their number
//! and their text outside the secret (keys, quotes, comments), so line
//! diffs and error excerpts still point at the right place.
//!
//! Where there is no tree (the file does not parse) a lexical rule stands in:
//! a line whose key looks like a secret name, with any separator or none, is
//! masked from after the key to the end of the line, and so are the more
//! indented lines that follow it. Comment lines get the lexical rule too,
//! since the tree does not see them. Everywhere: URL userinfo, and any text
//! equal (in any case) to a secret value known from a tree.
//!
//! Work is linear in the text and the secrets: every known value is found
//! by one automaton in one pass (not one search per value), and the
//! anchors an alias on a secret line points at are indexed once per text
//! (not searched once per alias).
//!
//! `${NAME}` references are shown as written: the name is not the secret.
//! Pure: no I/O, never panics.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::nfa::contiguous;
use aho_corasick::{Anchored, PatternID};
use parking_lot::Mutex;

use crate::diagnostic::ConfigError;
use crate::load::node::{Node, Source, Value};
use crate::secret::{self, MASK};

/// Values shorter than this are not searched for in other text: they would
/// mask unrelated words. The span and key rules still hide them.
pub const MIN_NEEDLE_CHARS: usize = 4;

/// Masks the secrets of the trees it was built from (one file's versions,
/// or every file of a checkout) and of any values it was given.
#[derive(Debug, Default)]
pub struct Masker {
    needles: Needles,
    /// Another masker's values searched for too (the secrets of every file
    /// of a checkout, whose automaton is built once and shared).
    also: Option<Arc<Masker>>,
}

/// Secret values searched for in other text, in any ASCII case: one
/// automaton over all of them, so a text is read once whatever their number.
#[derive(Debug, Default)]
struct Needles {
    /// The values as written (the fingerprint's input), by pattern id.
    values: Vec<String>,
    /// `None` with values: the automaton could not be built, and every
    /// searched text is masked whole rather than risk a leak.
    automaton: Option<contiguous::NFA>,
    /// The longest value matching at each match state of the automaton,
    /// found on first use (a state can hold many values that are suffixes
    /// of one another; each state is looked at once, not at every visit).
    longest: Mutex<HashMap<StateID, PatternID>>,
}

impl Needles {
    /// The automaton over `values` (as written; any case will match).
    fn new(mut values: Vec<String>) -> Self {
        // Longest first, then by text: equal values in other cases keep one
        // fingerprint, the same from run to run.
        values.sort_by(|a, b| {
            b.len()
                .cmp(&a.len())
                .then_with(|| a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase()))
                .then_with(|| a.cmp(b))
        });
        values.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        if values.is_empty() {
            return Needles::default();
        }
        let automaton = contiguous::NFA::builder()
            .ascii_case_insensitive(true)
            .build(&values)
            .ok();
        Needles {
            values,
            automaton,
            longest: Mutex::new(HashMap::new()),
        }
    }

    /// Plans a mask over every stretch of `text` that some value covers
    /// (overlapping occurrences merge into one stretch, fingerprinted by
    /// the value that starts first).
    fn ranges(&self, text: &str, out: &mut Vec<(Range<usize>, Fill)>) {
        if self.values.is_empty() || text.is_empty() {
            return;
        }
        let Some(nfa) = &self.automaton else {
            out.push((0..text.len(), Fill::Plain));
            return;
        };
        let Ok(mut sid) = nfa.start_state(Anchored::No) else {
            out.push((0..text.len(), Fill::Plain));
            return;
        };
        let mut longest = self.longest.lock();
        // Disjoint stretches, in order; a match that starts inside or
        // before the last ones swallows them.
        let mut found: Vec<(Range<usize>, PatternID)> = Vec::new();
        for (i, &byte) in text.as_bytes().iter().enumerate() {
            sid = nfa.next_state(Anchored::No, sid, byte);
            if !nfa.is_match(sid) {
                continue;
            }
            let pid = match longest.get(&sid) {
                Some(&pid) => pid,
                None => {
                    let Some(pid) = (0..nfa.match_len(sid))
                        .map(|k| nfa.match_pattern(sid, k))
                        .max_by_key(|&p| nfa.pattern_len(p))
                    else {
                        continue;
                    };
                    longest.insert(sid, pid);
                    pid
                }
            };
            let end = i + 1;
            let mut stretch = (end - nfa.pattern_len(pid)..end, pid);
            while let Some((last, last_pid)) = found.last().cloned() {
                if last.start >= stretch.0.start {
                    found.pop();
                } else if last.end > stretch.0.start {
                    found.pop();
                    stretch = (last.start..end, last_pid);
                } else {
                    break;
                }
            }
            found.push(stretch);
        }
        for (range, pid) in found {
            let value = self.values.get(pid.as_usize()).cloned().unwrap_or_default();
            out.push((range, Fill::Value(value)));
        }
    }
}

/// What a masked stretch becomes.
#[derive(Debug, Clone)]
enum Fill {
    /// The mask with the fingerprint of this value.
    Value(String),
    /// The bare mask (continuation lines, userinfo).
    Plain,
}

impl Fill {
    fn text(&self) -> String {
        match self {
            Fill::Value(v) => secret::mask(v),
            Fill::Plain => MASK.to_string(),
        }
    }
}

/// One line of a text: its content (no line ending) and where it starts.
struct Line<'t> {
    start: usize,
    content: &'t str,
}

impl Masker {
    /// A masker that knows every secret value of the given trees (typically
    /// the old and new version of one file).
    pub fn new<'a>(trees: impl IntoIterator<Item = Option<&'a Node>>) -> Self {
        Masker::with_values(trees, std::iter::empty())
    }

    /// A masker that knows every secret value of the given trees and the
    /// given values (secrets read from other files).
    pub fn with_values<'a>(
        trees: impl IntoIterator<Item = Option<&'a Node>>,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut needles = Vec::new();
        let mut push = |text: &str| {
            for piece in std::iter::once(text).chain(text.split(['\n', '\r'])) {
                let piece = piece.trim();
                if piece.chars().count() >= MIN_NEEDLE_CHARS && !piece.contains(['\n', '\r']) {
                    needles.push(piece.to_string());
                }
            }
        };
        for tree in trees.into_iter().flatten() {
            visit_secrets(tree, false, &mut |node| {
                if let Some(text) = node.scalar_text() {
                    push(&text);
                }
            });
        }
        for value in values {
            push(value);
        }
        Masker {
            needles: Needles::new(needles),
            also: None,
        }
    }

    /// This masker, also masking every value `shared` knows (without
    /// building `shared`'s automaton again).
    pub fn and(mut self, shared: Arc<Masker>) -> Self {
        self.also = Some(shared);
        self
    }

    /// Every known value of this masker and of those it was joined with.
    fn value_ranges(&self, text: &str, out: &mut Vec<(Range<usize>, Fill)>) {
        self.needles.ranges(text, out);
        if let Some(also) = &self.also {
            also.value_ranges(text, out);
        }
    }

    /// `text` with every secret masked. `tree` is this text's own tree, when
    /// it parsed. Line breaks are kept exactly, so line numbers still hold.
    pub fn mask_text(&self, text: &str, tree: Option<&Node>) -> String {
        let lines = split_lines(text);
        let mut plan: Vec<Vec<(Range<usize>, Fill)>> = vec![Vec::new(); lines.len()];
        // Parser columns on the first line do not count a byte-order mark.
        let bom = usize::from(text.starts_with('\u{feff}'));
        // A lone `\r` is a line break to YAML but not to the line splitter:
        // the tree's line numbers would not match, so trust only the rules
        // that need no tree.
        let lone_cr = text
            .bytes()
            .enumerate()
            .any(|(i, b)| b == b'\r' && text.as_bytes().get(i + 1) != Some(&b'\n'));
        let anchors = Anchors::default();
        match tree {
            Some(tree) if !lone_cr => {
                visit_secrets(tree, false, &mut |node| {
                    if let Some(source) = node.source {
                        span_ranges(&lines, source, node, bom, &mut plan);
                    }
                });
                for (i, line) in lines.iter().enumerate() {
                    if line.content.trim_start().starts_with('#') {
                        lexical(&lines, &anchors, i, &mut plan);
                    } else if let Some(value) = secret_line_value(line.content)
                        && let Some(comment) = trailing_comment(line.content, value)
                    {
                        // `api_token: ${TOKEN} # was abc123`: the value is
                        // shown, the comment on a secret's line is not.
                        plan[i].push((comment, Fill::Plain));
                    }
                }
            }
            _ => {
                for i in 0..lines.len() {
                    lexical(&lines, &anchors, i, &mut plan);
                }
            }
        }
        for (i, line) in lines.iter().enumerate() {
            for r in secret::url_secret_ranges(line.content) {
                plan[i].push((r, Fill::Plain));
            }
            self.value_ranges(line.content, &mut plan[i]);
        }
        let mut out = String::with_capacity(text.len() + 16);
        let mut last = 0;
        for (line, ranges) in lines.iter().zip(plan) {
            if ranges.is_empty() {
                continue;
            }
            out.push_str(&text[last..line.start]);
            out.push_str(&apply(line.content, ranges));
            last = line.start + line.content.len();
        }
        out.push_str(&text[last..]);
        out
    }

    /// One line of text (a message, an excerpt) with every known secret
    /// value and URL userinfo masked.
    pub fn mask_line(&self, line: &str) -> String {
        self.masked_line(line).into_owned()
    }

    /// [`mask_line`](Self::mask_line) in place: `line` is rewritten only
    /// when it holds something to mask (no copy of every clean message).
    pub fn mask_line_in_place(&self, line: &mut String) {
        if let Cow::Owned(masked) = self.masked_line(line) {
            *line = masked;
        }
    }

    /// Whether `line` holds nothing [`mask_line`](Self::mask_line) would
    /// mask.
    pub fn is_clean(&self, line: &str) -> bool {
        matches!(self.masked_line(line), Cow::Borrowed(_))
    }

    fn masked_line<'l>(&self, line: &'l str) -> Cow<'l, str> {
        let mut ranges: Vec<(Range<usize>, Fill)> = secret::url_secret_ranges(line)
            .into_iter()
            .map(|r| (r, Fill::Plain))
            .collect();
        self.value_ranges(line, &mut ranges);
        apply(line, ranges)
    }
}

/// The longest excerpt kept: enough to recognise the line, bounded so a
/// minified one-line file does not ride along in every frame.
pub const EXCERPT_CHARS: usize = 200;

/// Each error with the line it points at (masked as the text diff is,
/// then cut to [`EXCERPT_CHARS`]; masked first, so a cut cannot split a
/// secret). The text is masked once, whole: a secret can span lines.
pub fn with_excerpts(
    errors: Vec<ConfigError>,
    masker: &Masker,
    text: &str,
    tree: Option<&Node>,
) -> Vec<ConfigError> {
    if errors.is_empty() {
        return errors;
    }
    let masked = masker.mask_text(text, tree);
    let lines: Vec<&str> = masked.lines().collect();
    errors
        .into_iter()
        .map(|e| {
            let line = (e.line as usize).checked_sub(1).and_then(|i| lines.get(i));
            // The first EXCERPT_CHARS characters, cut at a byte offset.
            let excerpt = line.map(|l| match l.char_indices().nth(EXCERPT_CHARS) {
                Some((end, _)) => l[..end].to_string(),
                None => l.to_string(),
            });
            e.with_excerpt(excerpt)
        })
        .collect()
}

/// The text of every secret scalar of `tree` that is long enough to be
/// searched for elsewhere.
pub fn secret_values(tree: &Node) -> Vec<String> {
    let mut out = Vec::new();
    visit_secrets(tree, false, &mut |node| {
        if let Some(text) = node.scalar_text()
            && text.trim().chars().count() >= MIN_NEEDLE_CHARS
        {
            out.push(text.trim().to_string());
        }
    });
    out
}

/// Calls `f` on every scalar that is a secret: under a secret-looking key
/// (at any depth), and not just `${NAME}` references.
fn visit_secrets(node: &Node, under_secret: bool, f: &mut dyn FnMut(&Node)) {
    match &node.value {
        Value::Map(entries) => {
            for e in entries {
                // A string key is read in place (no copy per key).
                let key_secret = match &e.key.value {
                    Value::Str(k) => secret::is_secret_key(k),
                    _ => e
                        .key
                        .scalar_text()
                        .is_some_and(|k| secret::is_secret_key(&k)),
                };
                visit_secrets(&e.value, under_secret || key_secret, f);
            }
        }
        Value::Seq(items) => {
            for item in items {
                visit_secrets(item, under_secret, f);
            }
        }
        Value::Null => {}
        Value::Str(s) if secret::is_only_env_references(s) => {}
        _ => {
            if under_secret {
                f(node);
            }
        }
    }
}

/// The lines of `text`, split at `\n`, without `\r\n` or `\n` endings.
fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut start = 0;
    for piece in text.split_inclusive('\n') {
        let content = piece.strip_suffix('\n').unwrap_or(piece);
        let content = content.strip_suffix('\r').unwrap_or(content);
        lines.push(Line { start, content });
        start += piece.len();
    }
    lines
}

/// The byte offset of character column `col` in `s` (its length when past
/// the end).
fn byte_at(s: &str, col: usize) -> usize {
    s.char_indices().nth(col).map_or(s.len(), |(b, _)| b)
}

/// Plans the ranges a secret scalar covers: the rest of its first line from
/// its first character (after any anchor or tag), every following line from
/// its indentation, and the last line up to its end. Quotes are kept.
fn span_ranges(
    lines: &[Line<'_>],
    source: Source,
    node: &Node,
    bom: usize,
    plan: &mut [Vec<(Range<usize>, Fill)>],
) {
    let index = |line: u32| (line as usize).checked_sub(1).filter(|&i| i < lines.len());
    let col = |i: usize, c: u32| {
        let c = c as usize + if i == 0 { bom } else { 0 };
        byte_at(lines[i].content, c)
    };
    let Some(first) = index(source.start.0) else {
        return;
    };
    let mut start = col(first, source.start.1);
    // The end is exclusive: column 0 of a line means the line before ends it.
    let (mut last, mut end) = match index(source.end.0) {
        Some(l) if source.end.1 == 0 && l > first => (l - 1, lines[l - 1].content.len()),
        Some(l) => (l, col(l, source.end.1)),
        None => (lines.len() - 1, lines[lines.len() - 1].content.len()),
    };
    if last < first {
        return;
    }
    // Skip `&anchor` and `!tag` tokens: they are names, not the value.
    let mut line = lines[first].content;
    while let Some(rest) = line.get(start..)
        && (rest.starts_with('&') || rest.starts_with('!'))
    {
        let token = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let after = &rest[token..];
        start += token + (after.len() - after.trim_start().len());
    }
    let mut first = first;
    if start >= line.len() && first < last {
        // Only a header (`&a |`, `!!str`) on the first line.
        first += 1;
        line = lines[first].content;
        start = indent(line);
    }
    if let Some(q) = source.quote
        && line[start..].starts_with(q)
    {
        start += q.len_utf8();
        if let Some(close) = closing_quote(lines, first, start, q) {
            (last, end) = close;
        }
    }
    let fill_value = node.scalar_text().unwrap_or_default();
    for i in first..=last {
        let content = lines[i].content;
        let from = if i == first { start } else { indent(content) };
        let to = if i == last { end } else { content.len() };
        if from < to && to <= content.len() {
            let fill = if i == first {
                Fill::Value(fill_value.clone())
            } else {
                Fill::Plain
            };
            plan[i].push((from..to, fill));
        }
    }
    // A comment after a secret often holds the value it replaced.
    if let Some(content) = lines.get(last).map(|l| l.content)
        && let Some(comment) = trailing_comment(content, end)
    {
        plan[last].push((comment, Fill::Plain));
    }
}

/// The text of the comment that follows byte `from` of `line` (after `#`
/// and its spaces), if there is one: the first `#` after whitespace that is
/// outside quotes.
fn trailing_comment(line: &str, from: usize) -> Option<Range<usize>> {
    let rest = line.get(from..)?;
    let mut quote = None;
    let mut before = line[..from].chars().next_back();
    for (b, c) in rest.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'')
                if before.is_none_or(|p| p.is_whitespace() || "[{,:".contains(p)) =>
            {
                quote = Some(c);
            }
            (None, '#') if before.is_none_or(char::is_whitespace) => {
                let text = &rest[b + 1..];
                let start = from + b + 1 + (text.len() - text.trim_start().len());
                let end = from + b + 1 + text.trim_end().len();
                return (start < end).then_some(start..end);
            }
            _ => {}
        }
        before = Some(c);
    }
    None
}

fn indent(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

/// The line and byte offset of the quote closing a scalar opened just
/// before `start` on line `first` (`\"` escapes in double quotes, `''` in
/// single quotes).
fn closing_quote(
    lines: &[Line<'_>],
    first: usize,
    start: usize,
    q: char,
) -> Option<(usize, usize)> {
    let mut escaped = false;
    for (i, line) in lines.iter().enumerate().skip(first) {
        let from = if i == first { start } else { 0 };
        let mut chars = line.content[from..].char_indices().peekable();
        while let Some((b, c)) = chars.next() {
            if escaped {
                escaped = false;
            } else if q == '"' && c == '\\' {
                escaped = true;
            } else if c == q {
                if q == '\'' && chars.peek().is_some_and(|&(_, n)| n == '\'') {
                    chars.next();
                } else {
                    return Some((i, from + b));
                }
            }
        }
        // A backslash at the end of a line escapes the line break.
        escaped = false;
    }
    None
}

/// The lexical rule for line `i`: a secret-looking key (at the start of the
/// line, after `- ` or `? `, after `#` on a comment line, or after `{` or
/// `,`) masks its value; at the start of a line, also the more indented
/// lines that follow.
fn lexical<'t>(
    lines: &[Line<'t>],
    anchors: &Anchors<'t>,
    i: usize,
    plan: &mut [Vec<(Range<usize>, Fill)>],
) {
    let content = lines[i].content;
    let comment = content.trim_start().starts_with('#');
    let mut at = indent(content);
    if comment {
        let rest = &content[at..];
        let body = rest.trim_start_matches('#');
        at += rest.len() - body.len();
        at += indent(&content[at..]);
    }
    loop {
        let rest = &content[at..];
        let skip = if rest.starts_with("- ") || rest.starts_with("? ") {
            2
        } else if rest == "-" {
            1
        } else {
            break;
        };
        at += skip;
        at += indent(&content[at..]);
    }
    if let Some((value, key_col)) = secret_key_value(content, at) {
        let value_text = content[value..].trim();
        if let Some(alias) = value_text.strip_prefix('*') {
            // The secret is written where its anchor is (every definition
            // of that name: one may redefine another).
            let name = alias.split(char::is_whitespace).next().unwrap_or_default();
            for &(j, from) in anchors.of(lines, name) {
                let anchor_col = lines[j].content[..indent(lines[j].content)].chars().count();
                mask_rest(lines, j, from, anchor_col, plan);
            }
        } else if comment {
            if !value_text.is_empty() && !is_reference_value(value_text) {
                plan[i].push(keep_quotes(content, value..content.len()));
            }
        } else {
            mask_rest(lines, i, value, key_col, plan);
        }
    }
    // Keys inside a flow mapping on this line: `{user: a, api_token: b}`.
    for (b, c) in content.char_indices() {
        if c != '{' && c != ',' {
            continue;
        }
        let from = b + 1 + indent(&content[b + 1..]);
        if let Some((value, _)) = secret_key_value(content, from) {
            let rest = &content[value..];
            let len = rest.find([',', '}']).unwrap_or(rest.len());
            let value_text = &rest[..len];
            if !value_text.trim().is_empty() && !is_reference_value(value_text) {
                plan[i].push(keep_quotes(content, value..value + len));
            }
        }
    }
}

/// Masks line `i` from byte `value` to its end (unless that is empty or
/// only `${NAME}` references), and the following lines indented deeper than
/// character column `key_col` (a value continued over several lines).
fn mask_rest(
    lines: &[Line<'_>],
    i: usize,
    value: usize,
    key_col: usize,
    plan: &mut [Vec<(Range<usize>, Fill)>],
) {
    let content = lines[i].content;
    let value_text = &content[value..];
    if !value_text.trim().is_empty() && !is_reference_value(value_text) {
        plan[i].push(keep_quotes(content, value..content.len()));
    }
    for (j, line) in lines.iter().enumerate().skip(i + 1) {
        let c = line.content;
        if c.trim().is_empty() {
            continue;
        }
        let width = c[..indent(c)].chars().count();
        if width <= key_col {
            break;
        }
        plan[j].push((indent(c)..c.len(), Fill::Plain));
    }
}

/// Where each anchor of a text is defined: name → the line and byte offset
/// of the value after each `&name` (an alias `*name` refers to it). Built
/// on the first alias asked about, by one pass over the text.
#[derive(Default)]
struct Anchors<'t> {
    by_name: OnceLock<HashMap<&'t str, Vec<(usize, usize)>>>,
}

impl<'t> Anchors<'t> {
    fn of(&self, lines: &[Line<'t>], name: &str) -> &[(usize, usize)] {
        if name.is_empty() {
            return &[];
        }
        let by_name = self.by_name.get_or_init(|| {
            let mut by_name: HashMap<&'t str, Vec<(usize, usize)>> = HashMap::new();
            for (j, line) in lines.iter().enumerate() {
                let c = line.content;
                for (b, _) in c.match_indices('&') {
                    if !c[..b].chars().next_back().is_none_or(char::is_whitespace) {
                        continue;
                    }
                    let token = &c[b + 1..];
                    let len = token.find(char::is_whitespace).unwrap_or(token.len());
                    let after = &token[len..];
                    by_name
                        .entry(&token[..len])
                        .or_default()
                        .push((j, c.len() - after.trim_start().len()));
                }
            }
            by_name
        });
        by_name.get(name).map_or(&[], Vec::as_slice)
    }
}

/// Where the value starts when `line` opens with a secret-looking key
/// (after its indentation and any `- ` or `? `).
fn secret_line_value(line: &str) -> Option<usize> {
    let mut at = indent(line);
    while let Some(rest) = line.get(at..)
        && (rest.starts_with("- ") || rest.starts_with("? "))
    {
        at += 2;
        at += indent(&line[at..]);
    }
    secret_key_value(line, at).map(|(value, _)| value)
}

/// When a secret-looking key starts at byte `at` of `line`: where its value
/// starts (after the separator, if any) and the key's character column.
fn secret_key_value(line: &str, at: usize) -> Option<(usize, usize)> {
    let rest = &line[at..];
    let (key, after) = match rest.chars().next()? {
        q @ ('"' | '\'') => {
            let close = rest[1..].find(q)? + 1;
            let key = &rest[1..close];
            // A quoted key must be followed by its separator: a quoted
            // string that merely contains `password:` is not a key.
            let tail = rest[close + 1..].trim_start();
            if !(tail.starts_with(':') || tail.starts_with('=')) {
                return None;
            }
            (key, close + 1)
        }
        _ => {
            let len = rest
                .find(|c: char| {
                    c.is_whitespace()
                        || matches!(
                            c,
                            ':' | '=' | '#' | ',' | '{' | '}' | '[' | ']' | '"' | '\''
                        )
                })
                .unwrap_or(rest.len());
            (&rest[..len], len)
        }
    };
    if key.is_empty() || !secret::is_secret_key(key) {
        return None;
    }
    let mut value = at + after;
    let tail = &line[value..];
    let spaced = tail.trim_start();
    value += tail.len() - spaced.len();
    if let Some(sep) = spaced
        .strip_prefix(':')
        .or_else(|| spaced.strip_prefix('='))
    {
        value += 1 + (sep.len() - sep.trim_start().len());
    } else if spaced.len() == tail.len() && !spaced.is_empty() {
        // Neither a separator nor a space: `api_tokenX` is one word.
        return None;
    }
    let key_col = line[..at].chars().count();
    Some((value, key_col))
}

/// Whether a lexical value (comment stripped) is only `${NAME}` references.
fn is_reference_value(value: &str) -> bool {
    let value = match value.find(" #") {
        Some(i) => &value[..i],
        None => value,
    };
    let value = value.trim().trim_matches(['"', '\'']);
    secret::is_only_env_references(value)
}

/// The range of a lexical value without its surrounding quotes, if any.
fn keep_quotes(line: &str, range: Range<usize>) -> (Range<usize>, Fill) {
    let text = &line[range.clone()];
    let trimmed = text.trim_end();
    let mut r = range.start..range.start + trimmed.len();
    for q in ['"', '\''] {
        if trimmed.len() >= 2 && trimmed.starts_with(q) && trimmed.ends_with(q) {
            r = r.start + 1..r.end - 1;
        } else if trimmed.starts_with(q) {
            r.start += 1;
        }
    }
    let value = line.get(r.clone()).unwrap_or_default().to_string();
    if r.start >= r.end {
        return (range.start..range.start, Fill::Plain);
    }
    (r, Fill::Value(value))
}

/// `line` with its planned ranges masked; overlapping ranges merge.
fn apply(line: &str, mut ranges: Vec<(Range<usize>, Fill)>) -> Cow<'_, str> {
    ranges.retain(|(r, _)| r.start < r.end && r.end <= line.len());
    if ranges.is_empty() {
        return Cow::Borrowed(line);
    }
    ranges.sort_by_key(|(r, _)| (r.start, std::cmp::Reverse(r.end)));
    let mut merged: Vec<(Range<usize>, Fill)> = Vec::new();
    for (r, fill) in ranges {
        match merged.last_mut() {
            Some((m, m_fill)) if r.start < m.end => {
                m.end = m.end.max(r.end);
                if matches!(m_fill, Fill::Plain) && matches!(fill, Fill::Value(_)) {
                    *m_fill = fill;
                }
            }
            _ => merged.push((r, fill)),
        }
    }
    let mut out = String::with_capacity(line.len() + 16);
    let mut last = 0;
    for (r, fill) in merged {
        // Ranges come from char boundaries; `get` keeps a bad one harmless.
        let Some(before) = line.get(last..r.start) else {
            return Cow::Owned(MASK.to_string());
        };
        out.push_str(before);
        out.push_str(&fill.text());
        last = r.end;
    }
    out.push_str(line.get(last..).unwrap_or_default());
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::load::yaml::{Limits, parse};

    fn masked(src: &str) -> String {
        let (tree, errors) = parse(src.as_bytes(), "t", &Limits::default());
        let masker = Masker::new([tree.as_ref()]);
        let out = masker.mask_text(src, tree.as_ref());
        assert_eq!(out.lines().count(), src.lines().count(), "{errors:?}");
        out
    }

    fn assert_hidden(src: &str, secret: &str) -> String {
        let out = masked(src);
        for part in secret.split(['\n', ' ']) {
            if part.len() >= 3 {
                assert!(!out.contains(part), "`{part}` leaked:\n{out}");
            }
        }
        assert!(out.contains(MASK), "{out}");
        out
    }

    #[test]
    fn every_scalar_style_is_masked_over_every_line() {
        let cases = [
            ("api_token: |\n  sec1\n  sec2\nname: x\n", "sec1 sec2"),
            ("api_token: |-\n  sec1\n\n  sec2\nname: x\n", "sec1 sec2"),
            ("api_token: |+\n  sec1\n  sec2\n\nname: x\n", "sec1 sec2"),
            ("api_token: >\n  sec1\n  sec2\nname: x\n", "sec1 sec2"),
            ("api_token: >-\n  sec1\n  sec2\n", "sec1 sec2"),
            ("api_token: \"sec1\n  sec2\"\nname: x\n", "sec1 sec2"),
            ("api_token: 'sec1\n  sec2'\nname: x\n", "sec1 sec2"),
            (
                "api_token: sec1\n  sec2\n  sec3\nname: x\n",
                "sec1 sec2 sec3",
            ),
            ("auth: {user: sec1, pass: sec2}\n", "sec1 sec2"),
            ("x: &a sec1\napi_token: *a\n", "sec1"),
            ("api_token: !!str sec1\n", "sec1"),
            ("password: 123456\n", "123456"),
            ("\u{feff}api_token: sec1\n", "sec1"),
            ("api_token: sec1\r\nname: x\r\n", "sec1"),
        ];
        for (src, secret) in cases {
            assert_hidden(src, secret);
        }
    }

    #[test]
    fn only_the_secret_is_masked() {
        let out = masked("name: x\napi_token: \"sec-1234\"   # rotated\nemail: a@b.c\n");
        let line = out.lines().nth(1).unwrap();
        assert!(line.starts_with("api_token: \"••••••"), "{line}");
        assert!(line.ends_with(&format!("\"   # {MASK}")), "{line}");
        assert_eq!(out.lines().nth(2), Some("email: a@b.c"));
        let out = masked("x: &anchor sec-1234\napi_token: *anchor\n");
        assert!(out.starts_with("x: &anchor ••••••"), "{out}");
        assert!(out.contains("api_token: *anchor"), "{out}");
    }

    #[test]
    fn what_is_not_secret_is_shown_as_written() {
        for src in [
            "api_token: ${JIRA_API_TOKEN}\n",
            "steps:\n  - checklist: [\"password: reset link works\"]\n",
            "checklist:\n  - \"password: reset link works\"\n",
            "description: uses ${NOT_A_SECRET}\n",
            "author: Ann\n",
        ] {
            assert_eq!(masked(src), src);
        }
    }

    #[test]
    fn a_broken_file_masks_secret_lines_lexically() {
        let masker = Masker::default();
        for (src, secret) in [
            ("api_tokn: sec1\n  [", "sec1"),
            ("private_key: sec1\n  [", "sec1"),
            ("api_token sec1\n: [", "sec1"),
            ("api_token= sec1\n: [", "sec1"),
            ("- password: 'sec1'\n: [", "sec1"),
            ("api_token: |\n  sec1\n  sec2\n[", "sec1 sec2"),
            ("x: {a: 1, api_key: sec1}\n[", "sec1"),
            ("# api_token: sec1\nname: [", "sec1"),
            ("base_url: https://admin:sec1@host\n[", "sec1"),
            ("defaults: &s sec1\napi_token: *s\n[", "sec1"),
            ("a: &s sec1\nb: &s sec2\napi_token: *s\n[", "sec1 sec2"),
            ("a: &s1 sec1\nb: &s sec2\napi_token: *s\n[", "sec2"),
        ] {
            let out = masker.mask_text(src, None);
            for part in secret.split(' ') {
                assert!(!out.contains(part), "`{part}` leaked:\n{out}");
            }
            assert_eq!(out.lines().count(), src.lines().count());
        }
        let src = "api_token: \"${X}\"\n[";
        assert_eq!(masker.mask_text(src, None), src);
        let src = "checklist:\n  - \"password: reset link works\"\n[";
        assert_eq!(masker.mask_text(src, None), src);
    }

    #[test]
    fn known_values_are_masked_anywhere_in_any_case() {
        let (tree, _) = parse(b"api_token: Swordfish-99\n", "t", &Limits::default());
        let masker = Masker::new([tree.as_ref()]);
        let line = masker.mask_line("note: uses SWORDFISH-99 and https://u:p@h");
        assert!(!line.to_lowercase().contains("swordfish"), "{line}");
        assert!(!line.contains("u:p"), "{line}");
    }

    #[test]
    fn a_comment_on_a_secret_line_is_masked() {
        for src in [
            "api_token: x # old: abc123\n",
            "api_token: \"x # y\"  # old: abc123\n",
            "api_token: ${JIRA_API_TOKEN} # old: abc123\n",
            "api_token: # old: abc123\n",
            "- password: 'x' # old: abc123\n",
            "api_token: |\n  line1\n  line2 # part of the value\nname: n # old: abc123\n",
        ] {
            let out = masked(src);
            assert!(!out.contains("abc123") || src.contains("name: n"), "{out}");
            assert!(
                out.contains(&format!("# {MASK}")) || src.contains('|'),
                "{out}"
            );
        }
        // The block scalar's own lines are the value; a comment on another
        // key's line is that key's.
        let out = masked("api_token: |\n  line1 # x\nname: n # kept\n");
        assert!(!out.contains("line1"), "{out}");
        assert!(out.ends_with("name: n # kept\n"), "{out}");
        // Ordinary keys keep their comments, and `#` inside a secret's
        // quotes is the value, not a comment.
        assert_eq!(masked("name: x # note\n"), "name: x # note\n");
        let out = masked("api_token: 'a #b' # old: c\n");
        assert!(!out.contains("#b") && !out.contains("old"), "{out}");
    }

    /// Every byte some value covers, by brute force.
    fn covered_by_search(text: &str, values: &[&str]) -> Vec<bool> {
        let lower = text.to_ascii_lowercase();
        let mut covered = vec![false; text.len()];
        for v in values {
            let v = v.to_ascii_lowercase();
            for start in 0..lower.len() {
                if lower.as_bytes()[start..].starts_with(v.as_bytes()) {
                    covered[start..start + v.len()]
                        .iter_mut()
                        .for_each(|c| *c = true);
                }
            }
        }
        covered
    }

    #[test]
    fn one_pass_masks_every_byte_some_value_covers() {
        // Overlapping, nested and repeated values from a small alphabet,
        // so most texts hold several; a seeded generator, so a failure
        // replays.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let alphabet = ['a', 'b', 'A', 'é'];
        let word = |len: u64, next: &mut dyn FnMut(u64) -> u64| -> String {
            (0..len).map(|_| alphabet[next(4) as usize]).collect()
        };
        for _ in 0..400 {
            let values: Vec<String> = (0..1 + next(5))
                .map(|_| {
                    let len = 4 + next(4);
                    word(len, &mut next)
                })
                .collect();
            let text = word(next(40), &mut next);
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let masker = Masker::with_values([], refs.iter().copied());
            let mut ranges = Vec::new();
            masker.needles.ranges(&text, &mut ranges);
            let mut covered = vec![false; text.len()];
            for (r, _) in &ranges {
                covered[r.clone()].iter_mut().for_each(|c| *c = true);
            }
            assert_eq!(
                covered,
                covered_by_search(&text, &refs),
                "{text:?} {values:?}"
            );
            // Disjoint and in order: `apply` writes one mask per stretch.
            assert!(
                ranges.windows(2).all(|w| w[0].0.end <= w[1].0.start),
                "{ranges:?}"
            );
        }
    }

    #[test]
    fn overlapping_values_are_masked_as_one_stretch() {
        let masker = Masker::with_values([], ["abcd1234", "1234wxyz"]);
        let line = masker.mask_line("x abcd1234wxyz y");
        assert_eq!(line, format!("x {} y", secret::mask("abcd1234")));
    }

    #[test]
    fn url_userinfo_is_masked_in_any_value() {
        let out = masked("base_url: https://admin:PASSWORD@jira.example.com\n");
        assert_eq!(out, "base_url: https://••••••@jira.example.com\n");
    }
}
