//! Stage `lsp`: positions between the project's (1-based line, column in
//! characters) and the protocol's (0-based line, column in the negotiated
//! code units: UTF-8 bytes, UTF-16 units or characters).
//!
//! Pure: text in, numbers out; out-of-range positions are clamped, never a
//! panic.

use lsp_types::{Position, PositionEncodingKind, Range};

use crate::diagnostic::Pos;

/// The code unit a protocol column counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
    Utf32,
}

impl Encoding {
    /// The client's first choice among UTF-8, UTF-16 and UTF-32 (it lists
    /// them in order of preference); UTF-16, which every client must
    /// accept, when it offers none of them.
    pub fn negotiate(offered: &[PositionEncodingKind]) -> Encoding {
        for kind in offered {
            if *kind == PositionEncodingKind::UTF8 {
                return Encoding::Utf8;
            }
            if *kind == PositionEncodingKind::UTF32 {
                return Encoding::Utf32;
            }
            if *kind == PositionEncodingKind::UTF16 {
                return Encoding::Utf16;
            }
        }
        Encoding::Utf16
    }

    pub fn kind(self) -> PositionEncodingKind {
        match self {
            Encoding::Utf8 => PositionEncodingKind::UTF8,
            Encoding::Utf16 => PositionEncodingKind::UTF16,
            Encoding::Utf32 => PositionEncodingKind::UTF32,
        }
    }

    fn units(self, c: char) -> u32 {
        match self {
            Encoding::Utf8 => c.len_utf8() as u32,
            Encoding::Utf16 => c.len_utf16() as u32,
            Encoding::Utf32 => 1,
        }
    }
}

/// A document's text with the byte offset of each line's start.
#[derive(Debug, Clone, Default)]
pub struct Text {
    text: String,
    starts: Vec<usize>,
}

impl Text {
    pub fn new(text: String) -> Text {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Text { text, starts }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn line_count(&self) -> u32 {
        u32::try_from(self.starts.len()).unwrap_or(u32::MAX)
    }

    /// Line `n` (0-based) without its line break; empty past the end.
    pub fn line(&self, n: u32) -> &str {
        let Some(&start) = self.starts.get(n as usize) else {
            return "";
        };
        let end = self
            .starts
            .get(n as usize + 1)
            .map_or(self.text.len(), |&e| e - 1);
        let line = &self.text[start..end];
        line.strip_suffix('\r').unwrap_or(line)
    }

    /// The protocol position of a project position (1-based line, column
    /// in characters), clamped to the text.
    pub fn position(&self, pos: Pos, enc: Encoding) -> Position {
        let line = pos.line.saturating_sub(1).min(self.line_count() - 1);
        let chars = pos.col.saturating_sub(1) as usize;
        let character = self
            .line(line)
            .chars()
            .take(chars)
            .map(|c| enc.units(c))
            .sum();
        Position { line, character }
    }

    /// The range from a project position to the end of the word or value
    /// that starts there (a key, a scalar), at least one character.
    pub fn word_range(&self, pos: Pos, enc: Encoding) -> Range {
        let start = self.position(pos, enc);
        let rest: String = self
            .line(start.line)
            .chars()
            .skip(pos.col.saturating_sub(1) as usize)
            .collect();
        let word = token_len(&rest).max(1);
        let width: u32 = rest.chars().take(word).map(|c| enc.units(c)).sum();
        Range {
            start,
            end: Position {
                line: start.line,
                character: start.character + width.max(1),
            },
        }
    }

    /// The byte offset of a protocol position, clamped: a line past the end
    /// is the end of the text, a column past the line's end is its end, a
    /// column inside a character is that character's start.
    pub fn offset(&self, p: Position, enc: Encoding) -> usize {
        let Some(&start) = self.starts.get(p.line as usize) else {
            return self.text.len();
        };
        let line = self.line(p.line);
        let mut units = 0u32;
        for (i, c) in line.char_indices() {
            let next = units + enc.units(c);
            if next > p.character {
                return start + i;
            }
            units = next;
        }
        start + line.len()
    }

    /// The project position (1-based line, column in characters) of a
    /// protocol position, clamped like [`Text::offset`].
    pub fn pos(&self, p: Position, enc: Encoding) -> Pos {
        let offset = self.offset(p, enc);
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let col = self.text[start..offset].chars().count();
        Pos::new(
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(col + 1).unwrap_or(u32::MAX),
        )
    }
}

/// The length in characters of the YAML token at the start of `s`: a
/// quoted scalar with its quotes, or a run up to a separator.
fn token_len(s: &str) -> usize {
    let mut chars = s.chars();
    match chars.next() {
        Some(q @ ('"' | '\'')) => chars
            .position(|c| c == q)
            .map_or(s.chars().count(), |n| n + 2),
        _ => s
            .chars()
            .take_while(|&c| !matches!(c, ':' | '#' | ',' | ']' | '}') && !c.is_whitespace())
            .count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_code_units_of_the_negotiated_encoding() {
        // `é` is 2 bytes, 1 UTF-16 unit; `😀` is 4 bytes, 2 UTF-16 units.
        let text = Text::new("a: 1\nname: é😀x: bad\n".to_string());
        let pos = Pos::new(2, 9); // the `x`
        assert_eq!(text.position(pos, Encoding::Utf32).character, 8);
        assert_eq!(text.position(pos, Encoding::Utf16).character, 9);
        assert_eq!(text.position(pos, Encoding::Utf8).character, 12);
        for enc in [Encoding::Utf8, Encoding::Utf16, Encoding::Utf32] {
            assert_eq!(text.pos(text.position(pos, enc), enc), pos, "{enc:?}");
        }
    }

    #[test]
    fn out_of_range_positions_are_clamped() {
        let text = Text::new("ab\r\ncd".to_string());
        assert_eq!(text.line(0), "ab");
        let far = Position {
            line: 99,
            character: 99,
        };
        assert_eq!(text.offset(far, Encoding::Utf16), 6);
        let wide = Position {
            line: 0,
            character: 99,
        };
        assert_eq!(text.offset(wide, Encoding::Utf16), 2);
        assert_eq!(
            text.position(Pos::new(50, 50), Encoding::Utf16),
            Position {
                line: 1,
                character: 2
            }
        );
        // Inside a surrogate pair: the character's start.
        let astral = Text::new("😀z".to_string());
        let mid = Position {
            line: 0,
            character: 1,
        };
        assert_eq!(astral.offset(mid, Encoding::Utf16), 0);
    }

    #[test]
    fn negotiation_takes_the_clients_first_known_choice() {
        use PositionEncodingKind as K;
        assert_eq!(Encoding::negotiate(&[]), Encoding::Utf16);
        assert_eq!(Encoding::negotiate(&[K::UTF16, K::UTF8]), Encoding::Utf16);
        assert_eq!(Encoding::negotiate(&[K::UTF8, K::UTF16]), Encoding::Utf8);
        assert_eq!(Encoding::negotiate(&[K::UTF32]), Encoding::Utf32);
        assert_eq!(Encoding::negotiate(&[K::new("utf-7")]), Encoding::Utf16);
    }
}
