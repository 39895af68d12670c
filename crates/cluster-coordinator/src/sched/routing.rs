//! Routing by capability: which workers may run which tasks.
//!
//! Workers that advertise the same kinds and labels form a *profile*; tasks
//! of one kind with one set of required labels form a *class*. Each profile
//! keeps its own least-loaded indexes, and each class lists the profiles
//! able to run it, so placing a task looks at the first entry of one index
//! per eligible profile: O(P log W), P being a handful in practice (one in a
//! uniform cluster). Profiles and classes are made on first sight and kept.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap as HashMap;

use super::dispatch::{LoadIndex, LoadKey};
use super::{JobId, WorkerDesc, WorkerId};

/// Most distinct (kind, required labels) pairs the core keeps: a client
/// inventing a kind per task must not grow it without bound.
pub(super) const MAX_CLASSES: usize = 10_000;

/// Index of a profile in [`Routing::profiles`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct ProfileId(u32);

impl Profile {
    pub(super) fn id(&self) -> ProfileId {
        self.id
    }
}

/// Index of a class in [`Routing::classes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct ClassId(u32);

impl ClassId {
    pub(super) fn index(self) -> usize {
        self.0 as usize
    }
}

/// A job's lane: its queue of one class, by index in the job's lanes.
pub(super) type LaneRef = (JobId, u32);

type Labels = BTreeMap<String, String>;

/// Workers with one set of kinds and labels.
#[derive(Debug)]
pub(super) struct Profile {
    id: ProfileId,
    kinds: BTreeSet<String>,
    labels: Labels,
    /// Its workers with a free pipeline slot, least loaded first.
    pub(super) load: LoadIndex,
    /// Its workers with an idle core, least loaded first: where tasks taken
    /// back from busy workers go.
    pub(super) idle: LoadIndex,
    /// Cores of its workers without a task.
    pub(super) idle_cores: u64,
    /// Tasks asked back from busy workers for its idle cores, unanswered.
    pub(super) revoking: u64,
    /// Its connected workers that are not draining.
    pub(super) active: u32,
    /// The classes it can run.
    pub(super) classes: Vec<ClassId>,
}

/// Tasks of one kind with one set of required labels.
#[derive(Debug)]
pub(super) struct Class {
    pub(super) kind: String,
    require: Labels,
    /// The profiles that can run it.
    profiles: Vec<ProfileId>,
    /// Lanes with queued tasks that found no free slot; put back in the
    /// ring when a worker of an eligible profile has one.
    pub(super) parked: Vec<LaneRef>,
    /// Workers that may hold unstarted tasks of this class (checked when
    /// popped; each listed at most once, see `Worker::victim_of`).
    pub(super) victims: Vec<WorkerId>,
}

/// The profiles and classes seen so far.
#[derive(Debug, Default)]
pub(super) struct Routing {
    pub(super) profiles: Vec<Profile>,
    pub(super) classes: Vec<Class>,
    profile_ids: HashMap<(BTreeSet<String>, Labels), ProfileId>,
    class_ids: HashMap<(String, Labels), ClassId>,
}

impl Routing {
    pub(super) fn profile(&mut self, id: ProfileId) -> &mut Profile {
        &mut self.profiles[id.0 as usize]
    }

    pub(super) fn class(&mut self, id: ClassId) -> &mut Class {
        &mut self.classes[id.0 as usize]
    }

    /// The profile of a worker described by `desc`, made if new.
    pub(super) fn profile_for(&mut self, desc: &WorkerDesc) -> ProfileId {
        let kinds: BTreeSet<String> = desc.kinds.iter().cloned().collect();
        let key = (kinds, desc.labels.clone());
        if let Some(&id) = self.profile_ids.get(&key) {
            return id;
        }
        let id = ProfileId(self.profiles.len() as u32);
        let (kinds, labels) = key.clone();
        let mut profile = Profile {
            id,
            kinds,
            labels,
            load: LoadIndex::default(),
            idle: LoadIndex::default(),
            idle_cores: 0,
            revoking: 0,
            active: 0,
            classes: Vec::new(),
        };
        for (index, class) in self.classes.iter_mut().enumerate() {
            if runs(&profile, class) {
                class.profiles.push(id);
                profile.classes.push(ClassId(index as u32));
            }
        }
        self.profiles.push(profile);
        self.profile_ids.insert(key, id);
        id
    }

    /// The class of tasks of `kind` under `require`, made if new; `None`
    /// when [`MAX_CLASSES`] are already kept.
    pub(super) fn class_for(&mut self, kind: &str, require: &Labels) -> Option<ClassId> {
        let key = (kind.to_owned(), require.clone());
        if let Some(&id) = self.class_ids.get(&key) {
            return Some(id);
        }
        if self.classes.len() >= MAX_CLASSES {
            return None;
        }
        let id = ClassId(self.classes.len() as u32);
        let mut class = Class {
            kind: key.0.clone(),
            require: key.1.clone(),
            profiles: Vec::new(),
            parked: Vec::new(),
            victims: Vec::new(),
        };
        for (index, profile) in self.profiles.iter_mut().enumerate() {
            if runs(profile, &class) {
                class.profiles.push(ProfileId(index as u32));
                profile.classes.push(id);
            }
        }
        self.classes.push(class);
        self.class_ids.insert(key, id);
        Some(id)
    }

