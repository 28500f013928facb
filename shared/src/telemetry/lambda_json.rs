//! JSON log lines as Lambda users read them (the Powertools for AWS Lambda convention): every
//! line carries, at its top level, `timestamp`, `level`, `message`, the event's own fields,
//! `service` (which of the suite's functions), `function_name`, `function_memory_size`,
//! `function_version`, and inside an invocation `function_request_id`, `xray_trace_id` and
//! `cold_start` (true on the container's first invocation). A Logs Insights query can then
//! filter on `function_request_id` or `cold_start` without parsing a span list.

use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Who writes the lines: fixed for the container's life.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogIdentity {
    /// The suite's name for the function: `api`, `scaler`, `cost-sweeper`, `warmer`, `commander`.
    pub service: String,
    /// `AWS_LAMBDA_FUNCTION_NAME`, in Lambda.
    pub function_name: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in Lambda.
    pub function_memory_size: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_VERSION`, in Lambda.
    pub function_version: Option<String>,
}

/// The name of lambda_runtime's per-invocation span, whose `requestId` and `xrayTraceId` the
/// lines carry.
pub const INVOKE_SPAN: &str = "Lambda runtime invoke";

/// The event formatter.
#[derive(Debug, Clone)]
pub struct LambdaJson {
    identity: LogIdentity,
    /// The request id of the container's first invocation: lines of that one say cold_start.
    first_request: std::sync::Arc<OnceLock<String>>,
}

impl LambdaJson {
    /// The formatter, and the layer that notes the container's first invocation for it (every
    /// invocation opens lambda_runtime's span, whether or not it logs anything).
    pub fn new(identity: LogIdentity) -> (Self, FirstInvocation) {
        let first_request = std::sync::Arc::new(OnceLock::new());
        (Self { identity, first_request: first_request.clone() }, FirstInvocation(first_request))
    }

    /// The line for an event with `fields`, at `level`, inside spans whose fields are `spans`
    /// (outermost first): pure, so the shape is tested without a subscriber.
    pub fn line(
        &self,
        level: &tracing::Level,
        fields: Map<String, Value>,
        spans: &[Map<String, Value>],
    ) -> Value {
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true).into(),
        );
        line.insert("level".into(), level.as_str().into());
        // Span fields first (the request's method and path...), the event's own over them.
        for span in spans {
            for (key, value) in span {
                match key.as_str() {
                    "requestId" | "xrayTraceId" | "tenantId" => {}
                    _ => {
                        line.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        for (key, value) in fields {
            line.insert(key, value);
        }
        line.entry("message").or_insert(Value::String(String::new()));
        line.insert("service".into(), self.identity.service.clone().into());
        for (key, value) in [
            ("function_name", &self.identity.function_name),
            ("function_memory_size", &self.identity.function_memory_size),
            ("function_version", &self.identity.function_version),
        ] {
            if let Some(value) = value {
                line.insert(key.into(), value.clone().into());
            }
        }
        let request = spans.iter().rev().find_map(|s| s.get("requestId").and_then(Value::as_str));
        if let Some(request) = request {
            let first = self.first_request.get_or_init(|| request.to_owned());
            line.insert("function_request_id".into(), request.into());
            line.insert("cold_start".into(), (first == request).into());
        }
        if let Some(trace) = spans.iter().rev().find_map(|s| s.get("xrayTraceId")) {
            line.insert("xray_trace_id".into(), trace.clone());
        }
        Value::Object(line)
    }
}

impl<S> FormatEvent<S, JsonFields> for LambdaJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = FieldMap(Map::new());
        event.record(&mut fields);
        let mut spans = Vec::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let parsed = extensions
                    .get::<FormattedFields<JsonFields>>()
                    .and_then(|f| serde_json::from_str::<Map<String, Value>>(f.as_str()).ok())
                    .unwrap_or_default();
                spans.push(parsed);
            }
        }
        let line = self.line(event.metadata().level(), fields.0, &spans);
        writeln!(writer, "{line}")
    }
}

/// Notes the request id of the first invocation span the process opens.
#[derive(Debug, Clone)]
pub struct FirstInvocation(std::sync::Arc<OnceLock<String>>);

impl<S: Subscriber> tracing_subscriber::Layer<S> for FirstInvocation {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if self.0.get().is_none() && attrs.metadata().name() == INVOKE_SPAN {
            let mut fields = FieldMap(Map::new());
            attrs.record(&mut fields);
            if let Some(Value::String(id)) = fields.0.remove("requestId") {
                let _ = self.0.set(id);
            }
        }
    }
}

/// An event's fields as JSON values.
struct FieldMap(Map<String, Value>);

impl Visit for FieldMap {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(
            field.name().into(),
            serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
        );
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn every_line_names_its_function_and_inside_an_invocation_its_request() {
        let identity = LogIdentity {
            service: "scaler".into(),
            function_name: Some("stack-scaler".into()),
            function_memory_size: Some("256".into()),
            function_version: Some("7".into()),
        };
        let (format, FirstInvocation(first)) = LambdaJson::new(identity);
        first.set("r-1".into()).unwrap();
        let invoke = |id: &str| object(json!({"requestId": id, "xrayTraceId": "Root=1-abc"}));
        let event = |message: &str| object(json!({"message": message, "agent_type": "detection"}));
        let cases = [
            (vec![], "starting", None, None),
            (vec![invoke("r-1")], "first", Some("r-1"), Some(true)),
            (vec![invoke("r-2"), object(json!({"method": "GET"}))], "second", Some("r-2"), Some(false)),
        ];
        for (spans, message, request, cold) in cases {
            let line = format.line(&tracing::Level::WARN, event(message), &spans);
            assert_eq!(line["message"], message);
            assert_eq!((&line["level"], &line["service"]), (&json!("WARN"), &json!("scaler")));
            assert_eq!(
                (&line["function_name"], &line["function_version"]),
                (&json!("stack-scaler"), &json!("7"))
            );
            assert_eq!(line["agent_type"], "detection", "the event's fields at the top level");
            assert_eq!(line.get("function_request_id").and_then(Value::as_str), request, "{line}");
            assert_eq!(line.get("cold_start").and_then(Value::as_bool), cold, "{line}");
            assert!(line.get("requestId").is_none(), "the span's own name is not repeated: {line}");
            if request.is_some() {
                assert_eq!(line["xray_trace_id"], "Root=1-abc");
            }
        }
        let line = format.line(
            &tracing::Level::INFO,
            event("m"),
            &[invoke("r-3"), object(json!({"method": "PUT"}))],
        );
        assert_eq!(line["method"], "PUT", "span fields too: {line}");
    }
}
