//! The three report formats, written a row at a time, cell by cell, straight
//! into one buffer the worker hands to storage (no value per cell in
//! between):
//! - CSV (RFC 4180): a header row of the node's field names; lists joined by
//!   `;`, an object in a list by its two label fields (a dataset role as
//!   `datasetName:role`, a resource as `type:name`); cells a spreadsheet
//!   would run as a formula are neutralised (OWASP, "CSV Injection").
//! - JSON: one array of the query's nodes, as the query returns them.
//! - NDJSON: one node per line.

use std::io::Write as _;

use crate::service::reports::ReportFormat;

/// One scalar: a cell, or a field of an object in a list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// Written as GraphQL writes a `Float` (a non-finite one is null).
    Float(f64),
    Text(&'a str),
}

impl From<bool> for Cell<'_> {
    fn from(value: bool) -> Self {
        Cell::Bool(value)
    }
}

impl From<i32> for Cell<'_> {
    fn from(value: i32) -> Self {
        Cell::Int(value.into())
    }
}

impl From<i64> for Cell<'_> {
    fn from(value: i64) -> Self {
        Cell::Int(value)
    }
}

impl From<f64> for Cell<'_> {
    fn from(value: f64) -> Self {
        Cell::Float(value)
    }
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(value: &'a str) -> Self {
        Cell::Text(value)
    }
}

impl<'a> From<&'a String> for Cell<'a> {
    fn from(value: &'a String) -> Self {
        Cell::Text(value)
    }
}

impl<'a, T: Into<Cell<'a>>> From<Option<T>> for Cell<'a> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Cell::Null, Into::into)
    }
}

/// One item of a list cell.
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    Text(&'a str),
    /// An object (each a report lists has three fields): its fields, and
    /// the two values that label it in CSV.
    Object {
        fields: [(&'static str, Cell<'a>); 3],
        label: (&'a str, &'a str),
    },
}

/// Writes rows in one format into memory; the caller stores the pending
/// bytes when enough have gathered, then clears them.
pub struct Writer {
    format: ReportFormat,
    columns: &'static [&'static str],
    rows: u64,
    buf: Vec<u8>,
}

impl Writer {
    pub fn new(format: ReportFormat, columns: &'static [&'static str]) -> Self {
        Self {
            format,
            columns,
            rows: 0,
            buf: Vec::new(),
        }
    }

    /// What comes before the first row.
    pub fn begin(&mut self) {
        match self.format {
            ReportFormat::Csv => {
                for (i, column) in self.columns.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(b',');
                    }
                    let start = self.buf.len();
                    self.buf.extend_from_slice(column.as_bytes());
                    quote_if_needed(&mut self.buf, start);
                }
                self.buf.extend_from_slice(b"\r\n");
            }
            ReportFormat::Json => self.buf.push(b'['),
            ReportFormat::Ndjson => {}
        }
    }

    /// One row: `write` writes its cells in column order.
    pub fn row(&mut self, write: impl FnOnce(&mut Row<'_>)) {
        if self.format == ReportFormat::Json && self.rows > 0 {
            self.buf.push(b',');
        }
        if self.format != ReportFormat::Csv {
            self.buf.push(b'{');
        }
        let mut row = Row {
            writer: self,
            column: 0,
        };
        write(&mut row);
        let written = row.column;
        debug_assert_eq!(written, self.columns.len(), "a cell per column");
        match self.format {
            ReportFormat::Csv => self.buf.extend_from_slice(b"\r\n"),
            ReportFormat::Json => self.buf.push(b'}'),
            ReportFormat::Ndjson => self.buf.extend_from_slice(b"}\n"),
        }
        self.rows += 1;
    }

    /// What comes after the last row.
    pub fn finish(&mut self) {
        if self.format == ReportFormat::Json {
            self.buf.push(b']');
        }
    }

    /// The bytes written since the last [`Writer::clear`].
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Forgets the pending bytes (once stored), keeping the buffer.
    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

/// The row being written.
pub struct Row<'w> {
    writer: &'w mut Writer,
    column: usize,
}

