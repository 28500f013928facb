//! Model selection (pure): which LLM a call should use, given the incident's severity, the
//! caller's limits, which models are cooling down after failures, and whether emergency cost mode
//! is on.

use serde::{Deserialize, Serialize};

use super::billing::tokens_cost;
use super::prices::{ModelPrice, PriceTable};
use super::task::{TaskType, severity_token_multiplier};
use crate::domain::Severity;
use crate::error::ValidationError;

/// Accuracy critical and high incidents need at least.
pub const SEVERE_ACCURACY_FLOOR: f64 = 0.92;
/// Accuracy low-severity work may never go below.
pub const LOW_ACCURACY_FLOOR: f64 = 0.80;
/// What a caller is taken to require when it does not say.
pub const DEFAULT_REQUIRED_ACCURACY: f64 = 0.85;
/// Share of an estimated call's tokens that are input (the rest is output).
pub const INPUT_SHARE: f64 = 0.75;

/// The least accuracy a model must have for this severity (seed-facts.md).
pub fn accuracy_floor(severity: Severity, required: Option<f64>) -> f64 {
    let required = required.unwrap_or(DEFAULT_REQUIRED_ACCURACY);
    match severity {
        Severity::Critical | Severity::High => required.max(SEVERE_ACCURACY_FLOOR),
        Severity::Medium => required,
        Severity::Low => (required - 0.05).max(LOW_ACCURACY_FLOOR),
    }
}

/// What the caller asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRequest {
    pub task_type: TaskType,
    pub severity: Severity,
    pub required_accuracy: Option<f64>,
    /// Most the call may cost per 1,000 tokens (input and output together), USD.
    pub max_cost_per_1k: Option<f64>,
    pub expected_input_tokens: Option<u64>,
    pub expected_output_tokens: Option<u64>,
}

impl ModelRequest {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if let Some(a) = self.required_accuracy
            && !(a.is_finite() && (0.0..=1.0).contains(&a))
        {
            return Err(ValidationError::new("required_accuracy", "must be between 0 and 1"));
        }
        if let Some(c) = self.max_cost_per_1k
            && !(c.is_finite() && c > 0.0)
        {
            return Err(ValidationError::new("max_cost_per_1k", "must be a positive number of dollars"));
        }
        for (field, tokens) in [
            ("expected_input_tokens", self.expected_input_tokens),
            ("expected_output_tokens", self.expected_output_tokens),
        ] {
            if tokens.is_some_and(|t| t > super::usage::MAX_TOKENS_PER_CALL) {
                return Err(ValidationError::new(field, "is more tokens than any call uses"));
            }
        }
        Ok(())
    }

    /// Input and output tokens to price: as given, else the task's typical size for the severity
    /// split three to one.
    pub fn expected_tokens(&self) -> (f64, f64) {
        let total = self.task_type.typical_tokens() * severity_token_multiplier(self.severity);
        (
            self.expected_input_tokens.map_or(total * INPUT_SHARE, |t| t as f64),
            self.expected_output_tokens.map_or(total * (1.0 - INPUT_SHARE), |t| t as f64),
        )
    }
}

/// The chosen model and the others in the order to fall back to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelChoice {
    pub model: String,
    /// USD for one call of the expected size.
    pub expected_cost: f64,
    pub accuracy: f64,
    pub reason: String,
    pub fallbacks: Vec<String>,
}

/// Why no model could be chosen.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoModel {
    /// The caller's limits exclude every model.
    #[error("no model has accuracy >= {floor:.2}{}", cap.map(|c| format!(" at <= ${c}/1K tokens")).unwrap_or_default())]
    Unsatisfiable { floor: f64, cap: Option<f64> },
    /// Models that qualify are all cooling down after failures.
    #[error("every model that qualifies is cooling down after failures; retry in {retry_after_s} s")]
    CoolingDown { retry_after_s: u64 },
}

struct Scored<'a> {
    model: &'a ModelPrice,
    cost: f64,
    effectiveness: f64,
}

/// How hard selection leans on cost, as the cost controls say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CostMode {
    Normal,
    /// Spend is at $100/h or more: non-critical work takes the cheapest model within
    /// `DOWNGRADE_TOLERANCE` accuracy of its usual choice.
    Optimizing,
    /// Emergency cost mode: the cheapest model meeting the severity's floor, for every severity.
    Emergency,
}

impl CostMode {
    /// The mode the controls put model selection in at `now`. Stale controls (the sweeper has
    /// stopped) count as optimising: neither an old emergency nor an old calm is trusted.
    pub fn from_control(
        control: &crate::cost::control::CostControl,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        if control.emergency(now) {
            // An operator's forced emergency holds even when the sweeper has stopped.
            Self::Emergency
        } else if control.is_stale(now) || control.optimizing {
            Self::Optimizing
        } else {
            Self::Normal
        }
    }
}

