//! The operator commands: daily work on a deployed stack (SigV4 with the caller's credentials)
//! or on `commander serve`, one API request each (two for `policy set`: read, then write with the
//! version read). Tables by default, the API's JSON with `--json`; the exit code says how it went
//! (see [`Exit`]).

mod render;

use std::fmt::Write as _;
use std::process::ExitCode;

use axum::http::{Method, StatusCode};
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use commander_client::Client;

/// One answer of the API: its status and JSON body (`null` when it had none).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

/// Sends one request, unretried (every answer is shown as it is); an error names what failed
/// when no answer came.
async fn call(
    client: &Client,
    api: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Answer> {
    let (status, body) = client
        .send_once(method.clone(), path, body)
        .await
        .map_err(|e| anyhow::anyhow!("{method} {path}: the API at {api} did not answer: {e}"))?;
    Ok(Answer { status, body })
}

/// Where the API is and how to print its answers; every operator command takes these.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// The API: a deployed stack's `ApiUrl` output (requests are signed with your AWS
    /// credentials) or `commander serve`'s address (loopback: nothing is signed).
    #[arg(long, env = "COMMANDER_API_URL", default_value = "http://127.0.0.1:3000", global = true)]
    pub api: String,
    /// Print the API's JSON answer as it is, instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// The region to sign for; by default the one in the API's host name.
    #[arg(long, global = true)]
    pub sign_region: Option<String>,
}

/// What an operator command's exit code means (2 is a command line clap refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// The command could not run: a bad `--api`, no credentials, no answer from the API.
    Failed = 1,
    /// The API refused the request as given (400, 413, 415, 422): fix it, do not retry.
    Refused = 3,
    /// No such thing (404).
    NotFound = 4,
    /// It changed meanwhile, or is being changed (409): read again, then retry.
    Conflict = 5,
    /// The API or the store is unavailable or busy (429, 5xx): retry later.
    Unavailable = 6,
    /// The caller may not do it (401, 403).
    Forbidden = 7,
}

