//! Messages for words ringlb does not take: a HAProxy keyword not supported yet, a keyword
//! HAProxy removed, or a typo with the closest known word.

use super::keywords::REMOVED;

/// `; did you mean 'X' maybe ?` (HAProxy's wording) when a candidate is close to `word`.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates)
        .map(|c| format!("; did you mean '{c}' maybe ?"))
        .unwrap_or_default()
}

/// The candidate nearest to `word` in edit distance, if near enough to be a typo of it.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if word.is_empty() {
        return None;
    }
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        // A third of the word may be wrong: `timout`, `tcpka_`, `defualt_backend`.
        .filter(|(d, c)| *d <= 3 && d * 3 <= word.len().max(c.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// HAProxy's own message for a keyword removed in 2.1 (`reqadd`, `rspdel`, `block`, …).
pub fn removed(keyword: &str) -> Option<String> {
    REMOVED
        .iter()
        .find(|(k, _)| *k == keyword)
        .map(|(k, hint)| {
            let space = if hint.is_empty() { "" } else { " " };
            format!("The '{k}' directive is not supported anymore since HAProxy 2.1.{space}{hint}")
        })
}

/// The message for a HAProxy keyword ringlb does not support yet.
pub fn not_yet(word: &str) -> String {
    format!("'{word}' is a HAProxy keyword that ringlb does not support yet")
}

/// The message for `word`, which ringlb does not take: a HAProxy keyword (in `known`) not
/// supported yet, or `unknown` with the nearest of `supported` and `known`; without a near
/// one, `supported` is listed when `list` says so.
pub fn unsupported(
    word: &str,
    unknown: &str,
    supported: &[&str],
    known: &[&str],
    list: bool,
) -> String {
    if known.contains(&word) {
        return not_yet(word);
    }
    let hint = did_you_mean(word, supported.iter().chain(known).copied());
    if hint.is_empty() && list {
        format!("{unknown} (supported: {})", supported.join(", "))
    } else {
        format!("{unknown}{hint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_nearest_word() {
        let words = ["timeout", "timeouts", "mode", "maxconn"];
        assert_eq!(closest("timout", words), Some("timeout"));
        assert_eq!(closest("mdoe", words), Some("mode"));
        assert_eq!(closest("frobnicate", words), None);
        assert_eq!(closest("", words), None);
        assert_eq!(
            did_you_mean("maxcon", words),
            "; did you mean 'maxconn' maybe ?"
        );
    }

    #[test]
    fn removed_keywords_get_haproxys_message() {
        assert_eq!(
            removed("reqadd").unwrap(),
            "The 'reqadd' directive is not supported anymore since HAProxy 2.1. Use 'http-request add-header' instead."
        );
        assert!(removed("block").unwrap().contains("'http-request deny'"));
        assert!(removed("rsprep")
            .unwrap()
            .contains("'http-response replace-header'"));
        assert!(removed("reqpass").unwrap().ends_with("since HAProxy 2.1."));
        assert!(removed("mode").is_none());
    }

    #[test]
    fn known_and_unknown_words() {
        let m = unsupported(
            "capture",
            "unknown keyword 'capture'",
            &["mode"],
            &["capture"],
            true,
        );
        assert_eq!(
            m,
            "'capture' is a HAProxy keyword that ringlb does not support yet"
        );
        let m = unsupported(
            "mdoe",
            "unknown keyword 'mdoe'",
            &["mode"],
            &["capture"],
            true,
        );
        assert_eq!(m, "unknown keyword 'mdoe'; did you mean 'mode' maybe ?");
        let m = unsupported("zzz", "unknown option 'zzz'", &["mode", "log"], &[], true);
        assert_eq!(m, "unknown option 'zzz' (supported: mode, log)");
    }
}
