//! The jail.conf lexer: the rules of FreeBSD's jaillex.l, over bytes.
//!
//! Strings come out in pieces ([`Tok::Str`] and [`Tok::Var`]); a piece that
//! touches the previous one without white space, a comment or a reserved
//! token in between is marked `joined`, and the parser concatenates it.
//! A double-quoted string is always at least one [`Tok::Str`] piece (empty if
//! it starts with a variable), followed by its variables and text runs.

use std::sync::Arc;

use super::Location;
use crate::error::Result;

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `;`
    Semi,
    /// `,`
    Comma,
    /// `=`
    Eq,
    /// `+=`
    PlusEq,
    /// Literal text, escapes already processed.
    Str(Vec<u8>),
    /// A variable reference: the name without `$`, `{` or `}`.
    Var(Vec<u8>),
    /// End of input.
    Eof,
}

/// A token with where it is.
#[derive(Debug, Clone)]
pub(super) struct Token {
    /// The token.
    pub tok: Tok,
    /// Continues the string of the previous token.
    pub joined: bool,
    /// Where it starts.
    pub at: Location,
    /// Its bytes in the source, for messages.
    pub raw: (usize, usize),
}

/// The characters of an unquoted string (besides `$ * + / \`, which stand
/// alone).
pub(super) fn is_atom(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_!%&()-.:<>?@[]^`|~".contains(&b)
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The length of the UTF-8 sequence that starts with `b` (1 for a byte that
/// cannot start one).
fn utf8_len(b: u8) -> usize {
    match b {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 1,
    }
}

/// The lexer's state over one source.
#[derive(Debug)]
pub(super) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
    column: u32,
    /// The previous token was a string piece (jaillex.l's `instr`).
    after_piece: bool,
    /// Inside a double-quoted string, opened at this place.
    quote_opened: Option<Location>,
    /// A NUL byte was met outside quotes: jaillex.l returns it as token 0,
    /// which yacc takes for the end of the input.
    ended: bool,
    file: Arc<str>,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `src`, which is named `file` in messages.
    pub fn new(src: &'a [u8], file: Arc<str>) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
            column: 1,
            after_piece: false,
            quote_opened: None,
            ended: false,
            file,
        }
    }

    /// The source text of a token, for messages.
    pub fn raw(&self, (start, end): (usize, usize)) -> String {
        String::from_utf8_lossy(&self.src[start..end]).into_owned()
    }

    fn here(&self) -> Location {
        Location {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.src.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek(0)?;
        self.pos += 1;
        if b == b'\n' {
            self.line = self.line.saturating_add(1);
            self.column = 1;
        } else if b & 0xc0 != 0x80 {
            self.column = self.column.saturating_add(1);
        }
        Some(b)
    }

    fn bump_n(&mut self, n: usize) {
        for _ in 0..n {
            self.bump();
        }
    }

    /// The next token.
    pub fn next_token(&mut self) -> Result<Token> {
        if self.quote_opened.is_some() {
            return self.double_quoted_piece();
        }
        loop {
            let at = self.here();
            let start = self.pos;
            let b = match self.peek(0) {
                Some(0) | None => None,
                b => b,
            };
            let Some(b) = b.filter(|_| !self.ended) else {
                self.ended = true;
                self.after_piece = false;
                return Ok(self.token(Tok::Eof, false, at, start));
            };
            let reserved = match b {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    self.bump();
                    self.after_piece = false;
                    continue;
                }
                b'#' => {
                    self.skip_line();
                    continue;
                }
                b'/' if self.peek(1) == Some(b'/') => {
                    self.skip_line();
                    continue;
                }
                b'/' if self.peek(1) == Some(b'*') => {
                    self.skip_block_comment(&at)?;
                    continue;
                }
                b'+' if self.peek(1) == Some(b'=') => Some((Tok::PlusEq, 2)),
                b'{' => Some((Tok::LBrace, 1)),
                b'}' => Some((Tok::RBrace, 1)),
                b';' => Some((Tok::Semi, 1)),
                b',' => Some((Tok::Comma, 1)),
                b'=' => Some((Tok::Eq, 1)),
                _ => None,
            };
            if let Some((tok, len)) = reserved {
                self.bump_n(len);
                self.after_piece = false;
                return Ok(self.token(tok, false, at, start));
            }
            let joined = self.after_piece;
            let tok = self.string_piece(b, &at, start)?;
            self.after_piece = true;
            return Ok(self.token(tok, joined, at, start));
        }
    }

    /// The string piece that starts with byte `b` at `at` (offset `start`):
    /// quoted, a variable, an escape or a run of unquoted characters.
    fn string_piece(&mut self, b: u8, at: &Location, start: usize) -> Result<Tok> {
        Ok(match b {
            b'"' => {
                self.bump();
                self.quote_opened = Some(at.clone());
                let text = self.double_quoted_text()?;
                Tok::Str(text)
            }
            b'\'' => Tok::Str(self.single_quoted(at)?),
            b'$' if self.var_follows() => self.variable(at)?,
            b'\\' => {
                self.bump();
                let mut out = Vec::new();
                match self.peek(0) {
                    Some(_) => self.escape(&mut out),
                    None => out.push(b'\\'),
                }
                Tok::Str(out)
            }
            b'$' | b'*' | b'+' | b'/' => {
                self.bump();
                Tok::Str(vec![b])
            }
            b if is_atom(b) => {
                while self.peek(0).is_some_and(is_atom) {
                    self.bump();
                }
                Tok::Str(self.src[start..self.pos].to_vec())
            }
            b => {
                let len = utf8_len(b).min(self.src.len() - self.pos);
                let text = match std::str::from_utf8(&self.src[start..start + len]) {
                    Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
                    _ => format!("\\x{b:02x}"),
                };
                return Err(at.error(format!("{text}: syntax error")));
            }
        })
    }

    fn token(&self, tok: Tok, joined: bool, at: Location, start: usize) -> Token {
        // jaillex.l hands each piece to the parser as a C string, so a NUL
        // (`\0`, `\x`, `\x00`, or the byte itself inside quotes) ends it.
        let tok = match tok {
            Tok::Str(mut text) => {
                if let Some(nul) = text.iter().position(|&b| b == 0) {
                    text.truncate(nul);
                }
                Tok::Str(text)
            }
            tok => tok,
        };
        Token {
            tok,
            joined,
            at,
            raw: (start, self.pos),
        }
    }

    fn skip_line(&mut self) {
        while self.peek(0).is_some_and(|b| b != b'\n') {
            self.bump();
        }
        self.after_piece = false;
    }

    fn skip_block_comment(&mut self, at: &Location) -> Result<()> {
        let body = &self.src[self.pos + 2..];
        let Some(end) = body.windows(2).position(|w| w == b"*/") else {
            return Err(at.error("unterminated comment"));
        };
        self.bump_n(end + 4);
        self.after_piece = false;
        Ok(())
    }

    /// Whether the `$` at the current position starts a variable.
    fn var_follows(&self) -> bool {
        self.peek(1).is_some_and(|b| b == b'{' || is_ident_start(b))
    }

    /// A variable at the current `$` (which [`Self::var_follows`]).
    fn variable(&mut self, at: &Location) -> Result<Tok> {
        self.bump();
        if self.peek(0) == Some(b'{') {
            let body = &self.src[self.pos + 1..];
            match body.iter().position(|&b| matches!(b, b'}' | b'{' | b'\n')) {
                Some(len) if body[len] == b'}' => {
                    let name = body[..len].to_vec();
                    self.bump_n(len + 2);
                    Ok(Tok::Var(name))
                }
                _ => Err(at.error("unterminated variable")),
            }
        } else {
            let start = self.pos;
            while self.peek(0).is_some_and(is_ident) {
                self.bump();
            }
            Ok(Tok::Var(self.src[start..self.pos].to_vec()))
        }
    }

    /// A backslash escape; the backslash is consumed and a character follows.
    fn escape(&mut self, out: &mut Vec<u8>) {
        let Some(c) = self.bump() else { return };
        match c {
            b'\n' => {}
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match self.peek(0) {
                        Some(d @ b'0'..=b'7') => {
                            self.bump();
                            v = v * 8 + u32::from(d - b'0');
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' => {
                // Up to two hex digits; with none, text2lval leaves the
                // byte it started at 0.
                let mut v = 0u32;
                for _ in 0..2 {
                    match self.peek(0).and_then(|d| char::from(d).to_digit(16)) {
                        Some(d) => {
                            self.bump();
                            v = v * 16 + d;
                        }
                        None => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            c => {
                out.push(c);
                for _ in 1..utf8_len(c) {
                    match self.peek(0) {
                        Some(b) if b & 0xc0 == 0x80 => {
                            out.push(b);
                            self.bump();
                        }
                        _ => break,
                    }
                }
            }
        }
    }

    fn single_quoted(&mut self, at: &Location) -> Result<Vec<u8>> {
        self.bump();
        let mut out = Vec::new();
        loop {
            match self.peek(0) {
                None => return Err(at.error("unterminated string")),
                Some(b'\'') => {
                    self.bump();
                    return Ok(out);
                }
                Some(b'\\') if self.peek(1).is_some() => {
                    self.bump();
                    self.escape(&mut out);
                }
                Some(b'\\') => return Err(at.error("unterminated string")),
                Some(b) => {
                    self.bump();
                    out.push(b);
                }
            }
        }
    }

    /// The text of a double-quoted string up to its end (consumed) or to
    /// the next variable (not consumed).
    fn double_quoted_text(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            match self.peek(0) {
                None => break,
                Some(b'"') => {
                    self.bump();
                    self.quote_opened = None;
                    return Ok(out);
                }
                Some(b'$') if self.var_follows() => return Ok(out),
                Some(b'\\') if self.peek(1).is_some() => {
                    self.bump();
                    self.escape(&mut out);
                }
                Some(b'\\') => break,
                Some(b) => {
                    self.bump();
                    out.push(b);
                }
            }
        }
        let at = self.quote_opened.take().unwrap_or_else(|| self.here());
        Err(at.error("unterminated string"))
    }

    /// The next piece of a double-quoted string after its first.
    fn double_quoted_piece(&mut self) -> Result<Token> {
        let at = self.here();
        let start = self.pos;
        let tok = if self.peek(0) == Some(b'$') && self.var_follows() {
            self.variable(&at)?
        } else {
            Tok::Str(self.double_quoted_text()?)
        };
        self.after_piece = true;
        Ok(self.token(tok, true, at, start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(src: &str) -> Result<Vec<(Tok, bool)>> {
        let mut lx = Lexer::new(src.as_bytes(), Arc::from("t"));
        let mut out = Vec::new();
        loop {
            let t = lx.next_token()?;
            if t.tok == Tok::Eof {
                return Ok(out);
            }
            out.push((t.tok, t.joined));
        }
    }

    fn s(text: &str, joined: bool) -> (Tok, bool) {
        (Tok::Str(text.as_bytes().to_vec()), joined)
    }

    fn v(text: &str, joined: bool) -> (Tok, bool) {
        (Tok::Var(text.as_bytes().to_vec()), joined)
    }

    #[test]
    fn pieces_touching_are_joined() {
        assert_eq!(
            lex("a\"b\"'c' d").unwrap(),
            [s("a", false), s("b", true), s("c", true), s("d", false)]
        );
        assert_eq!(
            lex("/var/jail/$name;").unwrap(),
            [
                s("/", false),
                s("var", true),
                s("/", true),
                s("jail", true),
                s("/", true),
                v("name", true),
                (Tok::Semi, false)
            ]
        );
    }

    #[test]
    fn comments_cut_unquoted_text() {
        assert_eq!(lex("/a//b").unwrap(), [s("/", false), s("a", true)]);
        assert_eq!(lex("a#b\nc").unwrap(), [s("a", false), s("c", false)]);
        assert_eq!(lex("a/* x */b").unwrap(), [s("a", false), s("b", false)]);
        assert_eq!(lex("\"a//b#c\"").unwrap(), [s("a//b#c", false)]);
    }

    #[test]
    fn double_quotes_split_at_variables() {
        assert_eq!(
            lex("\"$x-${a.b}\\$y $\"").unwrap(),
            [
                s("", false),
                v("x", true),
                s("-", true),
                v("a.b", true),
                s("$y $", true)
            ]
        );
        assert_eq!(lex("'$x'").unwrap(), [s("$x", false)]);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            lex(r#""\a\b\f\n\r\t\v\101\x41\x4g\q\\\"\$""#).unwrap(),
            [s("\x07\x08\x0c\n\r\t\x0bAA\x04gq\\\"$", false)]
        );
        assert_eq!(
            lex("a\\\nb").unwrap(),
            [s("a", false), s("", true), s("b", true)]
        );
        assert_eq!(lex("'a\\'b'").unwrap(), [s("a'b", false)]);
        // `\x` with no hex digit is a NUL, which ends its piece.
        assert_eq!(lex("\\xz").unwrap(), [s("", false), s("z", true)]);
        assert_eq!(
            lex("'a\\0b' \"c\\x00d\"").unwrap(),
            [s("a", false), s("c", false)]
        );
        assert_eq!(
            lex("a\\0b").unwrap(),
            [s("a", false), s("", true), s("b", true)]
        );
        assert_eq!(lex("\\").unwrap(), [s("\\", false)]);
    }

    #[test]
    fn a_nul_byte_outside_quotes_ends_the_input() {
        assert_eq!(
            lex("a b\0c { d; }").unwrap(),
            [s("a", false), s("b", false)]
        );
        assert_eq!(lex("a # x\0y\nb").unwrap(), [s("a", false), s("b", false)]);
        assert_eq!(lex("'x\0y' z").unwrap(), [s("x", false), s("z", false)]);
    }

    #[test]
    fn reserved_tokens() {
        assert_eq!(
            lex("a+=b+c=d").unwrap(),
            [
                s("a", false),
                (Tok::PlusEq, false),
                s("b", false),
                s("+", true),
                s("c", true),
                (Tok::Eq, false),
                s("d", false)
            ]
        );
    }

    #[test]
    fn errors_name_the_place() {
        let e = |src: &str| lex(src).unwrap_err().to_string();
        assert_eq!(e("a = \"x\n"), "t line 1 column 5: unterminated string");
        assert_eq!(e("\n  'x"), "t line 2 column 3: unterminated string");
        assert_eq!(e("a /* x"), "t line 1 column 3: unterminated comment");
        assert_eq!(e("${a"), "t line 1 column 1: unterminated variable");
        assert_eq!(e("${a\n}"), "t line 1 column 1: unterminated variable");
        assert_eq!(
            e("\"x ${a{b}\""),
            "t line 1 column 4: unterminated variable"
        );
        assert_eq!(e("é"), "t line 1 column 1: é: syntax error");
        assert_eq!(e("ab \x01"), "t line 1 column 4: \\x01: syntax error");
    }
}
