//! Which relays of an event a node keeps its reservations on: rendezvous (highest random
//! weight) hashing of its peer id over the relays' peer ids. proto-spec/relay.md#sharding
//!
//! Every node ranks the event's relays by `SHA-256(SHARD_LABEL || node || relay)`, highest
//! first, and reserves on the first [`HOME_RELAYS`] that answer. With 4 relays each relay is
//! among the two of about half the nodes; when one dies, only its nodes move, each to the next
//! relay in its own order, so the load of the dead relay spreads over the others.

use sha2::{Digest, Sha256};

/// Domain-separation label of the ranking hash. proto-spec/relay.md#sharding
pub const SHARD_LABEL: &[u8] = b"meishi/shard/v1\0";
/// Relays a node keeps reservations on (its home relays) when an event lists more.
pub const HOME_RELAYS: usize = 2;

/// The ranking score of `relay` for `node` (both peer ids as bytes): higher ranks first.
pub fn score(node: &[u8], relay: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(SHARD_LABEL);
    // Lengths first, so that no two (node, relay) pairs hash the same bytes.
    h.update((node.len() as u16).to_be_bytes());
    h.update(node);
    h.update((relay.len() as u16).to_be_bytes());
    h.update(relay);
    h.finalize().into()
}

/// The indexes of `relays` in `node`'s order: highest score first (ties, between equal relay
/// ids only, by index).
pub fn rank<R: AsRef<[u8]>>(node: &[u8], relays: &[R]) -> Vec<usize> {
    let scores: Vec<[u8; 32]> = relays.iter().map(|r| score(node, r.as_ref())).collect();
    let mut order: Vec<usize> = (0..relays.len()).collect();
    order.sort_by(|&a, &b| scores[b].cmp(&scores[a]).then(a.cmp(&b)));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u32) -> Vec<u8> {
        let mut v = b"peer-".to_vec();
        v.extend_from_slice(&i.to_be_bytes());
        v
    }

    #[test]
    fn rank_is_a_permutation_and_does_not_depend_on_list_order() {
        let relays: Vec<Vec<u8>> = (0..4).map(|i| id(1000 + i)).collect();
        let r = rank(&id(1), &relays);
        let mut sorted = r.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3]);
        let reversed: Vec<Vec<u8>> = relays.iter().rev().cloned().collect();
        let r2 = rank(&id(1), &reversed);
        let a: Vec<&Vec<u8>> = r.iter().map(|&i| &relays[i]).collect();
        let b: Vec<&Vec<u8>> = r2.iter().map(|&i| &reversed[i]).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn two_of_four_spreads_nodes_evenly_and_a_dead_relay_only_moves_its_own() {
        let relays: Vec<Vec<u8>> = (0..4).map(|i| id(1000 + i)).collect();
        let mut load = [0usize; 4];
        let mut moved_elsewhere = 0;
        for n in 0..10_000 {
            let r = rank(&id(n), &relays);
            for &i in &r[..HOME_RELAYS] {
                load[i] += 1;
            }
            // Relay 0 dies: ranking the other three keeps the order of the survivors.
            let rest: Vec<Vec<u8>> = relays[1..].to_vec();
            let r3: Vec<usize> = rank(&id(n), &rest).into_iter().map(|i| i + 1).collect();
            let survivors: Vec<usize> = r.iter().copied().filter(|&i| i != 0).collect();
            assert_eq!(r3, survivors);
            if !r[..HOME_RELAYS].contains(&0) && r3[..HOME_RELAYS] != r[..HOME_RELAYS] {
                moved_elsewhere += 1;
            }
        }
        assert_eq!(
            moved_elsewhere, 0,
            "nodes not on the dead relay stay where they are"
        );
        for l in load {
            // Half of 10,000 each, within a few percent.
            assert!((4_700..=5_300).contains(&l), "{load:?}");
        }
    }
}
