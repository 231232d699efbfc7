//! `http_auth(LIST)` on a shard: HTTP Basic credentials verified against a `userlist`.
//!
//! A crypt(3) hash costs milliseconds of the shard's thread (HAProxy pays the same on its
//! own threads), and a client repeats one `Authorization` value on every request, so
//! verdicts are remembered per shard: a bounded FIFO keyed by a SHA-256 of the list and the
//! header (never the password itself), emptied when the configuration changes.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use sha2::{Digest, Sha256};

use crate::config::credentials::{parse_basic, password_matches};
use crate::config::Config;

/// Verdicts remembered per shard.
pub const ENTRIES: usize = 256;

/// One shard's remembered verdicts.
#[derive(Debug, Default)]
pub struct CredentialCache {
    config: Weak<Config>,
    /// (key, the user when the credentials are valid).
    entries: VecDeque<([u8; 32], Option<Box<str>>)>,
}

impl CredentialCache {
    /// Whether the `Authorization` header `value` holds valid credentials of `userlist`
    /// under `config` (of a member of one of `groups` when not empty).
    pub fn check(
        &mut self,
        config: &Arc<Config>,
        userlist: &str,
        groups: &[String],
        value: &[u8],
    ) -> bool {
        if !std::ptr::eq(self.config.as_ptr(), Arc::as_ptr(config)) {
            self.entries.clear();
            self.config = Arc::downgrade(config);
        }
        let Some(list) = config.userlists.iter().find(|u| u.name == userlist) else {
            return false;
        };
        let mut hasher = Sha256::new();
        hasher.update(userlist.as_bytes());
        hasher.update([0]);
        hasher.update(value);
        let key: [u8; 32] = hasher.finalize().into();
        let user = match self.entries.iter().find(|(k, _)| *k == key) {
            Some((_, user)) => user.clone(),
            None => {
                let user = parse_basic(value).and_then(|(user, pass)| {
                    let valid = list
                        .users
                        .iter()
                        .filter(|u| u.name == user)
                        .any(|u| password_matches(&u.password, &pass));
                    valid.then(|| user.into_boxed_str())
                });
                if self.entries.len() == ENTRIES {
                    self.entries.pop_front();
                }
                self.entries.push_back((key, user.clone()));
                user
            }
        };
        user.is_some_and(|u| groups.is_empty() || groups.iter().any(|g| list.in_group(&u, g)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn config() -> Arc<Config> {
        let text = "userlist L\n group g users alice\n user alice insecure-password pw\n user bob insecure-password pb\n";
        Arc::new(
            crate::config::load_sources(&[("t.cfg".to_string(), text.to_string())])
                .unwrap()
                .config,
        )
    }

    fn basic(creds: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(creds)
        )
        .into_bytes()
    }

    #[test]
    fn verdicts_are_remembered_until_the_configuration_changes() {
        let (first, mut cache) = (config(), CredentialCache::default());
        assert!(cache.check(&first, "L", &[], &basic("alice:pw")));
        assert!(!cache.check(&first, "L", &[], &basic("alice:nope")));
        assert!(!cache.check(&first, "nosuch", &[], &basic("alice:pw")));
        assert!(cache.check(&first, "L", &["g".into()], &basic("alice:pw")));
        assert!(!cache.check(&first, "L", &["g".into()], &basic("bob:pb")));
        assert_eq!(cache.entries.len(), 3, "one entry per list and header");
        let second = config();
        assert!(cache.check(&second, "L", &[], &basic("bob:pb")));
        assert_eq!(cache.entries.len(), 1, "a new configuration starts afresh");
        for i in 0..ENTRIES + 10 {
            cache.check(&second, "L", &[], &basic(&format!("x{i}:y")));
        }
        assert_eq!(cache.entries.len(), ENTRIES, "bounded");
    }
}
