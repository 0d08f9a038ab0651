//! Lockable resources, as the Lockable Resources plugin defines them: named resources
//! (declared in kiln.yaml's `locks:` with labels, or created on first use), taken by
//! `lock(resource)` or by `lock(label:, quantity:)` (that many of the resources carrying the
//! label; all of them when the quantity is 0), held until the block ends.
//!
//! One [`LockTable`] serves every build of a server (and every build of one `kiln run`
//! process). Requests wait in one queue in arrival order; when resources are freed the
//! queue is walked in order and every request that can now be satisfied is granted, so a
//! request never overtakes an older one that wants the same resources, except that
//! `inversePrecedence` requests go newest first among themselves, as in the plugin.
//! A held lock is a [`HeldLock`]: dropping it (the block ended, the build was aborted and
//! its future dropped) releases the resources. The table lives in memory: a controller
//! restart frees everything, and the builds that held locks end ABORTED.
//!
//! Every lock here is a short std lock, never held across an `.await`.

use kiln_engine::{BuildId, LockAttempt, LockGuard, LockRequest};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// A resource declared in the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredResource {
    pub name: String,
    pub labels: Vec<String>,
    pub description: Option<String>,
}

/// What the API shows of one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceView {
    pub name: String,
    pub labels: Vec<String>,
    pub description: Option<String>,
    /// The build holding it.
    pub holder: Option<BuildId>,
}

/// What the API shows of one waiting request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaiterView {
    pub build: BuildId,
    /// The resources asked for by name, or the label.
    pub wants: String,
    pub quantity: u32,
    pub inverse_precedence: bool,
}

/// Every resource and every waiting request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocksView {
    pub resources: Vec<ResourceView>,
    pub waiting: Vec<WaiterView>,
}

/// Why a request cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LockError {
    #[error("lock: no resource carries the label `{0}`")]
    NoSuchLabel(String),
    #[error("lock: {wanted} resources with label `{label}` asked for, only {have} exist")]
    TooFew {
        label: String,
        wanted: u32,
        have: u32,
    },
    #[error("lock: give a resource or a label")]
    Nothing,
}

#[derive(Default)]
struct Resource {
    labels: Vec<String>,
    description: Option<String>,
    /// Declared in the configuration (kept when free), or created on first use (dropped
    /// again when free, as the plugin drops its ephemeral resources).
    declared: bool,
    holder: Option<(u64, BuildId)>,
}

struct Waiter {
    id: u64,
    holder: BuildId,
    request: LockRequest,
    grant: oneshot::Sender<Vec<String>>,
}

#[derive(Default)]
struct State {
    resources: BTreeMap<String, Resource>,
    queue: Vec<Waiter>,
    next_id: u64,
}

/// The resources of one server (or one `kiln run` process) and the requests waiting.
#[derive(Clone, Default)]
pub struct LockTable {
    state: Arc<Mutex<State>>,
}

/// A granted lock: the resources it holds, released when it is dropped.
pub struct HeldLock {
    table: LockTable,
    id: u64,
    resources: Vec<String>,
}

/// A request that had to wait: who holds what it wants, and the grant to await.
pub struct Queued {
    pub held_by: Vec<(String, BuildId)>,
    grant: oneshot::Receiver<Vec<String>>,
    cancel: CancelWait,
}

/// Takes a waiting request out of the queue if it is dropped before it was granted.
struct CancelWait {
    table: LockTable,
    id: u64,
    armed: bool,
}

/// What [`LockTable::acquire`] gives at once.
pub enum Acquire {
    Held(HeldLock),
    Waiting(Queued),
}

