//! The fast path of decoding a `payments.events` record: the events of a record that is wholly
//! valid, read straight from its JSON bytes.
//!
//! It accepts a strict subset of what `cashless.schema.EventDecoder` accepts, and the same
//! events with the same values (the event time to the same float). What it does not accept goes
//! to the Python decoder, which accepts or rejects it with the contract's reasons (rejections
//! are rare, and written once, there): the items of an array it does not accept, one by one, or
//! the whole record when it is not a JSON array or object within the size limit.

use std::borrow::Cow;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct RawEvent<'a> {
    schema: i64,
    #[serde(borrow)]
    event_id: Cow<'a, str>,
    #[serde(borrow)]
    occurred_at: Cow<'a, str>,
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(borrow)]
    channel: Cow<'a, str>,
    #[serde(borrow)]
    segment: Cow<'a, str>,
    #[serde(borrow)]
    district: Cow<'a, str>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    amount_vnd: i64,
    #[serde(default, borrow)]
    payer: Option<Cow<'a, str>>,
}

/// One accepted payment event, its names as text.
pub struct Event<'a> {
    pub event_id: Cow<'a, str>,
    pub t: f64,
    pub source: Cow<'a, str>,
    pub channel: Cow<'a, str>,
    pub segment: Cow<'a, str>,
    pub district: Cow<'a, str>,
    pub method: usize,
    pub amount: i64,
}

const CHANNELS: [&str; 3] = ["utility", "market", "street"];
const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// What the fast path checks beyond the structure: the taxonomy and the record size.
pub struct Rules {
    pub segments: HashMap<String, HashSet<String>>,
    pub districts: HashSet<String>,
    pub max_record_bytes: usize,
    pub methods: Vec<String>,
}

/// How the fast path read a record.
pub enum Read<'a> {
    /// Every event valid, in order.
    Whole(Vec<Event<'a>>),
    /// An array whose items are not all valid: the valid ones by position, and the others
    /// (position, JSON text), for the Python decoder.
    Items(Vec<(usize, Event<'a>)>, Vec<(usize, &'a str)>),
    /// Nothing read: the whole record goes to the Python decoder.
    Nothing,
}

impl Rules {
    /// The events of `raw` that are valid with an event time up to `latest`; the rest, or the
    /// whole record, is left to the Python decoder.
    pub fn read<'a>(&self, raw: &'a [u8], latest: f64) -> Read<'a> {
        if raw.len() > self.max_record_bytes {
            return Read::Nothing;
        }
        let Ok(text) = std::str::from_utf8(raw) else { return Read::Nothing };
        if escapes_a_surrogate(text) {
            return Read::Nothing; // which the Python decoder judges, even in fields it ignores
        }
        match text.trim_start().as_bytes().first() {
            Some(b'{') => match serde_json::from_str(text).ok().and_then(|e| self.checked(e, latest)) {
                Some(event) => Read::Whole(vec![event]),
                None => Read::Nothing,
            },
            Some(b'[') => {
                let Ok(items) = serde_json::from_str::<Vec<&'a RawValue>>(text) else { return Read::Nothing };
                let mut events = Vec::with_capacity(items.len());
                let mut others = Vec::new();
                for (at, item) in items.into_iter().enumerate() {
                    match serde_json::from_str(item.get()).ok().and_then(|e| self.checked(e, latest)) {
                        Some(event) => events.push((at, event)),
                        None => others.push((at, item.get())),
                    }
                }
                if others.is_empty() {
                    Read::Whole(events.into_iter().map(|(_, e)| e).collect())
                } else {
                    Read::Items(events, others)
                }
            }
            _ => Read::Nothing,
        }
    }

    /// The events of `raw` when every one of them is valid, else None.
    pub fn fast<'a>(&self, raw: &'a [u8], latest: f64) -> Option<Vec<Event<'a>>> {
        match self.read(raw, latest) {
            Read::Whole(events) => Some(events),
            _ => None,
        }
    }

    fn checked<'a>(&self, e: RawEvent<'a>, latest: f64) -> Option<Event<'a>> {
        let valid = e.schema == 1
            && pattern(&e.event_id, |b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
            && pattern(&e.source, |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && CHANNELS.contains(&e.channel.as_ref())
            && name(&e.segment)
            && name(&e.district)
            && (1..=MAX_AMOUNT).contains(&e.amount_vnd)
            && e.payer.as_deref().map_or(true, pseudonym)
            && self.segments.get(e.channel.as_ref()).is_some_and(|s| s.contains(e.segment.as_ref()))
            && self.districts.contains(e.district.as_ref());
        if !valid {
            return None;
        }
        let method = self.methods.iter().position(|m| *m == e.method)?;
        let t = timestamp(&e.occurred_at)?;
        if t > latest {
            return None;
        }
        Some(Event {
            event_id: e.event_id,
            t,
            source: e.source,
            channel: e.channel,
            segment: e.segment,
            district: e.district,
            method,
            amount: e.amount_vnd,
        })
    }
}

/// Whether the JSON text has a `\\uD800`–`\\uDFFF` escape (half of a UTF-16 pair, or alone).
fn escapes_a_surrogate(text: &str) -> bool {
    let b = text.as_bytes();
    let mut at = 0;
    while let Some(found) = text[at..].find("\\u") {
        let start = at + found;
        if let [d, x, ..] = b[start + 2..] {
            if (d == b'd' || d == b'D') && matches!(x, b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F') {
                return true;
            }
        }
        at = start + 2;
    }
    false
}

fn pattern(text: &str, allowed: impl Fn(u8) -> bool) -> bool {
    (1..=64).contains(&text.len()) && text.bytes().all(allowed)
}

fn name(text: &str) -> bool {
    (1..=64).contains(&text.chars().count())
}

fn pseudonym(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The POSIX time of an RFC 3339 `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)`, as Python's
/// `datetime.timestamp()` gives it (whole microseconds over 10⁶, correctly rounded); None for
/// any other form.
pub fn timestamp(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut at = 19;
    let mut micros = 0_i64;
    if b[at] == b'.' {
        let start = at + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let count = end - start;
        if count == 0 || count > 6 {
            return None;
        }
        micros = digits(&b[start..end])? * 10_i64.pow((6 - count) as u32);
        at = end;
    }
    let offset = match &b[at..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some((seconds * 1_000_000 + micros) as f64 / 1e6)
}

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0_i64, |n, c| c.is_ascii_digit().then(|| n * 10 + (c - b'0') as i64))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_python_reads_them() {
        assert_eq!(timestamp("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(timestamp("2026-12-03T08:15:00+07:00"), Some(1_796_260_500.0));
        assert_eq!(timestamp("2024-02-29T23:59:59.5-01:30"), Some(1_709_256_599.5));
        assert_eq!(timestamp("2026-02-29T00:00:00Z"), None);
        assert_eq!(timestamp("2026-12-03T08:15:00"), None);
        assert_eq!(timestamp("2026-12-03 08:15:00Z"), None);
        assert_eq!(timestamp("2026-12-03T08:15:00.1234567Z"), None);
    }
}