impl Row<'_> {
    /// The next column's value.
    pub fn cell<'a>(&mut self, cell: impl Into<Cell<'a>>) {
        let cell = cell.into();
        let start = self.next_column();
        let buf = &mut self.writer.buf;
        if self.writer.format == ReportFormat::Csv {
            csv_scalar(buf, cell);
            // A number stays a number (-3 is data, not a formula), and
            // neither it nor a boolean holds anything to quote.
            if matches!(cell, Cell::Text(_)) {
                neutralise(buf, start);
                quote_if_needed(buf, start);
            }
        } else {
            json_scalar(buf, cell);
        }
    }

    /// The next column's value: a list.
    pub fn list<'a>(&mut self, items: impl IntoIterator<Item = Item<'a>>) {
        let start = self.next_column();
        let buf = &mut self.writer.buf;
        let csv = self.writer.format == ReportFormat::Csv;
        if !csv {
            buf.push(b'[');
        }
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                buf.push(if csv { b';' } else { b',' });
            }
            match (item, csv) {
                (Item::Text(text), true) => buf.extend_from_slice(text.as_bytes()),
                (Item::Text(text), false) => json_text(buf, text),
                (Item::Object { label, .. }, true) => {
                    buf.extend_from_slice(label.0.as_bytes());
                    buf.push(b':');
                    buf.extend_from_slice(label.1.as_bytes());
                }
                (Item::Object { fields, .. }, false) => {
                    buf.push(b'{');
                    for (j, (key, value)) in fields.into_iter().enumerate() {
                        if j > 0 {
                            buf.push(b',');
                        }
                        json_key(buf, key);
                        json_scalar(buf, value);
                    }
                    buf.push(b'}');
                }
            }
        }
        if csv {
            neutralise(buf, start);
            quote_if_needed(buf, start);
        } else {
            buf.push(b']');
        }
    }

    /// Starts the next column (its separator, and in JSON its key); returns
    /// where its value starts.
    fn next_column(&mut self) -> usize {
        let column = self.column;
        self.column += 1;
        let buf = &mut self.writer.buf;
        if column > 0 {
            buf.push(b',');
        }
        if self.writer.format != ReportFormat::Csv {
            json_key(buf, self.writer.columns[column]);
        }
        buf.len()
    }
}

/// `"key":` (keys are GraphQL names: nothing to escape).
fn json_key(buf: &mut Vec<u8>, key: &str) {
    buf.push(b'"');
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(b"\":");
}

fn json_text(buf: &mut Vec<u8>, text: &str) {
    // Writing a string into memory cannot fail.
    serde_json::to_writer(&mut *buf, text).expect("a string serializes");
}

fn json_scalar(buf: &mut Vec<u8>, cell: Cell<'_>) {
    match cell {
        Cell::Null => buf.extend_from_slice(b"null"),
        Cell::Text(text) => json_text(buf, text),
        // As GraphQL's Float: serde_json's number, null when not finite.
        Cell::Float(f) => match serde_json::Number::from_f64(f) {
            Some(n) => serde_json::to_writer(&mut *buf, &n).expect("a number serializes"),
            None => buf.extend_from_slice(b"null"),
        },
        other => plain_scalar(buf, other),
    }
}

fn csv_scalar(buf: &mut Vec<u8>, cell: Cell<'_>) {
    match cell {
        Cell::Null => {}
        Cell::Text(text) => buf.extend_from_slice(text.as_bytes()),
        Cell::Float(f) => {
            if let Some(n) = serde_json::Number::from_f64(f) {
                // Writing into memory cannot fail.
                let _ = write!(buf, "{n}");
            }
        }
        other => plain_scalar(buf, other),
    }
}

/// A boolean or integer, written alike in both formats.
fn plain_scalar(buf: &mut Vec<u8>, cell: Cell<'_>) {
    match cell {
        Cell::Bool(true) => buf.extend_from_slice(b"true"),
        Cell::Bool(false) => buf.extend_from_slice(b"false"),
        Cell::Int(i) => buf.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
        Cell::Null | Cell::Float(_) | Cell::Text(_) => {}
    }
}

/// What a spreadsheet reads as the start of a formula (OWASP): such a cell
/// gets a leading `'`.
const FORMULA_LEADS: [u8; 6] = [b'=', b'+', b'-', b'@', b'\t', b'\r'];

/// Neutralises the text cell written from `start` on.
fn neutralise(buf: &mut Vec<u8>, start: usize) {
    if buf.get(start).is_some_and(|b| FORMULA_LEADS.contains(b)) {
        buf.insert(start, b'\'');
    }
}

