//! Amounts: `expand_number(3)` as rctl(8) applies it to what the user
//! types (exact integers, `k m g t p e` as powers of 1024), and
//! `humanize_number(3)` as `-h` applies it to what is printed.

/// Parse an amount as FreeBSD's `expand_number` does: an unsigned number
/// in C's base-0 syntax (decimal, `0x` hex, leading-`0` octal), then an
/// optional unit `k m g t p e` (case-insensitive, powers of 1024) and an
/// optional `b`/`B`. `None` for anything else or on overflow.
pub fn expand_number(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let (radix, start) =
        if b.len() > 2 && b[0] == b'0' && (b[1] | 0x20) == b'x' && b[2].is_ascii_hexdigit() {
            (16, 2)
        } else if b.len() > 1 && b[0] == b'0' {
            (8, 1)
        } else {
            (10, 0)
        };
    let digits_end = start
        + b[start..]
            .iter()
            .take_while(|c| (**c as char).is_digit(radix))
            .count();
    if digits_end == 0 {
        return None;
    }
    let number = if digits_end == start {
        0 // a lone "0" read as octal
    } else {
        u64::from_str_radix(&s[start..digits_end], radix).ok()?
    };
    let mut rest = b[digits_end..].iter().map(u8::to_ascii_lowercase);
    let shift = match rest.next() {
        None => return Some(number),
        Some(b'b') => return rest.next().is_none().then_some(number),
        Some(b'k') => 10,
        Some(b'm') => 20,
        Some(b'g') => 30,
        Some(b't') => 40,
        Some(b'p') => 50,
        Some(b'e') => 60,
        Some(_) => return None,
    };
    match (rest.next(), rest.next()) {
        (None, _) | (Some(b'b'), None) => {}
        _ => return None,
    }
    let scaled = number.checked_shl(shift)?;
    (scaled >> shift == number).then_some(scaled)
}

/// Format `n` as rctl's `-h` does: `humanize_number(buf, 6, n, "",
/// HN_AUTOSCALE, HN_DECIMAL | HN_NOSPACE)` with the 1024 divisor. Values
/// below 10000 stay as they are; larger ones are divided by 1024 until
/// they fit four digits, rounded, and get `K M G T P E`; one decimal digit
/// is shown below 10 (`9.8K`).
pub fn humanize_number(n: i64) -> String {
    const PREFIXES: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    const DIVISOR: i64 = 1024;
    const DECCUT: i64 = 973; // ceil(.95 * 1024)
    const MAXSCALE: usize = 7;
    // 6-byte buffer: room for 4 digits after one for the digit and the NUL
    // (2 with a sign), no separator, empty suffix.
    let (sign, mut quotient, baselen) = if n < 0 {
        (-1, n.unsigned_abs() as i128, 3)
    } else {
        (1, n as i128, 2)
    };
    let max = 10i128.pow(6 - baselen);
    let mut remainder: i128 = 0;
    let mut i = 0;
    let divisor = DIVISOR as i128;
    while (quotient >= max
        || (quotient == max - 1 && (remainder >= DECCUT as i128 || remainder >= divisor / 2)))
        && i < MAXSCALE
    {
        remainder = quotient % divisor;
        quotient /= divisor;
        i += 1;
    }
    let prefix = PREFIXES.get(i).copied().unwrap_or("");
    if ((quotient == 9 && remainder < DECCUT as i128) || quotient < 9) && i > 0 {
        let s1 = quotient + (remainder * 10 + divisor / 2) / divisor / 10;
        let s2 = ((remainder * 10 + divisor / 2) / divisor) % 10;
        format!("{}.{}{}", sign * s1, s2, prefix)
    } else {
        format!(
            "{}{}",
            sign * (quotient + (remainder + divisor / 2) / divisor),
            prefix
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_powers_of_1024() {
        assert_eq!(expand_number("512m"), Some(536870912));
        assert_eq!(expand_number("512M"), Some(536870912));
        assert_eq!(expand_number("1k"), Some(1024));
        assert_eq!(expand_number("1kb"), Some(1024));
        assert_eq!(expand_number("2g"), Some(2 << 30));
        assert_eq!(expand_number("3t"), Some(3 << 40));
        assert_eq!(expand_number("1p"), Some(1 << 50));
        assert_eq!(expand_number("7e"), Some(7 << 60));
        assert_eq!(expand_number("100"), Some(100));
        assert_eq!(expand_number("100b"), Some(100));
        assert_eq!(expand_number("0"), Some(0));
    }

    #[test]
    fn c_number_syntax() {
        assert_eq!(expand_number("0x10"), Some(16));
        assert_eq!(expand_number("010"), Some(8));
        assert_eq!(expand_number("0x"), None);
        assert_eq!(expand_number("08"), None);
    }

    #[test]
    fn garbage_and_overflow_are_refused() {
        for bad in [
            "",
            "x",
            "1x",
            "1.5k",
            "-1",
            " 1",
            "1kk",
            "1 k",
            "16e",
            "18446744073709551616",
        ] {
            assert_eq!(expand_number(bad), None, "{bad}");
        }
        assert_eq!(expand_number("18446744073709551615"), Some(u64::MAX));
        assert_eq!(expand_number("15e"), Some(15 << 60));
    }

    #[test]
    fn humanize_matches_the_reference_samples() {
        // section 6.9: rctl -hu jail:web
        for (n, h) in [
            (12, "12"),
            (8388608, "8192K"),
            (2097152, "2048K"),
            (0, "0"),
            (123456789, "118M"),
            (9, "9"),
            (312, "312"),
            (536870912, "512M"),
            (3600, "3600"),
            (4096, "4096"),
            (1073741824, "1024M"),
            (10000, "9.8K"),
            (9999, "9999"),
        ] {
            assert_eq!(humanize_number(n), h, "{n}");
        }
    }

    #[test]
    fn humanize_edges() {
        assert_eq!(humanize_number(10240), "10K");
        assert_eq!(humanize_number(1024 * 9999), "9999K");
        assert_eq!(humanize_number(1024 * 10000), "9.8M");
        assert_eq!(humanize_number(i64::MAX), "8192P");
        assert_eq!(humanize_number(-5), "-5");
        assert!(humanize_number(i64::MAX).len() <= 5);
    }
}
