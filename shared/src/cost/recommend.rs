//! Recommendations (pure), each with its evidence and an estimate of what it saves a month, from
//! what a sweep measured over the current and previous hour.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::billing::{duration_cost, estimated_billed_ms, gb_seconds, tokens_cost, total};
use super::prices::{Architecture, PriceTable};
use super::report::HourInputs;
use super::sources::PricedFunction;

/// Hours in an average month.
const MONTH_HOURS: f64 = 730.0;
/// A model is "used often" from this many calls in the hours looked at.
const OFTEN_CALLS: f64 = 10.0;
/// Hourly spend above which caching is suggested.
const CACHING_FROM_HOURLY: f64 = 100.0;
/// Share of model spend a response cache is assumed to save (no hit data yet).
const ASSUMED_CACHE_SAVING: f64 = 0.2;
/// Memory kept above the most used, when right-sizing.
const MEMORY_HEADROOM: f64 = 1.2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    CheaperModel,
    Arm64,
    MemoryRightSizing,
    ProvisionedConcurrency,
    Caching,
    /// Pings or a provisioned-concurrency schedule for warm containers.
    Warming,
}

/// Recommendations from another capability (warming's pings against provisioned concurrency),
/// joined to the sweep's own, so `cost` needs to know nothing of it.
pub trait Advisor: Send + Sync + std::fmt::Debug {
    fn advise(&self, prices: &super::prices::PriceTable) -> Vec<Recommendation>;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recommendation {
    pub kind: Kind,
    /// What it concerns: a function or a model by name, or `llm` for model spend as a whole.
    #[serde(default)]
    pub target: String,
    /// What to do.
    pub title: String,
    /// What it is based on.
    pub evidence: String,
    pub estimated_monthly_savings: f64,
    /// The sweep applies it itself when spend is high (model downgrades for non-critical work).
    pub auto_applicable: bool,
}

#[derive(Default)]
struct ModelUse {
    calls: f64,
    input: f64,
    output: f64,
}

/// Recommendations for what `hours` show (the current and previous hour), largest saving first.
pub fn recommend(
    prices: &PriceTable,
    functions: &[PricedFunction],
    hours: &[&HourInputs],
    hourly_cost: f64,
) -> Vec<Recommendation> {
    let observed_h: f64 = hours.iter().map(|h| h.seconds).sum::<f64>() / 3600.0;
    if observed_h <= 0.0 {
        return Vec::new();
    }
    let monthly = MONTH_HOURS / observed_h;
    let mut out = Vec::new();
    cheaper_models(prices, hours, monthly, &mut out);
    for f in functions {
        let (mut invocations, mut duration_ms, mut max_mb) = (0.0, 0.0, None::<f64>);
        let mut seen = false;
        for h in hours {
            for m in h.lambda.iter().flatten().filter(|m| m.name == f.name) {
                seen = true;
                invocations += m.invocations;
                duration_ms += m.duration_ms_sum;
                max_mb = match (max_mb, m.max_memory_used_mb) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        if !seen || invocations <= 0.0 {
            continue;
        }
        let billed = estimated_billed_ms(duration_ms, invocations.round() as u64);
        let gb_s = gb_seconds(f.memory_mb, billed);
        if f.architecture == Architecture::X86_64 {
            let saving = (duration_cost(prices, Architecture::X86_64, gb_s, 0.0)
                - duration_cost(prices, Architecture::Arm64, gb_s, 0.0))
                * monthly;
            if saving > 0.0 {
                out.push(Recommendation {
                    kind: Kind::Arm64,
                    target: f.name.clone(),
                    title: format!("run {} on arm64 (Graviton)", f.name),
                    evidence: format!(
                        "{gb_s:.0} GB-s in {observed_h:.2} h on x86_64; arm64 costs 20 % less per GB-s"
                    ),
                    estimated_monthly_savings: saving,
                    auto_applicable: false,
                });
            }
        }
        if let Some(used) = max_mb {
            let suggested = ((used * MEMORY_HEADROOM / 64.0).ceil() * 64.0).max(128.0) as u32;
            if suggested < f.memory_mb {
                let at = |mb| duration_cost(prices, f.architecture, gb_seconds(mb, billed), 0.0);
                out.push(Recommendation {
                    kind: Kind::MemoryRightSizing,
                    target: f.name.clone(),
                    title: format!("give {} {suggested} MB instead of {} MB", f.name, f.memory_mb),
                    evidence: format!(
                        "at most {used:.0} MB used; the saving assumes the same duration (less memory also means less CPU)"
                    ),
                    estimated_monthly_savings: (at(f.memory_mb) - at(suggested)) * monthly,
                    auto_applicable: false,
                });
            }
        }
        provisioned(prices, f, hours, gb_s, observed_h, monthly, &mut out);
    }
    if hourly_cost > CACHING_FROM_HOURLY {
        let llm =
            total(hours.iter().flat_map(|h| &h.usage).filter_map(|u| {
                prices.model(&u.model).map(|m| tokens_cost(m, u.input_tokens, u.output_tokens))
            }));
        out.push(Recommendation {
            kind: Kind::Caching,
            target: "llm".into(),
            title: "cache model answers for recurring incident patterns".into(),
            evidence: format!(
                "spend is ${hourly_cost:.2}/h, above ${CACHING_FROM_HOURLY}/h; the saving assumes {:.0} % of model spend is repeat work",
                ASSUMED_CACHE_SAVING * 100.0
            ),
            estimated_monthly_savings: llm * ASSUMED_CACHE_SAVING * monthly,
            auto_applicable: false,
        });
    }
    out.sort_by(|a, b| {
        b.estimated_monthly_savings.total_cmp(&a.estimated_monthly_savings).then(a.kind.cmp(&b.kind))
    });
    out
}

fn cheaper_models(prices: &PriceTable, hours: &[&HourInputs], monthly: f64, out: &mut Vec<Recommendation>) {
    let mut uses: BTreeMap<&str, ModelUse> = BTreeMap::new();
    for u in hours.iter().flat_map(|h| &h.usage) {
        let e = uses.entry(u.model.as_str()).or_default();
        e.calls += u.calls;
        e.input += u.input_tokens;
        e.output += u.output_tokens;
    }
    for (id, used) in uses {
        let Some(current) = prices.model(id) else { continue };
        if used.calls < OFTEN_CALLS {
            continue;
        }
        let now_cost = tokens_cost(current, used.input, used.output);
        let cheaper = prices
            .models
            .iter()
            .filter(|m| m.id != id && m.accuracy >= current.accuracy - 0.05 - 1e-12)
            .map(|m| (m, tokens_cost(m, used.input, used.output)))
            .filter(|(_, c)| *c < now_cost)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((alt, alt_cost)) = cheaper {
            out.push(Recommendation {
                kind: Kind::CheaperModel,
                target: id.to_string(),
                title: format!("use {} instead of {id} where accuracy {:.2} is enough", alt.id, alt.accuracy),
                evidence: format!(
                    "{:.0} calls, {:.0} input and {:.0} output tokens: ${now_cost:.4} on {id}, ${alt_cost:.4} on {} (accuracy {:.2} vs {:.2})",
                    used.calls, used.input, used.output, alt.id, alt.accuracy, current.accuracy
                ),
                estimated_monthly_savings: (now_cost - alt_cost) * monthly,
                auto_applicable: true,
            });
        }
    }
}

/// Provisioned concurrency pays at about 60 % utilisation: keep it above, drop it below.
fn provisioned(
    prices: &PriceTable,
    f: &PricedFunction,
    hours: &[&HourInputs],
    gb_s: f64,
    observed_h: f64,
    monthly: f64,
    out: &mut Vec<Recommendation>,
) {
    let a = prices.architecture(f.architecture);
    let on_demand = a.duration_tiers.first().map_or(0.0, |t| t.per_gb_s);
    let margin = on_demand - a.provisioned_duration_per_gb_s;
    if margin <= 0.0 {
        return;
    }
    let break_even = a.provisioned_per_gb_s / margin;
    let gb = f64::from(f.memory_mb) / 1024.0;
    let seconds = observed_h * 3600.0;
    let units = hours
        .iter()
        .filter_map(|h| h.provisioned.as_ref()?.iter().find(|(n, _)| *n == f.name).map(|(_, u)| *u))
        .max()
        .unwrap_or(0);
    let pc_cost = |units: f64, busy_gb_s: f64| {
        units * gb * seconds * a.provisioned_per_gb_s + busy_gb_s * a.provisioned_duration_per_gb_s
    };
    if units > 0 {
        let capacity = f64::from(units) * gb * seconds;
        let utilisation = (gb_s / capacity).min(1.0);
        if utilisation < break_even {
            let saving = (pc_cost(f64::from(units), gb_s) - gb_s * on_demand) * monthly;
            out.push(Recommendation {
                kind: Kind::ProvisionedConcurrency,
                target: f.name.clone(),
                title: format!("drop the {units} provisioned units of {} and run on demand", f.name),
                evidence: format!(
                    "utilisation {:.0} % is below the {:.0} % break-even",
                    utilisation * 100.0,
                    break_even * 100.0
                ),
                estimated_monthly_savings: saving.max(0.0),
                auto_applicable: false,
            });
        }
    } else {
        let average_concurrency = gb_s / gb / seconds;
        let units = average_concurrency.floor();
        if units >= 1.0 {
            let busy = units * gb * seconds;
            let saving = (busy * on_demand - pc_cost(units, busy)) * monthly;
            if saving > 0.0 {
                out.push(Recommendation {
                    kind: Kind::ProvisionedConcurrency,
                    target: f.name.clone(),
                    title: format!("provision {units:.0} concurrency units for {}", f.name),
                    evidence: format!(
                        "average concurrency {average_concurrency:.2} keeps {units:.0} units busy, above the {:.0} % break-even",
                        break_even * 100.0
                    ),
                    estimated_monthly_savings: saving,
                    auto_applicable: false,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::cost::sources::FunctionMetrics;
    use crate::cost::usage::HourUsage;

    fn function(arch: Architecture, memory_mb: u32) -> PricedFunction {
        PricedFunction {
            name: "agent".into(),
            memory_mb,
            architecture: arch,
            provisioned_qualifier: None,
            critical: false,
        }
    }

    fn hour(duration_ms: f64, max_mb: Option<f64>, provisioned: u32) -> HourInputs {
        HourInputs {
            start: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            seconds: 3600.0,
            usage: vec![HourUsage {
                model: "anthropic.claude-sonnet-4".into(),
                task_type: "diagnosis".into(),
                calls: 500.0,
                input_tokens: 1_000_000.0,
                output_tokens: 100_000.0,
                ..HourUsage::default()
            }],
            lambda: Some(vec![FunctionMetrics {
                name: "agent".into(),
                invocations: 10_000.0,
                duration_ms_sum: duration_ms,
                max_memory_used_mb: max_mb,
            }]),
            dynamodb: None,
            provisioned: Some(if provisioned > 0 { vec![("agent".into(), provisioned)] } else { vec![] }),
            provisioned_unit_seconds: BTreeMap::new(),
            warming: 0.0,
        }
    }

    fn kinds(r: &[Recommendation]) -> Vec<Kind> {
        let mut k: Vec<Kind> = r.iter().map(|r| r.kind).collect();
        k.sort();
        k
    }

    #[test]
    fn each_recommendation_comes_with_its_evidence() {
        let prices = PriceTable::bundled();
        // 2 GB x86, 10,000 calls of 1 s an hour (about 2.8 busy instances), 600 MB used, no PC.
        let h = hour(10_000_000.0, Some(600.0), 0);
        let r = recommend(&prices, &[function(Architecture::X86_64, 2048)], &[&h], 150.0);
        assert_eq!(
            kinds(&r),
            [
                Kind::CheaperModel,
                Kind::Arm64,
                Kind::MemoryRightSizing,
                Kind::ProvisionedConcurrency,
                Kind::Caching
            ]
        );
        let model = r.iter().find(|r| r.kind == Kind::CheaperModel).unwrap();
        // Sonnet 4 at 0.94: the cheapest within 0.05 is Haiku 4.5 at 0.91 ($4.50 vs $1.50 an hour).
        assert!(
            model.title.starts_with("use anthropic.claude-haiku-4-5 instead of anthropic.claude-sonnet-4")
        );
        assert!((model.estimated_monthly_savings - 3.0 * 730.0).abs() < 1e-6, "{model:?}");
        let memory = r.iter().find(|r| r.kind == Kind::MemoryRightSizing).unwrap();
        assert!(memory.title.contains("768 MB"), "600 MB x 1.2 rounded up to 64 MB: {memory:?}");
        // x86 to arm64 on 20,010 GB-s an hour (10,000 s at 2 GB, plus half a millisecond of
        // rounding per call): the tier-1 rate difference, over a month.
        let arm = r.iter().find(|r| r.kind == Kind::Arm64).unwrap();
        let expected = 20_010.0 * (0.000_016_666_7 - 0.000_013_333_4) * 730.0;
        assert!((arm.estimated_monthly_savings - expected).abs() < 1e-6, "{arm:?}");
        assert!(r.windows(2).all(|w| w[0].estimated_monthly_savings >= w[1].estimated_monthly_savings));
    }

    #[test]
    fn idle_provisioned_concurrency_is_flagged_and_calm_spend_needs_no_cache() {
        let prices = PriceTable::bundled();
        // 10 units of 1 GB but only 1,000 GB-s used in the hour: 3 % utilisation.
        let h = hour(1_000_000.0, None, 10);
        let r = recommend(&prices, &[function(Architecture::Arm64, 1024)], &[&h], 20.0);
        let pc = r.iter().find(|r| r.kind == Kind::ProvisionedConcurrency).unwrap();
        assert!(pc.title.starts_with("drop"), "{pc:?}");
        assert!(pc.evidence.contains("60 %"), "the break-even follows from the prices: {pc:?}");
        assert!(!kinds(&r).contains(&Kind::Caching));
        assert!(!kinds(&r).contains(&Kind::Arm64), "already arm64");
    }
}
