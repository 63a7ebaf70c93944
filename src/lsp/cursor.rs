//! Stage `lsp`: what the text says at a cursor — the key of the line, its
//! value, and which mapping (a file's top level or a workflow step) the line
//! belongs to — read from lines and indentation, so it still answers while
//! the file is half-typed and does not parse.
//!
//! Pure: text in, a description out; never panics on any text.

use crate::load::config::FileRole;
use crate::load::shape::{self, Shape};

use super::text::Text;

/// A stretch of one line: its text and its columns (0-based, in
/// characters, `end` exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub text: String,
    pub start: u32,
    pub end: u32,
}

/// One line read as `[indent][- ]key: value`.
#[derive(Debug, Clone, Default)]
pub struct Line {
    /// The column the key (or the item's text) starts at.
    pub indent: u32,
    /// The line starts a list item (`- `).
    pub item: bool,
    pub key: Option<Span>,
    /// The value after `key:` (without a comment), when there is one.
    pub value: Option<Span>,
    /// Where `:` is, when the line has a key.
    pub colon: Option<u32>,
}

/// Reads one line. A comment or blank line has no key.
pub fn line(text: &str) -> Line {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() && chars[i] == ' ' {
        i += 1;
    }
    let mut item = false;
    if i < chars.len() && chars[i] == '-' && chars.get(i + 1).is_none_or(|c| *c == ' ') {
        item = true;
        i += 1;
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
    }
    let indent = i as u32;
    let mut out = Line {
        indent,
        item,
        ..Line::default()
    };
    if chars.get(i).is_none_or(|c| *c == '#') {
        return out;
    }
    // The key runs to the first `: ` (or `:` at the end); quoted keys keep
    // their quotes out.
    let colon =
        (i..chars.len()).find(|&j| chars[j] == ':' && chars.get(j + 1).is_none_or(|c| *c == ' '));
    let Some(colon) = colon else {
        // No key: an item's plain text (`- something`), or a key being typed.
        let end = chars.len();
        let word: String = chars[i..end].iter().collect();
        out.key = Some(Span {
            text: word.trim_end().to_string(),
            start: indent,
            end: end as u32,
        });
        return out;
    };
    let raw: String = chars[i..colon].iter().collect();
    let key = raw.trim_end().trim_matches(['"', '\'']).to_string();
    out.key = Some(Span {
        text: key,
        start: indent,
        end: colon as u32,
    });
    out.colon = Some(colon as u32);
    let mut v = colon + 1;
    while v < chars.len() && chars[v] == ' ' {
        v += 1;
    }
    let mut end = chars.len();
    if let Some(hash) = (v..chars.len()).find(|&j| chars[j] == '#' && chars[j - 1] == ' ') {
        end = hash;
    }
    while end > v && chars[end - 1] == ' ' {
        end -= 1;
    }
    let value: String = chars[v..end].iter().collect();
    out.value = Some(Span {
        text: value.trim_matches(['"', '\'']).to_string(),
        start: v as u32,
        end: end as u32,
    });
    out
}

/// Where the cursor is, in terms of the file's shapes.
#[derive(Debug, Clone)]
pub struct At {
    /// 0-based line.
    pub line: u32,
    pub parsed: Line,
    /// The mapping the line's key belongs to, when known.
    pub shape: Option<&'static Shape>,
    /// The cursor is on (or before the end of) the key, not its value.
    pub on_key: bool,
    /// The keys already written in the same mapping.
    pub siblings: Vec<String>,
}

impl At {
    /// The key of the line, when the cursor's mapping knows it.
    pub fn field(&self) -> Option<&'static shape::Field> {
        let key = self.parsed.key.as_ref()?;
        self.shape?.field(&key.text)
    }
}

/// What is at `line`, column `col` (0-based, in characters) of a file of
/// `role`.
pub fn at(text: &Text, role: FileRole, line_no: u32, col: u32) -> At {
    let parsed = line(text.line(line_no));
    let on_key = parsed.colon.is_none_or(|c| col <= c);
    let shape = shape_of(text, role, line_no, &parsed);
    let siblings = siblings(text, line_no, &parsed, shape);
    At {
        line: line_no,
        parsed,
        shape,
        on_key,
        siblings,
    }
}

