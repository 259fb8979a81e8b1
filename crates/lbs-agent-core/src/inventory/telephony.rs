//! Telephony hardware: the cards on the PCI bus (`lspci -nn`) and DAHDI's spans (`/proc/dahdi`).
//!
//! A card is recognised by its vendor, not by its PCI class: Digium's TE121 calls itself an
//! Ethernet controller, Sangoma's cards network controllers, and the class "Communication
//! controller" is mostly Intel's management engine. The one class that means telephony by
//! itself is "ISDN controller" (0204).

use lbs_protocol::{CardKind, DahdiSpan, TelephonyCard};

/// `lspci -nn`: each device on one line, with its class and IDs in brackets.
pub const LSPCI: &[&str] = &["lspci", "-nn"];

/// The PCI vendors whose cards are telephony cards.
const VENDORS: &[(&str, &str)] = &[
    ("d161", "Digium"),
    ("1923", "Sangoma"),
    ("1b74", "OpenVox"),
    ("0b0b", "Rhino Equipment"),
    ("1397", "Cologne Chip (ISDN)"),
    ("e159", "Tiger Jet (analog and ISDN cards)"),
    ("1d21", "Allo"),
];

/// PCI class "Network controller / ISDN controller".
const ISDN_CLASS: &str = "0204";

/// The telephony cards in `lspci -nn`'s output. Lines that are not a device (the verbose
/// lines of `-v`, a hex dump) are skipped.
pub fn parse_lspci(text: &str) -> Vec<TelephonyCard> {
    text.lines().filter_map(device).filter_map(card).collect()
}

/// One `lspci -nn` line: slot, class code, description, vendor and device IDs.
struct Device<'a> {
    slot: &'a str,
    class: &'a str,
    description: &'a str,
    vendor: &'a str,
    device: &'a str,
}

/// `02:08.0 Communication controller [0780]: Digium, Inc. Wildcard TE420 … [d161:1420] (rev 02)`
fn device(line: &str) -> Option<Device<'_>> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let (slot, rest) = line.split_once(' ')?;
    if !slot.contains(':') || !slot.contains('.') {
        return None;
    }
    let (class_part, rest) = rest.split_once("]: ")?;
    let class = class_part.rsplit_once('[')?.1;
    // The IDs are the last `[vvvv:dddd]`; what follows is `(rev ..)` or `(prog-if ..)`.
    let open = rest.rfind(" [")?;
    let ids = rest[open + 2..].split_once(']')?.0;
    let (vendor, device) = ids.split_once(':')?;
    let hex4 = |s: &str| s.len() == 4 && s.chars().all(|c| c.is_ascii_hexdigit());
    if !hex4(vendor) || !hex4(device) || !hex4(class) {
        return None;
    }
    Some(Device {
        slot,
        class,
        description: rest[..open].trim(),
        vendor,
        device,
    })
}

fn card(d: Device<'_>) -> Option<TelephonyCard> {
    let vendor = d.vendor.to_ascii_lowercase();
    let known = VENDORS.iter().any(|(v, _)| *v == vendor);
    if !known && d.class != ISDN_CLASS {
        return None;
    }
    // Tiger Jet's chip carries analog cards (X100P, TDM400P clones) and ISDN ones alike, under
    // one name that says "Modem/ISDN".
    let mut kind = if vendor == "e159" {
        CardKind::Other
    } else {
        kind_of(d.description)
    };
    if kind == CardKind::Other && d.class == ISDN_CLASS {
        kind = CardKind::Bri;
    }
    Some(TelephonyCard {
        slot: d.slot.to_owned(),
        vendor_id: vendor,
        device_id: d.device.to_ascii_lowercase(),
        description: d.description.to_owned(),
        kind,
    })
}

/// What a card connects to, from its name: T1/E1/J1 (or a Rhino `R4T1`) is a PRI card, BRI or
/// ISDN basic rate a BRI card, FXO/FXS or "analog" an analog card.
pub fn kind_of(description: &str) -> CardKind {
    let lower = description.to_ascii_lowercase();
    let tokens: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    let rhino_digital = |t: &str| {
        let b = t.as_bytes();
        b.len() == 4 && b[0] == b'r' && b[1].is_ascii_digit() && b[2] == b't' && b[3].is_ascii_digit()
    };
    if tokens
        .iter()
        .any(|t| matches!(*t, "t1" | "e1" | "j1" | "t3" | "pri") || rhino_digital(t))
    {
        CardKind::Pri
    } else if tokens.iter().any(|t| matches!(*t, "bri" | "isdn" | "s0")) || lower.contains("quad-bri") {
        CardKind::Bri
    } else if tokens
        .iter()
        .any(|t| *t == "analog" || t.starts_with("fxo") || t.starts_with("fxs") || t.starts_with("fxx"))
    {
        CardKind::Analog
    } else {
        CardKind::Other
    }
}

/// A card kind in words: "PRI card".
pub fn kind_words(kind: CardKind) -> &'static str {
    match kind {
        CardKind::Pri => "PRI card",
        CardKind::Bri => "BRI (ISDN) card",
        CardKind::Analog => "analog line card",
        CardKind::Other => "telephony card",
    }
}

