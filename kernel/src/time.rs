//! Event time as `cashless/eventtime.py` computes it, to the same float and integer results.

pub const MINUTE: i64 = 60;
pub const HOUR_MINUTES: i64 = 60;

/// Python's `v // w` for floats (the floor of the quotient, computed as CPython does).
pub fn py_floordiv(v: f64, w: f64) -> f64 {
    let m = v % w;
    let mut div = (v - m) / w;
    if m != 0.0 && ((w < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    if div != 0.0 {
        let floor = div.floor();
        if div - floor > 0.5 {
            floor + 1.0
        } else {
            floor
        }
    } else {
        0.0
    }
}

/// The epoch minute holding `t`: `int(t // MINUTE)`.
pub fn minute_of(t: f64) -> i64 {
    py_floordiv(t, MINUTE as f64) as i64
}

/// `e`: the end of the minute containing stream time `t`, in seconds.
pub fn window_end(t: f64) -> i64 {
    ((t.floor() as i64).div_euclid(MINUTE) + 1) * MINUTE
}

/// Hanoi-local days: the index of the day holding `seconds` (offset from UTC, day length).
#[derive(Clone, Copy)]
pub struct Days {
    pub offset: i64,
    pub length: i64,
}

impl Days {
    pub fn of_seconds(self, seconds: i64) -> i64 {
        (seconds + self.offset).div_euclid(self.length)
    }

    pub fn of(self, t: f64) -> i64 {
        self.of_seconds(t.floor() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floordiv_is_the_floor_of_the_quotient() {
        assert_eq!(py_floordiv(119.999, 60.0), 1.0);
        assert_eq!(py_floordiv(120.0, 60.0), 2.0);
        assert_eq!(minute_of(1_788_307_259.999_999), 29_805_120);
        assert_eq!(window_end(1_788_307_200.5), 1_788_307_260);
    }
}
