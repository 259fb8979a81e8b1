//! The `hook` takeover: the admin's own script, for whatever moves the phones in this office (a
//! router API, a SIP proxy, a load balancer). Run as `<command...> take` when this box becomes
//! the primary and `<command...> release` when it stops being it, with the context in the
//! environment: `LBS_ROLE`, `LBS_EPOCH`, `LBS_SERVER_ID`, `LBS_SERVER_NAME`. Exit 0 means done.

use std::time::Duration;

use crate::command;
use crate::config::HookTakeover;
use crate::refusal::Refusal;

pub struct Context {
    pub role: String,
    pub epoch: u64,
    pub server_id: String,
    pub server_name: String,
}

pub async fn run(h: &HookTakeover, action: &str, ctx: &Context) -> Result<String, Refusal> {
    let mut cmd = h.command.clone();
    cmd.push(action.to_string());
    let env = [
        ("LBS_ROLE", ctx.role.clone()),
        ("LBS_EPOCH", ctx.epoch.to_string()),
        ("LBS_SERVER_ID", ctx.server_id.clone()),
        ("LBS_SERVER_NAME", ctx.server_name.clone()),
    ];
    let out = command::run_ok(
        &format!("the takeover hook (`{} {action}`)", h.command.join(" ")),
        &cmd,
        &env,
        Duration::from_secs(h.timeout),
    )
    .await?;
    Ok(if out.is_empty() {
        format!("`{} {action}` succeeded", h.command.join(" "))
    } else {
        format!("`{} {action}` succeeded: {out}", h.command.join(" "))
    })
}
