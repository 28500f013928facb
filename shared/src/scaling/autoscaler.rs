//! The autoscaler: a pure function of a policy, what was observed, the recent history and `now`.
//!
//! It follows the Kubernetes HPA (replica calculator, then stabilisation and rate policies, then
//! the [min, max] bounds) and adds the Application Auto Scaling cooldown for alarm-driven scaling.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::hpa::{HpaPolicy, RateKind, ScalingRules, SelectPolicy};

/// What the metric source reported for one agent type.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// One value per replica (`None`: no metric from it), and whether each replica is ready.
    Replicas { metrics: Vec<Option<f64>>, ready: Vec<bool> },
    /// One type-wide value, as an alarm carries it.
    Aggregate(f64),
    /// The metric source failed.
    Unavailable,
}

/// An unstabilised recommendation, kept for the stabilisation windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    pub at: DateTime<Utc>,
    pub replicas: u32,
}

/// A change of the replica count that was applied (+ up, - down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleEvent {
    pub at: DateTime<Utc>,
    pub change: i64,
}

/// What the rate policies, stabilisation windows and cooldown need to remember.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalingHistory {
    #[serde(default)]
    pub recommendations: Vec<Recommendation>,
    #[serde(default)]
    pub events: Vec<ScaleEvent>,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub current: u32,
    pub desired: u32,
    /// What the metrics alone asked for, before stabilisation, rates, cooldown and bounds.
    pub recommendation: u32,
    /// Whether the metrics could be used (a failed source is not remembered as a recommendation).
    pub metrics_ok: bool,
    pub reasons: Vec<String>,
}

impl Decision {
    pub fn change(&self) -> i64 {
        i64::from(self.desired) - i64::from(self.current)
    }
}

/// A count the recommendation may not fall below, with its reason: demand the metrics cannot
/// show (work refused for lack of room, executions beyond the provisioned concurrency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Floor {
    pub replicas: u32,
    pub reason: String,
}

/// Decides the replica count for `current` replicas given what was observed.
pub fn decide(
    policy: &HpaPolicy,
    current: u32,
    observation: &Observation,
    history: &ScalingHistory,
    now: DateTime<Utc>,
) -> Decision {
    decide_with_floor(policy, current, observation, None, history, now)
}

/// [`decide`], with the metrics' recommendation raised to `floor` when it asks for more; the
/// stabilisation windows, rates, cooldown and bounds apply to the result alike.
pub fn decide_with_floor(
    policy: &HpaPolicy,
    current: u32,
    observation: &Observation,
    floor: Option<&Floor>,
    history: &ScalingHistory,
    now: DateTime<Utc>,
) -> Decision {
    let mut reasons = Vec::new();
    if current > policy.max_replicas || current < policy.min_replicas {
        let desired = current.clamp(policy.min_replicas, policy.max_replicas);
        reasons.push(format!(
            "{current} replicas is outside [{}, {}]: moving to {desired}",
            policy.min_replicas, policy.max_replicas
        ));
        return Decision { current, desired, recommendation: desired, metrics_ok: false, reasons };
    }
    let (mut recommendation, mut metrics_ok) = recommend(policy, current, observation, &mut reasons);
    if let Some(floor) = floor.filter(|f| f.replicas > recommendation) {
        reasons.push(format!("{}: at least {} replicas", floor.reason, floor.replicas));
        recommendation = floor.replicas;
        metrics_ok = true;
    }
    let stabilized = stabilize(policy, history, now, recommendation, current);
    if stabilized != recommendation {
        reasons.push(format!("stabilisation window holds the recommendation at {stabilized}"));
    }
    let limited = limit_rate(policy, history, now, stabilized, current, &mut reasons);
    let lagging = matches!(observation, Observation::Aggregate(_));
    let desired = apply_cooldown(policy, history, now, limited, current, lagging, &mut reasons);
    if desired == current && reasons.is_empty() {
        reasons.push(format!("keeping {current} replicas"));
    }
    Decision { current, desired, recommendation, metrics_ok, reasons }
}

