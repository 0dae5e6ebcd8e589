//! How text becomes searchable, the same way for a message and a query.
//!
//! Each character is folded on its own (NFKC, so full-width `Ｎａｔｔｅｒ`
//! reads `natter`, then lower case) into the *plain* text. Plain text is cut
//! into terms:
//! - a run of letters and digits outside CJK scripts is one word;
//! - a run of Chinese, Japanese or Korean characters, written without
//!   spaces, gives each character and each overlapping pair, so `今天天气`
//!   gives `今 天 气 今天 天天 天气` and a query `天气` (one pair) finds it.
//!
//! A term is stored as a 64-bit key (the first eight bytes of its SHA-256),
//! one row per term and message in a B-tree, so that any term of any script
//! and length is found the same way on both databases. A query's terms
//! narrow the candidates through that table; its pieces (words and CJK runs
//! as typed) are then looked for in the plain text, which rules out pairs
//! that occur apart (`天气很` is not `天气 … 气很`) and the rare key that
//! two terms share.

use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use unicode_normalization::UnicodeNormalization;

/// Longest term kept, in bytes of UTF-8: a longer word keeps its first
/// characters (a query for it still checks the whole word in the text).
const TERM_BYTES: usize = 40;
/// Most terms one query may have.
pub const QUERY_TERMS: usize = 16;
/// Longest query, in characters.
pub const QUERY_CHARS: usize = crate::validate::SEARCH_MAX;

/// Chinese, Japanese and Korean scripts, written without spaces between words.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3100..=0x312F    // Bopomofo
        | 0x31F0..=0x31FF    // Katakana extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x20000..=0x3134F) // CJK extensions B–G
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Word,
    Cjk,
    Gap,
}

fn class(c: char) -> Class {
    if is_cjk(c) {
        Class::Cjk
    } else if c.is_alphanumeric() {
        Class::Word
    } else {
        Class::Gap
    }
}

/// One character folded: NFKC, then lower case.
fn fold(c: char) -> impl Iterator<Item = char> {
    std::iter::once(c).nfkc().flat_map(char::to_lowercase)
}

/// `text` folded, character by character.
pub fn plain(text: &str) -> String {
    text.chars().flat_map(fold).collect()
}

/// The runs of `plain` text: words and CJK runs, in order.
fn runs(plain: &str) -> Vec<(Class, &str)> {
    let mut runs = Vec::new();
    let mut start = None;
    let mut current = Class::Gap;
    for (i, c) in plain.char_indices() {
        let k = class(c);
        if k != current {
            if let Some(s) = start.take() {
                runs.push((current, &plain[s..i]));
            }
            if k != Class::Gap {
                start = Some(i);
            }
            current = k;
        }
    }
    if let Some(s) = start {
        runs.push((current, &plain[s..]));
    }
    runs
}

/// A term cut to [`TERM_BYTES`] (on a character boundary).
fn cut(term: &str) -> &str {
    let mut end = term.len().min(TERM_BYTES);
    while !term.is_char_boundary(end) {
        end -= 1;
    }
    &term[..end]
}

