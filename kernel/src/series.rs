//! Window arithmetic over per-minute buckets, with running sums per window.
//!
//! A `MinuteSeries` holds the counters of one cell (a segment, or a district of one partition)
//! per event-time minute, and the sum of each rolling window `W` over `[end − W, end)`. Every
//! window is a whole number of hours, so with `k = end mod 60` a window is its full hours from
//! the hour of `end − W` up to the hour before that of `end`, plus the first `k` minutes of the
//! hour of `end`, minus the first `k` minutes of the hour of `end − W`. The series keeps only
//! hour sums in memory (one array from its first hour held to its last), with the full-hours
//! sum of each window up to date as buckets change and as `end` moves: the cost of an event
//! does not grow with the window's length. The minutes themselves are read through `detail`
//! (an hour's minute buckets, from wherever the caller keeps them), only for the hours that
//! hold a window's end or start, and only when `k > 0`.

use std::collections::HashMap;

use crate::time::HOUR_MINUTES;

/// An hour's minute buckets: epoch minute -> counters.
pub type Minutes = HashMap<i64, Vec<i64>>;

/// The windows, in the order they are named to Python, each with its length in minutes.
#[derive(Clone)]
pub struct Windows {
    pub names: Vec<String>,
    pub minutes: Vec<i64>,
}

pub struct MinuteSeries {
    width: usize,
    // the counter sums of hours `base`, `base + 1`, …, `width` values each
    base: i64,
    hours: Vec<i64>,
    end_hour: Option<i64>,
    // per window: the sums of the hours in [end hour − W, end hour)
    full: Vec<Vec<i64>>,
    // (window, length in hours), longest first: the hot path of `add`
    lengths: Vec<(usize, i64)>,
    window_minutes: Vec<i64>,
    // minute buckets of the hours read through `detail`, kept up to date by `add`
    loaded: HashMap<i64, Minutes>,
}

impl MinuteSeries {
    pub fn new(width: usize, windows: &Windows) -> Self {
        let mut lengths: Vec<(usize, i64)> = windows
            .minutes
            .iter()
            .enumerate()
            .map(|(i, m)| (i, m / HOUR_MINUTES))
            .collect();
        lengths.sort_by_key(|&(_, length)| -length);
        MinuteSeries {
            width,
            base: 0,
            hours: Vec::new(),
            end_hour: None,
            full: vec![vec![0; width]; windows.minutes.len()],
            lengths,
            window_minutes: windows.minutes.clone(),
            loaded: HashMap::new(),
        }
    }

    /// The hours that hold a bucket (a non-zero first counter: the count).
    pub fn hours(&self) -> Vec<i64> {
        (0..self.hours.len() / self.width)
            .filter(|slot| self.hours[slot * self.width] != 0)
            .map(|slot| self.base + slot as i64)
            .collect()
    }

    /// Add the first `width` of `values` to the bucket of `minute` (an epoch minute).
    pub fn add(&mut self, minute: i64, values: &[i64]) {
        let width = self.width;
        let hour = minute.div_euclid(HOUR_MINUTES);
        let mut slot = (hour - self.base) * width as i64;
        if !(0 <= slot && (slot as usize) < self.hours.len()) {
            slot = self.make_room(hour);
        }
        let slot = slot as usize;
        for i in 0..width {
            self.hours[slot + i] += values[i];
        }
        if let Some(loaded) = self.loaded.get_mut(&hour) {
            let cell = loaded.entry(minute).or_insert_with(|| vec![0; width]);
            for i in 0..width {
                cell[i] += values[i];
            }
        }
        if let Some(end) = self.end_hour {
            if hour < end {
                for &(window, length) in &self.lengths {
                    if hour < end - length {
                        break; // outside this window, so outside the shorter ones too
                    }
                    let sums = &mut self.full[window];
                    for i in 0..width {
                        sums[i] += values[i];
                    }
                }
            }
        }
    }

    /// The counter sums over `[end − W, end)` (in minutes) for window number `window`.
    pub fn window<E>(
        &mut self,
        window: usize,
        end: i64,
        detail: &mut dyn FnMut(i64) -> Result<Minutes, E>,
    ) -> Result<Vec<i64>, E> {
        let end_hour = end.div_euclid(HOUR_MINUTES);
        let k = end.rem_euclid(HOUR_MINUTES);
        self.advance(end_hour);
        let mut sums = self.full[window].clone();
        if k != 0 {
            let start_hour = end_hour - self.window_minutes[window] / HOUR_MINUTES;
            for (hour, sign) in [(end_hour, 1), (start_hour, -1)] {
                self.load(hour, detail)?;
                if let Some(minutes) = self.loaded.get(&hour) {
                    for (minute, cell) in minutes {
                        if minute - hour * HOUR_MINUTES < k {
                            for i in 0..self.width {
                                sums[i] += sign * cell[i];
                            }
                        }
                    }
                }
            }
        }
        Ok(sums)
    }