fn guard(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A poisoned lock only means a thread panicked holding it; every update leaves the
    // table consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LockTable {
    /// Makes the configured resources known (on start and reload). Resources that are no
    /// longer configured stay while they are held.
    pub fn declare(&self, declared: &[DeclaredResource]) {
        let mut s = guard(&self.state);
        for r in s.resources.values_mut() {
            r.declared = false;
        }
        for d in declared {
            let r = s.resources.entry(d.name.clone()).or_default();
            r.labels.clone_from(&d.labels);
            r.description.clone_from(&d.description);
            r.declared = true;
        }
        s.resources.retain(|_, r| r.declared || r.holder.is_some());
    }

    /// Takes the resources at once, or queues the request. A resource asked for by name
    /// that does not exist is created.
    pub fn acquire(&self, holder: BuildId, request: LockRequest) -> Result<Acquire, LockError> {
        let mut s = guard(&self.state);
        check(&s, &request)?;
        for name in &request.resources {
            s.resources.entry(name.clone()).or_default();
        }
        s.next_id += 1;
        let id = s.next_id;
        let waits_behind = s.queue.iter().any(|w| overlaps(&s, &w.request, &request));
        if !waits_behind && let Some(names) = pick(&s, &request) {
            take(&mut s, id, &holder, &names);
            return Ok(Acquire::Held(HeldLock {
                table: self.clone(),
                id,
                resources: names,
            }));
        }
        let held_by = blockers(&s, &request);
        let (tx, rx) = oneshot::channel();
        s.queue.push(Waiter {
            id,
            holder,
            request,
            grant: tx,
        });
        Ok(Acquire::Waiting(Queued {
            held_by,
            grant: rx,
            cancel: CancelWait {
                table: self.clone(),
                id,
                armed: true,
            },
        }))
    }

    /// [`LockTable::acquire`] as kiln-engine's coordinator answers it.
    pub fn attempt(&self, holder: BuildId, request: LockRequest) -> Result<LockAttempt, String> {
        let guard = |h: HeldLock| LockGuard::new(h.resources().to_vec(), Box::new(h));
        Ok(
            match self.acquire(holder, request).map_err(|e| e.to_string())? {
                Acquire::Held(h) => LockAttempt::Held(guard(h)),
                Acquire::Waiting(q) => LockAttempt::Waiting {
                    held_by: q.held_by.clone(),
                    granted: Box::pin(async move { q.granted().await.map(guard) }),
                },
            },
        )
    }

    /// Every resource and waiting request, for the API.
    pub fn view(&self) -> LocksView {
        let s = guard(&self.state);
        LocksView {
            resources: s
                .resources
                .iter()
                .map(|(name, r)| ResourceView {
                    name: name.clone(),
                    labels: r.labels.clone(),
                    description: r.description.clone(),
                    holder: r.holder.as_ref().map(|(_, h)| h.clone()),
                })
                .collect(),
            waiting: s
                .queue
                .iter()
                .map(|w| WaiterView {
                    build: w.holder.clone(),
                    wants: match &w.request.label {
                        Some(l) if w.request.resources.is_empty() => format!("label {l}"),
                        _ => w.request.resources.join(", "),
                    },
                    quantity: w.request.quantity,
                    inverse_precedence: w.request.inverse_precedence,
                })
                .collect(),
        }
    }

    fn release(&self, id: u64) {
        let mut s = guard(&self.state);
        for r in s.resources.values_mut() {
            if r.holder.as_ref().is_some_and(|(h, _)| *h == id) {
                r.holder = None;
            }
        }
        grant_waiting(&mut s);
        drop_unused(&mut s);
    }

    fn forget(&self, id: u64) {
        let mut s = guard(&self.state);
        s.queue.retain(|w| w.id != id);
        // The request may have kept younger ones waiting behind it.
        grant_waiting(&mut s);
        drop_unused(&mut s);
    }
}

impl Queued {
    /// Waits for the grant (dropping the future takes the request out of the queue).
    pub async fn granted(mut self) -> Option<HeldLock> {
        let names = (&mut self.grant).await.ok()?;
        self.cancel.armed = false;
        Some(HeldLock {
            table: self.cancel.table.clone(),
            id: self.cancel.id,
            resources: names,
        })
    }
}

impl HeldLock {
    /// The names of the resources held, in order.
    pub fn resources(&self) -> &[String] {
        &self.resources
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        self.table.release(self.id);
    }
}

impl Drop for CancelWait {
    fn drop(&mut self) {
        if self.armed {
            self.table.forget(self.id);
        }
    }
}

/// Refuses what can never be granted.
fn check(s: &State, r: &LockRequest) -> Result<(), LockError> {
    let Some(label) = &r.label else {
        return if r.resources.is_empty() {
            Err(LockError::Nothing)
        } else {
            Ok(())
        };
    };
    let have = u32::try_from(labelled(s, label).count()).unwrap_or(u32::MAX);
    if have == 0 {
        return Err(LockError::NoSuchLabel(label.clone()));
    }
    if r.quantity > have {
        return Err(LockError::TooFew {
            label: label.clone(),
            wanted: r.quantity,
            have,
        });
    }
    Ok(())
}

