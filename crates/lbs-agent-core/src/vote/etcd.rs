//! A small etcd v3 client over etcd's JSON gateway (`POST /v3/...` on the client port): the few
//! calls the vote needs, over TLS with this box's client certificate. The gateway ships with
//! every etcd 3.4 and spares the agent a gRPC stack; its JSON carries 64-bit numbers as strings
//! and keys and values in base64.
//!
//! Every call goes to one member; [`super::Vote`] picks which and moves on when one is out of
//! reach. A read or a write needs the member to reach a majority (etcd's own rule): a member cut
//! off from the others answers with an error or not at all, never with a stale "yes".

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EtcdError {
    /// No answer: refused, reset, timed out, TLS failed.
    #[error("does not answer ({0})")]
    Silent(String),
    /// It answered with an error (no leader, no quorum, a bad request).
    #[error("answered with an error: {0}")]
    Refused(String),
    #[error("sent an answer that could not be read ({0})")]
    Unreadable(String),
}

/// A key as etcd keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub value: Vec<u8>,
    pub lease: i64,
    pub mod_revision: i64,
}

/// The answer to a compare-and-create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The key did not exist; it holds our value now.
    Won,
    /// It exists: here it is.
    Taken(KeyValue),
}

/// Calls on one member, `https://host:port`.
pub(super) struct Member<'a> {
    pub client: &'a reqwest::Client,
    pub endpoint: &'a str,
    pub timeout: Duration,
}

fn num(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// Member IDs are unsigned 64-bit and often above `i64::MAX`.
fn member_id(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

#[derive(Deserialize)]
struct RawKv {
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    lease: Value,
    #[serde(default)]
    mod_revision: Value,
}

impl RawKv {
    fn decode(self) -> Result<KeyValue, EtcdError> {
        let value = match self.value {
            Some(v) => B64
                .decode(v)
                .map_err(|e| EtcdError::Unreadable(format!("a value is not base64: {e}")))?,
            None => Vec::new(),
        };
        Ok(KeyValue {
            value,
            lease: num(&self.lease),
            mod_revision: num(&self.mod_revision),
        })
    }
}

fn first_kv(kvs: Option<&Value>) -> Result<Option<KeyValue>, EtcdError> {
    let Some(first) = kvs.and_then(|k| k.as_array()).and_then(|a| a.first()) else {
        return Ok(None);
    };
    let raw: RawKv = serde_json::from_value(first.clone()).map_err(|e| EtcdError::Unreadable(e.to_string()))?;
    raw.decode().map(Some)
}

/// Why a member did not answer, in the few words the office manager reads beside it
/// ("connection refused", "no answer within 2 s"): the first cause that says it plainly, else
/// the innermost one (not the client's whole chain, which names the URL and the library).
fn silent(e: &reqwest::Error, timeout: Duration) -> EtcdError {
    use std::io::ErrorKind;
    let within = || {
        let ms = timeout.as_millis();
        if ms.is_multiple_of(1000) {
            format!("no answer within {} s", ms / 1000)
        } else {
            format!("no answer within {:.1} s", timeout.as_secs_f64())
        }
    };
    if e.is_timeout() {
        return EtcdError::Silent(within());
    }
    let mut innermost = e.to_string();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            let plain = match io.kind() {
                ErrorKind::ConnectionRefused => Some("connection refused".to_owned()),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => Some("the connection was cut".to_owned()),
                ErrorKind::TimedOut => Some(within()),
                ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => Some("no route to it".to_owned()),
                _ => None,
            };
            if let Some(plain) = plain {
                return EtcdError::Silent(plain);
            }
        }
        if let Some(tls) = c.downcast_ref::<rustls::Error>() {
            return EtcdError::Silent(format!("the TLS handshake failed ({tls})"));
        }
        innermost = c.to_string();
        cause = c.source();
    }
    EtcdError::Silent(innermost)
}

