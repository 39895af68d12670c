//! CPU affinity for a process's async runtime (`--async-cpus`).
//!
//! A small job's round trip is a chain of hand-offs: client, coordinator,
//! worker, coordinator, client. Linux wakes each process on an idle core
//! when it can, so on a lightly loaded host every hop crosses cores, and
//! on a virtual machine a wake-up on another core costs tens of
//! microseconds of CPU on both sides (an inter-processor interrupt and a
//! halted virtual CPU to resume). Pinning the runtimes that only move
//! messages to one core keeps the whole chain there, while the task slots,
//! which do the real work, keep every core: [`pin_current_thread`] before
//! the runtime starts, [`unpin_current_thread`] on each slot thread.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// Highest CPU number a list may name (glibc's `CPU_SETSIZE` is 1024).
const MAX_CPU: usize = 1023;

/// A set of CPU numbers, written as `taskset -c` and cpusets write them:
/// `0`, `0-3`, `0,2,4-5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(Vec<usize>);

impl CpuList {
    /// Just `cpu`; `None` above the highest CPU number a mask can hold.
    pub fn one(cpu: usize) -> Option<Self> {
        (cpu <= MAX_CPU).then(|| Self(vec![cpu]))
    }

    /// The CPU numbers, ascending, each once.
    pub fn cpus(&self) -> &[usize] {
        &self.0
    }

    /// How many CPUs the list names (at least one).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: parsing refuses an empty list.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a CPU list could not be parsed or applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AffinityError {
    /// Not a list of CPU numbers and ranges.
    #[error("`{0}` is not a CPU list: write numbers and ranges such as 0, 0-3 or 0,2,4-5")]
    Syntax(String),
    /// A range whose end comes before its start.
    #[error("`{0}` is not a CPU range: its end is below its start")]
    Reversed(String),
    /// A CPU number above what an affinity mask can hold.
    #[error("CPU {0} is out of range: the highest CPU number is {MAX_CPU}")]
    TooHigh(usize),
    /// A CPU this process may not run on (offline, or outside its cgroup
    /// or the mask it was started with).
    #[error("CPU {cpu} is not one this process may run on (it may use {allowed})")]
    NotAllowed {
        /// The CPU asked for.
        cpu: usize,
        /// The CPUs the process may use.
        allowed: CpuList,
    },
    /// The system call failed.
    #[error("setting the CPU affinity failed: {0}")]
    Os(String),
    /// Not Linux.
    #[error("CPU affinity is only supported on Linux")]
    Unsupported,
}

impl FromStr for CpuList {
    type Err = AffinityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || AffinityError::Syntax(text.to_string());
        let number = |s: &str| s.trim().parse::<usize>().map_err(|_| syntax());
        let mut cpus = Vec::new();
        for part in text.split(',') {
            let (first, last) = match part.split_once('-') {
                Some((first, last)) => (number(first)?, number(last)?),
                None => (number(part)?, number(part)?),
            };
            if last < first {
                return Err(AffinityError::Reversed(part.trim().to_string()));
            }
            if last > MAX_CPU {
                return Err(AffinityError::TooHigh(last));
            }
            cpus.extend(first..=last);
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(Self(cpus))
    }
}

impl fmt::Display for CpuList {
    /// Compact form: runs of consecutive CPUs as ranges (`0-3,6`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut runs = Vec::<(usize, usize)>::new();
        for &cpu in &self.0 {
            match runs.last_mut() {
                Some((_, last)) if *last + 1 == cpu => *last = cpu,
                _ => runs.push((cpu, cpu)),
            }
        }
        let parts: Vec<String> = runs
            .iter()
            .map(|&(first, last)| if first == last { first.to_string() } else { format!("{first}-{last}") })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// The CPUs the process could use before anything was pinned: what slot
/// threads go back to.
static UNPINNED: OnceLock<CpuList> = OnceLock::new();

/// Restricts the calling thread, and every thread it starts from now on
/// (a runtime built next inherits it), to `cpus`. Every CPU must be one the
/// process may use.
pub fn pin_current_thread(cpus: &CpuList) -> Result<(), AffinityError> {
    let allowed = match UNPINNED.get() {
        Some(allowed) => allowed.clone(),
        None => {
            let current = os::current()?;
            UNPINNED.get_or_init(|| current).clone()
        }
    };
    if let Some(&cpu) = cpus.cpus().iter().find(|cpu| !allowed.cpus().contains(cpu)) {
        return Err(AffinityError::NotAllowed { cpu, allowed });
    }
    os::set(cpus)
}

/// Gives the calling thread back every CPU the process could use before
/// [`pin_current_thread`]; does nothing if nothing was pinned. Task slots
/// call it, so that work (and the programs `exec` tasks start) is not held
/// to the runtime's core.
pub fn unpin_current_thread() {
    if let Some(allowed) = UNPINNED.get() {
        if let Err(error) = os::set(allowed) {
            tracing::warn!(%error, "could not give a task slot every CPU back");
        }
    }
}

/// The CPUs the calling thread may run on now.
pub fn current_cpus() -> Result<CpuList, AffinityError> {
    os::current()
}

#[cfg(target_os = "linux")]
mod os {
    use super::{AffinityError, CpuList, MAX_CPU};

