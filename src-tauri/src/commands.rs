//! The `#[tauri::command]` functions the front end invokes. Each is one call into
//! `lbs_console_core::Console`; errors become `{kind, message}` for the UI.

use lbs_console_core::pair::{Assessment, Confirmation, PairState};
use lbs_console_core::view::{ConsoleError, PairEntry, ProbeResult, ServerEntry};
use lbs_console_core::Console;
use lbs_protocol::{
    EventList, FailoverStatus, HistoryQuery, HistoryResponse, QuarantineList, RoleChange, SeriesList, ServerStatus,
    SyncStatus,
};
use tauri::State;

type Result<T> = std::result::Result<T, ConsoleError>;

fn view(e: lbs_console_core::Error) -> ConsoleError {
    e.to_view()
}

#[tauri::command]
pub async fn list_servers(console: State<'_, Console>) -> Result<Vec<ServerEntry>> {
    console.list().await.map_err(view)
}

#[tauri::command]
pub async fn add_server_link(console: State<'_, Console>, link: String) -> Result<ServerEntry> {
    console.add_by_link(&link).await.map_err(view)
}

#[tauri::command]
pub async fn probe_server(console: State<'_, Console>, address: String) -> Result<ProbeResult> {
    console.probe(&address).await.map_err(view)
}

#[tauri::command]
pub async fn add_server_manual(
    console: State<'_, Console>,
    address: String,
    token: String,
    fingerprint: String,
) -> Result<ServerEntry> {
    console.add_manual(&address, &token, &fingerprint).await.map_err(view)
}

#[tauri::command]
pub async fn remove_server(console: State<'_, Console>, id: String) -> Result<()> {
    console.remove(&id).await.map_err(view)
}

#[tauri::command]
pub async fn server_status(console: State<'_, Console>, id: String) -> Result<ServerStatus> {
    console.status(&id).await.map_err(view)
}

#[tauri::command]
pub async fn metrics_series(console: State<'_, Console>, id: String) -> Result<SeriesList> {
    console.series(&id).await.map_err(view)
}

#[tauri::command]
pub async fn metrics_history(
    console: State<'_, Console>,
    id: String,
    series: String,
    from: i64,
    to: i64,
    points: u32,
) -> Result<HistoryResponse> {
    console
        .history(
            &id,
            &HistoryQuery {
                series,
                from,
                to,
                points,
            },
        )
        .await
        .map_err(view)
}

#[tauri::command]
pub async fn sync_status(console: State<'_, Console>, id: String) -> Result<SyncStatus> {
    console.sync(&id).await.map_err(view)
}

#[tauri::command]
pub async fn failover_status(console: State<'_, Console>, id: String) -> Result<FailoverStatus> {
    console.failover(&id).await.map_err(view)
}

#[tauri::command]
pub async fn server_events(console: State<'_, Console>, id: String, limit: u32) -> Result<EventList> {
    console.events(&id, limit).await.map_err(view)
}

#[tauri::command]
pub async fn quarantine_list(console: State<'_, Console>, id: String) -> Result<QuarantineList> {
    console.quarantine(&id).await.map_err(view)
}

#[tauri::command]
pub async fn pair_state(console: State<'_, Console>, a: String, b: String) -> Result<PairState> {
    console.pair_state(&a, &b).await.map_err(view)
}

#[tauri::command]
pub async fn failover_assess(console: State<'_, Console>, primary: String, backup: String) -> Result<Assessment> {
    console.assess(&primary, &backup).await.map_err(view)
}

/// The wizard's last step; the guards are checked again in `Console::fail_over`.
#[tauri::command]
pub async fn failover_run(
    console: State<'_, Console>,
    primary: String,
    backup: String,
    confirmation: Confirmation,
) -> Result<RoleChange> {
    console.fail_over(&primary, &backup, &confirmation).await.map_err(view)
}

#[tauri::command]
pub async fn list_pairs(console: State<'_, Console>) -> Result<Vec<PairEntry>> {
    console.pairs().await.map_err(view)
}

#[tauri::command]
pub async fn create_pair(console: State<'_, Console>, name: String, servers: Vec<String>) -> Result<PairEntry> {
    console.create_pair(&name, &servers).await.map_err(view)
}

#[tauri::command]
pub async fn add_to_pair(console: State<'_, Console>, pair: String, server: String) -> Result<PairEntry> {
    console.add_to_pair(&pair, &server).await.map_err(view)
}

#[tauri::command]
pub async fn rename_pair(console: State<'_, Console>, pair: String, name: String) -> Result<PairEntry> {
    console.rename_pair(&pair, &name).await.map_err(view)
}

#[tauri::command]
pub async fn remove_pair(console: State<'_, Console>, pair: String) -> Result<()> {
    console.remove_pair(&pair).await.map_err(view)
}
