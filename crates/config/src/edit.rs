//! Edits of a JSON5 config file that keep everything else as written: comments, formatting,
//! `${VAR}` references and key order. Used by `pincer config set|unset`, `pincer models set`, the
//! onboarding wizard and the gateway's `config.patch`.
//!
//! The text is parsed into a tree of spans; an edit replaces one value's span, inserts one member
//! before an object's closing brace, or cuts one member out. The result is parsed again and must
//! equal the expected document, else the edit falls back to rewriting the whole file as JSON
//! ([`Edited::rewritten`] tells the caller that comments were lost).
//!
//! New values are written as a person would: unquoted keys (in alphabetical order: the document
//! model keeps no other), on one line when that fits in [`WIDTH`] columns, else one member per
//! line indented like their neighbours, each with a trailing comma.

use serde_json::{Map, Value};

/// One step of a path: an object key or an array index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Object member.
    Key(String),
    /// Array element.
    Index(usize),
}

/// Parses `a.b.0.c` (numeric steps index arrays; `a["x.y"]` quotes a key with dots).
pub fn parse_path(path: &str) -> Result<Vec<Step>, EditError> {
    let mut steps = Vec::new();
    let mut rest = path.trim();
    if rest.is_empty() {
        return Err(EditError::BadPath(path.to_owned()));
    }
    while !rest.is_empty() {
        if let Some(index) = rest.strip_prefix('[').filter(|r| !r.starts_with('"')) {
            let end = index
                .find(']')
                .ok_or_else(|| EditError::BadPath(path.to_owned()))?;
            let number = index[..end]
                .trim()
                .parse::<usize>()
                .map_err(|_| EditError::BadPath(path.to_owned()))?;
            steps.push(Step::Index(number));
            rest = &index[end + 1..];
        } else if let Some(quoted) = rest.strip_prefix("[\"") {
            let end = quoted
                .find("\"]")
                .ok_or_else(|| EditError::BadPath(path.to_owned()))?;
            steps.push(Step::Key(quoted[..end].to_owned()));
            rest = &quoted[end + 2..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let token = &rest[..end];
            if token.is_empty() {
                return Err(EditError::BadPath(path.to_owned()));
            }
            steps.push(match token.parse::<usize>() {
                Ok(index) => Step::Index(index),
                Err(_) => Step::Key(token.to_owned()),
            });
            rest = &rest[end..];
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    Ok(steps)
}

/// Renders a path for messages.
pub fn display_path(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| match s {
            Step::Key(k) => k.clone(),
            Step::Index(i) => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// An edit that cannot be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EditError {
    /// The text is not JSON5.
    #[error("not valid JSON5 at byte {0}")]
    Syntax(usize),
    /// A path that cannot be read.
    #[error("{0:?} is not a config path (use dots: agents.defaults.model.primary)")]
    BadPath(String),
    /// A step goes through something that is not an object or array.
    #[error("{path} is {found}, not an object or array")]
    NotAContainer {
        /// Where.
        path: String,
        /// What is there.
        found: &'static str,
    },
    /// An index past the end (only `len` appends).
    #[error("{path} has {len} elements; index {index} is out of range")]
    OutOfRange {
        /// The array.
        path: String,
        /// Its length.
        len: usize,
        /// The index asked for.
        index: usize,
    },
    /// Nothing to unset.
    #[error("{0} is not set")]
    Missing(String),
}

/// The edited text.
#[derive(Debug, PartialEq, Eq)]
pub struct Edited {
    /// New file contents.
    pub text: String,
    /// True when the file had to be rewritten as plain JSON (its comments are gone).
    pub rewritten: bool,
}

/// Sets `path` to `value`, creating missing objects on the way.
pub fn set(text: &str, path: &[Step], value: &Value) -> Result<Edited, EditError> {
    let mut expected = parse_value(text)?;
    set_value(&mut expected, path, value.clone(), path)?;
    let tree = Parser::new(text).document()?;
    let spliced = splice_set(text, &tree, path, value);
    Ok(verify(spliced, &expected))
}

/// Removes `path`.
pub fn unset(text: &str, path: &[Step]) -> Result<Edited, EditError> {
    let mut expected = parse_value(text)?;
    remove_value(&mut expected, path)?;
    let tree = Parser::new(text).document()?;
    let spliced = splice_unset(text, &tree, path);
    Ok(verify(spliced, &expected))
}

/// The value at `path`, if set.
pub fn get(text: &str, path: &[Step]) -> Result<Option<Value>, EditError> {
    let mut node = &parse_value(text)?;
    for step in path {
        node = match (step, node) {
            (Step::Key(k), Value::Object(map)) => match map.get(k) {
                Some(child) => child,
                None => return Ok(None),
            },
            (Step::Index(i), Value::Array(items)) => match items.get(*i) {
                Some(child) => child,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
    }
    Ok(Some(node.clone()))
}

fn parse_value(text: &str) -> Result<Value, EditError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    json5::from_str(text).map_err(|e| EditError::Syntax(e.position().map_or(0, |p| p.column)))
}

fn verify(spliced: Option<String>, expected: &Value) -> Edited {
    if let Some(text) = spliced
        && parse_value(&text).as_ref() == Ok(expected)
    {
        return Edited {
            text,
            rewritten: false,
        };
    }
    let mut text = serde_json::to_string_pretty(expected).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    Edited {
        text,
        rewritten: true,
    }
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn set_value(
    target: &mut Value,
    path: &[Step],
    value: Value,
    full: &[Step],
) -> Result<(), EditError> {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return Ok(());
    };
    let here = display_path(&full[..full.len() - path.len()]);
    match (first, target) {
        (Step::Key(key), Value::Object(map)) => {
            let child = map.entry(key.clone()).or_insert_with(|| empty_for(rest));
            set_value(child, rest, value, full)
        }
        (Step::Index(index), Value::Array(items)) => {
            if *index > items.len() {
                return Err(EditError::OutOfRange {
                    path: here,
                    len: items.len(),
                    index: *index,
                });
            }
            if *index == items.len() {
                items.push(empty_for(rest));
            }
            set_value(&mut items[*index], rest, value, full)
        }
        (_, other) => Err(EditError::NotAContainer {
            path: if here.is_empty() {
                "the file".to_owned()
            } else {
                here
            },
            found: kind_name(other),
        }),
    }
}

fn empty_for(rest: &[Step]) -> Value {
    match rest.first() {
        Some(Step::Index(_)) => Value::Array(Vec::new()),
        _ => Value::Object(Map::new()),
    }
}

fn remove_value(target: &mut Value, path: &[Step]) -> Result<(), EditError> {
    let missing = || EditError::Missing(display_path(path));
    let (last, parents) = path.split_last().ok_or_else(missing)?;
    let mut node = target;
    for step in parents {
        node = match (step, node) {
            (Step::Key(k), Value::Object(map)) => map.get_mut(k).ok_or_else(missing)?,
            (Step::Index(i), Value::Array(items)) => items.get_mut(*i).ok_or_else(missing)?,
            _ => return Err(missing()),
        };
    }
    match (last, node) {
        (Step::Key(k), Value::Object(map)) => map.remove(k).map(|_| ()).ok_or_else(missing),
        (Step::Index(i), Value::Array(items)) if *i < items.len() => {
            items.remove(*i);
            Ok(())
        }
        _ => Err(missing()),
    }
}

// ---------------------------------------------------------------------------------------------
// Span tree

#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Object { members: Vec<Member>, close: usize },
    Array { items: Vec<Item>, close: usize },
    Scalar,
}

#[derive(Debug)]
struct Member {
    key: String,
    start: usize,
    value: Node,
    /// Just past the comma that follows the value, if there is one.
    comma_end: Option<usize>,
}

#[derive(Debug)]
struct Item {
    value: Node,
    comma_end: Option<usize>,
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        let at = if text.starts_with('\u{feff}') { 3 } else { 0 };
        Self {
            text,
            bytes: text.as_bytes(),
            at,
        }
    }

    fn error(&self) -> EditError {
        EditError::Syntax(self.at)
    }

    fn document(&mut self) -> Result<Node, EditError> {
        self.skip();
        let node = self.value()?;
        self.skip();
        if self.at != self.bytes.len() {
            return Err(self.error());
        }
        Ok(node)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Skips whitespace and comments.
    fn skip(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.at += 1,
                Some(b'/') if self.bytes.get(self.at + 1) == Some(&b'/') => {
                    while self.peek().is_some_and(|b| b != b'\n') {
                        self.at += 1;
                    }
                }
                Some(b'/') if self.bytes.get(self.at + 1) == Some(&b'*') => {
                    match self.text[self.at + 2..].find("*/") {
                        Some(end) => self.at += end + 4,
                        None => self.at = self.bytes.len(),
                    }
                }
                Some(_)
                    if self.text[self.at..].starts_with('\u{a0}')
                        || self.text[self.at..].starts_with('\u{feff}') =>
                {
                    self.at += self.text[self.at..]
                        .chars()
                        .next()
                        .map_or(1, char::len_utf8);
                }
                _ => return,
            }
        }
    }

    fn value(&mut self) -> Result<Node, EditError> {
        let start = self.at;
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"' | b'\'') => {
                self.string()?;
                Ok(Node {
                    start,
                    end: self.at,
                    kind: Kind::Scalar,
                })
            }
            Some(_) => {
                // Numbers, true/false/null, Infinity, NaN: a run of these characters.
                while self
                    .peek()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
                {
                    self.at += 1;
                }
                if self.at == start {
                    return Err(self.error());
                }
                Ok(Node {
                    start,
                    end: self.at,
                    kind: Kind::Scalar,
                })
            }
            None => Err(self.error()),
        }
    }

    fn string(&mut self) -> Result<String, EditError> {
        let quote = self.peek().ok_or_else(|| self.error())?;
        let start = self.at;
        self.at += 1;
        loop {
            match self.peek() {
                Some(b'\\') => self.at += 2,
                Some(b) if b == quote => {
                    self.at += 1;
                    break;
                }
                Some(_) => self.at += 1,
                None => return Err(self.error()),
            }
        }
        let raw = &self.text[start..self.at];
        json5::from_str::<String>(raw).map_err(|_| EditError::Syntax(start))
    }

    fn key(&mut self) -> Result<String, EditError> {
        match self.peek() {
            Some(b'"' | b'\'') => self.string(),
            Some(_) => {
                let start = self.at;
                while let Some(c) = self.text[self.at..].chars().next() {
                    if c.is_alphanumeric() || c == '_' || c == '$' {
                        self.at += c.len_utf8();
                    } else {
                        break;
                    }
                }
                if self.at == start {
                    return Err(self.error());
                }
                Ok(self.text[start..self.at].to_owned())
            }
            None => Err(self.error()),
        }
    }

    fn comma(&mut self) -> Option<usize> {
        self.skip();
        if self.peek() == Some(b',') {
            self.at += 1;
            Some(self.at)
        } else {
            None
        }
    }

    fn object(&mut self) -> Result<Node, EditError> {
        let start = self.at;
        self.at += 1;
        let mut members = Vec::new();
        loop {
            self.skip();
            if self.peek() == Some(b'}') {
                let close = self.at;
                self.at += 1;
                return Ok(Node {
                    start,
                    end: self.at,
                    kind: Kind::Object { members, close },
                });
            }
            let member_start = self.at;
            let key = self.key()?;
            self.skip();
            if self.peek() != Some(b':') {
                return Err(self.error());
            }
            self.at += 1;
            self.skip();
            let value = self.value()?;
            let comma_end = self.comma();
            let last = comma_end.is_none();
            members.push(Member {
                key,
                start: member_start,
                value,
                comma_end,
            });
            if last {
                self.skip();
                if self.peek() != Some(b'}') {
                    return Err(self.error());
                }
            }
        }
    }

    fn array(&mut self) -> Result<Node, EditError> {
        let start = self.at;
        self.at += 1;
        let mut items = Vec::new();
        loop {
            self.skip();
            if self.peek() == Some(b']') {
                let close = self.at;
                self.at += 1;
                return Ok(Node {
                    start,
                    end: self.at,
                    kind: Kind::Array { items, close },
                });
            }
            let value = self.value()?;
            let comma_end = self.comma();
            let last = comma_end.is_none();
            items.push(Item { value, comma_end });
            if last {
                self.skip();
                if self.peek() != Some(b']') {
                    return Err(self.error());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Splicing

fn render_key(key: &str) -> String {
    let mut chars = key.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if identifier {
        key.to_owned()
    } else {
        Value::String(key.to_owned()).to_string()
    }
}

/// The line width new values are kept within (where their nesting allows).
pub const WIDTH: usize = 100;

/// JSON5 for a value that starts at `column` on a line indented by `indent`: on one line when it
/// fits in [`WIDTH`], else one member (or element) per line, two spaces deeper than `indent`.
fn render_at(value: &Value, indent: &str, column: usize) -> String {
    let inline = render(value);
    let nested = match value {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    };
    // One more column for the comma that follows a member.
    if !nested || column + inline.len() < WIDTH {
        return inline;
    }
    let inner = format!("{indent}  ");
    let mut out = String::new();
    match value {
        Value::Object(map) => {
            out.push_str("{\n");
            for (key, child) in map {
                let key = render_key(key);
                let child = render_at(child, &inner, inner.len() + key.len() + 2);
                out.push_str(&format!("{inner}{key}: {child},\n"));
            }
            out.push_str(indent);
            out.push('}');
        }
        Value::Array(items) => {
            out.push_str("[\n");
            for item in items {
                let item = render_at(item, &inner, inner.len());
                out.push_str(&format!("{inner}{item},\n"));
            }
            out.push_str(indent);
            out.push(']');
        }
        _ => {}
    }
    out
}

/// JSON5 for a value: keys unquoted where possible, one line.
fn render(value: &Value) -> String {
    match value {
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        Value::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", render_key(k), render(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(render).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// Builds `{ a: { b: value } }` for the steps not present yet.
fn nested(rest: &[Step], value: &Value) -> Value {
    match rest.split_first() {
        None => value.clone(),
        Some((Step::Key(k), more)) => {
            let mut map = Map::new();
            map.insert(k.clone(), nested(more, value));
            Value::Object(map)
        }
        Some((Step::Index(_), more)) => Value::Array(vec![nested(more, value)]),
    }
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

fn indent_of(text: &str, at: usize) -> &str {
    let start = line_start(text, at);
    let line = &text[start..at];
    &line[..line.len() - line.trim_start().len()]
}

fn splice(text: &str, start: usize, end: usize, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..start]);
    out.push_str(with);
    out.push_str(&text[end..]);
    out
}

fn splice_set(text: &str, node: &Node, path: &[Step], value: &Value) -> Option<String> {
    let Some((first, rest)) = path.split_first() else {
        let indent = indent_of(text, node.start);
        let column = node.start - line_start(text, node.start);
        return Some(splice(
            text,
            node.start,
            node.end,
            &render_at(value, indent, column),
        ));
    };
    match (&node.kind, first) {
        (Kind::Object { members, close }, Step::Key(key)) => {
            if let Some(member) = members.iter().rev().find(|m| &m.key == key) {
                return splice_set(text, &member.value, rest, value);
            }
            let entry = Entry {
                key: Some(render_key(key)),
                value: nested(rest, value),
            };
            Some(insert(
                text,
                node.start,
                *close,
                members.last().map(|m| (m.value.end, m.comma_end, m.start)),
                &entry,
            ))
        }
        (Kind::Array { items, close }, Step::Index(index)) => {
            if let Some(item) = items.get(*index) {
                return splice_set(text, &item.value, rest, value);
            }
            if *index != items.len() {
                return None;
            }
            let entry = Entry {
                key: None,
                value: nested(rest, value),
            };
            Some(insert(
                text,
                node.start,
                *close,
                items
                    .last()
                    .map(|i| (i.value.end, i.comma_end, i.value.start)),
                &entry,
            ))
        }
        _ => None,
    }
}

/// A member (with its key) or an array element to insert, rendered once its place is known.
struct Entry {
    key: Option<String>,
    value: Value,
}

impl Entry {
    fn prefix(&self) -> String {
        self.key
            .as_ref()
            .map_or_else(String::new, |key| format!("{key}: "))
    }

    /// On its own line, indented by `indent`.
    fn at(&self, indent: &str) -> String {
        let prefix = self.prefix();
        let column = indent.len() + prefix.len();
        format!("{prefix}{}", render_at(&self.value, indent, column))
    }

    /// On one line, whatever its length.
    fn inline(&self) -> String {
        format!("{}{}", self.prefix(), render(&self.value))
    }
}

/// Inserts `entry` as the last member of the container opened at `open` and closed at `close`.
/// `last` is the current last entry's (value end, comma end, start).
fn insert(
    text: &str,
    open: usize,
    close: usize,
    last: Option<(usize, Option<usize>, usize)>,
    entry: &Entry,
) -> String {
    let Some((value_end, comma_end, last_start)) = last else {
        // Empty container: `{}` becomes `{ entry }` when that fits on the line; otherwise, and
        // for a multi-line empty one, the entry gets its own indented line.
        let outer = indent_of(text, open);
        let indent = format!("{outer}  ");
        if text[open + 1..close].contains('\n') {
            let at = line_start(text, close);
            return splice(text, at, at, &format!("{indent}{},\n", entry.at(&indent)));
        }
        let inline = entry.inline();
        let column = open - line_start(text, open);
        if column + inline.len() + 4 < WIDTH {
            return splice(text, open + 1, close, &format!(" {inline} "));
        }
        return splice(
            text,
            open + 1,
            close,
            &format!("\n{indent}{},\n{outer}", entry.at(&indent)),
        );
    };
    let multi_line = text[last_start..close].contains('\n');
    if multi_line {
        let indent = indent_of(text, last_start).to_owned();
        let (at, prefix) = match comma_end {
            Some(end) => (end, String::new()),
            None => (value_end, ",".to_owned()),
        };
        splice(
            text,
            at,
            at,
            &format!("{prefix}\n{indent}{},", entry.at(&indent)),
        )
    } else {
        let entry = entry.inline();
        match comma_end {
            Some(end) => splice(text, end, end, &format!(" {entry}")),
            None => splice(text, value_end, value_end, &format!(", {entry}")),
        }
    }
}

fn splice_unset(text: &str, node: &Node, path: &[Step]) -> Option<String> {
    let (first, rest) = path.split_first()?;
    let (start, value, comma_end, previous_comma) = match (&node.kind, first) {
        (Kind::Object { members, .. }, Step::Key(key)) => {
            let index = members.iter().rposition(|m| &m.key == key)?;
            let member = &members[index];
            if !rest.is_empty() {
                return splice_unset(text, &member.value, rest);
            }
            let previous = index.checked_sub(1).and_then(|i| members[i].comma_end);
            (member.start, &member.value, member.comma_end, previous)
        }
        (Kind::Array { items, .. }, Step::Index(index)) => {
            let item = items.get(*index)?;
            if !rest.is_empty() {
                return splice_unset(text, &item.value, rest);
            }
            let previous = index.checked_sub(1).and_then(|i| items[i].comma_end);
            (item.value.start, &item.value, item.comma_end, previous)
        }
        _ => return None,
    };
    let end = comma_end.unwrap_or(value.end);
    // Alone on its lines: remove the whole lines (no blank line left behind).
    let from = line_start(text, start);
    let to_line_end = text[end..].find('\n').map(|i| end + i + 1);
    if text[from..start].trim().is_empty()
        && let Some(line_end) = to_line_end
        && text[end..line_end].trim().is_empty()
    {
        // When it was the last entry, the one before keeps its comma: JSON5 allows a trailing one.
        return Some(splice(text, from, line_end, ""));
    }
    match (comma_end, previous_comma) {
        (Some(comma), _) => {
            let after =
                comma + text[comma..].len() - text[comma..].trim_start_matches([' ', '\t']).len();
            Some(splice(text, start, after, ""))
        }
        (None, Some(previous)) => Some(splice(text, previous - 1, value.end, "")),
        (None, None) => Some(splice(text, start, value.end, "")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FILE: &str = r#"// Pincer config
{
  gateway: { port: 18789, bind: "loopback" }, // inline comment
  /* the models */
  models: {
    providers: {
      ollama: { baseUrl: "${OLLAMA_URL}", api: "ollama" },
    },
  },
  agents: {
    defaults: {
      model: "ollama/llama3",
      timeout: 30
    }
  }
}
"#;

    fn path(p: &str) -> Vec<Step> {
        parse_path(p).unwrap()
    }

    fn kept(edited: &Edited) {
        assert!(!edited.rewritten, "{}", edited.text);
        for comment in [
            "// Pincer config",
            "// inline comment",
            "/* the models */",
            "${OLLAMA_URL}",
        ] {
            assert!(
                edited.text.contains(comment),
                "{comment} lost:\n{}",
                edited.text
            );
        }
    }

    #[test]
    fn paths_parse() {
        assert_eq!(
            path("a.b.0.c"),
            vec![
                Step::Key("a".into()),
                Step::Key("b".into()),
                Step::Index(0),
                Step::Key("c".into())
            ]
        );
        assert_eq!(
            path(r#"agents.defaults.models["ollama/llama3.1"].alias"#)[3],
            Step::Key("ollama/llama3.1".into())
        );
        assert_eq!(path("bindings[0].match"), path("bindings.0.match"));
        assert!(parse_path("").is_err());
        assert!(parse_path("a..b").is_err());
    }

    #[test]
    fn replacing_a_value_keeps_comments_and_layout() {
        let edited = set(FILE, &path("agents.defaults.timeout"), &json!(60)).unwrap();
        kept(&edited);
        assert!(edited.text.contains("timeout: 60\n"));
        let edited = set(FILE, &path("gateway.port"), &json!(19000)).unwrap();
        kept(&edited);
        assert!(
            edited
                .text
                .contains("{ port: 19000, bind: \"loopback\" }, // inline comment")
        );
        let edited = set(
            FILE,
            &path("agents.defaults.model"),
            &json!({ "primary": "a/b", "fallbacks": ["c/d"] }),
        )
        .unwrap();
        kept(&edited);
        assert_eq!(
            get(&edited.text, &path("agents.defaults.model.fallbacks.0")).unwrap(),
            Some(json!("c/d"))
        );
    }

    #[test]
    fn new_keys_are_inserted_where_they_belong() {
        let edited = set(FILE, &path("agents.defaults.maxConcurrent"), &json!(4)).unwrap();
        kept(&edited);
        assert!(
            edited
                .text
                .contains("      timeout: 30,\n      maxConcurrent: 4,\n"),
            "{}",
            edited.text
        );
        let edited = set(FILE, &path("gateway.auth.mode"), &json!("token")).unwrap();
        kept(&edited);
        assert!(
            edited
                .text
                .contains(r#"bind: "loopback", auth: { mode: "token" } }"#),
            "{}",
            edited.text
        );
        let edited = set(
            FILE,
            &path("channels.telegram.botToken"),
            &json!("${TELEGRAM_BOT_TOKEN}"),
        )
        .unwrap();
        kept(&edited);
        assert_eq!(
            get(&edited.text, &path("channels.telegram.botToken")).unwrap(),
            Some(json!("${TELEGRAM_BOT_TOKEN}"))
        );
        let edited = set("{}", &path("a.b"), &json!(1)).unwrap();
        assert_eq!(edited.text, "{ a: { b: 1 } }");
        let edited = set(
            FILE,
            &path(r#"agents.defaults.models["ollama/llama3"].alias"#),
            &json!("fast"),
        )
        .unwrap();
        kept(&edited);
    }

    #[test]
    fn long_values_are_written_one_member_per_line() {
        let template =
            "// mine\n{\n  models: {\n    providers: {\n    },\n  },\n  agents: {},\n}\n";
        let provider = json!({ "baseUrl": "https://openrouter.ai/api/v1", "apiKey": "${OPENROUTER_API_KEY}", "api": "openai-completions" });
        let edited = set(template, &path("models.providers.openrouter"), &provider).unwrap();
        assert!(!edited.rewritten);
        assert_eq!(
            edited.text,
            "// mine\n{\n  models: {\n    providers: {\n      openrouter: {\n        api: \"openai-completions\",\n        apiKey: \"${OPENROUTER_API_KEY}\",\n        baseUrl: \"https://openrouter.ai/api/v1\",\n      },\n    },\n  },\n  agents: {},\n}\n"
        );
        let short = json!({ "baseUrl": "${OLLAMA_BASE_URL}", "api": "ollama" });
        let edited = set(&edited.text, &path("models.providers.ollama"), &short).unwrap();
        assert!(
            edited
                .text
                .contains("      },\n      ollama: { api: \"ollama\", baseUrl: \"${OLLAMA_BASE_URL}\" },\n    },"),
            "{}",
            edited.text
        );
        // An empty one-line object that cannot hold the value on its line opens up.
        let model = json!({ "primary": "openrouter/anthropic/claude-sonnet-4", "fallbacks": ["ollama/llama3.1:8b", "openrouter/auto"] });
        let edited = set(&edited.text, &path("agents.defaults.model"), &model).unwrap();
        assert!(
            edited.text.contains("  agents: {\n    defaults: {\n      model: {\n        fallbacks: [\"ollama/llama3.1:8b\", \"openrouter/auto\"],\n        primary: \"openrouter/anthropic/claude-sonnet-4\",\n      },\n"),
            "{}",
            edited.text
        );
        for line in edited.text.lines() {
            assert!(line.len() <= WIDTH, "{line:?} is longer than {WIDTH}");
        }
        assert_eq!(
            get(&edited.text, &path("agents.defaults.model")).unwrap(),
            Some(model)
        );
    }

    #[test]
    fn arrays_are_indexed_and_appended() {
        let text = "{ list: [1, 2] }";
        assert_eq!(
            set(text, &path("list.1"), &json!(5)).unwrap().text,
            "{ list: [1, 5] }"
        );
        assert_eq!(
            set(text, &path("list.2"), &json!(3)).unwrap().text,
            "{ list: [1, 2, 3] }"
        );
        assert!(matches!(
            set(text, &path("list.5"), &json!(3)),
            Err(EditError::OutOfRange { .. })
        ));
        assert!(matches!(
            set(text, &path("list.0.x"), &json!(3)),
            Err(EditError::NotAContainer { .. })
        ));
    }

    #[test]
    fn unset_removes_members_cleanly() {
        let edited = unset(FILE, &path("agents.defaults.timeout")).unwrap();
        kept(&edited);
        assert!(!edited.text.contains("timeout"));
        let edited = unset(FILE, &path("gateway.bind")).unwrap();
        kept(&edited);
        assert!(
            edited
                .text
                .contains("gateway: { port: 18789 }, // inline comment"),
            "{}",
            edited.text
        );
        let edited = unset(FILE, &path("models")).unwrap();
        assert!(!edited.text.contains("providers"));
        assert_eq!(
            unset(FILE, &path("nope.x")),
            Err(EditError::Missing("nope.x".into()))
        );
        assert_eq!(
            unset("{ list: [1, 2, 3] }", &path("list.1")).unwrap().text,
            "{ list: [1, 3] }"
        );
    }

    #[test]
    fn every_edit_reparses_to_the_expected_document() {
        // Odd but valid JSON5: the splice may fail, the result must still be right.
        let odd = "{a:1,/*x*/b:{'c':[1,{d:2}]},}";
        for (p, v) in [
            ("a", json!(2)),
            ("b.c.1.d", json!(3)),
            ("b.c.2", json!("x")),
            ("e.f", json!(null)),
        ] {
            let edited = set(odd, &path(p), &v).unwrap();
            assert_eq!(
                get(&edited.text, &path(p)).unwrap(),
                Some(v.clone()),
                "{p}: {}",
                edited.text
            );
        }
        for p in ["a", "b.c.0", "b"] {
            let edited = unset(odd, &path(p)).unwrap();
            assert_eq!(
                get(&edited.text, &path(p))
                    .unwrap()
                    .filter(|_| p != "b.c.0"),
                None,
                "{p}: {}",
                edited.text
            );
        }
    }
}
