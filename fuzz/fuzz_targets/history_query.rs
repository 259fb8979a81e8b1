//! The history's query string (`GET /api/v1/metrics/history?series=…&from=…&to=…&points=…`), read
//! as axum's `Query` reads it, then answered by a real history database holding a day of
//! samples and its roll-ups. Properties: a refused query is a clear `InvalidQuery` or an unknown
//! series, never a database error; an answer has at most `points` buckets, all inside the range
//! and in order.
#![no_main]

use std::sync::OnceLock;

use lbs_history::{HistoryError, HistoryQuery, HistoryStore, Retention, SeriesDef, SeriesKind};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_700_000_000;

struct Db {
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    store: HistoryStore,
}

fn db() -> &'static Db {
    static DB: OnceLock<Db> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let store = runtime.block_on(async {
            let store = HistoryStore::open(&dir.path().join("history.db"), Retention::default())
                .await
                .expect("the history opens");
            let def = |name: &str| SeriesDef {
                name: name.into(),
                label: name.into(),
                unit: "%".into(),
                kind: SeriesKind::Resources,
            };
            store
                .register(&[def("cpu.usage"), def("mem.used")])
                .await
                .expect("series");
            let rows: Vec<(i64, &str, f64)> = (0..8_640)
                .map(|i| (NOW - 86_400 + i * 10, "cpu.usage", (i % 100) as f64))
                .collect();
            store.record_many(&rows).await.expect("samples");
            store.roll_up(NOW).await.expect("roll-ups");
            store
        });
        Db {
            _dir: dir,
            runtime,
            store,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(q) = serde_urlencoded::from_bytes::<HistoryQuery>(data) else {
        return;
    };
    let db = db();
    match db.runtime.block_on(db.store.query(&q)) {
        Ok(answer) => {
            assert!(
                answer.points.len() <= q.points as usize,
                "{} points",
                answer.points.len()
            );
            assert!(answer.bucket_secs >= 1);
            let mut last = None;
            for point in &answer.points {
                assert!(
                    point.t >= q.from && point.t < q.to,
                    "{} outside {}..{}",
                    point.t,
                    q.from,
                    q.to
                );
                assert!(last < Some(point.t));
                assert!(point.min <= point.max, "{point:?}");
                last = Some(point.t);
            }
        }
        Err(HistoryError::InvalidQuery(m)) => assert!(!m.is_empty()),
        Err(HistoryError::UnknownSeries(_)) => {}
        Err(e) => panic!("{q:?}: {e}"),
    }
});
