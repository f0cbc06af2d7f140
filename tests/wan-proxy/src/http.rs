//! Finds HTTP/1.1 request heads in the bytes a client sends, so the proxy can count requests
//! by kind. Bodies are skipped by `Content-Length` or chunked framing; anything that does not
//! parse as HTTP/1.1 stops the counting for that connection (the bytes still flow).

/// The longest request head read; a longer one is not HTTP the proxy counts.
const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug)]
enum State {
    /// Reading a request head (or a chunk-size line, or trailers) up to its terminator.
    Head(Vec<u8>),
    /// Skipping this many body bytes, then back to `after`.
    Skip(u64, After),
    ChunkSize(Vec<u8>),
    Trailers(Vec<u8>),
    /// Not HTTP/1.1 as far as the parser can tell.
    Opaque,
}

#[derive(Debug, Clone, Copy)]
enum After {
    NextRequest,
    /// The chunk's data, then its CRLF: the next chunk-size line.
    NextChunk,
}

/// Incremental request splitter for one connection's client-to-server bytes.
#[derive(Debug)]
pub(crate) struct RequestParser {
    state: State,
}

impl Default for RequestParser {
    fn default() -> Self {
        Self {
            state: State::Head(Vec::new()),
        }
    }
}

impl RequestParser {
    /// Feeds the next bytes; calls `on_request(method, target)` for each complete head.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], mut on_request: impl FnMut(&str, &str)) {
        while !bytes.is_empty() {
            let state = std::mem::replace(&mut self.state, State::Opaque);
            self.state = match state {
                State::Opaque => return,
                State::Skip(n, after) => {
                    let take = bytes.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                    bytes = bytes.get(take..).unwrap_or_default();
                    let left = n - take as u64;
                    match (left, after) {
                        (0, After::NextRequest) => State::Head(Vec::new()),
                        (0, After::NextChunk) => State::ChunkSize(Vec::new()),
                        _ => State::Skip(left, after),
                    }
                }
                State::Head(mut buf) => match take_until(&mut buf, &mut bytes, b"\r\n\r\n") {
                    None if buf.len() > MAX_HEAD => State::Opaque,
                    None => State::Head(buf),
                    Some(()) => match parse_head(&buf) {
                        Some(head) => {
                            on_request(head.method, head.target);
                            match head.body {
                                Body::Length(0) => State::Head(Vec::new()),
                                Body::Length(n) => State::Skip(n, After::NextRequest),
                                Body::Chunked => State::ChunkSize(Vec::new()),
                            }
                        }
                        None => State::Opaque,
                    },
                },
                State::ChunkSize(mut buf) => match take_until(&mut buf, &mut bytes, b"\r\n") {
                    None if buf.len() > MAX_HEAD => State::Opaque,
                    None => State::ChunkSize(buf),
                    Some(()) => {
                        let line = std::str::from_utf8(&buf).unwrap_or_default();
                        let hex = line.trim_end().split(';').next().unwrap_or_default().trim();
                        match u64::from_str_radix(hex, 16) {
                            // The last chunk: trailers end with an empty line; with none, the
                            // CRLF that follows is that empty line.
                            Ok(0) => State::Trailers(Vec::new()),
                            Ok(n) => State::Skip(n.saturating_add(2), After::NextChunk),
                            Err(_) => State::Opaque,
                        }
                    }
                },
                State::Trailers(mut buf) => match take_until(&mut buf, &mut bytes, b"\r\n") {
                    None if buf.len() > MAX_HEAD => State::Opaque,
                    None => State::Trailers(buf),
                    // An empty line ends the trailers (and the request).
                    Some(()) if buf == b"\r\n" => State::Head(Vec::new()),
                    Some(()) => State::Trailers(Vec::new()),
                },
            };
        }
    }
}

