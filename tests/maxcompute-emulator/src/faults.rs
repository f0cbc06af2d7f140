//! Fault injection: rules that make the next N matching requests fail with a chosen status and
//! error code, hang for a while, or lose their connection. Rules are set through the unsigned,
//! loopback-only `/_emulator/faults` endpoint (see `admin.rs`); `server.rs` consults them after
//! authentication. This module only keeps and matches rules.
//!
//! A rule acts in one of two phases. `before` (the default) replaces the request: nothing is
//! applied, as when a request is lost on its way. `after` lets the request be applied and then
//! replaces its answer, as when the answer is lost on its way back: the effect stays, the client
//! hears an error, a hang, or a dropped connection. An `after` rule is used up only by a request
//! that succeeded (an answer that was an error already has nothing to lose).

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The kind of call a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// Batch upload block PUT.
    BlockUpload,
    /// Batch upload commit POST.
    Commit,
    /// Batch or upsert session status GET (what a client asks after a lost commit answer).
    SessionStatus,
    /// Upsert session bucket PUT.
    UpsertWrite,
    /// Upsert session commit POST.
    UpsertCommit,
    /// Stream upload pack PUT.
    StreamWrite,
    /// Partition creation: SQL `ALTER TABLE .. ADD PARTITION` instances.
    PartitionCreate,
    /// Creation of an upload, stream, upsert or download session.
    SessionCreate,
    /// Download data GET.
    Download,
    /// STS `AssumeRole` calls to the stand-in.
    AssumeRole,
    /// Any other service API call (metadata, instances).
    Metadata,
    /// Every call.
    Any,
}

/// What happens to a matching request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum FaultAction {
    /// Answer with this status and error code (in the surface's error format).
    Error {
        status: u16,
        code: String,
        #[serde(default)]
        message: Option<String>,
    },
    /// Sleep this long, then go on: handle the request (before) or answer it (after).
    Hang { millis: u64 },
    /// Close the connection without a complete response.
    Drop,
}

/// When a rule acts: instead of the request, or on its answer once it was applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The request is not applied.
    #[default]
    Before,
    /// The request is applied and its answer lost: replaced by an error, delayed, or dropped.
    After,
}

/// One rule as posted to `/_emulator/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    pub kind: CallKind,
    /// How many matching requests this rule still affects.
    #[serde(default = "one")]
    pub count: u32,
    /// How many matching requests pass untouched before the rule starts acting.
    #[serde(default)]
    pub skip: u32,
    #[serde(default)]
    pub phase: Phase,
    #[serde(flatten)]
    pub action: FaultAction,
}

fn one() -> u32 {
    1
}

/// The active rules, oldest first.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
}

impl Faults {
    pub fn add(&self, rule: FaultRule) {
        if rule.count > 0 {
            self.lock().push(rule);
        }
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.lock().clone()
    }

    /// Consumes one use of the first rule for `kind` in `phase`, if any.
    pub fn take(&self, kind: CallKind, phase: Phase) -> Option<FaultAction> {
        let mut rules = self.lock();
        let pos = rules
            .iter()
            .position(|r| (r.kind == kind || r.kind == CallKind::Any) && r.phase == phase)?;
        let rule = rules.get_mut(pos)?;
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        rule.count = rule.count.saturating_sub(1);
        let action = rule.action.clone();
        if rule.count == 0 {
            rules.remove(pos);
        }
        Some(action)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        // A panic elsewhere must not disable fault injection; the rule list stays consistent.
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_from_json_and_count_down() {
        let faults = Faults::default();
        let rule: FaultRule =
            serde_json::from_str(r#"{"kind":"commit","count":2,"action":"error","status":503,"code":"ServiceUnavailable"}"#)
                .unwrap();
        faults.add(rule);
        assert_eq!(faults.take(CallKind::BlockUpload, Phase::Before), None);
        assert_eq!(faults.take(CallKind::Commit, Phase::After), None);
        assert!(matches!(
            faults.take(CallKind::Commit, Phase::Before),
            Some(FaultAction::Error { status: 503, .. })
        ));
        assert!(faults.take(CallKind::Commit, Phase::Before).is_some());
        assert_eq!(faults.take(CallKind::Commit, Phase::Before), None);
        let rule: FaultRule =
            serde_json::from_str(r#"{"kind":"any","action":"hang","millis":10}"#).unwrap();
        faults.add(rule);
        assert_eq!(
            faults.take(CallKind::Download, Phase::Before),
            Some(FaultAction::Hang { millis: 10 })
        );
        let rule: FaultRule =
            serde_json::from_str(r#"{"kind":"stream_write","phase":"after","action":"drop"}"#)
                .unwrap();
        faults.add(rule);
        assert_eq!(faults.take(CallKind::StreamWrite, Phase::Before), None);
        assert_eq!(
            faults.take(CallKind::StreamWrite, Phase::After),
            Some(FaultAction::Drop)
        );
        let rule: FaultRule =
            serde_json::from_str(r#"{"kind":"commit","skip":1,"action":"drop"}"#).unwrap();
        faults.add(rule);
        assert_eq!(faults.take(CallKind::Commit, Phase::Before), None);
        assert_eq!(
            faults.take(CallKind::Commit, Phase::Before),
            Some(FaultAction::Drop)
        );
        assert!(faults.list().is_empty());
    }
}
