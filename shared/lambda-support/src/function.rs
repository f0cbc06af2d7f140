//! What both function binaries do around their handler: set up logging the way Lambda wants it,
//! start the handler once, and run it under the Lambda runtime with the invocation budget taken
//! from the runtime's deadline.
//!
//! [`run`] is the whole of each function's `main`: init tracing, read the configuration, start
//! the [`Handler`] before a start timeout, then for each invocation take "now", the deadline and
//! the [`EventBody`] and call [`Handler::handle`]. It is the one module of the project's libraries
//! that knows `lambda_runtime` and has a process-wide effect ([`init_tracing`] installs the global
//! subscriber); no library crate but this one depends on it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use tokio::time::Instant;

use maxcompute_core::event::EventError;

/// A function's handler, started once per cold start and shared by its invocations.
pub trait Handler: Send + Sync + 'static {
    /// The answer to one invocation.
    type Response: Serialize + Send;
    /// Why an invocation failed; a body that is not JSON becomes one through `From<EventError>`.
    type Error: From<EventError> + InvocationError + Send;

    /// Handles one trigger event. `now_ms` is the processing time (epoch milliseconds);
    /// `deadline` bounds every retry and wait.
    fn handle(
        &self,
        event: &str,
        now_ms: i64,
        deadline: Instant,
    ) -> impl Future<Output = Result<Self::Response, Self::Error>> + Send;
}

/// Why an invocation failed, as Lambda reports it: `errorType` is `Transient.<kind>` when a
/// retry of the same batch may succeed and `Permanent.<kind>` when it cannot, and
/// `errorMessage` is the error's text.
pub trait InvocationError: std::error::Error {
    /// Whether a retry of the same batch may succeed.
    fn is_transient(&self) -> bool;

    /// The class of failure, such as `MaxComputeWrite`.
    fn kind(&self) -> &'static str;

    /// The `errorType` Lambda reports.
    fn error_type(&self) -> String {
        let class = if self.is_transient() {
            "Transient"
        } else {
            "Permanent"
        };
        format!("{class}.{}", self.kind())
    }

    /// The answer Lambda reports for this failure.
    fn diagnostic(&self) -> Diagnostic {
        Diagnostic {
            error_type: self.error_type(),
            error_message: self.to_string(),
        }
    }
}

/// Runs a function: logging, configuration (read once and logged, secrets redacted by its
/// `Debug`), the handler started within `start_timeout`, then the Lambda runtime until it stops.
///
/// A configuration or start failure is logged, reported to the runtime API's init error path
/// with its `Permanent.*` or `Transient.*` type (so the pending invocation ends with that error
/// instead of waiting for a process that is gone), and ends the process with that error.
pub async fn run<C, CE, H, SE, Fut>(
    read_config: impl FnOnce() -> Result<C, CE>,
    start: impl FnOnce(C, Instant) -> Fut,
    start_timeout: Duration,
) -> Result<(), lambda_runtime::Error>
where
    C: fmt::Debug,
    CE: InvocationError + Send + Sync + 'static,
    H: Handler,
    Fut: Future<Output = Result<H, SE>>,
    SE: InvocationError + Send + Sync + 'static,
{
    init_tracing();
    let config = match read_config() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(error = %e, "bad configuration");
            report_init_error(&e).await;
            return Err(e.into());
        }
    };
    tracing::info!(config = ?config, "configuration read");
    let handler = match start(config, Instant::now() + start_timeout).await {
        Ok(handler) => handler,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            report_init_error(&e).await;
            return Err(e.into());
        }
    };
    let handler = Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBody>| {
        let handler = Arc::clone(&handler);
        async move {
            invoke(&*handler, event)
                .await
                .map_err(|e| InvocationError::diagnostic(&e))
        }
    }))
    .await
}

/// How long a failed cold start waits for the runtime API to take its report before it exits.
pub const INIT_ERROR_REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// Tells the runtime API why the cold start failed (`POST /2018-06-01/runtime/init/error`,
/// the error type in `Lambda-Runtime-Function-Error-Type` and the body `{errorType,
/// errorMessage}`), so the invocation waiting for this environment ends with that error.
///
/// `lambda_runtime` reports init errors only for its own SnapStart hooks, so this request is
/// made here, with the runtime API client `lambda_runtime` itself uses. A report that cannot be
/// sent is logged: the process exits with the error either way.
async fn report_init_error(error: &(impl InvocationError + ?Sized)) {
    let diagnostic = error.diagnostic();
    let sent = async {
        let client = lambda_runtime_api_client::Client::builder().build()?;
        let request = lambda_runtime_api_client::build_request()
            .method("POST")
            .uri("/2018-06-01/runtime/init/error")
            .header("lambda-runtime-function-error-type", &diagnostic.error_type)
            .header("content-type", "application/json")
            .body(lambda_runtime_api_client::body::Body::from(
                serde_json::to_vec(&diagnostic)?,
            ))?;
        let answer = client.call(request).await?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(format!("the runtime API answered {}", answer.status()).into())
        }
    };
    // A runtime API that takes the report but never answers it must not keep a failed process
    // alive: the process exits once this bound has passed, reported or not.
    let sent: Result<(), lambda_runtime::Error> =
        match tokio::time::timeout(INIT_ERROR_REPORT_TIMEOUT, sent).await {
            Ok(sent) => sent,
            Err(_) => Err(format!(
                "no answer within {} ms",
                INIT_ERROR_REPORT_TIMEOUT.as_millis()
            )
            .into()),
        };
    match sent {
        Ok(()) => tracing::info!(error_type = %diagnostic.error_type, "init error reported"),
        Err(e) => tracing::error!(error = %e, "cannot report the init error to the runtime API"),
    }
}

