//! The subset of Java's `DateTimeFormatter` patterns that Firehose's
//! `!{timestamp:PATTERN}` accepts in practice.
//!
//! Supported letters (Java's meaning, English text): `G` era, `u`/`y` year
//! (`yy` two digits), `D` day of year, `M`/`L` month (`M`, `MM`, `MMM` Jan,
//! `MMMM` January, `MMMMM` J), `d` day, `Q`/`q` quarter, `E` day of week
//! (`E`..`EEE` Mon, `EEEE` Monday, `EEEEE` M), `a` AM/PM, `H` `k` `K` `h`
//! hours, `m`, `s`, `S` fraction (as many digits as letters), `A` milli of
//! day, `n` nano of second, `N` nano of day, `VV` zone id, `Z`, `X`, `x`
//! offsets. `'text'` is literal and `''` a quote; `[` and `]` (optional
//! sections) are accepted and print their content. Week-based fields (`w`,
//! `W`, `Y`, `e`, `c`) depend on Java's locale and are refused, as is any
//! other letter.

use chrono::{DateTime, Datelike, Offset, Timelike};
use chrono_tz::Tz;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    Lit(String),
    Field(char, usize),
}

/// A parsed pattern, evaluated with [`Pattern::format`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    items: Vec<Item>,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The largest letter count Java allows for each supported letter.
fn max_count(letter: char) -> Option<usize> {
    Some(match letter {
        'G' | 'M' | 'L' | 'E' | 'Q' | 'q' => 5,
        'u' | 'y' | 'n' | 'N' | 'A' => 19,
        'S' => 9,
        'D' => 3,
        'd' | 'H' | 'k' | 'K' | 'h' | 'm' | 's' => 2,
        'a' => 1,
        'V' => 2,
        'Z' => 5,
        'X' | 'x' => 5,
        _ => return None,
    })
}

impl Pattern {
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut items = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // 'literal', with '' standing for a quote (inside or outside).
                let mut text = String::new();
                i += 1;
                if chars.get(i) == Some(&'\'') {
                    items.push(Item::Lit("'".into()));
                    i += 1;
                    continue;
                }
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unterminated quote in {pattern:?}")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&other) => {
                            text.push(other);
                            i += 1;
                        }
                    }
                }
                items.push(Item::Lit(text));
            } else if c.is_ascii_alphabetic() {
                let mut count = 1;
                while chars.get(i + count) == Some(&c) {
                    count += 1;
                }
                let Some(max) = max_count(c) else {
                    return Err(format!(
                        "pattern letter '{c}' is not supported in {pattern:?}"
                    ));
                };
                if count > max || (c == 'V' && count != 2) {
                    return Err(format!("too many pattern letters '{c}' in {pattern:?}"));
                }
                items.push(Item::Field(c, count));
                i += count;
            } else if matches!(c, '{' | '}' | '#') {
                return Err(format!("reserved character '{c}' in {pattern:?}"));
            } else if matches!(c, '[' | ']') {
                i += 1;
            } else {
                items.push(Item::Lit(c.to_string()));
                i += 1;
            }
        }
        Ok(Self { items })
    }

    pub fn format(&self, t: &DateTime<Tz>, out: &mut String) {
        for item in &self.items {
            match item {
                Item::Lit(s) => out.push_str(s),
                Item::Field(c, n) => field(*c, *n, t, out),
            }
        }
    }
}