fn labelled<'s>(s: &'s State, label: &'s str) -> impl Iterator<Item = (&'s String, &'s Resource)> {
    s.resources
        .iter()
        .filter(move |(_, r)| r.labels.iter().any(|l| l == label))
}

/// The resources a request would take now, if it can be granted.
fn pick(s: &State, r: &LockRequest) -> Option<Vec<String>> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    for name in &r.resources {
        if s.resources.get(name).is_some_and(|x| x.holder.is_some()) {
            return None;
        }
        names.insert(name.clone());
    }
    if let Some(label) = &r.label {
        let all = labelled(s, label).count();
        let free: Vec<&String> = labelled(s, label)
            .filter(|(_, x)| x.holder.is_none())
            .map(|(n, _)| n)
            .collect();
        let wanted = if r.quantity == 0 {
            all
        } else {
            r.quantity as usize
        };
        if free.len() < wanted {
            return None;
        }
        names.extend(free.into_iter().take(wanted).cloned());
    }
    Some(names.into_iter().collect())
}

/// Whether two requests may want the same resource.
fn overlaps(s: &State, a: &LockRequest, b: &LockRequest) -> bool {
    let set = |r: &LockRequest| -> BTreeSet<String> {
        let mut names: BTreeSet<String> = r.resources.iter().cloned().collect();
        if let Some(l) = &r.label {
            names.extend(labelled(s, l).map(|(n, _)| n.clone()));
        }
        names
    };
    !set(a).is_disjoint(&set(b))
}

fn take(s: &mut State, id: u64, holder: &BuildId, names: &[String]) {
    for name in names {
        s.resources.entry(name.clone()).or_default().holder = Some((id, holder.clone()));
    }
}

/// Drops the resources created on first use that nobody holds or waits for.
fn drop_unused(s: &mut State) {
    let wanted: BTreeSet<String> = s
        .queue
        .iter()
        .flat_map(|w| w.request.resources.iter().cloned())
        .collect();
    s.resources
        .retain(|name, r| r.declared || r.holder.is_some() || wanted.contains(name));
}

/// Who holds the resources a request waits for.
fn blockers(s: &State, r: &LockRequest) -> Vec<(String, BuildId)> {
    s.resources
        .iter()
        .filter(|(name, x)| {
            r.resources.contains(name) || r.label.as_ref().is_some_and(|l| x.labels.contains(l))
        })
        .filter_map(|(name, x)| x.holder.as_ref().map(|(_, h)| (name.clone(), h.clone())))
        .collect()
}

