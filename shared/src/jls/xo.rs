//! A small emitter that reproduces libxo's output for the calls jls makes:
//! one container, lists, instances, leaf fields and leaf lists, in the
//! text, JSON and XML styles, plain or pretty (libxo 1.6 spacing).
//!
//! Display text (padding, titles, the text rendering of a value) only
//! appears in the text style; encoded fields only in JSON and XML, as
//! libxo's `{d:}` and `{e:}` modifiers decide.

use std::io::{self, Write};

/// libxo's output styles that jls supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// Plain text (the default).
    #[default]
    Text,
    /// JSON.
    Json,
    /// XML.
    Xml,
}

/// How an encoded field's value is written in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc<'a> {
    /// A string (quoted and escaped).
    Str(&'a str),
    /// A number or a literal (`true`, `false`), written bare.
    Bare(&'a str),
    /// No value: `null` in JSON, an empty element in XML.
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Document,
    Container,
    List,
    Instance,
}

#[derive(Debug)]
struct Frame {
    kind: Kind,
    name: String,
    not_first: bool,
}

/// The emitter. Write errors are kept and returned by [`Xo::finish`] so
/// that rendering code reads like the sequence of libxo calls.
#[derive(Debug)]
pub struct Xo<'w, W: Write> {
    out: &'w mut W,
    style: Style,
    pretty: bool,
    version: &'static str,
    /// Open frames; the first is the document level.
    frames: Vec<Frame>,
    indent: usize,
    top_emitted: bool,
    attrs_pending: bool,
    error: Option<io::Error>,
}

impl<'w, W: Write> Xo<'w, W> {
    /// An emitter writing `style` to `out`, labelled with libxo's
    /// `__version` (JSON) or `version` attribute (XML).
    pub fn new(out: &'w mut W, style: Style, pretty: bool, version: &'static str) -> Self {
        Xo {
            out,
            style,
            pretty,
            version,
            frames: vec![Frame {
                kind: Kind::Document,
                name: String::new(),
                not_first: false,
            }],
            indent: 0,
            top_emitted: false,
            attrs_pending: true,
            error: None,
        }
    }

    /// The style in use.
    pub fn style(&self) -> Style {
        self.style
    }

