//! The background poller: reads every office every two seconds, pushes the snapshot to the window
//! (event `overview`), raises desktop notifications for what `overview::alerts` picks out, and
//! keeps the tray icon at the worst office's colour. The window never polls by itself. A second
//! loop copies each machine's new history to this computer every minute.

use std::sync::Mutex;
use std::time::Duration;

use lbs_console_core::overview::{self, Overview};
use lbs_console_core::pair::PairLevel;
use lbs_console_core::Console;
use tauri::image::Image;
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::Notify;

const EVERY: Duration = Duration::from_secs(2);
const COPY_EVERY: Duration = Duration::from_secs(60);
pub const EVENT: &str = "overview";
pub const TRAY_ID: &str = "lbs-tray";

/// The latest snapshot, and a way to ask for a fresh one now (after an add, a removal, a failover).
#[derive(Default)]
pub struct Watch {
    latest: Mutex<Option<Overview>>,
    wake: Notify,
    wake_copy: Notify,
}

impl Watch {
    pub fn latest(&self) -> Option<Overview> {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Makes the poller read again without waiting out its interval.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// After a server is added: a fresh read, and its history copied now, not in a minute.
    pub fn poke_added(&self) {
        self.poke();
        self.wake_copy.notify_one();
    }

    fn store(&self, o: Overview) -> Option<Overview> {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).replace(o)
    }
}

