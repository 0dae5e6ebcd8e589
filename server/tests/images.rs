//! The image cleaner against crafted files (see `common::crafted`): GPS and
//! rotation, polyglots, HTML and SVG, bombs, long animations, truncation.
#![allow(clippy::unwrap_used)]

mod common;

use common::crafted::*;
use image::{GenericImageView, ImageFormat};
use server::files::images::{Cleaned, ImageLimits, ImageRefusal, clean};
use server::files::kind::{Kind, sniff};

fn clean_bytes(bytes: &[u8]) -> Result<Cleaned, ImageRefusal> {
    let file = file_with(bytes);
    clean(file.path(), sniff(bytes), &ImageLimits::default())
}

#[test]
fn a_phone_photo_loses_its_gps_exif_xmp_and_trailer_and_is_turned_upright() {
    let photo = phone_photo();
    assert!(contains(&photo, b"Exif") && contains(&photo, b"Secret Street") && contains(&photo, b"TRAILING"));
    // The crafted photo is a real JPEG with real EXIF: the decoder reads its orientation.
    let original = image::load_from_memory(&photo).expect("the crafted photo decodes");
    assert_eq!(original.dimensions(), (40, 20), "stored sideways");

    let cleaned = clean_bytes(&photo).expect("a photo is accepted");
    assert_eq!(cleaned.kind, Kind::Jpeg);
    assert_eq!((cleaned.width, cleaned.height), (20, 40), "upright after orientation 6");
    for secret in [
        &b"Exif"[..],
        b"xmpmeta",
        b"Secret Street",
        b"TRAILING",
        b"http://ns.adobe.com",
    ] {
        assert!(
            !contains(&cleaned.bytes, secret),
            "{:?} left the server",
            String::from_utf8_lossy(secret)
        );
    }
    let upright = image::load_from_memory(&cleaned.bytes)
        .expect("the result decodes")
        .to_rgb8();
    assert_eq!(upright.dimensions(), (20, 40));
    // Turned clockwise, the left (red) half is now on top.
    let top = upright.get_pixel(10, 5);
    let bottom = upright.get_pixel(10, 35);
    assert!(top[0] > 200 && top[2] < 60, "top is red: {top:?}");
    assert!(bottom[2] > 200 && bottom[0] < 60, "bottom is blue: {bottom:?}");
    assert!(cleaned.preview.is_none(), "a small image is its own preview");
}

#[test]
fn a_png_with_html_after_its_end_comes_out_as_just_the_png() {
    let mut polyglot = encoded(&halves(8, 8), ImageFormat::Png);
    polyglot.extend_from_slice(b"<html><script>alert(document.cookie)</script></html>");
    let cleaned = clean_bytes(&polyglot).expect("the image part is accepted");
    assert_eq!(cleaned.kind, Kind::Png);
    assert!(!contains(&cleaned.bytes, b"<script>"));
    assert_eq!(
        image::load_from_memory(&cleaned.bytes).expect("decodes").dimensions(),
        (8, 8)
    );
}

#[test]
fn html_or_svg_named_like_an_image_is_not_an_image() {
    for bytes in [
        &b"<!doctype html><html><script>alert(1)</script></html>"[..],
        b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"><script>alert(2)</script></svg>",
    ] {
        let kind = sniff(bytes);
        assert!(!kind.is_image(), "{kind:?}");
        assert!(matches!(clean_bytes(bytes), Err(ImageRefusal::Unreadable(_))));
    }
}

#[test]
fn a_header_claiming_a_huge_image_is_refused_before_decoding() {
    for (width, height) in [(50_000, 50_000), (20_000, 10), (7_000, 7_000)] {
        let bomb = png_claiming(width, height);
        assert!(bomb.len() < 200, "a small file: {} bytes", bomb.len());
        match clean_bytes(&bomb) {
            Err(ImageRefusal::TooLarge { .. }) => {}
            other => panic!("{width}×{height}: {other:?}"),
        }
    }
    let mut gif = gif_frames(1, 1);
    gif[6..10].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]); // a 65,535² canvas
    assert!(matches!(clean_bytes(&gif), Err(ImageRefusal::TooLarge { .. })));
}

#[test]
fn an_animation_is_capped_on_frames_times_pixels() {
    // 1,000 × 1,000 × 101 frames: over the 100 M limit, in under a kilobyte a frame.
    let long = gif_frames(1000, 101);
    assert!(matches!(clean_bytes(&long), Err(ImageRefusal::TooLong(_))));

    let short = clean_bytes(&gif_frames(100, 12)).expect("a short animation is accepted");
    assert!(short.animated);
    assert_eq!((short.width, short.height), (100, 100));
    let preview = short.preview.expect("an animation gets a still preview");
    let still = image::load_from_memory(&preview.bytes).expect("the preview decodes");
    assert_eq!(still.dimensions(), (100, 100));
    assert!(image::guess_format(&preview.bytes).is_ok_and(|f| f != ImageFormat::Gif));
    // Every frame is kept.
    let decoder = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(&short.bytes)).expect("decodes");
    let frames = image::AnimationDecoder::into_frames(decoder).count();
    assert_eq!(frames, 12);
}

#[test]
fn truncated_images_are_refused_or_cleaned_never_a_crash() {
    let png = encoded(&halves(64, 64), ImageFormat::Png);
    let cut = &png[..png.len() / 2];
    assert!(matches!(clean_bytes(cut), Err(ImageRefusal::Unreadable(_))));
    // A cut JPEG may decode to a partly grey picture; either way it is
    // written anew or refused.
    let jpeg = encoded(&halves(64, 64), ImageFormat::Jpeg);
    for len in [4, 30, jpeg.len() / 2] {
        if let Ok(cleaned) = clean_bytes(&jpeg[..len]) {
            image::load_from_memory(&cleaned.bytes).expect("what is kept decodes");
        }
    }
}

#[test]
fn large_photos_get_a_preview_at_most_960_a_side() {
    let cleaned = clean_bytes(&encoded(&halves(2000, 1000), ImageFormat::Jpeg)).expect("accepted");
    assert_eq!((cleaned.width, cleaned.height), (2000, 1000));
    let preview = cleaned.preview.expect("a preview");
    assert_eq!(preview.kind, Kind::Jpeg);
    let small = image::load_from_memory(&preview.bytes).expect("decodes");
    assert_eq!(small.dimensions(), (960, 480));
}
