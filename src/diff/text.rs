//! Stage `diff`: line diff of a file's two versions, for people to read.
//!
//! Does no I/O and never panics on any input. Every line it emits, in hunks
//! and in the unified text, has been through the caller's `mask` first: this
//! module never hands out a line of the file as it was read, so a secret
//! cannot leak through the text diff. A deadline bounds the time spent on a
//! pathological pair; past it the diff stays correct but may be coarser.

use std::time::{Duration, Instant};

use similar::{Algorithm, DiffOp};

/// Lines of unchanged context around each change, as `diff -u` and git use.
const CONTEXT: usize = 3;

#[derive(Debug, Clone, PartialEq)]
pub struct TextDiff {
    /// Unified diff text; empty when the two sides are the same.
    pub unified: String,
    pub hunks: Vec<Hunk>,
    /// The deadline passed while diffing: hunks are correct but may cover
    /// more lines than a minimal diff would.
    pub timed_out: bool,
}

/// One `@@` hunk. Starts are 1-based; a side with no lines has the start of
/// the line before it (0 at the top of the file), as in unified diffs.
#[derive(Debug, Clone, PartialEq)]
pub struct Hunk {
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
    pub lines: Vec<Line>,
}

/// One line of a hunk, masked, without its line ending.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub tag: LineTag,
    /// 1-based line number in the old file; `None` for an insert.
    pub old_line: Option<u32>,
    /// 1-based line number in the new file; `None` for a delete.
    pub new_line: Option<u32>,
    pub text: String,
}

/// Whether a line is in both files, only the new one or only the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineTag {
    Equal,
    Insert,
    Delete,
}

/// A line as read: its text without the ending, and whether it had one.
///
/// The ending is part of the comparison so that adding or dropping the final
/// newline is a visible change, but `\n` and `\r\n` count as the same ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RawLine<'a> {
    text: &'a str,
    terminated: bool,
}

fn split_lines(s: &str) -> Vec<RawLine<'_>> {
    s.split_inclusive('\n')
        .map(|chunk| match chunk.strip_suffix('\n') {
            Some(body) => RawLine {
                text: body.strip_suffix('\r').unwrap_or(body),
                terminated: true,
            },
            None => RawLine {
                text: chunk,
                terminated: false,
            },
        })
        .collect()
}

/// Line numbers are u32 on the wire; files are size-capped long before that
/// bound, so saturating only guards against a panic, never loses data.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Diffs `old` against `new` line by line with 3 lines of context.
///
/// `old_name` and `new_name` go into the `--- a/..` and `+++ b/..` headers.
/// `mask` is applied to the text of every emitted line. `deadline` is the
/// time budget for the diff algorithm.
pub fn diff(
    old: &str,
    new: &str,
    old_name: &str,
    new_name: &str,
    mask: &dyn Fn(&str) -> String,
    deadline: Duration,
) -> TextDiff {
    let old_lines = split_lines(old);
    let new_lines = split_lines(new);
    let until = Instant::now().checked_add(deadline);
    let ops =
        similar::capture_diff_slices_deadline(Algorithm::Myers, &old_lines, &new_lines, until);
    let timed_out = until.is_some_and(|t| Instant::now() > t);

    let mut hunks = Vec::new();
    let mut unified = String::new();
    for group in similar::group_diff_ops(ops, CONTEXT) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let (old_range, new_range) = (
            first.old_range().start..last.old_range().end,
            first.new_range().start..last.new_range().end,
        );
        let mut hunk = Hunk {
            old_start: to_u32(header_start(&old_range)),
            old_lines: to_u32(old_range.len()),
            new_start: to_u32(header_start(&new_range)),
            new_lines: to_u32(new_range.len()),
            lines: Vec::new(),
        };
        if unified.is_empty() {
            unified.push_str(&format!("--- a/{old_name}\n+++ b/{new_name}\n"));
        }
        unified.push_str(&format!(
            "@@ -{},{} +{},{} @@\n",
            hunk.old_start, hunk.old_lines, hunk.new_start, hunk.new_lines
        ));
        let mut emit = |tag: LineTag, old_at: Option<usize>, new_at: Option<usize>| {
            let raw = match tag {
                LineTag::Insert => new_at.and_then(|i| new_lines.get(i)),
                LineTag::Equal | LineTag::Delete => old_at.and_then(|i| old_lines.get(i)),
            };
            let Some(raw) = raw else { return };
            let text = mask(raw.text);
            unified.push(match tag {
                LineTag::Equal => ' ',
                LineTag::Insert => '+',
                LineTag::Delete => '-',
            });
            unified.push_str(&text);
            unified.push('\n');
            if !raw.terminated {
                unified.push_str("\\ No newline at end of file\n");
            }
            hunk.lines.push(Line {
                tag,
                old_line: old_at.map(|i| to_u32(i + 1)),
                new_line: new_at.map(|i| to_u32(i + 1)),
                text,
            });
        };
        for op in &group {
            let (o, n) = (op.old_range(), op.new_range());
            match op {
                DiffOp::Equal { .. } => {
                    for (i, j) in o.zip(n) {
                        emit(LineTag::Equal, Some(i), Some(j));
                    }
                }
                DiffOp::Delete { .. } | DiffOp::Insert { .. } | DiffOp::Replace { .. } => {
                    for i in o {
                        emit(LineTag::Delete, Some(i), None);
                    }
                    for j in n {
                        emit(LineTag::Insert, None, Some(j));
                    }
                }
            }
        }
        hunks.push(hunk);
    }

    TextDiff {
        unified,
        hunks,
        timed_out,
    }
}

