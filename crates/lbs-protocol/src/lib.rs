//! The wire types of the LBS agent API, shared by `lbs-agent` and the LBS Console.
//!
//! Architecture Invariant: this crate holds data shapes and their (de)serialisation only — no I/O,
//! no HTTP, no storage. Both sides depend on it; it depends on neither. The front end's TypeScript
//! types are generated from these structs by `ts-rs` (`cargo test -p lbs-protocol` writes
//! `ui/src/generated/`).

mod alerts;
mod autopilot;
mod event_kind;
mod failover;
mod health;
mod maintenance;
mod metrics;
mod status;
mod sync;
mod trash;
mod version;
mod witness;

pub mod link;
pub use alerts::{AlertChannelStatus, AlertTestReport, AlertTestResult, AlertsStatus, OpenAlert};
pub use autopilot::{
    AutomaticFailover, AutopilotAdvert, AutopilotAnswer, AutopilotBlocker, AutopilotRequest, AutopilotSettings,
    AutopilotStatus, AutopilotSwitch, BlockerKind, Fence, VoteMember,
};
pub use event_kind::EventKind;
pub use failover::{
    AddressStatus, DemoteRequest, Event, EventList, FailoverStatus, ForwardedSwitchover, HandoverRequest,
    HandoverResponse, HandoverStep, HashesRequest, HashesResponse, Heartbeat, HoldStatus, PartnerStatus, PbxStatus,
    PromoteRequest, QuarantineEntry, QuarantineList, RestoreQuery, RestoreRequest, RoleChange, StepReport,
    SwitchoverRequest, RESTORE_MAX,
};
pub use health::{
    CardKind, CategoriesDigest, CategoryShape, CpuInfo, DahdiSpan, Difference, DifferenceCounts, DiskInfo, DiskVerdict,
    Filesystem, HealthArea, MachineInventory, MemoryInfo, NetInterface, PairHealth, PbxVersion, Reading, RootStorage,
    Severity, SmartReport, SystemInfo, TelephonyCard, TelephonyInfo, INVENTORY_ROUTE,
};
pub use link::{ConnectionLink, LinkError};
pub use maintenance::{
    MaintenanceAnswer, MaintenanceEnd, MaintenanceEndRequest, MaintenanceRecord, MaintenanceRequest, PartnerNotice,
    MAINTENANCE_MAX_SECS, MAINTENANCE_MIN_SECS,
};
pub use metrics::{HistoryPoint, HistoryQuery, HistoryResponse, Resolution, SeriesInfo, SeriesKind, SeriesList};
pub use status::{
    ApiError, Health, Maintenance, PeerSummary, Role, RoleStanding, ServerStatus, TokenCreated, TokenInfo, TokenRole,
};
pub use sync::{
    BundleItem, BundleRequest, CategoryCounting, CategorySync, ContentQuery, LinkReport, PairRequest, PairResponse,
    PairWith, PartnerLink, PartnerTokenRequest, PullRequest, PullResponse, ScanProgress, SkippedFile, SourceTally,
    SyncHistoryPoint, SyncLinkState, SyncPeer, SyncProblem, SyncStatus, WireChange, BUNDLE_MAX_FILE, BUNDLE_MAX_ITEMS,
    BUNDLE_OK, BUNDLE_REFUSED, BUNDLE_SUPERSEDED, CONTENT_ENCODING_HEADER, PEER_PREFIX,
};
pub use trash::{TrashEntry, TrashList, TrashRestoreRequest, TrashRestored, TRASH_LIST_MAX};
pub use version::{AgentVersions, ApiRange, Upgrade, API_MIN_VERSION};
pub use witness::{
    PlannedMember, VotePlan, WitnessEnrolled, WitnessEnrollment, ETCD_CLIENT_PORT, ETCD_PEER_PORT, WITNESS_ENROLL_ROUTE,
};

/// Version of the HTTP API served under `/api/v1`. Bumped on any incompatible change.
pub const API_VERSION: u32 = 1;

/// Path prefix of every authenticated route.
pub const API_PREFIX: &str = "/api/v1";

/// Serde default for `checked` fields: an agent from before the field existed reported only
/// after trying, so its answers count as checked.
fn tried() -> bool {
    true
}
