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
