//! `lbs-agent trash list|restore`: the files deleted on the primary that this box keeps, and
//! putting one back on the primary, for a technician at the box (the console's "Deleted files").
//! A file is named by the path it lived at, as the list prints it; the newest copy is the default.

use std::path::Path;

use anyhow::{Context, Result};
use lbs_protocol::{TrashEntry, TrashList, TrashRestoreRequest, TrashRestored};

use super::{human_bytes, load_config, rfc3339, LocalApi};
use lbs_agent_core::identity::Identity;

/// Which copy of a deleted file to put back.
pub struct Wanted<'a> {
    /// Where it lived, relative to its category's folder, as `trash list` prints it.
    pub path: &'a str,
    pub category: Option<&'a str>,
    /// When it was deleted: Unix seconds or an RFC 3339 time, as `trash list` prints it.
    pub deleted: Option<&'a str>,
}

pub async fn list(config_path: &Path, category: Option<&str>) -> Result<()> {
    let api = open(config_path)?;
    let list: TrashList = api.call(api.get("/trash")).await?;
    let retention = humantime::format_duration(std::time::Duration::from_secs(list.retention_secs));
    for why in &list.unreadable {
        println!("Could not read a trash folder: {why}");
    }
    let shown: Vec<&TrashEntry> = list
        .entries
        .iter()
        .filter(|e| category.is_none_or(|c| e.category == c))
        .collect();
    if shown.is_empty() {
        let what = category.map_or(String::new(), |c| format!(" of {c}"));
        println!("No deleted file{what} is kept on this box. Deleted files are kept for {retention}.");
        return Ok(());
    }
    println!(
        "Deleted files kept on this box for {retention}: {} in all, {}.",
        list.total_files,
        human_bytes(list.total_bytes)
    );
    if (list.entries.len() as u64) < list.total_files {
        println!("The newest {} are listed.", list.entries.len());
    }
    println!(
        "\n{:<21} {:<21} {:<12} {:>9}  path",
        "deleted", "kept until", "category", "size"
    );
    for e in shown {
        println!(
            "{:<21} {:<21} {:<12} {:>9}  {}",
            rfc3339(e.deleted_unix),
            rfc3339(e.expires_unix),
            e.category,
            human_bytes(e.size),
            e.path
        );
    }
    println!(
        "\nPut one back on the primary with `lbs-agent trash restore <path>` (its newest copy; \
         an older one with --deleted <time>)."
    );
    Ok(())
}

pub async fn restore(config_path: &Path, wanted: Wanted<'_>, replace: bool) -> Result<()> {
    let api = open(config_path)?;
    let path = wanted.path.trim().trim_start_matches('/');
    // Only that path's copies: however full the trash, an old one is found.
    let list: TrashList = api.call(api.get("/trash").query(&[("path", path)])).await?;
    let deleted = wanted.deleted.map(parse_time).transpose()?;
    let (entry, others) = pick(&list.entries, &wanted, deleted)?;
    let body = TrashRestoreRequest {
        source: entry.source.clone(),
        deleted_unix: entry.deleted_unix,
        stored: entry.stored.clone(),
        replace,
    };
    let done: TrashRestored = api
        .call(api.client.post(format!("{}/trash/restore", api.base)).json(&body))
        .await
        .map_err(super::with_replace_hint)
        .with_context(|| format!("{} was not put back", entry.path))?;
    println!(
        "{} ({}, deleted {}) put back: {}",
        done.path,
        entry.category,
        rfc3339(entry.deleted_unix),
        done.message
    );
    if others > 0 {
        println!("{others} older copies of it are still in the trash; `lbs-agent trash list` shows them.");
    }
    Ok(())
}

fn open(config_path: &Path) -> Result<LocalApi> {
    let config = load_config(config_path)?;
    let identity = Identity::load(&config.server.state_dir)?;
    LocalApi::open(&config, &identity)
}

/// Unix seconds, or an RFC 3339 time such as `trash list` prints.
fn parse_time(s: &str) -> Result<i64> {
    if let Ok(unix) = s.trim().parse::<i64>() {
        return Ok(unix);
    }
    let t = humantime::parse_rfc3339_weak(s.trim()).with_context(|| {
        format!("\"{s}\" is not a time: give it as `trash list` prints it, e.g. 2026-11-26T07:01:02Z")
    })?;
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .context("a time before 1970 is not a deletion time")?
        .as_secs();
    i64::try_from(secs).context("that time is too far in the future")
}

