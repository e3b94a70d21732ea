//! A simulated world for the planner's tests, driven by a fake clock: the zone (what the signer
//! contract of [`super`] publishes and signs at each time, computed from the key states), a
//! parent whose DS set follows the zone's CDS set only when the simulated operator reacts (after
//! a delay, and only if that CDS set is still the zone's then), an operator who records
//! `ds_seen`/`ds_gone` a while after the parent's DS set shows them (a withdrawn key's DS that
//! the parent never had is seen gone too), and a model validating resolver.
//!
//! The resolver may hold, at `now`, any DS set the parent had during the last `Ids`, any DNSKEY
//! RRset (with its RRSIGs) the zone had during the last `Ipub`, and any signed data RRset (with
//! its RRSIGs) of the last `Isig`; every combination must validate ([`validates`]).

use super::{plan, Intervals, Plan, RollPolicy};
use crate::keystate::KeyState;
use crate::zone::KeyRole;
use std::collections::BTreeSet;

/// A key's identity: (algorithm, tag).
pub(super) type Id = (u8, u16);

/// What the zone serves at one time.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug, Default)]
pub(super) struct ZoneView {
    pub published: BTreeSet<Id>,
    pub signs_keys: BTreeSet<Id>,
    pub signs_data: BTreeSet<Id>,
    pub cds: BTreeSet<Id>,
}

fn id(key: &KeyState) -> Id {
    (key.algorithm.0, key.tag)
}

/// How the modelled signer uses the key states.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Signer {
    /// The contract of [`super`]: DNSKEY RRset from `is_published`, signatures from `signs_keys`
    /// and `signs_data`.
    Contract,
    /// Every key that `is_signing` signs as its own role says (KSK: DNSKEY RRset, ZSK: data, CSK:
    /// both), publication as the contract says.
    OwnRole,
    /// As `OwnRole`, and every signing key is published too (a signer that puts the DNSKEY of
    /// every key it signs with in the zone, as `sign_zone` does today).
    PublishesSigners,
}

/// The zone at `t` with `signer`.
pub(super) fn view(keys: &[KeyState], t: u64, signer: Signer) -> ZoneView {
    let set = |keep: &dyn Fn(&KeyState) -> bool| keys.iter().filter(|key| keep(key)).map(id).collect();
    let own = signer != Signer::Contract;
    let signs = |key: &KeyState, unless: KeyRole| key.is_signing(t) && key.role != unless;
    ZoneView {
        published: set(&|key| key.is_published(t) || (signer == Signer::PublishesSigners && key.is_signing(t))),
        signs_keys: set(&|key| if own { signs(key, KeyRole::Zsk) } else { key.signs_keys(t) }),
        signs_data: set(&|key| if own { signs(key, KeyRole::Ksk) } else { key.signs_data(t) }),
        cds: set(&|key| key.has_cds(t)),
    }
}

/// The validation rules checked for one combination of cached DS set, DNSKEY RRset (with the
/// keys that signed it) and data signatures:
/// 1. RFC 4035 §5 with RFC 6840 §5.11 (one valid path): a DS matches a DNSKEY in the set that
///    signed the set, and the data carries a signature of a key in the set;
/// 2. every algorithm of the DS set (RFC 6840 §5.11, Unbound's `harden-algo-downgrade`): a DS of
///    that algorithm matches a DNSKEY that signed the set, and the data carries a signature of
///    that algorithm by a key in the set;
/// 3. every algorithm of the DNSKEY set (RFC 4035 §2.2, strict; checked when `strict`): the DNSKEY
///    set and the data each carry a signature of that algorithm by a key in the set.
pub(super) fn validates(ds: &BTreeSet<Id>, dnskey: &ZoneView, data: &ZoneView, strict: bool) -> Result<(), String> {
    let keys = &dnskey.published;
    let anchors = |alg: Option<u8>| ds.iter().any(|d| alg.is_none_or(|a| d.0 == a) && keys.contains(d) && dnskey.signs_keys.contains(d));
    let signed = |alg: Option<u8>| data.signs_data.iter().any(|s| alg.is_none_or(|a| s.0 == a) && keys.contains(s));
    let why = |rule: &str| format!("{rule}: DS {ds:?}, DNSKEY {keys:?} signed by {:?}, data signed by {:?}", dnskey.signs_keys, data.signs_data);
    if !anchors(None) || !signed(None) {
        return Err(why("no valid path (rule 1)"));
    }
    for alg in ds.iter().map(|d| d.0) {
        if !anchors(Some(alg)) || !signed(Some(alg)) {
            return Err(why(&format!("DS algorithm {alg} not fully used (rule 2)")));
        }
    }
    for alg in keys.iter().map(|k| k.0).filter(|_| strict) {
        let keyset = dnskey.signs_keys.iter().any(|s| s.0 == alg && keys.contains(s));
        if !keyset || !signed(Some(alg)) {
            return Err(why(&format!("DNSKEY algorithm {alg} does not sign everything (rule 3)")));
        }
    }
    Ok(())
}

