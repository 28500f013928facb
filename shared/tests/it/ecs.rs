//! The `ecs` actuator against mocked ECS clients (no ECS API server runs here): the requests it
//! sends, how it reads the answers, and a scaling decision carried to `UpdateService` through
//! the scaler, with ECS's running count read back as the live count.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::update_service::{UpdateServiceError, UpdateServiceOutput};
use aws_sdk_ecs::types::error::ServerException;
use aws_sdk_ecs::types::{Failure, Service};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use chrono::{DateTime, Duration};
use shared::aws::ecs::EcsServices;
use shared::clock::{Clock, ManualClock};
use shared::domain::{AgentType, Region, ReplicaId};
use shared::scaling::actuator::{Actuator, ByType, RecordActuator};
use shared::scaling::cost_gate::CostGate;
use shared::scaling::service::{Scaler, ScalingRequest};
use shared::scaling::setup::EcsAgents;
use shared::scaling::{FleetState, ReplicaHeartbeat};
use shared::store::MemoryStore;

fn t(name: &str) -> AgentType {
    AgentType::parse(name).unwrap()
}

fn agents(types: &[&str]) -> EcsAgents {
    EcsAgents {
        cluster: "incident-agents".into(),
        service_pattern: "{agent_type}-agent".into(),
        types: types.iter().map(|n| t(n)).collect(),
    }
}

fn service(name: &str, desired: i32, running: i32) -> Service {
    Service::builder()
        .service_name(name)
        .status("ACTIVE")
        .desired_count(desired)
        .running_count(running)
        .pending_count(desired.saturating_sub(running).max(0))
        .build()
}

/// `DescribeServices` in the agents' cluster answering with `services`, whatever it is asked.
fn described(services: Vec<Service>) -> Rule {
    mock!(Client::describe_services)
        .match_requests(|r| r.cluster() == Some("incident-agents"))
        .then_output(move || DescribeServicesOutput::builder().set_services(Some(services.clone())).build())
}

/// `UpdateService` requests as (region, service, desired count), in the order sent.
type Updates = Arc<Mutex<Vec<(String, String, i32)>>>;

fn recording_updates(region: &'static str, updates: &Updates) -> Rule {
    let seen = Arc::clone(updates);
    mock!(Client::update_service)
        .match_requests(move |r| {
            if r.cluster() == Some("incident-agents") {
                let call = (
                    region.to_owned(),
                    r.service().unwrap_or("").to_owned(),
                    r.desired_count().unwrap_or(-1),
                );
                seen.lock().unwrap().push(call);
            }
            true
        })
        .then_output(|| UpdateServiceOutput::builder().build())
}

fn per_region(counts: &[(&str, u32)]) -> BTreeMap<Region, u32> {
    counts.iter().map(|(r, n)| (Region::parse(r).unwrap(), *n)).collect()
}

#[tokio::test]
async fn sets_the_desired_count_where_it_differs_and_leaves_the_rest() {
    let updates = Updates::default();
    let east_describe = described(vec![service("triage-agent", 2, 2)]);
    let west_describe = described(vec![service("triage-agent", 3, 3)]);
    let east_update = recording_updates("us-east-1", &updates);
    let west_update = recording_updates("us-west-2", &updates);
    let clients = BTreeMap::from([
        (
            "us-east-1".to_owned(),
            mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&east_describe, &east_update]),
        ),
        (
            "us-west-2".to_owned(),
            mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&west_describe, &west_update]),
        ),
    ]);
    let ecs = EcsServices::new(clients, agents(&["triage"]));
    let actions = ecs.apply(&t("triage"), &per_region(&[("us-east-1", 4), ("us-west-2", 3)])).await.unwrap();
    assert_eq!(*updates.lock().unwrap(), [("us-east-1".to_owned(), "triage-agent".to_owned(), 4)]);
    assert_eq!(west_update.num_calls(), 0, "already at 3: no update");
    assert!(actions[0].contains("to 4 desired (was 2"), "{actions:?}");
    assert!(actions[1].contains("already at 3"), "{actions:?}");
}