/// The lines a card kind serves, for a consequence: "the PRI lines".
pub fn lines_words(kind: CardKind) -> &'static str {
    match kind {
        CardKind::Pri => "the PRI lines",
        CardKind::Bri => "the ISDN lines",
        CardKind::Analog => "the analog lines",
        CardKind::Other => "the lines on that card",
    }
}

/// One `/proc/dahdi/<n>` file: its first line names the span, its description and its alarms.
/// `Span 1: TE4/0/1 "T4XXP (PCI) Card 0 Span 1" (MASTER) HDB3/CCS/CRC4 RED ClockSource`
pub fn parse_span(text: &str) -> Option<DahdiSpan> {
    let first = text.lines().next()?;
    let rest = first.strip_prefix("Span ")?;
    let (number, rest) = rest.split_once(':')?;
    let number: u32 = number.trim().parse().ok()?;
    let rest = rest.trim_start();
    let (name, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let (description, tail) = match rest.trim_start().strip_prefix('"') {
        Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
        None => ("", rest),
    };
    const ALARMS: &[&str] = &["BLUE", "YELLOW", "RED", "LOOP", "RECOVERING", "NOTOPEN"];
    let alarms = tail
        .split_whitespace()
        .filter(|t| ALARMS.contains(t))
        .map(str::to_owned)
        .collect();
    Some(DahdiSpan {
        number,
        name: name.to_owned(),
        description: description.to_owned(),
        alarms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_without_a_card_has_none() {
        assert!(parse_lspci(include_str!("fixtures/lspci-vm-no-card.txt")).is_empty());
    }

    #[test]
    fn a_te420_is_a_pri_card_and_intels_management_engine_is_not_a_card() {
        let text = include_str!("fixtures/lspci-pri-te420.txt");
        assert!(
            text.contains("Communication controller [0780]: Intel"),
            "the fixture has the MEI"
        );
        let cards = parse_lspci(text);
        assert_eq!(cards.len(), 1, "{cards:?}");
        let c = &cards[0];
        assert_eq!(
            (c.slot.as_str(), c.vendor_id.as_str(), c.device_id.as_str()),
            ("02:08.0", "d161", "1420")
        );
        assert_eq!(c.kind, CardKind::Pri);
        assert!(
            c.description.starts_with("Digium, Inc. Wildcard TE420"),
            "{}",
            c.description
        );
    }

    #[test]
    fn a_te121_calling_itself_ethernet_is_found_by_its_vendor_and_an_fxo_card_is_analog() {
        let cards = parse_lspci(include_str!("fixtures/lspci-te121-analog.txt"));
        let kinds: Vec<(&str, CardKind)> = cards.iter().map(|c| (c.slot.as_str(), c.kind)).collect();
        assert_eq!(kinds, [("04:02.0", CardKind::Pri), ("05:01.0", CardKind::Analog)]);
    }

    #[test]
    fn kinds_from_names() {
        assert_eq!(kind_of("Digium, Inc. Wildcard B410 quad-BRI card"), CardKind::Bri);
        assert_eq!(
            kind_of("Cologne Chip Designs GmbH ISDN network Controller [HFC-E1]"),
            CardKind::Pri
        );
        assert_eq!(
            kind_of("Cologne Chip Designs GmbH ISDN network Controller [HFC-4S]"),
            CardKind::Bri
        );
        assert_eq!(kind_of("Rhino Equipment Corp. R4T1"), CardKind::Pri);
        assert_eq!(
            kind_of("Digium, Inc. Wildcard TDM2400P 24-port analog card"),
            CardKind::Analog
        );
        assert_eq!(
            kind_of("OpenVox Communication Co. Ltd. D130P/D130E Single-port E1/T1 card (3rd GEN)"),
            CardKind::Pri
        );
        assert_eq!(
            kind_of("Digium, Inc. Wildcard TC400P transcoder base card"),
            CardKind::Other
        );
    }

    #[test]
    fn an_isdn_class_card_of_any_vendor_counts() {
        let line = "03:00.0 ISDN controller [0204]: AVM GmbH Fritz!Card [1244:0a00] (rev 02)";
        let cards = parse_lspci(line);
        assert_eq!(cards.len(), 1);
        assert_eq!(cards[0].kind, CardKind::Bri);
    }

    #[test]
    fn verbose_lines_and_hex_dumps_are_skipped() {
        let text = "02:08.0 Communication controller [0780]: Digium, Inc. Wildcard TE420 quad-span T1/E1/J1 card 3.3V (PCI-Express) (5th gen) [d161:1420] (rev 02)\n\tSubsystem: Device [0005:0000]\n\tKernel modules: wct4xxp\n00: 61 d1 20 14 06 00 00 02 02 00 80 07 00 40 00 00\n...\n";
        assert_eq!(parse_lspci(text).len(), 1);
    }

    #[test]
    fn dahdi_spans_with_and_without_alarms() {
        let up = parse_span(include_str!("fixtures/proc-dahdi-span-up.txt")).unwrap();
        assert_eq!((up.number, up.name.as_str()), (1, "TE4/0/1"));
        assert_eq!(up.description, "T4XXP (PCI) Card 0 Span 1");
        assert!(up.alarms.is_empty());
        let red = parse_span(include_str!("fixtures/proc-dahdi-span-red.txt")).unwrap();
        assert_eq!(red.alarms, ["RED"]);
        assert_eq!(parse_span("garbage"), None);
    }
}
