//! The verdict on one response. Every response of a run goes through [`check_response`]: a fast
//! answer that is an error page, a GraphQL error or an empty result is a failure, not a success.

use std::fmt;

use serde_json::Value;

/// How much of an unexpected body an error message quotes.
const QUOTE_CHARS: usize = 200;

/// A dotted path to a field of a JSON response, e.g. `data.order.id`.
///
/// Segments are object keys; a number indexes an array (`data.orders.nodes.0.id`); `*` stands
/// for every element of an array or every value of an object (`data.orders.nodes.*.customer`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
    Each,
}

impl FieldPath {
    /// Parses `data.order.id`.
    ///
    /// # Errors
    /// When the path is empty or has an empty segment (`data..id`).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("an expected field path must not be empty".to_owned());
        }
        let segments = text
            .split('.')
            .map(|segment| match segment {
                "" => Err(format!("empty segment in field path `{text}`")),
                "*" => Ok(Segment::Each),
                _ => Ok(segment
                    .parse::<usize>()
                    .map_or_else(|_| Segment::Key(segment.to_owned()), Segment::Index)),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// Every value the path reaches in `value` (several through `*`, none when a step is missing).
    #[must_use]
    pub fn lookup<'a>(&self, value: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![value];
        for segment in &self.segments {
            current = current
                .into_iter()
                .flat_map(|value| -> Vec<&'a Value> {
                    match (segment, value) {
                        (Segment::Key(key), Value::Object(map)) => {
                            map.get(key).into_iter().collect()
                        }
                        (Segment::Index(index), Value::Array(items)) => {
                            items.get(*index).into_iter().collect()
                        }
                        // A numeric key of an object (`"0": ...`) is still a key.
                        (Segment::Index(index), Value::Object(map)) => {
                            map.get(&index.to_string()).into_iter().collect()
                        }
                        (Segment::Each, Value::Array(items)) => items.iter().collect(),
                        (Segment::Each, Value::Object(map)) => map.values().collect(),
                        _ => Vec::new(),
                    }
                })
                .collect();
        }
        current
    }

    /// Whether the path is present: it reaches at least one value and none of them is `null`.
    /// (`data.orders.nodes.*.id` on an empty list is absent: an empty page is not what a
    /// benchmark of listing meant to measure.)
    #[must_use]
    pub fn is_present_in(&self, value: &Value) -> bool {
        let found = self.lookup(value);
        !found.is_empty() && found.iter().all(|value| !value.is_null())
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a response failed its check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// The HTTP status was not 200.
    Status {
        /// The status received.
        status: u16,
        /// The start of the body, to show what the server said.
        body: String,
    },
    /// The body is not JSON.
    InvalidJson {
        /// The parser's complaint.
        error: String,
        /// The start of the body.
        body: String,
    },
    /// The body has a (non-null) `errors` entry.
    GraphqlErrors {
        /// The first error's `extensions.code` and message, as far as they exist.
        first: String,
    },
    /// The expected field is absent or null.
    MissingField {
        /// The path that was expected.
        path: String,
        /// The start of the body.
        body: String,
    },
}

impl CheckError {
    /// A short stable name for counting failures by kind: `status`, `json`, `graphql`, `missing`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            CheckError::Status { .. } => "status",
            CheckError::InvalidJson { .. } => "json",
            CheckError::GraphqlErrors { .. } => "graphql",
            CheckError::MissingField { .. } => "missing",
        }
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Status { status, body } => write!(f, "HTTP {status}: {body}"),
            CheckError::InvalidJson { error, body } => write!(f, "not JSON ({error}): {body}"),
            CheckError::GraphqlErrors { first } => write!(f, "GraphQL errors: {first}"),
            CheckError::MissingField { path, body } => {
                write!(f, "expected field `{path}` missing or null: {body}")
            }
        }
    }
}

impl std::error::Error for CheckError {}

