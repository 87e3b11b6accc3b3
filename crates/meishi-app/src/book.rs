//! The contact book as people read it: dates, and meetings folded the way a person remembers
//! them. Shared by every front end.

use meishi_store::Meeting;

/// `YYYY-MM-DD HH:MM` UTC for Unix seconds (civil-from-days, Howard Hinnant's algorithm).
pub fn date_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Today's date, `YYYY-MM-DD` UTC.
pub fn today(now: u64) -> String {
    date_time(now).chars().take(10).collect()
}

/// Where a meeting happened, as raw card text (escape it to show it): `at <event>` at a named
/// event, else `via <channel>`.
pub fn place(m: &Meeting) -> String {
    match m.record.event.as_deref() {
        Some(e) => format!("at {e}"),
        None => format!("via {}", m.record.via),
    }
}

/// How long apart the two envelopes of one mutual swap may be signed.
const SWAP_WINDOW_SECS: u64 = 600;

/// Meetings as a person remembers them: a mutual swap (my envelope to them and theirs to me,
/// signed close together and the same way) is one meeting, `true` = both signed.
pub fn meetings(all: &[meishi_store::Meeting]) -> Vec<(&meishi_store::Meeting, bool)> {
    let mut out: Vec<(&meishi_store::Meeting, bool)> = Vec::new();
    for m in all {
        let pair = out.iter_mut().find(|(o, both)| {
            !*both
                && o.record.from == m.record.to
                && o.record.to == m.record.from
                && o.record.via == m.record.via
                && o.record.at.abs_diff(m.record.at) <= SWAP_WINDOW_SECS
        });
        match pair {
            Some(p) => p.1 = true,
            None => out.push((m, false)),
        }
    }
    out
}

#[cfg(test)]
mod meeting_tests {
    use meishi_card::PublicKey;
    use meishi_store::{Meeting, MeetingRecord};

    fn m(id: i64, from: u8, to: u8, at: u64) -> Meeting {
        Meeting {
            id,
            record: MeetingRecord {
                envelope: vec![id as u8],
                from: PublicKey([from; 32]),
                to: PublicKey([to; 32]),
                at,
                event: None,
                via: "swap".into(),
            },
            recorded_at: at,
        }
    }

    #[test]
    fn a_mutual_swap_is_one_meeting() {
        let all = [m(1, 1, 2, 100), m(2, 2, 1, 101), m(3, 1, 2, 9_000)];
        let shown: Vec<(i64, bool)> = super::meetings(&all)
            .into_iter()
            .map(|(m, both)| (m.id, both))
            .collect();
        assert_eq!(shown, [(1, true), (3, false)]);
    }
}

#[cfg(test)]
mod date_tests {
    #[test]
    fn date_time_is_civil_utc() {
        assert_eq!(super::date_time(0), "1970-01-01 00:00");
        assert_eq!(super::date_time(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(super::date_time(951_782_400), "2000-02-29 00:00");
        assert_eq!(super::today(1_700_000_000), "2023-11-14");
    }
}
