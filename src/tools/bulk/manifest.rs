//! A job's manifest, read as it arrives: bytes in, one item object per
//! record out, with the line each record started on. JSONL holds one item
//! object a line; CSV a header row naming item fields, then one item a
//! record (RFC 4180: quoted fields may hold commas, quotes doubled, and line
//! breaks). Blank lines are skipped. Nothing here knows what an item may
//! hold: the checks of a create do (`bulk::check_item`).

use crate::json::{parse_strict, truncate};
use serde_json::{Map, Value};

/// The longest record read; a longer one is a bad line, and the rest of the
/// file is not read (its line numbers could no longer be trusted).
pub(crate) const MAX_RECORD: usize = 64 * 1024;

/// The two formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Jsonl,
    Csv,
}

impl Format {
    /// The format of a manifest at `url` answered with `content_type`: CSV
    /// when either says so, else JSONL.
    pub(crate) fn of(url: &str, content_type: &str) -> Format {
        let path = url
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let ct = content_type.to_ascii_lowercase();
        if path.ends_with(".csv") || ct.starts_with("text/csv") {
            Format::Csv
        } else {
            Format::Jsonl
        }
    }
}

/// One record: the line it started on, and its item or why it is bad.
pub(crate) type Record = (u32, Result<Map<String, Value>, String>);

/// Splits a manifest into records as its bytes arrive.
pub(crate) struct Reader {
    format: Format,
    buf: Vec<u8>,
    /// The line the next record starts on.
    line: u32,
    /// CSV: the header's field names, once read.
    header: Option<Vec<String>>,
    /// A record was too long: nothing after it is read.
    broken: bool,
}

impl Reader {
    pub(crate) fn new(format: Format) -> Reader {
        Reader {
            format,
            buf: Vec::new(),
            line: 1,
            header: None,
            broken: false,
        }
    }

    /// Takes the next bytes; gives the records they complete.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<Record> {
        if self.broken {
            return Vec::new();
        }
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        let mut quoted = false;
        let mut i = 0;
        while i < self.buf.len() {
            match self.buf[i] {
                b'"' if self.format == Format::Csv => quoted = !quoted,
                b'\n' if !quoted => {
                    let rec = self.buf[start..i].to_vec();
                    self.take(&rec, &mut out);
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
            if i - start > MAX_RECORD {
                out.push((
                    self.line,
                    Err(format!(
                        "longer than {} KiB; the rest of the file was not read",
                        MAX_RECORD / 1024
                    )),
                ));
                self.broken = true;
                self.buf.clear();
                return out;
            }
        }
        self.buf.drain(..start);
        out
    }

    /// The last record, when the file does not end with a line break.
    pub(crate) fn finish(&mut self) -> Vec<Record> {
        let mut out = Vec::new();
        if !self.broken && !self.buf.is_empty() {
            let rec = std::mem::take(&mut self.buf);
            self.take(&rec, &mut out);
        }
        out
    }

    fn take(&mut self, rec: &[u8], out: &mut Vec<Record>) {
        if self.broken {
            return;
        }
        let line = self.line;
        self.line += 1 + rec.iter().filter(|b| **b == b'\n').count() as u32;
        let rec = rec.strip_suffix(b"\r").unwrap_or(rec);
        // A UTF-8 byte-order mark may open the file.
        let rec = if line == 1 {
            rec.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(rec)
        } else {
            rec
        };
        if rec.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let item = match self.format {
            Format::Jsonl => jsonl(rec),
            Format::Csv => match std::str::from_utf8(rec) {
                Err(_) => Err("is not UTF-8 text".into()),
                Ok(text) => match &self.header {
                    None => {
                        match header(text) {
                            Ok(h) => self.header = Some(h),
                            Err(e) => {
                                // Without a header no row can be read.
                                self.broken = true;
                                out.push((line, Err(e)));
                            }
                        }
                        return;
                    }
                    Some(h) => row(h, text),
                },
            },
        };
        out.push((line, item));
    }
}

fn jsonl(rec: &[u8]) -> Result<Map<String, Value>, String> {
    match parse_strict(rec) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("must be a JSON object (one item a line)".into()),
        Err(e) => Err(format!("is not JSON: {}", truncate(&e, 120))),
    }
}

/// The cells of one CSV record. A quote inside an unquoted cell is kept as
/// it is (`["a"]` in a `tags` cell), as common CSV writers expect.
fn cells(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if cell.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            (',', false) => {
                out.push(std::mem::take(&mut cell));
                was_quoted = false;
            }
            (c, _) => {
                if was_quoted && !quoted {
                    return Err("has text after a closing quote".into());
                }
                cell.push(c);
            }
        }
    }
    if quoted {
        return Err("has a quoted field that never closes".into());
    }
    out.push(cell);
    Ok(out)
}

/// The header's field names: item fields, each once.
fn header(text: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = cells(text)?
        .into_iter()
        .map(|n| n.trim().to_string())
        .collect();
    for (i, n) in names.iter().enumerate() {
        if !super::ITEM_FIELDS.contains(&n.as_str()) {
            return Err(format!(
                "the header names `{}`, which is not an item field; the fields are: {}",
                truncate(n, 64),
                super::ITEM_FIELDS.join(", ")
            ));
        }
        if names[..i].contains(n) {
            return Err(format!("the header names `{n}` twice"));
        }
    }
    Ok(names)
}

