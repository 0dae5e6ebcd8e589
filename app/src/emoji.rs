//! Emoji for the composer and for reactions: search by name, `:shortcode:`
//! suggestions while typing, skin tones, and whether a message is only a few
//! emoji (shown large). The data is Unicode's emoji list with GitHub's
//! shortcodes, compiled in by the `emojis` crate: nothing is fetched at run time.

pub use emojis::{Emoji, Group, SkinTone};

/// Skin tones a person may choose, in the order the picker offers them.
pub const TONES: [(SkinTone, &str); 6] = [
    (SkinTone::Default, "Default"),
    (SkinTone::Light, "Light"),
    (SkinTone::MediumLight, "Medium-light"),
    (SkinTone::Medium, "Medium"),
    (SkinTone::MediumDark, "Medium-dark"),
    (SkinTone::Dark, "Dark"),
];

/// A category's name as the picker labels it.
pub fn group_name(group: Group) -> &'static str {
    match group {
        Group::SmileysAndEmotion => "Smileys & emotion",
        Group::PeopleAndBody => "People & body",
        Group::AnimalsAndNature => "Animals & nature",
        Group::FoodAndDrink => "Food & drink",
        Group::TravelAndPlaces => "Travel & places",
        Group::Activities => "Activities",
        Group::Objects => "Objects",
        Group::Symbols => "Symbols",
        Group::Flags => "Flags",
    }
}

/// `emoji` in `tone`, if it comes in skin tones; else as it is.
pub fn toned(emoji: &'static Emoji, tone: SkinTone) -> &'static Emoji {
    emoji.with_skin_tone(tone).unwrap_or(emoji)
}

/// The common English name of an emoji given as text ("👍" → "thumbs up").
pub fn name(emoji: &str) -> Option<&'static str> {
    emojis::get(emoji).map(Emoji::name)
}

/// Emoji whose name or a shortcode contains every word of `query`
/// (case-insensitive), those whose name starts with it first; at most `limit`.
pub fn search(query: &str, limit: usize) -> Vec<&'static Emoji> {
    let query = query.trim().to_lowercase();
    if query.is_empty() {
        return Vec::new();
    }
    let words: Vec<&str> = query.split_whitespace().collect();
    let matches = |e: &&'static Emoji| {
        words
            .iter()
            .all(|w| e.name().contains(w) || e.shortcodes().any(|s| s.contains(w)))
    };
    let (mut first, rest): (Vec<_>, Vec<_>) = emojis::iter()
        .filter(matches)
        .partition(|e| e.name().starts_with(&query));
    first.extend(rest);
    first.truncate(limit);
    first
}

/// The `:shortcode` being typed just before `caret` (a byte offset in
/// `text`): its start (the colon's offset) and what follows the colon. Only
/// after the start of the text or a space, and two characters at least, so
/// a time such as "10:30" or a lone ":" offers nothing.
pub fn shortcode_at(text: &str, caret: usize) -> Option<(usize, &str)> {
    let before = text.get(..caret)?;
    let colon = before.rfind(':')?;
    let typed = &before[colon + 1..];
    let word = typed.len() >= 2
        && typed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-'));
    let starts_word = before[..colon].chars().next_back().is_none_or(char::is_whitespace);
    (word && starts_word).then_some((colon, typed))
}

/// Shortcodes starting with `typed` (then those containing it) and their
/// emoji, at most `limit`: `thu` offers `thumbsup` 👍 first.
pub fn suggestions(typed: &str, limit: usize) -> Vec<(&'static str, &'static Emoji)> {
    let typed = typed.to_lowercase();
    let all = emojis::iter().flat_map(|e| e.shortcodes().map(move |s| (s, e)));
    let (mut first, rest): (Vec<_>, Vec<_>) = all
        .filter(|(s, _)| s.contains(typed.as_str()))
        .partition(|(s, _)| s.starts_with(typed.as_str()));
    first.extend(rest);
    // One entry per emoji (several shortcodes can name one).
    let mut seen = Vec::new();
    first.retain(|(_, e)| {
        let fresh = !seen.contains(&e.as_str());
        seen.push(e.as_str());
        fresh
    });
    first.truncate(limit);
    first
}

/// Most emoji a message may hold and still be shown large.
const JUMBO_MAX: usize = 3;
/// Longest emoji, in characters (a family with skin tones is 10).
const EMOJI_MAX_CHARS: usize = 12;

