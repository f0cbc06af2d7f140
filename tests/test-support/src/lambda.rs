//! What a function's deployed binary answered one invocation, behind the local Lambda runtime
//! API (`lambda_emulator::runtime`), read as a test expects it.

use lambda_emulator::runtime::Outcome;
use serde_json::Value as Json;

/// The handler's JSON answer; panics with the outcome when the invocation did not succeed.
pub fn answer(outcome: Outcome) -> Json {
    let Outcome::Response(body) = outcome else {
        panic!("expected an answer, got {outcome:?}")
    };
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("the answer is not JSON ({e}): {body}"))
}

/// The `errorType` and `errorMessage` of a failed invocation (or cold start); panics with the
/// outcome when there was none.
pub fn failure(outcome: Outcome) -> (String, String) {
    match outcome {
        Outcome::Error {
            error_type,
            error_message,
        } => (error_type, error_message),
        other => panic!("expected an error, got {other:?}"),
    }
}
