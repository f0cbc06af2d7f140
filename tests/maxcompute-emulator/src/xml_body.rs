//! XML for the service API: escaping, the response documents pyodps reads (table, partition,
//! partition list, instance status/task status/result, errors) and the one request body the
//! emulator parses (an instance job with SQL tasks). No I/O and no storage access.

use quick_xml::Reader;
use quick_xml::events::Event;

/// Escapes text for an element or attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Wraps text in CDATA, splitting any `]]>` inside it.
pub fn cdata(s: &str) -> String {
    format!("<![CDATA[{}]]>", s.replace("]]>", "]]]]><![CDATA[>"))
}

pub const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// The error document; pyodps needs all four elements to map `Code` to an exception class.
pub fn error(code: &str, message: &str, request_id: &str, host: &str) -> String {
    format!(
        "{DECL}<Error><Code>{}</Code><Message>{}</Message><RequestId>{}</RequestId><HostId>{}</HostId></Error>",
        escape(code),
        cdata(message),
        escape(request_id),
        escape(host)
    )
}

/// One SQL task of a submitted instance job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlTask {
    pub name: String,
    pub query: String,
}

/// Why an instance body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InstanceJobError {
    #[error("the instance body is not valid XML: {0}")]
    Xml(#[source] quick_xml::Error),
    #[error("unknown entity `&{0};` in the instance body")]
    UnknownEntity(String),
}

/// Extracts the SQL tasks from an `<Instance><Job><Tasks><SQL>..` body. Non-SQL tasks are
/// reported by name so the caller can refuse them.
pub fn parse_instance_job(body: &str) -> Result<(Vec<SqlTask>, Vec<String>), InstanceJobError> {
    let mut reader = Reader::from_str(body);
    let mut path: Vec<String> = Vec::new();
    let mut tasks = Vec::new();
    let mut others = Vec::new();
    let mut current: Option<SqlTask> = None;
    let mut text = String::new();
    loop {
        match reader.read_event() {
            Err(e) => return Err(InstanceJobError::Xml(e)),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                let name = e.local_name().as_ref().to_owned();
                let parent_is_tasks = path.last().is_some_and(|p| p == "Tasks");
                if parent_is_tasks {
                    if name == "SQL" {
                        current = Some(SqlTask {
                            name: String::new(),
                            query: String::new(),
                        });
                    } else {
                        others.push(name.clone());
                    }
                }
                path.push(name);
                text.clear();
            }
            Ok(Event::Text(t)) => text.push_str(&t.xml10_content()),
            Ok(Event::CData(c)) => text.push_str(&c.into_inner()),
            Ok(Event::GeneralRef(r)) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else {
                    match r.into_inner().as_ref() {
                        "lt" => text.push('<'),
                        "gt" => text.push('>'),
                        "amp" => text.push('&'),
                        "quot" => text.push('"'),
                        "apos" => text.push('\''),
                        other => return Err(InstanceJobError::UnknownEntity(other.to_owned())),
                    }
                }
            }
            Ok(Event::End(_)) => {
                let name = path.pop().unwrap_or_default();
                let parent = path.last().map(String::as_str);
                match (name.as_str(), parent, current.as_mut()) {
                    ("Name", Some("SQL"), Some(task)) => task.name = text.trim().to_owned(),
                    ("Query", Some("SQL"), Some(task)) => task.query = text.clone(),
                    ("SQL", Some("Tasks"), _) => {
                        if let Some(task) = current.take() {
                            tasks.push(task);
                        }
                    }
                    _ => {}
                }
                text.clear();
            }
            Ok(_) => {}
        }
    }
    Ok((tasks, others))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyodps_instance_body_parses() {
        let body = r#"<?xml version="1.0" encoding="utf-8"?>
<Instance><Job><Priority>9</Priority><Tasks><SQL>
  <Name>SQLAddPartitionTask</Name>
  <Config><Property><Name>settings</Name><Value>{"a": "b"}</Value></Property></Config>
  <Query><![CDATA[ALTER TABLE my_proj.`kafka_sink` ADD IF NOT EXISTS  PARTITION (dt='11-17-2020 15');]]></Query>
</SQL></Tasks><DAG><RunMode>Sequence</RunMode></DAG></Job></Instance>"#;
        let (tasks, others) = parse_instance_job(body).unwrap();
        assert!(others.is_empty());
        assert_eq!(
            tasks,
            vec![SqlTask {
                name: "SQLAddPartitionTask".into(),
                query: "ALTER TABLE my_proj.`kafka_sink` ADD IF NOT EXISTS  PARTITION (dt='11-17-2020 15');".into()
            }]
        );
    }

    #[test]
    fn escaped_query_text_and_other_tasks() {
        let body = "<Instance><Job><Tasks><SQL><Name>A</Name><Query>select * from t where a = &apos;&lt;&apos;</Query></SQL><MR><Name>x</Name></MR></Tasks></Job></Instance>";
        let (tasks, others) = parse_instance_job(body).unwrap();
        assert_eq!(tasks[0].query, "select * from t where a = '<'");
        assert_eq!(others, vec!["MR".to_owned()]);
        let bad = parse_instance_job("<a></b>").unwrap_err();
        assert!(matches!(bad, InstanceJobError::Xml(_)), "{bad:?}");
        assert!(
            std::error::Error::source(&bad).is_some(),
            "the parser's error is kept"
        );
        let entity = parse_instance_job(
            "<Instance><Job><Tasks><SQL><Query>&nope;</Query></SQL></Tasks></Job></Instance>",
        )
        .unwrap_err();
        assert!(
            matches!(&entity, InstanceJobError::UnknownEntity(name) if name == "nope"),
            "{entity:?}"
        );
    }

    #[test]
    fn cdata_splits_terminators() {
        assert_eq!(cdata("a]]>b"), "<![CDATA[a]]]]><![CDATA[>b]]>");
    }
}
