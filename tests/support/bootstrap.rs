//! What every function's Runtime API test does: run the real bootstrap as Lambda runs it, under
//! the Runtime API the tests serve, deliver a table of events in order, and hold each answer to
//! its expectations.

use std::collections::HashMap;

use serde_json::Value;

use crate::runtime_api::{Function, RuntimeApi};

/// One event for the bootstrap and what its answer must hold: JSON pointers and their values.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: &'static str,
    pub event: Value,
    pub expect: Vec<(&'static str, Value)>,
}

impl Case {
    pub fn new(id: &'static str, event: Value) -> Self {
        Self { id, event, expect: Vec::new() }
    }

    /// The answer's value at `pointer` (RFC 6901, for example `/status`) must be `value`.
    #[must_use]
    pub fn expect(mut self, pointer: &'static str, value: impl Into<Value>) -> Self {
        self.expect.push((pointer, value.into()));
        self
    }
}

/// What a run answered, by case id, and what the function logged.
#[derive(Debug)]
pub struct Ran {
    pub answers: HashMap<String, Value>,
    pub lines: Vec<String>,
}

impl Ran {
    /// The answer to case `id`.
    ///
    /// # Panics
    /// When there is none.
    pub fn answer(&self, id: &str) -> &Value {
        self.answers.get(id).unwrap_or_else(|| panic!("no answer to {id}"))
    }
}

/// Runs `binary` (named `function`) with `env`, delivers every case's event in order, stops it,
/// and checks each answer against its case's expectations.
///
/// # Panics
/// When an invocation fails or an answer breaks an expectation (naming the case and the answer).
pub async fn run_cases(binary: &str, function: &str, env: &[(&str, &str)], cases: &[Case]) -> Ran {
    let events: Vec<(&str, Value)> = cases.iter().map(|c| (c.id, c.event.clone())).collect();
    let mut runtime = RuntimeApi::serve(&events).await;
    let process = Function::spawn(binary, function, &runtime.address, env);
    let answered = runtime.answers(events.len()).await;
    println!(
        "{function} (this build): {} ms from process start to its first `next` poll",
        runtime.first_poll().map_or(0, |at| at.duration_since(process.started).as_millis())
    );
    let lines = process.stop().await;
    let mut answers = HashMap::new();
    for case in cases {
        let answer = match answered.get(case.id) {
            Some(Ok(answer)) => answer.clone(),
            Some(Err(error)) => panic!("{function}, {}: invocation error {error}", case.id),
            None => panic!("{function}, {}: no answer", case.id),
        };
        for (pointer, want) in &case.expect {
            let got = answer.pointer(pointer).unwrap_or(&Value::Null);
            assert_eq!(got, want, "{function}, {}: {pointer} in {answer}", case.id);
        }
        answers.insert(case.id.to_owned(), answer);
    }
    Ran { answers, lines }
}

/// A warming ping, as the warmer sends it.
pub fn ping(correlation_id: &str) -> Value {
    serde_json::json!({"warmer": {"correlation_id": correlation_id, "concurrency": 1, "hold_ms": 0}})
}