/// A round of descriptions serves every type's update in the region, and knows what was set:
/// the same decision applied again sends nothing.
#[tokio::test]
async fn updates_keep_the_round_and_a_repeated_decision_sends_nothing() {
    let updates = Updates::default();
    let describe = described(vec![service("triage-agent", 1, 1), service("diagnosis-agent", 1, 1)]);
    let update = recording_updates("us-east-1", &updates);
    let clients = BTreeMap::from([(
        "us-east-1".to_owned(),
        mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe, &update]),
    )]);
    let ecs = EcsServices::new(clients, agents(&["triage", "diagnosis"]));
    let east = per_region(&[("us-east-1", 3)]);
    ecs.apply(&t("triage"), &east).await.unwrap();
    ecs.apply(&t("diagnosis"), &east).await.unwrap();
    let again = ecs.apply(&t("triage"), &east).await.unwrap();
    assert_eq!(describe.num_calls(), 1, "one round for both types");
    assert_eq!(update.num_calls(), 2, "{:?}", updates.lock().unwrap());
    assert!(again[0].contains("already at 3"), "{again:?}");
}

#[tokio::test]
async fn running_counts_are_read_ten_services_a_call_and_once_per_round() {
    // Twelve ECS types: two DescribeServices calls of at most ten names each.
    let names: Vec<String> = (0..12).map(|i| format!("type-{i:02}")).collect();
    let services: Vec<Service> = names
        .iter()
        .enumerate()
        .map(|(i, n)| service(&format!("{n}-agent"), 3, i32::try_from(i % 3).unwrap()))
        .collect();
    let asked = Arc::new(Mutex::new(Vec::<usize>::new()));
    let sizes = Arc::clone(&asked);
    let describe = mock!(Client::describe_services)
        .match_requests(move |r| {
            sizes.lock().unwrap().push(r.services().len());
            r.cluster() == Some("incident-agents")
        })
        .then_output(move || DescribeServicesOutput::builder().set_services(Some(services.clone())).build());
    let clients = BTreeMap::from([(
        "eu-west-1".to_owned(),
        mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe]),
    )]);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let ecs = EcsServices::new(clients, agents(&refs));
    let eu = [Region::parse("eu-west-1").unwrap()];
    let mut running = Vec::new();
    for name in &names {
        let counts = ecs.running(&t(name), &eu).await.unwrap().unwrap();
        running.push(counts[&eu[0]]);
    }
    assert_eq!(running, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
    let mut sizes = asked.lock().unwrap().clone();
    sizes.sort_unstable();
    assert_eq!(sizes, [2, 10], "one round for every type, in calls of ten");
}

#[tokio::test]
async fn a_missing_service_is_permanent_a_server_fault_is_retryable() {
    let missing = mock!(Client::describe_services).then_output(|| {
        DescribeServicesOutput::builder()
            .failures(
                Failure::builder()
                    .arn("arn:aws:ecs:us-east-1:111122223333:service/incident-agents/triage-agent")
                    .reason("MISSING")
                    .build(),
            )
            .build()
    });
    let clients =
        BTreeMap::from([("us-east-1".to_owned(), mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&missing]))]);
    let ecs = EcsServices::new(clients, agents(&["triage"]));
    let err = ecs.apply(&t("triage"), &per_region(&[("us-east-1", 2)])).await.unwrap_err();
    assert!(
        !err.is_retryable() && err.message.contains("MISSING") && err.message.contains("triage-agent"),
        "{err}"
    );
    let err = ecs.apply(&t("triage"), &per_region(&[("ap-southeast-1", 2)])).await.unwrap_err();
    assert!(err.message.contains("ap-southeast-1"), "an unknown region is named: {err}");

    let describe = described(vec![service("triage-agent", 1, 1)]);
    let fault = mock!(Client::update_service).then_error(|| {
        UpdateServiceError::ServerException(ServerException::builder().message("busy").build())
    });
    let clients = BTreeMap::from([(
        "us-east-1".to_owned(),
        mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe, &fault]),
    )]);
    let ecs = EcsServices::new(clients, agents(&["triage"]));
    let err = ecs.apply(&t("triage"), &per_region(&[("us-east-1", 2)])).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