/// Checks one response: HTTP 200, a JSON body, no `errors` entry (any non-null value counts,
/// even an empty list: the GraphQL spec allows `errors` only when something failed), and, when
/// `expect` is given, that path present (see [`FieldPath::is_present_in`]).
///
/// This is the load generator's hot path: it scans the body without building a tree or
/// allocating (the `scan` module below), and only a response the scan cannot pass goes through
/// [`parse_response`] for the verdict and the error message, so both always agree.
///
/// # Errors
/// The first check that fails, in the order above.
pub fn check_response(
    status: u16,
    body: &[u8],
    expect: Option<&FieldPath>,
) -> Result<(), CheckError> {
    if status == 200 && scan::passes(body, expect) {
        return Ok(());
    }
    parse_response(status, body, expect).map(drop)
}

/// [`check_response`], returning the parsed body for callers that need a value from it (a new
/// version, an id). The reference implementation of the checks.
///
/// # Errors
/// The first check that fails, in the order [`check_response`] gives.
pub fn parse_response(
    status: u16,
    body: &[u8],
    expect: Option<&FieldPath>,
) -> Result<Value, CheckError> {
    if status != 200 {
        return Err(CheckError::Status {
            status,
            body: quote(body),
        });
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| CheckError::InvalidJson {
        error: e.to_string(),
        body: quote(body),
    })?;
    if let Some(errors) = value.get("errors").filter(|errors| !errors.is_null()) {
        return Err(CheckError::GraphqlErrors {
            first: describe_first_error(errors),
        });
    }
    if let Some(path) = expect
        && !path.is_present_in(&value)
    {
        return Err(CheckError::MissingField {
            path: path.to_string(),
            body: quote(body),
        });
    }
    Ok(value)
}

/// `CODE: message` of the first GraphQL error, or the raw JSON when it has another shape.
fn describe_first_error(errors: &Value) -> String {
    let first = errors.get(0).unwrap_or(errors);
    let code = first
        .pointer("/extensions/code")
        .and_then(Value::as_str)
        .unwrap_or("NO_CODE");
    match first.get("message").and_then(Value::as_str) {
        Some(message) => format!("{code}: {message}"),
        None => truncate(&first.to_string()),
    }
}

