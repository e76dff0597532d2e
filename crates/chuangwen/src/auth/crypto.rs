//! Personal information (phone numbers, ID-card numbers) at rest: encrypted
//! with AES-256-GCM or SM4-GCM (GB/T 32907), findable by an exact-match keyed
//! hash (HMAC-SHA256), shown masked. Keys and their rotation: docs/SECURITY.md.
//!
//! A stored value names its cipher and key: `a:k1:<base64 nonce‖ciphertext>`
//! (`a` AES-256-GCM, `s` SM4-GCM), so a value written under a retired key
//! still reads while `chuangwen pi rotate` re-encrypts it.

use std::path::Path;

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, AesGcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::{Secret, Security};

type Sm4Gcm = AesGcm<sm4::Sm4, U12>;

/// Which cipher encrypts new values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    /// AES-256-GCM: 32-byte keys.
    Aes256Gcm,
    /// SM4-GCM: 16-byte keys.
    Sm4Gcm,
}

impl Cipher {
    fn tag(self) -> &'static str {
        match self {
            Cipher::Aes256Gcm => "a",
            Cipher::Sm4Gcm => "s",
        }
    }
    fn from_tag(tag: &str) -> Option<Cipher> {
        match tag {
            "a" => Some(Cipher::Aes256Gcm),
            "s" => Some(Cipher::Sm4Gcm),
            _ => None,
        }
    }
    fn key_len(self) -> usize {
        match self {
            Cipher::Aes256Gcm => 32,
            Cipher::Sm4Gcm => 16,
        }
    }
}

/// A problem with keys or stored values.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// A configured key is malformed (the key itself is never shown).
    #[error("个人信息密钥 {0} 格式有误：应为 “编号:Base64”，AES-256-GCM 32 字节，SM4-GCM 16 字节")]
    BadKey(String),
    /// A stored value names a key that is not configured.
    #[error("找不到密钥 {0}：请在 security.pi_old_keys 中保留旧密钥")]
    UnknownKey(String),
    /// A stored value does not decrypt (wrong key, or altered).
    #[error("个人信息无法解密：数据被改动或密钥不符")]
    Undecryptable,
}

#[derive(Clone)]
struct Key {
    id: String,
    bytes: Vec<u8>,
}

impl Key {
    fn parse(secret: &Secret) -> Result<Key, CryptoError> {
        let (id, b64) = secret.expose().split_once(':').ok_or_else(|| CryptoError::BadKey("(未命名)".into()))?;
        let id = id.trim();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(CryptoError::BadKey("(编号只能含字母、数字、- 和 _)".into()));
        }
        let bytes = BASE64.decode(b64.trim()).map_err(|_| CryptoError::BadKey(id.to_string()))?;
        Ok(Key { id: id.to_string(), bytes })
    }
}

/// Encrypts, decrypts, indexes and masks personal information.
#[derive(Clone)]
pub struct PiCrypto {
    cipher: Cipher,
    current: Key,
    old: Vec<Key>,
    index_key: Vec<u8>,
}

impl std::fmt::Debug for PiCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiCrypto")
            .field("cipher", &self.cipher)
            .field("key_id", &self.current.id)
            .finish_non_exhaustive()
    }
}

/// Keys generated on first start when none are configured.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    pi_key: String,
    pi_index_key: String,
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes
}

impl PiCrypto {
    /// Builds from configured keys; where none are configured, keys are read
    /// from (or generated into) `<data_dir>/secrets/pi-keys.toml`, readable by
    /// the owner only.
    pub fn from_config(security: &Security, data_dir: &Path) -> Result<PiCrypto, String> {
        let cipher = if security.pi_cipher == "sm4-gcm" { Cipher::Sm4Gcm } else { Cipher::Aes256Gcm };
        let (pi_key, index_key) = match (&security.pi_key, &security.pi_index_key) {
            (Some(key), Some(index)) => (key.clone(), index.clone()),
            (Some(_), None) | (None, Some(_)) => {
                return Err("security.pi_key 与 security.pi_index_key 须同时配置 (set both keys or neither)".into());
            }
            (None, None) => {
                let file = data_dir.join("secrets").join("pi-keys.toml");
                let keys = load_or_create_key_file(&file, cipher)?;
                tracing::warn!(file = %file.display(), "personal-information keys are kept in a file: configure CHUANGWEN_PI_KEY in production");
                (Secret::new(keys.pi_key), Secret::new(keys.pi_index_key))
            }
        };
        PiCrypto::new(cipher, &pi_key, &security.pi_old_keys, &index_key).map_err(|e| e.to_string())
    }

