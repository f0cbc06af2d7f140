//! A small signed client of the service API: submits one statement as an instance, waits for
//! it and fetches its result; [`console`] prints it like the MaxCompute console (an aligned
//! table for queries, plain lines otherwise), as `emulator sql` does. [`Client`] is also what
//! the tests use to sign requests. It reads nothing from the data directory.

use std::time::Duration;

use maxcompute_core::signing::{self, Secret};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters left as-is in a query component (the RFC 3986 unreserved set).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Why a `sql` run failed.
#[derive(Debug, thiserror::Error)]
pub enum SqlCmdError {
    #[error("request to {url} failed: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("the service answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the statement failed: {0}")]
    Failed(String),
    #[error("unexpected response: {0}")]
    Protocol(String),
}

/// A client that signs every request (v2) with one AccessKey pair.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `http://host:port`, without `/api`.
    pub base: String,
    access_id: String,
    secret: Secret,
}

impl Client {
    /// A client of the service endpoint (`http://host:port/api`; the `/api` may be left off).
    pub fn for_endpoint(endpoint: &str, access_id: &str, secret: &str) -> Self {
        let base = endpoint.trim_end_matches('/');
        Self::new(base.strip_suffix("/api").unwrap_or(base), access_id, secret)
    }

    // Like `reqwest::Client::new`, which panics the same way: building a client without
    // settings fails only when the TLS backend cannot start.
    #[allow(clippy::expect_used)]
    pub fn new(base: &str, access_id: &str, secret: &str) -> Self {
        Self {
            http: maxcompute_client::http_client_builder()
                .build()
                .expect("an HTTP client"),
            base: base.trim_end_matches('/').to_owned(),
            access_id: access_id.to_owned(),
            secret: Secret::new(secret),
        }
    }

    /// Encodes a query as a client would send it (`name` alone when the value is empty and
    /// `valueless`, `name=value` otherwise).
    pub fn encode_query(query: &[(&str, &str)]) -> String {
        query
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    utf8_percent_encode(k, QUERY).to_string()
                } else {
                    format!(
                        "{}={}",
                        utf8_percent_encode(k, QUERY),
                        utf8_percent_encode(v, QUERY)
                    )
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Sends one signed request. `path` includes `/api` for service calls.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<reqwest::Response, SqlCmdError> {
        let qs = Self::encode_query(query);
        let target = if qs.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{qs}")
        };
        let date = signing::http_date(chrono::Utc::now());
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        // A caller may pin the Date (to test clock skew); otherwise it is now.
        if !all.iter().any(|(k, _)| k.eq_ignore_ascii_case("date")) {
            all.push(("Date".to_owned(), date));
        }
        all.push(("x-odps-user-agent".to_owned(), "emulator-sql".to_owned()));
        let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let prefix = if path.starts_with("/api/") {
            "/api"
        } else {
            ""
        };
        let sts = signing::canonical_string_for_request(method.as_str(), &pairs, &target, prefix);
        let sig = signing::sign_v2(&self.secret, &sts);
        let url = format!("{}{}", self.base, target);
        let mut rb = self.http.request(method, &url).body(body);
        for (k, v) in &all {
            rb = rb.header(k.as_str(), v.as_str());
        }
        rb = rb.header(
            "Authorization",
            signing::authorization_v2(&self.access_id, &sig),
        );
        rb.send()
            .await
            .map_err(|source| SqlCmdError::Http { url, source })
    }

