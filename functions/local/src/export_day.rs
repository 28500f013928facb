//! `commander export-day`: one day of every type's recorded demand (and the policies in force),
//! read from a stack's table or a local state file, written as the file a what-if replay reads
//! (`commander simulate replay`).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::Args;
use shared::clock::{Clock, SystemClock};
use shared::config::Config;
use shared::domain::AgentType;
use shared::scaling::FleetState;
use shared::scaling::recorded::DemandRecorder;
use shared::simulation::recorded_day::{DayExport, FORMAT};
use shared::store::{DynamoStore, EmbeddedStore, Store};

#[derive(Debug, Args)]
pub struct ExportDayArgs {
    /// The day (UTC) to export, YYYY-MM-DD.
    #[arg(long)]
    pub day: NaiveDate,
    /// The state file of `commander serve`.
    #[arg(long, conflicts_with = "table")]
    pub state: Option<PathBuf>,
    /// The stack's DynamoDB table (its `StateTableName`), read with your AWS credentials.
    #[arg(long)]
    pub table: Option<String>,
    /// A DynamoDB-API endpoint to read the table from instead of AWS (DynamoDB Local, tests).
    #[arg(long, requires = "table")]
    pub endpoint_url: Option<String>,
    /// Only this agent type.
    #[arg(long = "type")]
    pub agent_type: Option<String>,
    /// Where the export goes.
    #[arg(long)]
    pub out: PathBuf,
}

async fn store(args: &ExportDayArgs, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match (&args.state, &args.table) {
        (Some(path), None) => Arc::new(
            EmbeddedStore::open(path, clock).with_context(|| format!("cannot open {}", path.display()))?,
        ),
        (None, Some(table)) => {
            let client = match &args.endpoint_url {
                Some(url) => shared::aws::local_dynamodb(url),
                None => shared::aws::dynamodb(
                    &aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
                ),
            };
            Arc::new(DynamoStore::new(client, table.clone(), clock))
        }
        _ => bail!("say where the records are: --state FILE (a local run) or --table NAME (a stack)"),
    })
}

pub async fn run(args: &ExportDayArgs, config: &Config, out: &mut impl Write) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = store(args, Arc::clone(&clock)).await?;
    let only = args.agent_type.as_deref().map(AgentType::parse).transpose().context("--type")?;
    let fleet = FleetState::new(Arc::clone(&store));
    let recorder = DemandRecorder::new(store);
    let mut policies = std::collections::BTreeMap::new();
    let mut types = std::collections::BTreeMap::new();
    for versioned in fleet.policies().await.context("cannot read the policies")? {
        if only.as_ref().is_some_and(|t| *t != versioned.agent_type) {
            continue;
        }
        let hours = recorder
            .day(&versioned.agent_type, args.day)
            .await
            .with_context(|| format!("cannot read {}'s records", versioned.agent_type))?;
        if !hours.is_empty() {
            types.insert(versioned.agent_type.clone(), hours);
        }
        policies.insert(versioned.agent_type, versioned.policy);
    }
    if let Some(t) = &only
        && !policies.contains_key(t)
    {
        bail!("{t} is not an agent type of this fleet");
    }
    let export = DayExport {
        format: FORMAT,
        day: args.day,
        exported_at: clock.now(),
        regions: config.regions.clone(),
        policies,
        types,
    };
    std::fs::write(&args.out, serde_json::to_string(&export)?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let hours: usize = export.types.values().map(Vec::len).sum();
    writeln!(
        out,
        "{} types with {hours} recorded hours on {} written to {}",
        export.types.len(),
        args.day,
        args.out.display()
    )?;
    Ok(())
}
