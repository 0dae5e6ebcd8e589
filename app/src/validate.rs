//! Validated text: each newtype can only be built by `parse`, so holding one
//! proves the value is acceptable. Shared by the browser (early feedback) and
//! the server (the check that counts).

use std::fmt;

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const ROOM_NAME_MAX: usize = 64;
pub const TOPIC_MAX: usize = 200;
pub const MESSAGE_MAX: usize = 4000;
/// Longest search query, in characters.
pub const SEARCH_MAX: usize = 200;
pub const CLIENT_ID_MAX: usize = 64;

/// Why a piece of text was refused, worded for the person who typed it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid<T>(message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(message.into()))
}

/// Characters that reorder the text around them (bidi embeddings, overrides
/// and isolates): in a name they can make "evil" display as "live".
fn has_bidi_control(text: &str) -> bool {
    text.chars().any(is_bidi_control)
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// NFC, so that names that look the same compare the same.
fn normalise(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfc().collect()
}

/// Control characters other than newline and tab never belong in chat text.
fn has_forbidden_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

macro_rules! text_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_inner(self) -> String {
                self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// 3–32 letters, digits, `_` or `-`. Unique case-insensitively: see [`Username::key`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);
text_newtype!(Username);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        let len = name.chars().count();
        if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
            return invalid(format!(
                "Username must be {USERNAME_MIN} to {USERNAME_MAX} characters long."
            ));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return invalid("Username may contain only letters, digits, '_' and '-'.");
        }
        Ok(Self(name.to_owned()))
    }

    /// The form compared for uniqueness and at login.
    pub fn key(&self) -> UserKey {
        UserKey::of(&self.0)
    }
}

/// A username as accounts are looked up by it (at login, by the admin
/// commands, when adding or removing a member, for a direct conversation):
/// trimmed and case-folded. Any text makes a key; one that is not a valid
/// username matches no account and finds nobody.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserKey(String);
text_newtype!(UserKey);

impl UserKey {
    pub fn of(raw: &str) -> Self {
        Self(raw.trim().to_ascii_lowercase())
    }
}

/// 8–128 characters, exactly as typed (no trimming, no normalisation).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let len = raw.chars().count();
        if len < PASSWORD_MIN {
            return invalid(format!("Password must be at least {PASSWORD_MIN} characters long."));
        }
        if len > PASSWORD_MAX {
            return invalid(format!("Password must be at most {PASSWORD_MAX} characters long."));
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    // Never let a password reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

/// 1–64 characters after trimming; unique case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomName(String);
text_newtype!(RoomName);

impl RoomName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = normalise(raw.trim());
        let name = name.as_str();
        if name.is_empty() {
            return invalid("Room name cannot be empty.");
        }
        if name.chars().count() > ROOM_NAME_MAX {
            return invalid(format!("Room name must be at most {ROOM_NAME_MAX} characters long."));
        }
        if name.chars().any(char::is_control) || has_bidi_control(name) {
            return invalid("Room name cannot contain control or text-direction characters.");
        }
        Ok(Self(name.to_owned()))
    }

    /// The form compared for uniqueness.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// Optional, up to 200 characters after trimming (empty means no topic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic(String);
text_newtype!(Topic);

impl Topic {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let topic = normalise(raw.trim());
        let topic = topic.as_str();
        if topic.chars().count() > TOPIC_MAX {
            return invalid(format!("Topic must be at most {TOPIC_MAX} characters long."));
        }
        if topic.chars().any(char::is_control) || has_bidi_control(topic) {
            return invalid("Topic cannot contain control or text-direction characters.");
        }
        Ok(Self(topic.to_owned()))
    }
}

/// A message's text: not blank, at most 4,000 characters, line breaks kept
/// (CRLF folded to LF so every client sees the same text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageBody(String);
text_newtype!(MessageBody);

impl MessageBody {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let body = raw.replace("\r\n", "\n");
        if body.trim().is_empty() {
            return invalid("Message cannot be empty.");
        }
        let len = body.chars().count();
        if len > MESSAGE_MAX {
            return invalid(format!(
                "Message is too long: {len} characters, the limit is {MESSAGE_MAX}."
            ));
        }
        if has_forbidden_control(&body) {
            return invalid("Message cannot contain control characters.");
        }
        Ok(Self(body))
    }

    /// The text of a message that posts a file: as [`MessageBody::parse`],
    /// except that it may be blank (then empty).
    pub fn parse_caption(raw: &str) -> Result<Self, Invalid> {
        if raw.trim().is_empty() {
            return Ok(Self(String::new()));
        }
        Self::parse(raw)
    }
}

