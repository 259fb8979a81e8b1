//! Access tokens: creation, lookup, revocation. Stored hashed in the agent's SQLite database.
//!
//! A token is `lbs_<id>_<secret>`: the id names it (for listing and revoking), the 256-bit secret
//! authenticates. Only SHA-256 of the whole token is stored: the secret has full entropy, so a
//! slow password hash would add nothing. Tokens never reach a log: they are not `Debug`.

use base64::Engine;
use lbs_protocol::{TokenCreated, TokenInfo, TokenRole};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TokenError {
    #[error("no token with id `{0}`")]
    NotFound(String),
    #[error("the label may be at most {MAX_LABEL} characters")]
    LabelTooLong,
    #[error("the token database failed: {0}")]
    Db(#[from] sqlx::Error),
}

/// The longest label a token may have.
pub const MAX_LABEL: usize = 200;

#[derive(Clone)]
pub struct TokenStore {
    pool: SqlitePool,
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: String,
    pub role: TokenRole,
    pub label: String,
}

impl Principal {
    /// The token's name for a person: its label, or its id when it has none.
    pub fn name(&self) -> String {
        if self.label.is_empty() {
            format!("token {}", self.token_id)
        } else {
            self.label.clone()
        }
    }

    /// Who asked, for the audit log: the token's id and label (never its secret).
    pub fn actor(&self) -> String {
        if self.label.is_empty() {
            format!("token {}", self.token_id)
        } else {
            format!("token {} ({})", self.token_id, self.label)
        }
    }
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl TokenStore {
    pub fn new(pool: SqlitePool) -> Self {
        TokenStore { pool }
    }

    pub async fn create(&self, role: TokenRole, label: &str) -> Result<TokenCreated, TokenError> {
        if label.chars().count() > MAX_LABEL {
            return Err(TokenError::LabelTooLong);
        }
        let mut rng = rand::rngs::OsRng;
        let mut id_bytes = [0u8; 4];
        rng.fill_bytes(&mut id_bytes);
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let id = hex::encode(id_bytes);
        let token = format!(
            "lbs_{id}_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let now = crate::clock::now_unix();
        sqlx::query("INSERT INTO tokens (id, role, label, hash, created_unix) VALUES (?, ?, ?, ?, ?)")
            .bind(&id)
            .bind(role.to_string())
            .bind(label)
            .bind(hash(&token))
            .bind(now)
            .execute(&self.pool)
            .await?;
        let info = TokenInfo {
            id,
            role,
            label: label.to_owned(),
            created_unix: now,
            last_used_unix: None,
        };
        Ok(TokenCreated { info, token })
    }

    /// The principal for a presented token, if it is known and not revoked.
    pub async fn verify(&self, token: &str) -> Result<Option<Principal>, TokenError> {
        let row: Option<(String, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT id, role, label, last_used_unix FROM tokens WHERE hash = ? AND revoked_unix IS NULL",
        )
        .bind(hash(token))
        .fetch_optional(&self.pool)
        .await?;
        let Some((token_id, role, label, last_used)) = row else {
            return Ok(None);
        };
        let Ok(role) = role.parse() else { return Ok(None) };
        let now = crate::clock::now_unix();
        // Record use at most once a minute: a write per request would be wasted I/O.
        if last_used.is_none_or(|t| now - t >= 60) {
            sqlx::query("UPDATE tokens SET last_used_unix = ? WHERE id = ?")
                .bind(now)
                .bind(&token_id)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(Principal { token_id, role, label }))
    }

    pub async fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        let rows: Vec<(String, String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, role, label, created_unix, last_used_unix FROM tokens WHERE revoked_unix IS NULL ORDER BY created_unix, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, role, label, created_unix, last_used_unix)| {
                Some(TokenInfo {
                    id,
                    role: role.parse().ok()?,
                    label,
                    created_unix,
                    last_used_unix,
                })
            })
            .collect())
    }

    pub async fn revoke(&self, id: &str) -> Result<(), TokenError> {
        let done = sqlx::query("UPDATE tokens SET revoked_unix = ? WHERE id = ? AND revoked_unix IS NULL")
            .bind(crate::clock::now_unix())
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(TokenError::NotFound(id.to_owned()));
        }
        Ok(())
    }
}

impl From<TokenError> for crate::refusal::Refusal {
    fn from(e: TokenError) -> crate::refusal::Refusal {
        match e {
            TokenError::NotFound(id) => crate::refusal::Refusal::not_found(format!("no active token with id `{id}`")),
            e @ TokenError::LabelTooLong => crate::refusal::Refusal::bad_request(e.to_string()),
            other => crate::refusal::Refusal::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, TokenStore) {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::open(&dir.path().join("agent.db")).await.unwrap();
        (dir, TokenStore::new(pool))
    }

    #[tokio::test]
    async fn created_tokens_verify_with_their_role_and_are_stored_hashed() {
        let (dir, store) = store().await;
        let admin = store.create(TokenRole::Admin, "first").await.unwrap();
        let viewer = store.create(TokenRole::Viewer, "wallboard").await.unwrap();
        assert_eq!(
            store.verify(&admin.token).await.unwrap().unwrap().role,
            TokenRole::Admin
        );
        assert_eq!(
            store.verify(&viewer.token).await.unwrap().unwrap().role,
            TokenRole::Viewer
        );
        assert!(store.verify("lbs_00000000_guess").await.unwrap().is_none());
        let db = std::fs::read(dir.path().join("agent.db")).unwrap();
        let secret = admin.token.rsplit('_').next().unwrap();
        assert!(
            !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "secret stored in clear"
        );
    }

    #[tokio::test]
    async fn revoked_tokens_stop_working() {
        let (_dir, store) = store().await;
        let t = store.create(TokenRole::Admin, "x").await.unwrap();
        store.revoke(&t.info.id).await.unwrap();
        assert!(store.verify(&t.token).await.unwrap().is_none());
        assert!(store.list().await.unwrap().is_empty());
        assert!(matches!(store.revoke(&t.info.id).await, Err(TokenError::NotFound(_))));
    }
}