/// How the operator and the parent behave.
#[derive(Clone, Copy, Debug)]
pub(super) struct Operator {
    /// The parent follows the CDS set at all.
    pub reacts: bool,
    /// From reading a new CDS set to changing the DS set.
    pub parent_delay: u64,
    /// From the parent's change to `ds_seen`/`ds_gone` being recorded.
    pub observe_delay: u64,
}

/// The world: the policy, the keys (never dropped), the parent's DS history and the clock.
pub(super) struct World {
    pub policy: RollPolicy,
    pub operator: Operator,
    pub now: u64,
    pub keys: Vec<KeyState>,
    /// (from, DS set) in time order.
    pub parent: Vec<(u64, BTreeSet<Id>)>,
    /// A DS change the parent will make.
    pending_parent: Option<(u64, BTreeSet<Id>)>,
    /// Observations to record: (at, key, seen (true) or gone).
    observations: Vec<(u64, Id, bool)>,
    next_tag: u16,
    /// Serialise, parse and reverse the key states before every planning (a restart).
    pub restart_each_step: bool,
    /// The modelled signer; rule 3 of [`validates`] is checked except for `PublishesSigners`.
    pub signer: Signer,
    /// Drop the keys that are [`KeyState::is_removed`] from the stored states, as a caller may.
    pub drop_removed: bool,
    /// The dropped keys (still in the history the resolver may have cached).
    archive: Vec<KeyState>,
    pub steps: usize,
    pub secured: bool,
    pub last_plan: Plan,
}

impl World {
    pub(super) fn new(policy: RollPolicy, operator: Operator, now: u64) -> Self {
        Self {
            policy,
            operator,
            now,
            keys: Vec::new(),
            parent: vec![(0, BTreeSet::new())],
            pending_parent: None,
            observations: Vec::new(),
            next_tag: 1000,
            restart_each_step: false,
            signer: Signer::Contract,
            drop_removed: false,
            archive: Vec::new(),
            steps: 0,
            secured: false,
            last_plan: Plan::default(),
        }
    }

    fn intervals(&self) -> Intervals {
        Intervals::of(&self.policy)
    }

