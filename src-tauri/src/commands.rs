//! The `#[tauri::command]` functions the front end invokes. Each is one call into
//! `lbs_console_core::Console`; errors become `{kind, message}` for the UI.

use lbs_console_core::overview::{OfficeEvents, Overview};
use lbs_console_core::pair::{Assessment, Confirmation, PairState};
use lbs_console_core::view::{ConsoleError, PairEntry, ProbeResult, ServerEntry};
use lbs_console_core::Console;
use lbs_protocol::{
    EventList, FailoverStatus, HistoryQuery, HistoryResponse, QuarantineList, RestoreRequest, RoleChange, SeriesList,
    ServerStatus, SyncStatus,
};
use tauri::State;

use crate::watch::Watch;

pub type Result<T> = std::result::Result<T, ConsoleError>;

fn view(e: lbs_console_core::Error) -> ConsoleError {
    e.to_view()
}

#[tauri::command]
pub async fn list_servers(console: State<'_, Console>) -> Result<Vec<ServerEntry>> {
    console.list().await.map_err(view)
}

#[tauri::command]
pub async fn add_server_link(
    console: State<'_, Console>,
    watch: State<'_, Watch>,
    link: String,
    office: Option<String>,
) -> Result<ServerEntry> {
    let added = console.add_by_link(&link, office.as_deref()).await.map_err(view)?;
    watch.poke();
    Ok(added)
}

#[tauri::command]
pub async fn probe_server(console: State<'_, Console>, address: String) -> Result<ProbeResult> {
    console.probe(&address).await.map_err(view)
}

#[tauri::command]
pub async fn add_server_manual(
    console: State<'_, Console>,
    watch: State<'_, Watch>,
    address: String,
    token: String,
    fingerprint: String,
    office: Option<String>,
) -> Result<ServerEntry> {
    let added = console
        .add_manual(&address, &token, &fingerprint, office.as_deref())
        .await
        .map_err(view)?;
    watch.poke();
    Ok(added)
}

#[tauri::command]
pub async fn remove_server(console: State<'_, Console>, watch: State<'_, Watch>, id: String) -> Result<()> {
    console.remove(&id).await.map_err(view)?;
    watch.poke();
    Ok(())
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
    watch: State<'_, Watch>,
) -> Result<RoleChange> {
    let change = console.fail_over(&primary, &backup, &confirmation).await;
    watch.poke();
    change.map_err(view)
}

#[tauri::command]
pub async fn list_pairs(console: State<'_, Console>) -> Result<Vec<PairEntry>> {
    console.pairs().await.map_err(view)
}

#[tauri::command]
pub async fn create_pair(
    console: State<'_, Console>,
    watch: State<'_, Watch>,
    name: String,
    servers: Vec<String>,
) -> Result<PairEntry> {
    let pair = console.create_pair(&name, &servers).await.map_err(view)?;
    watch.poke();
    Ok(pair)
}

#[tauri::command]
pub async fn add_to_pair(
    console: State<'_, Console>,
    watch: State<'_, Watch>,
    pair: String,
    server: String,
) -> Result<PairEntry> {
    let pair = console.add_to_pair(&pair, &server).await.map_err(view)?;
    watch.poke();
    Ok(pair)
}

#[tauri::command]
pub async fn rename_pair(
    console: State<'_, Console>,
    watch: State<'_, Watch>,
    pair: String,
    name: String,
) -> Result<PairEntry> {
    let pair = console.rename_pair(&pair, &name).await.map_err(view)?;
    watch.poke();
    Ok(pair)
}

#[tauri::command]
pub async fn remove_pair(console: State<'_, Console>, watch: State<'_, Watch>, pair: String) -> Result<()> {
    console.remove_pair(&pair).await.map_err(view)?;
    watch.poke();
    Ok(())
}

/// The dashboard's first snapshot: the poller's latest, or a fresh one if it has none yet.
#[tauri::command]
pub async fn overview(console: State<'_, Console>, watch: State<'_, Watch>) -> Result<Overview> {
    match watch.latest() {
        Some(o) => Ok(o),
        None => console.overview().await.map_err(view),
    }
}

#[tauri::command]
pub async fn office_events(console: State<'_, Console>, office: String, limit: u32) -> Result<OfficeEvents> {
    console.office_events(&office, limit).await.map_err(view)
}

#[tauri::command]
pub async fn restore_quarantined(
    console: State<'_, Console>,
    id: String,
    file: i64,
    replace: bool,
) -> Result<QuarantineList> {
    console
        .restore_quarantined(&id, &RestoreRequest { id: file, replace })
        .await
        .map_err(view)
}

/// Saves `contents` where the manager picks in the native save dialog. `None`: cancelled.
#[tauri::command]
pub async fn save_file(window: tauri::WebviewWindow, name: String, contents: String) -> Result<Option<String>> {
    crate::save::save(&window, &name, contents.as_bytes()).await
}

/// Like `save_file`, for binary data (a graph's PNG) sent as base64.
#[tauri::command]
pub async fn save_png(window: tauri::WebviewWindow, name: String, base64: String) -> Result<Option<String>> {
    let bytes = crate::save::from_base64(&base64)?;
    crate::save::save(&window, &name, &bytes).await
}