/// The sender's idempotency key for one message: 1–64 of `[A-Za-z0-9_-]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientMessageId(String);
text_newtype!(ClientMessageId);

impl ClientMessageId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok = !raw.is_empty()
            && raw.len() <= CLIENT_ID_MAX
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return invalid("Client message id must be 1 to 64 letters, digits, '_' or '-'.");
        }
        Ok(Self(raw.to_owned()))
    }
}

/// A reaction: one emoji this build knows (from the `emojis` crate's data
/// set, Unicode's full list with skin tones), as its characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emoji(String);
text_newtype!(Emoji);

/// Longest emoji in bytes (a family with skin tones is 35); anything longer
/// is refused before it is looked up.
const EMOJI_MAX_BYTES: usize = 64;

impl Emoji {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match emojis::get(raw) {
            // Its fully qualified form: "❤" and "❤️" are one reaction.
            Some(emoji) if raw.len() <= EMOJI_MAX_BYTES => Ok(Self(emoji.as_str().to_owned())),
            _ => invalid("That is not an emoji."),
        }
    }
}

/// Where to go after logging in: a path of this site, or "/" for anything
/// else — never another site (`//evil.example`, `/\\evil.example`, a full
/// URL), so the login page cannot be used to send people elsewhere.
pub fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= 512
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/",
    }
}

/// `text` made safe to put in a URL's query string: everything but
/// unreserved characters and `/` percent-encoded (UTF-8).
pub fn query_value(text: &str) -> String {
    percent_encoded(text, b"-_.~/")
}

/// `text` as one segment of a URL's path: as [`query_value`], `/` encoded too.
pub fn path_segment(text: &str) -> String {
    percent_encoded(text, b"-_.~")
}

