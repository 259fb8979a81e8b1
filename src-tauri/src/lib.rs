//! LBS Console, the Tauri shell: opens the console's store, registers the commands, and adds any
//! servers given as `--connect <link>` on the command line. All logic is in `lbs-console-core`.

mod commands;

use std::path::PathBuf;

use lbs_console_core::{Console, Credentials};
use tauri::Manager;

/// Where the console keeps its database: `LBS_CONSOLE_DATA_DIR` if set (tests, demo), else the
/// platform's app-data directory.
fn data_dir(app: &tauri::App) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("LBS_CONSOLE_DATA_DIR") {
        return Ok(PathBuf::from(dir));
    }
    app.path()
        .app_data_dir()
        .map_err(|e| format!("no data directory for the console: {e}"))
}

/// Connection links passed as `--connect LINK` (repeatable), e.g. by the demo or an installer.
fn links_from_args() -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .filter(|w| w[0] == "--connect")
        .map(|w| w[1].clone())
        .collect()
}

pub fn run() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .try_init();
    let result = tauri::Builder::default()
        .setup(|app| {
            let db = data_dir(app)?.join("console.db");
            let credentials = match std::env::var("LBS_CONSOLE_KEYRING_SERVICE") {
                Ok(service) => Credentials::with_service(&service),
                Err(_) => Credentials::default(),
            };
            let console = tauri::async_runtime::block_on(Console::open(&db, credentials)).map_err(|e| e.to_string())?;
            for link in links_from_args() {
                match tauri::async_runtime::block_on(console.add_by_link(&link)) {
                    Ok(entry) => tracing::info!(name = %entry.name, "added from --connect"),
                    Err(lbs_console_core::Error::AlreadyAdded { .. }) => {}
                    Err(e) => tracing::warn!(error = %e, "could not add a server from --connect"),
                }
            }
            app.manage(console);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::list_servers,
            commands::add_server_link,
            commands::probe_server,
            commands::add_server_manual,
            commands::remove_server,
            commands::server_status,
            commands::metrics_series,
            commands::metrics_history,
            commands::sync_status,
            commands::failover_status,
            commands::server_events,
            commands::quarantine_list,
            commands::pair_state,
            commands::failover_assess,
            commands::failover_run,
            commands::list_pairs,
            commands::create_pair,
            commands::add_to_pair,
            commands::rename_pair,
            commands::remove_pair,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("LBS Console could not start: {e}");
        std::process::exit(1);
    }
}
