//! Image attachments: what the sender measures and makes before sending (size, a blurhash to
//! paint at once, a small JPEG thumbnail, all inside the end-to-end message), and what a
//! receiver checks before showing any of it (a thumbnail must decode as a small image, a
//! blurhash must decode). Decoding is bounded — dimensions and memory — so a crafted file (a
//! "decompression bomb") is refused with an error instead of taking the machine's memory.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};

/// The longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;
/// The most bytes a thumbnail may take (it travels inside the message).
pub const MAX_THUMBNAIL_BYTES: usize = 64 * 1024;
/// The largest image Sotto decodes to make a preview, per side.
const MAX_SIDE: u32 = 16_384;
/// The most memory one decode may take.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
/// Blurhash components across and down (4×3 is what most apps send).
const BLURHASH_COMPONENTS: (u32, u32) = (4, 3);

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The bytes are not an image in a format Sotto reads (JPEG, PNG, GIF, WebP).
    #[error("this is not an image Sotto can show (JPEG, PNG, GIF or WebP)")]
    NotAnImage,
    /// The image is larger than Sotto decodes (per side or in memory).
    #[error("the image is too large to preview (at most {MAX_SIDE} pixels a side)")]
    TooLarge,
    /// A received thumbnail is larger than a thumbnail may be.
    #[error("the preview is larger than a preview may be")]
    ThumbnailTooLarge,
    /// A received blurhash does not decode.
    #[error("the image's placeholder is not valid")]
    Blurhash,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What travels with an image inside the message. `Debug` shows the sizes only: the thumbnail
/// and blurhash are the picture's content.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePreview {
    pub width: u32,
    pub height: u32,
    /// Painted while the thumbnail and the file load.
    pub blurhash: String,
    /// A JPEG at most [`THUMBNAIL_SIDE`] pixels a side and [`MAX_THUMBNAIL_BYTES`].
    #[serde(with = "base64_bytes")]
    pub thumbnail: Vec<u8>,
}

impl std::fmt::Debug for ImagePreview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImagePreview")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("thumbnail_bytes", &self.thumbnail.len())
            .finish_non_exhaustive()
    }
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

fn decode(reader: ImageReader<impl std::io::BufRead + std::io::Seek>) -> Result<DynamicImage, PreviewError> {
    let mut reader = reader.with_guessed_format()?;
    if !matches!(reader.format(), Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP)) {
        return Err(PreviewError::NotAnImage);
    }
    reader.limits(limits());
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => PreviewError::TooLarge,
        image::ImageError::IoError(e) => PreviewError::Io(e),
        _ => PreviewError::NotAnImage,
    })
}

/// The side of a profile picture, in pixels (a square).
pub const AVATAR_SIDE: u32 = 256;

/// A profile picture made of the image in `bytes`: its middle square, [`AVATAR_SIDE`] pixels a
/// side (smaller images stay their size), as a JPEG of at most
/// [`sotto_proto::limits::MAX_AVATAR_BYTES`].
pub fn avatar_of(bytes: &[u8]) -> Result<Vec<u8>, PreviewError> {
    let image = decode(ImageReader::new(Cursor::new(bytes)))?;
    let side = image.width().min(image.height());
    if side == 0 {
        return Err(PreviewError::NotAnImage);
    }
    let square = image.crop_imm((image.width() - side) / 2, (image.height() - side) / 2, side, side);
    let target = side.min(AVATAR_SIDE);
    let small = square.resize_exact(target, target, image::imageops::FilterType::CatmullRom).to_rgb8();
    for quality in [85, 70, 55, 40] {
        let mut jpeg = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality);
        small.write_with_encoder(encoder).map_err(|_| PreviewError::NotAnImage)?;
        if jpeg.len() <= sotto_proto::limits::MAX_AVATAR_BYTES {
            return Ok(jpeg);
        }
    }
    Err(PreviewError::ThumbnailTooLarge)
}