    async fn text(&self, path: &str, query: &[(&str, &str)]) -> Result<String, SqlCmdError> {
        let resp = self
            .send(reqwest::Method::GET, path, query, &[], Vec::new())
            .await?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|source| SqlCmdError::Http {
            url: path.to_owned(),
            source,
        })?;
        if status >= 300 {
            return Err(SqlCmdError::Status { status, body });
        }
        Ok(body)
    }

    /// Submits a statement as an SQL instance and returns `(format, result text)` once it ends.
    pub async fn run_sql(
        &self,
        project: &str,
        statement: &str,
    ) -> Result<(String, String), SqlCmdError> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Instance><Job><Priority>9</Priority><Tasks><SQL><Name>AnonymousSQLTask</Name><Config></Config><Query>{}</Query></SQL></Tasks><DAG><RunMode>Sequence</RunMode></DAG></Job></Instance>",
            crate::xml_body::cdata(statement)
        );
        let path = format!("/api/projects/{project}/instances");
        let resp = self
            .send(
                reqwest::Method::POST,
                &path,
                &[("curr_project", project)],
                &[("Content-Type", "application/xml")],
                body.into_bytes(),
            )
            .await?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if status != 201 {
            let body = resp.text().await.unwrap_or_default();
            return Err(SqlCmdError::Status { status, body });
        }
        let location =
            location.ok_or_else(|| SqlCmdError::Protocol("no Location header".to_owned()))?;
        let id = location.rsplit('/').next().unwrap_or_default().to_owned();
        let inst_path = format!("/api/projects/{project}/instances/{id}");
        let mut waited = Duration::ZERO;
        loop {
            let status = self
                .text(&inst_path, &[("taskstatus", ""), ("curr_project", project)])
                .await?;
            if status.contains("<Status>Terminated</Status>") {
                let result = self
                    .text(&inst_path, &[("result", ""), ("curr_project", project)])
                    .await?;
                let format = between(&result, "Format=\"", "\"")
                    .unwrap_or("text")
                    .to_owned();
                let text = between(&result, "<![CDATA[", "]]></Result>")
                    .unwrap_or_default()
                    .to_owned();
                if status.contains("<Status>Failed</Status>") {
                    return Err(SqlCmdError::Failed(text));
                }
                return Ok((format, text));
            }
            if waited > Duration::from_secs(60) {
                return Err(SqlCmdError::Protocol(
                    "the instance did not finish within 60 s".to_owned(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            waited += Duration::from_millis(200);
        }
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let rest = s.get(from..)?;
    let to = rest.find(end)?;
    rest.get(..to)
}

/// Splits CSV text into rows of fields (`"` quoting, `""` escapes); `\N` becomes `NULL`.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                was_quoted = true;
            }
            ',' => row.push(finish_field(&mut field, &mut was_quoted)),
            '\n' => {
                row.push(finish_field(&mut field, &mut was_quoted));
                rows.push(std::mem::take(&mut row));
            }
            '\r' => {}
            c => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(finish_field(&mut field, &mut was_quoted));
        rows.push(row);
    }
    rows
}

fn finish_field(field: &mut String, was_quoted: &mut bool) -> String {
    let f = std::mem::take(field);
    let quoted = std::mem::replace(was_quoted, false);
    if !quoted && f == "\\N" {
        "NULL".to_owned()
    } else {
        f
    }
}

/// Formats rows (first row = header) as the console's boxed table.
pub fn format_table(rows: &[Vec<String>]) -> String {
    let Some(header) = rows.first() else {
        return String::new();
    };
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(cur) => *cur = (*cur).max(w),
                None => widths.push(w),
            }
        }
    }
    let rule = format!(
        "+{}+\n",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("+")
    );
    let line = |row: &Vec<String>| {
        let cells: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let cell = row.get(i).map(String::as_str).unwrap_or("");
                format!(
                    " {cell}{} ",
                    " ".repeat(w.saturating_sub(cell.chars().count()))
                )
            })
            .collect();
        format!("|{}|\n", cells.join("|"))
    };
    let mut out = rule.clone();
    out.push_str(&line(header));
    out.push_str(&rule);
    for row in rows.iter().skip(1) {
        out.push_str(&line(row));
    }
    out.push_str(&rule);
    out
}

/// Runs one statement and returns what the console prints for it: an aligned table for a
/// query, its text otherwise.
pub async fn console(
    client: &Client,
    project: &str,
    statement: &str,
) -> Result<String, SqlCmdError> {
    let (format, text) = client.run_sql(project, statement).await?;
    if format == "csv" {
        Ok(format_table(&parse_csv(&text)))
    } else if text.is_empty() || text.ends_with('\n') {
        Ok(text)
    } else {
        Ok(format!("{text}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips_quotes_and_nulls() {
        let rows = parse_csv("a,b\n\"x,1\",\\N\n\"he said \"\"hi\"\"\",\"\\N\"\n");
        assert_eq!(
            rows,
            vec![
                vec!["a", "b"],
                vec!["x,1", "NULL"],
                vec!["he said \"hi\"", "\\N"]
            ]
        );
    }

    #[test]
    fn table_is_aligned_like_the_console() {
        let rows = vec![
            vec!["topic".to_owned(), "pt".to_owned()],
            vec![
                "maxcompute-test-input".to_owned(),
                "11-17-2020 14".to_owned(),
            ],
        ];
        let expected = "\
+-----------------------+---------------+
| topic                 | pt            |
+-----------------------+---------------+
| maxcompute-test-input | 11-17-2020 14 |
+-----------------------+---------------+
";
        assert_eq!(format_table(&rows), expected);
    }
}
