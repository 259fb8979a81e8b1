//! Which files of a category root are data: include and exclude globs on the path relative to
//! the root. A file is taken when it matches an include (or there are none) and no exclude.
//!
//! `*` stays within one folder and `**` crosses folders, so `**/*.wav` means every WAV file and
//! `tmp/**` everything under `tmp`.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use thiserror::Error;

#[derive(Debug, Error)]
#[error("the pattern \"{pattern}\" is not a valid glob: {reason}")]
pub struct SelectError {
    pub pattern: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Selector {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

fn build(patterns: &[String]) -> Result<Option<GlobSet>, SelectError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        let glob = GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| SelectError {
                pattern: p.clone(),
                reason: e.kind().to_string(),
            })?;
        set.add(glob);
    }
    set.build().map(Some).map_err(|e| SelectError {
        pattern: patterns.join(", "),
        reason: e.to_string(),
    })
}

impl Selector {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Selector, SelectError> {
        Ok(Selector {
            include: build(include)?,
            exclude: build(exclude)?,
        })
    }

    /// Every file.
    pub fn all() -> Selector {
        Selector {
            include: None,
            exclude: None,
        }
    }

    /// Whether the folder at `rel` is data, mirrored even when empty: only without an include
    /// list (which names files), and when neither it nor what it holds is excluded.
    pub fn wants_folder(&self, rel: &str) -> bool {
        self.include.is_none()
            && self
                .exclude
                .as_ref()
                .is_none_or(|s| !s.is_match(rel) && !s.is_match(format!("{rel}/x")))
    }

    /// Whether the file at `rel` (relative to the root, `/`-separated) is data.
    pub fn wants(&self, rel: &str) -> bool {
        self.include.as_ref().is_none_or(|s| s.is_match(rel)) && self.exclude.as_ref().is_none_or(|s| !s.is_match(rel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn includes_and_excludes_combine() {
        let sel = Selector::new(&s(&["**/*.wav", "**/*.txt"]), &s(&["**/tmp/**"])).unwrap();
        assert!(sel.wants("default/1001/INBOX/msg0000.wav"));
        assert!(sel.wants("msg0000.txt"));
        assert!(!sel.wants("default/1001/INBOX/msg0000.gsm"));
        assert!(!sel.wants("default/1001/tmp/msg0000.wav"));
        assert!(Selector::all().wants("anything/at/all"));
        assert!(
            !sel.wants_folder("default/1001/INBOX"),
            "an include list names files, not folders"
        );
        let sel = Selector::new(&[], &s(&["**/tmp/**"])).unwrap();
        assert!(sel.wants_folder("default/1001/INBOX"));
        assert!(
            !sel.wants_folder("default/1001/tmp"),
            "a folder whose content is excluded"
        );
        assert!(Selector::all().wants_folder("any/folder"));
    }

    #[test]
    fn a_star_stays_in_its_folder() {
        let sel = Selector::new(&s(&["*.conf"]), &[]).unwrap();
        assert!(sel.wants("sip.conf"));
        assert!(!sel.wants("old/sip.conf"));
    }

    #[test]
    fn a_bad_pattern_is_named() {
        let e = Selector::new(&s(&["[unclosed"]), &[]).unwrap_err();
        assert_eq!(e.pattern, "[unclosed");
    }
}
