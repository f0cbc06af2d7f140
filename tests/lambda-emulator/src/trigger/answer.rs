//! What the trigger makes of an invocation's outcome, pure: commit the whole batch, commit up
//! to a reported offset and resume from it, or retry the whole batch.
//!
//! The rules are the Lambda Kafka event source mapping's: any error, timeout or crash retries
//! the whole batch; a response is a success, unless the mapping reports batch item failures
//! (`FunctionResponseTypes: [ReportBatchItemFailures]`) and the response lists some. Then every
//! identifier must name this batch's topic-partition and one of its offsets, or the whole batch
//! is retried; processing resumes at the lowest reported offset.

use serde_json::Value;

use crate::runtime::Outcome;

use super::batch::Batch;

/// What to do with a batch after an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Commit past the batch's last offset.
    Success,
    /// Commit up to (not including) `resume_at` and send the records from it again.
    Partial { resume_at: i64 },
    /// Commit nothing; invoke again with the same records.
    Retry { reason: String },
}

/// A short outcome label for the batch log line.
pub fn outcome_label(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Response(_) => "response".to_owned(),
        Outcome::Error { error_type, .. } => format!("error {error_type}"),
        Outcome::Timeout => "timeout".to_owned(),
        Outcome::Exited(_) => "crashed".to_owned(),
    }
}

/// Judges one invocation of `batch`. `report_failures` is whether the mapping honours
/// `batchItemFailures` (when it does not, the response is ignored as AWS does, and
/// `ignored_failures` says whether the function reported some anyway).
pub fn judge(batch: &Batch, outcome: &Outcome, report_failures: bool) -> (Verdict, bool) {
    let retry = |reason: String| (Verdict::Retry { reason }, false);
    let body = match outcome {
        Outcome::Response(body) => body,
        Outcome::Error {
            error_type,
            error_message,
        } => return retry(format!("{error_type}: {error_message}")),
        Outcome::Timeout => return retry("the function timed out".to_owned()),
        Outcome::Exited(why) => return retry(format!("the function exited: {why}")),
    };
    let parsed: Result<Value, _> = serde_json::from_str(body);
    if !report_failures {
        let reported = parsed.as_ref().is_ok_and(|v| {
            v.get("batchItemFailures")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        });
        return (Verdict::Success, reported);
    }
    let Ok(value) = parsed else {
        return retry("the response is not JSON".to_owned());
    };
    match value.get("batchItemFailures") {
        None | Some(Value::Null) => (Verdict::Success, false),
        Some(Value::Array(items)) => match resume_offset(batch, items) {
            Ok(None) => (Verdict::Success, false),
            Ok(Some(resume_at)) => (Verdict::Partial { resume_at }, false),
            Err(reason) => retry(reason),
        },
        Some(_) => retry("batchItemFailures is not a list".to_owned()),
    }
}

/// The lowest offset that `failures` report, each checked as AWS checks it; `Err` says why the
/// whole batch counts as failed.
fn resume_offset(batch: &Batch, failures: &[Value]) -> Result<Option<i64>, String> {
    let key = batch.topic_partition();
    let mut resume_at: Option<i64> = None;
    for item in failures {
        let id = item.get("itemIdentifier");
        let tp = id.and_then(|i| i.get("partition")).and_then(Value::as_str);
        let offset = id.and_then(|i| i.get("offset")).and_then(Value::as_i64);
        match (tp, offset) {
            (Some(tp), Some(offset))
                if tp == key && batch.records.iter().any(|r| r.offset == offset) =>
            {
                resume_at = Some(resume_at.map_or(offset, |o| o.min(offset)));
            }
            (Some(_), Some(_)) => {
                return Err(format!(
                    "batchItemFailures names a record not in the batch: {item}"
                ));
            }
            // AWS reads only `{"itemIdentifier": {"partition": "<topic>-<n>", "offset": N}}` and
            // counts any other entry as a failure of the whole batch.
            _ => {
                return Err(format!(
                    "a batchItemFailures entry is not {{\"itemIdentifier\": {{\"partition\": \"<topic>-<n>\", \"offset\": <number>}}}}, so the whole batch failed: {item}"
                ));
            }
        }
    }
    Ok(resume_at)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn batch() -> Batch {
        Batch::of_offsets("t-x", 1, 10..15)
    }

    fn respond(v: serde_json::Value) -> Outcome {
        Outcome::Response(v.to_string())
    }

    fn item(tp: &str, offset: i64) -> serde_json::Value {
        serde_json::json!({"itemIdentifier": {"partition": tp, "offset": offset}})
    }

    #[test]
    fn responses_without_failures_are_successes() {
        for body in [
            serde_json::json!({"summary": {}}),
            serde_json::json!({"batchItemFailures": []}),
            serde_json::json!({"batchItemFailures": null}),
            serde_json::json!(null),
        ] {
            assert_eq!(
                judge(&batch(), &respond(body.clone()), true),
                (Verdict::Success, false),
                "{body}"
            );
        }
    }

    #[test]
    fn the_lowest_reported_offset_is_where_processing_resumes() {
        let out = respond(
            serde_json::json!({"batchItemFailures": [item("t-x-1", 13), item("t-x-1", 11)]}),
        );
        assert_eq!(
            judge(&batch(), &out, true),
            (Verdict::Partial { resume_at: 11 }, false)
        );
    }

    #[test]
    fn an_identifier_not_in_the_batch_retries_the_whole_batch() {
        for bad in [
            item("t-x-1", 9),
            item("t-x-1", 15),
            item("t-x-0", 12),
            serde_json::json!({"itemIdentifier": {"offset": 12}}),
            serde_json::json!({"itemIdentifier": {"partition": "t-x-1", "offset": "12"}}),
            // The key an earlier version of the sink wrote: AWS refuses it.
            serde_json::json!({"itemIdentifier": {"topic-partition": "t-x-1", "offset": 12}}),
            serde_json::json!({}),
        ] {
            let out =
                respond(serde_json::json!({"batchItemFailures": [item("t-x-1", 12), bad.clone()]}));
            assert!(
                matches!(judge(&batch(), &out, true).0, Verdict::Retry { .. }),
                "{bad}"
            );
        }
        // The log says why: the old key is named as a shape AWS does not read.
        let old_key = respond(serde_json::json!({"batchItemFailures": [
            {"itemIdentifier": {"topic-partition": "t-x-1", "offset": 12}}
        ]}));
        match judge(&batch(), &old_key, true).0 {
            Verdict::Retry { reason } => assert!(
                reason.contains(r#"is not {"itemIdentifier": {"partition""#),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
        let not_json = Outcome::Response("{".to_owned());
        assert!(matches!(
            judge(&batch(), &not_json, true).0,
            Verdict::Retry { .. }
        ));
    }

    #[test]
    fn errors_timeouts_and_crashes_retry_the_whole_batch() {
        for out in [
            Outcome::Error {
                error_type: "Transient.MaxComputeWrite".to_owned(),
                error_message: "503".to_owned(),
            },
            Outcome::Timeout,
            Outcome::Exited("signal: 9".to_owned()),
        ] {
            assert!(matches!(
                judge(&batch(), &out, true).0,
                Verdict::Retry { .. }
            ));
        }
    }

    #[test]
    fn without_report_batch_item_failures_the_response_is_ignored_but_noticed() {
        let out = respond(serde_json::json!({"batchItemFailures": [item("t-x-1", 12)]}));
        assert_eq!(judge(&batch(), &out, false), (Verdict::Success, true));
        let ok = respond(serde_json::json!({"summary": {}}));
        assert_eq!(judge(&batch(), &ok, false), (Verdict::Success, false));
    }
}
