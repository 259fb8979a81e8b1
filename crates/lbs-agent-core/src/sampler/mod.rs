//! The resource sampler: every `metrics.interval` it reads the box (CPU, load, memory, swap,
//! disk space and I/O per data mount, network per interface, processes, PBX activity) and
//! records one tick into the history store, then rolls up.

pub mod demo;
mod probe;
mod system;

use crate::sync::status;
use std::collections::HashSet;
use std::time::Duration;

use lbs_history::{HistoryStore, SeriesDef, SeriesKind};
use lbs_protocol::Role;
use tokio::sync::watch;

use crate::config::Config;

pub use system::SystemReader;

/// One value of one series at this tick, with how to describe the series if it is new.
pub struct Reading {
    pub name: String,
    pub label: String,
    pub unit: &'static str,
    pub kind: SeriesKind,
    pub value: f64,
}

impl Reading {
    pub fn new(
        name: impl Into<String>,
        label: impl Into<String>,
        unit: &'static str,
        kind: SeriesKind,
        value: f64,
    ) -> Self {
        Reading {
            name: name.into(),
            label: label.into(),
            unit,
            kind,
            value,
        }
    }

    /// How the history store should describe this series.
    pub fn def(&self) -> SeriesDef {
        SeriesDef {
            name: self.name.clone(),
            label: self.label.clone(),
            unit: self.unit.into(),
            kind: self.kind,
        }
    }
}

/// Whether the box is the primary at this tick: the console draws the primary's periods as bands.
pub fn role_reading(primary: bool) -> Reading {
    Reading::new(
        "role.primary",
        "Primary",
        "flag",
        SeriesKind::Role,
        if primary { 1.0 } else { 0.0 },
    )
}

/// What the alerts watch of the latest tick: memory and each data mount's space.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latest {
    pub at_unix: i64,
    pub memory_used_bytes: Option<f64>,
    pub memory_total_bytes: Option<f64>,
    /// Each data mount (`[metrics] mounts`) with the percentage of its space in use.
    pub disks: Vec<(String, f64)>,
}

impl Latest {
    pub fn of(readings: &[Reading], at_unix: i64) -> Latest {
        let value = |name: &str| readings.iter().find(|r| r.name == name).map(|r| r.value);
        Latest {
            at_unix,
            memory_used_bytes: value("memory.used"),
            memory_total_bytes: value("memory.total"),
            disks: readings
                .iter()
                .filter_map(|r| {
                    let mount = r.name.strip_prefix("disk.")?.strip_suffix(".used_percent")?;
                    Some((mount.to_owned(), r.value))
                })
                .collect(),
        }
    }

    /// Memory in use, in percent of what is installed.
    pub fn memory_percent(&self) -> Option<f64> {
        match (self.memory_used_bytes, self.memory_total_bytes) {
            (Some(used), Some(total)) if total > 0.0 => Some(100.0 * used / total),
            _ => None,
        }
    }
}

/// Runs until `shutdown` flips to true; each tick's resources also go to `latest` (the alerts).
pub async fn run(
    config: Config,
    history: HistoryStore,
    sync: std::sync::Arc<crate::sync::SyncEngine>,
    latest: watch::Sender<Option<Latest>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut reader = SystemReader::new(&config.metrics);
    let mut known: HashSet<String> = HashSet::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(config.metrics.interval));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut probe_failing = false;
    let mut before = LinkBefore::default();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let mut readings = reader.read();
        latest.send_replace(Some(Latest::of(&readings, crate::clock::now_unix())));
        match probe::run(&config.pbx.probe, config.pbx.probe_timeout).await {
            Ok(activity) => {
                if probe_failing {
                    tracing::info!("the PBX probe answers again");
                    probe_failing = false;
                }
                if let Some(calls) = activity.calls {
                    readings.push(Reading::new(
                        "pbx.calls",
                        "Active calls",
                        "count",
                        SeriesKind::PbxActivity,
                        calls,
                    ));
                }
                if let Some(phones) = activity.phones {
                    readings.push(Reading::new(
                        "pbx.phones",
                        "Registered phones",
                        "count",
                        SeriesKind::PbxActivity,
                        phones,
                    ));
                }
            }
            // Logged once per failure streak, not every tick.
            Err(e) if !probe_failing => {
                tracing::warn!(error = %e, "PBX probe failed; activity is not recorded until it answers");
                probe_failing = true;
            }
            Err(_) => {}
        }
        let (gauges, pending) = sync_gauges(&sync).await;
        readings.extend(gauges);
        readings.extend(link_readings(&sync, &mut before, pending));
        readings.push(role_reading(sync.role().role == Role::Primary));
        if let Err(e) = record(&history, &mut known, &readings).await {
            tracing::error!(error = %e, "could not record resource samples");
        }
    }
}