impl Member<'_> {
    async fn call(&self, path: &str, body: Value) -> Result<Value, EtcdError> {
        let url = format!("{}{path}", self.endpoint);
        let response = self
            .client
            .post(&url)
            .json(&body)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| silent(&e, self.timeout))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| silent(&e, self.timeout))?;
        let value: Value = serde_json::from_str(&text).map_err(|_| {
            if status.is_success() {
                EtcdError::Unreadable(crate::command::tail(&text, 200))
            } else {
                EtcdError::Refused(format!("HTTP {status}: {}", crate::command::tail(&text, 200)))
            }
        })?;
        // The gateway wraps a streamed answer (keepalive) in "result", and reports errors as
        // {"error": "...", "code": n} or {"message": "..."}.
        // A streamed error comes as {"error": {"grpc_code": …, "message": "…"}}.
        let value = value.get("result").cloned().unwrap_or(value);
        let error = match value.get("error").or_else(|| value.get("message")) {
            Some(Value::String(e)) if !e.is_empty() => Some(e.clone()),
            Some(Value::Object(o)) => Some(
                o.get("message")
                    .and_then(|m| m.as_str())
                    .map_or_else(|| Value::Object(o.clone()).to_string(), str::to_owned),
            ),
            _ => None,
        };
        if let Some(error) = error {
            return Err(EtcdError::Refused(error));
        }
        if !status.is_success() {
            return Err(EtcdError::Refused(format!("HTTP {status}")));
        }
        Ok(value)
    }

    /// A new lease of `ttl` seconds; etcd may grant a longer one (never shorter).
    pub async fn grant(&self, ttl: u64) -> Result<(i64, u64), EtcdError> {
        let v = self.call("/v3/lease/grant", json!({ "TTL": ttl })).await?;
        let id = num(&v["ID"]);
        if id == 0 {
            return Err(EtcdError::Unreadable("a lease without an ID".into()));
        }
        Ok((id, num(&v["TTL"]).max(0) as u64))
    }

    /// Renews a lease: `Some(ttl)` while it lives, `None` once it has expired or was revoked.
    pub async fn keep_alive(&self, lease: i64) -> Result<Option<u64>, EtcdError> {
        let v = self
            .call("/v3/lease/keepalive", json!({ "ID": lease.to_string() }))
            .await?;
        let ttl = num(&v["TTL"]);
        Ok((ttl > 0).then_some(ttl as u64))
    }

    pub async fn revoke(&self, lease: i64) -> Result<(), EtcdError> {
        match self.call("/v3/lease/revoke", json!({ "ID": lease.to_string() })).await {
            Ok(_) => Ok(()),
            // Gone already: the same outcome.
            Err(EtcdError::Refused(e)) if e.contains("not found") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reads a key (linearizable: the member must reach a majority).
    pub async fn get(&self, key: &str) -> Result<Option<KeyValue>, EtcdError> {
        let v = self.call("/v3/kv/range", json!({ "key": b64(key.as_bytes()) })).await?;
        first_kv(v.get("kvs"))
    }

    /// Writes `value` at `key` only if the key does not exist; otherwise answers what is there.
    pub async fn create(&self, key: &str, value: &[u8], lease: i64) -> Result<Created, EtcdError> {
        let k = b64(key.as_bytes());
        let v = self
            .call(
                "/v3/kv/txn",
                json!({
                    "compare": [{ "key": k, "target": "CREATE", "result": "EQUAL", "create_revision": "0" }],
                    "success": [{ "request_put": { "key": k, "value": b64(value), "lease": lease.to_string() } }],
                    "failure": [{ "request_range": { "key": k } }],
                }),
            )
            .await?;
        if v.get("succeeded").and_then(|s| s.as_bool()).unwrap_or(false) {
            return Ok(Created::Won);
        }
        let kvs = v
            .get("responses")
            .and_then(|r| r.as_array())
            .and_then(|r| r.first())
            .and_then(|r| r.get("response_range"))
            .and_then(|r| r.get("kvs"));
        match first_kv(kvs)? {
            Some(kv) => Ok(Created::Taken(kv)),
            // Deleted between the compare and the range: it can be tried again.
            None => Err(EtcdError::Refused(
                "the key changed while it was being created; try again".into(),
            )),
        }
    }

    /// Writes `value` at `key` only if its last change is still `mod_revision` (a takeover of a
    /// key this box held under an older lease). `false`: it changed meanwhile.
    pub async fn replace(&self, key: &str, value: &[u8], lease: i64, mod_revision: i64) -> Result<bool, EtcdError> {
        let k = b64(key.as_bytes());
        let v = self
            .call(
                "/v3/kv/txn",
                json!({
                    "compare": [{ "key": k, "target": "MOD", "result": "EQUAL", "mod_revision": mod_revision.to_string() }],
                    "success": [{ "request_put": { "key": k, "value": b64(value), "lease": lease.to_string() } }],
                }),
            )
            .await?;
        Ok(v.get("succeeded").and_then(|s| s.as_bool()).unwrap_or(false))
    }

    /// Writes a key with no lease (the record of the last automatic failover).
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<(), EtcdError> {
        self.call("/v3/kv/put", json!({ "key": b64(key.as_bytes()), "value": b64(value) }))
            .await
            .map(|_| ())
    }

    /// Whether the member itself answers (no majority needed): for the status of each member.
    pub async fn alive(&self) -> Result<(), EtcdError> {
        self.call("/v3/maintenance/status", json!({})).await.map(|_| ())
    }

    /// This member's own ID and the ID of the cluster's leader as it knows it (0: none).
    pub async fn ids(&self) -> Result<(u64, u64), EtcdError> {
        let v = self.call("/v3/maintenance/status", json!({})).await?;
        Ok((member_id(&v["header"]["member_id"]), member_id(&v["leader"])))
    }

    /// Asks this member, the leader, to hand the leadership to member `target`.
    pub async fn transfer_leadership(&self, target: u64) -> Result<(), EtcdError> {
        self.call(
            "/v3/maintenance/transfer-leadership",
            json!({ "targetID": target.to_string() }),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A member that does not answer is said in a few plain words, not the client's error chain.
    #[tokio::test]
    async fn a_silent_member_is_said_plainly() {
        let client = reqwest::Client::new();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let refused = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let mute = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hangs = format!("http://{}", mute.local_addr().unwrap());
        let ask = |endpoint: &str, timeout| {
            let endpoint = endpoint.to_owned();
            let client = client.clone();
            async move {
                Member {
                    client: &client,
                    endpoint: &endpoint,
                    timeout,
                }
                .alive()
                .await
            }
        };
        assert_eq!(
            ask(&refused, Duration::from_secs(2)).await,
            Err(EtcdError::Silent("connection refused".into()))
        );
        // Accepted by the kernel, never answered: a frozen etcd.
        assert_eq!(
            ask(&hangs, Duration::from_millis(300)).await,
            Err(EtcdError::Silent("no answer within 0.3 s".into()))
        );
        assert_eq!(
            EtcdError::Silent("connection refused".into()).to_string(),
            "does not answer (connection refused)"
        );
    }

    #[test]
    fn numbers_come_as_strings_or_numbers() {
        assert_eq!(num(&json!("7587862178926371")), 7_587_862_178_926_371);
        assert_eq!(num(&json!(12)), 12);
        assert_eq!(num(&json!(null)), 0);
        assert_eq!(num(&json!("not a number")), 0);
    }

    #[test]
    fn member_ids_above_the_signed_range_read_whole() {
        assert_eq!(member_id(&json!("11417610130673999598")), 11_417_610_130_673_999_598);
        assert_eq!(member_id(&json!("7059799375513725458")), 7_059_799_375_513_725_458);
        assert_eq!(member_id(&json!(null)), 0);
    }

    #[test]
    fn a_range_answer_reads_back() {
        let answer = json!({"kvs": [{"key": "L2xicy9sZWFkZXI=", "create_revision": "2", "mod_revision": "5",
            "version": "1", "value": "QQ==", "lease": "2324035715332736007"}], "count": "1"});
        let kv = first_kv(answer.get("kvs")).unwrap().unwrap();
        assert_eq!(kv.value, b"A");
        assert_eq!((kv.lease, kv.mod_revision), (2_324_035_715_332_736_007, 5));
        assert_eq!(first_kv(json!({"count": "0"}).get("kvs")).unwrap(), None);
        let bad = json!({"kvs": [{"value": "***"}]});
        assert!(matches!(first_kv(bad.get("kvs")), Err(EtcdError::Unreadable(_))));
    }
}
