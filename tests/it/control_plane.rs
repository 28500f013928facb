//! Two control planes (a home region and a standby) sharing one table on the DynamoDB-API
//! server, the home one reaching it through a relay that cuts it off mid-run: the standby takes
//! the lease over once the home region's ticks have stopped for the takeover time, the cut-off
//! region's late decision is refused by the fence, it stands by when it comes back, and an
//! operator's promotion hands the lease back.

use std::sync::Arc;

use chrono::Duration;
use integration_tests::relay::Relay;
use integration_tests::{dynamodb_endpoint, fresh_dynamo_store};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use shared::domain::{AgentType, Region};
use shared::leadership::{ControlPlaneSetup, Leadership, Role};
use shared::scaling::FleetState;
use shared::scaling::actuator::RecordActuator;
use shared::scaling::cost_gate::CostGate;
use shared::scaling::service::{Scaler, ScalingError, ScalingRequest};
use shared::store::{DynamoStore, Store};

fn region(code: &str) -> Region {
    Region::parse(code).unwrap()
}

/// One region's scaler function, as `ScalerDeps::of` wires it in a multi-region stack.
fn control_plane(here: &str, store: Arc<dyn Store>, clock: Arc<ManualClock>) -> scaler::ScalerDeps {
    let setup = ControlPlaneSetup {
        regions: vec![region("us-east-1"), region("us-west-2")],
        region: region(here),
        takeover_after: Duration::minutes(5),
    };
    let leadership = Leadership::new(Arc::clone(&store), clock.clone(), setup);
    let fleet = FleetState::new(Arc::clone(&store));
    let scaler = Scaler::new(fleet, Region::defaults(), CostGate::default(), Arc::new(RecordActuator))
        .with_fence(leadership.fence());
    scaler::ScalerDeps {
        scaler,
        store,
        clock,
        metrics: shared::telemetry::EmfSink::off(),
        leadership: Some(leadership),
    }
}

fn tick(id: &str) -> LambdaEvent<Value> {
    let event = json!({
        "version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2027-01-15T08:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/commander-tick"], "detail": {}
    });
    LambdaEvent::new(event, Context::default())
}

async fn status_of(deps: &scaler::ScalerDeps, id: &str) -> scaler::Status {
    scaler::handle(deps, tick(id)).await.unwrap().status
}

#[tokio::test]
async fn the_standby_takes_over_a_silent_home_region_and_the_deposed_regions_late_decision_is_refused() {
    let Some(endpoint) = dynamodb_endpoint("control-plane takeover") else { return };
    let clock = integration_tests::test_clock();
    let direct = fresh_dynamo_store(&endpoint, clock.clone()).await;
    let relay = Relay::start(&endpoint).await;
    let home_store: Arc<dyn Store> = Arc::new(DynamoStore::new(
        shared::aws::local_dynamodb(&relay.url),
        direct.table_name().to_owned(),
        clock.clone(),
    ));
    let home = control_plane("us-east-1", home_store, clock.clone());
    let standby = control_plane("us-west-2", Arc::new(direct.clone()), clock.clone());
    let fleet = FleetState::new(Arc::new(direct.clone()));
    let detection = AgentType::parse("detection").unwrap();
    let beat = |id: &str, load: f64| shared::scaling::ReplicaHeartbeat {
        agent_type: detection.clone(),
        replica_id: shared::domain::ReplicaId::parse(id).unwrap(),
        region: region("us-east-1"),
        load,
        capacity: 20,
        healthy: true,
        performance_score: 0.9,
        draining: false,
    };
    for id in ["a", "b"] {
        fleet.record_heartbeat(&beat(id, 19.0).at(clock.now()), Duration::minutes(30)).await.unwrap();
    }

    // Both regions tick; the home region claims the lease, the standby stands by.
    assert_eq!(status_of(&home, "tick-1-home").await, scaler::Status::Ticked);
    assert_eq!(status_of(&standby, "tick-1-standby").await, scaler::Status::StandingBy);
    let (state, version) = fleet.scaling_state(&detection).await.unwrap();
    assert_eq!(
        (state.epoch, state.desired_total),
        (1, 3),
        "the home region's decision, stamped with epoch 1"
    );

    // The home region is cut off. Its ticks fail (Lambda would retry them, to no avail); for
    // less than the takeover time the standby keeps standing by.
    relay.set(false);
    clock.set(clock.now() + Duration::minutes(4));
    assert!(scaler::handle(&home, tick("tick-2-home")).await.is_err(), "the cut-off region cannot act");
    assert_eq!(status_of(&standby, "tick-2-standby").await, scaler::Status::StandingBy);

    // Past the takeover time the standby takes over with the next epoch and acts: load has
    // grown, so it scales further.
    clock.set(clock.now() + Duration::minutes(2));
    for id in ["a", "b", "c"] {
        fleet.record_heartbeat(&beat(id, 19.5).at(clock.now()), Duration::minutes(30)).await.unwrap();
    }
    assert_eq!(status_of(&standby, "tick-3-standby").await, scaler::Status::Ticked);
    let status = standby.leadership.as_ref().unwrap().status().await.unwrap();
    assert_eq!(status.role, Role::Active { epoch: 2 });
    assert_eq!(status.lease.as_ref().map(|l| l.holder.as_str()), Some("us-west-2"));
    let (taken, taken_version) = fleet.scaling_state(&detection).await.unwrap();
    assert_eq!(taken.epoch, 2);
    assert!(taken_version > version && taken.desired_total > state.desired_total, "{taken:?}");

    // The home region comes back with an evaluation still in flight under epoch 1 (an alarm it
    // received before the cut): the fence refuses it and nothing changes.
    relay.set(true);
    let request = ScalingRequest::alarm(detection.clone(), clock.now(), None);
    let late = home.scaler.evaluate(&request, clock.now()).await;
    assert!(
        matches!(late, Err(ScalingError::Deposed { stored: 2, mine: 1, .. })),
        "the deposed region's late decision is refused: {late:?}"
    );
    let (after, after_version) = fleet.scaling_state(&detection).await.unwrap();
    assert_eq!((after_version, after.epoch, after.desired_total), (taken_version, 2, taken.desired_total));

    // Its next tick reads the new lease and stands by; no automatic hand-back.
    assert_eq!(status_of(&home, "tick-4-home").await, scaler::Status::StandingBy);
    clock.set(clock.now() + Duration::minutes(1));
    assert_eq!(status_of(&standby, "tick-4-standby").await, scaler::Status::Ticked);

    // An operator hands the lease back: epoch 3 to the home region, which acts from its next run;
    // the standby stands by again.
    let lease = standby.leadership.as_ref().unwrap().promote(&region("us-east-1"), "operator").await.unwrap();
    assert_eq!((lease.holder.as_str(), lease.epoch), ("us-east-1", 3));
    assert_eq!(status_of(&standby, "tick-5-standby").await, scaler::Status::StandingBy);
    assert_eq!(status_of(&home, "tick-5-home").await, scaler::Status::Ticked);
    assert_eq!(fleet.scaling_state(&detection).await.unwrap().0.epoch, 3);
    let refused = standby.leadership.as_ref().unwrap().promote(&region("eu-west-1"), "operator").await;
    assert!(refused.is_err(), "a region the control plane is not deployed in cannot be promoted");
}