impl ScalingHistory {
    /// Remembers an evaluation: its recommendation (when the metrics were usable) and, when the
    /// count changed, the scale event. Entries older than every window and period are dropped.
    pub fn record(&mut self, policy: &HpaPolicy, decision: &Decision, now: DateTime<Utc>) {
        if decision.metrics_ok {
            self.recommendations.push(Recommendation { at: now, replicas: decision.recommendation });
        }
        if decision.desired != decision.current {
            self.events.push(ScaleEvent { at: now, change: decision.change() });
        }
        let window = policy.scale_up.stabilization_window_s.max(policy.scale_down.stabilization_window_s);
        let period = policy
            .scale_up
            .policies
            .iter()
            .chain(&policy.scale_down.policies)
            .map(|p| p.period_s)
            .max()
            .unwrap_or(0)
            .max(policy.cooldown_s);
        let keep_after = |s: u64| before(now, s);
        self.recommendations.retain(|r| r.at > keep_after(window));
        self.events.retain(|e| e.at > keep_after(period));
    }
}

fn ratio_text(value: f64, target: f64) -> String {
    format!("metric {value:.3} vs target {target:.3} (ratio {:.3})", value / target)
}

fn hold(current: u32, why: &str, reasons: &mut Vec<String>) -> (u32, bool) {
    reasons
        .push(format!("{why}: holding {current} replicas (a failing metric source never shrinks capacity)"));
    (current, false)
}

/// Why `value` asks for no change, if it does: inside the policy's thresholds when it has them,
/// else within the HPA's tolerance of the target.
fn holds(policy: &HpaPolicy, value: f64) -> Option<String> {
    let target = policy.target.value();
    match policy.band {
        Some(band) if (band.scale_down_below..=band.scale_up_above).contains(&value) => Some(format!(
            "{} is within the thresholds [{}, {}]",
            ratio_text(value, target),
            band.scale_down_below,
            band.scale_up_above
        )),
        None if (1.0 - value / target).abs() <= policy.tolerance => {
            Some(format!("{} is within tolerance {}", ratio_text(value, target), policy.tolerance))
        }
        Some(_) | None => None,
    }
}

/// The size a scale-up or scale-down asks for: enough to bring the metric to the target, and
/// with thresholds, at least one more replica on the way up.
fn sized(policy: &HpaPolicy, current: u32, ratio: f64, over: f64) -> u32 {
    let wanted = ceil(ratio * over);
    if policy.band.is_some() && ratio > 1.0 { wanted.max(current.saturating_add(1)) } else { wanted }
}

/// The replica calculator: the count the metrics ask for, before any behaviour is applied.
fn recommend(
    policy: &HpaPolicy,
    current: u32,
    observation: &Observation,
    reasons: &mut Vec<String>,
) -> (u32, bool) {
    let target = policy.target.value();
    match observation {
        Observation::Unavailable => hold(current, "metric source unavailable", reasons),
        Observation::Aggregate(value) if !value.is_finite() || *value < 0.0 => {
            hold(current, "metric value is not a usable number", reasons)
        }
        Observation::Aggregate(value) => {
            if let Some(why) = holds(policy, *value) {
                reasons.push(why);
                return (current, true);
            }
            // A type at zero replicas still needs one to carry load that appears.
            let wanted = sized(policy, current, value / target, f64::from(current.max(1)));
            reasons.push(format!("{} asks for {wanted} replicas", ratio_text(*value, target)));
            (wanted, true)
        }
        Observation::Replicas { metrics, ready } => per_replica(policy, current, metrics, ready, reasons),
    }
}

