//! The console keeps watching with its window closed. Closing the window hides it while a tray
//! shows the console's icon: the poller goes on reading the offices and notifying, "Open LBS
//! Console" in the tray's menu (or starting the app again) brings the window back, and "Quit" ends
//! it. Where no tray shows the icon, the manager could not bring a hidden window back, so closing
//! quits as it always did. Started at login (`--background`), the console starts in the tray.

use std::sync::atomic::{AtomicBool, Ordering};

use tauri::{AppHandle, Manager, Window, WindowEvent};
use tauri_plugin_notification::NotificationExt;

/// The argument the login item starts the console with.
pub const BACKGROUND_ARG: &str = "--background";

/// What the shell knows of its tray.
pub struct Background {
    /// The tray icon was built (it fails where the platform has no tray support at all).
    tray_built: bool,
    /// The manager has been told once that closing leaves the console in the tray.
    told: AtomicBool,
}

impl Background {
    pub fn new(tray_built: bool) -> Background {
        Background {
            tray_built,
            told: AtomicBool::new(false),
        }
    }
}

/// Shows the window at start, unless the console was started at login and its icon is in a
/// tray: then it watches from there.
pub fn show_at_start(app: &AppHandle) {
    let background = std::env::args().any(|a| a == BACKGROUND_ARG);
    if background && app.state::<Background>().tray_built && host::present() {
        tracing::info!("started at login: watching from the tray");
        return;
    }
    crate::show_window(app);
}

/// The window's close button: hide into the tray when there is one to come back from, else quit.
/// Whether a tray shows the icon is asked at each close, since a panel can come or go while the
/// console runs; asking takes a D-Bus call and an X connection, so it runs off the UI thread.
pub fn on_window_event(window: &Window, event: &WindowEvent) {
    let WindowEvent::CloseRequested { api, .. } = event else {
        return;
    };
    if !window.app_handle().state::<Background>().tray_built {
        tracing::info!("no tray icon: closing the window quits");
        return;
    }
    api.prevent_close();
    let window = window.clone();
    let decided = std::thread::Builder::new()
        .name("close".into())
        .spawn(move || close(&window, host::present()));
    if let Err(e) = decided {
        tracing::warn!(error = %e, "cannot decide how to close; quitting");
        std::process::exit(0);
    }
}

fn close(window: &Window, tray_shown: bool) {
    let app = window.app_handle();
    if !tray_shown {
        tracing::info!("no tray shows the console's icon: closing the window quits");
        app.exit(0);
        return;
    }
    if let Err(e) = window.hide() {
        tracing::warn!(error = %e, "could not hide the window; quitting instead");
        app.exit(0);
        return;
    }
    tracing::info!("window closed: the console keeps watching from the tray");
    if !app.state::<Background>().told.swap(true, Ordering::Relaxed) {
        let shown = app
            .notification()
            .builder()
            .title("LBS Console keeps watching")
            .body("It stays in the tray and tells you when a server stops answering. To open it again or quit, use the tray icon's menu.")
            .show();
        if let Err(e) = shown {
            tracing::warn!(error = %e, "could not show a desktop notification");
        }
    }
}

/// Whether something on this desktop shows tray icons. On Linux a tray icon can be "built" with
/// nothing to show it (GNOME without its AppIndicator extension): the icon goes to a
/// StatusNotifier host on the session bus, or, failing that, to an XEmbed tray on the X display.
#[cfg(target_os = "linux")]
mod host {
    use std::time::Duration;

    pub fn present() -> bool {
        status_notifier() || xembed()
    }

    /// A StatusNotifierWatcher on the session bus (KDE, XFCE, Cinnamon, GNOME's extension).
    fn status_notifier() -> bool {
        let asked = (|| -> Result<bool, dbus::Error> {
            let bus = dbus::blocking::Connection::new_session()?;
            let proxy = bus.with_proxy(
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                Duration::from_millis(500),
            );
            let (owned,): (bool,) = proxy.method_call(
                "org.freedesktop.DBus",
                "NameHasOwner",
                ("org.kde.StatusNotifierWatcher",),
            )?;
            Ok(owned)
        })();
        asked.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "no session bus to ask for a tray");
            false
        })
    }

    /// An XEmbed system tray: the owner of the `_NET_SYSTEM_TRAY_S<screen>` selection.
    fn xembed() -> bool {
        let Ok(xlib) = x11_dl::xlib::Xlib::open() else {
            return false;
        };
        // SAFETY: a connection of our own, opened, queried and closed here; the atom name is a
        // NUL-terminated string that outlives the call.
        unsafe {
            let display = (xlib.XOpenDisplay)(std::ptr::null());
            if display.is_null() {
                return false;
            }
            let screen = (xlib.XDefaultScreen)(display);
            let name = format!("_NET_SYSTEM_TRAY_S{screen}\0");
            let atom = (xlib.XInternAtom)(display, name.as_ptr().cast(), x11_dl::xlib::False);
            let owner = (xlib.XGetSelectionOwner)(display, atom);
            (xlib.XCloseDisplay)(display);
            owner != 0
        }
    }
}

/// Windows and macOS always have a notification area / menu bar for the icon.
#[cfg(not(target_os = "linux"))]
mod host {
    pub fn present() -> bool {
        true
    }
}
