//! "Start LBS Console when I log in": a login item written by `tauri-plugin-autostart` (an XDG
//! autostart `.desktop` file on Linux, a launch agent on macOS, a Run registry value on Windows),
//! starting the console with `--background` so it opens in the tray.

use lbs_console_core::view::{ConsoleError, ErrorKind};
use tauri::plugin::TauriPlugin;
use tauri::AppHandle;
use tauri_plugin_autostart::ManagerExt;

use crate::background::BACKGROUND_ARG;
use crate::commands::Result;

pub fn plugin() -> TauriPlugin<tauri::Wry> {
    tauri_plugin_autostart::Builder::new().arg(BACKGROUND_ARG).build()
}

fn failed(what: &str, e: impl std::fmt::Display) -> ConsoleError {
    ConsoleError {
        kind: ErrorKind::Storage,
        message: format!(
            "Could not {what}: {e}. Check that your account may change its login items (on Linux, that ~/.config/autostart can be written), then try again."
        ),
    }
}

/// Whether the console starts when the manager logs in.
#[tauri::command]
pub async fn start_at_login(app: AppHandle) -> Result<bool> {
    app.autolaunch()
        .is_enabled()
        .map_err(|e| failed("read whether LBS Console starts at login", e))
}

/// Switches starting at login on or off; answers the setting as it now stands.
#[tauri::command]
pub async fn set_start_at_login(app: AppHandle, on: bool) -> Result<bool> {
    let manager = app.autolaunch();
    let done = if on { manager.enable() } else { manager.disable() };
    done.map_err(|e| {
        failed(
            if on {
                "make LBS Console start at login"
            } else {
                "stop LBS Console starting at login"
            },
            e,
        )
    })?;
    tracing::info!(on, "start at login");
    manager
        .is_enabled()
        .map_err(|e| failed("read whether LBS Console starts at login", e))
}