/// RFC 4180: a cell holding a delimiter, a quote or a line break is quoted,
/// its quotes doubled.
fn quote_if_needed(buf: &mut Vec<u8>, start: usize) {
    if !buf[start..]
        .iter()
        .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        return;
    }
    let cell = buf.split_off(start);
    buf.push(b'"');
    for &b in &cell {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const COLUMNS: &[&str] = &["id", "roles", "datasets", "note"];

    /// A test node: id, roles, (dataset id, name, role), note.
    type Node<'a> = (i64, &'a [&'a str], &'a [(i64, &'a str, &'a str)], &'a str);

    fn render(format: ReportFormat, nodes: &[Node<'_>]) -> String {
        let mut writer = Writer::new(format, COLUMNS);
        writer.begin();
        for (id, roles, datasets, note) in nodes {
            writer.row(|row| {
                row.cell(*id);
                row.list(roles.iter().map(|r| Item::Text(r)));
                row.list(datasets.iter().map(|(id, name, role)| Item::Object {
                    fields: [
                        ("datasetId", Cell::Int(*id)),
                        ("datasetName", Cell::Text(name)),
                        ("role", Cell::Text(role)),
                    ],
                    label: (name, role),
                }));
                row.cell(*note);
            });
        }
        writer.finish();
        String::from_utf8(writer.pending().to_vec()).unwrap()
    }

    const NODES: &[Node<'static>] = &[
        (1, &["A", "B"], &[(3, "Invoices", "ANALYST")], "=1+1"),
        (2, &[], &[], "say \"hi\", ok"),
    ];

    fn nodes_json() -> Vec<Value> {
        vec![
            json!({"id": 1, "roles": ["A", "B"], "datasets": [{"datasetId": 3, "datasetName": "Invoices", "role": "ANALYST"}], "note": "=1+1"}),
            json!({"id": 2, "roles": [], "datasets": [], "note": "say \"hi\", ok"}),
        ]
    }

    #[test]
    fn csv_has_a_header_joins_lists_and_neutralises_formulas() {
        assert_eq!(
            render(ReportFormat::Csv, NODES),
            "id,roles,datasets,note\r\n1,A;B,Invoices:ANALYST,'=1+1\r\n2,,,\"say \"\"hi\"\", ok\"\r\n"
        );
    }

    #[test]
    fn json_is_one_array_of_the_nodes() {
        let parsed: Value = serde_json::from_str(&render(ReportFormat::Json, NODES)).unwrap();
        assert_eq!(parsed, Value::Array(nodes_json()));
        assert_eq!(render(ReportFormat::Json, &[]), "[]");
        assert!(
            render(ReportFormat::Json, NODES)
                .starts_with(r#"[{"id":1,"roles":["A","B"],"datasets""#),
            "keys in the query's order"
        );
    }

    #[test]
    fn ndjson_is_one_node_per_line() {
        let text = render(ReportFormat::Ndjson, NODES);
        let parsed: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(parsed, nodes_json());
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn every_formula_lead_is_neutralised() {
        for lead in ["=", "+", "-", "@", "\t", "\r"] {
            let role = format!("{lead}x");
            let note = format!("{lead}y");
            let text = render(ReportFormat::Csv, &[(1, &[role.as_str()], &[], &note)]);
            let row = text.split("\r\n").nth(1).unwrap_or_default().to_owned();
            assert!(row.contains(&format!("'{lead}x")), "{lead:?}: {text:?}");
            assert!(row.contains(&format!("'{lead}y")), "{lead:?}: {text:?}");
        }
        let plain = render(ReportFormat::Csv, &[(1, &[], &[], "plain")]);
        assert!(plain.ends_with("1,,,plain\r\n"), "{plain:?}");
    }

    #[test]
    fn a_negative_number_stays_a_number() {
        let text = render(ReportFormat::Csv, &[(-1, &[], &[], "-1")]);
        assert!(text.ends_with("-1,,,'-1\r\n"), "{text:?}");
    }

    #[test]
    fn scalars_are_written_as_serde_json_writes_them() {
        let cells = [
            Cell::Null,
            Cell::Bool(true),
            Cell::Int(i64::MIN),
            Cell::Float(12.0),
            Cell::Float(0.1 + 0.2),
            Cell::Float(1e300),
            Cell::Float(f64::NAN),
            Cell::Text("tab\there \"q\" \u{1} é"),
        ];
        for cell in cells {
            let expected = match cell {
                Cell::Null => Value::Null,
                Cell::Bool(b) => b.into(),
                Cell::Int(i) => i.into(),
                Cell::Float(f) => {
                    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
                }
                Cell::Text(t) => t.into(),
            };
            let mut buf = Vec::new();
            json_scalar(&mut buf, cell);
            assert_eq!(buf, serde_json::to_vec(&expected).unwrap(), "{cell:?}");
            if let Value::Number(n) = &expected {
                let mut buf = Vec::new();
                csv_scalar(&mut buf, cell);
                assert_eq!(String::from_utf8(buf).unwrap(), n.to_string(), "{cell:?}");
            }
        }
    }
}
