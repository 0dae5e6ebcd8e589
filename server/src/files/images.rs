//! Every uploaded image is decoded and written anew before anyone sees it:
//! what leaves the server is pixels, turned upright, and nothing else — no
//! EXIF (GPS positions, camera serials), no XMP, no comments, no bytes
//! hidden after the image's end (aCropalypse). The size an image declares is
//! checked against the limits before a single pixel is decoded, and the
//! decoder runs with an allocation limit: a small file that claims to be
//! huge is refused, not decoded.
//!
//! Everything here is blocking CPU work: [`super::Cleaner`] runs it off the
//! async runtime, a few at a time.

use super::kind::Kind;
use image::codecs::gif::GifDecoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::codecs::webp::WebPEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use std::fs::File;
use std::io::BufReader;
use std::num::NonZeroU64;
use std::path::Path;

/// What an image may be.
#[derive(Clone, Copy, Debug)]
pub struct ImageLimits {
    /// Width × height, as declared in the header.
    pub max_pixels: u64,
    /// Either side.
    pub max_side: u32,
    /// An animation's frames × the canvas's pixels: the work of rewriting
    /// it (a few frames of a huge canvas, or thousands of a small one).
    pub max_animation_pixels: u64,
    /// What one decoder may allocate at once.
    pub max_alloc: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_pixels: 40_000_000,
            max_side: 16_384,
            max_animation_pixels: 100_000_000,
            // A 40 MP photo decodes to 120 MB of RGB (160 MB with alpha).
            max_alloc: 256 * 1024 * 1024,
        }
    }
}

/// Longest side of the preview shown in the conversation.
pub const PREVIEW_SIDE: u32 = 960;

/// An image as it will be stored and served.
#[derive(Debug)]
pub struct Cleaned {
    pub kind: Kind,
    /// Upright: after the EXIF orientation is applied.
    pub width: u32,
    pub height: u32,
    pub animated: bool,
    pub bytes: Vec<u8>,
    /// A smaller (or, for an animation, still) picture for the conversation;
    /// `None` when the image itself is small and still.
    pub preview: Option<Preview>,
}

#[derive(Debug)]
pub struct Preview {
    pub kind: Kind,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageRefusal {
    #[error(
        "The image is too large ({width} × {height} pixels); the limit is {max_pixels} pixels and {max_side} pixels a side."
    )]
    TooLarge {
        width: u64,
        height: u64,
        max_pixels: u64,
        max_side: u32,
    },
    #[error("The animation is too long for its size; the limit is {0} pixels over all frames.")]
    TooLong(u64),
    #[error("The image could not be read: {0}")]
    Unreadable(String),
}

impl From<image::ImageError> for ImageRefusal {
    fn from(e: image::ImageError) -> Self {
        ImageRefusal::Unreadable(e.to_string())
    }
}

impl From<std::io::Error> for ImageRefusal {
    fn from(e: std::io::Error) -> Self {
        ImageRefusal::Unreadable(e.to_string())
    }
}

impl ImageLimits {
    fn check(&self, width: u64, height: u64) -> Result<(), ImageRefusal> {
        if width * height > self.max_pixels || width.max(height) > u64::from(self.max_side) {
            return Err(ImageRefusal::TooLarge {
                width,
                height,
                max_pixels: self.max_pixels,
                max_side: self.max_side,
            });
        }
        Ok(())
    }

    fn decoder_limits(&self) -> image::Limits {
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(self.max_side);
        limits.max_image_height = Some(self.max_side);
        limits.max_alloc = Some(self.max_alloc);
        limits
    }
}

/// Decodes the image at `path` (of `kind`, sniffed from its bytes) and
/// writes it anew. Blocking.
pub fn clean(path: &Path, kind: Kind, limits: &ImageLimits) -> Result<Cleaned, ImageRefusal> {
    match kind {
        Kind::Gif => clean_gif(path, limits),
        Kind::Jpeg | Kind::Png | Kind::Webp => clean_still(path, kind, limits),
        Kind::Other(_) => Err(ImageRefusal::Unreadable("not an image".into())),
    }
}

