//! `cashless_kernel`: the payment ledger's per-event work out of the interpreter.
//!
//! One class, `PaymentKernel`, holds the in-memory state of the partitions a worker owns and
//! applies a batch of one partition's records in one call: decoding and validating the events
//! (a record that is not wholly valid goes to the Python decoder, which names the reasons),
//! the dedup and late decisions, the hour rows, totals and dedup rows to persist, and the
//! running window sums. Python keeps Kafka, the local store's I/O (the `store` object it is
//! given), metrics and wiring; `streams/ledger.py` documents the rules and the persisted keys.

mod decode;
mod ledger;
mod seen;
mod series;
mod time;

use std::collections::{HashMap, HashSet};

use pyo3::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use pyo3::types::{PyBytes, PyDict};

use decode::Rules;
use ledger::{Core, Partition, Writes};
use series::Windows;
use time::Days;

/// The payment ledger's state for the partitions a worker holds, and the batch logic.
#[pyclass(module = "cashless_kernel")]
struct PaymentKernel {
    core: Core,
    partitions: FxHashMap<i64, Partition>,
}

fn py_writes<'py>(py: Python<'py>, writes: Writes) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in writes {
        dict.set_item(PyBytes::new(py, &k), v.map(|v| PyBytes::new(py, &v)))?;
    }
    Ok(dict)
}

type Figures = (Option<HashMap<String, Vec<i64>>>, HashMap<i64, (i64, i64)>);