    /// The least-loaded free slot for a task of `class`; for a task taken
    /// back for an idle core (`stolen`), an idle core first.
    pub(super) fn pick(&self, class: ClassId, stolen: bool) -> Option<LoadKey> {
        let profiles =
            || self.classes[class.0 as usize].profiles.iter().map(|p| &self.profiles[p.0 as usize]);
        let idle = if stolen { profiles().filter_map(|p| p.idle.first()).min() } else { None };
        idle.or_else(|| profiles().filter_map(|p| p.load.first()).min())
    }

    /// Whether some connected, non-draining worker can run `class`.
    pub(super) fn routable(&self, class: ClassId) -> bool {
        self.classes[class.0 as usize].profiles.iter().any(|p| self.profiles[p.0 as usize].active > 0)
    }

    /// What a client is told while its tasks of `class` wait for a worker
    /// that can run them; `workers` are connected (active, draining or
    /// still being dialled).
    pub(super) fn waiting_message(&self, class: ClassId, workers: usize) -> String {
        if self.profiles.iter().all(|p| p.active == 0) {
            return format!("waiting: no active worker (0 of {workers} connected)");
        }
        format!("waiting: no worker runs {} ({workers} workers connected)", self.describe(class))
    }

    /// Why tasks of `class` failed after waiting `waited_ms` (the job's
    /// unroutable timeout).
    pub(super) fn unroutable_message(&self, class: ClassId, waited_ms: u64) -> String {
        let offered: BTreeSet<&str> = self
            .profiles
            .iter()
            .filter(|p| p.active > 0)
            .flat_map(|p| p.kinds.iter().map(String::as_str))
            .collect();
        let offered = if offered.is_empty() {
            "no worker is active".to_owned()
        } else {
            format!("the workers offer {}", offered.into_iter().collect::<Vec<_>>().join(", "))
        };
        format!("no worker runs {} after waiting {waited_ms} ms; {offered}", self.describe(class))
    }

    /// "kind 'exec'", with the required labels if any.
    fn describe(&self, class: ClassId) -> String {
        let class = &self.classes[class.0 as usize];
        let mut text = format!("kind '{}'", class.kind);
        if !class.require.is_empty() {
            let labels: Vec<String> = class.require.iter().map(|(k, v)| format!("{k}={v}")).collect();
            text.push_str(&format!(" with labels {}", labels.join(",")));
        }
        text
    }

    /// Classes none of whose eligible workers is active, with lanes parked.
    pub(super) fn unroutable_with_parked(&self) -> Vec<ClassId> {
        (0..self.classes.len() as u32)
            .map(ClassId)
            .filter(|&c| !self.classes[c.0 as usize].parked.is_empty() && !self.routable(c))
            .collect()
    }
}

/// Whether workers of `profile` can run tasks of `class`.
fn runs(profile: &Profile, class: &Class) -> bool {
    profile.kinds.contains(&class.kind)
        && class.require.iter().all(|(key, value)| profile.labels.get(key) == Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(kinds: &[&str], labels: &[(&str, &str)]) -> WorkerDesc {
        let mut desc = WorkerDesc::new("w", 1).with_kinds(kinds);
        desc.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        desc
    }

    #[test]
    fn profiles_and_classes_match_both_ways_whichever_comes_first() {
        let mut routing = Routing::default();
        let zone_b: Labels = [("zone".to_string(), "b".to_string())].into();
        let exec_b = routing.class_for("exec", &zone_b).unwrap();
        let plain = routing.profile_for(&desc(&["noop", "exec"], &[]));
        let in_b = routing.profile_for(&desc(&["exec", "noop"], &[("zone", "b"), ("gpu", "1")]));
        let noop = routing.class_for("noop", &Labels::new()).unwrap();
        assert_eq!(routing.classes[exec_b.0 as usize].profiles, vec![in_b]);
        assert_eq!(routing.classes[noop.0 as usize].profiles, vec![plain, in_b]);
        // Same kinds in another order, same labels: the same profile.
        assert_eq!(routing.profile_for(&desc(&["exec", "noop"], &[])), plain);
        assert_eq!(routing.class_for("noop", &Labels::new()), Some(noop));
    }

    #[test]
    fn messages_name_the_kind_the_labels_and_what_is_offered() {
        let mut routing = Routing::default();
        let zone_b: Labels = [("zone".to_string(), "b".to_string())].into();
        let exec_b = routing.class_for("exec", &zone_b).unwrap();
        assert_eq!(routing.waiting_message(exec_b, 2), "waiting: no active worker (0 of 2 connected)");
        let p = routing.profile_for(&desc(&["noop", "spin"], &[]));
        routing.profile(p).active = 1;
        assert_eq!(
            routing.waiting_message(exec_b, 3),
            "waiting: no worker runs kind 'exec' with labels zone=b (3 workers connected)"
        );
        assert_eq!(
            routing.unroutable_message(exec_b, 30_000),
            "no worker runs kind 'exec' with labels zone=b after waiting 30000 ms; the workers offer noop, spin"
        );
    }
}
