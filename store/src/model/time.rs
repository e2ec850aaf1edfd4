//! Civil calendar values used by schedules and calendars: [`Date`], [`TimeOfDay`], [`Weekday`].
//!
//! They carry no time zone: a schedule is evaluated in the box's local time (see
//! `vpbx-actors::core::routing::schedule`). In documents they are strings (`2026-01-01`,
//! `09:30`, `mon`) so YAML and JSON stay readable; the stored encoding uses the same strings.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A proleptic Gregorian date. Construct with [`Date::new`], which rejects impossible dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

/// Days in `month` (1–12) of `year`; 0 for a month out of range.
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// The date, or `None` if it does not exist (month 13, 30 February, year outside 1..=9999).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        if !(1..=9999).contains(&year) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }
    /// Year.
    pub fn year(self) -> i32 {
        self.year
    }
    /// Month, 1–12.
    pub fn month(self) -> u8 {
        self.month
    }
    /// Day of the month, 1–31.
    pub fn day(self) -> u8 {
        self.day
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("'{s}' is not a date (YYYY-MM-DD)");
        let mut parts = s.split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let y: i32 = y.parse().map_err(|_| bad())?;
        let m: u8 = m.parse().map_err(|_| bad())?;
        let d: u8 = d.parse().map_err(|_| bad())?;
        Date::new(y, m, d).ok_or_else(|| format!("{s} does not exist"))
    }
}

/// A time of day in minutes since midnight, `00:00`–`24:00` (24:00 only as an interval end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeOfDay(pub u16);

impl TimeOfDay {
    /// Midnight at the start of the day.
    pub const MIDNIGHT: TimeOfDay = TimeOfDay(0);
    /// Midnight at the end of the day (`24:00`).
    pub const END_OF_DAY: TimeOfDay = TimeOfDay(24 * 60);

    /// `hh:mm`, or `None` past 24:00.
    pub fn hm(h: u16, m: u16) -> Option<TimeOfDay> {
        let t = h.checked_mul(60)?.checked_add(m)?;
        (m < 60 && t <= 24 * 60).then_some(TimeOfDay(t))
    }
    /// Minutes since midnight.
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl FromStr for TimeOfDay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("'{s}' is not a time of day (HH:MM, 00:00–24:00)");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        TimeOfDay::hm(h, m).ok_or_else(bad)
    }
}

/// Day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl Weekday {
    /// Monday first.
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    /// From days since Monday (0 = Monday … 6 = Sunday; taken modulo 7).
    pub fn from_monday0(n: u32) -> Weekday {
        Self::ALL[(n % 7) as usize]
    }
    /// Days since Monday.
    pub fn monday0(self) -> u32 {
        self as u32
    }
    /// Saturday or Sunday: the default weekend.
    pub fn is_default_weekend(self) -> bool {
        matches!(self, Weekday::Sat | Weekday::Sun)
    }
    /// Short English name (`Mon`).
    pub fn short(self) -> &'static str {
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][self as usize]
    }
}

impl fmt::Display for Weekday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())
    }
}

macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
string_serde!(Date);
string_serde!(TimeOfDay);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_reject_impossible_days() {
        assert_eq!(
            "2024-02-29".parse::<Date>().unwrap(),
            Date::new(2024, 2, 29).unwrap()
        );
        assert!("2023-02-29".parse::<Date>().is_err());
        assert!("2023-13-01".parse::<Date>().is_err());
        assert!("2023-1-01".parse::<Date>().is_err());
        assert_eq!(Date::new(2026, 1, 9).unwrap().to_string(), "2026-01-09");
    }

    #[test]
    fn times_parse_up_to_24_00() {
        assert_eq!("09:30".parse::<TimeOfDay>().unwrap(), TimeOfDay(570));
        assert_eq!("24:00".parse::<TimeOfDay>().unwrap(), TimeOfDay::END_OF_DAY);
        assert!("24:01".parse::<TimeOfDay>().is_err());
        assert!("9:60".parse::<TimeOfDay>().is_err());
        assert!("0930".parse::<TimeOfDay>().is_err());
        assert_eq!(TimeOfDay(570).to_string(), "09:30");
    }

    #[test]
    fn string_serde_round_trips_in_yaml_and_bincode() {
        let d = Date::new(2026, 3, 29).unwrap();
        let y = serde_yaml::to_string(&d).unwrap();
        assert_eq!(serde_yaml::from_str::<Date>(&y).unwrap(), d);
        let b = bincode::serialize(&(d, TimeOfDay(61))).unwrap();
        assert_eq!(
            bincode::deserialize::<(Date, TimeOfDay)>(&b).unwrap(),
            (d, TimeOfDay(61))
        );
    }
}