/// A term's key in the index: the first eight bytes of its SHA-256. Stable
/// across builds and machines (the index outlives the binary), and spread
/// evenly, so the rare shared key only costs a candidate the text check
/// turns away.
pub fn key(term: &str) -> i64 {
    let digest = Sha256::digest(term.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// The pairs of a CJK run (or the run itself, if one character).
fn pairs(run: &str) -> Vec<&str> {
    let ends: Vec<usize> = run.char_indices().map(|(i, _)| i).chain([run.len()]).collect();
    if ends.len() <= 2 {
        return vec![run];
    }
    ends.windows(3).map(|w| &run[w[0]..w[2]]).collect()
}

/// What a message is indexed under: its distinct terms.
pub fn terms(plain: &str) -> Vec<&str> {
    let mut terms = BTreeSet::new();
    for (class, run) in runs(plain) {
        match class {
            Class::Cjk => {
                terms.extend(run.char_indices().map(|(i, c)| &run[i..i + c.len_utf8()]));
                terms.extend(pairs(run).into_iter().map(cut));
            }
            _ => {
                terms.insert(cut(run));
            }
        }
    }
    terms.into_iter().collect()
}

/// The keys a message is indexed under (see [`key`]), distinct.
pub fn keys(plain: &str) -> Vec<i64> {
    let keys: BTreeSet<i64> = terms(plain).into_iter().map(key).collect();
    keys.into_iter().collect()
}

/// A query, ready for the index: what it must match, and the pieces to
/// find in a message's plain text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Terms, every one required.
    pub terms: Vec<String>,
    /// Folded words and CJK runs, each to occur in the plain text.
    pub pieces: Vec<String>,
}

/// Why a query cannot be run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadQuery {
    Empty,
    TooLong,
    TooManyTerms,
}

impl BadQuery {
    pub fn message(&self) -> String {
        match self {
            BadQuery::Empty => "Type a word to search for (punctuation alone finds nothing).".into(),
            BadQuery::TooLong => format!("A search is at most {QUERY_CHARS} characters long."),
            BadQuery::TooManyTerms => format!("Search for at most {QUERY_TERMS} words at once."),
        }
    }
}

/// Parses what someone typed into the search box. Everything but letters
/// and digits separates words (quotes, `%`, `*`, regex and SQL syntax mean
/// nothing here).
pub fn query(typed: &str) -> Result<Query, BadQuery> {
    if typed.chars().count() > QUERY_CHARS {
        return Err(BadQuery::TooLong);
    }
    let plain = plain(typed);
    let mut terms = BTreeSet::new();
    let mut pieces = BTreeSet::new();
    for (class, run) in runs(&plain) {
        pieces.insert(run.to_string());
        match class {
            Class::Cjk => terms.extend(pairs(run).into_iter().map(|p| cut(p).to_string())),
            _ => {
                terms.insert(cut(run).to_string());
            }
        }
    }
    if terms.is_empty() {
        return Err(BadQuery::Empty);
    }
    if terms.len() > QUERY_TERMS {
        return Err(BadQuery::TooManyTerms);
    }
    Ok(Query {
        terms: terms.into_iter().collect(),
        pieces: pieces.into_iter().collect(),
    })
}

