//! The operator commands against `commander serve`, as an operator runs them: each subcommand in
//! text and `--json`, the exit codes, and state one command leaves for the next.

use serde_json::{Value, json};

use crate::local_server::{Server, start_with};

/// Runs `commander <args> --api <server>`: exit code, stdout, stderr.
fn commander(server: &Server, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_commander"))
        .args(args)
        .args(["--api", &server.base])
        .env_remove("COMMANDER_API_URL")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The same with `--json`: exit code and the parsed answer.
fn commander_json(server: &Server, args: &[&str]) -> (i32, Value) {
    let mut with = args.to_vec();
    with.push("--json");
    let (code, out, err) = commander(server, &with);
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out:?} {err}")))
}

async fn beat(server: &Server, id: &str) {
    let body = json!({"agent_type": "detection", "replica_id": id, "region": "us-east-1", "load": 3,
                      "capacity": 20, "healthy": true, "performance_score": 0.9});
    assert_eq!(server.request("POST", "/replicas/heartbeat", Some(&body)).await.0, 200);
}

#[tokio::test]
async fn every_subcommand_in_text_and_json() {
    let server = start_with(&["--memory".as_ref()]).await;
    beat(&server, "det-1").await;
    beat(&server, "det-2").await;

    let (code, text, _) = commander(&server, &["status"]);
    assert_eq!(code, 0);
    assert!(text.lines().any(|l| l.starts_with("detection") && l.contains("heartbeats  2")), "{text}");
    let (code, status) = commander_json(&server, &["status"]);
    assert_eq!(code, 0);
    assert_eq!(status["scaling_metrics"]["detection"]["live_replicas"], 2);

    let (code, text, _) = commander(&server, &["policy", "get", "detection"]);
    assert_eq!(code, 0);
    assert!(text.lines().any(|l| l.starts_with("max_replicas") && l.ends_with("10")), "{text}");
    let (code, policy) =
        commander_json(&server, &["policy", "set", "detection", "max_replicas=12", "min_replicas=3"]);
    assert_eq!(code, 0, "{policy}");
    assert_eq!((policy["max_replicas"].as_u64(), policy["version"].as_u64()), (Some(12), Some(1)));
    let (_, policy) = commander_json(&server, &["policy", "get", "detection"]);
    assert_eq!(policy["min_replicas"], 3, "the change is stored");

    let (code, text, _) = commander(&server, &["pause", "detection", "--reason", "drill"]);
    assert_eq!((code, text.as_str()), (0, "detection: autoscaling paused\n"));
    let (_, text, _) = commander(&server, &["status"]);
    assert!(text.lines().any(|l| l.starts_with("detection") && l.ends_with("paused")), "{text}");
    let (code, _) = commander_json(&server, &["resume", "detection"]);
    assert_eq!(code, 0);

    let (code, text, _) = commander(&server, &["region", "mark", "eu-west-1", "--reason", "provider outage"]);
    assert_eq!((code, text.as_str()), (0, "eu-west-1 marked unhealthy\n"));
    let (_, text, _) = commander(&server, &["status"]);
    assert!(text.lines().any(|l| l.starts_with("eu-west-1") && l.contains("unhealthy (operator)")), "{text}");
    let (code, _) = commander_json(&server, &["region", "clear", "eu-west-1"]);
    assert_eq!(code, 0);

    let (code, text, _) = commander(&server, &["emergency", "force", "--reason", "drill", "--minutes", "5"]);
    assert_eq!(code, 0);
    assert!(text.starts_with("emergency mode on\noverride: forced on by local"), "{text}");
    let (_, shown) = commander_json(&server, &["emergency", "show"]);
    assert_eq!(shown["emergency_mode"], true);
    let (code, text, _) = commander(&server, &["emergency", "clear"]);
    assert_eq!((code, text.as_str()), (0, "emergency override cleared: spend decides again\n"));

    let (code, text, _) = commander(&server, &["drain", "detection", "us-east-1", "det-1"]);
    assert_eq!((code, text.as_str()), (0, "detection det-1 in us-east-1 draining (3 in progress)\n"));
    let (_, status) = commander_json(&server, &["status"]);
    assert_eq!(status["scaling_metrics"]["detection"]["draining_replicas"], 1);
    let (code, answer) = commander_json(&server, &["deregister", "detection", "us-east-1", "det-1"]);
    assert_eq!((code, answer["deregistered"].as_bool()), (0, Some(true)));
    let (_, text, _) = commander(&server, &["deregister", "detection", "us-east-1", "det-1"]);
    assert_eq!(text, "detection det-1 in us-east-1 was not live\n");

    let (code, text, _) = commander(&server, &["audit", "--limit", "3"]);
    assert_eq!(code, 0);
    assert!(text.starts_with("AT"), "{text}");
    assert!(text.contains("DELETE /cost/emergency"), "the newest change first: {text}");
    let (_, audit) = commander_json(&server, &["audit", "--action", "PUT /scaling/"]);
    let actions: Vec<&str> =
        audit["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["PUT /scaling/policies/{agent_type}/pause", "PUT /scaling/policies/{agent_type}"]);

    let (code, text, _) = commander(&server, &["sweep"]);
    assert_eq!(code, 0);
    assert!(text.starts_with("hourly cost $"), "{text}");
    let (code, swept) = commander_json(&server, &["sweep"]);
    assert_eq!(code, 0);
    assert!(swept["current_metrics"]["hourly_cost"].is_number(), "{swept}");

    let (code, warmed) = commander_json(&server, &["warm"]);
    assert_eq!(code, 0);
    assert!(warmed["results"].is_object(), "{warmed}");
    server.stop().await;
}

#[tokio::test]
async fn exit_codes_say_what_went_wrong() {
    let server = start_with(&["--memory".as_ref()]).await;
    // 404: no such type, no such replica; the problem goes to stderr, and with --json to stdout.
    let (code, _, err) = commander(&server, &["policy", "get", "nosuch"]);
    assert_eq!(code, 4);
    assert!(err.contains("404") && err.contains("nosuch"), "{err}");
    let (code, problem) = commander_json(&server, &["drain", "detection", "us-east-1", "ghost"]);
    assert_eq!((code, problem["status"].as_u64()), (4, Some(404)));
    // 422/400: refused as given.
    let (code, _, err) = commander(&server, &["policy", "set", "detection", "max_replicas=-1"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("max_replicas"), "{err}");
    let (code, _, err) = commander(&server, &["region", "mark", "mars-north-1", "--reason", "x"]);
    assert_eq!(code, 3, "{err}");
    // A bad change never reaches the API.
    let (code, _, err) = commander(&server, &["policy", "set", "detection", "version=7"]);
    assert_eq!(code, 3, "{err}");
    // 2: a command line clap refuses.
    let (code, _, _) = commander(&server, &["pause", "detection"]);
    assert_eq!(code, 2, "--reason is required");
    server.stop().await;
    // 1: nothing answers.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_commander"))
        .args(["status", "--api", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not answer"));
}

#[test]
fn completions_are_printed_for_each_shell() {
    for (shell, expected) in
        [("bash", "_commander()"), ("zsh", "#compdef commander"), ("fish", "complete -c commander")]
    {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_commander"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(expected), "{shell}: {}", &script[..script.len().min(200)]);
        assert!(script.contains("drain"), "{shell} completes the operator commands");
    }
}
