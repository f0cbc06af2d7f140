//! Splitting one CSV record (a Kafka key or value) into cells, and the inverse.
//!
//! The dialect is the seed's: cells separated by commas, a cell that starts with `"` is quoted
//! (commas and line breaks inside it are data, `""` is one quote), and an unquoted `\N` is NULL.
//! One trailing line break (`\n` or `\r\n`) is dropped, since producers often send lines. Nothing
//! here knows about column types.

use std::borrow::Cow;

/// One cell: `None` is SQL NULL (an unquoted `\N`).
pub type Cell<'a> = Option<Cow<'a, str>>;

/// CSV text that cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("cell {cell} opens a quote that is never closed")]
    UnclosedQuote { cell: usize },
    #[error("cell {cell} has text after its closing quote")]
    TextAfterQuote { cell: usize },
}

/// Splits a record into cells (numbered from 1 in errors).
pub fn split(record: &str) -> Result<Vec<Cell<'_>>, CsvError> {
    let record = record
        .strip_suffix("\r\n")
        .or_else(|| record.strip_suffix('\n'))
        .unwrap_or(record);
    let mut cells = Vec::new();
    let mut rest = record;
    loop {
        let cell_no = cells.len() + 1;
        if let Some(quoted) = rest.strip_prefix('"') {
            let (cell, after) =
                read_quoted(quoted).ok_or(CsvError::UnclosedQuote { cell: cell_no })?;
            cells.push(Some(cell));
            if after.is_empty() {
                return Ok(cells);
            }
            rest = after
                .strip_prefix(',')
                .ok_or(CsvError::TextAfterQuote { cell: cell_no })?;
        } else {
            let (cell, after) = match rest.split_once(',') {
                Some((c, a)) => (c, Some(a)),
                None => (rest, None),
            };
            cells.push(if cell == "\\N" {
                None
            } else {
                Some(Cow::Borrowed(cell))
            });
            match after {
                Some(a) => rest = a,
                None => return Ok(cells),
            }
        }
    }
}

/// Reads a quoted cell's body (after the opening quote); returns the cell and the text after
/// its closing quote, or `None` when the quote is never closed.
fn read_quoted(s: &str) -> Option<(Cow<'_, str>, &str)> {
    let mut owned: Option<String> = None;
    let mut start = 0;
    let mut search = s;
    loop {
        let q = search.find('"')?;
        let abs = s.len() - search.len() + q;
        let after = s.get(abs + 1..)?;
        if let Some(after_pair) = after.strip_prefix('"') {
            // `""`: a literal quote; copy what came before it once we know we must own.
            let buf = owned.get_or_insert_with(String::new);
            buf.push_str(s.get(start..=abs)?);
            start = abs + 2;
            search = after_pair;
        } else {
            let tail = s.get(start..abs)?;
            let cell = match owned {
                Some(mut buf) => {
                    buf.push_str(tail);
                    Cow::Owned(buf)
                }
                None => Cow::Borrowed(tail),
            };
            return Some((cell, after));
        }
    }
}

/// Writes cells as one CSV record that [`split`] reads back unchanged: a cell is quoted when it
/// holds a comma, a quote or a line break, or is the text `\N` (which unquoted would be NULL).
pub fn join(cells: &[Option<&str>]) -> String {
    let mut out = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match cell {
            None => out.push_str("\\N"),
            Some(text) => {
                let needs_quotes = text.contains([',', '"', '\n', '\r']) || *text == "\\N";
                if needs_quotes {
                    out.push('"');
                    out.push_str(&text.replace('"', "\"\""));
                    out.push('"');
                } else {
                    out.push_str(text);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(s: &str) -> Vec<Option<String>> {
        split(s)
            .unwrap()
            .into_iter()
            .map(|c| c.map(Cow::into_owned))
            .collect()
    }

    fn some(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|s| Some((*s).to_owned())).collect()
    }

    #[test]
    fn plain_quoted_and_null_cells() {
        assert_eq!(cells("a,b,c"), some(&["a", "b", "c"]));
        assert_eq!(cells(""), some(&[""]));
        assert_eq!(cells("a,,"), some(&["a", "", ""]));
        assert_eq!(
            cells("\"a,b\",\"say \"\"hi\"\"\",x"),
            some(&["a,b", "say \"hi\"", "x"])
        );
        assert_eq!(cells("\"\""), some(&[""]));
        assert_eq!(cells("\"line\nbreak\""), some(&["line\nbreak"]));
        assert_eq!(
            cells("\\N,\"\\N\",x\\N"),
            vec![None, Some("\\N".to_owned()), Some("x\\N".to_owned())]
        );
        // A quote inside an unquoted cell is data.
        assert_eq!(cells("ab\"c,d"), some(&["ab\"c", "d"]));
    }

    #[test]
    fn one_trailing_line_break_is_dropped() {
        assert_eq!(cells("a,b\n"), some(&["a", "b"]));
        assert_eq!(cells("a,b\r\n"), some(&["a", "b"]));
        assert_eq!(cells("a,b\n\n"), some(&["a", "b\n"]));
    }

    #[test]
    fn syntax_errors_name_the_cell() {
        assert_eq!(split("a,\"b"), Err(CsvError::UnclosedQuote { cell: 2 }));
        assert_eq!(split("\"a\"b,c"), Err(CsvError::TextAfterQuote { cell: 1 }));
    }

    #[test]
    fn borrowed_unless_unescaping() {
        let c = split("\"abc\",\"a\"\"b\"").unwrap();
        assert!(matches!(c[0], Some(Cow::Borrowed("abc"))));
        assert!(matches!(c[1], Some(Cow::Owned(_))));
    }
}
