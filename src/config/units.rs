//! Numbers with HAProxy's units: times (`5000`, `5s`, `100us`) and plain integers.

use std::time::Duration;

/// Parses an HAProxy time: milliseconds unless a unit (`us`, `ms`, `s`, `m`, `h`, `d`) follows.
pub fn parse_time(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(format!(
            "'{text}' is not a time (expected a number with an optional unit us, ms, s, m, h or d)"
        ));
    }
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("time '{text}' is too large"))?;
    let micros_per_unit: u64 = match unit {
        "us" => 1,
        "" | "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60 * 1_000_000,
        "h" => 3_600 * 1_000_000,
        "d" => 86_400 * 1_000_000,
        other => {
            return Err(format!(
                "unexpected unit '{other}' in time '{text}' (expected us, ms, s, m, h or d)"
            ))
        }
    };
    let micros = value
        .checked_mul(micros_per_unit)
        .ok_or_else(|| format!("time '{text}' is too large"))?;
    // HAProxy stores times as 32-bit milliseconds; beyond that a timer would wrap.
    if micros / 1_000 > i32::MAX as u64 {
        return Err(format!(
            "time '{text}' is too large (at most 2147483647 ms)"
        ));
    }
    Ok(Duration::from_micros(micros))
}

/// Parses a non-negative integer no larger than `max`.
pub fn parse_uint(text: &str, max: u64) -> Result<u64, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{text}' is not a non-negative integer"));
    }
    match text.parse::<u64>() {
        Ok(v) if v <= max => Ok(v),
        _ => Err(format!("'{text}' is out of range (at most {max})")),
    }
}

/// An RFC 9110 §5.6.2 token character (method and header-name bytes).
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_default_to_milliseconds() {
        assert_eq!(parse_time("5000").unwrap(), Duration::from_millis(5000));
        assert_eq!(parse_time("50ms").unwrap(), Duration::from_millis(50));
        assert_eq!(parse_time("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_time("3m").unwrap(), Duration::from_secs(180));
        assert_eq!(parse_time("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_time("1d").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse_time("250us").unwrap(), Duration::from_micros(250));
    }

    #[test]
    fn bad_times_are_rejected() {
        assert!(parse_time("").is_err());
        assert!(parse_time("s").is_err());
        assert!(parse_time("10x").is_err());
        assert!(parse_time("-1").is_err());
        assert!(parse_time("100d").is_err());
        assert!(parse_time("99999999999999999999").is_err());
    }

    #[test]
    fn uints_have_bounds() {
        assert_eq!(parse_uint("256", 256).unwrap(), 256);
        assert!(parse_uint("257", 256).is_err());
        assert!(parse_uint("+1", 256).is_err());
        assert!(parse_uint("", 256).is_err());
    }
}
