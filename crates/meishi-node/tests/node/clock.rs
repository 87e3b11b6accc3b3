//! A peer whose clock is off: within the envelope's clock window (10 minutes) the swap works;
//! beyond it the give is refused with a reason that names the clocks, on both sides. The
//! node's clock is injected (`Limits::clock_offset_secs`), the system clock untouched.

use meishi_node::{Event, GiveError, GiveOutcome, Limits, Policy, RefuseCode};

use crate::{spawn, spawn_with, PATIENCE};

fn skewed(secs: i64) -> Limits {
    Limits {
        clock_offset_secs: secs,
        ..Limits::default()
    }
}

#[tokio::test]
async fn a_clock_nine_minutes_off_still_swaps() {
    let b = spawn(2, "Bob", Policy::Auto).await;
    for offset in [9 * 60, -9 * 60] {
        let a = spawn_with(1, "Ada", Policy::Auto, skewed(offset)).await;
        let out = tokio::time::timeout(PATIENCE, a.node.give(b.peer, vec![b.addr.clone()]))
            .await
            .expect("give timed out")
            .expect("give");
        assert!(
            matches!(out, GiveOutcome::Mutual { .. }),
            "{offset} s: {out:?}"
        );
        a.node.shutdown().await.expect("shutdown");
    }
}

#[tokio::test]
async fn a_clock_eleven_minutes_off_is_refused_with_the_reason() {
    let mut b = spawn(2, "Bob", Policy::Auto).await;
    for offset in [11 * 60, -11 * 60] {
        let a = spawn_with(1, "Ada", Policy::Auto, skewed(offset)).await;
        let err = tokio::time::timeout(PATIENCE, a.node.give(b.peer, vec![b.addr.clone()]))
            .await
            .expect("give timed out")
            .expect_err("refused");
        // The giver learns why, in words that point at the clocks.
        assert!(
            matches!(err, GiveError::Refused(RefuseCode::BadTime)),
            "{offset} s: {err:?}"
        );
        assert!(err.to_string().contains("clock"), "{err}");
        // The receiver stored nothing and says why too.
        let reason = b
            .wait_for(|e| match e {
                Event::Refused { reason, .. } => Some(reason.to_string()),
                Event::CardReceived { .. } => panic!("a card signed {offset} s off was kept"),
                _ => None,
            })
            .await;
        assert!(reason.contains("clock"), "{reason}");
        a.node.shutdown().await.expect("shutdown");
    }
}