fn num(out: &mut String, value: i64, width: usize) {
    if value < 0 {
        out.push('-');
    }
    let digits = value.unsigned_abs().to_string();
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

fn text(out: &mut String, full: &str, n: usize) {
    match n {
        1..=3 => out.extend(full.chars().take(3)),
        4 => out.push_str(full),
        _ => out.extend(full.chars().take(1)),
    }
}

fn offset(out: &mut String, secs: i32, colon: bool, minutes: bool, z_for_zero: bool) {
    if secs == 0 && z_for_zero {
        out.push('Z');
        return;
    }
    out.push(if secs < 0 { '-' } else { '+' });
    let abs = secs.unsigned_abs();
    num(out, i64::from(abs / 3600), 2);
    let mins = (abs / 60) % 60;
    if minutes || mins != 0 {
        if colon {
            out.push(':');
        }
        num(out, i64::from(mins), 2);
    }
}

fn field(c: char, n: usize, t: &DateTime<Tz>, out: &mut String) {
    let nanos = i64::from(t.nanosecond() % 1_000_000_000);
    let secs_of_day = i64::from(t.num_seconds_from_midnight());
    match c {
        'G' => out.push_str(if n == 4 {
            "Anno Domini"
        } else if n == 5 {
            "A"
        } else {
            "AD"
        }),
        'u' | 'y' => {
            let year = if c == 'y' {
                i64::from(t.year_ce().1)
            } else {
                i64::from(t.year())
            };
            if n == 2 {
                num(out, year.rem_euclid(100), 2);
            } else {
                num(out, year, n);
            }
        }
        'D' => num(out, i64::from(t.ordinal()), n),
        'M' | 'L' => {
            let month = t.month();
            if n <= 2 {
                num(out, i64::from(month), n);
            } else {
                text(out, MONTHS[month as usize - 1], n);
            }
        }
        'd' => num(out, i64::from(t.day()), n),
        'Q' | 'q' => {
            let quarter = (t.month() - 1) / 3 + 1;
            match n {
                1 | 2 => num(out, i64::from(quarter), n),
                3 => {
                    out.push('Q');
                    num(out, i64::from(quarter), 1);
                }
                4 => out.push_str(
                    ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"]
                        [quarter as usize - 1],
                ),
                _ => num(out, i64::from(quarter), 1),
            }
        }
        'E' => text(out, DAYS[t.weekday().num_days_from_monday() as usize], n),
        'a' => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
        'H' => num(out, i64::from(t.hour()), n),
        'k' => num(out, i64::from(if t.hour() == 0 { 24 } else { t.hour() }), n),
        'K' => num(out, i64::from(t.hour() % 12), n),
        'h' => num(
            out,
            i64::from(if t.hour().is_multiple_of(12) {
                12
            } else {
                t.hour() % 12
            }),
            n,
        ),
        'm' => num(out, i64::from(t.minute()), n),
        's' => num(out, i64::from(t.second()), n),
        'S' => {
            let nine = format!("{nanos:09}");
            out.extend(nine.chars().take(n));
        }
        'A' => num(out, secs_of_day * 1000 + nanos / 1_000_000, n),
        'n' => num(out, nanos, n),
        'N' => num(out, secs_of_day * 1_000_000_000 + nanos, n),
        'V' => out.push_str(t.timezone().name()),
        'Z' => {
            let secs = t.offset().fix().local_minus_utc();
            match n {
                1..=3 => offset(out, secs, false, true, false),
                4 => {
                    out.push_str("GMT");
                    if secs != 0 {
                        offset(out, secs, true, true, false);
                    }
                }
                _ => offset(out, secs, true, true, true),
            }
        }
        'X' | 'x' => {
            let secs = t.offset().fix().local_minus_utc();
            let z = c == 'X';
            match n {
                1 => offset(out, secs, false, false, z),
                2 | 4 => offset(out, secs, false, true, z),
                _ => offset(out, secs, true, true, z),
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(tz: Tz, ms: i64) -> DateTime<Tz> {
        chrono::Utc
            .timestamp_millis_opt(ms)
            .unwrap()
            .with_timezone(&tz)
    }

    fn fmt(p: &str, t: &DateTime<Tz>) -> String {
        let mut s = String::new();
        Pattern::parse(p).unwrap().format(t, &mut s);
        s
    }

    #[test]
    fn java_letters() {
        // 2018-08-27T10:30:05.123Z, a Monday.
        let t = at(Tz::UTC, 1_535_365_805_123);
        assert_eq!(fmt("yyyy/MM/dd/HH/", &t), "2018/08/27/10/");
        assert_eq!(fmt("yy-M-d H:m:s.SSS", &t), "18-8-27 10:30:5.123");
        assert_eq!(
            fmt("yyyy-MM-dd'T'HH:mm:ss.SSSSSSX", &t),
            "2018-08-27T10:30:05.123000Z"
        );
        assert_eq!(
            fmt("EEE EEEE MMM MMMM MMMMM", &t),
            "Mon Monday Aug August A"
        );
        assert_eq!(
            fmt("D DDD Q QQQ a hh KK kk G", &t),
            "239 239 3 Q3 AM 10 10 10 AD"
        );
        assert_eq!(fmt("'year='yyyy'/it''s'''", &t), "year=2018/it's'");
        assert_eq!(fmt("[yyyy]", &t), "2018");
        assert_eq!(fmt("VV Z", &t), "UTC +0000");
    }

    #[test]
    fn time_zones() {
        let t = at("America/New_York".parse().unwrap(), 1_535_365_805_123);
        assert_eq!(
            fmt("yyyy-MM-dd HH:mm XXX Z x", &t),
            "2018-08-27 06:30 -04:00 -0400 -04"
        );
        assert_eq!(fmt("VV", &t), "America/New_York");
        let t = at("Asia/Tokyo".parse().unwrap(), 1_535_365_805_123);
        assert_eq!(fmt("dd HH", &t), "27 19");
    }

    #[test]
    fn bad_patterns() {
        for bad in ["yyyy'", "ww", "YYYY", "HHH", "b", "{", "V"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }
}
