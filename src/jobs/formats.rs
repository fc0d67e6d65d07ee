//! The three report formats, written a batch of rows at a time into a
//! buffer the worker hands to storage:
//! - CSV (RFC 4180): a header row of the node's field names; lists joined by
//!   `;`, a dataset role as `datasetName:role`, a resource as `type:name`; cells a spreadsheet would run
//!   as a formula are neutralised (OWASP, "CSV Injection").
//! - JSON: one array of the query's nodes, as the query returns them.
//! - NDJSON: one node per line.

use std::fmt::Write as _;

use serde_json::Value;

use crate::service::reports::ReportFormat;

/// Writes rows in one format into memory; the caller takes the bytes after
/// each batch ([`Writer::take`]).
pub struct Writer {
    format: ReportFormat,
    columns: &'static [&'static str],
    /// `"column":` for each column, written once.
    keys: Vec<Vec<u8>>,
    rows: u64,
    /// JSON and NDJSON output.
    buf: Vec<u8>,
    /// CSV output (its own buffer inside).
    csv: csv::Writer<Vec<u8>>,
    /// One CSV cell's text, reused.
    cell: String,
}

impl Writer {
    pub fn new(format: ReportFormat, columns: &'static [&'static str]) -> Self {
        let keys = columns
            .iter()
            .map(|column| {
                // A string always serializes.
                let mut key = serde_json::to_vec(column).expect("a key serializes");
                key.push(b':');
                key
            })
            .collect();
        Self {
            format,
            columns,
            keys,
            rows: 0,
            buf: Vec::new(),
            csv: csv_writer(),
            cell: String::new(),
        }
    }

    /// What comes before the first row.
    pub fn begin(&mut self) {
        match self.format {
            ReportFormat::Csv => {
                // Writing into memory cannot fail.
                self.csv
                    .write_record(self.columns)
                    .expect("a CSV record writes to memory");
            }
            ReportFormat::Json => self.buf.push(b'['),
            ReportFormat::Ndjson => {}
        }
    }

    /// One row: its values in column order.
    pub fn row(&mut self, values: &[Value]) {
        match self.format {
            ReportFormat::Csv => {
                for value in values {
                    self.cell.clear();
                    csv_cell(&mut self.cell, value);
                    // A number stays a number (-3 is data, not a formula).
                    let text = !matches!(value, Value::Number(_) | Value::Bool(_));
                    if text && self.cell.starts_with(FORMULA_LEADS) {
                        self.cell.insert(0, '\'');
                    }
                    self.csv
                        .write_field(&self.cell)
                        .expect("a CSV field writes to memory");
                }
                self.csv
                    .write_record(None::<&[u8]>)
                    .expect("a CSV record writes to memory");
            }
            ReportFormat::Json => {
                if self.rows > 0 {
                    self.buf.push(b',');
                }
                self.json_object(values);
            }
            ReportFormat::Ndjson => {
                self.json_object(values);
                self.buf.push(b'\n');
            }
        }
        self.rows += 1;
    }

    /// What comes after the last row.
    pub fn finish(&mut self) {
        if self.format == ReportFormat::Json {
            self.buf.push(b']');
        }
    }

    /// The bytes written since the last call.
    pub fn take(&mut self) -> Vec<u8> {
        match self.format {
            ReportFormat::Csv => std::mem::replace(&mut self.csv, csv_writer())
                .into_inner()
                // Flushing into memory cannot fail.
                .unwrap_or_else(|err| err.into_inner().get_ref().clone()),
            _ => std::mem::take(&mut self.buf),
        }
    }

    /// The row as a JSON object, its keys in the query's selection order.
    fn json_object(&mut self, values: &[Value]) {
        self.buf.push(b'{');
        for (i, (key, value)) in self.keys.iter().zip(values).enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.buf.extend_from_slice(key);
            // JSON values always serialize.
            serde_json::to_writer(&mut self.buf, value).expect("a JSON value serializes");
        }
        self.buf.push(b'}');
    }
}

/// RFC 4180: CRLF line ends, fields quoted where they need it.
fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

