//! Reading GraphQL responses: the data of a successful one, the error code of a failed one.

use serde_json::Value;

/// The `extensions.code` of the first error, if the response has errors.
#[must_use]
pub fn error_code(body: &Value) -> Option<String> {
    body.pointer("/errors/0/extensions/code")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The `data` of a response that must have succeeded.
///
/// # Panics
/// When the response has errors, or no data; the message shows the whole response.
#[track_caller]
pub fn data(body: &Value) -> &Value {
    assert!(
        body.get("errors").is_none_or(Value::is_null),
        "expected success, got errors:\n{}",
        pretty(body)
    );
    let data = &body["data"];
    assert!(!data.is_null(), "response has no data:\n{}", pretty(body));
    data
}

/// Asserts that the response failed with `code` and returns the first error (to check its
/// `extensions` further).
///
/// # Panics
/// When the first error has another code, or there is no error; the message shows the response.
#[track_caller]
pub fn assert_error<'a>(body: &'a Value, code: &str) -> &'a Value {
    assert_eq!(
        error_code(body).as_deref(),
        Some(code),
        "expected error code {code}, got:\n{}",
        pretty(body)
    );
    &body["errors"][0]
}

/// Pretty JSON for assertion messages.
#[must_use]
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}
