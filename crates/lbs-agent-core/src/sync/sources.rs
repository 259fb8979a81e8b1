//! The configured categories, flattened into *sources*: one per category root, keyed
//! `<category>:<n>` (the n-th root of the category, from 0) in the journal, the queue and on the
//! wire. Keys name roots by position, not by path, so the two boxes may keep a category in
//! different folders; both configs must list a category's roots in the same order.

use std::collections::HashMap;
use std::path::PathBuf;

use lbs_sync::select::Selector;

use crate::config::{CategoryConfig, SyncConfig};

#[derive(Debug, Clone)]
pub struct Source {
    pub key: String,
    pub category: String,
    pub root: PathBuf,
    pub select: Selector,
    pub priority: u32,
    /// See `CategoryConfig::is_dump_root`.
    pub holds_dump: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Sources {
    list: Vec<Source>,
    by_key: HashMap<String, usize>,
    pub categories: Vec<CategoryConfig>,
}

pub fn key(category: &str, index: usize) -> String {
    format!("{category}:{index}")
}

impl Sources {
    /// From a validated config (its globs were compiled while parsing).
    pub fn from_config(sync: &SyncConfig) -> Sources {
        let mut categories = sync.categories.clone();
        categories.sort_by_key(|c| c.priority);
        let mut s = Sources {
            categories,
            ..Default::default()
        };
        for c in &s.categories {
            for (i, root) in c.roots.iter().enumerate() {
                let source = Source {
                    key: key(&c.name, i),
                    category: c.name.clone(),
                    root: root.clone(),
                    select: c.select.clone(),
                    priority: c.priority,
                    holds_dump: c.is_dump_root(i),
                };
                s.by_key.insert(source.key.clone(), s.list.len());
                s.list.push(source);
            }
        }
        s
    }

    pub fn all(&self) -> &[Source] {
        &self.list
    }

    pub fn get(&self, key: &str) -> Option<&Source> {
        self.by_key.get(key).map(|&i| &self.list[i])
    }

    /// The category a key belongs to, even when this box does not have that root.
    pub fn category_of(key: &str) -> &str {
        key.split_once(':').map_or(key, |(c, _)| c)
    }
}
