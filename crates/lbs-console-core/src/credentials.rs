//! Access tokens in the OS keyring (Secret Service on Linux, Credential Manager on Windows,
//! Keychain on macOS). Tokens never touch the console's own files.
//!
//! The `keyring` calls block (D-Bus round trips), so they run on tokio's blocking pool. A read
//! costs tens of milliseconds on Linux (a new Secret Service session each time: 68 ms measured
//! under gnome-keyring), and every call to an agent needs its token, so a token read once is kept
//! in memory for the life of the app. Storing or deleting goes through to the keyring first. A
//! token removed from the keyring by another program is still used until the console restarts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::Error;

/// Keyring service name under which every token is filed; the entry's user is the server's
/// console id.
pub const SERVICE: &str = "lbs-console";

/// Cheap to clone: clones share the tokens already read.
#[derive(Clone)]
pub struct Credentials {
    service: String,
    read: Arc<Mutex<HashMap<String, String>>>,
}

/// Names the service only: the tokens must never reach a log.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials::with_service(SERVICE)
    }
}

impl Credentials {
    /// Tokens filed under another service name (tests, or a second console on one account).
    pub fn with_service(service: &str) -> Self {
        Credentials {
            service: service.into(),
            read: Arc::default(),
        }
    }

    /// The tokens already read; a poisoned lock only means a panic elsewhere, the map is whole.
    fn read(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.read.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        action: &'static str,
        id: &str,
        f: impl FnOnce(keyring::Entry) -> keyring::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        let service = self.service.clone();
        let id = id.to_owned();
        tokio::task::spawn_blocking(move || keyring::Entry::new(&service, &id).and_then(f))
            .await
            .map_err(|e| Error::Keyring {
                action,
                detail: e.to_string(),
            })?
            .map_err(|e| Error::Keyring {
                action,
                detail: e.to_string(),
            })
    }

    pub async fn store(&self, id: &str, token: &str) -> Result<(), Error> {
        let owned = token.to_owned();
        self.blocking("store", id, move |entry| entry.set_password(&owned))
            .await?;
        self.read().insert(id.to_owned(), token.to_owned());
        Ok(())
    }

    pub async fn load(&self, id: &str) -> Result<String, Error> {
        if let Some(token) = self.read().get(id) {
            return Ok(token.clone());
        }
        let token = self.blocking("find", id, |entry| entry.get_password()).await?;
        self.read().insert(id.to_owned(), token.clone());
        Ok(token)
    }

    /// Removes the entry; an entry that is already gone is not an error.
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        self.read().remove(id);
        let deleted = self
            .blocking("remove", id, |entry| match entry.delete_credential() {
                Err(keyring::Error::NoEntry) => Ok(()),
                other => other,
            })
            .await;
        // Again: a read that was under way when the entry went may have just kept it.
        self.read().remove(id);
        deleted
    }
}

#[cfg(test)]
mod tests {
    use super::Credentials;

    #[test]
    fn debug_output_never_shows_a_token() {
        let c = Credentials::with_service("lbs-test");
        c.read().insert("server-1".into(), "s3cret-token".into());
        let shown = format!("{c:?}");
        assert!(shown.contains("lbs-test") && !shown.contains("s3cret"), "{shown}");
    }
}