/// Grants what can be granted, oldest first (`inversePrecedence` requests newest first
/// among themselves); a request that cannot be granted keeps the younger ones that want
/// the same resources waiting.
fn grant_waiting(s: &mut State) {
    let mut order: Vec<usize> = (0..s.queue.len()).collect();
    // Inverse-precedence requests swap places among themselves, newest first.
    let inverse: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| s.queue[i].request.inverse_precedence)
        .collect();
    for (slot, i) in inverse.iter().zip(inverse.iter().rev()) {
        order[*slot] = *i;
    }
    let mut blocked: Vec<usize> = Vec::new();
    let mut granted: Vec<usize> = Vec::new();
    for i in order {
        let w = &s.queue[i];
        if blocked
            .iter()
            .any(|&b| overlaps(s, &s.queue[b].request, &w.request))
        {
            blocked.push(i);
            continue;
        }
        match pick(s, &w.request) {
            Some(names) => {
                let (id, holder) = (w.id, w.holder.clone());
                take(s, id, &holder, &names);
                granted.push(i);
                let w = &mut s.queue[i];
                let (tx, _) = oneshot::channel();
                let grant = std::mem::replace(&mut w.grant, tx);
                if grant.send(names).is_err() {
                    // The waiter went away meanwhile: free what it was given.
                    for r in s.resources.values_mut() {
                        if r.holder.as_ref().is_some_and(|(h, _)| *h == id) {
                            r.holder = None;
                        }
                    }
                }
            }
            None => blocked.push(i),
        }
    }
    let mut i = 0;
    s.queue.retain(|_| {
        let keep = !granted.contains(&i);
        i += 1;
        keep
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(n: u64) -> BuildId {
        BuildId {
            job: "job".into(),
            number: n,
        }
    }

    fn named(name: &str) -> LockRequest {
        LockRequest {
            resources: vec![name.into()],
            ..LockRequest::default()
        }
    }

    fn held(a: Acquire) -> HeldLock {
        match a {
            Acquire::Held(h) => h,
            Acquire::Waiting(_) => panic!("expected the lock to be granted at once"),
        }
    }

    fn queued(a: Acquire) -> Queued {
        match a {
            Acquire::Waiting(q) => q,
            Acquire::Held(_) => panic!("expected the request to wait"),
        }
    }

    fn now(q: &mut Queued) -> Option<Vec<String>> {
        q.grant.try_recv().ok()
    }

    #[test]
    fn a_resource_is_created_on_first_use_and_dropped_when_free() {
        let t = LockTable::default();
        let h = held(t.acquire(who(1), named("db")).unwrap());
        assert_eq!(h.resources(), ["db"]);
        assert_eq!(t.view().resources[0].holder, Some(who(1)));
        drop(h);
        assert!(t.view().resources.is_empty());
    }

    #[test]
    fn waiters_are_granted_in_arrival_order() {
        let t = LockTable::default();
        let first = held(t.acquire(who(1), named("db")).unwrap());
        let mut second = queued(t.acquire(who(2), named("db")).unwrap());
        let mut third = queued(t.acquire(who(3), named("db")).unwrap());
        assert_eq!(second.held_by, vec![("db".to_owned(), who(1))]);
        drop(first);
        assert_eq!(now(&mut second), Some(vec!["db".to_owned()]));
        assert_eq!(now(&mut third), None);
        assert_eq!(t.view().resources[0].holder, Some(who(2)));
        assert_eq!(t.view().waiting.len(), 1);
    }

    #[test]
    fn inverse_precedence_grants_the_newest_first() {
        let t = LockTable::default();
        let inverse = |n: &str| LockRequest {
            inverse_precedence: true,
            ..named(n)
        };
        let first = held(t.acquire(who(1), inverse("db")).unwrap());
        let mut second = queued(t.acquire(who(2), inverse("db")).unwrap());
        let mut third = queued(t.acquire(who(3), inverse("db")).unwrap());
        drop(first);
        assert_eq!(now(&mut third), Some(vec!["db".to_owned()]));
        assert_eq!(now(&mut second), None);
    }

    #[test]
    fn a_dropped_waiter_leaves_the_queue() {
        let t = LockTable::default();
        let first = held(t.acquire(who(1), named("db")).unwrap());
        let second = queued(t.acquire(who(2), named("db")).unwrap());
        let mut third = queued(t.acquire(who(3), named("db")).unwrap());
        drop(second);
        drop(first);
        assert_eq!(now(&mut third), Some(vec!["db".to_owned()]));
    }

    #[test]
    fn labels_take_a_quantity_of_free_resources() {
        let t = LockTable::default();
        let decl = |n: &str| DeclaredResource {
            name: n.into(),
            labels: vec!["phone".into()],
            description: None,
        };
        t.declare(&[decl("p1"), decl("p2"), decl("p3")]);
        let by_label = |q| LockRequest {
            label: Some("phone".into()),
            quantity: q,
            ..LockRequest::default()
        };
        let two = held(t.acquire(who(1), by_label(2)).unwrap());
        assert_eq!(two.resources(), ["p1", "p2"]);
        let one = held(t.acquire(who(2), by_label(1)).unwrap());
        assert_eq!(one.resources(), ["p3"]);
        let mut all = queued(t.acquire(who(3), by_label(0)).unwrap());
        drop(two);
        assert_eq!(now(&mut all), None);
        drop(one);
        assert_eq!(now(&mut all).map(|v| v.len()), Some(3));
        // Declared resources stay known when free.
        assert_eq!(t.view().resources.len(), 3);
    }

    #[test]
    fn impossible_requests_are_refused() {
        let t = LockTable::default();
        let req = LockRequest {
            label: Some("gpu".into()),
            quantity: 1,
            ..LockRequest::default()
        };
        assert_eq!(
            t.acquire(who(1), req).err(),
            Some(LockError::NoSuchLabel("gpu".into()))
        );
        assert_eq!(
            t.acquire(who(1), LockRequest::default()).err(),
            Some(LockError::Nothing)
        );
    }
}
