//! What the operator commands print by default: the API's answers as short tables and lines a
//! person reads (`--json` prints the answers as they are instead).

use std::fmt::Write as _;

use serde_json::Value;

/// Left-aligned columns, each as wide as its widest cell, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

/// A JSON value as a cell: strings bare, null as `-`, numbers as JSON writes them.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        // Whole numbers without a fraction (3, not 3.0), others to the cent.
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() != 0.0 => format!("{f:.2}"),
            Some(f) if f.abs() < 1e15 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn percent(value: &Value) -> String {
    value.as_f64().map_or_else(|| "-".into(), |f| format!("{:.0}%", f * 100.0))
}

/// `GET /scaling/status`: one row per agent type, then the regions.
pub fn status(body: &Value) -> String {
    let paused = body["paused"].as_object();
    let mut rows = Vec::new();
    if let Some(types) = body["scaling_metrics"].as_object() {
        for (name, m) in types {
            rows.push(vec![
                name.clone(),
                cell(&m["signal"]),
                cell(&m["live_replicas"]),
                cell(&m["desired_replicas"]),
                cell(&m["healthy_replicas"]),
                cell(&m["draining_replicas"]),
                percent(&m["utilization"]),
                if paused.is_some_and(|p| p.contains_key(name)) { "paused".into() } else { "-".into() },
            ]);
        }
    }
    let mut out =
        table(&["TYPE", "SIGNAL", "LIVE", "DESIRED", "HEALTHY", "DRAINING", "UTIL", "PAUSED"], &rows);
    let mut regions = Vec::new();
    if let Some(live) = body["geographic_distribution"].as_object() {
        for (region, count) in live {
            let health = &body["region_health"][region];
            let state = match health["healthy"].as_bool() {
                Some(false) => format!("unhealthy ({})", cell(&health["source"])),
                _ => "healthy".into(),
            };
            regions.push(vec![region.clone(), cell(count), state]);
        }
    }
    out.push('\n');
    out += &table(&["REGION", "LIVE", "HEALTH"], &regions);
    out
}

/// A policy as `field  value` lines, in the API's order.
pub fn policy(body: &Value) -> String {
    let rows: Vec<Vec<String>> = body
        .as_object()
        .map(|o| o.iter().filter(|(k, _)| *k != "timestamp").map(|(k, v)| vec![k.clone(), cell(v)]).collect())
        .unwrap_or_default();
    table(&["FIELD", "VALUE"], &rows)
}

