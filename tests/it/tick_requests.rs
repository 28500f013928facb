//! What a tick costs the store per agent type, counted on the wire: the relay in front of the
//! DynamoDB-API server counts every request the DynamoDB store sends. bench/run times the same
//! tick over a thousand types; this keeps the count from creeping back up in every CI run.

use integration_tests::relay::Relay;
use shared::clock::Clock;

/// Operator-defined types besides the five builtins: enough for several batched reads.
const TYPES: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_makes_at_most_four_store_requests_per_type() {
    let Some(endpoint) = integration_tests::dynamodb_endpoint("tick store requests") else { return };
    let clock = integration_tests::test_clock();
    let relay = Relay::start(&endpoint).await;
    let scaler =
        integration_tests::tick::scaler_over_types(&endpoint, &relay, clock.clone(), TYPES).await.unwrap();
    // The first tick stores every type's first decision and its events; the second finds them.
    // Twenty past the hour: the top of the hour is when each type's finished hour of recorded
    // demand is written (one request per type, once an hour).
    clock.advance(chrono::Duration::minutes(20));
    for tick in 0..2 {
        let before = relay.requests();
        let report = scaler.tick(clock.now()).await.unwrap();
        let requests = relay.requests() - before;
        assert_eq!(report.failures, Vec::new(), "tick {tick}");
        assert_eq!(report.evaluations.len(), TYPES + 5, "tick {tick}");
        // Per type: its replicas, its share of the batched reads, its decision and its applied mark
        // (and, when the decision changed, its events), plus the tick's own few reads. The tick
        // that reaches a new hour's forecast (ten minutes before it; here the first) also reads
        // every type's recorded weeks, together (about five types to a request, once an hour);
        // the minute's record rides on the decision's write.
        let per_type = requests as f64 / (TYPES + 5) as f64;
        let bound = 4.0;
        println!("tick {tick}: {requests} store requests for {} types, {per_type:.1} per type", TYPES + 5);
        assert!(per_type <= bound, "tick {tick}: {requests} store requests, {per_type:.1} per type");
        clock.advance(chrono::Duration::minutes(1));
    }
}