/// The copy of `wanted` to put back — the newest that matches — and how many other copies match.
fn pick<'a>(entries: &'a [TrashEntry], wanted: &Wanted<'_>, deleted: Option<i64>) -> Result<(&'a TrashEntry, usize)> {
    let path = wanted.path.trim().trim_start_matches('/');
    let mut matching: Vec<&TrashEntry> = entries
        .iter()
        .filter(|e| e.path == path && wanted.category.is_none_or(|c| e.category == c))
        .collect();
    if matching.is_empty() {
        anyhow::bail!(
            "no deleted file at {path}{} is kept on this box; `lbs-agent trash list` shows what is",
            wanted.category.map_or(String::new(), |c| format!(" in {c}"))
        );
    }
    let mut categories: Vec<&str> = matching.iter().map(|e| e.category.as_str()).collect();
    categories.sort_unstable();
    categories.dedup();
    if categories.len() > 1 {
        anyhow::bail!(
            "{path} was deleted in more than one category ({}): say which with --category",
            categories.join(", ")
        );
    }
    if let Some(t) = deleted {
        matching.retain(|e| e.deleted_unix == t);
        if matching.is_empty() {
            anyhow::bail!(
                "no copy of {path} deleted at {} is kept; `lbs-agent trash list` shows when each was deleted",
                rfc3339(t)
            );
        }
    }
    matching.sort_by_key(|e| std::cmp::Reverse((e.deleted_unix, e.stored.len(), e.stored.as_str())));
    Ok((matching[0], matching.len() - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(category: &str, path: &str, stored: &str, deleted_unix: i64) -> TrashEntry {
        TrashEntry {
            category: category.into(),
            source: format!("{category}:0"),
            path: path.into(),
            stored: stored.into(),
            size: 10,
            deleted_unix,
            expires_unix: deleted_unix + 86400,
        }
    }

    fn wanted<'a>(path: &'a str, category: Option<&'a str>) -> Wanted<'a> {
        Wanted {
            path,
            category,
            deleted: None,
        }
    }

    #[test]
    fn the_newest_copy_of_a_path_is_the_default_and_an_older_one_can_be_named() {
        let entries = [
            entry("voicemail", "1001/msg0.txt", "1001/msg0.txt", 100),
            entry("voicemail", "1001/msg0.txt", "1001/msg0.txt", 300),
            entry("voicemail", "1001/msg0.txt", "1001/msg0.txt.1", 300),
            entry("voicemail", "1001/msg1.txt", "1001/msg1.txt", 400),
        ];
        let (e, others) = pick(&entries, &wanted("/1001/msg0.txt", None), None).unwrap();
        assert_eq!((e.stored.as_str(), e.deleted_unix, others), ("1001/msg0.txt.1", 300, 2));
        let (e, others) = pick(&entries, &wanted("1001/msg0.txt", None), Some(100)).unwrap();
        assert_eq!((e.deleted_unix, others), (100, 0));
        let err = pick(&entries, &wanted("1001/msg0.txt", None), Some(200)).unwrap_err();
        assert!(err.to_string().contains("no copy of 1001/msg0.txt deleted at"), "{err}");
    }

    #[test]
    fn a_path_in_two_categories_needs_one_named_and_an_unknown_path_says_where_to_look() {
        let entries = [
            entry("voicemail", "greeting.wav", "greeting.wav", 100),
            entry("prompts", "greeting.wav", "greeting.wav", 200),
        ];
        let err = pick(&entries, &wanted("greeting.wav", None), None).unwrap_err();
        assert!(err.to_string().contains("--category"), "{err}");
        let (e, _) = pick(&entries, &wanted("greeting.wav", Some("voicemail")), None).unwrap();
        assert_eq!(e.deleted_unix, 100);
        let err = pick(&entries, &wanted("nothing.wav", None), None).unwrap_err();
        assert!(err.to_string().contains("`lbs-agent trash list`"), "{err}");
    }

    #[test]
    fn deletion_times_are_read_as_the_list_prints_them() {
        assert_eq!(parse_time("1764140462").unwrap(), 1764140462);
        assert_eq!(parse_time(&rfc3339(1764140462)).unwrap(), 1764140462);
        let err = parse_time("yesterday").unwrap_err();
        assert!(err.to_string().contains("as `trash list` prints it"), "{err}");
    }
}