async fn record(
    history: &HistoryStore,
    known: &mut HashSet<String>,
    readings: &[Reading],
) -> Result<(), lbs_history::HistoryError> {
    let new: Vec<SeriesDef> = readings
        .iter()
        .filter(|r| !known.contains(&r.name))
        .map(Reading::def)
        .collect();
    if !new.is_empty() {
        history.register(&new).await?;
        known.extend(new.into_iter().map(|d| d.name));
    }
    let now = crate::clock::now_unix();
    let values: Vec<(&str, f64)> = readings.iter().map(|r| (r.name.as_str(), r.value)).collect();
    history.record(now, &values).await?;
    history.roll_up(now).await
}
/// The sync gauges the sampler records each tick: pending bytes, worst lag, total throughput;
/// and the pending bytes (`None`: the journal could not be read).
async fn sync_gauges(e: &crate::sync::SyncEngine) -> (Vec<Reading>, Option<u64>) {
    use lbs_protocol::SeriesKind::Sync;
    let Ok(pending) = status::pending(e).await else {
        return (Vec::new(), None);
    };
    let now = crate::clock::now_unix();
    let bytes: u64 = pending.values().map(|t| t.bytes).sum();
    let lag = pending
        .values()
        .filter_map(|t| t.oldest_unix)
        .min()
        .map_or(0, |o| (now - o).max(0));
    let rate: f64 = e
        .sources
        .categories
        .iter()
        .map(|c| e.tracker.category(&c.name).throughput_bps)
        .sum();
    let gauges = vec![
        Reading::new(status::PENDING, "Sync: pending", "bytes", Sync, bytes as f64),
        Reading::new(status::LAG, "Sync: lag", "seconds", Sync, lag as f64),
        Reading::new(status::THROUGHPUT, "Sync: throughput", "bytes_per_sec", Sync, rate),
    ];
    (gauges, Some(bytes))
}

/// The previous tick, for what the sync carried in between.
#[derive(Default)]
struct LinkBefore {
    pending: u64,
    moved: u64,
    at: Option<std::time::Instant>,
}

/// The link's figures of this tick (see `sync::link`): the heartbeats' round trip and losses,
/// the partner's clock, the office's fresh changes (on the backup), and what the sync carried
/// if it had work all tick long. Nothing is recorded of what was not measured.
fn link_readings(e: &crate::sync::SyncEngine, before: &mut LinkBefore, pending: Option<u64>) -> Vec<Reading> {
    use crate::sync::link;
    use lbs_protocol::SeriesKind::Sync;
    let tick = e.link.take();
    let mut out = Vec::new();
    if let Some(ms) = tick.round_trip_ms {
        out.push(Reading::new(link::ROUND_TRIP, "Link: round trip", "ms", Sync, ms));
    }
    if let Some(p) = tick.loss_percent {
        out.push(Reading::new(link::LOSS, "Link: heartbeats lost", "percent", Sync, p));
    }
    if let Some(ms) = tick.clock_offset_ms {
        out.push(Reading::new(
            link::CLOCK_OFFSET,
            "Link: partner's clock ahead by",
            "ms",
            Sync,
            ms as f64,
        ));
    }
    let now = std::time::Instant::now();
    let moved = e.tracker.moved_total();
    if let (Some(at), Some(pending)) = (before.at, pending) {
        let seconds = now.duration_since(at);
        if e.role().role == Role::Backup {
            let rate = tick.incoming_bytes as f64 / seconds.as_secs_f64().max(1.0);
            out.push(Reading::new(
                link::INCOMING,
                "Sync: office's changes",
                "bytes_per_sec",
                Sync,
                rate,
            ));
        }
        let carried = moved.saturating_sub(before.moved);
        let receiving = e.role().role == Role::Backup
            && e.tracker
                .link_view()
                .is_some_and(|l| l.state == lbs_protocol::SyncLinkState::Ok);
        if let Some(rate) = link::capacity_sample(before.pending, pending, carried, seconds).filter(|_| receiving) {
            out.push(Reading::new(
                link::CAPACITY,
                "Link: carried while copying",
                "bytes_per_sec",
                Sync,
                rate,
            ));
        }
    }
    *before = LinkBefore {
        pending: pending.unwrap_or(0),
        moved,
        at: Some(now),
    };
    out
}