/// One CSV row as an item: empty cells are left out; `metadata` and
/// `params` hold JSON objects, `tags` a JSON array of strings or tags
/// separated by `|`.
fn row(header: &[String], text: &str) -> Result<Map<String, Value>, String> {
    let cells = cells(text)?;
    if cells.len() != header.len() {
        return Err(format!(
            "has {} fields where the header has {}",
            cells.len(),
            header.len()
        ));
    }
    let mut item = Map::new();
    for (name, cell) in header.iter().zip(cells) {
        if cell.is_empty() {
            continue;
        }
        let value = match name.as_str() {
            "metadata" | "params" => match parse_strict(cell.as_bytes()) {
                Ok(v @ Value::Object(_)) => v,
                _ => return Err(format!("`{name}` must be a JSON object")),
            },
            "tags" if cell.starts_with('[') => parse_strict(cell.as_bytes()).map_err(|_| {
                "`tags` must be a JSON array of strings or tags separated by |".to_string()
            })?,
            "tags" => Value::Array(cell.split('|').map(|t| Value::from(t.trim())).collect()),
            _ => Value::String(cell),
        };
        item.insert(name.clone(), value);
    }
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(format: Format, text: &str, piece: usize) -> Vec<Record> {
        let mut r = Reader::new(format);
        let mut out = Vec::new();
        for c in text.as_bytes().chunks(piece) {
            out.extend(r.push(c));
        }
        out.extend(r.finish());
        out
    }

    #[test]
    fn jsonl_records_carry_their_line_whatever_the_chunking() {
        let text = "{\"attachment\":\"a\"}\n\n{\"attachment\":\"b\"}\r\n[1]\n{oops\n{\"attachment\":\"c\"}";
        for piece in [1, 3, 7, 1000] {
            let recs = all(Format::Jsonl, text, piece);
            let lines: Vec<u32> = recs.iter().map(|r| r.0).collect();
            assert_eq!(lines, [1, 3, 4, 5, 6], "piece {piece}");
            assert_eq!(recs[1].1.as_ref().unwrap()["attachment"], "b");
            assert!(recs[2].1.as_ref().unwrap_err().contains("JSON object"));
            assert!(recs[3].1.as_ref().unwrap_err().contains("not JSON"));
            assert_eq!(recs[4].1.as_ref().unwrap()["attachment"], "c");
        }
    }

    #[test]
    fn csv_reads_quotes_line_breaks_and_typed_cells() {
        let text = "attachment,metadata,tags,instruction\n\
a.png,\"{\"\"n\"\": 1}\",x|y,\"two\nlines, and a comma\"\n\
b.png,,[\"t\"],\n";
        for piece in [1, 5, 1000] {
            let recs = all(Format::Csv, text, piece);
            assert_eq!(recs.len(), 2, "piece {piece}");
            let (line, first) = &recs[0];
            let first = first.as_ref().unwrap();
            assert_eq!(*line, 2);
            assert_eq!(first["metadata"]["n"], 1);
            assert_eq!(first["tags"], serde_json::json!(["x", "y"]));
            assert_eq!(first["instruction"], "two\nlines, and a comma");
            // The quoted line break counts: the next record starts on line 4.
            assert_eq!(recs[1].0, 4);
            let second = recs[1].1.as_ref().unwrap();
            assert!(second.get("metadata").is_none());
            assert_eq!(second["tags"], serde_json::json!(["t"]));
        }
    }

    #[test]
    fn csv_errors_name_what_is_wrong() {
        let recs = all(Format::Csv, "attachment,colour\na\n", 100);
        assert_eq!(recs.len(), 1);
        assert!(recs[0].1.as_ref().unwrap_err().contains("`colour`"));
        let recs = all(
            Format::Csv,
            "attachment,metadata\na\nb,nope\nc,\"x\"y\n",
            100,
        );
        let errs: Vec<&str> = recs
            .iter()
            .map(|r| r.1.as_ref().unwrap_err().as_str())
            .collect();
        assert!(errs[0].contains("1 fields where the header has 2"));
        assert!(errs[1].contains("JSON object"));
        assert!(errs[2].contains("after a closing quote"));
    }

    #[test]
    fn an_overlong_record_stops_the_read() {
        let long = format!("{{\"attachment\":\"{}\"}}\n{{}}\n", "x".repeat(MAX_RECORD));
        let recs = all(Format::Jsonl, &long, 4096);
        assert_eq!(recs.len(), 1);
        assert!(recs[0].1.as_ref().unwrap_err().contains("KiB"));
    }

    #[test]
    fn the_format_follows_the_url_or_the_content_type() {
        assert_eq!(Format::of("https://b.example/m.CSV?x=1", ""), Format::Csv);
        assert_eq!(
            Format::of("https://b.example/m", "text/csv; charset=utf-8"),
            Format::Csv
        );
        assert_eq!(
            Format::of("https://b.example/m.jsonl", "text/plain"),
            Format::Jsonl
        );
    }
}