/// Whether `body` is one to three emoji and nothing else (spaces aside).
pub fn is_jumbo(body: &str) -> bool {
    let mut rest = body.trim();
    let mut count = 0;
    while !rest.is_empty() {
        // The longest prefix that is an emoji.
        let ends: Vec<usize> = rest
            .char_indices()
            .map(|(i, c)| i + c.len_utf8())
            .take(EMOJI_MAX_CHARS)
            .collect();
        let Some(&end) = ends.iter().rev().find(|&&end| emojis::get(&rest[..end]).is_some()) else {
            return false;
        };
        count += 1;
        if count > JUMBO_MAX {
            return false;
        }
        rest = rest[end..].trim_start();
    }
    count > 0
}

/// The byte offset in `text` of UTF-16 offset `units` (what the browser's
/// selection positions count), clamped to the text.
pub fn byte_offset(text: &str, units: usize) -> usize {
    let mut seen = 0;
    for (i, c) in text.char_indices() {
        if seen >= units {
            return i;
        }
        seen += c.len_utf16();
    }
    text.len()
}

/// `text`'s length in UTF-16 units.
pub fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_offsets_become_byte_offsets() {
        let text = "a👍b字";
        assert_eq!(byte_offset(text, 0), 0);
        assert_eq!(byte_offset(text, 1), 1);
        assert_eq!(byte_offset(text, 3), 5, "👍 is two UTF-16 units, four bytes");
        assert_eq!(byte_offset(text, 4), 6);
        assert_eq!(byte_offset(text, 99), text.len());
        assert_eq!(utf16_len(text), 5);
    }

    #[test]
    fn names_are_the_common_english_ones() {
        assert_eq!(name("👍"), Some("thumbs up"));
        assert_eq!(name("🎉"), Some("party popper"));
        assert_eq!(name("x"), None);
    }

    #[test]
    fn search_finds_by_name_and_shortcode_name_prefix_first() {
        let found: Vec<&str> = search("thumbs", 5).iter().map(|e| e.as_str()).collect();
        assert_eq!(&found[..2], ["👍", "👎"]);
        assert!(search("party popper", 3).iter().any(|e| e.as_str() == "🎉"));
        assert!(search("tada", 3).iter().any(|e| e.as_str() == "🎉"), "by shortcode");
        assert!(search("  ", 3).is_empty());
        assert!(search("zzzzqq", 3).is_empty());
        assert_eq!(search("face", 7).len(), 7);
    }

    #[test]
    fn a_shortcode_is_offered_only_as_a_word_being_typed() {
        assert_eq!(shortcode_at(":thu", 4), Some((0, "thu")));
        assert_eq!(shortcode_at("well :thu", 9), Some((5, "thu")));
        assert_eq!(shortcode_at("well :thu and", 9), Some((5, "thu")), "at the caret");
        assert_eq!(shortcode_at("at 10:30", 8), None, "a time");
        assert_eq!(shortcode_at("a :t", 4), None, "too short");
        assert_eq!(shortcode_at("a :th u", 7), None, "a space ended it");
        assert_eq!(
            shortcode_at("你好 :smi", "你好 :smi".len()),
            Some(("你好 ".len(), "smi"))
        );
        assert_eq!(shortcode_at("x", 5), None, "caret past the end");
    }

    #[test]
    fn thu_offers_thumbs_up_first() {
        let offered = suggestions("thu", 6);
        assert_eq!(offered[0].1.as_str(), "👍");
        assert!(offered.len() <= 6);
        let emoji: Vec<&str> = offered.iter().map(|(_, e)| e.as_str()).collect();
        let mut unique = emoji.clone();
        unique.dedup();
        assert_eq!(emoji.len(), unique.len(), "one entry per emoji");
        assert!(suggestions("+1", 3).iter().any(|(_, e)| e.as_str() == "👍"));
    }

    #[test]
    fn one_to_three_emoji_alone_are_large() {
        for large in ["👍", " 🎉🎉 ", "👍🏽 🇨🇳 ❤️", "👩‍👩‍👧‍👦"] {
            assert!(is_jumbo(large), "{large}");
        }
        for normal in ["", "   ", "ok 👍", "👍👍👍👍", "👍!", "a"] {
            assert!(!is_jumbo(normal), "{normal}");
        }
    }

    #[test]
    fn skin_tones_apply_where_an_emoji_has_them() {
        let thumbs = emojis::get("👍").unwrap();
        assert_eq!(toned(thumbs, SkinTone::Dark).as_str(), "👍🏿");
        let party = emojis::get("🎉").unwrap();
        assert_eq!(toned(party, SkinTone::Dark).as_str(), "🎉");
    }
}