    /// Drop the buckets of the hours before minute `before` (a whole hour).
    pub fn prune(&mut self, before: i64) {
        debug_assert!(before % HOUR_MINUTES == 0, "prune whole hours");
        let first = before.div_euclid(HOUR_MINUTES);
        if first <= self.base || self.hours.is_empty() {
            return;
        }
        let drop = (((first - self.base) as usize) * self.width).min(self.hours.len());
        self.hours.drain(..drop);
        self.base = first;
        self.loaded.retain(|&hour, _| hour >= first);
        self.end_hour = None; // the full sums are rebuilt on the next read
    }

    /// Extend the array to hold `hour`; its first slot.
    fn make_room(&mut self, hour: i64) -> i64 {
        let width = self.width as i64;
        if self.hours.is_empty() {
            self.base = hour;
            self.hours.resize(self.width, 0);
        } else if hour < self.base {
            let more = ((self.base - hour) * width) as usize;
            self.hours.splice(0..0, std::iter::repeat(0).take(more));
            self.base = hour;
        } else {
            self.hours.resize(((hour - self.base + 1) * width) as usize, 0);
        }
        (hour - self.base) * width
    }

    fn count(&self, hour: i64) -> i64 {
        let slot = (hour - self.base) * self.width as i64;
        if 0 <= slot && (slot as usize) < self.hours.len() {
            self.hours[slot as usize]
        } else {
            0
        }
    }

    /// Read the minute buckets of `hour` once through `detail` (none if the hour is empty).
    fn load<E>(
        &mut self,
        hour: i64,
        detail: &mut dyn FnMut(i64) -> Result<Minutes, E>,
    ) -> Result<(), E> {
        if self.count(hour) == 0 || self.loaded.contains_key(&hour) {
            return Ok(());
        }
        let width = self.width;
        let minutes = detail(hour)?
            .into_iter()
            .map(|(minute, cell)| (minute, cell[..width].to_vec()))
            .collect();
        self.loaded.insert(hour, minutes);
        Ok(())
    }

    /// Move the windows' end to the start of hour `end_hour` (forwards or backwards).
    fn advance(&mut self, end_hour: i64) {
        let held = (self.hours.len() / self.width) as i64;
        match self.end_hour {
            Some(old) if old == end_hour => {}
            Some(old) if (end_hour - old).abs() <= held => {
                for &(window, length) in &self.lengths {
                    let sums = &mut self.full[window];
                    if end_hour > old {
                        shift(&self.hours, self.base, self.width, sums, old, end_hour, 1);
                        shift(&self.hours, self.base, self.width, sums, old - length, end_hour - length, -1);
                    } else {
                        shift(&self.hours, self.base, self.width, sums, end_hour, old, -1);
                        shift(&self.hours, self.base, self.width, sums, end_hour - length, old - length, 1);
                    }
                }
                self.end_hour = Some(end_hour);
            }
            _ => {
                for &(window, length) in &self.lengths {
                    let sums = &mut self.full[window];
                    sums.iter_mut().for_each(|s| *s = 0);
                    shift(&self.hours, self.base, self.width, sums, end_hour - length, end_hour, 1);
                }
                self.end_hour = Some(end_hour);
            }
        }
        // keep the minutes of the hours a window starts or ends in, no others
        let lengths = &self.lengths;
        self.loaded.retain(|&hour, _| {
            hour == end_hour || lengths.iter().any(|&(_, length)| hour == end_hour - length)
        });
    }
}

