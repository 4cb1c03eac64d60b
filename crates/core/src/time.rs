//! Timestamps: ISO 8601 / RFC 3339 with a zone, or epoch milliseconds, to epoch milliseconds.
//!
//! Hand-written rather than taken from `time`, `chrono` or `jiff`: it is about a hundred lines, runs
//! on every event, allocates nothing, and those crates would bring far more than this one job needs.
//! A property test checks it against its inverse, [`format_rfc3339`], over the whole range.

/// Parses `2024-11-26T08:00:00Z`, `2024-11-26T08:00:00.123+01:00`, `2024-11-26 08:00:00-0500`
/// (also `t`/`z`, any number of fraction digits, `±HH`, `±HHMM`, `±HH:MM`) to epoch milliseconds.
///
/// Returns `None` for anything else, including a date or time without a zone.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 17 {
        return None;
    }
    let year = digits(b, 0, 4)? as i64;
    let month = (b[4] == b'-').then(|| digits(b, 5, 2))??;
    let day = (b[7] == b'-').then(|| digits(b, 8, 2))??;
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let hour = digits(b, 11, 2)? as i64;
    let minute = (b[13] == b':').then(|| digits(b, 14, 2))?? as i64;
    let mut i = 16;
    let mut second = 0i64;
    let mut millis = 0i64;
    if b.get(i) == Some(&b':') {
        second = digits(b, i + 1, 2)? as i64;
        i += 3;
        if matches!(b.get(i), Some(b'.' | b',')) {
            i += 1;
            let start = i;
            let mut scale = 100;
            while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
                millis += i64::from(d - b'0') * scale;
                scale /= 10;
                i += 1;
            }
            if i == start {
                return None;
            }
        }
    }
    let offset_minutes = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') => {
            let rest = &b[i + 1..];
            let (h, m) = match rest.len() {
                2 => (digits(rest, 0, 2)?, 0),
                4 => (digits(rest, 0, 2)?, digits(rest, 2, 2)?),
                5 if rest[2] == b':' => (digits(rest, 0, 2)?, digits(rest, 3, 2)?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let off = i64::from(h * 60 + m);
            if *sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // A leap second (:60) is read as the last millisecond of its minute.
    let (second, millis) = if second == 60 {
        (59, 999)
    } else {
        (second, millis)
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(secs * 1_000 + millis)
}

/// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (years 0 to 9999).
pub fn format_rfc3339(ms: i64, out: &mut String) {
    use std::fmt::Write as _;
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1_000 % 60,
        rem % 1_000
    );
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for &c in b.get(at..at + n)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_iso8601("2024-11-26T08:00:00Z"),
            Some(1_732_608_000_000)
        );
        assert_eq!(
            parse_iso8601("2024-11-26T09:00:00.5+01:00"),
            Some(1_732_608_000_500)
        );
        assert_eq!(
            parse_iso8601("2024-11-26 03:00:00.123456-0500"),
            Some(1_732_608_000_123)
        );
        assert_eq!(parse_iso8601("2024-11-26t08:00z"), Some(1_732_608_000_000));
        assert_eq!(
            parse_iso8601("2024-02-29T00:00:00+00"),
            Some(1_709_164_800_000)
        );
    }

    #[test]
    fn rejects_what_is_not_an_instant() {
        for bad in [
            "",
            "2024-11-26",
            "2024-11-26T08:00:00",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-11-26T24:00:00Z",
            "2024-11-26T08:00:00.Z",
            "2024-11-26T08:00:00Zjunk",
            "2024-11-26T08:00:00+1:00",
            "yesterday at noon, roughly",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ms in 0i64..253_402_300_799_999) {
            let mut s = String::new();
            format_rfc3339(ms, &mut s);
            prop_assert_eq!(parse_iso8601(&s), Some(ms));
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse_iso8601(&s);
        }
    }
}
