//! Saving a report where the manager chooses, through the platform's own save dialog
//! (`rfd`). The file is written here, in Rust: the window gets no file-system access.

use lbs_console_core::view::{ConsoleError, ErrorKind};

use crate::commands::Result;

/// Asks where to save `name`, then writes it. `None`: the manager cancelled.
pub async fn save(window: &tauri::WebviewWindow, name: &str, bytes: &[u8]) -> Result<Option<String>> {
    let Some(file) = rfd::AsyncFileDialog::new()
        .set_title("Save")
        .set_file_name(name)
        .set_parent(window)
        .save_file()
        .await
    else {
        return Ok(None);
    };
    let path = file.path().to_owned();
    tokio::fs::write(&path, bytes).await.map_err(|e| ConsoleError {
        kind: ErrorKind::Storage,
        message: format!(
            "Could not save {}: {e}. Choose a folder you can write to, with free space.",
            path.display()
        ),
    })?;
    tracing::info!(path = %path.display(), bytes = bytes.len(), "saved");
    Ok(Some(path.display().to_string()))
}
