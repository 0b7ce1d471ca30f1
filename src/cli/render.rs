//! Human output of the CLI: aligned tables of JSON rows, and readable values.

use serde_json::Value;

/// A JSON value as a table cell: strings bare, `null` as `-`, epoch-millisecond times as they
/// are (columns named `*_ms` are rendered as UTC times by [`time_cell`]).
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Epoch milliseconds as `YYYY-MM-DD HH:MM:SS.mmm` (UTC).
pub fn time_cell(value: &Value) -> String {
    let Some(ms) = value.as_i64() else {
        return cell(value);
    };
    let day = crate::report::Day::containing(ms);
    let in_day = ms - day.start_ms();
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{day} {h:02}:{m:02}:{s:02}.{milli:03}")
}

/// A table column: a header and the JSON pointer of its value in each row.
pub struct Column {
    pub header: &'static str,
    pub pointer: &'static str,
}

pub const fn col(header: &'static str, pointer: &'static str) -> Column {
    Column { header, pointer }
}

/// Renders `rows` as an aligned table (a header line, then one line per row).
pub fn table(columns: &[Column], rows: &[Value]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| {
                    let value = row.pointer(c.pointer).unwrap_or(&Value::Null);
                    if c.pointer.ends_with("_ms") {
                        time_cell(value)
                    } else {
                        cell(value)
                    }
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.header.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<&str>| {
        values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(columns.iter().map(|c| c.header).collect());
    out.push('\n');
    for row in &cells {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// `key: value` lines for one object's chosen fields.
pub fn fields(value: &Value, columns: &[Column]) -> String {
    let width = columns.iter().map(|c| c.header.len()).max().unwrap_or(0);
    columns
        .iter()
        .map(|c| {
            let v = value.pointer(c.pointer).unwrap_or(&Value::Null);
            let shown = if c.pointer.ends_with("_ms") {
                time_cell(v)
            } else {
                cell(v)
            };
            format!("{:<width$}  {shown}\n", c.header)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_and_show_times_and_nulls() {
        let rows = [
            json!({"id": 1, "status": "filled", "price": "100.5", "created_at_ms": 1_796_342_400_123_i64}),
            json!({"id": 22, "status": "new", "price": null, "created_at_ms": 0}),
        ];
        let out = table(
            &[
                col("ID", "/id"),
                col("STATUS", "/status"),
                col("PRICE", "/price"),
                col("CREATED", "/created_at_ms"),
            ],
            &rows,
        );
        assert_eq!(
            out,
            "ID  STATUS  PRICE  CREATED\n\
             1   filled  100.5  2026-12-04 00:00:00.123\n\
             22  new     -      1970-01-01 00:00:00.000\n"
        );
    }
}