/// How much accuracy an automatic downgrade may give up.
pub const DOWNGRADE_TOLERANCE: f64 = 0.05;

/// Chooses a model. `cooling` says, per model id, how many seconds it still cools down (0: ready).
pub fn select(
    prices: &PriceTable,
    request: &ModelRequest,
    mode: CostMode,
    cooling: impl Fn(&str) -> u64,
) -> Result<ModelChoice, NoModel> {
    let floor = accuracy_floor(request.severity, request.required_accuracy);
    let (input, output) = request.expected_tokens();
    let thousands = ((input + output) / 1000.0).max(f64::MIN_POSITIVE);
    let weight = request.task_type.latency_weight();
    let qualifying: Vec<Scored<'_>> = prices
        .models
        .iter()
        .filter(|m| m.accuracy >= floor - 1e-12)
        .map(|m| {
            let cost = tokens_cost(m, input, output);
            let effectiveness = m.accuracy / (cost.max(1e-12) * (1.0 + m.typical_latency_s * weight));
            Scored { model: m, cost, effectiveness }
        })
        .filter(|s| request.max_cost_per_1k.is_none_or(|cap| s.cost / thousands <= cap + 1e-12))
        .collect();
    if qualifying.is_empty() {
        return Err(NoModel::Unsatisfiable { floor, cap: request.max_cost_per_1k });
    }
    let (mut ready, cooling_down): (Vec<Scored<'_>>, Vec<Scored<'_>>) =
        qualifying.into_iter().partition(|s| cooling(&s.model.id) == 0);
    if ready.is_empty() {
        let retry_after_s = cooling_down.iter().map(|s| cooling(&s.model.id)).min().unwrap_or(1);
        return Err(NoModel::CoolingDown { retry_after_s });
    }
    let by_id = |a: &Scored<'_>, b: &Scored<'_>| a.model.id.cmp(&b.model.id);
    let cheapest_first = |ready: &mut Vec<Scored<'_>>| {
        ready.sort_by(|a, b| a.cost.total_cmp(&b.cost).then_with(|| by_id(a, b)));
    };
    let (rule, how) = if mode == CostMode::Emergency {
        cheapest_first(&mut ready);
        ("emergency cost mode: the cheapest model", "cheapest")
    } else if request.severity == Severity::Critical {
        ready.sort_by(|a, b| {
            b.model
                .accuracy
                .total_cmp(&a.model.accuracy)
                .then(a.cost.total_cmp(&b.cost))
                .then_with(|| by_id(a, b))
        });
        ("critical incident: the most accurate model", "most accurate")
    } else {
        ready.sort_by(|a, b| b.effectiveness.total_cmp(&a.effectiveness).then_with(|| by_id(a, b)));
        if mode == CostMode::Optimizing {
            // An automatic downgrade: the cheapest within the tolerance of the usual choice.
            let least = ready[0].model.accuracy - DOWNGRADE_TOLERANCE - 1e-12;
            let (mut near, rest): (Vec<_>, Vec<_>) =
                ready.into_iter().partition(|s| s.model.accuracy >= least);
            cheapest_first(&mut near);
            near.extend(rest);
            ready = near;
            (
                "cost optimisation: the cheapest model within 0.05 accuracy of the usual choice",
                "cheapest near",
            )
        } else {
            ("the best accuracy per expected dollar, latency weighed in", "most cost-effective")
        }
    };
    let best = &ready[0];
    Ok(ModelChoice {
        model: best.model.id.clone(),
        expected_cost: best.cost,
        accuracy: best.model.accuracy,
        reason: format!(
            "{rule} with accuracy >= {floor:.2} ({how} of {} that qualify; {input:.0} input and {output:.0} output tokens expected)",
            ready.len()
        ),
        fallbacks: ready[1..].iter().map(|s| s.model.id.clone()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(task: &str, severity: Severity) -> ModelRequest {
        ModelRequest {
            task_type: TaskType::parse(task).unwrap(),
            severity,
            required_accuracy: None,
            max_cost_per_1k: None,
            expected_input_tokens: None,
            expected_output_tokens: None,
        }
    }

    #[test]
    fn floors_follow_severity() {
        for (severity, required, floor) in [
            (Severity::Critical, None, 0.92),
            (Severity::Critical, Some(0.95), 0.95),
            (Severity::High, Some(0.5), 0.92),
            (Severity::Medium, Some(0.7), 0.7),
            (Severity::Low, None, 0.80),
            (Severity::Low, Some(0.9), 0.85),
        ] {
            assert!((accuracy_floor(severity, required) - floor).abs() < 1e-12, "{severity} {required:?}");
        }
    }

    #[test]
    fn critical_gets_accuracy_and_low_gets_the_cheapest_good_enough() {
        let prices = PriceTable::bundled();
        for task in ["detection", "diagnosis", "resolution", "communication", "other"] {
            let critical =
                select(&prices, &request(task, Severity::Critical), CostMode::Normal, |_| 0).unwrap();
            assert!(critical.accuracy >= 0.92, "{critical:?}");
            let best = prices.models.iter().map(|m| m.accuracy).fold(0.0, f64::max);
            assert!((critical.accuracy - best).abs() < 1e-12, "the most accurate model");
            let low = select(&prices, &request(task, Severity::Low), CostMode::Normal, |_| 0).unwrap();
            assert!(low.accuracy >= 0.80);
            let (i, o) = request(task, Severity::Low).expected_tokens();
            let cheapest = prices
                .models
                .iter()
                .filter(|m| m.accuracy >= 0.80)
                .map(|m| tokens_cost(m, i, o))
                .fold(f64::INFINITY, f64::min);
            assert!((low.expected_cost - cheapest).abs() < 1e-15, "{task}: {low:?}");
        }
    }

    #[test]
    fn expected_cost_prices_input_and_output_apart() {
        let prices = PriceTable::bundled();
        let mut r = request("diagnosis", Severity::Critical);
        r.expected_input_tokens = Some(10_000);
        r.expected_output_tokens = Some(2_000);
        let choice = select(&prices, &r, CostMode::Normal, |_| 0).unwrap();
        let m = prices.model(&choice.model).unwrap();
        assert!((choice.expected_cost - (10.0 * m.input_per_1k + 2.0 * m.output_per_1k)).abs() < 1e-12);
        assert_eq!(request("diagnosis", Severity::High).expected_tokens(), (1462.5, 487.5));
    }

    #[test]
    fn emergency_takes_the_cheapest_that_qualifies() {
        let prices = PriceTable::bundled();
        let choice =
            select(&prices, &request("diagnosis", Severity::Critical), CostMode::Emergency, |_| 0).unwrap();
        assert!(choice.accuracy >= 0.92, "the severity floor still holds");
        assert_eq!(choice.model, "amazon.nova-premier", "the cheapest at >= 0.92: {choice:?}");
        let normal =
            select(&prices, &request("diagnosis", Severity::Critical), CostMode::Normal, |_| 0).unwrap();
        assert!(normal.expected_cost > choice.expected_cost);
        let low = select(&prices, &request("diagnosis", Severity::Low), CostMode::Emergency, |_| 0).unwrap();
        assert_eq!(low.model, "amazon.nova-lite", "the cheapest at >= 0.80");
    }

    #[test]
    fn optimising_downgrades_non_critical_work_within_the_tolerance() {
        let prices = PriceTable::bundled();
        let mut r = request("diagnosis", Severity::Medium);
        r.required_accuracy = Some(0.9);
        let usual = select(&prices, &r, CostMode::Normal, |_| 0).unwrap();
        let optimized = select(&prices, &r, CostMode::Optimizing, |_| 0).unwrap();
        assert!(optimized.expected_cost <= usual.expected_cost);
        assert!(optimized.accuracy >= usual.accuracy - DOWNGRADE_TOLERANCE - 1e-12);
        assert!(optimized.accuracy >= 0.9, "never below the floor");
        let critical = request("diagnosis", Severity::Critical);
        assert_eq!(
            select(&prices, &critical, CostMode::Optimizing, |_| 0).unwrap().model,
            select(&prices, &critical, CostMode::Normal, |_| 0).unwrap().model,
            "critical work is not downgraded"
        );
    }

    #[test]
    fn cooling_models_are_skipped_and_limits_can_exclude_all() {
        let prices = PriceTable::bundled();
        let first =
            select(&prices, &request("resolution", Severity::Critical), CostMode::Normal, |_| 0).unwrap();
        let second = select(&prices, &request("resolution", Severity::Critical), CostMode::Normal, |id| {
            u64::from(id == first.model) * 5
        })
        .unwrap();
        assert_eq!(second.model, first.fallbacks[0], "the first fallback takes over");
        assert!(!second.fallbacks.contains(&first.model));
        let all = select(&prices, &request("resolution", Severity::Critical), CostMode::Normal, |_| 7);
        assert_eq!(all, Err(NoModel::CoolingDown { retry_after_s: 7 }));
        let mut strict = request("resolution", Severity::Critical);
        strict.max_cost_per_1k = Some(0.0001);
        assert!(matches!(
            select(&prices, &strict, CostMode::Normal, |_| 0),
            Err(NoModel::Unsatisfiable { .. })
        ));
    }
}
