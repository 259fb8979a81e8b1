//! The `#[tauri::command]` functions the front end invokes. Each is one call into
//! `lbs_console_core::Console`; errors become `{kind, message}` for the UI. A command that
//! changes something also makes the poller read again, so the dashboard shows it at once.

use lbs_console_core::autopilot::AutopilotDone;
use lbs_console_core::events::OfficeEvents;
use lbs_console_core::health::OfficeHealth;
use lbs_console_core::maintenance::{MaintenanceDone, MaintenanceLength};
use lbs_console_core::overview::Overview;
use lbs_console_core::pair::{Assessment, Confirmation};
use lbs_console_core::view::{AddedServer, ConsoleError, MachineSeries, PairEntry, ProbeResult, ServerEntry};
use lbs_console_core::Console;
use lbs_protocol::{FailoverStatus, HistoryQuery, HistoryResponse, QuarantineList, RestoreRequest, RoleChange};
use tauri::State;

use crate::watch::Watch;

pub type Result<T> = std::result::Result<T, ConsoleError>;

fn view(e: lbs_console_core::Error) -> ConsoleError {
    e.to_view()
}

/// The answer of a command that may have changed something (even if it failed halfway):
/// the poller reads again.
fn changed<T>(watch: &Watch, answer: std::result::Result<T, lbs_console_core::Error>) -> Result<T> {
    watch.poke();
    answer.map_err(view)
}

