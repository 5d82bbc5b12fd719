//! The lexical layer of a Bastillefile (section 3 of the reference):
//! continuation lines joined before comments are dropped, full-line `#`
//! comments, the hook word, and the raw argument text; trailing comments
//! where sh would see them; sh-style word splitting that never runs a
//! shell; `${NAME}` substitution.

/// One statement: its hook word as written and its raw arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The first physical line of the statement.
    pub line: u32,
    /// The hook word, as written.
    pub word: String,
    /// Everything after the word and the blanks that follow it.
    pub args: String,
}

/// The statements of a Bastillefile's text. A line ending in `\` is joined
/// with the next (the backslash removed, nothing inserted) before comments
/// are recognised; CR at a line's end is dropped; leading blanks and a tab
/// after the hook word are accepted.
pub fn statements(text: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut pending: Option<(u32, String)> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let (start, mut joined) = pending.take().unwrap_or((i as u32 + 1, String::new()));
        if let Some(head) = raw.strip_suffix('\\') {
            joined.push_str(head);
            pending = Some((start, joined));
            continue;
        }
        joined.push_str(raw);
        out.extend(statement(start, &joined));
    }
    if let Some((start, joined)) = pending {
        out.extend(statement(start, &joined));
    }
    out
}

fn statement(line: u32, text: &str) -> Option<Statement> {
    let text = text.trim_start_matches([' ', '\t']);
    if text.trim_end_matches([' ', '\t']).is_empty() || text.starts_with('#') {
        return None;
    }
    let (word, args) = match text.find([' ', '\t']) {
        Some(i) => (&text[..i], text[i..].trim_start_matches([' ', '\t'])),
        None => (text, ""),
    };
    Some(Statement {
        line,
        word: word.to_string(),
        args: args.to_string(),
    })
}

/// Split `text` into words as sh does, without expanding anything: blanks
/// separate words; `'...'` is literal; in `"..."` a backslash escapes only
/// `\ " $` and a backquote; outside quotes a backslash escapes any
/// character. `$` and backquotes stay literal text.
pub fn words(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('\\' | '"' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("backslash at the end of the line".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

/// `text` up to the comment sh would see in it: a `#` that starts a word
/// outside quotes (after a blank or at the start), as Bastille's `eval`
/// of a hook line drops it. A `#` inside a word (`a#b`), quoted or
/// escaped stays.
pub fn strip_comment(text: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut at_word_start = true;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('"'), '\\') => {
                chars.next();
            }
            (Some(_), _) => {}
            (None, '#') if at_word_start => return &text[..i],
            (None, '\'' | '"') => quote = Some(c),
            (None, '\\') => {
                chars.next();
            }
            _ => {}
        }
        at_word_start = quote.is_none() && matches!(c, ' ' | '\t' | '\n' | '\r');
    }
    text
}

/// Replace every `${NAME}` whose NAME is in `vars` by its value, in one
/// pass (a value is never substituted again); other text stays as it is.
pub fn substitute(text: &str, vars: &[(String, String)]) -> String {
    if !text.contains("${") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(j) => {
                let name = &after[..j];
                match vars.iter().rev().find(|(n, _)| n == name) {
                    Some((_, v)) => out.push_str(v),
                    None => out.push_str(&rest[i..i + 3 + j]),
                }
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A value with one pair of surrounding quotes (`"` or `'`) removed.
pub fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
            return &value[1..value.len() - 1];
        }
    }
    value
}
