//! What a file is, decided from its first bytes: never from its name or the
//! type the browser declared, both of which the uploader chooses.

/// The four image types shown inline, and everything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    Gif,
    Webp,
    /// Anything else, with the type its magic bytes suggest (for display
    /// only: such a file is always served as a download).
    Other(&'static str),
}

/// How many leading bytes [`sniff`] looks at.
pub const SNIFF_BYTES: usize = 8192;

impl Kind {
    pub fn is_image(self) -> bool {
        !matches!(self, Kind::Other(_))
    }

    /// The type stored and shown; for an image, also the one it is served as.
    pub fn mime(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Gif => "image/gif",
            Kind::Webp => "image/webp",
            Kind::Other(mime) => mime,
        }
    }
}

/// The kind of a file that starts with `head` (its first [`SNIFF_BYTES`]).
pub fn sniff(head: &[u8]) -> Kind {
    match image::guess_format(head) {
        Ok(image::ImageFormat::Jpeg) => Kind::Jpeg,
        Ok(image::ImageFormat::Png) => Kind::Png,
        Ok(image::ImageFormat::Gif) => Kind::Gif,
        Ok(image::ImageFormat::WebP) => Kind::Webp,
        _ => Kind::Other(infer::get(head).map_or("application/octet-stream", |t| t.mime_type())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_decide_not_the_name() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Kind::Png);
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF\0"), Kind::Jpeg);
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Kind::Gif);
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Kind::Webp);
        assert_eq!(sniff(b"%PDF-1.7\n"), Kind::Other("application/pdf"));
        // HTML and SVG are text to the sniffer: never an image, never inline.
        assert!(!sniff(b"<html><script>alert(1)</script></html>").is_image());
        assert!(!sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>").is_image());
    }
}