fn quote(body: &[u8]) -> String {
    truncate(&String::from_utf8_lossy(body))
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The allocation-free pass over a body: serde visitors that skip everything except the
/// top-level `errors` entry and the expected path. It only ever says "passes" for a body the
/// reference ([`parse_response`]) also passes; anything it is unsure of (a path starting with an
/// index or `*`, duplicate keys that disagree) it leaves to the reference.
mod scan {
    use std::fmt;

    use serde::Deserialize;
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    use super::{FieldPath, Segment};

    /// A scalar where a path needed an object or array: the path is not there.
    macro_rules! scalars {
        () => {
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Found, E> {
                Ok(Found::default())
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Found, E> {
                Ok(Found::default())
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Found, E> {
                Ok(Found::default())
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Found, E> {
                Ok(Found::default())
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Found, E> {
                Ok(Found::default())
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Found, E> {
                Ok(Found::default())
            }
        };
    }

    /// Whether `body` is JSON with no non-null top-level `errors` and, when `expect` is given,
    /// the path present (at least one value, none null).
    pub(super) fn passes(body: &[u8], expect: Option<&FieldPath>) -> bool {
        let first_key = match expect.map(|path| path.segments.as_slice()) {
            None => None,
            Some([Segment::Key(key), rest @ ..]) if key != "errors" => Some((key.as_str(), rest)),
            Some(_) => return false,
        };
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let Ok(found) = Top { first_key }.deserialize(&mut deserializer) else {
            return false;
        };
        if deserializer.end().is_err() || found.errors {
            return false;
        }
        first_key.is_none() || (found.count > 0 && !found.any_null)
    }

    /// What a scan found.
    #[derive(Default)]
    struct Found {
        /// Values the path reached.
        count: usize,
        /// Whether one of them is null.
        any_null: bool,
        /// Whether the top level has a non-null `errors`.
        errors: bool,
    }

    impl Found {
        fn merge(&mut self, other: Found) {
            self.count += other.count;
            self.any_null |= other.any_null;
            self.errors |= other.errors;
        }
    }

    /// The top level: `errors`, the path's first key, and everything else skipped.
    struct Top<'p> {
        first_key: Option<(&'p str, &'p [Segment])>,
    }

    impl<'de> DeserializeSeed<'de> for Top<'_> {
        type Value = Found;

        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Found, D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Top<'_> {
        type Value = Found;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
            let mut found = Found::default();
            let path_key = self.first_key.map_or("", |(key, _)| key);
            while let Some(key) = map.next_key_seed(KeyIs(["errors", path_key]))? {
                match (key, self.first_key) {
                    (Some(0), _) => {
                        found.errors |= map.next_value::<Option<IgnoredAny>>()?.is_some()
                    }
                    (Some(_), Some((_, rest))) => found.merge(map.next_value_seed(Probe(rest))?),
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(found)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Found::default())
        }

        scalars!();
    }

    /// The rest of the path below a value.
    struct Probe<'p>(&'p [Segment]);

    impl<'de> DeserializeSeed<'de> for Probe<'_> {
        type Value = Found;

        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Found, D::Error> {
            if self.0.is_empty() {
                // The end of the path: found, and null or not.
                let value = Option::<IgnoredAny>::deserialize(deserializer)?;
                return Ok(Found {
                    count: 1,
                    any_null: value.is_none(),
                    errors: false,
                });
            }
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Probe<'_> {
        type Value = Found;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
            let (segment, rest) = self.0.split_first().expect("a probe has a segment left");
            // An index used on an object names the key "0", "1", ...: rare, so allocating is fine.
            let index_key;
            let wanted = match segment {
                Segment::Key(key) => Some(key.as_str()),
                Segment::Index(index) => {
                    index_key = index.to_string();
                    Some(index_key.as_str())
                }
                Segment::Each => None,
            };
            let mut found = Found::default();
            loop {
                let matched = match wanted {
                    Some(wanted) => match map.next_key_seed(KeyIs([wanted]))? {
                        Some(matched) => matched.is_some(),
                        None => break,
                    },
                    None => match map.next_key::<IgnoredAny>()? {
                        Some(_) => true,
                        None => break,
                    },
                };
                if matched {
                    found.merge(map.next_value_seed(Probe(rest))?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
            let (segment, rest) = self.0.split_first().expect("a probe has a segment left");
            let mut found = Found::default();
            let mut position = 0;
            loop {
                let wanted = match segment {
                    Segment::Index(index) => *index == position,
                    Segment::Each => true,
                    Segment::Key(_) => false,
                };
                if wanted {
                    match seq.next_element_seed(Probe(rest))? {
                        Some(inner) => found.merge(inner),
                        None => break,
                    }
                } else if seq.next_element::<IgnoredAny>()?.is_none() {
                    break;
                }
                position += 1;
            }
            Ok(found)
        }

        scalars!();
    }

    /// A key, compared with up to two wanted keys without allocating: `Some(i)` when it is the
    /// `i`th, `None` when it is neither.
    struct KeyIs<'k, const N: usize>([&'k str; N]);

    impl<'de, const N: usize> DeserializeSeed<'de> for KeyIs<'_, N> {
        type Value = Option<usize>;

        fn deserialize<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Option<usize>, D::Error> {
            deserializer.deserialize_str(self)
        }
    }

    impl<'de, const N: usize> Visitor<'de> for KeyIs<'_, N> {
        type Value = Option<usize>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object key")
        }

        fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Option<usize>, E> {
            Ok(self
                .0
                .iter()
                .position(|wanted| !wanted.is_empty() && *wanted == key))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> FieldPath {
        FieldPath::parse(text).expect("valid path")
    }

    /// The verdict of both implementations, which must agree: `Ok` or the failure's kind.
    fn verdict(status: u16, body: &str, expect: Option<&str>) -> Result<(), &'static str> {
        let expect = expect.map(path);
        let fast = check_response(status, body.as_bytes(), expect.as_ref()).map_err(|e| e.kind());
        let reference = parse_response(status, body.as_bytes(), expect.as_ref())
            .map(drop)
            .map_err(|e| e.kind());
        assert_eq!(
            fast, reference,
            "the checks disagree on {status} {body} / {expect:?}"
        );
        // The scan alone must never pass what the reference fails.
        if status == 200 && scan::passes(body.as_bytes(), expect.as_ref()) {
            assert_eq!(reference, Ok(()), "the scan passed {body} / {expect:?}");
        }
        fast
    }

    const ORDER: &str = r#"{"data":{"order":{"id":"42","lines":[{"sku":"A"},{"sku":"B"}]}}}"#;

    #[test]
    fn a_200_with_data_and_the_expected_field_passes() {
        assert_eq!(verdict(200, ORDER, Some("data.order.id")), Ok(()));
        assert_eq!(verdict(200, ORDER, Some("data.order.lines.*.sku")), Ok(()));
        assert_eq!(verdict(200, ORDER, Some("data.order.lines.1.sku")), Ok(()));
        let value = parse_response(200, ORDER.as_bytes(), Some(&path("data.order.id")))
            .expect("valid response passes");
        assert_eq!(value["data"]["order"]["id"], "42");
    }

    #[test]
    fn a_200_with_data_passes_without_an_expected_field() {
        assert_eq!(verdict(200, r#"{"data":{"ok":true}}"#, None), Ok(()));
        // Whitespace, escapes and nesting do not confuse the scan.
        let spaced = "{ \"da\\u0074a\" : { \"order\" : { \"id\" : \"4\\\"2\" } } , \"extensions\": {\"errors\": 1} }";
        assert_eq!(verdict(200, spaced, Some("data.order.id")), Ok(()));
    }

    #[test]
    fn an_errors_entry_fails_even_next_to_data() {
        let body = r#"{"data":{"order":null},"errors":[{"message":"no such order","extensions":{"code":"NOT_FOUND"}}]}"#;
        assert_eq!(verdict(200, body, None), Err("graphql"));
        assert_eq!(
            check_response(200, body.as_bytes(), None),
            Err(CheckError::GraphqlErrors {
                first: "NOT_FOUND: no such order".to_owned()
            })
        );
        let data_first = r#"{"data":{"order":{"id":"1"}},"errors":[{"message":"partly failed"}]}"#;
        assert_eq!(
            verdict(200, data_first, Some("data.order.id")),
            Err("graphql")
        );
    }

    #[test]
    fn an_empty_errors_list_fails_but_a_null_one_does_not() {
        assert_eq!(
            verdict(200, r#"{"data":{"a":1},"errors":[]}"#, None),
            Err("graphql")
        );
        assert_eq!(
            verdict(200, r#"{"data":{"a":1},"errors":null}"#, None),
            Ok(())
        );
    }

    #[test]
    fn a_status_other_than_200_fails_whatever_the_body() {
        assert_eq!(verdict(429, ORDER, Some("data.order.id")), Err("status"));
        assert_eq!(verdict(500, "", None), Err("status"));
        let error = check_response(429, ORDER.as_bytes(), None).expect_err("429 fails");
        assert!(error.to_string().starts_with("HTTP 429"), "{error}");
    }

    #[test]
    fn a_body_that_is_not_json_fails() {
        for body in [
            "<html>oops</html>",
            "",
            r#"{"data": "#,
            r#"{"data":{}} trailing"#,
        ] {
            assert_eq!(verdict(200, body, None), Err("json"), "{body}");
            assert_eq!(verdict(200, body, Some("data.x")), Err("json"), "{body}");
        }
    }

    #[test]
    fn a_missing_or_null_expected_field_fails() {
        for (body, expected) in [
            (ORDER, "data.order.number"),
            (ORDER, "data.customer.id"),
            (ORDER, "data.order.lines.2.sku"),
            (ORDER, "data.order.id.deeper"),
            (r#"{"data":{"order":null}}"#, "data.order.id"),
            (r#"{"data":null}"#, "data.order"),
            (
                r#"{"data":{"nodes":[{"id":"1"},{"id":null}]}}"#,
                "data.nodes.*.id",
            ),
            (r#"{"data":{"nodes":[]}}"#, "data.nodes.*.id"),
            (r#"[{"data":{"id":"1"}}]"#, "data.id"),
        ] {
            assert_eq!(
                verdict(200, body, Some(expected)),
                Err("missing"),
                "{body} / {expected}"
            );
        }
    }

    #[test]
    fn paths_index_arrays_and_star_requires_every_element() {
        let value: Value = serde_json::from_str(ORDER).expect("JSON");
        assert!(path("data.order.lines.1.sku").is_present_in(&value));
        assert!(!path("data.order.lines.2.sku").is_present_in(&value));
        assert!(path("data.order.lines.*.sku").is_present_in(&value));
        assert_eq!(path("data.order.lines.*.sku").lookup(&value).len(), 2);
        // A number on an object is a key; `*` on an object is every value.
        let keyed = r#"{"data":{"byId":{"0":{"id":"a"},"1":{"id":"b"}}}}"#;
        assert_eq!(verdict(200, keyed, Some("data.byId.1.id")), Ok(()));
        assert_eq!(verdict(200, keyed, Some("data.byId.*.id")), Ok(()));
        assert_eq!(verdict(200, keyed, Some("data.byId.2.id")), Err("missing"));
    }

    #[test]
    fn paths_the_scan_leaves_to_the_reference_still_get_a_verdict() {
        assert_eq!(verdict(200, r#"[{"id":"1"}]"#, Some("0.id")), Ok(()));
        assert_eq!(verdict(200, r#"{"a":{"id":"1"}}"#, Some("*.id")), Ok(()));
        assert_eq!(
            verdict(200, r#"{"errors":null,"data":{}}"#, Some("errors")),
            Err("missing")
        );
        // Duplicate keys: the last one counts, as in the reference.
        assert_eq!(
            verdict(200, r#"{"errors":[1],"errors":null}"#, None),
            Ok(())
        );
        assert_eq!(
            verdict(
                200,
                r#"{"data":{"id":"1"},"data":{"id":null}}"#,
                Some("data.id")
            ),
            Err("missing")
        );
    }

    #[test]
    fn the_scan_passes_ordinary_answers_by_itself() {
        // Otherwise every answer would take the slow path: correct, but not what the hot path is for.
        for (body, expected) in [
            (ORDER, Some("data.order.id")),
            (ORDER, Some("data.order.lines.*.sku")),
            (ORDER, Some("data.order.lines.1.sku")),
            (ORDER, None),
            (r#"{"data":{"a":1},"errors":null}"#, None),
        ] {
            let expected = expected.map(path);
            assert!(
                scan::passes(body.as_bytes(), expected.as_ref()),
                "{body} / {expected:?}"
            );
        }
    }

    #[test]
    fn malformed_paths_are_refused() {
        assert!(FieldPath::parse("").is_err());
        assert!(FieldPath::parse("data..id").is_err());
        assert!(FieldPath::parse("data.id.").is_err());
    }

    #[test]
    fn long_bodies_are_quoted_shortened() {
        let body = "x".repeat(10_000);
        let CheckError::InvalidJson { body: quoted, .. } =
            check_response(200, body.as_bytes(), None).expect_err("not JSON")
        else {
            panic!("expected a JSON error");
        };
        assert!(
            quoted.chars().count() <= QUOTE_CHARS + 1,
            "{}",
            quoted.len()
        );
    }
}