fn decode_upright(path: &Path, format: ImageFormat, limits: &ImageLimits) -> Result<DynamicImage, ImageRefusal> {
    let mut reader = ImageReader::with_format(BufReader::new(File::open(path)?), format);
    reader.limits(limits.decoder_limits());
    // Reads the header only; the side limits are checked here already.
    let mut decoder = reader.into_decoder().map_err(|e| refusal(e, limits))?;
    let (width, height) = decoder.dimensions();
    limits.check(width.into(), height.into())?;
    // A broken orientation tag leaves the pixels as stored, not the file refused.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| refusal(e, limits))?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// A decoder's refusal to go past a limit is the image being too large.
fn refusal(e: image::ImageError, limits: &ImageLimits) -> ImageRefusal {
    match e {
        image::ImageError::Limits(_) => ImageRefusal::TooLarge {
            width: 0,
            height: 0,
            max_pixels: limits.max_pixels,
            max_side: limits.max_side,
        },
        other => other.into(),
    }
}

fn clean_still(path: &Path, kind: Kind, limits: &ImageLimits) -> Result<Cleaned, ImageRefusal> {
    let format = match kind {
        Kind::Jpeg => ImageFormat::Jpeg,
        Kind::Png => ImageFormat::Png,
        _ => ImageFormat::WebP,
    };
    let image = decode_upright(path, format, limits)?;
    let bytes = encode(&image, kind)?;
    let preview = if image.width().max(image.height()) > PREVIEW_SIDE {
        Some(preview_of(&image)?)
    } else {
        None
    };
    Ok(Cleaned {
        kind,
        width: image.width(),
        height: image.height(),
        animated: false,
        bytes,
        preview,
    })
}

fn encode(image: &DynamicImage, kind: Kind) -> Result<Vec<u8>, ImageRefusal> {
    let mut out = Vec::new();
    match kind {
        Kind::Jpeg => {
            // JPEG has no alpha; grey stays grey.
            let encoder = JpegEncoder::new_with_quality(&mut out, 90);
            match image {
                // Written as they are: a photo is not copied again.
                DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => image.write_with_encoder(encoder)?,
                _ => DynamicImage::ImageRgb8(image.to_rgb8()).write_with_encoder(encoder)?,
            }
        }
        Kind::Png => {
            image.write_with_encoder(PngEncoder::new_with_quality(
                &mut out,
                CompressionType::Default,
                PngFilter::Adaptive,
            ))?;
        }
        Kind::Webp => {
            let encoder = WebPEncoder::new_lossless(&mut out);
            if image.color().has_alpha() {
                DynamicImage::ImageRgba8(image.to_rgba8()).write_with_encoder(encoder)?;
            } else {
                DynamicImage::ImageRgb8(image.to_rgb8()).write_with_encoder(encoder)?;
            }
        }
        Kind::Gif | Kind::Other(_) => return Err(ImageRefusal::Unreadable("cannot be written here".into())),
    }
    Ok(out)
}

/// The picture shown in the conversation: at most [`PREVIEW_SIDE`] a side,
/// a JPEG unless it needs transparency.
fn preview_of(image: &DynamicImage) -> Result<Preview, ImageRefusal> {
    let small = if image.width().max(image.height()) > PREVIEW_SIDE {
        image.thumbnail(PREVIEW_SIDE, PREVIEW_SIDE)
    } else {
        image.clone()
    };
    let kind = if small.color().has_alpha() {
        Kind::Png
    } else {
        Kind::Jpeg
    };
    Ok(Preview {
        kind,
        bytes: encode(&small, kind)?,
    })
}

/// A GIF is rewritten frame by frame as it came — same palettes, delays and
/// loop count, nothing re-quantised — minus every extension block
/// (comments, XMP, application data) and whatever trailed it. Frames are
/// never all held at once.
fn clean_gif(path: &Path, limits: &ImageLimits) -> Result<Cleaned, ImageRefusal> {
    let unreadable = |e: gif::DecodingError| ImageRefusal::Unreadable(e.to_string());
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    options.set_memory_limit(gif::MemoryLimit::Bytes(
        NonZeroU64::new(limits.max_alloc).unwrap_or(NonZeroU64::MIN),
    ));
    let mut decoder = options
        .read_info(BufReader::new(File::open(path)?))
        .map_err(unreadable)?;
    let (width, height) = (decoder.width(), decoder.height());
    let canvas = u64::from(width) * u64::from(height);
    limits.check(width.into(), height.into())?;
    let palette = decoder.global_palette().unwrap_or_default().to_vec();
    let mut bytes = Vec::new();
    let mut frames = 0u64;
    {
        let encode_error = |e: gif::EncodingError| ImageRefusal::Unreadable(e.to_string());
        let mut encoder = gif::Encoder::new(&mut bytes, width, height, &palette).map_err(encode_error)?;
        encoder.set_repeat(decoder.repeat()).map_err(encode_error)?;
        while let Some(frame) = decoder.read_next_frame().map_err(unreadable)? {
            frames += 1;
            if frames * canvas.max(1) > limits.max_animation_pixels {
                return Err(ImageRefusal::TooLong(limits.max_animation_pixels));
            }
            encoder.write_frame(frame).map_err(encode_error)?;
        }
    }
    if frames == 0 {
        return Err(ImageRefusal::Unreadable("the GIF has no frames".into()));
    }
    let animated = frames > 1;
    // The first frame, composed on the canvas, for the still preview.
    let preview = if animated || u32::from(width.max(height)) > PREVIEW_SIDE {
        let mut first = GifDecoder::new(BufReader::new(File::open(path)?))?;
        first.set_limits(limits.decoder_limits())?;
        Some(preview_of(&DynamicImage::from_decoder(first)?)?)
    } else {
        None
    };
    Ok(Cleaned {
        kind: Kind::Gif,
        width: width.into(),
        height: height.into(),
        animated,
        bytes,
        preview,
    })
}
