//! LBS Console, the Tauri shell: opens the console's store, registers the commands, and adds any
//! servers given as `--connect <link>` on the command line. All logic is in `lbs-console-core`.
//! One console runs per data directory: starting it again shows the running one's window.

mod autostart;
mod background;
mod commands;
mod save;
mod watch;

use std::path::PathBuf;

use lbs_console_core::{Console, Credentials};
use tauri::menu::{Menu, MenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
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
fn links_in(args: &[String]) -> Vec<String> {
    args.windows(2)
        .filter(|w| w[0] == "--connect")
        .map(|w| w[1].clone())
        .collect()
}

/// Adds the servers of `--connect` links to the console.
async fn connect(console: &Console, links: Vec<String>) {
    for link in links {
        match console.add_by_link(&link, None).await {
            Ok(entry) => tracing::info!(name = %entry.name, "added from --connect"),
            Err(lbs_console_core::Error::AlreadyAdded { .. }) => {}
            Err(e) => tracing::warn!(error = %e, "could not add a server from --connect"),
        }
    }
}

/// The console started again while it runs: its window comes forward, and the new start's
/// `--connect` links are added here.
fn started_again(app: &tauri::AppHandle, args: Vec<String>) {
    tracing::info!("started again: showing the running console");
    show_window(app);
    let links = links_in(&args);
    if !links.is_empty() {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            connect(&app.state::<Console>(), links).await;
            app.state::<watch::Watch>().poke_added();
        });
    }
}

/// One console per data directory (a test's or the demo's own directory is another console).
fn single_instance() -> tauri::plugin::TauriPlugin<tauri::Wry> {
    let builder = tauri_plugin_single_instance::Builder::new().callback(|app, args, _cwd| started_again(app, args));
    match std::env::var_os("LBS_CONSOLE_DATA_DIR") {
        Some(dir) => {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            dir.hash(&mut h);
            builder.dbus_id(format!("com.lbs.console.d{:016x}", h.finish())).build()
        }
        None => builder.build(),
    }
}

pub(crate) fn show_window(app: &tauri::AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

/// The tray icon: its colour is the worst office's state (set by the poller); a click opens the
/// window.
fn tray(app: &tauri::App) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open LBS Console", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &quit])?;
    TrayIconBuilder::with_id(watch::TRAY_ID)
        .icon(tauri::image::Image::from_bytes(include_bytes!(
            "../../icons/tray-at-risk.png"
        ))?)
        .tooltip("LBS Console")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "open" => show_window(app),
            "quit" => app.exit(0),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                show_window(tray.app_handle());
            }
        })
        .build(app)?;
    Ok(())
}

pub fn run() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .try_init();
    let result = tauri::Builder::default()
        // First: a second start hands over to the running console before anything else runs.
        .plugin(single_instance())
        .plugin(tauri_plugin_notification::init())
        .plugin(autostart::plugin())
        .setup(|app| {
            let db = data_dir(app)?.join("console.db");
            let credentials = match std::env::var("LBS_CONSOLE_KEYRING_SERVICE") {
                Ok(service) => Credentials::with_service(&service),
                Err(_) => Credentials::default(),
            };
            let console = tauri::async_runtime::block_on(Console::open(&db, credentials)).map_err(|e| e.to_string())?;
            let args: Vec<String> = std::env::args().collect();
            tauri::async_runtime::block_on(connect(&console, links_in(&args)));
            app.manage(console);
            app.manage(watch::Watch::default());
            let tray_built = match tray(app) {
                Ok(()) => true,
                Err(e) => {
                    // No tray on this desktop: the window and notifications still say it all,
                    // and closing the window quits.
                    tracing::warn!(error = %e, "no tray icon");
                    false
                }
            };
            app.manage(background::Background::new(tray_built));
            background::show_at_start(app.handle());
            watch::start(app.handle().clone());
            Ok(())
        })
        .on_window_event(background::on_window_event)
        .invoke_handler(tauri::generate_handler![
            commands::overview,
            commands::add_server_link,
            commands::probe_server,
            commands::add_server_manual,
            commands::rename_pair,
            commands::remove_pair,
            commands::metrics_series,
            commands::metrics_history,
            commands::remove_server,
            commands::change_address,
            commands::change_token,
            commands::forget_former,
            commands::failover_status,
            commands::office_events,
            commands::office_health,
            commands::quarantine_list,
            commands::restore_quarantined,
            commands::trash_list,
            commands::restore_trash,
            commands::failover_assess,
            commands::failover_run,
            commands::maintenance_start,
            commands::maintenance_end,
            commands::autopilot_set,
            commands::save_file,
            autostart::start_at_login,
            autostart::set_start_at_login,
        ])
        .build(tauri::generate_context!());
    match result {
        Ok(app) => app.run(|_app, _event| {
            // macOS: a click on the Dock icon brings a window closed to the menu bar back.
            #[cfg(target_os = "macos")]
            if let tauri::RunEvent::Reopen { .. } = _event {
                show_window(_app);
            }
        }),
        Err(e) => {
            eprintln!("LBS Console could not start: {e}");
            std::process::exit(1);
        }
    }
}