    /// Plans at `now`, makes the keys asked for and plans again; checks idempotence.
    fn plan_now(&mut self) {
        if self.restart_each_step {
            let texts: Vec<String> = self.keys.iter().map(KeyState::to_text).collect();
            self.keys = texts.iter().rev().map(|text| KeyState::parse(text).unwrap_or_else(|e| panic!("{e}: {text}"))).collect();
        }
        let mut result = plan(&self.policy, &self.keys, self.now);
        for _ in 0..3 {
            if result.new_keys.is_empty() {
                break;
            }
            let mut keys = result.keys.clone();
            for &(role, algorithm) in &result.new_keys {
                keys.push(KeyState::new(algorithm, self.next_tag, role, self.now));
                self.next_tag += 1;
            }
            result = plan(&self.policy, &keys, self.now);
        }
        assert!(result.new_keys.is_empty(), "still asking for keys at {}: {result:?}", self.now);
        let again = plan(&self.policy, &result.keys, self.now);
        assert_eq!(again, result, "planning twice at {} differs", self.now);
        let mut reversed: Vec<KeyState> = result.keys.iter().rev().copied().collect();
        reversed = plan(&self.policy, &reversed, self.now).keys;
        reversed.reverse();
        assert_eq!(reversed, result.keys, "planning depends on the keys' order at {}", self.now);
        self.keys = result.keys.clone();
        self.last_plan = result;
        if self.drop_removed {
            let now = self.now;
            self.archive.extend(self.keys.iter().filter(|k| k.is_removed(now)).copied());
            self.keys.retain(|k| !k.is_removed(now));
        }
    }

    /// The parent's DS set at `t`.
    fn ds_at(&self, t: u64) -> BTreeSet<Id> {
        self.parent.iter().rev().find(|(from, _)| *from <= t).map(|(_, set)| set.clone()).unwrap_or_default()
    }

    /// The times the zone or the parent changed, up to `now`.
    fn changes(&self) -> BTreeSet<u64> {
        let zone = self.every_key().into_iter().flat_map(|k| [Some(k.created), k.publish, k.active, k.retire, k.remove, k.ds_publish, k.ds_withdraw]).flatten();
        zone.chain(self.parent.iter().map(|(from, _)| *from)).filter(|&t| t <= self.now).collect()
    }

    /// The distinct states `state` took during the last `window` (see the module documentation).
    fn recent<T: Ord>(&self, changes: &BTreeSet<u64>, window: u64, state: impl Fn(u64) -> T) -> BTreeSet<T> {
        let start = self.now.saturating_sub(window);
        let mut states: BTreeSet<T> = changes.iter().filter(|&&t| t > start).map(|&t| state(t)).collect();
        states.insert(state(start));
        states
    }

    /// Every combination a resolver may hold at `now` validates (once the parent has a DS).
    fn check(&mut self) {
        let intervals = self.intervals();
        let changes = self.changes();
        let ds_sets = self.recent(&changes, intervals.parent, |t| self.ds_at(t));
        let every = self.every_key();
        let dnskeys = self.recent(&changes, intervals.publish, |t| view(&every, t, self.signer));
        let data = self.recent(&changes, intervals.signatures, |t| view(&every, t, self.signer));
        self.secured |= !self.ds_at(self.now).is_empty();
        for ds in &ds_sets {
            if ds.is_empty() {
                continue;
            }
            for dnskey in &dnskeys {
                for signed in &data {
                    if let Err(why) = validates(ds, dnskey, signed, self.signer != Signer::PublishesSigners) {
                        let keys: Vec<String> = every.iter().map(|k| k.to_text().replace('\n', " ")).collect();
                        panic!("bogus at {} (step {}): {why}\nkeys:\n{}", self.now, self.steps, keys.join("\n"));
                    }
                }
            }
        }
        let current = view(&self.keys, self.now, self.signer);
        assert!(!current.signs_keys.is_empty() && !current.signs_data.is_empty(), "nothing signs at {}: {:?}", self.now, self.keys);
        assert!(!self.secured || !current.cds.is_empty(), "no CDS left at {} (the parent would keep a stale DS): {:?}", self.now, self.keys);
    }