/// What a spreadsheet reads as the start of a formula (OWASP): such a cell
/// gets a leading `'`.
const FORMULA_LEADS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// One value as CSV text, appended to `out`.
fn csv_cell(out: &mut String, value: &Value) {
    match value {
        Value::Null => {}
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(';');
                }
                list_item(out, item);
            }
        }
        Value::Object(_) => {
            let _ = write!(out, "{value}");
        }
    }
}

/// A list item: text as is, a dataset role as `datasetName:role`, an audit
/// event's resource as `type:name`.
fn list_item(out: &mut String, item: &Value) {
    match item {
        Value::Object(o) => match (
            o.get("datasetName"),
            o.get("role"),
            o.get("type"),
            o.get("name"),
        ) {
            (Some(Value::String(name)), Some(Value::String(role)), _, _) => {
                let _ = write!(out, "{name}:{role}");
            }
            (_, _, Some(Value::String(kind)), Some(Value::String(name))) => {
                let _ = write!(out, "{kind}:{name}");
            }
            _ => {
                let _ = write!(out, "{item}");
            }
        },
        other => csv_cell(out, other),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const COLUMNS: &[&str] = &["id", "roles", "datasets", "note"];

    fn render(format: ReportFormat, nodes: &[Value]) -> String {
        let mut writer = Writer::new(format, COLUMNS);
        writer.begin();
        let mut out = writer.take();
        for node in nodes {
            let values: Vec<Value> = COLUMNS.iter().map(|c| node[*c].clone()).collect();
            writer.row(&values);
            out.extend(writer.take());
        }
        writer.finish();
        out.extend(writer.take());
        String::from_utf8(out).unwrap()
    }

    fn nodes() -> Vec<Value> {
        vec![
            json!({"id": 1, "roles": ["A", "B"], "datasets": [{"datasetId": 3, "datasetName": "Invoices", "role": "ANALYST"}], "note": "=1+1"}),
            json!({"id": 2, "roles": [], "datasets": [], "note": "say \"hi\", ok"}),
        ]
    }

    #[test]
    fn csv_has_a_header_joins_lists_and_neutralises_formulas() {
        assert_eq!(
            render(ReportFormat::Csv, &nodes()),
            "id,roles,datasets,note\r\n1,A;B,Invoices:ANALYST,'=1+1\r\n2,,,\"say \"\"hi\"\", ok\"\r\n"
        );
    }

    #[test]
    fn json_is_one_array_of_the_nodes() {
        let parsed: Value = serde_json::from_str(&render(ReportFormat::Json, &nodes())).unwrap();
        assert_eq!(parsed, Value::Array(nodes()));
        assert_eq!(render(ReportFormat::Json, &[]), "[]");
        assert!(
            render(ReportFormat::Json, &nodes())
                .starts_with(r#"[{"id":1,"roles":["A","B"],"datasets""#),
            "keys in the query's order"
        );
    }

    #[test]
    fn ndjson_is_one_node_per_line() {
        let text = render(ReportFormat::Ndjson, &nodes());
        let parsed: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(parsed, nodes());
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn every_formula_lead_is_neutralised() {
        for lead in ["=", "+", "-", "@", "\t", "\r"] {
            let node = json!({"id": 1, "roles": [format!("{lead}x")], "datasets": [], "note": format!("{lead}y")});
            let text = render(ReportFormat::Csv, &[node]);
            let row = text.lines().nth(1).unwrap_or_default().to_owned();
            assert!(row.contains(&format!("'{lead}x")), "{lead:?}: {text:?}");
            assert!(row.contains(&format!("'{lead}y")), "{lead:?}: {text:?}");
        }
        let plain = render(
            ReportFormat::Csv,
            &[json!({"id": 1, "roles": [], "datasets": [], "note": "plain"})],
        );
        assert!(plain.ends_with("1,,,plain\r\n"), "{plain:?}");
    }

    #[test]
    fn a_negative_number_stays_a_number() {
        let text = render(
            ReportFormat::Csv,
            &[json!({"id": -1, "roles": [], "datasets": [], "note": "-1"})],
        );
        assert!(text.ends_with("-1,,,'-1\r\n"), "{text:?}");
    }
}
