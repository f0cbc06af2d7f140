//! Just enough XML reading for the service API's small documents: the text of the elements at a
//! given path from the root (`["Instance", "Status"]`), with entities and CDATA resolved.
//!
//! It does not validate documents, handle namespaces or build a tree; malformed XML yields
//! whatever was read before the error, and callers treat a missing element as a protocol error.
//!
//! Why a walker over quick-xml's events rather than quick-xml's serde support: the client reads
//! one or two elements from each of a dozen document kinds (instance status, task results, table
//! metadata, partition listings), and a `Deserialize` struct per kind, with every level of its
//! nesting spelled out, would hold more code than this one function.

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;

/// The text of every element whose path from the document root equals `path`, in document order.
pub(crate) fn texts_at(xml: &str, path: &[&str]) -> Vec<String> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    // Index into `out` of the element being collected, if the current path matches.
    let mut current: Option<usize> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                stack.push(local_name(&e));
                if current.is_none() && stack_matches(&stack, path) {
                    out.push(String::new());
                    current = Some(out.len() - 1);
                }
            }
            Ok(Event::Empty(e)) => {
                stack.push(local_name(&e));
                if current.is_none() && stack_matches(&stack, path) {
                    out.push(String::new());
                }
                stack.pop();
            }
            Ok(Event::End(_)) => {
                if current.is_some() && stack_matches(&stack, path) {
                    current = None;
                }
                stack.pop();
            }
            Ok(Event::Text(t)) => push_text(&mut out, current, &t.xml10_content()),
            Ok(Event::CData(t)) => push_text(&mut out, current, &t.xml10_content()),
            Ok(Event::GeneralRef(r)) => {
                if let Some(i) = current {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => {
                            let name = r.xml10_content();
                            resolve_predefined_entity(&name)
                                .map(str::to_owned)
                                .unwrap_or_else(|| format!("&{name};"))
                        }
                    };
                    if let Some(s) = out.get_mut(i) {
                        s.push_str(&resolved);
                    }
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    out
}

/// The trimmed text of the first element at `path`, if any.
pub(crate) fn text_at(xml: &str, path: &[&str]) -> Option<String> {
    texts_at(xml, path)
        .into_iter()
        .next()
        .map(|s| s.trim().to_owned())
}

fn local_name(e: &quick_xml::events::BytesStart<'_>) -> String {
    let local = e.local_name();
    let name: &str = local.as_ref();
    name.to_owned()
}

fn stack_matches(stack: &[String], path: &[&str]) -> bool {
    stack.len() == path.len() && stack.iter().zip(path).all(|(a, b)| a == b)
}

fn push_text(out: &mut [String], current: Option<usize>, text: &str) {
    if let Some(s) = current.and_then(|i| out.get_mut(i)) {
        s.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_cdata_and_entities_by_path() {
        let xml = r#"<?xml version="1.0"?>
<Instance><Status>Running</Status><Tasks>
<Task Type="SQL"><Name>a</Name><Status>Failed</Status><Result><![CDATA[ODPS-0130071: x]]> &amp; &#65;</Result></Task>
<Task><Status>Success</Status><Empty/></Task>
</Tasks></Instance>"#;
        assert_eq!(text_at(xml, &["Instance", "Status"]).unwrap(), "Running");
        assert_eq!(
            texts_at(xml, &["Instance", "Tasks", "Task", "Status"]),
            vec!["Failed", "Success"]
        );
        assert_eq!(
            text_at(xml, &["Instance", "Tasks", "Task", "Result"]).unwrap(),
            "ODPS-0130071: x & A"
        );
        assert_eq!(text_at(xml, &["Instance", "Missing"]), None);
        assert_eq!(
            texts_at(xml, &["Instance", "Tasks", "Task", "Empty"]),
            vec![""]
        );
        assert!(texts_at("<<not xml", &["a"]).is_empty());
    }
}
