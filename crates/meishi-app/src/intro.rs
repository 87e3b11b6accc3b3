//! Introductions with double opt-in (proto-spec/intro.md). Work in progress.

use meishi_card::PublicKey;
use meishi_node::Node;
use meishi_store::Store;

use crate::report::Report;

/// Applies one introduction step that arrived in `from`'s box.
pub async fn receive(
    _node: &Node,
    _store: &Store,
    _me: &PublicKey,
    _from: &PublicKey,
    _bytes: &[u8],
) -> Vec<Report> {
    Vec::new()
}
