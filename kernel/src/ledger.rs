//! The payment ledger's state per partition and what a batch of records does to it.
//!
//! The rules, the keys and the values are those `streams/ledger.py` documents: this is their
//! one implementation. Python keeps the I/O: the local store is read through the `store` object
//! (`get_many`, `scan`), and the writes a batch makes are returned to be persisted.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::{FxBuildHasher, FxHashMap as HashMap, FxHashSet as HashSet};

use indexmap::IndexMap;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use serde::{Deserialize, Serialize};

use crate::decode::{Event, Read, Rules};
use crate::seen::SeenFilter;
use crate::series::{MinuteSeries, Minutes, Windows};
use crate::time::{minute_of, window_end, Days, HOUR_MINUTES, MINUTE};

/// A counter remembers the position (offset, index in the record) of the last event applied.
const INDEX_BITS: i64 = 20;

type HourKey = (u32, u32, i64); // segment, district, hour
type Row = [i64; 5]; // n, noncash, amount, noncash_amount, position
type Entry = (i64, i64, f64); // a dedup entry: offset, index, occurred_at
type SeenRow = (String, String, String, String, i64, i64, f64);
// An event the Python decoder accepted: index or position, event_id, event time, source,
// channel, segment, district, method, amount.
type SlowEvent = (i64, String, f64, String, String, String, String, String, i64);
pub type Writes = IndexMap<Vec<u8>, Option<Vec<u8>>, FxBuildHasher>;

/// Counters and clocks of one partition, persisted as one value (`PartitionMeta`).
#[derive(Serialize, Deserialize, Clone)]
#[serde(default)]
pub struct Meta {
    pub last_offset: i64,
    pub stream_time: Option<f64>,
    // `channel:segment` -> latest applied event time of that segment: its lateness clock
    pub clocks: BTreeMap<String, f64>,
    pub rejected: BTreeMap<String, i64>,
    pub duplicates: i64,
    pub late: i64,
    pub newest: BTreeMap<String, f64>,
}

impl Default for Meta {
    fn default() -> Self {
        Meta {
            last_offset: -1,
            stream_time: None,
            clocks: BTreeMap::new(),
            rejected: BTreeMap::new(),
            duplicates: 0,
            late: 0,
            newest: BTreeMap::new(),
        }
    }
}

/// The segments and districts met, each named once by a small number.
#[derive(Default)]
pub struct Names {
    pub segments: Vec<(String, String)>,
    segment_ids: HashMap<String, HashMap<String, u32>>,
    pub districts: Vec<String>,
    district_ids: HashMap<String, u32>,
}

impl Names {
    pub fn segment(&mut self, channel: &str, segment: &str) -> u32 {
        if let Some(id) = self.segment_ids.get(channel).and_then(|s| s.get(segment)) {
            return *id;
        }
        let id = self.segments.len() as u32;
        self.segments.push((channel.to_owned(), segment.to_owned()));
        self.segment_ids.entry(channel.to_owned()).or_default().insert(segment.to_owned(), id);
        id
    }

    pub fn district(&mut self, district: &str) -> u32 {
        if let Some(id) = self.district_ids.get(district) {
            return *id;
        }
        let id = self.districts.len() as u32;
        self.districts.push(district.to_owned());
        self.district_ids.insert(district.to_owned(), id);
        id
    }

    fn clock_key(&self, segment: u32) -> String {
        let (channel, name) = &self.segments[segment as usize];
        format!("{channel}:{name}")
    }
}

/// The aggregates of one segment: window sums, daily shares, totals by method, its districts.
pub struct Segment {
    pub minutes: MinuteSeries,
    pub days: BTreeMap<i64, [i64; 2]>,
    pub totals: BTreeMap<usize, [i64; 3]>, // method -> count, amount, position
    pub districts: BTreeSet<u32>,
}

pub struct Partition {
    pub number: i64,
    pub meta: Meta,
    // the hour rows read or written lately, a cache of the store; every row a batch changed
    // stays here until the next batch starts, by when the store holds it
    cells: HashMap<HourKey, BTreeMap<i64, Row>>,
    // local day of the dedup rows -> segment -> newest occurred_at, for pruning
    seen_days: HashMap<i64, HashMap<u32, f64>>,
    // which dedup index keys the store may hold
    seen: SeenFilter,
    pub segments: HashMap<u32, Segment>,
    pub districts: HashMap<u32, MinuteSeries>,
    // district -> local day -> [count, non-cash count], for the district and city trends
    pub district_days: HashMap<u32, BTreeMap<i64, [i64; 2]>>,
    district_segments: HashMap<u32, BTreeSet<u32>>,
    swept_before: i64,
}