    fn put(&mut self, s: &str) {
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(s.as_bytes()) {
                self.error = Some(e);
            }
        }
    }

    fn pad(&self) -> String {
        if !self.pretty {
            return String::new();
        }
        let top = if self.style == Style::Json && self.top_emitted {
            2
        } else {
            0
        };
        " ".repeat(self.indent * 2 + top)
    }

    fn ppn(&self) -> &'static str {
        if self.pretty { "\n" } else { "" }
    }

    fn cur(&mut self) -> &mut Frame {
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    /// Mark the current frame as holding something; return whether it
    /// already did.
    fn take_first(&mut self) -> bool {
        let f = self.cur();
        std::mem::replace(&mut f.not_first, true)
    }

    fn emit_top(&mut self) {
        if self.top_emitted {
            return;
        }
        let p = self.pad();
        let ppn = self.ppn();
        self.put(&format!("{p}{{{ppn}"));
        self.top_emitted = true;
        let p = self.pad();
        self.put(&format!("{p}\"__version\": \"{}\", {ppn}", self.version));
    }

    /// Display-only text (`{P:}`, `{T:}`, `{d:}`, literal text).
    pub fn text(&mut self, s: &str) {
        if self.style == Style::Text {
            self.put(s);
        }
    }

    fn open(&mut self, name: &str, bracket: &str) {
        self.emit_top();
        let pre = if self.take_first() {
            if self.pretty { ",\n" } else { ", " }
        } else {
            ""
        };
        let p = self.pad();
        let ppn = self.ppn();
        self.put(&format!(
            "{pre}{p}\"{}\": {bracket}{ppn}",
            json_escape(name)
        ));
    }

    fn xml_open_tag(&mut self, name: &str) {
        let p = self.pad();
        let attrs = if std::mem::replace(&mut self.attrs_pending, false) {
            format!(" version=\"{}\"", self.version)
        } else {
            String::new()
        };
        let ppn = self.ppn();
        self.put(&format!("{p}<{}{attrs}>{ppn}", xml_escape(name)));
    }

    fn push(&mut self, kind: Kind, name: &str, indent: usize) {
        self.frames.push(Frame {
            kind,
            name: name.to_string(),
            not_first: false,
        });
        self.indent += indent;
    }

    /// Leave the current frame (never the document's); returns its name.
    fn pop(&mut self, indent: usize) -> String {
        self.indent = self.indent.saturating_sub(indent);
        if self.frames.len() > 1 {
            self.frames.pop().map(|f| f.name).unwrap_or_default()
        } else {
            String::new()
        }
    }

    /// `xo_open_container`.
    pub fn open_container(&mut self, name: &str) {
        match self.style {
            Style::Text => {}
            Style::Json => self.open(name, "{"),
            Style::Xml => self.xml_open_tag(name),
        }
        self.push(Kind::Container, name, 1);
    }

    /// `xo_close_container`.
    pub fn close_container(&mut self) {
        let outermost = self.frames.len() <= 2;
        let name = self.pop(1);
        match self.style {
            Style::Text => {}
            Style::Json => {
                let pre = self.ppn();
                let post = if outermost { self.ppn() } else { "" };
                let p = self.pad();
                self.put(&format!("{pre}{p}}}{post}"));
                self.cur().not_first = true;
            }
            Style::Xml => {
                let p = self.pad();
                let ppn = self.ppn();
                self.put(&format!("{p}</{}>{ppn}", xml_escape(&name)));
            }
        }
    }

    /// `xo_open_list` (also what a leaf list is opened with).
    pub fn open_list(&mut self, name: &str) {
        if self.style == Style::Json {
            self.open(name, "[");
            self.push(Kind::List, name, 1);
        } else {
            self.push(Kind::List, name, 0);
        }
    }

    /// `xo_close_list`.
    pub fn close_list(&mut self) {
        if self.style == Style::Json {
            let had = self.cur().not_first;
            self.pop(1);
            let pre = if had && self.pretty { "\n" } else { "" };
            let p = self.pad();
            self.put(&format!("{pre}{p}]"));
            self.cur().not_first = true;
        } else {
            self.pop(0);
        }
    }

    /// `xo_open_instance`.
    pub fn open_instance(&mut self, name: &str) {
        match self.style {
            Style::Text => {}
            Style::Json => {
                let pre = if self.take_first() {
                    if self.pretty { ",\n" } else { ", " }
                } else {
                    ""
                };
                let p = self.pad();
                let ppn = self.ppn();
                self.put(&format!("{pre}{p}{{{ppn}"));
            }
            Style::Xml => self.xml_open_tag(name),
        }
        self.push(Kind::Instance, name, 1);
    }

    /// `xo_close_instance`.
    pub fn close_instance(&mut self) {
        let name = self.pop(1);
        match self.style {
            Style::Text => {}
            Style::Json => {
                let pre = self.ppn();
                let p = self.pad();
                self.put(&format!("{pre}{p}}}"));
                self.cur().not_first = true;
            }
            Style::Xml => {
                let p = self.pad();
                let ppn = self.ppn();
                self.put(&format!("{p}</{}>{ppn}", xml_escape(&name)));
            }
        }
    }

    /// An encode-only field (`{e:name}`): nothing in the text style.
    pub fn field(&mut self, name: &str, value: Enc<'_>) {
        match self.style {
            Style::Text => {}
            Style::Json => {
                if self.take_first() {
                    self.put(",");
                    if self.pretty {
                        self.put("\n");
                    }
                }
                let p = self.pad();
                let sp = if self.pretty { " " } else { "" };
                let v = match value {
                    Enc::Str(s) => format!("\"{}\"", json_escape(s)),
                    Enc::Bare(b) => b.to_string(),
                    Enc::Null => "null".to_string(),
                };
                self.put(&format!("{p}\"{}\":{sp}{v}", json_escape(name)));
            }
            Style::Xml => self.xml_element(name, value),
        }
    }

    fn xml_element(&mut self, name: &str, value: Enc<'_>) {
        let p = self.pad();
        let v = match value {
            Enc::Str(s) | Enc::Bare(s) => xml_escape(s),
            Enc::Null => "".into(),
        };
        let name = xml_escape(name);
        let nl = self.ppn();
        self.put(&format!("{p}<{name}>{v}</{name}>{nl}"));
    }

    /// A field shown as `display` in text and encoded as `value`.
    pub fn value(&mut self, name: &str, display: &str, value: Enc<'_>) {
        self.text(display);
        self.field(name, value);
    }

    /// One value of the open list (`{ql:}`): shown in text, a string
    /// element of the list in JSON, an element named after the list in XML.
    pub fn leaf(&mut self, value: &str) {
        match self.style {
            Style::Text => self.put(value),
            Style::Json => {
                let later = self.take_first();
                if later {
                    self.put(",");
                    if self.pretty {
                        self.put("\n");
                    }
                }
                let p = self.pad();
                self.put(&format!("{p}\"{}\"", json_escape(value)));
            }
            Style::Xml => {
                let name = self.cur().name.clone();
                self.xml_element(&name, Enc::Str(value));
            }
        }
    }

    /// The first write error since the last call (what [`Xo::finish`]
    /// would report), so that a caller can stop early.
    pub fn take_error(&mut self) -> io::Result<()> {
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// `xo_finish`: close what is open and end the document.
    pub fn finish(mut self) -> io::Result<()> {
        while let Some(kind) = self.frames.last().map(|f| f.kind) {
            match kind {
                Kind::Document => break,
                Kind::Container => self.close_container(),
                Kind::List => self.close_list(),
                Kind::Instance => self.close_instance(),
            }
        }
        if self.style == Style::Json {
            let body = if self.top_emitted { "}\n" } else { "{ }\n" };
            self.top_emitted = false;
            self.put(body);
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => self.out.flush(),
        }
    }
}

/// libxo's JSON escaping: backslash, double quote, newline, return.
fn json_escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['\\', '"', '\n', '\r']) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.into()
}