/// Add `sign` × the sums of hours `[start, stop)` held in `hours` to `sums`.
fn shift(hours: &[i64], base: i64, width: usize, sums: &mut [i64], start: i64, stop: i64, sign: i64) {
    let held = (hours.len() / width) as i64;
    let first = (start - base).max(0);
    let last = (stop - base).min(held);
    let mut slot = first;
    while slot < last {
        let at = slot as usize * width;
        for i in 0..width {
            sums[i] += sign * hours[at + i];
        }
        slot += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::convert::Infallible;

    const MONTH: i64 = 30 * 24 * 60;

    fn windows() -> Windows {
        Windows {
            names: vec!["1h".into(), "1d".into(), "7d".into(), "30d".into()],
            minutes: vec![60, 24 * 60, 7 * 24 * 60, MONTH],
        }
    }

    /// The buckets a series was given, served per hour as its `detail`, and the hours read.
    #[derive(Default)]
    struct Oracle {
        buckets: BTreeMap<i64, Vec<i64>>,
        reads: RefCell<Vec<i64>>,
    }

    impl Oracle {
        fn add(&mut self, series: &mut MinuteSeries, minute: i64, values: &[i64]) {
            series.add(minute, values);
            let old = self.buckets.entry(minute).or_insert_with(|| vec![0; values.len()]);
            for (o, v) in old.iter_mut().zip(values) {
                *o += v;
            }
        }

        fn brute_force(&self, window: usize, end: i64, width: usize) -> Vec<i64> {
            let start = end - windows().minutes[window];
            let mut sums = vec![0; width];
            for (_, values) in self.buckets.range(start..end) {
                for i in 0..width {
                    sums[i] += values[i];
                }
            }
            sums
        }

        fn read(&self, series: &mut MinuteSeries, window: usize, end: i64) -> Vec<i64> {
            let mut detail = |hour: i64| -> Result<Minutes, Infallible> {
                self.reads.borrow_mut().push(hour);
                Ok(self
                    .buckets
                    .iter()
                    .filter(|(m, _)| m.div_euclid(60) == hour)
                    .map(|(m, v)| (*m, v.clone()))
                    .collect())
            };
            series.window(window, end, &mut detail).unwrap()
        }
    }

    /// xorshift64*: random operations, the same on every run.
    struct Random(u64);

    impl Random {
        fn below(&mut self, n: i64) -> i64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as i64 % n
        }
    }

    #[test]
    fn running_sums_equal_a_rescan() {
        let mut random = Random(0x9E37_79B9_7F4A_7C15);
        for _ in 0..400 {
            let mut series = MinuteSeries::new(2, &windows());
            let mut oracle = Oracle::default();
            for _ in 0..random.below(60) {
                // the edges of hours, where the arithmetic changes, come often
                let within = [0, 1, 59, random.below(60)][random.below(4) as usize];
                let minute = (random.below(3 * MONTH / 60) * 60 + within).min(3 * MONTH);
                match random.below(3) {
                    0 => {
                        let values = [1 + random.below(5), random.below(6)];
                        oracle.add(&mut series, minute, &values);
                    }
                    1 => {
                        let window = random.below(4) as usize;
                        let expected = oracle.brute_force(window, minute, 2);
                        assert_eq!(oracle.read(&mut series, window, minute), expected);
                    }
                    _ => {
                        let before = minute - minute % 60;
                        series.prune(before);
                        oracle.buckets.retain(|m, _| *m >= before);
                    }
                }
            }
            for window in 0..4 {
                for end in [0, MONTH, 3 * MONTH + 1] {
                    let expected = oracle.brute_force(window, end, 2);
                    assert_eq!(oracle.read(&mut series, window, end), expected);
                }
            }
        }
    }

    #[test]
    fn a_window_is_half_open() {
        let mut series = MinuteSeries::new(1, &windows());
        let mut oracle = Oracle::default();
        oracle.add(&mut series, 100, &[1]);
        oracle.add(&mut series, 160, &[10]);
        assert_eq!(oracle.read(&mut series, 0, 160), vec![1]);
        assert_eq!(oracle.read(&mut series, 0, 161), vec![10]);
        assert_eq!(oracle.read(&mut series, 0, 220), vec![10]);
        assert_eq!(oracle.read(&mut series, 0, 221), vec![0]);
    }

    #[test]
    fn adding_after_reading_updates_the_open_window() {
        let mut series = MinuteSeries::new(1, &windows());
        let mut oracle = Oracle::default();
        assert_eq!(oracle.read(&mut series, 1, 1000), vec![0]);
        oracle.add(&mut series, 999, &[3]);
        oracle.add(&mut series, 1000, &[5]);
        assert_eq!(oracle.read(&mut series, 1, 1000), vec![3]);
    }

    #[test]
    fn minutes_are_read_only_for_the_hours_a_window_starts_or_ends_in() {
        let mut series = MinuteSeries::new(2, &windows());
        let mut oracle = Oracle::default();
        for minute in (0..MONTH + 2 * 60).step_by(7) {
            oracle.add(&mut series, minute, &[1, minute % 2]);
        }
        let end = MONTH + 90; // not on an hour: each window needs the minutes of two hours
        for window in 0..4 {
            let expected = oracle.brute_force(window, end, 2);
            assert_eq!(oracle.read(&mut series, window, end), expected);
        }
        let hour = end / 60;
        let mut reads = oracle.reads.borrow().clone();
        assert_eq!(reads.len(), 5, "each hour read once");
        reads.sort_unstable();
        assert_eq!(reads, vec![hour - 720, hour - 168, hour - 24, hour - 1, hour]);
        oracle.reads.borrow_mut().clear();
        for window in 0..4 {
            oracle.read(&mut series, window, MONTH + 60); // on the hour: full hours only
        }
        assert!(oracle.reads.borrow().is_empty());
    }
}
