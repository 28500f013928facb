//! Warm pings in a Rust Lambda agent: answered before the real handler runs.

use serde_json::Value;
use shared::warming::ping::{PingAnswer, WarmPing, note_invocation};

/// The answer to the warmer's ping when `payload` is one (exactly `{"warmer": {...}}`): held for
/// its `hold_ms` (at most 5 s, so concurrent pings land on distinct containers), with this
/// container's id and whether this was its first invocation. `None` for real work, which then
/// goes to the handler. Call it first in the handler, for every event.
pub async fn answer_warm_ping(payload: &Value) -> Option<PingAnswer> {
    let cold_start = note_invocation();
    let ping = WarmPing::detect(payload)?;
    Some(ping.answer(cold_start).await)
}