    /// Builds from keys.
    pub fn new(cipher: Cipher, current: &Secret, old: &[Secret], index_key: &Secret) -> Result<PiCrypto, CryptoError> {
        let current = Key::parse(current)?;
        if current.bytes.len() != cipher.key_len() {
            return Err(CryptoError::BadKey(current.id));
        }
        let old = old.iter().map(Key::parse).collect::<Result<Vec<_>, _>>()?;
        let index_key =
            BASE64.decode(index_key.expose().trim()).map_err(|_| CryptoError::BadKey("pi_index_key".into()))?;
        if index_key.len() < 32 {
            return Err(CryptoError::BadKey("pi_index_key".into()));
        }
        Ok(PiCrypto { cipher, current, old, index_key })
    }

    /// Fixed keys for tests.
    pub fn for_tests() -> PiCrypto {
        let key = Secret::new(format!("t1:{}", BASE64.encode([7u8; 32])));
        let index = Secret::new(BASE64.encode([9u8; 32]));
        PiCrypto::new(Cipher::Aes256Gcm, &key, &[], &index).expect("test keys")
    }

    /// A fresh key in the configured format, for `chuangwen pi new-key`.
    pub fn generate_key(cipher: Cipher, id: &str) -> String {
        format!("{id}:{}", BASE64.encode(random_bytes(cipher.key_len())))
    }

    /// Encrypts under the current key.
    pub fn encrypt(&self, plain: &str) -> String {
        let nonce_bytes = random_bytes(12);
        let nonce = Nonce::<U12>::try_from(nonce_bytes.as_slice()).expect("12 bytes");
        let ciphertext = match self.cipher {
            Cipher::Aes256Gcm => Aes256Gcm::new_from_slice(&self.current.bytes)
                .expect("key length checked")
                .encrypt(&nonce, plain.as_bytes()),
            Cipher::Sm4Gcm => Sm4Gcm::new_from_slice(&self.current.bytes)
                .expect("key length checked")
                .encrypt(&nonce, plain.as_bytes()),
        }
        .expect("short values encrypt");
        let mut out = nonce_bytes;
        out.extend(ciphertext);
        format!("{}:{}:{}", self.cipher.tag(), self.current.id, BASE64.encode(out))
    }

    /// Decrypts a stored value under whichever key it names.
    pub fn decrypt(&self, stored: &str) -> Result<String, CryptoError> {
        let mut parts = stored.splitn(3, ':');
        let (Some(tag), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CryptoError::Undecryptable);
        };
        let cipher = Cipher::from_tag(tag).ok_or(CryptoError::Undecryptable)?;
        let key = std::iter::once(&self.current)
            .chain(&self.old)
            .find(|k| k.id == id)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_string()))?;
        let bytes = BASE64.decode(b64).map_err(|_| CryptoError::Undecryptable)?;
        if bytes.len() < 12 + 16 || key.bytes.len() != cipher.key_len() {
            return Err(CryptoError::Undecryptable);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce = Nonce::<U12>::try_from(nonce).map_err(|_| CryptoError::Undecryptable)?;
        let plain = match cipher {
            Cipher::Aes256Gcm => Aes256Gcm::new_from_slice(&key.bytes)
                .map_err(|_| CryptoError::Undecryptable)?
                .decrypt(&nonce, ciphertext),
            Cipher::Sm4Gcm => {
                Sm4Gcm::new_from_slice(&key.bytes).map_err(|_| CryptoError::Undecryptable)?.decrypt(&nonce, ciphertext)
            }
        }
        .map_err(|_| CryptoError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Undecryptable)
    }

    /// True when a stored value is not under the current key and cipher.
    pub fn needs_rotation(&self, stored: &str) -> bool {
        !stored.starts_with(&format!("{}:{}:", self.cipher.tag(), self.current.id))
    }

    /// The exact-match search key of a value (HMAC-SHA256 over its normal form).
    pub fn index(&self, plain: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.index_key).expect("HMAC takes any key length");
        mac.update(normalize(plain).as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn load_or_create_key_file(file: &Path, cipher: Cipher) -> Result<KeyFile, String> {
    if file.exists() {
        let text = std::fs::read_to_string(file).map_err(|e| format!("无法读取密钥文件 {}：{e}", file.display()))?;
        return toml::from_str(&text).map_err(|_| format!("密钥文件 {} 格式有误", file.display()));
    }
    let keys = KeyFile { pi_key: PiCrypto::generate_key(cipher, "k1"), pi_index_key: BASE64.encode(random_bytes(32)) };
    let dir = file.parent().expect("a file in a folder");
    std::fs::create_dir_all(dir).map_err(|e| format!("无法创建密钥目录 {}：{e}", dir.display()))?;
    let text = toml::to_string(&keys).expect("keys serialise");
    write_private(file, &text).map_err(|e| format!("无法写入密钥文件 {}：{e}", file.display()))?;
    Ok(keys)
}

#[cfg(unix)]
fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(file, text)
}