/// Checks a received profile picture before anything shows it: a JPEG of at most
/// [`sotto_proto::limits::MAX_AVATAR_BYTES`] and [`AVATAR_SIDE`] pixels a side.
pub fn check_avatar(bytes: &[u8]) -> Result<(), PreviewError> {
    if bytes.len() > sotto_proto::limits::MAX_AVATAR_BYTES {
        return Err(PreviewError::ThumbnailTooLarge);
    }
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    if reader.format() != Some(ImageFormat::Jpeg) {
        return Err(PreviewError::NotAnImage);
    }
    let mut limits = limits();
    limits.max_image_width = Some(AVATAR_SIDE);
    limits.max_image_height = Some(AVATAR_SIDE);
    reader.limits(limits);
    reader.decode().map(|_| ()).map_err(|e| match e {
        image::ImageError::Limits(_) => PreviewError::TooLarge,
        _ => PreviewError::NotAnImage,
    })
}

/// The preview of the image file at `path`: `Ok(None)` when it is not an image Sotto shows (it
/// is then sent as a plain file); an error when it is one but cannot be read or is too large.
pub fn of_file(path: &Path) -> Result<Option<ImagePreview>, PreviewError> {
    let reader = ImageReader::open(path)?;
    match decode(reader) {
        Ok(image) => make(&image).map(Some),
        Err(PreviewError::NotAnImage) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The preview of an image already decoded.
pub fn make(image: &DynamicImage) -> Result<ImagePreview, PreviewError> {
    let (width, height) = (image.width(), image.height());
    let thumbnail = image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).to_rgb8();
    let mut jpeg = Vec::new();
    // Quality steps down until it fits (a thumbnail of noise may not at the first).
    for quality in [80u8, 60, 40, 20] {
        jpeg.clear();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality);
        thumbnail.write_with_encoder(encoder).map_err(|_| PreviewError::NotAnImage)?;
        if jpeg.len() <= MAX_THUMBNAIL_BYTES {
            break;
        }
    }
    if jpeg.len() > MAX_THUMBNAIL_BYTES {
        return Err(PreviewError::ThumbnailTooLarge);
    }
    // The blurhash only needs the colours' layout: computed on a small copy.
    let small = image.thumbnail(32, 32).to_rgba8();
    let blurhash =
        blurhash::encode(BLURHASH_COMPONENTS.0, BLURHASH_COMPONENTS.1, small.width(), small.height(), small.as_raw())
            .map_err(|_| PreviewError::Blurhash)?;
    Ok(ImagePreview { width, height, blurhash, thumbnail: jpeg })
}

/// Checks a received preview before anything shows it: the thumbnail decodes as a JPEG, PNG,
/// GIF or WebP of at most [`THUMBNAIL_SIDE`] pixels a side and [`MAX_THUMBNAIL_BYTES`], the
/// blurhash decodes, and the announced size is plausible.
pub fn check(preview: &ImagePreview) -> Result<(), PreviewError> {
    if preview.thumbnail.len() > MAX_THUMBNAIL_BYTES {
        return Err(PreviewError::ThumbnailTooLarge);
    }
    if preview.width == 0 || preview.height == 0 || preview.width > MAX_SIDE * 4 || preview.height > MAX_SIDE * 4 {
        return Err(PreviewError::TooLarge);
    }
    let image = decode(ImageReader::new(Cursor::new(preview.thumbnail.as_slice())))?;
    if image.width() > THUMBNAIL_SIDE || image.height() > THUMBNAIL_SIDE {
        return Err(PreviewError::ThumbnailTooLarge);
    }
    blurhash::decode(&preview.blurhash, 8, 8, 1.0).map_err(|_| PreviewError::Blurhash)?;
    Ok(())
}