/// The HPA rules for per-replica metrics: missing metrics and not-ready replicas.
fn per_replica(
    policy: &HpaPolicy,
    current: u32,
    metrics: &[Option<f64>],
    ready: &[bool],
    reasons: &mut Vec<String>,
) -> (u32, bool) {
    let target = policy.target.value();
    let is_ready = |i: usize| ready.get(i).copied().unwrap_or(true);
    let usable = |m: &Option<f64>| m.filter(|v| v.is_finite() && *v >= 0.0);
    let ready_values: Vec<f64> =
        metrics.iter().enumerate().filter(|(i, _)| is_ready(*i)).filter_map(|(_, m)| usable(m)).collect();
    let missing = metrics.iter().filter(|m| usable(m).is_none()).count();
    let unready = metrics.iter().enumerate().filter(|(i, m)| !is_ready(*i) && usable(m).is_some()).count();
    if ready_values.is_empty() {
        return hold(current, "no ready replica reported a metric", reasons);
    }
    let sum: f64 = ready_values.iter().sum();
    let ready_count = ready_values.len() as f64;
    let average = sum / ready_count;
    let ratio = average / target;
    let scale_up_with_unready = unready > 0 && ratio > 1.0;
    if !scale_up_with_unready && missing == 0 {
        if let Some(why) = holds(policy, average) {
            reasons.push(format!("average {why}"));
            return (current, true);
        }
        let wanted = sized(policy, current, ratio, ready_count);
        reasons.push(format!(
            "average {} over {} ready replicas asks for {wanted}",
            ratio_text(average, target),
            ready_values.len()
        ));
        return (wanted, true);
    }
    // Missing metrics count against the move: fully used on the way down, idle on the way up.
    let mut considered = sum;
    let mut count = ready_count;
    if missing > 0 {
        let fill = if ratio < 1.0 { policy.target.saturated() } else { 0.0 };
        considered += fill * missing as f64;
        count += missing as f64;
        reasons.push(format!("{missing} replicas without metrics counted as {fill}"));
    }
    if scale_up_with_unready {
        count += unready as f64;
        reasons.push(format!("{unready} not-ready replicas counted as 0 for the scale-up"));
    }
    let new_average = considered / count;
    let new_ratio = new_average / target;
    let reverses = (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0);
    if let Some(why) = holds(policy, new_average).filter(|_| !reverses) {
        reasons.push(format!("adjusted average {why}: keeping {current}"));
        return (current, true);
    }
    if reverses {
        reasons.push(format!("adjusted ratio {new_ratio:.3} reverses the move: keeping {current}"));
        return (current, true);
    }
    let wanted = sized(policy, current, new_ratio, count);
    if (new_ratio < 1.0 && wanted > current) || (new_ratio > 1.0 && wanted < current) {
        reasons.push(format!("adjusted ratio {new_ratio:.3} would move the wrong way: keeping {current}"));
        return (current, true);
    }
    reasons.push(format!("adjusted ratio {new_ratio:.3} asks for {wanted} replicas"));
    (wanted, true)
}

fn ceil(x: f64) -> u32 {
    // Replica counts are small; saturate rather than wrap on absurd inputs. The slack keeps float
    // noise (0.805 / 0.7 x 20 = 23.000000000000004) from asking for one replica more.
    (x - 1e-9).ceil().clamp(0.0, f64::from(u32::MAX)) as u32
}

