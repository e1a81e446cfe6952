//! `kompass events`: what the event pipeline set aside, for an operator.

use anyhow::{Context, bail};
use clap::Subcommand;
use kompass_config::Config;
use kompass_events::{EventBus, RedisBus, streams};

#[derive(Subcommand)]
pub enum EventsCmd {
    /// Events a consumer group gave up on after repeated failures.
    DeadLetter {
        #[command(subcommand)]
        cmd: DeadLetterCmd,
    },
}

#[derive(Subcommand)]
pub enum DeadLetterCmd {
    /// Lists dead letters, oldest first.
    List {
        /// evaluations or projects.
        #[arg(long, default_value = streams::EVALUATIONS)]
        stream: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Publishes dead letters on their stream again and removes them from the
    /// dead-letter stream. Safe to repeat: consumers ignore an event they
    /// already applied.
    Replay {
        /// evaluations or projects.
        #[arg(long, default_value = streams::EVALUATIONS)]
        stream: String,
        /// Dead-letter ids (as `list` shows them).
        ids: Vec<String>,
        /// Every dead letter of the stream instead.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

fn stream(s: &str) -> anyhow::Result<&'static str> {
    [streams::EVALUATIONS, streams::PROJECTS]
        .into_iter()
        .find(|k| *k == s)
        .with_context(|| format!("unknown stream {s:?}: use evaluations or projects"))
}

/// A stream entry id (`<ms>-<seq>`): nothing else reaches Redis.
fn entry_id(s: &str) -> anyhow::Result<&str> {
    let ok = s.split_once('-').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.len() <= 20
            && b.len() <= 20
            && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
    });
    if !ok {
        bail!(
            "{s:?} is not a dead-letter id (like 1796414207355-0; see `kompass events dead-letter list`)"
        );
    }
    Ok(s)
}

pub async fn run(cfg: &Config, cmd: EventsCmd) -> anyhow::Result<()> {
    let Some(url) = &cfg.redis.url else {
        bail!(
            "KOMPASS_REDIS_URL is not set: dead letters live in Redis (`kompass dev` keeps its events in its own process)"
        );
    };
    let bus = RedisBus::connect(url, &cfg.redis.key_prefix)
        .await
        .context("connecting to Redis")?;
    let EventsCmd::DeadLetter { cmd } = cmd;
    match cmd {
        DeadLetterCmd::List { stream: s, limit } => {
            let s = stream(&s)?;
            let dead = bus.dead_letters(s, limit).await?;
            if dead.is_empty() {
                println!("no dead letters on stream {s}");
                return Ok(());
            }
            println!("ID\tEVENT\tTOPIC\tGROUP\tDELIVERIES\tERROR");
            for d in dead {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    d.id,
                    d.event_id,
                    d.topic,
                    d.group,
                    d.deliveries,
                    d.error.replace(['\n', '\t'], " ")
                );
            }
            Ok(())
        }
        DeadLetterCmd::Replay {
            stream: s,
            ids,
            all,
        } => {
            let s = stream(&s)?;
            let ids: Vec<String> = if all {
                bus.dead_letters(s, usize::MAX >> 1)
                    .await?
                    .into_iter()
                    .map(|d| d.id)
                    .collect()
            } else {
                if ids.is_empty() {
                    bail!("name the dead letters to replay, or --all");
                }
                ids.iter()
                    .map(|i| entry_id(i).map(str::to_string))
                    .collect::<anyhow::Result<_>>()?
            };
            let mut missing = 0;
            for id in &ids {
                if bus.replay(s, id).await? {
                    println!("replayed {id} on stream {s}");
                } else {
                    missing += 1;
                    eprintln!("no dead letter {id} on stream {s}");
                }
            }
            if missing > 0 {
                bail!("{missing} of {} dead letter(s) not found", ids.len());
            }
            Ok(())
        }
    }
}
