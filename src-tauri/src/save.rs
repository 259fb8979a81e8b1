//! Saving a report, a CSV or a graph where the manager chooses, through the platform's own save
//! dialog (`rfd`). The file is written here, in Rust: the window gets no file-system access.

use base64::Engine;
use lbs_console_core::view::{ConsoleError, ErrorKind};

use crate::commands::Result;

fn error(kind: ErrorKind, message: String) -> ConsoleError {
    ConsoleError { kind, message }
}

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
    tokio::fs::write(&path, bytes).await.map_err(|e| {
        error(
            ErrorKind::Storage,
            format!(
                "Could not save {}: {e}. Choose a folder you can write to, with free space.",
                path.display()
            ),
        )
    })?;
    tracing::info!(path = %path.display(), bytes = bytes.len(), "saved");
    Ok(Some(path.display().to_string()))
}

pub fn from_base64(text: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| error(ErrorKind::InvalidInput, format!("The image to save is damaged ({e}).")))
}