    pub(super) fn set(cpus: &CpuList) -> Result<(), AffinityError> {
        // SAFETY: `set` is a plain bit set, zeroed, then given bits below
        // CPU_SETSIZE (parsing caps them at MAX_CPU); sched_setaffinity
        // only reads it.
        let status = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &cpu in cpus.cpus() {
                libc::CPU_SET(cpu, &mut set);
            }
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
        };
        if status == 0 {
            Ok(())
        } else {
            Err(AffinityError::Os(std::io::Error::last_os_error().to_string()))
        }
    }

    pub(super) fn current() -> Result<CpuList, AffinityError> {
        // SAFETY: sched_getaffinity writes at most size_of::<cpu_set_t>()
        // bytes into `set`; CPU_ISSET reads bits below CPU_SETSIZE.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return Err(AffinityError::Os(std::io::Error::last_os_error().to_string()));
            }
            Ok(CpuList((0..=MAX_CPU).filter(|&cpu| libc::CPU_ISSET(cpu, &set)).collect()))
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    use super::{AffinityError, CpuList};

    pub(super) fn set(_: &CpuList) -> Result<(), AffinityError> {
        Err(AffinityError::Unsupported)
    }

    pub(super) fn current() -> Result<CpuList, AffinityError> {
        Err(AffinityError::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> Result<CpuList, AffinityError> {
        text.parse()
    }

    #[test]
    fn lists_parse_as_taskset_writes_them() {
        assert_eq!(list("0").unwrap().cpus(), [0]);
        assert_eq!(list("0-3").unwrap().cpus(), [0, 1, 2, 3]);
        assert_eq!(list("4-5, 0,2").unwrap().cpus(), [0, 2, 4, 5]);
        assert_eq!(list("1,1,0-1").unwrap().cpus(), [0, 1]);
        assert_eq!(list("0-3,6,8-9").unwrap().to_string(), "0-3,6,8-9");
        assert_eq!(CpuList::one(3), Some(list("3").unwrap()));
        assert_eq!(CpuList::one(MAX_CPU + 1), None);
    }

    #[test]
    fn bad_lists_say_what_is_wrong() {
        assert_eq!(list(""), Err(AffinityError::Syntax(String::new())));
        assert_eq!(list("a"), Err(AffinityError::Syntax("a".into())));
        assert_eq!(list("0,"), Err(AffinityError::Syntax("0,".into())));
        assert_eq!(list("1-x"), Err(AffinityError::Syntax("1-x".into())));
        assert_eq!(list("3-1"), Err(AffinityError::Reversed("3-1".into())));
        assert_eq!(list("0-5000"), Err(AffinityError::TooHigh(5000)));
        assert!(list("3-1").unwrap_err().to_string().contains("end is below its start"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pinned_thread_starts_pinned_threads_and_unpin_gives_every_cpu_back() {
        let all = current_cpus().unwrap();
        let first = CpuList::one(all.cpus()[0]).unwrap();
        let outside = MAX_CPU;
        // On a thread of its own: the test harness's threads stay as they were.
        std::thread::spawn(move || {
            let refused = pin_current_thread(&CpuList(vec![outside])).unwrap_err();
            assert_eq!(refused, AffinityError::NotAllowed { cpu: outside, allowed: all.clone() });
            pin_current_thread(&first).unwrap();
            assert_eq!(current_cpus().unwrap(), first);
            let child = std::thread::spawn(current_cpus).join().unwrap().unwrap();
            assert_eq!(child, first, "a thread started by a pinned thread inherits its CPUs");
            let unpinned = std::thread::spawn(|| {
                unpin_current_thread();
                current_cpus()
            });
            assert_eq!(unpinned.join().unwrap().unwrap(), all);
        })
        .join()
        .unwrap();
    }
}