    /// The parent and the operator react to the zone's CDS set.
    fn react(&mut self) {
        while let Some(&(at, key, is_seen)) = self.observations.iter().find(|o| o.0 <= self.now) {
            self.observations.retain(|o| o.0 != at || o.1 != key || o.2 != is_seen);
            if let Some(state) = self.keys.iter_mut().find(|k| id(k) == key) {
                let slot = if is_seen { &mut state.ds_seen } else { &mut state.ds_gone };
                slot.get_or_insert(at);
            }
        }
        // The parent acts only if the CDS set it read is still the zone's when it acts (RFC 7344
        // §4.1 consistency; parents with a waiting period re-read before acting); otherwise it
        // starts over with the current one.
        let current = view(&self.keys, self.now, self.signer).cds;
        if self.pending_parent.as_ref().is_some_and(|(at, set)| *at <= self.now && *set != current) {
            self.pending_parent = None;
        }
        if let Some((at, set)) = self.pending_parent.clone().filter(|(at, _)| *at <= self.now) {
            let old = self.ds_at(at);
            let delay = self.operator.observe_delay;
            self.observations.extend(set.difference(&old).map(|&key| (at + delay, key, true)));
            self.observations.extend(old.difference(&set).map(|&key| (at + delay, key, false)));
            self.parent.push((at, set));
            self.pending_parent = None;
        }
        if self.operator.reacts {
            // The operator's check of the parent also sees a withdrawn key's DS absent when the
            // parent never had it.
            let parent = self.ds_at(self.now);
            let withdrawn = self.keys.iter().filter(|k| k.ds_withdraw.is_some_and(|at| at <= self.now) && k.ds_gone.is_none()).map(id);
            let absent: Vec<Id> = withdrawn.filter(|key| !parent.contains(key) && !self.observations.iter().any(|o| o.1 == *key && !o.2)).collect();
            self.observations.extend(absent.into_iter().map(|key| (self.now + self.operator.observe_delay, key, false)));
        }
        let cds = view(&self.keys, self.now, self.signer).cds;
        if self.operator.reacts && self.pending_parent.is_none() && !cds.is_empty() && cds != self.ds_at(self.now) {
            self.pending_parent = Some((self.now + self.operator.parent_delay, cds));
        }
    }

    /// One step: record what is due, plan, check, react; then move the clock to the next event.
    /// Returns false when nothing is scheduled before `end`.
    pub(super) fn step(&mut self, end: u64) -> bool {
        self.settle();
        self.check();
        self.steps += 1;
        let parent = self.pending_parent.as_ref().map(|(at, _)| *at);
        let observed = self.observations.iter().map(|o| o.0).min();
        let next = [self.last_plan.next_event, parent, observed].into_iter().flatten().filter(|&t| t > self.now).min();
        match next {
            Some(next) if next <= end => {
                self.now = next;
                true
            }
            _ => false,
        }
    }

    /// Steps until `end` (at most `max_steps`, which must not be reached).
    pub(super) fn run(&mut self, end: u64, max_steps: usize) {
        let start = self.steps;
        while self.step(end) {
            assert!(self.steps - start < max_steps, "more than {max_steps} steps before {end}");
        }
        self.now = self.now.max(end);
        self.settle();
        self.check();
    }

    /// Reacts and plans until nothing more happens at `now` (a parent with no delay reacts at
    /// once, which may start the next step of a roll at the same instant).
    fn settle(&mut self) {
        for _ in 0..8 {
            let snapshot = |world: &Self| {
                let mut keys = world.keys.clone();
                keys.sort_by_key(|k| k.tag);
                (keys, world.parent.len(), world.observations.len(), world.pending_parent.clone())
            };
            let before = snapshot(self);
            self.react();
            self.plan_now();
            self.react();
            if before == snapshot(self) {
                return;
            }
        }
        panic!("no rest at {}", self.now);
    }

    /// The stored keys and the ones the caller dropped.
    pub(super) fn every_key(&self) -> Vec<KeyState> {
        self.keys.iter().chain(&self.archive).copied().collect()
    }

    /// The keys of `role` and `alg` ever made, in creation order.
    pub(super) fn made(&self, role: crate::zone::KeyRole, alg: u8) -> Vec<KeyState> {
        let mut keys: Vec<KeyState> = self.every_key().into_iter().filter(|k| k.role == role && k.algorithm.0 == alg).collect();
        keys.sort_by_key(|k| (k.created, k.tag));
        keys
    }
}