#[pymethods]
impl PaymentKernel {
    #[new]
    #[pyo3(signature = (store, *, windows, horizon_seconds, trend_days, day_seconds, day_offset_seconds, segments, districts, methods, noncash_methods, max_record_bytes, seen_rows_per_key))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        store: PyObject,
        windows: Vec<(String, i64)>,
        horizon_seconds: i64,
        trend_days: i64,
        day_seconds: i64,
        day_offset_seconds: i64,
        segments: HashMap<String, HashSet<String>>,
        districts: HashSet<String>,
        methods: Vec<String>,
        noncash_methods: HashSet<String>,
        max_record_bytes: usize,
        seen_rows_per_key: usize,
    ) -> Self {
        let noncash = methods.iter().map(|m| noncash_methods.contains(m)).collect();
        PaymentKernel {
            core: Core {
                store,
                names: Default::default(),
                rules: Rules {
                    segments: segments.into_iter().map(|(c, s)| (c, s.into_iter().collect())).collect(),
                    districts: districts.into_iter().collect(),
                    max_record_bytes,
                    methods: methods.clone(),
                },
                windows: Windows {
                    names: windows.iter().map(|(n, _)| n.clone()).collect(),
                    minutes: windows.iter().map(|(_, m)| *m).collect(),
                },
                methods,
                noncash,
                horizon: horizon_seconds,
                trend_days,
                days: Days { offset: day_offset_seconds, length: day_seconds },
                seen_rows_per_key,
            },
            partitions: FxHashMap::default(),
        }
    }

    /// Apply one partition's `(offset, value)` records in offset order: `(writes, local,
    /// rejections)`, the table writes (None deletes), the writes for the local store only, and
    /// `(offset, rejection, raw)` per rejection. The items of an array the fast path does not
    /// accept are decided by `slow_items(offset, value, [(position, text)])` (None: by `slow`); records
    /// at `slow_offsets`, and those not read at all, by `slow(offset, value)`; `latest` is the
    /// newest event time accepted.
    fn process<'py>(
        &mut self,
        py: Python<'py>,
        partition: i64,
        records: Vec<(i64, Bound<'py, PyBytes>)>,
        slow: Bound<'py, PyAny>,
        slow_items: Bound<'py, PyAny>,
        slow_offsets: FxHashSet<i64>,
        latest: f64,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>, Vec<(i64, PyObject, PyObject)>)> {
        let Self { core, partitions } = self;
        let state = partitions.entry(partition).or_insert_with(|| Partition::new(partition));
        let outcome = core.process(py, state, &records, &slow, &slow_items, &slow_offsets, latest)?;
        Ok((py_writes(py, outcome.writes)?, py_writes(py, outcome.local)?, outcome.rejections))
    }

    /// Rebuild from one persisted (key, value); the local store's index writes it needs.
    #[pyo3(signature = (key, value))]
    fn restore<'py>(&mut self, py: Python<'py>, key: &[u8], value: Option<&[u8]>) -> PyResult<Bound<'py, PyDict>> {
        let Self { core, partitions } = self;
        let local = core.restore(py, partitions, key, value)?;
        py_writes(py, local)
    }

    /// The partitions held.
    fn partitions(&self) -> Vec<i64> {
        let mut held: Vec<i64> = self.partitions.keys().copied().collect();
        held.sort_unstable();
        held
    }

    /// Forget a partition.
    fn drop(&mut self, partition: i64) {
        self.partitions.remove(&partition);
    }

    /// The persisted meta of a partition (JSON, `PartitionMeta`), made empty on first use.
    fn meta<'py>(&mut self, py: Python<'py>, partition: i64) -> Bound<'py, PyBytes> {
        let state = self.partitions.entry(partition).or_insert_with(|| Partition::new(partition));
        PyBytes::new(py, &serde_json::to_vec(&state.meta).expect("plain data serialises"))
    }

    /// The latest applied event time over every partition held.
    fn stream_time(&self) -> Option<f64> {
        self.partitions
            .values()
            .filter_map(|p| p.meta.stream_time)
            .filter(|t| *t != 0.0)
            .reduce(f64::max)
    }

    /// Per segment of a partition: `(channel, segment, {method: (count, amount)}, {window:
    /// sums} or None, {day: (count, non-cash)})`, windows ending at minute `end` if given.
    #[pyo3(signature = (partition, end))]
    fn segments(&mut self, py: Python<'_>, partition: i64, end: Option<i64>) -> PyResult<Vec<(String, String, HashMap<String, (i64, i64)>, Figures)>> {
        let Self { core, partitions } = self;
        let Some(state) = partitions.get_mut(&partition) else { return Ok(Vec::new()) };
        let names = core.windows.names.clone();
        Ok(core
            .segment_figures(py, state, end)?
            .into_iter()
            .map(|f| {
                let windows = f.windows.map(|sums| names.iter().cloned().zip(sums).collect());
                let totals = f.totals.into_iter().map(|(m, c, a)| (m, (c, a))).collect();
                let days = f.days.into_iter().map(|(d, n, c)| (d, (n, c))).collect();
                (f.channel, f.segment, totals, (windows, days))
            })
            .collect())
    }

    /// Per district of a partition: `(district, {window: (count, non-cash)} or None, {day:
    /// (count, non-cash)})`, windows ending at minute `end` if given.
    #[pyo3(signature = (partition, end))]
    fn districts(&mut self, py: Python<'_>, partition: i64, end: Option<i64>) -> PyResult<Vec<(String, Figures)>> {
        let Self { core, partitions } = self;
        let Some(state) = partitions.get_mut(&partition) else { return Ok(Vec::new()) };
        let names = core.windows.names.clone();
        Ok(core
            .district_figures(py, state, end)?
            .into_iter()
            .map(|f| {
                let windows = f.windows.map(|sums| names.iter().cloned().zip(sums).collect());
                let days = f.days.into_iter().map(|(d, n, c)| (d, (n, c))).collect();
                (f.district, (windows, days))
            })
            .collect())
    }

    /// The events of one record as the fast path reads them, or None when it leaves the
    /// record to the Python decoder: `(event_id, t, source, channel, segment, district,
    /// method, amount)` each.
    fn fast_events(&self, raw: &[u8], latest: f64) -> Option<Vec<(String, f64, String, String, String, String, String, i64)>> {
        self.core.rules.fast(raw, latest).map(|events| {
            events
                .into_iter()
                .map(|e| {
                    (
                        e.event_id.into_owned(),
                        e.t,
                        e.source.into_owned(),
                        e.channel.into_owned(),
                        e.segment.into_owned(),
                        e.district.into_owned(),
                        self.core.methods[e.method].clone(),
                        e.amount,
                    )
                })
                .collect()
        })
    }
}

#[pymodule]
fn cashless_kernel(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PaymentKernel>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
