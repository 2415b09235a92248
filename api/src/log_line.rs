//! The JSON log line, written directly: the format of tracing-subscriber's JSON formatter
//! (`timestamp`, `level`, `fields`, `target`, and the current `span` with its `name`), without
//! its detours.
//!
//! That formatter builds each line through serde maps and parses the current span's fields,
//! already stored as JSON text, back into a `serde_json::Value` for every line. The request
//! line was 8 % of the instructions of one `order(id)`. Here the stored JSON text is copied into
//! the line as it is, and the event's fields are written as they are visited.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::span::Record;
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats events as one JSON object per line (use with [`SpanFields`] for the span fields).
pub struct JsonLine;

impl<S> FormatEvent<S, SpanFields> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, SpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Vec::with_capacity(256);
        line.extend_from_slice(b"{\"timestamp\":\"");
        timestamp(&mut line, SystemTime::now());
        line.extend_from_slice(b"\",\"level\":\"");
        line.extend_from_slice(event.metadata().level().as_str().as_bytes());
        line.extend_from_slice(b"\",\"fields\":{");
        let mut fields = Fields {
            line: &mut line,
            first: true,
        };
        event.record(&mut fields);
        line.extend_from_slice(b"},\"target\":");
        json(&mut line, event.metadata().target());
        let span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(span) = span {
            line.extend_from_slice(b",\"span\":{");
            let extensions = span.extensions();
            // A span's fields are stored as one JSON object: its members are copied.
            let members = extensions
                .get::<FormattedFields<SpanFields>>()
                .and_then(|stored| {
                    stored
                        .fields
                        .trim()
                        .strip_prefix('{')
                        .and_then(|s| s.strip_suffix('}'))
                        .map(str::trim)
                })
                .unwrap_or_default();
            if !members.is_empty() {
                line.extend_from_slice(members.as_bytes());
                line.push(b',');
            }
            line.extend_from_slice(b"\"name\":");
            json(&mut line, span.name());
            line.push(b'}');
        }
        line.extend_from_slice(b"}\n");
        // Every piece above is valid UTF-8 (JSON text of UTF-8 strings).
        writer.write_str(&String::from_utf8_lossy(&line))
    }
}

/// A span's fields as one JSON object, as [`JsonFields`] stores them, but a field recorded after
/// the span began (a request's `operation`) is spliced into the stored object. `JsonFields`
/// parses the object into a map and writes it out again on every record: 3.6 % of the
/// instructions of an `order(id)` that names its operation.
#[derive(Debug, Default)]
pub struct SpanFields(JsonFields);

impl<'writer> FormatFields<'writer> for SpanFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        self.0.format_fields(writer, fields)
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &Record<'_>,
    ) -> fmt::Result {
        let mut added = Vec::new();
        let mut members = Fields {
            line: &mut added,
            first: true,
        };
        fields.record(&mut members);
        if added.is_empty() {
            return Ok(());
        }
        // Every piece is valid UTF-8 (JSON text of UTF-8 strings).
        let added = String::from_utf8_lossy(&added);
        let stored = current.fields.trim();
        let Some(head) = stored.strip_suffix('}').map(str::trim_end) else {
            // Nothing stored yet: the new members are the whole object.
            current.fields = format!("{{{added}}}");
            return Ok(());
        };
        let mut names = Names(Vec::new());
        fields.record(&mut names);
        current.fields = if names.0.iter().all(|name| !has_key(head, name)) {
            let comma = if head.ends_with('{') { "" } else { "," };
            format!("{head}{comma}{added}}}")
        } else {
            // A field recorded again (or a value that reads like one): the later value wins,
            // as in `JsonFields`, by merging the two objects.
            let mut merged: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(stored).map_err(|_| fmt::Error)?;
            let newer: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&format!("{{{added}}}")).map_err(|_| fmt::Error)?;
            merged.extend(newer);
            serde_json::to_string(&merged).map_err(|_| fmt::Error)?
        };
        Ok(())
    }
}

/// Whether the JSON object text `object` may have the member `name`: its name in quotes before
/// a colon (possibly inside a string value too, which only costs the merge).
fn has_key(object: &str, name: &str) -> bool {
    object
        .match_indices(name)
        .any(|(at, _)| object[..at].ends_with('"') && object[at + name.len()..].starts_with("\":"))
}

/// The names of the fields a record sets.
struct Names(Vec<&'static str>);

impl Visit for Names {
    fn record_debug(&mut self, field: &Field, _: &dyn fmt::Debug) {
        self.0.push(field.name());
    }
}

/// `2026-11-28T03:24:48.392400Z`, as tracing-subscriber writes it. Digit by digit: through
/// `write!` the seven numbers cost 2,500 instructions a line, 1 % of an `order(id)` request.
fn timestamp(line: &mut Vec<u8>, now: SystemTime) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let at = DateTime::<Utc>::from_timestamp(
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        since.subsec_nanos(),
    )
    .unwrap_or_default();
    let year = u32::try_from(at.year()).unwrap_or(0).min(9999);
    digits(line, year, 4);
    for (separator, value) in [
        (b'-', at.month()),
        (b'-', at.day()),
        (b'T', at.hour()),
        (b':', at.minute()),
        (b':', at.second()),
    ] {
        line.push(separator);
        digits(line, value, 2);
    }
    line.push(b'.');
    digits(line, since.subsec_micros(), 6);
    line.push(b'Z');
}