impl Partition {
    pub fn new(number: i64) -> Self {
        Partition {
            number,
            meta: Meta::default(),
            cells: HashMap::default(),
            seen_days: HashMap::default(),
            seen: SeenFilter::default(),
            segments: HashMap::default(),
            districts: HashMap::default(),
            district_days: HashMap::default(),
            district_segments: HashMap::default(),
            swept_before: 0,
        }
    }
}

/// What stays the same for every partition: the store, the names, the rules and the windows.
pub struct Core {
    pub store: PyObject,
    pub names: Names,
    pub rules: Rules,
    pub windows: Windows,
    pub methods: Vec<String>,
    pub noncash: Vec<bool>,
    pub horizon: i64, // seconds
    pub trend_days: i64,
    pub days: Days,
    pub seen_rows_per_key: usize,
}

/// What a batch did: table writes (None deletes), writes for the local store only, and the
/// rejections with their input.
#[derive(Default)]
pub struct Outcome {
    pub writes: Writes,
    pub local: Writes,
    pub rejections: Vec<(i64, PyObject, PyObject)>,
}

/// One record as a batch applies it.
struct Decoded<'a> {
    offset: i64,
    events: Vec<(i64, Event<'a>)>,
    rejections: Vec<(String, PyObject, PyObject)>,
}

/// One segment's clock as a batch sees it.
struct Clock {
    clock: Option<f64>,
    horizon: Option<i64>,
    moved: bool,
}

fn key(parts: &[&str]) -> Vec<u8> {
    parts.join("|").into_bytes()
}

fn json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("plain data serialises")
}

fn decode_err(what: &str, err: impl std::fmt::Display) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(format!("stored {what} does not decode: {err}"))
}

impl Core {
    fn seen_key(&self, p: &str, channel: &str, segment: &str, source: &str, event_id: &str) -> Vec<u8> {
        format!("e|{p}|{channel}|{segment}|{source}|{event_id}").into_bytes()
    }

    fn cell_key(&self, p: &str, (segment, district, hour): HourKey) -> Vec<u8> {
        let (channel, name) = &self.names.segments[segment as usize];
        key(&[
            "c",
            p,
            channel,
            name,
            &self.names.districts[district as usize],
            &hour.to_string(),
        ])
    }

    pub fn get_many(&self, py: Python<'_>, partition: i64, keys: &[Vec<u8>]) -> PyResult<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let list = PyList::new(py, keys.iter().map(|k| PyBytes::new(py, k)))?;
        let found = self.store.bind(py).call_method1("get_many", (partition, list))?;
        let mut values = Vec::with_capacity(keys.len());
        for item in found.try_iter()? {
            let item = item?;
            values.push(if item.is_none() {
                None
            } else {
                Some(item.downcast::<PyBytes>()?.as_bytes().to_vec())
            });
        }
        Ok(values)
    }

    fn scan(&self, py: Python<'_>, partition: i64, prefix: &[u8]) -> PyResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let found = self.store.bind(py).call_method1("scan", (partition, PyBytes::new(py, prefix)))?;
        let mut items = Vec::new();
        for item in found.try_iter()? {
            let (k, v): (Vec<u8>, Vec<u8>) = item?.extract()?;
            items.push((k, v));
        }
        Ok(items)
    }

    /// Read the hour rows of `keys` the cache lacks from the store.
    fn load_rows(&self, py: Python<'_>, state_number: i64, swept_before: i64, cells: &mut HashMap<HourKey, BTreeMap<i64, Row>>, keys: &[HourKey]) -> PyResult<()> {
        let swept = swept_before.div_euclid(HOUR_MINUTES); // rows before it are deleted or being deleted
        let missing: Vec<HourKey> = keys.iter().copied().filter(|k| !cells.contains_key(k) && k.2 >= swept).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let p = state_number.to_string();
        let store_keys: Vec<Vec<u8>> = missing.iter().map(|k| self.cell_key(&p, *k)).collect();
        for (k, value) in missing.into_iter().zip(self.get_many(py, state_number, &store_keys)?) {
            if let Some(value) = value {
                let rows: Vec<[i64; 6]> = serde_json::from_slice(&value).map_err(|e| decode_err("hour row", e))?;
                cells.insert(k, rows.into_iter().map(|r| (r[0], [r[1], r[2], r[3], r[4], r[5]])).collect());
            }
        }
        Ok(())
    }

