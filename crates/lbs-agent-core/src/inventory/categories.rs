//! The sync categories as the two boxes must agree on them. Roots pair up by position
//! (`<category>:<n>` on the wire), so names, count, order and the number of roots must be the
//! same on both boxes — pairing refuses otherwise; a database category must be one on both (the
//! backup restores its dump on promotion). Include/exclude globs and priorities may differ, but
//! after a failover the new primary would copy back another set, or in another order: a warning.

use lbs_protocol::{CategoriesDigest, CategoryShape};
use sha2::{Digest, Sha256};

use crate::config::SyncConfig;

/// The shape of this box's categories, in the configuration file's order.
pub fn digest(sync: &SyncConfig) -> CategoriesDigest {
    let categories: Vec<CategoryShape> = sync
        .categories
        .iter()
        .map(|c| CategoryShape {
            name: c.name.clone(),
            priority: c.priority,
            roots: c.roots.len() as u32,
            include: c.include.clone(),
            exclude: c.exclude.clone(),
            database: !c.dump.is_empty(),
        })
        .collect();
    let canonical = serde_json::to_vec(&categories).unwrap_or_default();
    CategoriesDigest {
        digest: hex::encode(Sha256::digest(&canonical)),
        categories,
    }
}

/// How two boxes' categories compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    Same,
    /// The same shape; these settings differ (each a sentence).
    Settings(Vec<String>),
    /// The boxes cannot sync: what differs, in one sentence.
    Shape(String),
}