/// Bytes as standard base64 in JSON.
mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn picture(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
        }))
    }

    #[test]
    fn a_profile_picture_is_the_middle_square_as_a_small_jpeg() {
        let mut png = Vec::new();
        picture(1200, 800).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
        let avatar = avatar_of(&png).unwrap();
        let decoded = image::load_from_memory(&avatar).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (AVATAR_SIDE, AVATAR_SIDE));
        assert!(avatar.len() <= sotto_proto::limits::MAX_AVATAR_BYTES);
        check_avatar(&avatar).unwrap();
        // A small picture stays its size.
        let mut small = Vec::new();
        picture(40, 60).write_to(&mut Cursor::new(&mut small), ImageFormat::Png).unwrap();
        let decoded = image::load_from_memory(&avatar_of(&small).unwrap()).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (40, 40));
        // What a receiver refuses: not an image, not a JPEG, too large a side.
        assert!(matches!(avatar_of(b"hello"), Err(PreviewError::NotAnImage)));
        assert!(matches!(check_avatar(&png), Err(PreviewError::NotAnImage)));
        let mut big = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut big, 30);
        picture(600, 600).to_rgb8().write_with_encoder(encoder).unwrap();
        assert!(matches!(check_avatar(&big), Err(PreviewError::TooLarge)));
    }

    fn png_file(dir: &Path, image: &DynamicImage) -> std::path::PathBuf {
        let path = dir.join("photo.png");
        image.save_with_format(&path, ImageFormat::Png).unwrap();
        path
    }

    #[test]
    fn a_photo_gets_its_size_a_small_thumbnail_and_a_blurhash() {
        let dir = tempfile::tempdir().unwrap();
        let preview = of_file(&png_file(dir.path(), &picture(1200, 800))).unwrap().unwrap();
        assert_eq!((preview.width, preview.height), (1200, 800));
        let thumbnail = image::load_from_memory(&preview.thumbnail).unwrap();
        assert_eq!((thumbnail.width(), thumbnail.height()), (THUMBNAIL_SIDE, 213));
        assert!(preview.thumbnail.len() <= MAX_THUMBNAIL_BYTES);
        assert!(!preview.blurhash.is_empty());
        check(&preview).unwrap();
        let shown = format!("{preview:?}");
        assert!(!shown.contains(&preview.blurhash) && !shown.contains('['), "no content in Debug: {shown}");
        // It survives the message's JSON.
        let json = serde_json::to_string(&preview).unwrap();
        assert_eq!(serde_json::from_str::<ImagePreview>(&json).unwrap(), preview);
    }

    #[test]
    fn other_files_have_no_preview_and_bad_previews_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "not a picture at all, just some words").unwrap();
        assert_eq!(of_file(&text).unwrap(), None);

        let good = make(&picture(40, 30)).unwrap();
        let not_an_image = ImagePreview { thumbnail: b"<script>alert(1)</script>".to_vec(), ..good.clone() };
        assert!(matches!(check(&not_an_image), Err(PreviewError::NotAnImage)));
        let mut big = Vec::new();
        picture(THUMBNAIL_SIDE + 1, 10).write_to(&mut Cursor::new(&mut big), ImageFormat::Png).unwrap();
        assert!(matches!(
            check(&ImagePreview { thumbnail: big, ..good.clone() }),
            Err(PreviewError::ThumbnailTooLarge)
        ));
        let bloated = ImagePreview { thumbnail: vec![0; MAX_THUMBNAIL_BYTES + 1], ..good.clone() };
        assert!(matches!(check(&bloated), Err(PreviewError::ThumbnailTooLarge)));
        let bad_hash = ImagePreview { blurhash: "~".into(), ..good.clone() };
        assert!(matches!(check(&bad_hash), Err(PreviewError::Blurhash)));
        assert!(matches!(check(&ImagePreview { width: 0, ..good }), Err(PreviewError::TooLarge)));
    }

    #[test]
    fn an_image_claiming_huge_dimensions_is_refused_without_decoding_it() {
        // A valid PNG header for a 100,000 × 100,000 image, and no pixels: decoding it would
        // want 30 GB. Refused from the header, as too large.
        let mut png = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut png, 100_000, 100_000);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let writer = encoder.write_header().unwrap();
            // Dropped unfinished: only the signature and the header chunk are written.
            drop(writer);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.png");
        std::fs::write(&path, &png).unwrap();
        assert!(matches!(of_file(&path), Err(PreviewError::TooLarge)), "{:?}", of_file(&path));
    }
}