    /// The first `width` counters of the hour rows of `keys`, added up per minute.
    fn merged(&self, py: Python<'_>, number: i64, swept_before: i64, cells: &mut HashMap<HourKey, BTreeMap<i64, Row>>, keys: &[HourKey], width: usize) -> PyResult<Minutes> {
        self.load_rows(py, number, swept_before, cells, keys)?;
        let mut merged = Minutes::new();
        for k in keys {
            if let Some(hour) = cells.get(k) {
                for (minute, cell) in hour {
                    let total = merged.entry(*minute).or_insert_with(|| vec![0; width]);
                    for i in 0..width {
                        total[i] += cell[i];
                    }
                }
            }
        }
        Ok(merged)
    }

    fn new_segment(&self) -> Segment {
        Segment {
            minutes: MinuteSeries::new(4, &self.windows),
            days: BTreeMap::new(),
            totals: BTreeMap::new(),
            districts: BTreeSet::new(),
        }
    }

    /// Add `values` of one minute to the segment's minutes and days and to its district.
    fn aggregate(&self, state: &mut Partition, segment: u32, district: u32, minute: i64, values: &[i64]) {
        let cells = state.segments.entry(segment).or_insert_with(|| self.new_segment());
        if cells.districts.insert(district) {
            state.district_segments.entry(district).or_default().insert(segment);
        }
        cells.minutes.add(minute, values);
        let day = self.days.of_seconds(minute * MINUTE);
        let counts = cells.days.entry(day).or_insert([0, 0]);
        counts[0] += values[0];
        counts[1] += values[1];
        let counts = state.district_days.entry(district).or_default().entry(day).or_insert([0, 0]);
        counts[0] += values[0];
        counts[1] += values[1];
        state.district_segments.entry(district).or_default();
        let windows = &self.windows;
        state.districts.entry(district).or_insert_with(|| MinuteSeries::new(2, windows)).add(minute, &values[..2]);
    }