/// Moves bytes from `input` into `buf` up to and including the first `terminator` in `buf`;
/// `Some` when it was found.
fn take_until(buf: &mut Vec<u8>, input: &mut &[u8], terminator: &[u8]) -> Option<()> {
    // Only the tail of `buf` that could start a terminator is searched again.
    let from = buf.len().saturating_sub(terminator.len() - 1);
    let old = buf.len();
    buf.extend_from_slice(input);
    let window = buf.get(from..).unwrap_or_default();
    match window
        .windows(terminator.len())
        .position(|w| w == terminator)
    {
        Some(at) => {
            let end = from + at + terminator.len();
            *input = input.get(end - old..).unwrap_or_default();
            buf.truncate(end);
            Some(())
        }
        None => {
            *input = &[];
            None
        }
    }
}

enum Body {
    Length(u64),
    Chunked,
}

struct Head<'a> {
    method: &'a str,
    target: &'a str,
    body: Body,
}

fn parse_head(buf: &[u8]) -> Option<Head<'_>> {
    let text = std::str::from_utf8(buf).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target, version) = (first.next()?, first.next()?, first.next()?);
    if !version.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    let mut body = Body::Length(0);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            body = Body::Length(value.parse().ok()?);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            body = Body::Chunked;
        }
    }
    Some(Head {
        method,
        target,
        body,
    })
}

/// A request's kind: its method and path, with the segment after `projects`, `tables` and
/// `schemas` shown as `{}`, segments holding digits (ids, slots, block numbers) as `*`, and
/// the query's parameter names without their values, sorted.
pub(crate) fn kind(method: &str, target: &str) -> String {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut out = String::from(method);
    out.push(' ');
    let mut named = false;
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        if named {
            out.push_str("{}");
            named = false;
        } else if segment.bytes().any(|b| b.is_ascii_digit()) {
            out.push('*');
        } else {
            out.push_str(segment);
            named = matches!(segment, "projects" | "tables" | "schemas");
        }
    }
    if path.is_empty() || path.ends_with('/') {
        out.push('/');
    }
    let mut names: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').map_or(p, |(n, _)| n))
        .collect();
    names.sort_unstable();
    names.dedup();
    if !names.is_empty() {
        out.push('?');
        out.push_str(&names.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::*;

    fn requests(input: &[u8], split: usize) -> Vec<String> {
        let mut parser = RequestParser::default();
        let mut seen = Vec::new();
        for piece in input.chunks(split.max(1)) {
            parser.feed(piece, |m, t| seen.push(format!("{m} {t}")));
        }
        seen
    }

    const STREAM: &[u8] = b"POST /a HTTP/1.1\r\nContent-Length: 21\r\n\r\nGET /b HTTP/1.1\r\n\r\n!!\
PUT /c?x=1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nGET \r\n3;e=1\r\n/d \r\n0\r\nT: 1\r\n\r\n\
GET /e HTTP/1.1\r\nHost: h\r\n\r\n";

    #[test]
    fn heads_are_found_past_bodies_however_the_bytes_are_split() {
        let want = ["POST /a", "PUT /c?x=1", "GET /e"];
        for split in [1, 2, 3, 7, 16, STREAM.len()] {
            assert_eq!(requests(STREAM, split), want, "split every {split} bytes");
        }
    }

    #[test]
    fn what_is_not_http_stops_the_counting() {
        assert!(requests(b"\x16\x03\x01 binary\r\n\r\nGET / HTTP/1.1\r\n\r\n", 5).is_empty());
        assert!(
            requests(
                b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\nGET / HTTP/1.1\r\n\r\n",
                4
            )
            .is_empty()
        );
    }

    #[test]
    fn kinds_keep_the_shape_and_drop_names_and_ids() {
        assert_eq!(
            kind(
                "PUT",
                "/api/projects/p1/tables/t/upload?uploadid=2025abc&blockid=0&partition=pt%3D1&curr_project=p1"
            ),
            "PUT /api/projects/{}/tables/{}/upload?blockid&curr_project&partition&uploadid"
        );
        assert_eq!(
            kind("POST", "/api/projects/p/tables/t/streams/ab12/slots/3"),
            "POST /api/projects/{}/tables/{}/streams/*/slots/*"
        );
        assert_eq!(kind("GET", "/"), "GET /");
    }
}