/// Where `pieces` occur in `text` (a message's body as written): byte
/// ranges of `text`, sorted and merged, for highlighting. A word counts only
/// whole (`art` is not found in `start`); a CJK piece anywhere.
pub fn highlights(text: &str, pieces: &[String]) -> Vec<(u32, u32)> {
    // The folded text, and for each of its bytes the original character's range.
    let mut folded = String::with_capacity(text.len());
    let mut origin: Vec<(usize, usize)> = Vec::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        for f in fold(c) {
            folded.push(f);
            origin.extend(std::iter::repeat_n((i, i + c.len_utf8()), f.len_utf8()));
        }
    }
    let mut found: Vec<(usize, usize)> = Vec::new();
    for piece in pieces.iter().filter(|p| !p.is_empty()) {
        let whole = piece.chars().next().is_some_and(|c| class(c) == Class::Word);
        for (at, _) in folded.match_indices(piece.as_str()) {
            let end = at + piece.len();
            if whole {
                let before = folded[..at].chars().next_back().map(class);
                let after = folded[end..].chars().next().map(class);
                if before == Some(Class::Word) || after == Some(Class::Word) {
                    continue;
                }
            }
            found.push((origin[at].0, origin[end - 1].1));
        }
    }
    found.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(found.len());
    for (s, e) in found {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
        .into_iter()
        .map(|(s, e)| {
            (
                u32::try_from(s).unwrap_or(u32::MAX),
                u32::try_from(e).unwrap_or(u32::MAX),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finds(query_text: &str, message: &str) -> bool {
        let q = query(query_text).unwrap();
        let plain = plain(message);
        let indexed = keys(&plain);
        q.terms.iter().all(|t| indexed.contains(&key(t))) && q.pieces.iter().all(|p| plain.contains(p.as_str()))
    }

    #[test]
    fn chinese_is_indexed_by_characters_and_pairs() {
        let plain = plain("今天天气");
        let got = terms(&plain);
        let mut want = vec!["今", "天", "气", "今天", "天天", "天气"];
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn two_character_words_find_chinese_sentences() {
        assert!(finds("天气", "今天天气很好"));
        assert!(finds("天气", "天气预报"));
        assert!(finds("会议", "明天的会议改到三点"));
        assert!(finds("天", "今天天气很好"));
        assert!(!finds("会议", "今天天气很好"));
        // Both pairs are there, but not together.
        assert!(!finds("天气很", "天气 气很"));
        assert!(finds("天气很", "今天天气很好"));
    }

    #[test]
    fn english_words_fold_case_and_width_and_match_whole() {
        assert!(finds("Deploy", "we DEPLOY on friday"));
        assert!(finds("natter", "Ｎａｔｔｅｒ rocks"));
        assert!(finds("friday deploy", "deploy on Friday?"));
        assert!(!finds("deploy", "deployment"));
        assert!(!finds("deploy monday", "deploy on friday"));
        assert!(finds("café", "Café au lait"));
    }

    #[test]
    fn short_words_and_stopwords_are_terms_too() {
        assert_eq!(
            terms(&plain("a I the is 1 x 天")),
            vec!["1", "a", "i", "is", "the", "x", "天"]
        );
        assert!(finds("the", "over the hills"));
        assert!(finds("a", "a b c"));
    }

    #[test]
    fn long_words_are_cut_on_a_character_boundary() {
        let long = "x".repeat(150);
        assert_eq!(terms(&plain(&long)), vec!["x".repeat(TERM_BYTES)]);
        assert!(finds(&long, &format!("see {long}")));
        // 14 characters of 3 bytes: 42 bytes, cut to 13 characters.
        let long_cjk = "字".repeat(14);
        assert_eq!(cut(&long_cjk), "字".repeat(13));
    }

    #[test]
    fn keys_are_stable_and_distinct() {
        // The index outlives the binary: a key must never change.
        assert_eq!(key("天气"), key("天气"));
        assert_ne!(key("天气"), key("天"));
        assert_eq!(
            key("natter"),
            i64::from_be_bytes([0x7d, 0xf5, 0xc7, 0x69, 0x1a, 0xbf, 0x5d, 0x2c])
        );
    }

    #[test]
    fn bad_queries_say_why() {
        assert_eq!(query(""), Err(BadQuery::Empty));
        assert_eq!(query("  %%% ** ' ; -- .* "), Err(BadQuery::Empty));
        assert_eq!(query(&"a".repeat(10_000)), Err(BadQuery::TooLong));
        let many = (0..20).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
        assert_eq!(query(&many), Err(BadQuery::TooManyTerms));
        // Metacharacters separate words and are otherwise ignored.
        let q = query("' OR 1=1; -- %_ .*").unwrap();
        assert_eq!(q.pieces, vec!["1".to_string(), "or".to_string()]);
    }

    #[test]
    fn highlights_map_back_to_the_text_as_written() {
        let text = "Deploy on FRIDAY, deployment Friday";
        let found = highlights(text, &query("friday deploy").unwrap().pieces);
        let words: Vec<&str> = found.iter().map(|(s, e)| &text[*s as usize..*e as usize]).collect();
        assert_eq!(words, vec!["Deploy", "FRIDAY", "Friday"]);
        let text = "今天天气很好";
        let found = highlights(text, &query("天气").unwrap().pieces);
        assert_eq!(found, vec![(6, 12)]);
        let text = "Ｎａｔｔｅｒ!";
        let found = highlights(text, &query("natter").unwrap().pieces);
        assert_eq!(found, vec![(0, text.len() as u32 - 1)]);
    }
}