    /// Apply the `(offset, value)` records of one partition, in offset order. Records whose
    /// offset is in `slow_offsets`, and those the fast path does not accept whole, are decoded
    /// by `slow(offset, value)`: `([(index, event_id, t, source, channel, segment, district,
    /// method, amount)], [(reason, rejection, raw)])`.
    pub fn process(&mut self, py: Python<'_>, state: &mut Partition, records: &[(i64, Bound<'_, PyBytes>)], slow: &Bound<'_, PyAny>, slow_items: &Bound<'_, PyAny>, slow_offsets: &HashSet<i64>, latest: f64) -> PyResult<Outcome> {
        let mut out = Outcome::default();
        let p = state.number.to_string();
        // Sweep before the batch, on the clocks the previous batch persisted (see ledger.py).
        let known = state.meta.stream_time;
        if let Some(known) = known {
            let recent = window_end(known).div_euclid(MINUTE).div_euclid(HOUR_MINUTES) - 1;
            state.cells.retain(|k, _| k.2 >= recent);
        }
        self.sweep(py, state, known, &mut out)?;
        let mut decoded: Vec<Decoded<'_>> = Vec::with_capacity(records.len());
        for (offset, value) in records {
            let raw = value.as_bytes();
            let read = if slow_offsets.contains(offset) { Read::Nothing } else { self.rules.read(raw, latest) };
            match read {
                Read::Whole(events) => decoded.push(Decoded {
                    offset: *offset,
                    events: events.into_iter().enumerate().map(|(i, e)| (i as i64, e)).collect(),
                    rejections: Vec::new(),
                }),
                Read::Items(fast, others) => match self.slow_items(slow_items, *offset, value, others)? {
                    Some((taken, rejections)) => {
                        let mut events: Vec<(usize, Event<'_>)> = fast.into_iter().chain(taken).collect();
                        events.sort_by_key(|(at, _)| *at);
                        decoded.push(Decoded {
                            offset: *offset,
                            events: events.into_iter().enumerate().map(|(i, (_, e))| (i as i64, e)).collect(),
                            rejections,
                        });
                    }
                    None => decoded.push(self.slow(slow, *offset, value)?),
                },
                Read::Nothing => decoded.push(self.slow(slow, *offset, value)?),
            }
        }
        // One pass for the hour rows the events go to and their dedup index keys, read in one go.
        let mut prepared: Vec<(u32, u32, i64)> = Vec::new(); // segment, district, minute
        let mut wanted: Vec<Vec<u8>> = Vec::new();
        let mut hours: HashSet<HourKey> = HashSet::default();
        let mut last: Option<(usize, usize, u32)> = None; // (record, event) of the last lookup
        for (r, record) in decoded.iter().enumerate() {
            for (i, (_, e)) in record.events.iter().enumerate() {
                let segment = match last {
                    Some((lr, li, id)) if { let (_, pe) = &decoded[lr].events[li]; pe.channel == e.channel && pe.segment == e.segment } => id,
                    _ => self.names.segment(&e.channel, &e.segment),
                };
                last = Some((r, i, segment));
                let district = self.names.district(&e.district);
                let minute = minute_of(e.t);
                prepared.push((segment, district, minute));
                hours.insert((segment, district, minute.div_euclid(HOUR_MINUTES)));
                wanted.push(self.seen_key(&p, &e.channel, &e.segment, &e.source, &e.event_id));
            }
        }
        let hours: Vec<HourKey> = hours.into_iter().collect();
        self.load_rows(py, state.number, state.swept_before, &mut state.cells, &hours)?;
        // The store is read only for the events it may hold an entry of (see `seen.rs`).
        let mut seen: HashMap<&[u8], Option<Entry>> = wanted.iter().map(|k| (k.as_slice(), None)).collect();
        let lookups: Vec<Vec<u8>> = seen.keys().filter(|k| state.seen.may_hold(k)).map(|k| k.to_vec()).collect();
        for (k, value) in lookups.iter().zip(self.get_many(py, state.number, &lookups)?) {
            if let Some(v) = value {
                let entry = serde_json::from_slice::<Entry>(&v).map_err(|e| decode_err("dedup entry", e))?;
                seen.insert(k.as_slice(), Some(entry));
            }
        }
        let mut clocks: HashMap<u32, Clock> = HashMap::default();
        let mut dirty_cells: HashSet<HourKey> = HashSet::default();
        let mut dirty_totals: HashSet<(u32, usize)> = HashSet::default();
        let mut new_seen: Vec<(u32, usize, i64, i64, f64)> = Vec::new(); // segment, event#, offset, index, t
        let mut flat: Vec<&Event<'_>> = Vec::with_capacity(prepared.len());
        let mut n = 0;
        for record in decoded.iter_mut() {
            let offset = record.offset;
            let fresh = offset > state.meta.last_offset;
            for (reason, rejection, raw) in record.rejections.drain(..) {
                if fresh {
                    *state.meta.rejected.entry(reason).or_insert(0) += 1;
                }
                out.rejections.push((offset, rejection, raw));
            }
        }
        for record in decoded.iter() {
            let offset = record.offset;
            let fresh = offset > state.meta.last_offset;
            for (index, e) in record.events.iter() {
                let (segment, district, minute) = prepared[n];
                let seen_key = wanted[n].as_slice();
                n += 1;
                flat.push(e);
                let t = e.t;
                if fresh {
                    match state.meta.newest.get_mut(e.source.as_ref()) {
                        Some(previous) if t > *previous => *previous = t,
                        Some(_) => {}
                        None => {
                            state.meta.newest.insert(e.source.to_string(), t);
                        }
                    }
                }
                let clock = clocks.entry(segment).or_insert_with(|| {
                    state.segments.entry(segment).or_insert_with(|| self.new_segment());
                    let clock = state.meta.clocks.get(&self.names.clock_key(segment)).copied();
                    Clock { clock, horizon: clock.map(|c| window_end(c) - self.horizon), moved: false }
                });
                let entry = seen[seen_key];
                let replay = matches!(entry, Some((o, i, _)) if o == offset && i == *index);
                if !replay {
                    if let Some(horizon) = clock.horizon {
                        if t < horizon as f64 {
                            state.meta.late += fresh as i64;
                            continue;
                        }
                    }
                    if let Some((_, _, at)) = entry {
                        if clock.horizon.map_or(true, |h| at >= h as f64) {
                            state.meta.duplicates += fresh as i64;
                            continue;
                        }
                    }
                    seen.insert(seen_key, Some((offset, *index, t)));
                    state.seen.add(seen_key);
                    out.local.insert(seen_key.to_vec(), Some(json(&(offset, *index, t))));
                    new_seen.push((segment, flat.len() - 1, offset, *index, t));
                }
                let position = (offset << INDEX_BITS) | index;
                let hour_key = (segment, district, minute.div_euclid(HOUR_MINUTES));
                let cell = state.cells.entry(hour_key).or_default().entry(minute).or_insert([0, 0, 0, 0, -1]);
                if position > cell[4] {
                    let noncash = self.noncash[e.method];
                    let values = [1, noncash as i64, e.amount, if noncash { e.amount } else { 0 }];
                    cell[0] += 1;
                    cell[1] += values[1];
                    cell[2] += e.amount;
                    cell[3] += values[3];
                    cell[4] = position;
                    dirty_cells.insert(hour_key);
                    self.aggregate(state, segment, district, minute, &values);
                }
                let cells = state.segments.get_mut(&segment).expect("made with its clock");
                let total = cells.totals.entry(e.method).or_insert([0, 0, -1]);
                if position > total[2] {
                    total[0] += 1;
                    total[1] += e.amount;
                    total[2] = position;
                    dirty_totals.insert((segment, e.method));
                }
                if clock.clock.map_or(true, |c| t > c) {
                    clock.clock = Some(t);
                    clock.horizon = Some(window_end(t) - self.horizon);
                    clock.moved = true;
                }
                if state.meta.stream_time.map_or(true, |s| t > s) {
                    state.meta.stream_time = Some(t);
                }
            }
            if fresh {
                state.meta.last_offset = offset;
            }
        }
        for hour_key in dirty_cells {
            let rows: Vec<[i64; 6]> = state.cells[&hour_key]
                .iter()
                .map(|(m, c)| [*m, c[0], c[1], c[2], c[3], c[4]])
                .collect();
            out.writes.insert(self.cell_key(&p, hour_key), Some(json(&rows)));
        }
        for (segment, method) in dirty_totals {
            let (channel, name) = &self.names.segments[segment as usize];
            let total = state.segments[&segment].totals[&method];
            out.writes.insert(key(&["t", &p, channel, name, &self.methods[method]]), Some(json(&total)));
        }
        let mut by_day: IndexMap<i64, Vec<SeenRow>, FxBuildHasher> = IndexMap::default();
        for (segment, at, offset, index, t) in new_seen {
            let (channel, name) = &self.names.segments[segment as usize];
            let e = flat[at];
            by_day.entry(self.days.of(t)).or_default().push((
                channel.clone(),
                name.clone(),
                e.source.to_string(),
                e.event_id.to_string(),
                offset,
                index,
                t,
            ));
        }
        for (day, rows) in by_day {
            for chunk in rows.chunks(self.seen_rows_per_key) {
                let first = &chunk[0];
                let k = key(&["d", &p, &day.to_string(), &first.4.to_string(), &first.5.to_string()]);
                out.writes.insert(k, Some(json(chunk)));
            }
            self.note_day(state, day, &rows);
        }
        for (segment, clock) in clocks {
            if let (true, Some(t)) = (clock.moved, clock.clock) {
                state.meta.clocks.insert(self.names.clock_key(segment), t);
            }
        }
        out.writes.insert(key(&["p", &p]), Some(json(&state.meta)));
        Ok(out)
    }

    /// The events and rejections of a record the Python decoder decides wholly.
    fn slow<'a>(&mut self, slow: &Bound<'_, PyAny>, offset: i64, value: &Bound<'_, PyBytes>) -> PyResult<Decoded<'a>> {
        let (events, rejections): (Vec<SlowEvent>, Vec<(String, PyObject, PyObject)>) = slow.call1((offset, value))?.extract()?;
        let events = self.taken(events)?;
        Ok(Decoded { offset, events: events.into_iter().map(|(i, e)| (i as i64, e)).collect(), rejections })
    }

    /// The items `(position, JSON text)` of an array record as the Python decoder decides them
    /// (events by position), or None when it decides the record as a whole.
    #[allow(clippy::type_complexity)]
    fn slow_items<'a>(&mut self, slow_items: &Bound<'_, PyAny>, offset: i64, value: &Bound<'_, PyBytes>, items: Vec<(usize, &str)>) -> PyResult<Option<(Vec<(usize, Event<'a>)>, Vec<(String, PyObject, PyObject)>)>> {
        let found: Option<(Vec<SlowEvent>, Vec<(String, PyObject, PyObject)>)> = slow_items.call1((offset, value, items))?.extract()?;
        match found {
            None => Ok(None),
            Some((events, rejections)) => Ok(Some((self.taken(events)?, rejections))),
        }
    }

    fn taken<'a>(&self, events: Vec<SlowEvent>) -> PyResult<Vec<(usize, Event<'a>)>> {
        let mut accepted = Vec::with_capacity(events.len());
        for (index, event_id, t, source, channel, segment, district, method, amount) in events {
            let method = self.methods.iter().position(|m| *m == method).ok_or_else(|| {
                pyo3::exceptions::PyValueError::new_err(format!("unknown method {method:?}"))
            })?;
            accepted.push((
                index as usize,
                Event {
                    event_id: event_id.into(),
                    t,
                    source: source.into(),
                    channel: channel.into(),
                    segment: segment.into(),
                    district: district.into(),
                    method,
                    amount,
                },
            ));
        }
        Ok(accepted)
    }

    /// Remember the newest occurred_at per segment among a day's dedup rows.
    fn note_day(&mut self, state: &mut Partition, day: i64, rows: &[SeenRow]) {
        let newest = state.seen_days.entry(day).or_default();
        for (channel, segment, _, _, _, _, t) in rows {
            let id = self.names.segment(channel, segment);
            let at = newest.entry(id).or_insert(f64::NEG_INFINITY);
            if *t > *at {
                *at = *t;
            }
        }
    }

    /// Forget what can no longer matter: once per event-time day, not per batch.
    fn sweep(&mut self, py: Python<'_>, state: &mut Partition, clock: Option<f64>, out: &mut Outcome) -> PyResult<()> {
        let Some(clock) = clock else { return Ok(()) };
        let p = state.number.to_string();
        let end = window_end(clock).div_euclid(MINUTE);
        let oldest_day = self.days.of(clock) - self.trend_days;
        let mut before = (end - self.horizon / MINUTE)
            .min((oldest_day * self.days.length - self.days.offset).div_euclid(MINUTE));
        before -= before.rem_euclid(HOUR_MINUTES); // whole hours, as cells are persisted
        if before - state.swept_before < self.days.length / MINUTE {
            return Ok(());
        }
        state.swept_before = before;
        let before_hour = before.div_euclid(HOUR_MINUTES);
        state.cells.retain(|k, _| k.2 >= before_hour);
        // the store's rows of those hours: a segment has one per district it has events in
        for (segment, cells) in &state.segments {
            for hour in cells.minutes.hours().into_iter().filter(|h| *h < before_hour) {
                for district in &cells.districts {
                    out.writes.insert(self.cell_key(&p, (*segment, *district, hour)), None);
                }
            }
        }
        // A day's dedup rows go once each of their segments' horizon has passed them.
        let mut horizons: HashMap<u32, f64> = HashMap::default();
        for (segment_key, c) in &state.meta.clocks {
            if let Some((channel, segment)) = segment_key.split_once(':') {
                horizons.insert(self.names.segment(channel, segment), (window_end(*c) - self.horizon) as f64);
            }
        }
        let mut gone: Vec<i64> = state
            .seen_days
            .iter()
            .filter(|(_, newest)| newest.iter().all(|(s, t)| *t < horizons.get(s).copied().unwrap_or(f64::NEG_INFINITY)))
            .map(|(day, _)| *day)
            .collect();
        gone.sort_unstable();
        for day in gone {
            state.seen_days.remove(&day);
            self.forget_day(py, state.number, &mut state.seen, day, out)?;
        }
        for cells in state.segments.values_mut() {
            cells.minutes.prune(before);
            cells.days.retain(|d, _| *d >= oldest_day);
        }
        for days in state.district_days.values_mut() {
            days.retain(|d, _| *d >= oldest_day);
        }
        for series in state.districts.values_mut() {
            series.prune(before);
        }
        Ok(())
    }

    /// Delete the dedup rows of one local day, and the index keys that still point at them.
    fn forget_day(&self, py: Python<'_>, partition: i64, filter: &mut SeenFilter, day: i64, out: &mut Outcome) -> PyResult<()> {
        let p = partition.to_string();
        let mut positions: IndexMap<Vec<u8>, HashSet<(i64, i64)>, FxBuildHasher> = IndexMap::default();
        for (k, value) in self.scan(py, partition, &key(&["d", &p, &day.to_string(), ""]))? {
            out.writes.insert(k, None);
            let rows: Vec<SeenRow> = serde_json::from_slice(&value).map_err(|e| decode_err("dedup rows", e))?;
            for (channel, segment, source, event_id, offset, index, _) in rows {
                let k = self.seen_key(&p, &channel, &segment, &source, &event_id);
                filter.remove(&k);
                positions.entry(k).or_default().insert((offset, index));
            }
        }
        let keys: Vec<Vec<u8>> = positions.keys().cloned().collect();
        for (k, stored) in keys.into_iter().zip(self.get_many(py, partition, &positions.keys().cloned().collect::<Vec<_>>())?) {
            if let Some(stored) = stored {
                let (offset, index, _): Entry = serde_json::from_slice(&stored).map_err(|e| decode_err("dedup entry", e))?;
                if positions[&k].contains(&(offset, index)) {
                    out.local.insert(k, None);
                }
            }
        }
        Ok(())
    }

    /// Rebuild from one persisted (key, value), each key once, from a store that holds them all
    /// (a None value is a deletion). Returns the writes the local store needs to index what it
    /// holds (the dedup index keys of recovered rows it lacks or holds older entries for).
    pub fn restore(&mut self, py: Python<'_>, partitions: &mut HashMap<i64, Partition>, k: &[u8], value: Option<&[u8]>) -> PyResult<Writes> {
        let mut local = Writes::default();
        let text = std::str::from_utf8(k).map_err(|e| decode_err("key", e))?;
        let parts: Vec<&str> = text.split('|').collect();
        let bad_key = || pyo3::exceptions::PyValueError::new_err(format!("not a payments table key: {text:?}"));
        if parts.len() < 2 {
            return Err(bad_key());
        }
        let number: i64 = parts[1].parse().map_err(|_| bad_key())?;
        let state = partitions.entry(number).or_insert_with(|| Partition::new(number));
        match (parts[0], &parts[2..], value) {
            ("p", [], Some(value)) => {
                state.meta = serde_json::from_slice(value).map_err(|e| decode_err("meta", e))?;
            }
            ("p", [], None) => {}
            ("c", [channel, segment, district, _], value) => {
                let segment = self.names.segment(channel, segment);
                state.segments.entry(segment).or_insert_with(|| self.new_segment());
                if let Some(value) = value {
                    // the rows stay in the store, their sums come here
                    let district = self.names.district(district);
                    let rows: Vec<[i64; 6]> = serde_json::from_slice(value).map_err(|e| decode_err("hour row", e))?;
                    for row in rows {
                        self.aggregate(state, segment, district, row[0], &row[1..5]);
                    }
                }
            }
            ("t", [channel, segment, method], value) => {
                if let Some(value) = value {
                    let method = self.methods.iter().position(|m| m == method).ok_or_else(bad_key)?;
                    let total: [i64; 3] = serde_json::from_slice(value).map_err(|e| decode_err("total", e))?;
                    let segment = self.names.segment(channel, segment);
                    state.segments.entry(segment).or_insert_with(|| self.new_segment()).totals.insert(method, total);
                }
            }
            ("d", [day, _, _], value) => {
                if let Some(value) = value {
                    let day: i64 = day.parse().map_err(|_| bad_key())?;
                    let rows: Vec<SeenRow> = serde_json::from_slice(value).map_err(|e| decode_err("dedup rows", e))?;
                    self.note_day(state, day, &rows);
                    let p = number.to_string();
                    let mut newest: IndexMap<Vec<u8>, Entry, FxBuildHasher> = IndexMap::default();
                    for (channel, segment, source, event_id, offset, index, t) in &rows {
                        let k = self.seen_key(&p, channel, segment, source, event_id);
                        state.seen.add(&k);
                        newest.insert(k, (*offset, *index, *t));
                    }
                    let keys: Vec<Vec<u8>> = newest.keys().cloned().collect();
                    for (k, stored) in keys.iter().zip(self.get_many(py, number, &keys)?) {
                        let entry = newest[k];
                        let older = match stored {
                            None => true,
                            Some(stored) => {
                                let (o, i, _): Entry = serde_json::from_slice(&stored).map_err(|e| decode_err("dedup entry", e))?;
                                (o, i) < (entry.0, entry.1)
                            }
                        };
                        if older {
                            local.insert(k.clone(), Some(json(&entry)));
                        }
                    }
                }
            }
            ("p" | "c" | "t" | "d", _, _) => return Err(bad_key()),
            _ => {} // not a key of the ledger's
        }
        Ok(local)
    }

    /// Each segment's totals by method, window sums ending at minute `end`, and daily counts.
    pub fn segment_figures(&self, py: Python<'_>, state: &mut Partition, end: Option<i64>) -> PyResult<Vec<SegmentFigures>> {
        let Partition { segments, cells, swept_before, number, .. } = state;
        let mut figures = Vec::with_capacity(segments.len());
        for (id, segment) in segments.iter_mut() {
            let Segment { minutes, days, totals, districts } = segment;
            let windows = match end {
                None => None,
                Some(end) => {
                    let mut detail = |hour: i64| -> PyResult<Minutes> {
                        let keys: Vec<HourKey> = districts.iter().map(|d| (*id, *d, hour)).collect();
                        self.merged(py, *number, *swept_before, cells, &keys, 4)
                    };
                    let mut sums = Vec::with_capacity(self.windows.names.len());
                    for w in 0..self.windows.names.len() {
                        sums.push(minutes.window(w, end, &mut detail)?);
                    }
                    Some(sums)
                }
            };
            let (channel, name) = self.names.segments[*id as usize].clone();
            figures.push(SegmentFigures {
                channel,
                segment: name,
                totals: totals.iter().map(|(m, t)| (self.methods[*m].clone(), t[0], t[1])).collect(),
                windows,
                days: days.iter().map(|(d, c)| (*d, c[0], c[1])).collect(),
            });
        }
        Ok(figures)
    }

    /// Each district's count and non-cash count over the windows ending at `end`, and per day.
    pub fn district_figures(&self, py: Python<'_>, state: &mut Partition, end: Option<i64>) -> PyResult<Vec<DistrictFigures>> {
        let Partition { districts, district_days, district_segments, cells, swept_before, number, .. } = state;
        let mut figures = Vec::with_capacity(districts.len());
        for (id, series) in districts.iter_mut() {
            let windows = match end {
                None => None,
                Some(end) => {
                    let segments = district_segments.get(id).cloned().unwrap_or_default();
                    let mut detail = |hour: i64| -> PyResult<Minutes> {
                        let keys: Vec<HourKey> = segments.iter().map(|s| (*s, *id, hour)).collect();
                        self.merged(py, *number, *swept_before, cells, &keys, 2)
                    };
                    let mut sums = Vec::with_capacity(self.windows.names.len());
                    for w in 0..self.windows.names.len() {
                        sums.push(series.window(w, end, &mut detail)?);
                    }
                    Some(sums)
                }
            };
            let days = district_days.get(id).map(|d| d.iter().map(|(d, c)| (*d, c[0], c[1])).collect()).unwrap_or_default();
            figures.push(DistrictFigures { district: self.names.districts[*id as usize].clone(), windows, days });
        }
        Ok(figures)
    }
}

pub struct SegmentFigures {
    pub channel: String,
    pub segment: String,
    pub totals: Vec<(String, i64, i64)>,
    pub windows: Option<Vec<Vec<i64>>>,
    pub days: Vec<(i64, i64, i64)>,
}

pub struct DistrictFigures {
    pub district: String,
    pub windows: Option<Vec<Vec<i64>>>,
    pub days: Vec<(i64, i64, i64)>,
}
