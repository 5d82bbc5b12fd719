//! Amounts: `expand_number(3)` as rctl(8) applies it to what the user
//! types (exact integers, `k m g t p e` as powers of 1024), and
//! `humanize_number(3)` as `-h` applies it to what is printed.

/// Parse an amount as FreeBSD's `expand_number` does: a number as
/// `strtoumax(s, &end, 0)` reads it (leading white space, a `+` or `-`
/// sign, a minus wrapping around as C's unsigned negation does; decimal,
/// `0x` hex or leading-`0` octal), then the character that ends it: none
/// or `b`/`B` for the number itself (what follows a `b` is not looked at),
/// `k m g t p e` (case-insensitive) for powers of 1024 (nor what follows
/// them). `None` where it fails: no digits, overflow, any other character.
pub fn expand_number(s: &str) -> Option<u64> {
    let (number, end) = strtoumax(s.as_bytes())?;
    let shift = match s.as_bytes().get(end).map(u8::to_ascii_lowercase) {
        None | Some(b'b') => return Some(number),
        Some(b'k') => 10,
        Some(b'm') => 20,
        Some(b'g') => 30,
        Some(b't') => 40,
        Some(b'p') => 50,
        Some(b'e') => 60,
        Some(_) => return None,
    };
    let scaled = number.checked_shl(shift)?;
    (scaled >> shift == number).then_some(scaled)
}

/// C's `strtoumax(s, &end, 0)` with FreeBSD's errors: the value and where
/// it ends, `None` for EINVAL (no digits) and ERANGE (overflow).
fn strtoumax(b: &[u8]) -> Option<(u64, usize)> {
    // isspace() in the C locale.
    let mut i = b
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .count();
    let negative = b.get(i) == Some(&b'-');
    if matches!(b.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let radix = if b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x' | b'X'))
        && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        i += 2;
        16
    } else if b.get(i) == Some(&b'0') {
        8
    } else {
        10
    };
    let digits = b[i..]
        .iter()
        .take_while(|c| (**c as char).is_digit(radix))
        .count();
    if digits == 0 {
        return None;
    }
    let text = std::str::from_utf8(&b[i..i + digits]).ok()?;
    let value = u64::from_str_radix(text, radix).ok()?;
    let value = if negative {
        value.wrapping_neg()
    } else {
        value
    };
    Some((value, i + digits))
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
    fn numbers_read_as_strtoumax_reads_them() {
        assert_eq!(expand_number("+5"), Some(5));
        assert_eq!(expand_number(" \t+5k"), Some(5120));
        assert_eq!(expand_number("-5"), Some(5u64.wrapping_neg()));
        assert_eq!(expand_number("-0x10"), Some(16u64.wrapping_neg()));
        assert_eq!(expand_number("+0x1fM"), Some(31 << 20));
        // What follows a unit, or a `b`, is not looked at.
        assert_eq!(expand_number("5kx"), Some(5120));
        assert_eq!(expand_number("5bogus"), Some(5));
        assert_eq!(expand_number("5 k"), None);
        for bad in ["", "+", "-", " ", "+-5", "--5", "x5", "k", "5x"] {
            assert_eq!(expand_number(bad), None, "{bad:?}");
        }
        assert_eq!(expand_number("18446744073709551615"), Some(u64::MAX));
        assert_eq!(expand_number("18446744073709551616"), None);
        assert_eq!(expand_number("-18446744073709551615"), Some(1));
        assert_eq!(expand_number("16e"), None);
        assert_eq!(expand_number("15e"), Some(15 << 60));
    }

    #[test]
    fn garbage_and_overflow_are_refused() {
        for bad in ["", "x", "1x", "1.5k", "1 k", "16e", "18446744073709551616"] {
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
