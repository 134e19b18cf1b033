//! Enrollment secrets and machine credentials: random tokens with a prefix
//! that says what they are. The database keeps only their SHA-256: a copy
//! of it lets nobody in.

use sha2::{Digest, Sha256};

/// A new token: `prefix` then 32 random bytes in hex.
pub fn new_token(prefix: &str) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let mut token = String::with_capacity(prefix.len() + 64);
    token.push_str(prefix);
    for byte in bytes {
        token.push_str(&format!("{byte:02x}"));
    }
    Ok(token)
}

/// What the database keeps of a token.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_kept_as_digests() {
        let (a, b) = (new_token("dwe_").unwrap(), new_token("dwe_").unwrap());
        assert!(a.starts_with("dwe_") && a.len() == 4 + 64);
        assert_ne!(a, b);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(digest(&a).len(), 32);
    }
}