/// The start a unified header shows for a 0-based range: 1-based, or, for an
/// empty range, the line before it.
fn header_start(range: &std::ops::Range<usize>) -> usize {
    if range.is_empty() {
        range.start
    } else {
        range.start + 1
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const BUDGET: Duration = Duration::from_secs(1);

    fn plain(s: &str) -> String {
        s.to_owned()
    }

    fn run(old: &str, new: &str) -> TextDiff {
        diff(old, new, "f.yaml", "f.yaml", &plain, BUDGET)
    }

    fn numbered(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("line {i}")).collect()
    }

    fn join(lines: &[String]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    /// Rebuilds the new file from the old one and the hunks, so a test can
    /// check that the diff is right, not just its shape.
    fn replay(old: &str, d: &TextDiff) -> Vec<String> {
        let old: Vec<&str> = split_lines(old).iter().map(|l| l.text).collect();
        let mut out = Vec::new();
        let mut at = 0usize;
        for h in &d.hunks {
            let start = if h.old_lines == 0 {
                h.old_start
            } else {
                h.old_start - 1
            } as usize;
            out.extend(old[at..start].iter().map(|s| s.to_string()));
            at = start + h.old_lines as usize;
            for l in &h.lines {
                if l.tag != LineTag::Delete {
                    out.push(l.text.clone());
                }
            }
        }
        out.extend(old[at..].iter().map(|s| s.to_string()));
        out
    }

    #[test]
    fn identical_inputs_give_nothing() {
        let d = run("a\nb\n", "a\r\nb\r\n");
        assert!(d.hunks.is_empty());
        assert_eq!(d.unified, "");
    }

    #[test]
    fn one_changed_line_in_the_middle() {
        let old = numbered(20);
        let mut new = old.clone();
        new[9] = "changed".into();
        let d = run(&join(&old), &join(&new));
        assert_eq!(d.hunks.len(), 1);
        let h = &d.hunks[0];
        assert_eq!(
            (h.old_start, h.old_lines, h.new_start, h.new_lines),
            (7, 7, 7, 7)
        );
        let changed: Vec<_> = h.lines.iter().filter(|l| l.tag != LineTag::Equal).collect();
        assert_eq!(
            changed,
            vec![
                &Line {
                    tag: LineTag::Delete,
                    old_line: Some(10),
                    new_line: None,
                    text: "line 10".into()
                },
                &Line {
                    tag: LineTag::Insert,
                    old_line: None,
                    new_line: Some(10),
                    text: "changed".into()
                },
            ]
        );
        assert_eq!(
            h.lines[0],
            Line {
                tag: LineTag::Equal,
                old_line: Some(7),
                new_line: Some(7),
                text: "line 7".into()
            }
        );
        assert!(
            d.unified
                .starts_with("--- a/f.yaml\n+++ b/f.yaml\n@@ -7,7 +7,7 @@\n line 7\n")
        );
        assert!(d.unified.contains("\n-line 10\n+changed\n"));
        assert_eq!(replay(&join(&old), &d), new);
    }

    #[test]
    fn added_line_at_the_end() {
        let old = numbered(5);
        let mut new = old.clone();
        new.push("line 6".into());
        let d = run(&join(&old), &join(&new));
        assert_eq!(d.hunks.len(), 1);
        let h = &d.hunks[0];
        assert_eq!(
            (h.old_start, h.old_lines, h.new_start, h.new_lines),
            (3, 3, 3, 4)
        );
        assert_eq!(
            h.lines.last(),
            Some(&Line {
                tag: LineTag::Insert,
                old_line: None,
                new_line: Some(6),
                text: "line 6".into()
            })
        );
        assert_eq!(replay(&join(&old), &d), new);
    }

    #[test]
    fn file_created_and_deleted() {
        let body = "id: a\nname: A\n";
        let created = run("", body);
        assert_eq!(created.hunks.len(), 1);
        let h = &created.hunks[0];
        assert_eq!(
            (h.old_start, h.old_lines, h.new_start, h.new_lines),
            (0, 0, 1, 2)
        );
        assert!(h.lines.iter().all(|l| l.tag == LineTag::Insert));
        assert_eq!(
            created.unified,
            "--- a/f.yaml\n+++ b/f.yaml\n@@ -0,0 +1,2 @@\n+id: a\n+name: A\n"
        );

        let deleted = run(body, "");
        let h = &deleted.hunks[0];
        assert_eq!(
            (h.old_start, h.old_lines, h.new_start, h.new_lines),
            (1, 2, 0, 0)
        );
        assert!(h.lines.iter().all(|l| l.tag == LineTag::Delete));
        assert_eq!(h.lines[1].old_line, Some(2));
    }

    #[test]
    fn missing_final_newline_is_a_change() {
        let d = run("a\nb\n", "a\nb");
        assert_eq!(d.hunks.len(), 1);
        assert!(
            d.unified.ends_with("+b\n\\ No newline at end of file\n"),
            "{}",
            d.unified
        );
    }

    #[test]
    fn crlf_lines_lose_their_carriage_return() {
        let d = run("a\r\nb\r\n", "a\r\nc\r\n");
        let texts: Vec<_> = d.hunks[0].lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c"]);
        assert!(!d.unified.contains('\r'));
    }

    #[test]
    fn one_changed_line_in_500_kb() {
        let old = (0..10_000)
            .map(|i| format!("key_{i:05}: {:040}\n", i))
            .collect::<String>();
        assert!(old.len() >= 500_000);
        let new = old.replacen("key_05000:", "key_05000x:", 1);
        let d = run(&old, &new);
        assert_eq!(d.hunks.len(), 1);
        let changed: Vec<_> = d.hunks[0]
            .lines
            .iter()
            .filter(|l| l.tag != LineTag::Equal)
            .collect();
        assert_eq!(changed.len(), 2);
        assert_eq!(
            (changed[0].tag, changed[0].old_line),
            (LineTag::Delete, Some(5001))
        );
        assert_eq!(
            (changed[1].tag, changed[1].new_line),
            (LineTag::Insert, Some(5001))
        );
    }

    #[test]
    fn zero_deadline_still_gives_a_correct_diff() {
        let old: Vec<String> = (0..2000).map(|i| format!("{}", i * 7 % 13)).collect();
        let new: Vec<String> = (0..2000).map(|i| format!("{}", i * 5 % 11)).collect();
        let d = diff(&join(&old), &join(&new), "a", "b", &plain, Duration::ZERO);
        assert_eq!(replay(&join(&old), &d), new);
    }

    #[test]
    fn mask_is_applied_to_every_line() {
        let old = "api_token: hunter2\nname: a\nother: 1\n";
        let new = "api_token: swordfish\nname: b\nother: 1\n";
        let mask = |line: &str| format!("[{}]", line.len());
        let d = diff(old, new, "x", "x", &mask, BUDGET);
        for l in &d.hunks[0].lines {
            assert!(l.text.starts_with('[') && l.text.ends_with(']'), "{l:?}");
        }
        for secret in ["hunter2", "swordfish", "name", "other"] {
            assert!(!d.unified.contains(secret), "{}", d.unified);
        }
    }
}