fn percent_encoded(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || keep.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Longest file name kept, in bytes (the most common file systems' limit).
pub const FILE_NAME_MAX_BYTES: usize = 255;

/// The name an upload is shown and offered under. It is only ever a label:
/// storage is addressed by content, so no name reaches a file system path.
/// Whatever the browser sent is made into one: its last path component,
/// without control or reordering characters, trimmed, cut to
/// [`FILE_NAME_MAX_BYTES`] keeping its extension, "file" if nothing is left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileName(String);
text_newtype!(FileName);

impl FileName {
    pub fn parse(raw: &str) -> Self {
        let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
        let clean: String = normalise(last)
            .chars()
            .filter(|c| !c.is_control() && !is_bidi_control(*c))
            .collect();
        let clean = clean.trim().trim_start_matches('.').trim();
        if clean.is_empty() {
            return Self("file".into());
        }
        if clean.len() <= FILE_NAME_MAX_BYTES {
            return Self(clean.to_owned());
        }
        // Too long: keep a short extension, cut the stem on a character boundary.
        let extension = clean
            .rfind('.')
            .map(|dot| &clean[dot..])
            .filter(|ext| ext.len() <= 16)
            .unwrap_or("");
        let mut stem_end = FILE_NAME_MAX_BYTES - extension.len();
        while !clean.is_char_boundary(stem_end) {
            stem_end -= 1;
        }
        Self(format!("{}{extension}", &clean[..stem_end]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_emoji_are_reactions() {
        for ok in ["👍", "😂", "👍🏽", "🇨🇳", "👩🏻\u{200d}❤\u{fe0f}\u{200d}💋\u{200d}👨🏼"] {
            assert_eq!(Emoji::parse(ok).map(Emoji::into_inner), Ok(ok.to_owned()), "{ok}");
        }
        assert_eq!(
            Emoji::parse("❤").map(Emoji::into_inner),
            Ok("❤️".to_owned()),
            "one form of each"
        );
        for bad in ["", "a", ":thumbsup:", "👍👍", "<b>", &"👍".repeat(2500)] {
            assert!(Emoji::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_follow_the_rules() {
        assert!(Username::parse("bob").is_ok());
        assert!(Username::parse("a_b-C9").is_ok());
        assert!(Username::parse(&"x".repeat(32)).is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"x".repeat(33)).is_err());
        assert!(Username::parse("bob smith").is_err());
        assert!(Username::parse("bøb").is_err());
        assert!(Username::parse("<script>").is_err());
        assert_eq!(Username::parse("  Bob ").unwrap().as_str(), "Bob");
        assert_eq!(Username::parse("BoB").unwrap().key().as_str(), "bob");
        assert_eq!(UserKey::of("  BoB "), Username::parse("bob").unwrap().key());
    }

    #[test]
    fn passwords_are_kept_exactly_as_typed() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"p".repeat(128)).is_ok());
        assert!(Password::parse(&"p".repeat(129)).is_err());
        let p = Password::parse(" spaced out ").unwrap();
        assert_eq!(p.as_bytes(), b" spaced out ");
        assert_eq!(format!("{p:?}"), "Password(…)");
        // Eight characters even though more bytes.
        assert!(Password::parse("ééééééééé").is_ok());
    }

    #[test]
    fn room_names_and_topics_are_bounded() {
        assert!(RoomName::parse("   ").is_err());
        assert!(RoomName::parse(&"r".repeat(64)).is_ok());
        assert!(RoomName::parse(&"r".repeat(65)).is_err());
        assert_eq!(RoomName::parse(" Général ").unwrap().key(), "général");
        assert!(Topic::parse("").is_ok());
        assert!(Topic::parse(&"t".repeat(200)).is_ok());
        assert!(Topic::parse(&"t".repeat(201)).is_err());
    }

    #[test]
    fn names_are_nfc_and_free_of_direction_tricks() {
        // "é" as e + combining acute becomes the single code point.
        let decomposed = "Cafe\u{301}";
        assert_eq!(RoomName::parse(decomposed).unwrap().as_str(), "Caf\u{e9}");
        assert_eq!(
            RoomName::parse(decomposed).unwrap().key(),
            RoomName::parse("Caf\u{e9}").unwrap().key()
        );
        assert!(RoomName::parse("evil\u{202E}lmth.exe").is_err());
        assert!(RoomName::parse("a\u{2066}b").is_err());
        assert!(Topic::parse("x\u{202D}y").is_err());
        assert!(RoomName::parse("tab\there").is_err());
    }

    #[test]
    fn message_bodies_are_not_blank_and_not_too_long() {
        assert!(MessageBody::parse("").is_err());
        assert!(MessageBody::parse(" \n\t ").is_err());
        assert!(MessageBody::parse(&"m".repeat(4000)).is_ok());
        let err = MessageBody::parse(&"m".repeat(4001)).unwrap_err();
        assert!(err.0.contains("too long"), "{err}");
        assert_eq!(MessageBody::parse("a\r\nb").unwrap().as_str(), "a\nb");
        assert!(MessageBody::parse("bell\u{7}").is_err());
        assert_eq!(MessageBody::parse("😀不").unwrap().as_str(), "😀不");
    }

    #[test]
    fn client_ids_are_short_tokens() {
        assert!(ClientMessageId::parse("abc-123_X").is_ok());
        assert!(ClientMessageId::parse("").is_err());
        assert!(ClientMessageId::parse(&"a".repeat(65)).is_err());
        assert!(ClientMessageId::parse("a b").is_err());
    }

    #[test]
    fn only_paths_of_this_site_are_followed_after_login() {
        assert_eq!(local_path(Some("/rooms/5?x=1")), "/rooms/5?x=1");
        for bad in [
            None,
            Some(""),
            Some("rooms/5"),
            Some("//evil.example"),
            Some("/\\evil.example"),
            Some("https://evil.example/"),
            Some("/a\nb"),
        ] {
            assert_eq!(local_path(bad), "/", "{bad:?}");
        }
        assert_eq!(query_value("/rooms/5?a=b&c"), "/rooms/5%3Fa%3Db%26c");
        assert_eq!(query_value("/é"), "/%C3%A9");
    }

    #[test]
    fn file_names_are_labels_not_paths() {
        assert_eq!(FileName::parse("holiday.jpg").as_str(), "holiday.jpg");
        assert_eq!(FileName::parse("C:\\Users\\me\\report.pdf").as_str(), "report.pdf");
        assert_eq!(FileName::parse("../../etc/passwd").as_str(), "passwd");
        assert_eq!(FileName::parse("..").as_str(), "file");
        assert_eq!(FileName::parse(" .htaccess").as_str(), "htaccess");
        assert_eq!(FileName::parse("").as_str(), "file");
        assert_eq!(FileName::parse("a\u{202E}gpj.exe").as_str(), "agpj.exe");
        assert_eq!(FileName::parse("new\nline\u{0}.png").as_str(), "newline.png");
        assert_eq!(FileName::parse("照片 2026.jpg").as_str(), "照片 2026.jpg");
        let long = format!("{}.jpeg", "照".repeat(200));
        let cut = FileName::parse(&long);
        assert!(cut.as_str().len() <= FILE_NAME_MAX_BYTES, "{}", cut.as_str().len());
        assert!(cut.as_str().ends_with("照.jpeg"), "the extension is kept");
        assert_eq!(path_segment("a b/c?.png"), "a%20b%2Fc%3F.png");
    }
}
