//! Bytes that are not UTF-8 kept in a `String`, and given back as the same
//! bytes: jail.conf is read as jail(8) reads it, bytes (a Latin-1 `é` is
//! the byte 0xE9), and what jkit passes on (paths, host names, commands,
//! `-e`'s output) must be those bytes, not a replacement.
//!
//! [`decode`] keeps each byte of what is not UTF-8 as a character of its
//! own, U+10FF00 plus the byte (0x80 to 0xFF; plane 16's private use
//! area); the UTF-8 of those characters is taken byte by byte too, so that
//! every byte string comes back whole from [`encode`]. Text that is UTF-8
//! is unchanged.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// The first character that stands for a byte (0x80 stands at U+10FF80).
const BASE: u32 = 0x10_FF00;

/// The byte `c` stands for, if it stands for one.
pub fn byte(c: char) -> Option<u8> {
    let n = u32::from(c);
    (n >= BASE + 0x80).then(|| (n - BASE) as u8)
}

fn char_of(b: u8) -> char {
    char::from_u32(BASE + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// `bytes` as a string: UTF-8 as it is, every other byte as the character
/// that stands for it.
pub fn decode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if byte(c).is_some() {
                let mut buf = [0; 4];
                out.extend(c.encode_utf8(&mut buf).bytes().map(char_of));
            } else {
                out.push(c);
            }
        }
        out.extend(chunk.invalid().iter().copied().map(char_of));
    }
    out
}

/// The bytes `s` holds ([`decode`]'s inverse).
pub fn encode(s: &str) -> Vec<u8> {
    if !s.chars().any(|c| byte(c).is_some()) {
        return s.as_bytes().to_vec();
    }
    let mut out = Vec::with_capacity(s.len());
    let mut buf = [0; 4];
    for c in s.chars() {
        match byte(c) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
    out
}

/// `s` as an OS string (a path, an argument) of the bytes it holds.
pub fn os(s: &str) -> OsString {
    OsString::from_vec(encode(s))
}

/// `s` as a path of the bytes it holds.
pub fn path(s: &str) -> PathBuf {
    PathBuf::from(os(s))
}

/// An OS string (an argument, a path) as a string that keeps its bytes.
pub fn from_os(s: &OsStr) -> String {
    decode(s.as_bytes())
}

/// A writer that writes the bytes the text written to it holds: the UTF-8
/// of a character that stands for a byte becomes that byte, wherever the
/// writes split it (for a tool's whole output, such as jls's).
#[derive(Debug)]
pub struct Bytes<W: Write> {
    out: W,
    /// The start of such a character, held until the rest comes.
    held: Vec<u8>,
}

impl<W: Write> Bytes<W> {
    /// Write to `out`.
    pub fn new(out: W) -> Self {
        Bytes {
            out,
            held: Vec::new(),
        }
    }

    /// Take `b` after the bytes held: what is sure is added to `out`, the
    /// start of a character that may stand for a byte is held.
    fn feed(&mut self, b: u8, out: &mut Vec<u8>) {
        // U+10FF80..U+10FFFF: F4 8F BE|BF 80..BF.
        let fits = match self.held.len() {
            0 => b == 0xF4,
            1 => b == 0x8F,
            2 => b == 0xBE || b == 0xBF,
            _ => (0x80..=0xBF).contains(&b),
        };
        if !fits {
            out.append(&mut self.held);
            if b == 0xF4 {
                self.held.push(b);
            } else {
                out.push(b);
            }
            return;
        }
        self.held.push(b);
        if let [_, _, third, fourth] = self.held[..] {
            out.push(0x80 | ((third & 1) << 6) | (fourth & 0x3F));
            self.held.clear();
        }
    }
}

impl<W: Write> Write for Bytes<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Most output holds no such character: passed on as it is.
        if self.held.is_empty() && !buf.contains(&0xF4) {
            self.out.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut out = Vec::with_capacity(buf.len());
        for &b in buf {
            self.feed(b, &mut out);
        }
        self.out.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let held = std::mem::take(&mut self.held);
        self.out.write_all(&held)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_string_comes_back_whole() {
        let cases: [&[u8]; 7] = [
            b"plain",
            "caf\u{e9} UTF-8".as_bytes(),
            b"caf\xe9 Latin-1",
            b"\xff\xfe\x80",
            b"\xe9t\xc3",
            // The UTF-8 of a character that stands for a byte.
            "\u{10ff80}\u{10ffff}".as_bytes(),
            b"\xf4\x8f\xbe",
        ];
        for bytes in cases {
            assert_eq!(encode(&decode(bytes)), bytes, "{bytes:?}");
        }
        assert_eq!(decode("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(decode(b"caf\xe9"), "caf\u{10ffe9}");
        assert_eq!(
            path("/j/caf\u{10ffe9}").as_os_str().as_bytes(),
            b"/j/caf\xe9"
        );
        assert_eq!(from_os(OsStr::from_bytes(b"a\xe9")), "a\u{10ffe9}");
    }

    #[test]
    fn a_stream_gives_the_bytes_however_it_is_split() {
        let text = decode(b"caf\xe9 \xff\x80 \xf4\x8f na\xc3\xafve");
        let bytes = text.as_bytes();
        for split in 0..bytes.len() {
            let mut w = Bytes::new(Vec::new());
            w.write_all(&bytes[..split]).unwrap();
            w.write_all(&bytes[split..]).unwrap();
            w.flush().unwrap();
            assert_eq!(w.out, encode(&text), "split at {split}");
        }
        // Text that ends in the start of such a character keeps it.
        let mut w = Bytes::new(Vec::new());
        w.write_all(b"a\xf4\x8f").unwrap();
        w.flush().unwrap();
        assert_eq!(w.out, b"a\xf4\x8f");
    }
}
