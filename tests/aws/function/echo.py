"""A Python function for the runtime API tests: it answers with its event and what the runtime
told it about the invocation, or fails as the event asks."""

import os


class PermanentError(Exception):
    """An error type of the function's own, as the sink's Permanent.* errors are."""


def handler(event, context):
    kind = event.get("kind") if isinstance(event, dict) else None
    if kind == "raise":
        raise ValueError(event.get("message", "asked to fail"))
    if kind == "raise-own":
        raise PermanentError(event.get("message", "asked to fail"))
    if kind == "unserializable":
        return {"not json": object()}
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_arn": context.invoked_function_arn,
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "log_group_name": context.log_group_name,
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
        "pid": os.getpid(),
    }
