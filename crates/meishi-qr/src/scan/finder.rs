//! Counting the finder patterns rqrr would find, before rqrr runs.
//!
//! rqrr finds its capstones (finder patterns) by a 1:1:3:1:1 run on a row whose outer dark runs
//! belong to one connected region (the ring) and whose middle run to another (the stone), with a
//! stone of 10 to 70 percent of the ring's area. It then tries triples of capstones, copying the
//! whole image for each, so its time grows with the cube of their number: a grid of finder
//! look-alikes or a noise photo kept it busy for minutes. This module applies the same tests
//! with one pass of connected-component labelling (union-find over dark runs), in time linear in
//! the pixels, so the scanner can skip rqrr on a binarization where it is hopeless (fewer than
//! three) or too costly (see `MAX_FINDERS` in the scanner).

/// A binarized image: `bits[y * w + x]` is true for a dark pixel.
pub(crate) struct Bitmap {
    pub bits: Vec<bool>,
    pub w: usize,
    pub h: usize,
}

/// A dark run of one row, `x0..x1`, and its component.
#[derive(Clone, Copy)]
struct Run {
    x0: u32,
    x1: u32,
    comp: u32,
}

/// Finder-pattern candidates as rqrr counts them, stopping early once `stop_at` are found (the
/// caller only needs to know "at least this many").
pub(crate) fn count_finders(img: &Bitmap, stop_at: usize) -> usize {
    let (w, h) = (img.w, img.h);
    // Dark runs of every row, and union-find over them (4-connected, as rqrr's flood fill).
    let mut runs: Vec<Run> = Vec::new();
    let mut row_start = Vec::with_capacity(h + 1);
    let mut parent: Vec<u32> = Vec::new();
    for y in 0..h {
        row_start.push(runs.len());
        let row = &img.bits[y * w..(y + 1) * w];
        let mut x = 0;
        while x < w {
            if !row[x] {
                x += 1;
                continue;
            }
            let x0 = x;
            while x < w && row[x] {
                x += 1;
            }
            let id = parent.len() as u32;
            parent.push(id);
            runs.push(Run {
                x0: x0 as u32,
                x1: x as u32,
                comp: id,
            });
        }
    }
    row_start.push(runs.len());
    for y in 1..h {
        let (prev, cur) = (
            row_start[y - 1]..row_start[y],
            row_start[y]..row_start[y + 1],
        );
        let mut i = prev.start;
        for j in cur {
            let r = runs[j];
            while i < prev.end && runs[i].x1 <= r.x0 {
                i += 1;
            }
            let mut k = i;
            while k < prev.end && runs[k].x0 < r.x1 {
                union(&mut parent, runs[k].comp, r.comp);
                k += 1;
            }
        }
    }
    let mut area = vec![0u64; parent.len()];
    for r in &mut runs {
        r.comp = find(&mut parent, r.comp);
        area[r.comp as usize] += u64::from(r.x1 - r.x0);
    }
    // 1:1:3:1:1 along rows: five consecutive dark/light/dark/light/dark runs, rqrr's tolerance.
    let mut claimed = vec![false; parent.len()];
    let mut found = 0;
    for y in 0..h {
        let row = &runs[row_start[y]..row_start[y + 1]];
        for t in row.windows(3) {
            let (a, b, c) = (t[0], t[1], t[2]);
            let len = [
                (a.x1 - a.x0) as usize,
                (b.x0 - a.x1) as usize,
                (b.x1 - b.x0) as usize,
                (c.x0 - b.x1) as usize,
                (c.x1 - c.x0) as usize,
            ];
            if !one_one_three_one_one(len) {
                continue;
            }
            let (ring, stone) = (a.comp, b.comp);
            if ring != c.comp || ring == stone || claimed[ring as usize] {
                continue;
            }
            let ratio = area[stone as usize] * 100 / area[ring as usize].max(1);
            if 10 < ratio && ratio < 70 {
                claimed[ring as usize] = true;
                found += 1;
                if found >= stop_at {
                    return found;
                }
            }
        }
    }
    found
}

/// rqrr's run test: the average of the four outer runs, each run within 3/4 of it of its share.
fn one_one_three_one_one(len: [usize; 5]) -> bool {
    const CHECK: [usize; 5] = [1, 1, 3, 1, 1];
    let avg = (len[0] + len[1] + len[3] + len[4]) / 4;
    let err = avg * 3 / 4;
    len.iter()
        .zip(CHECK)
        .all(|(&l, c)| l + err >= c * avg && l <= c * avg + err)
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let p = parent[parent[x as usize] as usize];
        parent[x as usize] = p;
        x = p;
    }
    x
}

fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[hi as usize] = lo;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rows` of `#` (dark) and `.` (light), each cell `scale` pixels.
    fn bitmap(rows: &[&str], scale: usize) -> Bitmap {
        let (w, h) = (rows[0].len() * scale, rows.len() * scale);
        let bits = (0..w * h)
            .map(|i| rows[i / w / scale].as_bytes()[i % w / scale] == b'#')
            .collect();
        Bitmap { bits, w, h }
    }

    const FINDER: [&str; 9] = [
        ".........",
        ".#######.",
        ".#.....#.",
        ".#.###.#.",
        ".#.###.#.",
        ".#.###.#.",
        ".#.....#.",
        ".#######.",
        ".........",
    ];

    #[test]
    fn one_finder_counts_once() {
        for scale in [1, 3, 8] {
            assert_eq!(
                count_finders(&bitmap(&FINDER, scale), 100),
                1,
                "scale {scale}"
            );
        }
    }

    #[test]
    fn a_ring_without_a_separate_stone_is_no_finder() {
        // The stone touches the ring: one region, as rqrr sees it.
        let mut rows = FINDER;
        rows[4] = ".#.#####.";
        assert_eq!(count_finders(&bitmap(&rows, 4), 100), 0);
        // A bar with 1:1:3:1:1 runs on one row but no enclosing ring.
        assert_eq!(count_finders(&bitmap(&["#.###.#"], 4), 100), 0);
    }

    #[test]
    fn stops_at_the_limit() {
        let row: Vec<String> = FINDER.iter().map(|r| r.repeat(6)).collect();
        let rows: Vec<&str> = row.iter().map(String::as_str).collect();
        assert_eq!(count_finders(&bitmap(&rows, 2), 100), 6);
        assert_eq!(count_finders(&bitmap(&rows, 2), 4), 4);
    }
}