/// A configuration that cannot be read is never fixed by a retry.
impl InvocationError for crate::settings::SettingError {
    fn is_transient(&self) -> bool {
        false
    }

    fn kind(&self) -> &'static str {
        "Configuration"
    }
}

/// One invocation: "now", the deadline from the runtime's, the body, the handler.
async fn invoke<H: Handler>(
    handler: &H,
    event: LambdaEvent<EventBody>,
) -> Result<H::Response, H::Error> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let deadline = Instant::now() + time_left(event.context.deadline, now_ms);
    // An empty or non-JSON body is answered here, as the handler's own malformed-event error.
    let event_json = event.payload.json()?;
    handler.handle(event_json, now_ms, deadline).await
}

/// An invocation's body as the runtime hands it to the handler: its JSON text, or why it is not
/// JSON at all.
///
/// `lambda_runtime` deserializes every body into the handler's payload type before the handler
/// runs, and answers a failure itself, with the `errorType`
/// `&lambda_runtime::deserializer::DeserializeError` and nothing of ours. This type never fails
/// to deserialize: an empty or non-JSON body becomes [`EventBody::Unreadable`], and the handler
/// answers it with its own `Permanent.MalformedEvent`.
#[derive(Debug)]
pub enum EventBody {
    /// A body that is one JSON value (whether it is a trigger event is the decoder's question).
    Json(Box<RawValue>),
    /// The JSON parser's reason for refusing the body.
    Unreadable(String),
}

impl EventBody {
    /// The body's JSON text, or the event error that says why there is none.
    pub fn json(&self) -> Result<&str, EventError> {
        match self {
            Self::Json(raw) => Ok(raw.get()),
            Self::Unreadable(reason) => Err(EventError::Unreadable(reason.clone())),
        }
    }
}

impl<'de> Deserialize<'de> for EventBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The parser's error is kept as the value rather than returned, so that the runtime
        // never sees a failure it would answer in its own words.
        Ok(match Box::<RawValue>::deserialize(deserializer) {
            Ok(raw) => Self::Json(raw),
            Err(e) => Self::Unreadable(e.to_string()),
        })
    }
}

/// Time kept back from the invocation deadline so the function can still answer (and log)
/// after the last retry gives up.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(1500);

/// The time budget used when the runtime's deadline is not in the future. AWS always sends a
/// deadline ahead of now; some local runtime emulators send the timeout itself (`600000`) instead.
pub const FALLBACK_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// The time an invocation may use for its work: until the runtime's deadline (epoch
/// milliseconds) minus [`DEADLINE_MARGIN`]. A deadline that is not ahead of `now_ms` cannot be
/// a real one, so [`FALLBACK_BUDGET`] is used instead of failing every write at once.
pub fn time_left(deadline_ms: u64, now_ms: i64) -> std::time::Duration {
    let now = u64::try_from(now_ms).unwrap_or(0);
    match deadline_ms.checked_sub(now) {
        Some(left) if left > 0 => {
            std::time::Duration::from_millis(left).saturating_sub(DEADLINE_MARGIN)
        }
        _ => {
            tracing::warn!(
                deadline_ms,
                now_ms,
                "the runtime's deadline is not in the future; using the fallback budget"
            );
            FALLBACK_BUDGET
        }
    }
}

/// JSON logs when Lambda asks for them (`LoggingConfig: LogFormat: JSON`), text otherwise; the
/// level from `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`, else `info`.
///
/// `lambda_runtime::tracing::init_default_subscriber` reads the same variables, but it leaves
/// ANSI colours on whatever the output is, and CloudWatch shows escape codes verbatim; it also
/// reads `AWS_LAMBDA_LOG_LEVEL` as a bare level only. Hence this one, which colours a terminal
/// only and takes filter directives (`sink=debug,shared=info`) from either variable.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // CloudWatch stamps each line itself and shows escape codes verbatim.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .without_time();
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn time_left_keeps_a_margin_before_the_deadline() {
        let now = 1_795_645_197_663;
        assert_eq!(
            time_left(1_795_645_197_663 + 30_000, now),
            Duration::from_millis(30_000) - DEADLINE_MARGIN
        );
        // Less left than the margin: nothing to spend, the writes give up at once.
        assert_eq!(time_left(1_795_645_197_663 + 1_000, now), Duration::ZERO);
    }

    #[test]
    fn any_body_deserializes_and_only_json_reads_as_an_event() {
        // As lambda_runtime reads a body: one value from a slice, with no check of what follows.
        let body = |text: &[u8]| {
            EventBody::deserialize(&mut serde_json::Deserializer::from_slice(text)).unwrap()
        };
        assert_eq!(
            body(br#" {"records": {}} "#).json().unwrap(),
            r#"{"records": {}}"#
        );
        // Each with a word the parser's reason must contain.
        let unreadable: [(&[u8], &str); 6] = [
            (b"", "EOF"),
            (b" \n", "EOF"),
            (b"not json", "expected"),
            (b"records, please", "expected"),
            (br#"{"records":{"orders-0":["#, "EOF"),
            (b"\xff\xfe", "expected"),
        ];
        for (text, reason) in unreadable {
            let err = body(text).json().unwrap_err();
            assert!(matches!(err, EventError::Unreadable(_)), "{err:?}");
            let message = err.to_string();
            assert!(
                message.starts_with("the Kafka trigger event is not JSON: "),
                "{message}"
            );
            assert!(message.contains(reason), "{text:?}: {message}");
        }
    }

    #[test]
    fn a_deadline_that_is_not_ahead_falls_back() {
        let now = 1_795_645_197_663;
        assert_eq!(time_left(600_000, now), FALLBACK_BUDGET);
        assert_eq!(time_left(u64::try_from(now).unwrap(), now), FALLBACK_BUDGET);
    }
}
