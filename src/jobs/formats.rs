//! The three report formats, written a batch of rows at a time into a
//! buffer the worker hands to storage:
//! - CSV (RFC 4180): a header row of the node's field names; lists joined by
//!   `;`, a dataset role as `datasetName:role`, a resource as `type:name`; cells a spreadsheet would run
//!   as a formula are neutralised (OWASP, "CSV Injection").
//! - JSON: one array of the query's nodes, as the query returns them.
//! - NDJSON: one node per line.

use serde_json::{Map, Value};

use crate::service::reports::ReportFormat;

/// Writes rows in one format into memory; the caller takes the bytes after
/// each batch ([`Writer::take`]).
pub struct Writer {
    format: ReportFormat,
    columns: Vec<&'static str>,
    rows: u64,
    /// JSON and NDJSON output.
    buf: Vec<u8>,
    /// CSV output (its own buffer inside).
    csv: csv::Writer<Vec<u8>>,
}

impl Writer {
    pub fn new(format: ReportFormat, columns: Vec<&'static str>) -> Self {
        Self {
            format,
            columns,
            rows: 0,
            buf: Vec::new(),
            csv: csv_writer(),
        }
    }

    /// What comes before the first row.
    pub fn begin(&mut self) {
        match self.format {
            ReportFormat::Csv => {
                let header = self.columns.clone();
                self.csv_record(header.iter());
            }
            ReportFormat::Json => self.buf.push(b'['),
            ReportFormat::Ndjson => {}
        }
    }

    pub fn row(&mut self, node: &Map<String, Value>) {
        match self.format {
            ReportFormat::Csv => {
                let cells: Vec<String> = self
                    .columns
                    .iter()
                    .map(|column| csv_cell(node.get(*column).unwrap_or(&Value::Null)))
                    .collect();
                self.csv_record(cells.iter());
            }
            ReportFormat::Json => {
                if self.rows > 0 {
                    self.buf.push(b',');
                }
                write_json(&mut self.buf, &self.columns, node);
            }
            ReportFormat::Ndjson => {
                write_json(&mut self.buf, &self.columns, node);
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

    fn csv_record<I, T>(&mut self, cells: I)
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        // Writing into memory cannot fail.
        self.csv
            .write_record(cells)
            .expect("a CSV record writes to memory");
    }
}

/// RFC 4180: CRLF line ends, fields quoted where they need it.
fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

/// The node as a JSON object, its keys in the query's selection order.
fn write_json(out: &mut Vec<u8>, columns: &[&'static str], node: &Map<String, Value>) {
    out.push(b'{');
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Strings and JSON values always serialize.
        serde_json::to_writer(&mut *out, column).expect("a key serializes");
        out.push(b':');
        serde_json::to_writer(&mut *out, node.get(*column).unwrap_or(&Value::Null))
            .expect("a JSON value serializes");
    }
    out.push(b'}');
}

/// One value as CSV text.
fn csv_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => neutralise(s),
        Value::Array(items) => {
            neutralise(&items.iter().map(list_item).collect::<Vec<_>>().join(";"))
        }
        Value::Object(_) => neutralise(&value.to_string()),
    }
}

/// A list item: text as is, a dataset role as `datasetName:role`, an audit
/// event's resource as `type:name`.
fn list_item(item: &Value) -> String {
    match item {
        Value::String(s) => s.clone(),
        Value::Object(o) => match (
            o.get("datasetName"),
            o.get("role"),
            o.get("type"),
            o.get("name"),
        ) {
            (Some(Value::String(name)), Some(Value::String(role)), _, _) => {
                format!("{name}:{role}")
            }
            (_, _, Some(Value::String(kind)), Some(Value::String(name))) => {
                format!("{kind}:{name}")
            }
            _ => item.to_string(),
        },
        other => csv_cell(other),
    }
}

/// Text a spreadsheet would read as a formula gets a leading `'`.
fn neutralise(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(format: ReportFormat, nodes: &[Value]) -> String {
        let mut writer = Writer::new(format, vec!["id", "roles", "datasets", "note"]);
        writer.begin();
        let mut out = writer.take();
        for node in nodes {
            writer.row(node.as_object().unwrap());
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
            assert_eq!(neutralise(&format!("{lead}x")), format!("'{lead}x"));
        }
        assert_eq!(neutralise("plain"), "plain");
    }
}
