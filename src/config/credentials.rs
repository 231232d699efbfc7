//! HTTP Basic credentials checked against `userlist` passwords, for the stats page on the
//! control thread and for `http_auth` ACLs on the shards alike.

use base64::Engine as _;
use subtle::ConstantTimeEq;

use super::model::Password;

/// `Basic base64(user:pass)` → (user, pass); anything else is no credentials at all.
pub fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let value = value.trim_ascii();
    // RFC 9110 separates the scheme with spaces only; HAProxy refuses a tab there too.
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let token = rest.trim_ascii_start();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// The crypt(3) formats Debian's libxcrypt (HAProxy's crypt) verifies, DES and other
/// legacy ones aside; an unknown format never matches.
pub fn password_matches(stored: &Password, given: &str) -> bool {
    use sha_crypt::PasswordVerifier as _;
    let hash = match stored {
        Password::Insecure(expected) => return expected.as_bytes().ct_eq(given.as_bytes()).into(),
        Password::Hashed(hash) => hash.as_str(),
    };
    let password = given.as_bytes();
    if hash.starts_with("$6$") || hash.starts_with("$5$") {
        sha_crypt::ShaCrypt::default()
            .verify_password(password, hash)
            .is_ok()
    } else if hash.starts_with("$y$") {
        yescrypt::Yescrypt::default()
            .verify_password(password, hash)
            .is_ok()
    } else if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        bcrypt::verify(password, hash).unwrap_or(false)
    } else if let Some(rest) = hash.strip_prefix("$1$") {
        // glibc keeps at most 8 salt characters, ending at the next '$'.
        let salt = rest.split('$').next().unwrap_or("");
        let salt = &salt.as_bytes()[..salt.len().min(8)];
        md5crypt::md5crypt(password, salt)
            .ct_eq(hash.as_bytes())
            .into()
    } else {
        false
    }
}