/// `GET /audit`: newest first.
pub fn audit(body: &Value) -> String {
    let rows: Vec<Vec<String>> = body["entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    vec![
                        cell(&e["at"]),
                        cell(&e["principal"]),
                        cell(&e["status"]),
                        cell(&e["action"]),
                        cell(&e["target"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = table(&["AT", "PRINCIPAL", "STATUS", "ACTION", "TARGET"], &rows);
    if let Some(next) = body["next"].as_str() {
        let _ = writeln!(out, "more: --cursor {next}");
    }
    out
}

/// `POST /lambda/warm`: one row per function and region.
pub fn warm(body: &Value) -> String {
    let mut rows = Vec::new();
    if let Some(functions) = body["results"].as_object() {
        for (function, regions) in functions {
            for (region, r) in regions.as_object().into_iter().flatten() {
                rows.push(vec![
                    function.clone(),
                    region.clone(),
                    if r["ok"].as_bool() == Some(true) { "ok".into() } else { cell(&r["error"]) },
                    cell(&r["pings"]),
                    cell(&r["containers"]),
                    cell(&r["cold_starts"]),
                ]);
            }
        }
    }
    let mut out = table(&["FUNCTION", "REGION", "RESULT", "PINGS", "CONTAINERS", "COLD"], &rows);
    let _ = writeln!(out, "\nestimated cost ${}", cell(&body["estimated_cost"]));
    out
}

/// `POST /cost/optimize`: the sweep's headline figures and what it did.
pub fn sweep(body: &Value) -> String {
    let m = &body["current_metrics"];
    let mut out = format!(
        "hourly cost ${} ({} level), day projected ${}, emergency mode {}\n",
        cell(&m["hourly_cost"]),
        cell(&m["cost_threshold"]),
        cell(&m["daily_projection"]),
        if body["emergency_mode"].as_bool() == Some(true) { "on" } else { "off" },
    );
    for action in body["actions"].as_array().into_iter().flatten() {
        let _ =
            writeln!(out, "action: {}", action.as_str().map_or_else(|| action.to_string(), str::to_owned));
    }
    out
}

/// `GET`/`PUT /cost/emergency`.
pub fn emergency(body: &Value) -> String {
    let on = body["emergency_mode"].as_bool() == Some(true);
    let mut out = format!("emergency mode {}\n", if on { "on" } else { "off" });
    let o = &body["operator_override"];
    if o.is_object() {
        let _ = writeln!(
            out,
            "override: {} by {} until {} ({})",
            if o["emergency_mode"].as_bool() == Some(true) { "forced on" } else { "held off" },
            cell(&o["by"]),
            cell(&o["until"]),
            cell(&o["reason"])
        );
    }
    out
}

/// `GET /control-plane`: which region acts, and the lease.
pub fn control_plane(body: &Value) -> String {
    let role = &body["role"];
    let mut out = if role["role"] == "active" {
        format!("{}: active (epoch {})\n", cell(&body["region"]), cell(&role["epoch"]))
    } else if role["holder"].is_string() {
        format!(
            "{}: standing by; {} is active (epoch {}), takeover if not renewed by {}\n",
            cell(&body["region"]),
            cell(&role["holder"]),
            cell(&role["epoch"]),
            cell(&role["until"])
        )
    } else {
        format!("{}: standing by; no region has claimed the lease yet\n", cell(&body["region"]))
    };
    let lease = &body["lease"];
    if lease.is_object() {
        let _ = writeln!(
            out,
            "lease: {} epoch {}, renewed {} by {}, expires {}",
            cell(&lease["holder"]),
            cell(&lease["epoch"]),
            cell(&lease["renewed_at"]),
            cell(&lease["by"]),
            cell(&lease["expires_at"])
        );
    }
    let _ =
        writeln!(out, "home {}, takeover after {} s", cell(&body["home"]), cell(&body["takeover_after_s"]));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let out = table(&["A", "B", "C"], &[vec!["long-name".into(), "1".into(), "x".into()]]);
        assert_eq!(out, "A          B  C\nlong-name  1  x\n");
    }

    #[test]
    fn status_shows_each_type_and_region() {
        let body = json!({
            "scaling_metrics": {"detection": {"signal": "heartbeats", "live_replicas": 3, "desired_replicas": 4,
                "healthy_replicas": 2, "draining_replicas": 1, "utilization": 0.5}},
            "paused": {"detection": {"reason": "drill"}},
            "geographic_distribution": {"us-east-1": 3, "eu-west-1": 0},
            "region_health": {"eu-west-1": {"healthy": false, "source": "operator"}}
        });
        let out = status(&body);
        assert!(
            out.contains("detection  heartbeats  3     4        2        1         50%   paused"),
            "{out}"
        );
        assert!(out.contains("eu-west-1  0     unhealthy (operator)"), "{out}");
        assert!(out.contains("us-east-1  3     healthy"), "{out}");
    }

    #[test]
    fn cells_read_as_people_write_them() {
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!("x")), "x");
        assert_eq!(cell(&json!(3)), "3");
        assert_eq!(cell(&json!(3.0)), "3");
        assert_eq!(cell(&json!(0.123)), "0.12");
        assert_eq!(cell(&json!(true)), "true");
    }

    #[test]
    fn the_control_plane_says_who_acts() {
        let standby = control_plane(&json!({
            "region": "us-west-2", "home": "us-east-1", "takeover_after_s": 300,
            "role": {"role": "standby", "holder": "us-east-1", "epoch": 1, "until": "2027-01-15T08:05:00Z"},
            "lease": {"holder": "us-east-1", "epoch": 1, "renewed_at": "2027-01-15T08:00:00Z", "expires_at": "2027-01-15T08:05:00Z", "by": "scaler-tick"}
        }));
        assert!(standby.starts_with("us-west-2: standing by; us-east-1 is active (epoch 1), takeover if not renewed by 2027-01-15T08:05:00Z"), "{standby}");
        assert!(standby.contains("renewed 2027-01-15T08:00:00Z by scaler-tick"), "{standby}");
        let active = control_plane(
            &json!({"region": "us-east-1", "role": {"role": "active", "epoch": 3}, "lease": null}),
        );
        assert!(active.starts_with("us-east-1: active (epoch 3)"), "{active}");
        let unclaimed =
            control_plane(&json!({"region": "us-west-2", "role": {"role": "standby", "holder": null}}));
        assert!(unclaimed.contains("no region has claimed the lease yet"), "{unclaimed}");
    }
}