/// The answer of a command that adds a server: the poller reads again, and the new server's
/// history is copied now.
fn added(watch: &Watch, answer: std::result::Result<ServerEntry, lbs_console_core::Error>) -> Result<ServerEntry> {
    watch.poke_added();
    answer.map_err(view)
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
pub async fn add_server_link(
    console: State<'_, Console>,
    watch: State<'_, Watch>,
    link: String,
    office: Option<String>,
) -> Result<AddedServer> {
    let answer = console.add_office_by_link(&link, office.as_deref()).await;
    watch.poke_added();
    answer.map_err(view)
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
    let answer = console
        .add_manual(&address, &token, &fingerprint, office.as_deref())
        .await;
    added(&watch, answer)
}

#[tauri::command]
pub async fn rename_pair(
    console: State<'_, Console>,
    watch: State<'_, Watch>,
    pair: String,
    name: String,
) -> Result<PairEntry> {
    changed(&watch, console.rename_pair(&pair, &name).await)
}

#[tauri::command]
pub async fn remove_pair(console: State<'_, Console>, watch: State<'_, Watch>, pair: String) -> Result<()> {
    changed(&watch, console.remove_pair(&pair).await)
}

/// A machine's series (by server ID): from the machine, or this computer's copy of its history.
#[tauri::command]
pub async fn metrics_series(console: State<'_, Console>, machine: String) -> Result<MachineSeries> {
    console.machine_series(&machine).await.map_err(view)
}

#[tauri::command]
pub async fn metrics_history(
    console: State<'_, Console>,
    machine: String,
    series: String,
    from: i64,
    to: i64,
    points: u32,
) -> Result<HistoryResponse> {
    let query = HistoryQuery {
        series,
        from,
        to,
        points,
    };
    console.machine_history(&machine, &query).await.map_err(view)
}

/// Takes one server out of its office (a box being replaced); its history stays.
#[tauri::command]
pub async fn remove_server(console: State<'_, Console>, watch: State<'_, Watch>, id: String) -> Result<()> {
    changed(&watch, console.remove_server(&id).await)
}

#[tauri::command]
pub async fn change_address(
    console: State<'_, Console>,
    watch: State<'_, Watch>,
    id: String,
    address: String,
) -> Result<ServerEntry> {
    changed(&watch, console.change_address(&id, &address).await)
}

/// Replaces a server's access token; the same machine must accept the new one.
#[tauri::command]
pub async fn change_token(
    console: State<'_, Console>,
    watch: State<'_, Watch>,
    id: String,
    token: String,
) -> Result<()> {
    changed(&watch, console.change_token(&id, &token).await)
}

/// Deletes a replaced machine's history from this computer.
#[tauri::command]
pub async fn forget_former(console: State<'_, Console>, watch: State<'_, Watch>, machine: String) -> Result<()> {
    changed(&watch, console.forget_former(&machine).await)
}

#[tauri::command]
pub async fn failover_status(console: State<'_, Console>, id: String) -> Result<FailoverStatus> {
    console.failover(&id).await.map_err(view)
}

#[tauri::command]
pub async fn office_events(console: State<'_, Console>, office: String, limit: u32) -> Result<OfficeEvents> {
    console.office_events(&office, limit).await.map_err(view)
}

#[tauri::command]
pub async fn office_health(console: State<'_, Console>, office: String) -> Result<OfficeHealth> {
    console.office_health(&office).await.map_err(view)
}

#[tauri::command]
pub async fn quarantine_list(console: State<'_, Console>, id: String) -> Result<QuarantineList> {
    console.quarantine(&id).await.map_err(view)
}

#[tauri::command]
pub async fn restore_quarantined(
    console: State<'_, Console>,
    watch: State<'_, Watch>,
    id: String,
    file: i64,
    replace: bool,
) -> Result<QuarantineList> {
    let request = RestoreRequest { id: file, replace };
    changed(&watch, console.restore_quarantined(&id, &request).await)
}

#[tauri::command]
pub async fn trash_list(console: State<'_, Console>, id: String) -> Result<lbs_protocol::TrashList> {
    console.trash_list(&id).await.map_err(view)
}

/// Puts `entry` from the trash of server `id` back on the primary.
#[tauri::command]
pub async fn restore_trash(
    console: State<'_, Console>,
    watch: State<'_, Watch>,
    id: String,
    entry: lbs_protocol::TrashEntry,
    replace: bool,
) -> Result<lbs_protocol::TrashRestored> {
    changed(&watch, console.restore_trash(&id, &entry, replace).await)
}

#[tauri::command]
pub async fn failover_assess(console: State<'_, Console>, primary: String, backup: String) -> Result<Assessment> {
    console.assess(&primary, &backup).await.map_err(view)
}

/// The wizard's last step; the guards are checked again in `Console::fail_over`.
#[tauri::command]
pub async fn failover_run(
    console: State<'_, Console>,
    watch: State<'_, Watch>,
    primary: String,
    backup: String,
    confirmation: Confirmation,
) -> Result<RoleChange> {
    changed(&watch, console.fail_over(&primary, &backup, &confirmation).await)
}

/// Maintenance for the office from now, through one of its servers (which tells its partner).
#[tauri::command]
pub async fn maintenance_start(
    console: State<'_, Console>,
    watch: State<'_, Watch>,
    office: String,
    length: MaintenanceLength,
    reason: String,
    by: Option<String>,
) -> Result<MaintenanceDone> {
    changed(
        &watch,
        console.start_maintenance(&office, length, &reason, by.as_deref()).await,
    )
}

#[tauri::command]
pub async fn maintenance_end(
    console: State<'_, Console>,
    watch: State<'_, Watch>,
    office: String,
    by: Option<String>,
) -> Result<MaintenanceDone> {
    changed(&watch, console.end_maintenance(&office, by.as_deref()).await)
}

/// Switches automatic failover on or off for the office, through one of its servers (which tells
/// its partner); `reason` is required to switch it off.
#[tauri::command]
pub async fn autopilot_set(
    console: State<'_, Console>,
    watch: State<'_, Watch>,
    office: String,
    on: bool,
    reason: Option<String>,
    by: Option<String>,
) -> Result<AutopilotDone> {
    changed(
        &watch,
        console
            .set_autopilot(&office, on, reason.as_deref(), by.as_deref())
            .await,
    )
}

/// Saves `contents` where the manager picks in the native save dialog. `None`: cancelled.
#[tauri::command]
pub async fn save_file(window: tauri::WebviewWindow, name: String, contents: Vec<u8>) -> Result<Option<String>> {
    crate::save::save(&window, &name, &contents).await
}
