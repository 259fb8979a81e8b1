//! Resource history types: `/metrics/series` and `/metrics/history`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// How a series is meant to be read; the console groups its charts by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum SeriesKind {
    /// CPU, load, memory, swap, disk, processes.
    Resources,
    /// Bytes per second in and out per interface.
    Network,
    /// Calls and phones from the PBX probe.
    PbxActivity,
    /// Pending bytes, lag and throughput of the sync between the two boxes.
    Sync,
    /// The box's role: `role.primary` is 1 while it is the primary, 0 otherwise. The console
    /// draws it as bands behind the graphs, not as a graph.
    Role,
}

/// One recorded series, as listed by `GET /api/v1/metrics/series`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SeriesInfo {
    /// Stable key, e.g. `cpu.usage`, `disk./var/spool.used`, `net.eth0.rx`.
    pub name: String,
    /// Human label, e.g. "CPU use".
    pub label: String,
    /// `percent`, `bytes`, `bytes_per_sec`, `count`, `load`.
    pub unit: String,
    pub kind: SeriesKind,
    #[ts(type = "number | null")]
    pub first_unix: Option<i64>,
    #[ts(type = "number | null")]
    pub last_unix: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SeriesList {
    pub series: Vec<SeriesInfo>,
}

/// Query string of `GET /api/v1/metrics/history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct HistoryQuery {
    pub series: String,
    /// Unix seconds, inclusive.
    #[ts(type = "number")]
    pub from: i64,
    /// Unix seconds, exclusive.
    #[ts(type = "number")]
    pub to: i64,
    /// Most buckets wanted (a screen's width). 1..=10000.
    pub points: u32,
}

/// Which stored table answered a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Resolution {
    Raw,
    Minute,
    #[serde(rename = "ten_minute")]
    TenMinute,
    Hour,
}

/// One bucket of a history answer. Buckets without data are absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct HistoryPoint {
    /// Start of the bucket, unix seconds.
    #[ts(type = "number")]
    pub t: i64,
    pub min: f64,
    pub avg: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct HistoryResponse {
    pub series: String,
    #[ts(type = "number")]
    pub from: i64,
    #[ts(type = "number")]
    pub to: i64,
    /// Width of one bucket in seconds.
    #[ts(type = "number")]
    pub bucket_secs: i64,
    pub resolution: Resolution,
    pub points: Vec<HistoryPoint>,
}
