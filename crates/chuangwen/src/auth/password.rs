//! Password hashing with Argon2id (the RustCrypto `argon2` crate's default
//! parameters: 19 MiB, 2 passes, 1 lane — OWASP's recommended minimum).
//! Both functions are CPU-heavy: call them from `spawn_blocking`.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Hashes a password into a PHC string (`$argon2id$v=19$…`).
pub fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system's random source is available");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt length");
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 with default parameters").to_string()
}

/// True when `password` matches the stored hash.
pub fn verify(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// The password policy (等保 2.0 身份鉴别: complexity): at least 8
/// characters, at least three of upper-case, lower-case, digits and other
/// characters, and not the username. The message says what is missing.
pub fn check_policy(password: &str, username: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < 8 {
        return Err(format!("密码至少 8 位（现在 {length} 位）"));
    }
    if length > 128 {
        return Err("密码不能超过 128 位".into());
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|present| **present).count() < 3 {
        return Err("密码须包含大写字母、小写字母、数字、符号中的至少三类".into());
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Err("密码不能包含用户名".into());
    }
    Ok(())
}

/// A random password of `len` characters with upper- and lower-case letters,
/// digits and a symbol — three of four classes, as the policy asks.
pub fn generate(len: usize) -> String {
    // No 0/O, 1/l/I: people copy these from a terminal.
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const DIGITS: &[u8] = b"23456789";
    const SYMBOLS: &[u8] = b"-_.@#";
    let len = len.max(8);
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    let all: Vec<u8> = [UPPER, LOWER, DIGITS].concat();
    let mut out: Vec<u8> = bytes.iter().map(|b| all[*b as usize % all.len()]).collect();
    out[0] = UPPER[bytes[0] as usize % UPPER.len()];
    out[1] = LOWER[bytes[1] as usize % LOWER.len()];
    out[2] = DIGITS[bytes[2] as usize % DIGITS.len()];
    out[len - 1] = SYMBOLS[bytes[len - 1] as usize % SYMBOLS.len()];
    String::from_utf8(out).expect("ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_nothing_else() {
        let h = hash("Chuangwen-2026");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(&h, "Chuangwen-2026"));
        assert!(!verify(&h, "chuangwen-2026"));
        assert!(!verify("not a hash", "Chuangwen-2026"));
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_their_salt() {
        assert_ne!(hash("same"), hash("same"));
    }

    #[test]
    fn the_policy_asks_for_eight_characters_of_three_classes() {
        assert!(check_policy("Abcdef12", "zhang").is_ok());
        assert!(check_policy("abcdef1!", "zhang").is_ok(), "lower, digit, symbol");
        assert!(check_policy("Abc12!", "zhang").unwrap_err().contains("至少 8 位"));
        assert!(check_policy("abcdefgh12", "zhang").unwrap_err().contains("三类"));
        assert!(check_policy("Zhang-2026x", "zhang").unwrap_err().contains("用户名"));
        assert!(check_policy(&"Aa1!".repeat(40), "zhang").is_err());
    }

    #[test]
    fn generated_passwords_pass_the_policy() {
        for _ in 0..50 {
            assert_eq!(check_policy(&generate(12), "office01"), Ok(()));
        }
    }

    #[test]
    fn generated_passwords_mix_character_classes() {
        for _ in 0..50 {
            let p = generate(12);
            assert_eq!(p.len(), 12);
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
        }
    }
}
