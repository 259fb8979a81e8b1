//! Prints a connection link for the console, as text and as a QR code for the terminal.

use lbs_protocol::ConnectionLink;
use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;

/// The text block shown after `init` and `token create`.
pub fn render(link: &ConnectionLink, role: lbs_protocol::TokenRole) -> String {
    let text = link.to_string();
    let access = match role {
        lbs_protocol::TokenRole::Admin => "full (admin) access",
        lbs_protocol::TokenRole::Viewer => "view-only access",
    };
    let mut out = format!(
        "Connection link for the LBS Console ({access}). Paste it into \"Add a server\".\n\
         It contains a secret and is shown only this once: keep it like a password.\n\n  {text}\n"
    );
    match QrCode::new(text.as_bytes()) {
        Ok(code) => {
            let qr = code.render::<Dense1x2>().quiet_zone(true).build();
            out.push('\n');
            out.push_str(&qr);
            out.push('\n');
        }
        Err(e) => tracing::debug!(error = %e, "no QR code for this link"),
    }
    out
}
