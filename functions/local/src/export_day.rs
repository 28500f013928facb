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
use shared::simulation::recorded_day::DayExport;
use shared::simulation::what_if;
use shared::store::{DynamoStore, EmbeddedStore, Store};

/// Where recorded days are read: a local run's state file or a stack's table.
#[derive(Debug, Args)]
pub struct RecordSource {
    /// The state file of `commander serve`.
    #[arg(long, conflicts_with = "table")]
    pub state: Option<PathBuf>,
    /// The stack's DynamoDB table (its `StateTableName`), read with your AWS credentials
    /// (`dynamodb:Query` and `dynamodb:BatchGetItem` on it).
    #[arg(long)]
    pub table: Option<String>,
    /// A DynamoDB-API endpoint to read the table from instead of AWS (DynamoDB Local, tests).
    #[arg(long, requires = "table")]
    pub endpoint_url: Option<String>,
}

impl RecordSource {
    /// Whether a state file or a table was named.
    pub fn given(&self) -> bool {
        self.state.is_some() || self.table.is_some()
    }

    async fn store(&self, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<dyn Store>> {
        Ok(match (&self.state, &self.table) {
            (Some(path), None) => Arc::new(
                EmbeddedStore::open(path, clock)
                    .with_context(|| format!("cannot open {}", path.display()))?,
            ),
            (None, Some(table)) => {
                let client = match &self.endpoint_url {
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

    /// `day` of every type's records (or `only`'s) and the policies in force, as an export.
    pub async fn read(
        &self,
        config: &Config,
        day: NaiveDate,
        only: Option<&AgentType>,
    ) -> anyhow::Result<DayExport> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = self.store(Arc::clone(&clock)).await?;
        what_if::export_day(store, config.regions.clone(), day, only, clock.now())
            .await
            .with_context(|| format!("cannot read {day}'s records"))
    }
}

#[derive(Debug, Args)]
pub struct ExportDayArgs {
    /// The day (UTC) to export, YYYY-MM-DD.
    #[arg(long)]
    pub day: NaiveDate,
    #[command(flatten)]
    pub source: RecordSource,
    /// Only this agent type.
    #[arg(long = "type")]
    pub agent_type: Option<String>,
    /// Where the export goes.
    #[arg(long)]
    pub out: PathBuf,
}

pub async fn run(args: &ExportDayArgs, config: &Config, out: &mut impl Write) -> anyhow::Result<()> {
    let only = args.agent_type.as_deref().map(AgentType::parse).transpose().context("--type")?;
    let export = args.source.read(config, args.day, only.as_ref()).await?;
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
