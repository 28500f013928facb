//! The price table: every price the suite charges with, as data. A bundled default (us-east-1,
//! `price_as_of` 2025-07-20) is overridden by the operator with a JSON file or the table's
//! `CONTROL`/`PRICES` item; whichever is in force is validated whole before it is used.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// The table shipped with the suite.
pub const DEFAULT_PRICES_JSON: &str = include_str!("default-prices.json");

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    #[serde(rename = "x86_64")]
    X86_64,
    Arm64,
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        })
    }
}

/// One band of monthly Lambda duration: this price applies up to `up_to_gb_s` GB-seconds in the
/// month (the last band has no limit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DurationTier {
    pub up_to_gb_s: Option<f64>,
    pub per_gb_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchitecturePrices {
    pub duration_tiers: Vec<DurationTier>,
    /// Per GB-second of provisioned concurrency enabled.
    pub provisioned_per_gb_s: f64,
    /// Per GB-second of duration served by provisioned concurrency.
    pub provisioned_duration_per_gb_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreeTier {
    pub enabled: bool,
    pub requests: f64,
    pub gb_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LambdaPrices {
    pub request_per_million: f64,
    pub architectures: BTreeMap<Architecture, ArchitecturePrices>,
    /// Per GB-second of ephemeral storage above the free 512 MB.
    pub ephemeral_storage_per_gb_s: f64,
    /// Provisioned concurrency is billed in increments of this many seconds.
    pub provisioned_increment_s: u32,
    pub free_tier: FreeTier,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DynamoDbPrices {
    pub write_request_unit_per_million: f64,
    pub read_request_unit_per_million: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchPrices {
    pub custom_metric_month: f64,
    pub put_metric_data_per_thousand_requests: f64,
    pub get_metric_data_per_thousand_metrics: f64,
}

/// An LLM model: its prices per 1,000 tokens and what the operator scores it at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// The short id of pricing.md, e.g. `anthropic.claude-sonnet-4`.
    pub id: String,
    pub input_per_1k: f64,
    pub output_per_1k: f64,
    /// 0 to 1, the operator's score (the bundled ones are defaults to be tuned).
    pub accuracy: f64,
    pub typical_latency_s: f64,
    pub context_tokens: u64,
    /// When this model's price was last checked, if not the table's date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_as_of: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Every price the suite uses, versioned and dated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    pub version: u64,
    pub price_as_of: NaiveDate,
    pub currency: String,
    pub region: String,
    pub lambda: LambdaPrices,
    pub dynamodb: DynamoDbPrices,
    pub cloudwatch: CloudWatchPrices,
    pub models: Vec<ModelPrice>,
}

/// A price is 0, or from a trillionth of a dollar to a billion: what the state store can keep
/// and any price list holds.
fn price(field: &str, value: f64) -> Result<(), ValidationError> {
    if value.is_finite() && (value == 0.0 || (1e-12..=1e9).contains(&value)) {
        Ok(())
    } else {
        Err(ValidationError::new(field, format!("must be 0 or a price from 1E-12 to 1E9, not {value}")))
    }
}

impl PriceTable {
    /// The bundled table, parsed once per process (a container's start asks for it several
    /// times: the price book, the sweeper's and the warmer's).
    pub fn bundled() -> Self {
        static BUNDLED: std::sync::LazyLock<PriceTable> = std::sync::LazyLock::new(|| {
            // The bundled file is checked by a test; it cannot fail to parse at run time.
            PriceTable::from_json(DEFAULT_PRICES_JSON)
                .unwrap_or_else(|e| unreachable!("bundled price table: {e}"))
        });
        BUNDLED.clone()
    }

    /// Parses and validates a table (an operator's file or control item).
    pub fn from_json(json: &str) -> Result<Self, ValidationError> {
        let table: Self = serde_json::from_str(json)
            .map_err(|e| ValidationError::new("prices", format!("not a valid price table: {e}")))?;
        table.validate()?;
        Ok(table)
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        let l = &self.lambda;
        price("lambda.request_per_million", l.request_per_million)?;
        price("lambda.ephemeral_storage_per_gb_s", l.ephemeral_storage_per_gb_s)?;
        if l.provisioned_increment_s == 0 {
            return Err(ValidationError::new("lambda.provisioned_increment_s", "must be at least 1"));
        }
        for arch in [Architecture::X86_64, Architecture::Arm64] {
            let Some(a) = l.architectures.get(&arch) else {
                return Err(ValidationError::new(
                    "lambda.architectures",
                    format!("{arch} prices are missing"),
                ));
            };
            let field = format!("lambda.architectures.{arch}");
            price(&format!("{field}.provisioned_per_gb_s"), a.provisioned_per_gb_s)?;
            price(&format!("{field}.provisioned_duration_per_gb_s"), a.provisioned_duration_per_gb_s)?;
            let tiers = &a.duration_tiers;
            let mut previous = 0.0;
            for (i, t) in tiers.iter().enumerate() {
                price(&format!("{field}.duration_tiers[{i}].per_gb_s"), t.per_gb_s)?;
                let last = i + 1 == tiers.len();
                match (t.up_to_gb_s, last) {
                    (None, true) => {}
                    (Some(limit), false) if limit.is_finite() && limit > previous => previous = limit,
                    _ => {
                        return Err(ValidationError::new(
                            format!("{field}.duration_tiers"),
                            "limits must rise, and only the last tier has none",
                        ));
                    }
                }
            }
            if tiers.is_empty() {
                return Err(ValidationError::new(
                    format!("{field}.duration_tiers"),
                    "needs at least one tier",
                ));
            }
        }
        price("dynamodb.write_request_unit_per_million", self.dynamodb.write_request_unit_per_million)?;
        price("dynamodb.read_request_unit_per_million", self.dynamodb.read_request_unit_per_million)?;
        let c = &self.cloudwatch;
        price("cloudwatch.custom_metric_month", c.custom_metric_month)?;
        price("cloudwatch.put_metric_data_per_thousand_requests", c.put_metric_data_per_thousand_requests)?;
        price("cloudwatch.get_metric_data_per_thousand_metrics", c.get_metric_data_per_thousand_metrics)?;
        if self.models.is_empty() {
            return Err(ValidationError::new("models", "at least one model is needed"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for m in &self.models {
            let field = format!("models.{}", m.id);
            if m.id.is_empty() || m.id.len() > 128 || !m.id.bytes().all(|b| b.is_ascii_graphic() && b != b'#')
            {
                return Err(ValidationError::new("models.id", format!("{:?} is not a valid model id", m.id)));
            }
            if !seen.insert(m.id.as_str()) {
                return Err(ValidationError::new("models.id", format!("{} is listed twice", m.id)));
            }
            price(&format!("{field}.input_per_1k"), m.input_per_1k)?;
            price(&format!("{field}.output_per_1k"), m.output_per_1k)?;
            if !(0.0..=1.0).contains(&m.accuracy) {
                return Err(ValidationError::new(format!("{field}.accuracy"), "must be between 0 and 1"));
            }
            if !m.typical_latency_s.is_finite() || m.typical_latency_s < 0.0 {
                return Err(ValidationError::new(format!("{field}.typical_latency_s"), "must be >= 0"));
            }
        }
        Ok(())
    }

    pub fn model(&self, id: &str) -> Option<&ModelPrice> {
        self.models.iter().find(|m| m.id == id)
    }

    /// Prices of one architecture (validation guarantees both are present).
    pub fn architecture(&self, arch: Architecture) -> &ArchitecturePrices {
        match self.lambda.architectures.get(&arch) {
            Some(a) => a,
            None => unreachable!("a validated price table has both architectures"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unreadable_literal, reason = "prices written as AWS publishes them")]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_table_is_valid_and_complete() {
        let t = PriceTable::from_json(DEFAULT_PRICES_JSON).unwrap();
        assert_eq!(t.models.len(), 12);
        assert!((t.model("anthropic.claude-sonnet-4").unwrap().output_per_1k - 0.015).abs() < 1e-12);
        assert!(
            (t.architecture(Architecture::Arm64).duration_tiers[0].per_gb_s - 0.0000133334).abs() < 1e-15
        );
    }

    type Breaker = fn(&mut serde_json::Value);

    #[test]
    fn bad_tables_are_refused_naming_the_field() {
        let good: serde_json::Value = serde_json::from_str(DEFAULT_PRICES_JSON).unwrap();
        let cases: [(&str, Breaker); 5] = [
            ("lambda.request_per_million", |v| v["lambda"]["request_per_million"] = (-1.0).into()),
            ("models.amazon.nova-micro.accuracy", |v| v["models"][0]["accuracy"] = 1.5.into()),
            ("lambda.architectures.x86_64.duration_tiers", |v| {
                v["lambda"]["architectures"]["x86_64"]["duration_tiers"][1]["up_to_gb_s"] = 1.0.into();
            }),
            ("models.id", |v| v["models"][1]["id"] = "amazon.nova-micro".into()),
            ("prices", |v| v["lambda"]["surprise"] = 1.into()),
        ];
        for (field, break_it) in cases {
            let mut v = good.clone();
            break_it(&mut v);
            let e = PriceTable::from_json(&v.to_string()).unwrap_err();
            assert_eq!(e.field, field, "{e}");
        }
    }
}