impl Exit {
    pub fn of(status: StatusCode) -> Self {
        match status.as_u16() {
            200..=299 => Self::Ok,
            401 | 403 => Self::Forbidden,
            404 => Self::NotFound,
            409 => Self::Conflict,
            429 | 500..=599 => Self::Unavailable,
            _ => Self::Refused,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

#[derive(Debug, Subcommand)]
pub enum PolicyAction {
    /// Show an agent type's scaling policy and its version.
    Get { agent_type: String },
    /// Change fields of a policy: `commander policy set detection max_replicas=12 min_replicas=3`.
    /// Reads the policy, changes the fields named, writes it back with the version read (exit 5
    /// when someone changed it meanwhile). A value is JSON when it parses as JSON, else a string.
    Set {
        agent_type: String,
        #[arg(required = true, value_name = "FIELD=VALUE")]
        changes: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RegionAction {
    /// Mark a region (unhealthy unless `--healthy`): overrides the scaler's own judgement and
    /// re-spreads every type's replicas.
    Mark {
        region: String,
        /// Why (kept with the mark and in the audit trail).
        #[arg(long)]
        reason: String,
        /// Mark it healthy instead (with `--weight`, a partial share).
        #[arg(long)]
        healthy: bool,
        /// Its share of traffic, 0-100.
        #[arg(long)]
        weight: Option<u8>,
    },
    /// Clear the mark: the scaler judges the region again.
    Clear { region: String },
}

#[derive(Debug, Subcommand)]
pub enum ControlPlaneAction {
    /// This region, its role (active or standing by) and the lease.
    Show,
    /// Hand the leadership lease to REGION (send it to the API of the region holding it).
    Promote { region: String },
}

#[derive(Debug, Subcommand)]
pub enum EmergencyAction {
    /// Show emergency mode and any override.
    Show,
    /// Force emergency mode on (or hold it off with `--off`) for `--minutes`, whatever spend says.
    Force {
        #[arg(long)]
        reason: String,
        #[arg(long, default_value_t = 60)]
        minutes: u32,
        /// Hold emergency mode off instead.
        #[arg(long)]
        off: bool,
    },
    /// Remove the override: spend decides again.
    Clear,
}

/// One replica, as its heartbeat names it.
#[derive(Debug, Args)]
pub struct ReplicaArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    pub agent_type: String,
    pub region: String,
    pub replica_id: String,
}

#[derive(Debug, Subcommand)]
pub enum OpsCommand {
    /// Every agent type's live, desired, healthy and draining replicas, and the regions.
    Status {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Read or change a scaling policy.
    Policy {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Mark a region unhealthy (or healthy) by hand, or clear the mark.
    Region {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        action: RegionAction,
    },
    /// Show, force or clear the cost emergency override.
    Emergency {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        action: EmergencyAction,
    },
    /// Pause an agent type's autoscaling (its desired count stays where it is).
    Pause {
        #[command(flatten)]
        api: ApiArgs,
        agent_type: String,
        #[arg(long)]
        reason: String,
    },
    /// Resume an agent type's autoscaling.
    Resume {
        #[command(flatten)]
        api: ApiArgs,
        agent_type: String,
    },
    /// The audit trail of operator changes, newest first.
    Audit {
        #[command(flatten)]
        api: ApiArgs,
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
        limit: u32,
        /// Only entries whose action starts with this, e.g. `PUT /cost/`.
        #[arg(long)]
        action: Option<String>,
        /// Only this principal's entries.
        #[arg(long)]
        principal: Option<String>,
        /// The `next` of an earlier page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Warm agent functions now (all configured targets, or the ones named).
    Warm {
        #[command(flatten)]
        api: ApiArgs,
        functions: Vec<String>,
        /// Only these regions (comma-separated).
        #[arg(long, value_delimiter = ',')]
        regions: Vec<String>,
        /// Containers to warm per function and region.
        #[arg(long)]
        concurrency: Option<u32>,
    },
    /// Run a cost sweep now: price the usage, check thresholds, act.
    Sweep {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Which region's control plane acts (a stack in two regions), or hand the lease to another.
    ControlPlane {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        action: ControlPlaneAction,
    },
    /// Drain a replica: no new incidents, it finishes the ones it has.
    Drain(ReplicaArgs),
    /// Deregister a replica: gone at once.
    Deregister(ReplicaArgs),
}

/// The request a command makes (`policy set` makes a read first, see [`run`]).
fn request(command: &OpsCommand) -> (Method, String, Option<Value>) {
    use OpsCommand as C;
    let replica =
        |r: &ReplicaArgs| json!({"agent_type": r.agent_type, "region": r.region, "replica_id": r.replica_id});
    match command {
        C::Status { .. } => (Method::GET, "/scaling/status".into(), None),
        C::Policy {
            action: PolicyAction::Get { agent_type } | PolicyAction::Set { agent_type, .. }, ..
        } => (Method::GET, format!("/scaling/policies/{}", segment(agent_type)), None),
        C::Region { action: RegionAction::Mark { region, reason, healthy, weight }, .. } => {
            let mut body = json!({"healthy": healthy, "reason": reason});
            if let Some(w) = weight {
                body["weight"] = json!(w);
            }
            (Method::PUT, format!("/regions/{}/health", segment(region)), Some(body))
        }
        C::Region { action: RegionAction::Clear { region }, .. } => {
            (Method::DELETE, format!("/regions/{}/health", segment(region)), None)
        }
        C::Emergency { action: EmergencyAction::Show, .. } => (Method::GET, "/cost/emergency".into(), None),
        C::Emergency { action: EmergencyAction::Force { reason, minutes, off }, .. } => (
            Method::PUT,
            "/cost/emergency".into(),
            Some(json!({"emergency_mode": !off, "reason": reason, "minutes": minutes})),
        ),
        C::Emergency { action: EmergencyAction::Clear, .. } => {
            (Method::DELETE, "/cost/emergency".into(), None)
        }
        C::Pause { agent_type, reason, .. } => (
            Method::PUT,
            format!("/scaling/policies/{}/pause", segment(agent_type)),
            Some(json!({"reason": reason})),
        ),
        C::Resume { agent_type, .. } => {
            (Method::DELETE, format!("/scaling/policies/{}/pause", segment(agent_type)), None)
        }
        C::Audit { limit, action, principal, cursor, .. } => {
            let mut query = format!("/audit?limit={limit}");
            for (name, value) in [("action", action), ("principal", principal), ("cursor", cursor)] {
                if let Some(v) = value {
                    let _ = write!(query, "&{name}={}", segment(v));
                }
            }
            (Method::GET, query, None)
        }
        C::Warm { functions, regions, concurrency, .. } => {
            let mut body = Map::new();
            if !functions.is_empty() {
                body.insert("functions".into(), json!(functions));
            }
            if !regions.is_empty() {
                body.insert("regions".into(), json!(regions));
            }
            if let Some(c) = concurrency {
                body.insert("concurrency".into(), json!(c));
            }
            (Method::POST, "/lambda/warm".into(), Some(Value::Object(body)))
        }
        C::Sweep { .. } => (Method::POST, "/cost/optimize".into(), None),
        C::ControlPlane { action: ControlPlaneAction::Show, .. } => {
            (Method::GET, "/control-plane".into(), None)
        }
        C::ControlPlane { action: ControlPlaneAction::Promote { region }, .. } => {
            (Method::POST, "/control-plane/promote".into(), Some(json!({"region": region})))
        }
        C::Drain(r) => (Method::POST, "/replicas/drain".into(), Some(replica(r))),
        C::Deregister(r) => (Method::POST, "/replicas/deregister".into(), Some(replica(r))),
    }
}

/// A path segment or query value, percent-encoded (anything but unreserved characters).
fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `FIELD=VALUE` pairs applied to a policy as read: the view's own fields (`agent_type`,
/// `timestamp`) dropped, `version` kept for the conditional write.
fn changed_policy(read: &Value, changes: &[String]) -> Result<Value, String> {
    let mut policy = read.as_object().cloned().ok_or("the policy read is not an object")?;
    policy.remove("agent_type");
    policy.remove("timestamp");
    for change in changes {
        let (field, value) = change
            .split_once('=')
            .filter(|(f, _)| !f.is_empty())
            .ok_or(format!("{change:?} is not FIELD=VALUE"))?;
        if field == "version" {
            return Err("version is the one read; it cannot be set".into());
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        policy.insert(field.to_owned(), value);
    }
    Ok(Value::Object(policy))
}

/// What a successful answer prints without `--json`.
fn human(command: &OpsCommand, body: &Value) -> String {
    use OpsCommand as C;
    match command {
        C::Status { .. } => render::status(body),
        C::Policy { .. } => render::policy(body),
        C::Audit { .. } => render::audit(body),
        C::Warm { .. } => render::warm(body),
        C::Sweep { .. } => render::sweep(body),
        C::ControlPlane { action: ControlPlaneAction::Show, .. } => render::control_plane(body),
        C::ControlPlane { action: ControlPlaneAction::Promote { .. }, .. } => format!(
            "lease handed to {} (epoch {}): it acts from its next run\n",
            render::cell(&body["holder"]),
            render::cell(&body["epoch"])
        ),
        C::Emergency { action: EmergencyAction::Show | EmergencyAction::Force { .. }, .. } => {
            render::emergency(body)
        }
        C::Emergency { action: EmergencyAction::Clear, .. } => {
            "emergency override cleared: spend decides again\n".into()
        }
        C::Region { action: RegionAction::Mark { region, healthy, .. }, .. } => {
            format!("{region} marked {}\n", if *healthy { "healthy" } else { "unhealthy" })
        }
        C::Region { action: RegionAction::Clear { region }, .. } => format!("{region}: mark cleared\n"),
        C::Pause { agent_type, .. } => format!("{agent_type}: autoscaling paused\n"),
        C::Resume { agent_type, .. } => format!("{agent_type}: autoscaling resumed\n"),
        C::Drain(r) => format!(
            "{} {} in {} draining ({} in progress)\n",
            r.agent_type,
            r.replica_id,
            r.region,
            render::cell(&body["load"])
        ),
        C::Deregister(r) => {
            let what =
                if body["deregistered"].as_bool() == Some(true) { "deregistered" } else { "was not live" };
            format!("{} {} in {} {what}\n", r.agent_type, r.replica_id, r.region)
        }
    }
}

/// Prints a refusal (the problem's title and detail) to stderr, and the body to stdout with
/// `--json`; answers the exit it means.
fn refused(answer: &Answer, json: bool, out: &mut impl std::io::Write) -> Exit {
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    let title =
        answer.body["title"].as_str().unwrap_or_else(|| answer.status.canonical_reason().unwrap_or(""));
    eprintln!("error: {} {title}: {detail}", answer.status.as_u16());
    if json {
        let _ = writeln!(out, "{}", answer.body);
    }
    Exit::of(answer.status)
}

impl OpsCommand {
    /// Where the command goes and how it prints.
    pub fn api(&self) -> &ApiArgs {
        use OpsCommand as C;
        match self {
            C::Status { api }
            | C::Policy { api, .. }
            | C::Region { api, .. }
            | C::Emergency { api, .. }
            | C::Pause { api, .. }
            | C::Resume { api, .. }
            | C::Audit { api, .. }
            | C::Warm { api, .. }
            | C::Sweep { api }
            | C::ControlPlane { api, .. }
            | C::Drain(ReplicaArgs { api, .. })
            | C::Deregister(ReplicaArgs { api, .. }) => api,
        }
    }
}

/// Runs one operator command against the API it names, printing to `out`.
pub async fn run(command: &OpsCommand, out: &mut impl std::io::Write) -> Exit {
    let api = command.api();
    let client = match Client::connect(&api.api, api.sign_region.clone()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Exit::Failed;
        }
    };
    let (method, path, body) = request(command);
    let mut answer = match call(&client, &api.api, method, &path, body.as_ref()).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Exit::Failed;
        }
    };
    if let OpsCommand::Policy { action: PolicyAction::Set { changes, .. }, .. } = command
        && answer.status.is_success()
    {
        let policy = match changed_policy(&answer.body, changes) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Refused;
            }
        };
        answer = match call(&client, &api.api, Method::PUT, &path, Some(&policy)).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Exit::Failed;
            }
        };
    }
    if !answer.status.is_success() {
        return refused(&answer, api.json, out);
    }
    let printed = if api.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&answer.body).unwrap_or_default())
    } else {
        write!(out, "{}", human(command, &answer.body))
    };
    if printed.is_err() {
        return Exit::Failed;
    }
    Exit::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_status() {
        let cases = [
            (200, Exit::Ok),
            (204, Exit::Ok),
            (400, Exit::Refused),
            (422, Exit::Refused),
            (403, Exit::Forbidden),
            (404, Exit::NotFound),
            (409, Exit::Conflict),
            (429, Exit::Unavailable),
            (503, Exit::Unavailable),
        ];
        for (status, exit) in cases {
            assert_eq!(Exit::of(StatusCode::from_u16(status).unwrap()), exit, "{status}");
        }
    }

    #[test]
    fn a_policy_change_keeps_the_version_read_and_drops_the_views_fields() {
        let read = json!({"agent_type": "detection", "min_replicas": 2, "max_replicas": 10, "version": 4, "timestamp": "t"});
        let changed = changed_policy(&read, &["max_replicas=12".into(), "signal=cloudwatch".into()]).unwrap();
        assert_eq!(
            changed,
            json!({"min_replicas": 2, "max_replicas": 12, "version": 4, "signal": "cloudwatch"})
        );
        assert!(changed_policy(&read, &["max_replicas".into()]).unwrap_err().contains("FIELD=VALUE"));
        assert!(changed_policy(&read, &["version=9".into()]).unwrap_err().contains("cannot be set"));
    }

    #[test]
    fn names_from_the_command_line_are_encoded_into_paths() {
        assert_eq!(segment("us-east-1"), "us-east-1");
        assert_eq!(segment("PUT /cost/"), "PUT%20%2Fcost%2F");
        assert_eq!(segment("../x"), "..%2Fx");
    }
}