/// The form a value is indexed in: no spaces or dashes, upper-case letters
/// (an ID card's check digit `x` is `X`).
pub fn normalize(value: &str) -> String {
    value.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_uppercase).collect()
}

/// A phone number as people may see it: `138****1234`.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = normalize(phone).chars().collect();
    if digits.len() < 7 {
        return "*".repeat(digits.len());
    }
    let keep_end = 4;
    let keep_start = 3;
    let hidden = digits.len() - keep_start - keep_end;
    format!(
        "{}{}{}",
        digits[..keep_start].iter().collect::<String>(),
        "*".repeat(hidden),
        digits[digits.len() - keep_end..].iter().collect::<String>()
    )
}

/// An ID-card number as people may see it: `1201**********123X`.
pub fn mask_id_card(id: &str) -> String {
    let chars: Vec<char> = normalize(id).chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    format!(
        "{}{}{}",
        chars[..4].iter().collect::<String>(),
        "*".repeat(chars.len() - 8),
        chars[chars.len() - 4..].iter().collect::<String>()
    )
}

/// Checks a mainland mobile number: 11 digits starting with 1.
pub fn valid_mobile(phone: &str) -> bool {
    let n = normalize(phone);
    n.len() == 11 && n.starts_with('1') && n.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phone_number_round_trips_and_is_not_stored_in_clear() {
        let crypto = PiCrypto::for_tests();
        let stored = crypto.encrypt("13812341234");
        assert!(stored.starts_with("a:t1:"));
        assert!(!stored.contains("13812341234"));
        assert_eq!(crypto.decrypt(&stored).unwrap(), "13812341234");
        assert_ne!(crypto.encrypt("13812341234"), stored, "a fresh nonce every time");
    }

    #[test]
    fn sm4_gcm_works_with_a_16_byte_key_and_refuses_a_32_byte_one() {
        let index = Secret::new(BASE64.encode([1u8; 32]));
        let sm4 = PiCrypto::new(Cipher::Sm4Gcm, &Secret::new(format!("g1:{}", BASE64.encode([3u8; 16]))), &[], &index)
            .unwrap();
        let stored = sm4.encrypt("120101199001011234");
        assert!(stored.starts_with("s:g1:"));
        assert_eq!(sm4.decrypt(&stored).unwrap(), "120101199001011234");
        let err = PiCrypto::new(Cipher::Sm4Gcm, &Secret::new(format!("g1:{}", BASE64.encode([3u8; 32]))), &[], &index);
        assert!(matches!(err, Err(CryptoError::BadKey(_))));
    }

    #[test]
    fn an_altered_value_does_not_decrypt() {
        let crypto = PiCrypto::for_tests();
        let mut stored = crypto.encrypt("13812341234").into_bytes();
        let last = stored.len() - 3;
        stored[last] = if stored[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(crypto.decrypt(&String::from_utf8(stored).unwrap()), Err(CryptoError::Undecryptable));
    }

    #[test]
    fn after_rotation_old_values_still_read_and_are_flagged_for_re_encryption() {
        let old = PiCrypto::for_tests();
        let stored = old.encrypt("13900001111");
        let index = Secret::new(BASE64.encode([9u8; 32]));
        let retired = Secret::new(format!("t1:{}", BASE64.encode([7u8; 32])));
        let new = PiCrypto::new(
            Cipher::Aes256Gcm,
            &Secret::new(format!("t2:{}", BASE64.encode([8u8; 32]))),
            &[retired],
            &index,
        )
        .unwrap();
        assert_eq!(new.decrypt(&stored).unwrap(), "13900001111");
        assert!(new.needs_rotation(&stored));
        assert!(!new.needs_rotation(&new.encrypt("13900001111")));
        let without_old =
            PiCrypto::new(Cipher::Aes256Gcm, &Secret::new(format!("t2:{}", BASE64.encode([8u8; 32]))), &[], &index)
                .unwrap();
        assert_eq!(without_old.decrypt(&stored), Err(CryptoError::UnknownKey("t1".into())));
        assert_eq!(old.index("139 0000 1111"), new.index("13900001111"), "the index survives rotation");
    }

    #[test]
    fn masks_hide_the_middle() {
        assert_eq!(mask_phone("13812341234"), "138****1234");
        assert_eq!(mask_phone("138-1234-1234"), "138****1234");
        assert_eq!(mask_id_card("12010119900101123x"), "1201**********123X");
        assert_eq!(mask_phone("123"), "***");
    }

    #[test]
    fn mobile_numbers_are_checked() {
        assert!(valid_mobile("138 1234 1234"));
        assert!(!valid_mobile("2381234123"));
        assert!(!valid_mobile("1381234123a"));
    }

    #[test]
    fn keys_never_print() {
        let crypto = PiCrypto::for_tests();
        let shown = format!("{crypto:?}");
        assert!(!shown.contains(&BASE64.encode([7u8; 32])));
    }
}
