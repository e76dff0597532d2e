//! Evidence files: what a file is, judged by its content, never its name
//! (PRODUCT.md §5: uploads checked by content).

/// A file type the office accepts as evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvidenceType {
    /// JPEG photo.
    Jpeg,
    /// PNG image.
    Png,
    /// WebP image.
    Webp,
    /// PDF document.
    Pdf,
}

impl EvidenceType {
    /// MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            EvidenceType::Jpeg => "image/jpeg",
            EvidenceType::Png => "image/png",
            EvidenceType::Webp => "image/webp",
            EvidenceType::Pdf => "application/pdf",
        }
    }
    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            EvidenceType::Jpeg => "jpg",
            EvidenceType::Png => "png",
            EvidenceType::Webp => "webp",
            EvidenceType::Pdf => "pdf",
        }
    }
    /// A photo (can prove a rectification).
    pub fn is_photo(self) -> bool {
        !matches!(self, EvidenceType::Pdf)
    }
}

/// Recognises a file by its first bytes.
pub fn sniff(bytes: &[u8]) -> Option<EvidenceType> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(EvidenceType::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(EvidenceType::Png)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(EvidenceType::Webp)
    } else if bytes.starts_with(b"%PDF-") {
        Some(EvidenceType::Pdf)
    } else {
        None
    }
}

/// Why an upload is refused, for people.
pub fn refusal(bytes: &[u8], max_bytes: usize) -> Option<String> {
    if bytes.is_empty() {
        return Some("文件是空的".into());
    }
    if bytes.len() > max_bytes {
        return Some(format!("文件过大：{:.1} MB，上限 {} MB", bytes.len() as f64 / 1048576.0, max_bytes / 1048576));
    }
    if sniff(bytes).is_none() {
        let hint = if bytes.starts_with(b"PK\x03\x04") { "（这是一个压缩包）" } else { "" };
        return Some(format!("不支持的文件类型{hint}：只接受 JPEG、PNG、WebP 照片和 PDF 文件"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_and_pdfs_are_recognised_by_content() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]), Some(EvidenceType::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(EvidenceType::Png));
        assert_eq!(sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 "), Some(EvidenceType::Webp));
        assert_eq!(sniff(b"%PDF-1.7"), Some(EvidenceType::Pdf));
    }

    #[test]
    fn a_zip_named_jpg_and_an_oversized_file_are_refused() {
        assert!(refusal(b"PK\x03\x04rest-of-a-zip", 1024).unwrap().contains("压缩包"));
        let big = [0xFF, 0xD8, 0xFF].iter().copied().chain(std::iter::repeat_n(0u8, 2048)).collect::<Vec<_>>();
        assert!(refusal(&big, 1024).unwrap().contains("过大"));
        assert!(refusal(&big, 4096).is_none());
        assert!(refusal(b"", 10).unwrap().contains("空"));
    }
}

/// What a photo says about itself: when and where it was taken.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PhotoFacts {
    /// EXIF DateTimeOriginal (Beijing time unless the photo gives an offset).
    pub taken_at: Option<chrono::DateTime<chrono::Utc>>,
    /// EXIF GPS position (cameras record WGS-84).
    pub position: Option<(f64, f64)>,
}

/// Reads EXIF time and GPS from a photo, when present; never fails.
pub fn photo_facts(bytes: &[u8]) -> PhotoFacts {
    use exif::{In, Tag, Value};
    let Ok(exif) = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(bytes)) else {
        return PhotoFacts::default();
    };
    let ascii = |tag: Tag| match exif.get_field(tag, In::PRIMARY).map(|f| &f.value) {
        Some(Value::Ascii(parts)) => parts.first().map(|p| String::from_utf8_lossy(p).trim().to_string()),
        _ => None,
    };
    let taken_at = ascii(Tag::DateTimeOriginal).and_then(|text| {
        let local = chrono::NaiveDateTime::parse_from_str(&text, "%Y:%m:%d %H:%M:%S").ok()?;
        let offset = ascii(Tag::OffsetTimeOriginal)
            .and_then(|o| {
                chrono::DateTime::parse_from_str(&format!("2000-01-01T00:00:00{o}"), "%Y-%m-%dT%H:%M:%S%:z").ok()
            })
            .map(|d| *d.offset())
            .unwrap_or_else(super::calendar::beijing);
        local.and_local_timezone(offset).single().map(|t| t.with_timezone(&chrono::Utc))
    });
    let degrees = |tag: Tag, reference: Tag, negative: u8| -> Option<f64> {
        let Value::Rational(parts) = &exif.get_field(tag, In::PRIMARY)?.value else { return None };
        if parts.len() < 3 || parts.iter().any(|r| r.denom == 0) {
            return None;
        }
        let value = parts[0].to_f64() + parts[1].to_f64() / 60.0 + parts[2].to_f64() / 3600.0;
        let sign = match &exif.get_field(reference, In::PRIMARY)?.value {
            Value::Ascii(r) if r.first().and_then(|s| s.first()) == Some(&negative) => -1.0,
            _ => 1.0,
        };
        Some(sign * value)
    };
    let position = match (
        degrees(Tag::GPSLongitude, Tag::GPSLongitudeRef, b'W'),
        degrees(Tag::GPSLatitude, Tag::GPSLatitudeRef, b'S'),
    ) {
        (Some(lon), Some(lat)) if super::geometry::valid_position(lon, lat) => Some((lon, lat)),
        _ => None,
    };
    PhotoFacts { taken_at, position }
}

/// A JPEG thumbnail no larger than `max` pixels on its long side, for
/// lists and phone screens; `None` when the photo cannot be decoded.
pub fn thumbnail(bytes: &[u8], max: u32) -> Option<Vec<u8>> {
    let image = image::load_from_memory(bytes).ok()?;
    let small = image.thumbnail(max, max).to_rgb8();
    let mut out = std::io::Cursor::new(Vec::new());
    small.write_to(&mut out, image::ImageFormat::Jpeg).ok()?;
    Some(out.into_inner())
}