/// Whether `shape` is a workflow step's (shapes are constants, so they are
/// told apart by title, not address).
pub fn is_step(shape: &Shape) -> bool {
    shape.title == shape::STEP.title
}

fn top(role: FileRole) -> &'static Shape {
    match role {
        FileRole::Workflow => &shape::WORKFLOW,
        FileRole::Integration(kind) => shape::integration(kind),
        FileRole::Settings => &shape::SETTINGS,
    }
}

/// The shape a line's key belongs to: the top level at column 0; in a
/// workflow, a step when the nearest less-indented key above is `steps`.
fn shape_of(text: &Text, role: FileRole, line_no: u32, parsed: &Line) -> Option<&'static Shape> {
    if parsed.indent == 0 {
        return Some(top(role));
    }
    if role != FileRole::Workflow {
        return None;
    }
    let parent = parent_key(text, line_no, parsed.indent)?;
    (parent.key.as_ref()?.text == "steps" && parent.indent == 0).then_some(&shape::STEP)
}

/// The nearest line above with a key less indented than `indent`.
fn parent_key(text: &Text, line_no: u32, indent: u32) -> Option<Line> {
    (0..line_no)
        .rev()
        .map(|n| line(text.line(n)))
        .find(|l| l.key.is_some() && l.colon.is_some() && l.indent < indent && !l.key_is_comment())
}

impl Line {
    fn key_is_comment(&self) -> bool {
        self.key.as_ref().is_some_and(|k| k.text.starts_with('#'))
    }
}

/// The keys written in the same mapping as `line_no`: the top level, or the
/// step the line is in.
fn siblings(text: &Text, line_no: u32, parsed: &Line, shape: Option<&Shape>) -> Vec<String> {
    let Some(shape) = shape else {
        return Vec::new();
    };
    let count = text.line_count();
    let key_of = |l: &Line| l.colon.and(l.key.as_ref()).map(|k| k.text.clone());
    if is_step(shape) {
        // From the item's `- ` line to the next item or a dedent.
        let mut start = line_no;
        while start > 0 && !line(text.line(start)).item {
            start -= 1;
        }
        let mut out = Vec::new();
        for n in start..count {
            let l = line(text.line(n));
            if n > start
                && (l.item && l.indent <= parsed.indent
                    || l.indent < parsed.indent && l.key.is_some())
            {
                break;
            }
            if n != line_no && l.indent == parsed.indent {
                out.extend(key_of(&l));
            }
        }
        return out;
    }
    (0..count)
        .filter(|&n| n != line_no)
        .map(|n| line(text.line(n)))
        .filter(|l| l.indent == 0 && !l.item)
        .filter_map(|l| key_of(&l))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn lines_split_into_key_and_value() {
        let l = line("  - id: login   # first");
        assert!(l.item);
        assert_eq!(l.indent, 4);
        assert_eq!(l.key.as_ref().map(|k| k.text.as_str()), Some("id"));
        let v = l.value.unwrap();
        assert_eq!((v.text.as_str(), v.start, v.end), ("login", 8, 13));
        let half = line("    estim");
        assert_eq!(half.key.unwrap().text, "estim");
        assert!(half.colon.is_none());
        assert!(line("# note: x").key.is_none());
        // Any text is read without a panic.
        for s in [
            "",
            "-",
            "- ",
            ":",
            "::",
            "\u{1F600}: \u{e9}",
            "  \"q\": 'v'",
        ] {
            let _ = line(s);
        }
    }

    #[test]
    fn steps_and_top_level_are_told_apart_by_indentation() {
        let text = Text::new(
            "id: w\nname: W\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: 1\n  - id: b\n    \n"
                .to_string(),
        );
        let top = at(&text, FileRole::Workflow, 1, 1);
        assert!(top.shape.unwrap().title == shape::WORKFLOW.title);
        assert_eq!(top.siblings, ["id", "steps"]);
        let step = at(&text, FileRole::Workflow, 4, 5);
        assert!(is_step(step.shape.unwrap()));
        assert_eq!(step.siblings, ["id", "estimated_minutes"]);
        let blank = at(&text, FileRole::Workflow, 7, 4);
        assert!(is_step(blank.shape.unwrap()));
        assert_eq!(blank.siblings, ["id"]);
    }
}