pub fn start(app: AppHandle) {
    let copier = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            if let Err(e) = copier.state::<Console>().copy_histories().await {
                tracing::warn!(error = %e, "could not copy the machines' history");
            }
            let _ = tokio::time::timeout(COPY_EVERY, copier.state::<Watch>().wake_copy.notified()).await;
        }
    });
    tauri::async_runtime::spawn(async move {
        loop {
            let console = app.state::<Console>();
            let watch = app.state::<Watch>();
            match console.overview().await {
                Ok(now) => {
                    if let Err(e) = app.emit(EVENT, &now) {
                        tracing::warn!(error = %e, "could not send the overview to the window");
                    }
                    set_tray(&app, &now);
                    if let Some(before) = watch.store(now.clone()) {
                        for alert in overview::alerts(&before, &now) {
                            notify(&app, &alert);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read the console's store"),
            }
            let _ = tokio::time::timeout(EVERY, watch.wake.notified()).await;
        }
    });
}

fn notify(app: &AppHandle, alert: &overview::Alert) {
    tracing::info!(title = %alert.title, "notification");
    let shown = app
        .notification()
        .builder()
        .title(&alert.title)
        .body(&alert.body)
        .show();
    if let Err(e) = shown {
        // No notification service (a bare X session): the window still shows it all.
        tracing::warn!(error = %e, "could not show a desktop notification");
    }
}

/// The icon and tooltip for the worst office; the tooltip also names the offices in maintenance.
fn tray_look(o: &Overview) -> (&'static [u8], String) {
    let (icon, tip) = tray_state(o);
    let held: Vec<String> = o
        .offices
        .iter()
        .filter_map(|x| Some(format!("{}: {}", x.pair.name, x.maintenance.as_ref()?.sentence)))
        .collect();
    if held.is_empty() {
        (icon, tip)
    } else {
        (icon, format!("{tip}\n{}", held.join("\n")))
    }
}

fn tray_state(o: &Overview) -> (&'static [u8], String) {
    let names = |level: PairLevel| -> Vec<&str> {
        o.offices
            .iter()
            .filter(|x| x.state.level == level)
            .map(|x| x.pair.name.as_str())
            .collect()
    };
    match overview::worst(o) {
        None => (
            include_bytes!("../../icons/tray-at-risk.png"),
            "LBS Console: no servers added yet".into(),
        ),
        Some(PairLevel::Protected) => (
            include_bytes!("../../icons/tray-protected.png"),
            "LBS Console: every office is protected".into(),
        ),
        Some(PairLevel::AtRisk) => (
            include_bytes!("../../icons/tray-at-risk.png"),
            format!("LBS Console: at risk: {}", names(PairLevel::AtRisk).join(", ")),
        ),
        Some(PairLevel::Down) => (
            include_bytes!("../../icons/tray-down.png"),
            format!("LBS Console: phones may be down: {}", names(PairLevel::Down).join(", ")),
        ),
    }
}

fn set_tray(app: &AppHandle, o: &Overview) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    let (png, tip) = tray_look(o);
    match Image::from_bytes(png) {
        Ok(icon) => {
            if let Err(e) = tray.set_icon(Some(icon)) {
                tracing::debug!(error = %e, "could not change the tray icon");
            }
        }
        Err(e) => tracing::warn!(error = %e, "tray icon image"),
    }
    if let Err(e) = tray.set_tooltip(Some(&tip)) {
        tracing::debug!(error = %e, "could not change the tray tooltip");
    }
}

#[cfg(test)]
mod tests {
    use lbs_console_core::overview::OfficeView;
    use lbs_console_core::pair::{FailoverOffer, PairState};
    use lbs_console_core::view::PairEntry;

    use super::*;

    fn office(name: &str, level: PairLevel) -> OfficeView {
        OfficeView {
            pair: PairEntry {
                id: name.into(),
                name: name.into(),
                servers: Vec::new(),
                created_unix: 0,
            },
            state: PairState::new(level, String::new(), None),
            failover: FailoverOffer {
                kind: None,
                label: String::new(),
                blocked: None,
            },
            machines: Vec::new(),
            primary: None,
            backup: None,
            former: Vec::new(),
            sync: Default::default(),
            maintenance: None,
            maintenance_offer: lbs_console_core::maintenance::offer(&[], Vec::new(), None),
            autopilot: lbs_console_core::autopilot::view(&[], 0, |_| String::new(), None),
        }
    }

    #[test]
    fn the_tray_shows_the_worst_office_and_names_it() {
        let of = |offices| Overview { at_unix: 0, offices };
        let (icon, tip) = tray_look(&of(vec![]));
        assert_eq!(icon, include_bytes!("../../icons/tray-at-risk.png"));
        assert!(tip.contains("no servers"), "{tip}");

        let (icon, tip) = tray_look(&of(vec![office("Main", PairLevel::Protected)]));
        assert_eq!(icon, include_bytes!("../../icons/tray-protected.png"));
        assert!(tip.contains("every office is protected"), "{tip}");

        let (icon, tip) = tray_look(&of(vec![
            office("Main", PairLevel::Protected),
            office("Annex", PairLevel::AtRisk),
            office("Depot", PairLevel::Down),
        ]));
        assert_eq!(icon, include_bytes!("../../icons/tray-down.png"));
        assert_eq!(tip, "LBS Console: phones may be down: Depot");

        let (icon, tip) = tray_look(&of(vec![
            office("Main", PairLevel::AtRisk),
            office("Annex", PairLevel::AtRisk),
        ]));
        assert_eq!(icon, include_bytes!("../../icons/tray-at-risk.png"));
        assert_eq!(tip, "LBS Console: at risk: Main, Annex");
    }

    #[test]
    fn the_tray_names_an_office_in_maintenance() {
        let mut main = office("Main", PairLevel::Protected);
        main.maintenance = Some(lbs_console_core::maintenance::MaintenanceView {
            setting: lbs_protocol::Maintenance {
                until_unix: 0,
                reason: "new disk".into(),
                set_by: "Sam".into(),
                set_at_unix: 0,
            },
            sentence: "Maintenance until 14:30 — Sam: new disk.".into(),
            detail: String::new(),
        });
        let (_, tip) = tray_look(&Overview {
            at_unix: 0,
            offices: vec![main],
        });
        assert_eq!(
            tip,
            "LBS Console: every office is protected\nMain: Maintenance until 14:30 — Sam: new disk."
        );
    }
}
