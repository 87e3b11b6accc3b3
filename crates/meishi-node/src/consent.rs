//! The one consent rule: every way my card, my teaser or a stranger's card can pass through the
//! node is decided here, by one pure function. proto-spec/exchange.md#consent
//!
//! The event loop gathers the facts about the asking peer ([`Standing`]) and does what
//! [`decide`] answers; nothing else in the crate chooses whether a card leaves the node. A new
//! path a card can take (the local web app, a future protocol message) adds a [`Ask`] variant
//! here, and with it a row in the spec's consent table and in `docs/privacy.md`.

use crate::config::Policy;

/// Which peers a node running under `auto` answers without asking its user.
/// proto-spec/exchange.md#consent
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Anyone who reaches the node directly: a node that listens on the local network only,
    /// with no relay and no event (`meishi up` at a meetup).
    #[default]
    Anyone,
    /// Peers the node knows: contacts, attendees seen on a joined event's board, peers found
    /// on the local network by mDNS (when mDNS is on), and peers this node gave its card to
    /// first. A node joined to an event, or reachable through a relay, runs with this scope.
    Known,
    /// Only peers this node gave its card to first (`meishi swap`: a one-shot exchange that
    /// answers the peer it dialled and nobody else).
    Dialled,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anyone => "anyone",
            Self::Known => "known",
            Self::Dialled => "dialled",
        }
    }
}

/// What a peer asks of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// They give their card and ask for mine back.
    Give,
    /// They give their card back, answering a card I gave (asks for nothing).
    Return,
    /// They ask for my current card.
    Fetch,
    /// They ask for my teaser.
    Teaser,
}

/// What the node knows of the asking peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    /// A contact in my book (and not revoked).
    pub contact: bool,
    /// Seen on a joined event's teaser board.
    pub attendee: bool,
    /// Found on the local network by mDNS.
    pub nearby: bool,
    /// I gave my card to them first, in this run.
    pub dialled: bool,
    /// They hold my card (I gave it to them) and I have not revoked that.
    pub holder: bool,
    /// I revoked them: they get nothing until I give my card to them again myself.
    pub revoked: bool,
}

impl Standing {
    /// Whether `scope` lets the node answer this peer without asking its user.
    pub fn within(&self, scope: Scope) -> bool {
        if self.revoked {
            return false;
        }
        match scope {
            Scope::Anyone => true,
            Scope::Known => {
                self.contact || self.attendee || self.nearby || self.dialled || self.holder
            }
            Scope::Dialled => self.dialled,
        }
    }
}

/// The node's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Keep their card and give mine back now.
    GiveBack,
    /// Keep their card; give nothing.
    Keep,
    /// Hand their card to the user's inbox; answer "pending". Mine leaves only if the user
    /// accepts.
    Hold,
    /// Send my current card.
    SendCard,
    /// Send my teaser (if I publish one).
    SendTeaser,
    /// Send nothing: "no teaser" for a teaser request, "not a holder" for a fetch. The answer is
    /// the same whatever the reason, so a revoked holder learns nothing from it.
    Nothing,
}

