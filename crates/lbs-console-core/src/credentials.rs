//! Access tokens in the OS keyring (Secret Service on Linux, Credential Manager on Windows,
//! Keychain on macOS). Tokens never touch the console's own files.
//!
//! The `keyring` calls block (D-Bus round trips), so they run on tokio's blocking pool.

use crate::error::Error;

/// Keyring service name under which every token is filed; the entry's user is the server's
/// console id.
pub const SERVICE: &str = "lbs-console";

#[derive(Debug, Clone)]
pub struct Credentials {
    service: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            service: SERVICE.into(),
        }
    }
}

impl Credentials {
    /// A separate namespace, so tests never touch a user's real entries.
    pub fn with_service(service: &str) -> Self {
        Credentials {
            service: service.into(),
        }
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
        let token = token.to_owned();
        self.blocking("store", id, move |entry| entry.set_password(&token))
            .await
    }

    pub async fn load(&self, id: &str) -> Result<String, Error> {
        self.blocking("find", id, |entry| entry.get_password()).await
    }

    /// Removes the entry; an entry that is already gone is not an error.
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        self.blocking("remove", id, |entry| match entry.delete_credential() {
            Err(keyring::Error::NoEntry) => Ok(()),
            other => other,
        })
        .await
    }
}