/// libxo's XML escaping of element content.
fn xml_escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['<', '>', '&']) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(style: Style, pretty: bool) -> String {
        let mut buf = Vec::new();
        let mut xo = Xo::new(&mut buf, style, pretty, "2");
        xo.open_container("top");
        xo.open_list("item");
        for n in ["a\"b", "c<d"] {
            xo.open_instance("item");
            xo.field("n", Enc::Bare("1"));
            xo.open_list("ips");
            xo.leaf(n);
            xo.close_list();
            xo.field("s", Enc::Str(n));
            xo.close_instance();
        }
        xo.close_list();
        xo.close_container();
        xo.finish().unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn json_spacing_and_escapes() {
        assert_eq!(
            doc(Style::Json, false),
            r#"{"__version": "2", "top": {"item": [{"n":1, "ips": ["a\"b"],"s":"a\"b"}, {"n":1, "ips": ["c<d"],"s":"c<d"}]}}
"#
        );
    }

    #[test]
    fn xml_escapes_and_names_leaves_after_the_list() {
        assert_eq!(
            doc(Style::Xml, false),
            r#"<top version="2"><item><n>1</n><ips>a"b</ips><s>a"b</s></item><item><n>1</n><ips>c&lt;d</ips><s>c&lt;d</s></item></top>"#
        );
    }

    #[test]
    fn xml_pretty_indents_by_two() {
        let got = doc(Style::Xml, true);
        assert!(
            got.starts_with("<top version=\"2\">\n  <item>\n    <n>1</n>\n    <ips>a\"b</ips>\n"),
            "{got}"
        );
        assert!(got.ends_with("  </item>\n</top>\n"), "{got}");
    }

    #[test]
    fn finish_closes_what_is_open() {
        let mut buf = Vec::new();
        let mut xo = Xo::new(&mut buf, Style::Json, false, "2");
        xo.open_container("top");
        xo.open_list("item");
        xo.open_instance("item");
        xo.field("n", Enc::Str("x"));
        xo.finish().unwrap();
        assert_eq!(
            buf,
            b"{\"__version\": \"2\", \"top\": {\"item\": [{\"n\":\"x\"}]}}\n"
        );
    }

    #[test]
    fn empty_document_on_early_exit() {
        let mut buf = Vec::new();
        Xo::new(&mut buf, Style::Json, false, "2").finish().unwrap();
        assert_eq!(buf, b"{ }\n");
        let mut buf = Vec::new();
        Xo::new(&mut buf, Style::Xml, false, "2").finish().unwrap();
        assert!(buf.is_empty());
    }
}