/// The consent rule. `teaser`: whether the owner chose to publish a teaser at all.
///
/// | ask | `never` | `ask` | `auto` |
/// |---|---|---|---|
/// | give | keep if within scope, else hold | give back if holder, else hold | give back if within scope, else hold |
/// | return | keep if holder, else as a give under `never` | keep if holder, else hold | keep if holder or within scope, else hold |
/// | fetch | nothing | card if holder | card if holder |
/// | teaser | nothing | teaser if chosen | teaser if chosen |
pub fn decide(policy: Policy, scope: Scope, ask: Ask, who: Standing, teaser: bool) -> Decision {
    let within = who.within(scope);
    let holder = who.holder && !who.revoked;
    match (ask, policy) {
        (Ask::Give, Policy::Auto) if within => Decision::GiveBack,
        (Ask::Give, Policy::Never) if within => Decision::Keep,
        // I accepted them before (or gave them my card myself): asking again would lose the
        // swap a second time.
        (Ask::Give, Policy::Ask) if holder => Decision::GiveBack,
        (Ask::Give, _) => Decision::Hold,
        (Ask::Return, _) if holder => Decision::Keep,
        (Ask::Return, Policy::Auto | Policy::Never) if within => Decision::Keep,
        (Ask::Return, _) => Decision::Hold,
        (Ask::Fetch, Policy::Never) => Decision::Nothing,
        (Ask::Fetch, _) if holder => Decision::SendCard,
        (Ask::Fetch, _) => Decision::Nothing,
        (Ask::Teaser, Policy::Never) => Decision::Nothing,
        (Ask::Teaser, _) if teaser => Decision::SendTeaser,
        (Ask::Teaser, _) => Decision::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: Policy, scope: Scope, ask: Ask, who: Standing, expected: Decision) {
        assert_eq!(
            decide(policy, scope, ask, who, true),
            expected,
            "{policy} / {scope:?} / {ask:?} / {who:?}"
        );
    }

    const STRANGER: Standing = Standing {
        contact: false,
        attendee: false,
        nearby: false,
        dialled: false,
        holder: false,
        revoked: false,
    };

    #[test]
    fn a_stranger_gets_nothing_outside_anyone_scope() {
        for scope in [Scope::Known, Scope::Dialled] {
            check(Policy::Auto, scope, Ask::Give, STRANGER, Decision::Hold);
            check(Policy::Auto, scope, Ask::Return, STRANGER, Decision::Hold);
            check(Policy::Auto, scope, Ask::Fetch, STRANGER, Decision::Nothing);
        }
        check(
            Policy::Auto,
            Scope::Anyone,
            Ask::Give,
            STRANGER,
            Decision::GiveBack,
        );
    }

    #[test]
    fn known_peers_are_answered_in_known_scope_only_the_dialled_in_dialled_scope() {
        let attendee = Standing {
            attendee: true,
            ..STRANGER
        };
        let dialled = Standing {
            dialled: true,
            ..STRANGER
        };
        check(
            Policy::Auto,
            Scope::Known,
            Ask::Give,
            attendee,
            Decision::GiveBack,
        );
        check(
            Policy::Auto,
            Scope::Dialled,
            Ask::Give,
            attendee,
            Decision::Hold,
        );
        check(
            Policy::Auto,
            Scope::Dialled,
            Ask::Give,
            dialled,
            Decision::GiveBack,
        );
        check(
            Policy::Ask,
            Scope::Known,
            Ask::Give,
            attendee,
            Decision::Hold,
        );
    }

    #[test]
    fn ask_answers_a_peer_it_accepted_before_without_asking_again() {
        let accepted = Standing {
            holder: true,
            ..STRANGER
        };
        for scope in [Scope::Anyone, Scope::Known, Scope::Dialled] {
            check(Policy::Ask, scope, Ask::Give, accepted, Decision::GiveBack);
            check(Policy::Ask, scope, Ask::Give, STRANGER, Decision::Hold);
            let revoked = Standing {
                revoked: true,
                ..accepted
            };
            check(Policy::Ask, scope, Ask::Give, revoked, Decision::Hold);
        }
    }

    #[test]
    fn never_lets_nothing_leave() {
        let holder = Standing {
            holder: true,
            contact: true,
            ..STRANGER
        };
        for scope in [Scope::Anyone, Scope::Known, Scope::Dialled] {
            for who in [STRANGER, holder] {
                for ask in [Ask::Give, Ask::Return, Ask::Fetch, Ask::Teaser] {
                    let d = decide(Policy::Never, scope, ask, who, true);
                    assert!(
                        !matches!(
                            d,
                            Decision::GiveBack | Decision::SendCard | Decision::SendTeaser
                        ),
                        "{scope:?} {ask:?} {who:?} -> {d:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn revoked_holders_get_nothing_and_their_gives_are_held() {
        let revoked = Standing {
            holder: true,
            contact: true,
            revoked: true,
            ..STRANGER
        };
        for scope in [Scope::Anyone, Scope::Known] {
            check(Policy::Auto, scope, Ask::Fetch, revoked, Decision::Nothing);
            check(Policy::Auto, scope, Ask::Give, revoked, Decision::Hold);
        }
    }

    #[test]
    fn holders_fetch_and_returns_from_holders_are_kept() {
        let holder = Standing {
            holder: true,
            ..STRANGER
        };
        check(
            Policy::Auto,
            Scope::Known,
            Ask::Fetch,
            holder,
            Decision::SendCard,
        );
        check(
            Policy::Ask,
            Scope::Known,
            Ask::Fetch,
            holder,
            Decision::SendCard,
        );
        check(
            Policy::Ask,
            Scope::Known,
            Ask::Return,
            holder,
            Decision::Keep,
        );
    }

    #[test]
    fn teaser_only_when_chosen_and_never_under_never() {
        assert_eq!(
            decide(Policy::Auto, Scope::Anyone, Ask::Teaser, STRANGER, false),
            Decision::Nothing
        );
        assert_eq!(
            decide(Policy::Auto, Scope::Known, Ask::Teaser, STRANGER, true),
            Decision::SendTeaser
        );
        assert_eq!(
            decide(Policy::Never, Scope::Anyone, Ask::Teaser, STRANGER, true),
            Decision::Nothing
        );
    }
}