fn names(c: &CategoriesDigest) -> String {
    if c.categories.is_empty() {
        "none".into()
    } else {
        c.categories
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Compares box `a`'s categories with box `b`'s (`a_name`, `b_name` name the boxes).
pub fn compare(a_name: &str, a: &CategoriesDigest, b_name: &str, b: &CategoriesDigest) -> Comparison {
    if a.digest == b.digest {
        return Comparison::Same;
    }
    let (ac, bc) = (&a.categories, &b.categories);
    if ac.len() != bc.len() {
        return Comparison::Shape(format!(
            "{a_name} has {} sync categories ({}), {b_name} has {} ({})",
            ac.len(),
            names(a),
            bc.len(),
            names(b)
        ));
    }
    let mut sorted_a: Vec<&str> = ac.iter().map(|c| c.name.as_str()).collect();
    let mut sorted_b: Vec<&str> = bc.iter().map(|c| c.name.as_str()).collect();
    sorted_a.sort_unstable();
    sorted_b.sort_unstable();
    if sorted_a == sorted_b {
        if let Some(i) = ac.iter().zip(bc).position(|(x, y)| x.name != y.name) {
            return Comparison::Shape(format!(
                "the sync categories are in another order: {a_name} lists {}, {b_name} lists {} (category {} is \
                 \"{}\" on {a_name}, \"{}\" on {b_name})",
                names(a),
                names(b),
                i + 1,
                ac[i].name,
                bc[i].name
            ));
        }
    } else {
        let only = |x: &[&str], y: &[&str]| -> Vec<String> {
            x.iter()
                .filter(|n| !y.contains(n))
                .map(|n| format!("\"{n}\""))
                .collect()
        };
        let (only_a, only_b) = (only(&sorted_a, &sorted_b), only(&sorted_b, &sorted_a));
        return Comparison::Shape(format!(
            "the sync categories have other names: {} only on {a_name}, {} only on {b_name}",
            only_a.join(", "),
            only_b.join(", ")
        ));
    }
    let mut settings = Vec::new();
    for (x, y) in ac.iter().zip(bc) {
        if x.roots != y.roots {
            return Comparison::Shape(format!(
                "the category \"{}\" has {} root folder(s) on {a_name} and {} on {b_name}; the boxes pair the roots \
                 up by their position",
                x.name, x.roots, y.roots
            ));
        }
        if x.database != y.database {
            let (db, files) = if x.database { (a_name, b_name) } else { (b_name, a_name) };
            return Comparison::Shape(format!(
                "the category \"{}\" is a database (with a dump command) on {db} but plain files on {files}, so its \
                 dump would not be restored after a failover",
                x.name
            ));
        }
        if x.include != y.include || x.exclude != y.exclude {
            settings.push(format!(
                "the category \"{}\" selects other files on {a_name} than on {b_name} (include/exclude)",
                x.name
            ));
        }
        if x.priority != y.priority {
            settings.push(format!(
                "the category \"{}\" has priority {} on {a_name} and {} on {b_name}",
                x.name, x.priority, y.priority
            ));
        }
    }
    Comparison::Settings(settings)
}

/// What to do about a difference in shape, on box `fix_on` (the one whose file changes).
pub fn shape_fix(fix_on: &str, like: &str) -> String {
    format!(
        "Make the [[sync.category]] sections of the agent's configuration on {fix_on} (/etc/lbs-agent/agent.toml) \
         list the same categories as on {like}: the same names, in the same order, each with the same number of \
         roots and a dump command on both or neither. `lbs-agent check-config` shows each box's. Then restart the \
         agent there (systemctl restart lbs-agent) and pair again."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> SyncConfig {
        let full = format!("[server]\nname = \"x\"\nstate_dir = \"/tmp/x\"\n{text}");
        crate::config::Config::parse(&full, std::path::Path::new("t.toml"))
            .unwrap()
            .sync
    }

    const TWO: &str = "[[sync.category]]\nname = \"voicemail\"\nroots = [\"/var/spool/asterisk/voicemail\"]\n\
                       [[sync.category]]\nname = \"recordings\"\nroots = [\"/var/spool/asterisk/monitor\"]\n";

    #[test]
    fn the_same_categories_have_the_same_digest() {
        let (a, b) = (digest(&config(TWO)), digest(&config(TWO)));
        assert_eq!(a, b);
        assert_eq!(compare("PBX A", &a, "PBX B", &b), Comparison::Same);
        assert_eq!(a.categories.len(), 2);
        assert_eq!(a.digest.len(), 64);
    }

    #[test]
    fn a_missing_category_is_named_with_both_lists() {
        let a = digest(&config(TWO));
        let b = digest(&config("[[sync.category]]\nname = \"voicemail\"\nroots = [\"/v\"]\n"));
        let Comparison::Shape(why) = compare("PBX A", &a, "PBX B", &b) else {
            panic!()
        };
        assert_eq!(
            why,
            "PBX A has 2 sync categories (voicemail, recordings), PBX B has 1 (voicemail)"
        );
    }

    #[test]
    fn another_order_another_name_another_root_count_or_a_database_on_one_side_refuse() {
        let a = digest(&config(TWO));
        let swapped = digest(&config(
            "[[sync.category]]\nname = \"recordings\"\nroots = [\"/m\"]\n[[sync.category]]\nname = \"voicemail\"\nroots = [\"/v\"]\n",
        ));
        let Comparison::Shape(why) = compare("PBX A", &a, "PBX B", &swapped) else {
            panic!()
        };
        assert!(
            why.contains("another order")
                && why.contains("category 1 is \"voicemail\" on PBX A, \"recordings\" on PBX B"),
            "{why}"
        );
        let renamed = digest(&config(
            "[[sync.category]]\nname = \"voicemail\"\nroots = [\"/v\"]\n[[sync.category]]\nname = \"monitor\"\nroots = [\"/m\"]\n",
        ));
        let Comparison::Shape(why) = compare("PBX A", &a, "PBX B", &renamed) else {
            panic!()
        };
        assert!(
            why.contains("\"recordings\" only on PBX A, \"monitor\" only on PBX B"),
            "{why}"
        );
        let two_roots = digest(&config(
            "[[sync.category]]\nname = \"voicemail\"\nroots = [\"/v\", \"/w\"]\n[[sync.category]]\nname = \"recordings\"\nroots = [\"/m\"]\n",
        ));
        let Comparison::Shape(why) = compare("PBX A", &a, "PBX B", &two_roots) else {
            panic!()
        };
        assert!(
            why.contains("\"voicemail\" has 1 root folder(s) on PBX A and 2 on PBX B"),
            "{why}"
        );
        let db = digest(&config(
            "[[sync.category]]\nname = \"voicemail\"\nroots = [\"/v\"]\ndump = [\"true\"]\ndump_file = \"v.sql\"\n[[sync.category]]\nname = \"recordings\"\nroots = [\"/m\"]\n",
        ));
        let Comparison::Shape(why) = compare("PBX A", &a, "PBX B", &db) else {
            panic!()
        };
        assert!(
            why.contains("a database (with a dump command) on PBX B but plain files on PBX A"),
            "{why}"
        );
    }

    #[test]
    fn other_globs_or_priorities_are_settings_not_a_refusal() {
        let a = digest(&config(TWO));
        let b = digest(&config(
            "[[sync.category]]\nname = \"voicemail\"\nroots = [\"/v\"]\nexclude = [\"*.tmp\"]\n\
             [[sync.category]]\nname = \"recordings\"\nroots = [\"/m\"]\npriority = 2\n",
        ));
        let Comparison::Settings(list) = compare("PBX A", &a, "PBX B", &b) else {
            panic!()
        };
        assert_eq!(list.len(), 2, "{list:?}");
        assert!(list[1].contains("priority 5 on PBX A and 2 on PBX B"), "{list:?}");
    }
}
