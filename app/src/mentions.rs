//! `@name` in messages: where mentions are in a text (to highlight them,
//! and a message that mentions the reader), and the `@` being typed in the
//! composer (to offer the room's people).
//!
//! A mention is `@` at the start of the text or after a character that
//! cannot be in a username, followed by a username's characters (ASCII
//! letters, digits, `_` and `-`); names compare as usernames do, ignoring case.

use crate::validate::USERNAME_MAX;

/// A piece of a message's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    /// `@name`, as written (the `@` included).
    Mention(&'a str),
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The text cut into plain runs and mentions, in order; joined, they are
/// the text again.
pub fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut plain_from = 0;
    let mut previous: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let starts = c == '@' && previous.is_none_or(|p| !name_char(p));
        previous = Some(c);
        if !starts {
            continue;
        }
        let name_len: usize = text[at + 1..]
            .chars()
            .take_while(|&c| name_char(c))
            .map(char::len_utf8)
            .sum();
        // ASCII only: bytes are characters.
        if name_len == 0 || name_len > USERNAME_MAX {
            continue;
        }
        if plain_from < at {
            out.push(Piece::Text(&text[plain_from..at]));
        }
        let end = at + 1 + name_len;
        out.push(Piece::Mention(&text[at..end]));
        plain_from = end;
        previous = text[..end].chars().next_back();
        while chars.peek().is_some_and(|&(i, _)| i < end) {
            chars.next();
        }
    }
    if plain_from < text.len() {
        out.push(Piece::Text(&text[plain_from..]));
    }
    out
}

/// Whether `text` mentions `name`.
pub fn mentions(text: &str, name: &str) -> bool {
    pieces(text)
        .iter()
        .any(|p| matches!(p, Piece::Mention(m) if m[1..].eq_ignore_ascii_case(name)))
}

/// Most people one message can mention (and notify): beyond them, further
/// `@name`s are still highlighted but count for no one.
pub const MENTIONS_PER_MESSAGE: usize = 20;

/// The username keys (lower case) `text` mentions, each once, in order of
/// first mention, at most [`MENTIONS_PER_MESSAGE`].
pub fn named(text: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for piece in pieces(text) {
        if let Piece::Mention(m) = piece {
            let key = m[1..].to_ascii_lowercase();
            if !keys.contains(&key) {
                keys.push(key);
                if keys.len() == MENTIONS_PER_MESSAGE {
                    break;
                }
            }
        }
    }
    keys
}

/// The `@name` being typed where the caret is (`caret` in bytes): where its
/// `@` is, and what follows it so far (maybe nothing yet).
pub fn typed_at(text: &str, caret: usize) -> Option<(usize, &str)> {
    let before = text.get(..caret)?;
    let at = before.rfind('@')?;
    let typed = &before[at + 1..];
    let starts_word = before[..at].chars().next_back().is_none_or(|c| !name_char(c));
    (starts_word && typed.len() <= USERNAME_MAX && typed.chars().all(name_char)).then_some((at, typed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found_between_words_and_punctuation_but_not_in_addresses() {
        assert_eq!(
            pieces("hi @ann, and @Bob-2!"),
            [
                Piece::Text("hi "),
                Piece::Mention("@ann"),
                Piece::Text(", and "),
                Piece::Mention("@Bob-2"),
                Piece::Text("!"),
            ]
        );
        assert_eq!(pieces("mail ann@example.com"), [Piece::Text("mail ann@example.com")]);
        assert_eq!(pieces("@ann"), [Piece::Mention("@ann")]);
        assert_eq!(pieces("a @ b @"), [Piece::Text("a @ b @")]);
        assert_eq!(pieces("@a@b"), [Piece::Mention("@a"), Piece::Text("@b")]);
        assert_eq!(
            pieces("你好@小明 @ann你好"),
            [Piece::Text("你好@小明 "), Piece::Mention("@ann"), Piece::Text("你好")]
        );
        let long = format!("@{}", "x".repeat(USERNAME_MAX + 1));
        assert_eq!(pieces(&long), [Piece::Text(long.as_str())]);
        for text in ["", "plain", "@ann and @bob", "x @ y", "😀@ann😀"] {
            let joined: String = pieces(text)
                .iter()
                .map(|p| match p {
                    Piece::Text(t) | Piece::Mention(t) => *t,
                })
                .collect();
            assert_eq!(joined, text);
        }
    }

    #[test]
    fn a_message_mentions_a_name_whatever_its_case_and_only_whole() {
        assert!(mentions("thanks @ANN!", "ann"));
        assert!(!mentions("thanks @anna", "ann"));
        assert!(!mentions("ann@example.com", "ann"));
        assert!(!mentions("thanks ann", "ann"));
    }

    #[test]
    fn the_people_named_are_listed_once_in_lower_case_and_bounded() {
        assert_eq!(named("@Ann and @bob, then @ANN again"), ["ann", "bob"]);
        assert_eq!(named("ann@example.com"), Vec::<String>::new());
        let many: String = (0..30).map(|i| format!("@u{i} ")).collect();
        let keys = named(&many);
        assert_eq!(keys.len(), MENTIONS_PER_MESSAGE);
        assert_eq!(keys[0], "u0");
    }

    #[test]
    fn the_name_being_typed_is_found_at_the_caret() {
        assert_eq!(typed_at("hi @", 4), Some((3, "")));
        assert_eq!(typed_at("hi @an", 6), Some((3, "an")));
        assert_eq!(typed_at("hi @an there", 6), Some((3, "an")));
        assert_eq!(typed_at("hi @an there", 12), None, "past a space");
        assert_eq!(typed_at("ann@ex", 6), None, "inside a word");
        assert_eq!(typed_at("no at", 5), None);
        assert_eq!(typed_at("@a", 9), None, "a caret past the end");
    }
}
