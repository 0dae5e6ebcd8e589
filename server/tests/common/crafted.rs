//! Files crafted byte by byte for the upload tests (EXIF, XMP, trailers,
//! lying headers, polyglots), so what each holds is plain to see.
#![allow(dead_code, clippy::unwrap_used)]

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use std::io::Write;

pub fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    file.write_all(bytes).expect("written");
    file
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `width` × `height`, red on the left half and blue on the right.
pub fn halves(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    }))
}

pub fn encoded(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encodes");
    out.into_inner()
}

/// A JPEG segment: marker, big-endian length (which counts itself), payload.
pub fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![0xFF, marker];
    s.extend_from_slice(&u16::try_from(payload.len() + 2).expect("small").to_be_bytes());
    s.extend_from_slice(payload);
    s
}

/// EXIF as a phone writes it: orientation 6 (turn 90° clockwise to view)
/// and a GPS position, 52° 31' 12.34" N.
pub fn exif_with_gps_and_rotation() -> Vec<u8> {
    let mut tiff: Vec<u8> = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    let entry = |tiff: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&kind.to_le_bytes());
        tiff.extend_from_slice(&count.to_le_bytes());
        tiff.extend_from_slice(&value);
    };
    // IFD0 at 8: two entries (2 + 2 × 12 + 4 = 30 bytes), the GPS IFD at 38.
    tiff.extend_from_slice(&2u16.to_le_bytes());
    entry(&mut tiff, 0x0112, 3, 1, [6, 0, 0, 0]);
    entry(&mut tiff, 0x8825, 4, 1, 38u32.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    // GPS IFD at 38: latitude reference and latitude (three rationals at 68).
    tiff.extend_from_slice(&2u16.to_le_bytes());
    entry(&mut tiff, 0x0001, 2, 2, *b"N\0\0\0");
    entry(&mut tiff, 0x0002, 5, 3, 68u32.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    for (num, den) in [(52u32, 1u32), (31, 1), (1234, 100)] {
        tiff.extend_from_slice(&num.to_le_bytes());
        tiff.extend_from_slice(&den.to_le_bytes());
    }
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    segment(0xE1, &payload)
}

/// A photo as a phone sends it: stored sideways with an orientation tag,
/// a GPS position, an XMP packet naming a place, and bytes after its end.
pub fn phone_photo() -> Vec<u8> {
    let plain = encoded(&halves(40, 20), ImageFormat::Jpeg);
    let mut photo = plain[..2].to_vec();
    photo.extend(exif_with_gps_and_rotation());
    photo.extend(segment(
        0xE1,
        b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>Home: 12 Secret Street</x:xmpmeta>",
    ));
    photo.extend_from_slice(&plain[2..]);
    photo.extend_from_slice(b"TRAILING-SECRET: the uncropped screenshot");
    photo
}

pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid small PNG whose header then claims `width` × `height`, with a
/// correct checksum: the 469-byte-bomb shape.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = encoded(&halves(4, 4), ImageFormat::Png);
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// A GIF of `frames` one-pixel frames on a `side` × `side` canvas.
pub fn gif_frames(side: u16, frames: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let palette = [0u8, 0, 0, 255, 255, 255];
        let mut encoder = gif::Encoder::new(&mut out, side, side, &palette).expect("encoder");
        encoder.set_repeat(gif::Repeat::Infinite).expect("repeat");
        for i in 0..frames {
            let mut frame = gif::Frame {
                width: 1,
                height: 1,
                buffer: std::borrow::Cow::Owned(vec![u8::from(i % 2 == 1)]),
                ..gif::Frame::default()
            };
            frame.delay = 10;
            encoder.write_frame(&frame).expect("frame");
        }
    }
    out
}

/// An SVG that runs script when opened as a page.
pub const SVG_WITH_SCRIPT: &[u8] =
    b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"><script>alert(document.cookie)</script></svg>";

/// An HTML page (to be uploaded under an image's name).
pub const HTML_PAGE: &[u8] = b"<!doctype html><html><script>alert(document.cookie)</script></html>";
