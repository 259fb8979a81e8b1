//! The PBX service, through the admin's commands: start it on the primary, stop it on the
//! backup, check which it is doing, and after a start wait until it answers (a SIP OPTIONS ping
//! and/or a health command).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::command;
use crate::config::PbxConfig;
use crate::refusal::Refusal;

pub struct Pbx {
    config: PbxConfig,
}

impl Pbx {
    pub fn new(config: PbxConfig) -> Pbx {
        Pbx { config }
    }

    /// Start and stop commands are configured: the agent runs the PBX on the primary only.
    pub fn managed(&self) -> bool {
        !self.config.start.is_empty()
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.command_timeout)
    }

    pub async fn start(&self) -> Result<String, Refusal> {
        if !self.managed() {
            return Ok("no start command is configured ([pbx] start); the PBX is left as it is".into());
        }
        command::run_ok("the PBX start command", &self.config.start, &[], self.timeout()).await?;
        Ok(format!("started with `{}`", self.config.start.join(" ")))
    }

    pub async fn stop(&self) -> Result<String, Refusal> {
        if !self.managed() {
            return Ok("no stop command is configured ([pbx] stop); the PBX is left as it is".into());
        }
        command::run_ok("the PBX stop command", &self.config.stop, &[], self.timeout()).await?;
        match self.running().await {
            Some(true) => Err(Refusal::internal(format!(
                "`{}` finished but the PBX still runs; stop it by hand and check the stop command",
                self.config.stop.join(" ")
            ))),
            _ => Ok(format!("stopped with `{}`", self.config.stop.join(" "))),
        }
    }

    /// Whether the PBX runs, from the `running` command; `None` if there is none or it failed to run.
    pub async fn running(&self) -> Option<bool> {
        if self.config.running.is_empty() {
            return None;
        }
        match command::run(&self.config.running, &[], self.timeout()).await {
            Ok(o) => Some(o.success),
            Err(e) => {
                tracing::warn!(error = %e, "cannot check whether the PBX runs");
                None
            }
        }
    }

    /// Whether a check that the PBX answers is configured.
    pub fn checks_answer(&self) -> bool {
        self.config.sip_check.is_some() || !self.config.health.is_empty()
    }

    /// Waits until the PBX answers (every configured check passes), up to the ready timeout.
    pub async fn wait_answering(&self) -> Result<String, Refusal> {
        if !self.checks_answer() {
            return Ok("no check is configured ([pbx] sip_check or health)".into());
        }
        let started = Instant::now();
        let deadline = started + Duration::from_secs(self.config.ready_timeout);
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.check_once(deadline).await {
                Ok(what) => return Ok(format!("{what} after {} ms", started.elapsed().as_millis())),
                Err(e) => last = e.message,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Refusal::internal(format!(
            "the PBX did not answer within {} s: {last}",
            self.config.ready_timeout
        )))
    }

    async fn check_once(&self, deadline: Instant) -> Result<String, Refusal> {
        let mut done = Vec::new();
        if let Some(target) = &self.config.sip_check {
            let addr = resolve(target).await?;
            let left = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(2));
            let answer = super::sip::options_ping(addr, left).await?;
            done.push(format!("{target} answered SIP OPTIONS ({})", answer.status_line));
        }
        if !self.config.health.is_empty() {
            command::run_ok("the PBX health command", &self.config.health, &[], self.timeout()).await?;
            done.push("the health command passed".into());
        }
        Ok(done.join("; "))
    }
}

async fn resolve(target: &str) -> Result<SocketAddr, Refusal> {
    tokio::net::lookup_host(target)
        .await
        .map_err(|e| Refusal::internal(format!("cannot resolve {target}: {e}")))?
        .next()
        .ok_or_else(|| Refusal::internal(format!("{target} has no address")))
}
