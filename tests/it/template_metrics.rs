//! The stack's alarms and dashboard (template.yaml) watch the metrics the code writes, by the
//! names the code gives them: renaming one in code without the template fails here. Its roles
//! grant the state-table calls the code makes.

fn template() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap()
}

#[test]
fn alarms_watch_the_metrics_the_functions_write() {
    let template = template();
    let alarmed = [
        shared::lambda::RUN_SUCCEEDED,
        shared::cost::sweep::EMERGENCY_MODE_METRIC,
        scaler::metrics::REGION_FAILOVERS,
    ];
    for metric in alarmed {
        assert!(template.contains(&format!("MetricName: {metric}\n")), "no alarm on {metric}");
    }
    for run in shared::lambda::RUNS {
        assert!(
            template.contains(&format!("Name: Run\n          Value: {run}\n")),
            "no silence alarm for {run}"
        );
    }
}

#[test]
fn the_dashboard_draws_the_metrics_the_functions_write() {
    let template = template();
    let searched = [
        scaler::metrics::DESIRED_REPLICAS,
        scaler::metrics::LIVE_REPLICAS,
        scaler::metrics::REFUSED_DEMAND,
        scaler::metrics::SCALING_DECISIONS,
        shared::lambda::RUN_SUCCEEDED,
        "AgentUtilization",
    ];
    for metric in searched {
        assert!(
            template.contains(&format!("MetricName=\\\"{metric}\\\"")),
            "the dashboard does not draw {metric}"
        );
    }
    for metric in [shared::cost::sweep::HOURLY_COST_METRIC, scaler::metrics::REGION_FAILOVERS] {
        assert!(template.contains(&format!("\"{metric}\"")), "the dashboard does not draw {metric}");
    }
}

/// The DynamoDB actions every function's state-table statement must grant: the reads the shared
/// store makes on any read path (GetItem, BatchGetItem for `Store::get_many`, Query) and the
/// writes every function makes. A read path that starts batching must not meet AccessDenied
/// only once deployed.
const STATE_TABLE_ACTIONS: [&str; 6] = [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
];

#[test]
fn every_function_may_make_the_stores_reads_and_writes() {
    let template = template();
    let statements: Vec<&str> = template.split("- Sid: StateTableReadWrite\n").skip(1).collect();
    assert_eq!(statements.len(), 4, "one state-table statement per function");
    for statement in statements {
        let actions = statement.split("Resource:").next().unwrap_or_default();
        for action in STATE_TABLE_ACTIONS {
            assert!(actions.contains(&format!("- {action}\n")), "a function may not {action}:\n{actions}");
        }
    }
}