/// `s` seconds before `now`, saturating at the earliest instant: windows and periods come from
/// data (a policy, a replay trace), and an absurd one must hold, not panic.
fn before(now: DateTime<Utc>, s: u64) -> DateTime<Utc> {
    i64::try_from(s)
        .ok()
        .and_then(Duration::try_seconds)
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// HPA stabilisation: a scale-up takes the lowest recommendation of its window, a scale-down the
/// highest of its window (the new recommendation included).
fn stabilize(
    policy: &HpaPolicy,
    history: &ScalingHistory,
    now: DateTime<Utc>,
    recommendation: u32,
    current: u32,
) -> u32 {
    let up_cutoff = before(now, policy.scale_up.stabilization_window_s);
    let down_cutoff = before(now, policy.scale_down.stabilization_window_s);
    let mut up = recommendation;
    let mut down = recommendation;
    for r in &history.recommendations {
        if r.at > up_cutoff {
            up = up.min(r.replicas);
        }
        if r.at > down_cutoff {
            down = down.max(r.replicas);
        }
    }
    let mut stabilized = current;
    if stabilized < up {
        stabilized = up;
    }
    if stabilized > down {
        stabilized = down;
    }
    stabilized
}

fn changed_in_period(events: &[ScaleEvent], now: DateTime<Utc>, period_s: u64, up: bool) -> i64 {
    let cutoff = before(now, period_s);
    events
        .iter()
        .filter(|e| e.at > cutoff && (e.change > 0) == up && e.change != 0)
        .map(|e| e.change.abs())
        .sum()
}

/// The most (scale-up) or fewest (scale-down) replicas the rate policies allow now.
fn rate_limit(
    rules: &ScalingRules,
    events: &[ScaleEvent],
    now: DateTime<Utc>,
    current: u32,
    up: bool,
) -> i64 {
    let current = i64::from(current);
    if rules.select_policy == SelectPolicy::Disabled {
        return current;
    }
    let proposals = rules.policies.iter().map(|p| {
        let added = changed_in_period(events, now, p.period_s, true);
        let removed = changed_in_period(events, now, p.period_s, false);
        let start = current - added + removed;
        let value = i64::from(p.value);
        match (p.kind, up) {
            (RateKind::Pods, true) => start + value,
            (RateKind::Pods, false) => start - value,
            (RateKind::Percent, true) => (start as f64 * (1.0 + value as f64 / 100.0)).ceil() as i64,
            (RateKind::Percent, false) => (start as f64 * (1.0 - value as f64 / 100.0)).floor() as i64,
        }
    });
    // Max takes the largest change: the highest count going up, the lowest going down.
    match (rules.select_policy, up) {
        (SelectPolicy::Max, true) | (SelectPolicy::Min, false) => proposals.max().unwrap_or(current),
        _ => proposals.min().unwrap_or(current),
    }
}

fn limit_rate(
    policy: &HpaPolicy,
    history: &ScalingHistory,
    now: DateTime<Utc>,
    desired: u32,
    current: u32,
    reasons: &mut Vec<String>,
) -> u32 {
    if desired > current {
        let limit = rate_limit(&policy.scale_up, &history.events, now, current, true).max(i64::from(current));
        let allowed = limit.min(i64::from(policy.max_replicas));
        if i64::from(desired) > allowed {
            let why = if allowed < i64::from(policy.max_replicas) {
                "scale-up rate policy"
            } else {
                "max_replicas"
            };
            reasons.push(format!("{why} limits the scale-up to {allowed}"));
            return u32::try_from(allowed).unwrap_or(current);
        }
    } else if desired < current {
        let limit =
            rate_limit(&policy.scale_down, &history.events, now, current, false).min(i64::from(current));
        let allowed = limit.max(i64::from(policy.min_replicas));
        if i64::from(desired) < allowed {
            let why = if allowed > i64::from(policy.min_replicas) {
                "scale-down rate policy"
            } else {
                "min_replicas"
            };
            reasons.push(format!("{why} limits the scale-down to {allowed}"));
            return u32::try_from(allowed).unwrap_or(current);
        }
    }
    desired
}

/// Application Auto Scaling cooldowns on top of the HPA behaviour: a scale-out is never blocked by
/// a scale-in cooldown, but during a scale-out cooldown the capacity already added counts toward
/// the next scale-out (+2 then +3 nets +3); scale-ins during any cooldown are ignored.
///
/// The netting exists because an alarm's single value lags the capacity just added; `lagging` is
/// false for per-replica observations, which count the replicas asked for but not reporting yet
/// (idle on the way up), so a scale-out there is sized on every replica already and is not netted.
fn apply_cooldown(
    policy: &HpaPolicy,
    history: &ScalingHistory,
    now: DateTime<Utc>,
    desired: u32,
    current: u32,
    lagging: bool,
    reasons: &mut Vec<String>,
) -> u32 {
    if policy.cooldown_s == 0 {
        return desired;
    }
    let cutoff = before(now, policy.cooldown_s);
    let recent: Vec<&ScaleEvent> = history.events.iter().filter(|e| e.at > cutoff).collect();
    if desired > current && lagging {
        let added: i64 = recent.iter().filter(|e| e.change > 0).map(|e| e.change).sum();
        if added > 0 {
            let base = i64::from(current) - added;
            let step = i64::from(desired) - i64::from(current);
            let netted = (base + step).max(i64::from(current));
            let netted = u32::try_from(netted).unwrap_or(current);
            if netted != desired {
                reasons.push(format!(
                    "scale-out cooldown: {added} replicas added in the last {}s count toward this scale-out ({desired} -> {netted})",
                    policy.cooldown_s
                ));
            }
            return netted;
        }
    } else if desired < current && !recent.is_empty() {
        reasons
            .push(format!("cooldown: no scale-in within {}s of the last scaling action", policy.cooldown_s));
        return current;
    }
    desired
}