/// Appends the `width` lowest decimal digits of `value`, zero-padded.
fn digits(line: &mut Vec<u8>, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = value / 10_u32.pow(place) % 10;
        line.push(b'0' + u8::try_from(digit).unwrap_or(0));
    }
}

/// Appends `value` as JSON.
fn json<T: Serialize + ?Sized>(line: &mut Vec<u8>, value: &T) {
    // Strings and numbers always serialise.
    let _ = serde_json::to_writer(&mut *line, value);
}

/// Writes an event's fields as the members of a JSON object, as tracing-serde would.
struct Fields<'a> {
    line: &'a mut Vec<u8>,
    first: bool,
}

impl Fields<'_> {
    fn member<T: Serialize + ?Sized>(&mut self, field: &Field, value: &T) {
        if !std::mem::take(&mut self.first) {
            self.line.push(b',');
        }
        json(self.line, field.name());
        self.line.push(b':');
        json(self.line, value);
    }
}

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, &value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, &value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, &value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, &value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use serde_json::Value;

    use super::*;

    #[test]
    fn timestamps_are_rfc_3339_utc_to_the_microsecond() {
        let stamp = |seconds: u64, nanos: u32| {
            let mut line = Vec::new();
            timestamp(
                &mut line,
                UNIX_EPOCH + std::time::Duration::new(seconds, nanos),
            );
            String::from_utf8(line).unwrap()
        };
        assert_eq!(
            stamp(1_795_836_288, 392_400_999),
            "2026-11-28T03:24:48.392400Z"
        );
        assert_eq!(stamp(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(stamp(951_868_799, 9_000), "2000-02-29T23:59:59.000009Z");
        let now = SystemTime::now();
        let expected = DateTime::<Utc>::from(now)
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        let mut line = Vec::new();
        timestamp(&mut line, now);
        assert_eq!(String::from_utf8(line).unwrap(), expected);
    }

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The events a request logs, and a few more shapes of field.
    fn log_some() {
        let span = tracing::info_span!(
            "request",
            request_id = %"6de8e0e95da9312b",
            method = %"POST",
            path = %"/graphql",
            operation = tracing::field::Empty,
        );
        span.record("operation", "Order");
        span.in_scope(|| {
            tracing::info!(status = 200_u16, elapsed_ms = 0.118_733, "request finished");
            tracing::warn!(err = %"a \"quoted\"\nline", count = -3_i64, ok = true, "odd");
        });
        tracing::info!(listening = "127.0.0.1:8080", "no span here");
        // Fields recorded later, one of them twice, and one whose value reads like a key.
        let later = tracing::info_span!(
            "later",
            note = %"says \"operation\":",
            operation = tracing::field::Empty,
            attempt = tracing::field::Empty,
        );
        later.record("operation", "First");
        later.record("attempt", 2_u64);
        later.record("operation", "Second");
        later.in_scope(|| tracing::info!("recorded"));
        let bare = tracing::info_span!("bare", operation = tracing::field::Empty);
        bare.record("operation", "Only");
        bare.in_scope(|| tracing::info!("one field, recorded later"));
    }

    fn lines(text: &str) -> Vec<Value> {
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Sink {
        type Writer = Sink;
        fn make_writer(&'a self) -> Sink {
            self.clone()
        }
    }

    /// tracing-subscriber's JSON formatter, set up as `main` set it up before `JsonLine`.
    fn stock(
        sink: &Sink,
    ) -> tracing_subscriber::fmt::SubscriberBuilder<
        JsonFields,
        tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Json>,
        tracing::level_filters::LevelFilter,
        Sink,
    > {
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(sink.clone())
    }

    #[test]
    fn lines_say_what_tracing_subscribers_json_formatter_says() {
        let ours = Sink::default();
        let theirs = Sink::default();
        let mine = stock(&ours)
            .fmt_fields(SpanFields::default())
            .event_format(JsonLine)
            .finish();
        let reference = stock(&theirs).finish();
        tracing::subscriber::with_default(mine, log_some);
        tracing::subscriber::with_default(reference, log_some);
        let ours = String::from_utf8(ours.0.lock().unwrap().clone()).unwrap();
        let theirs = String::from_utf8(theirs.0.lock().unwrap().clone()).unwrap();
        let recorded_twice = ours.lines().nth(3).unwrap();
        assert_eq!(
            recorded_twice.matches("\"operation\":").count(),
            1,
            "one key per field: {recorded_twice}"
        );
        let (mut ours, mut theirs) = (lines(&ours), lines(&theirs));
        assert_eq!(ours.len(), 5, "{ours:?}");
        for line in ours.iter_mut().chain(theirs.iter_mut()) {
            let stamp = line.as_object_mut().unwrap().remove("timestamp").unwrap();
            let stamp = stamp.as_str().unwrap();
            assert!(
                chrono::DateTime::parse_from_rfc3339(stamp).is_ok() && stamp.len() == 27,
                "{stamp}"
            );
        }
        assert_eq!(ours, theirs);
        assert_eq!(ours[0]["span"]["operation"], "Order");
        assert_eq!(ours[1]["fields"]["err"], "a \"quoted\"\nline");
        assert_eq!(ours[3]["span"]["operation"], "Second");
        assert_eq!(ours[3]["span"]["attempt"], 2);
        assert_eq!(ours[4]["span"]["operation"], "Only");
    }
}