/// The decision-to-action path: heartbeats of a loaded ECS type, a tick, and the scaler's decision
/// arriving at `UpdateService`; another type in the same scaler stays with the stack's actuator.
/// ECS says one task of three stopped: it stops counting before its heartbeats expire.
#[tokio::test]
async fn a_tick_carries_the_decision_to_update_service_and_counts_what_ecs_runs() {
    let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let fleet = FleetState::new(store.clone());
    let updates = Updates::default();
    // detection-agent: three tasks asked for, two running (one was stopped).
    let describes: Vec<Rule> = (0..4).map(|_| described(vec![service("detection-agent", 3, 2)])).collect();
    let recorders: Vec<Rule> = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"]
        .iter()
        .map(|r| recording_updates(r, &updates))
        .collect();
    let clients: BTreeMap<String, Client> = Region::defaults()
        .iter()
        .zip(describes.iter().zip(&recorders))
        .map(|(region, (describe, update))| {
            (region.to_string(), mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [describe, update]))
        })
        .collect();
    assert_eq!(clients.len(), 4, "one client per fleet region");
    let actuator = ByType {
        types: BTreeSet::from([t("detection")]),
        named: Arc::new(EcsServices::new(clients, agents(&["detection"]))),
        rest: Arc::new(RecordActuator),
    };
    let scaler = Scaler::new(fleet.clone(), Region::defaults(), CostGate::default(), Arc::new(actuator));
    for (agent_type, ids) in [("detection", ["a", "b", "c"]), ("diagnosis", ["d", "e", "f"])] {
        for (k, id) in ids.iter().enumerate() {
            let beat = ReplicaHeartbeat {
                agent_type: t(agent_type),
                replica_id: ReplicaId::parse(id).unwrap(),
                region: Region::parse("us-east-1").unwrap(),
                load: 30.0,
                capacity: 20,
                healthy: true,
                performance_score: 0.9,
                draining: false,
            };
            let at = clock.now() - Duration::seconds(i64::try_from(k).unwrap());
            fleet.record_heartbeat(&beat.at(at), Duration::seconds(90)).await.unwrap();
        }
    }
    let evaluation = scaler.evaluate(&ScalingRequest::tick(t("detection")), clock.now()).await.unwrap();
    assert_eq!(evaluation.current, 2, "ECS runs two of the three reporting: {:?}", evaluation.reasons);
    assert!(evaluation.desired > 3, "150 % used: scale out ({:?})", evaluation.reasons);
    let sent = updates.lock().unwrap().clone();
    for (region, n) in &evaluation.desired_by_region {
        let update = sent.iter().find(|(r, s, _)| r == region.as_str() && s == "detection-agent");
        match update {
            Some((_, _, count)) => assert_eq!(i64::from(*count), i64::from(*n), "{region}: {sent:?}"),
            None => assert_eq!(*n, 3, "{region}: no update only where ECS already had the count: {sent:?}"),
        }
    }
    assert!(!sent.is_empty(), "the scale-out reached ECS");
    let other = scaler.evaluate(&ScalingRequest::tick(t("diagnosis")), clock.now()).await.unwrap();
    assert_eq!(other.current, 3, "not an ECS type: heartbeats alone");
    assert!(other.actions_taken.iter().all(|a| a.starts_with("recorded")), "{:?}", other.actions_taken);
    assert!(updates.lock().unwrap().iter().all(|(_, s, _)| s == "detection-agent"));
}
