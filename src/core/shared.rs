//! The one shared truth about every required directory: a fixed layout in memory shared by the
//! parent and all children (the glue maps it before the children fork). One writer at a time
//! (the auditor); readers never block: a sequence counter, odd while a write is in progress, lets
//! them detect a torn read and retry. Every field is an atomic, so concurrent access is defined
//! behaviour, and a request's health check is one atomic load.

use super::fault::CauseLabel;
use super::settings::Interval;
use std::sync::atomic::{fence, AtomicU64, Ordering};

const MAGIC: u64 = 0x4447_5348_4d30_3033; // "DGSHM003"
/// Bytes of fault text kept per directory (what is wrong, then the fix).
pub const TEXT_BYTES: usize = 1024;
const TEXT_WORDS: usize = TEXT_BYTES / 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Health {
    /// Not audited yet in this generation.
    Unknown = 0,
    Healthy = 1,
    Failing = 2,
}

impl Health {
    pub fn from_u8(v: u8) -> Health {
        match v {
            1 => Health::Healthy,
            2 => Health::Failing,
            _ => Health::Unknown,
        }
    }

    pub fn keyword(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Healthy => "healthy",
            Health::Failing => "failing",
        }
    }
}

#[repr(C)]
struct Header {
    magic: AtomicU64,
    seq: AtomicU64,
    count: AtomicU64,
    interval_s: AtomicU64,
    audits_total: AtomicU64,
    repairs_total: AtomicU64,
    last_audit_unix_us: AtomicU64,
    last_audit_duration_us: AtomicU64,
    /// The audit lease (unix ms): no child may start an audit before this time. A child that
    /// starts one moves it far ahead (`try_lease_audit`), and moves it to the next due time
    /// when done (`release_audit`).
    audit_lease_ms: AtomicU64,
    /// The process that ran the last audit (0: none yet). It keeps the turn while it lives, so
    /// one child's caches stay warm, as with a singleton.
    auditor_pid: AtomicU64,
    /// The fencing token of the current lease: bumped at every lease taken. A writer publishes
    /// only while its token is still the current one, so an auditor whose lease ran out while
    /// it was still auditing (a stalled filesystem call) can never write after its successor.
    lease_token: AtomicU64,
    /// How many directories are failing as last published: a request that could be answered
    /// 503 or be explained by a requirement outside its own walk (a script passed to a FastCGI
    /// server) reads this one counter first, and looks further only when it is not zero.
    failing: AtomicU64,
}

#[repr(C)]
struct Slot {
    /// health (bits 0-7), fault-kind mask (bits 8-23), fault count (bits 24-39)
    state: AtomicU64,
    since_unix_s: AtomicU64,
    free_bytes: AtomicU64,
    free_inodes: AtomicU64,
    /// what-length (bits 0-15), fix-length (bits 16-31)
    text_len: AtomicU64,
    text: [AtomicU64; TEXT_WORDS],
}

/// Explained responses are counted per final status (100..=599) and cause label
/// (`CauseLabel::index`); room for 16 labels keeps the layout when kinds are added.
const STATUSES: usize = 500;
pub const CAUSES: usize = 16;
const _: () = assert!(CauseLabel::COUNT <= CAUSES);
/// Storm-control slots: causes seen recently, with when their last full line was written.
const STORM_SLOTS: usize = 64;
const STORM_PROBES: usize = 8;
/// A slot whose cause has had no full line for this long may be taken by another cause.
const STORM_STALE_S: u64 = 60;

#[repr(C)]
struct StormSlot {
    key: AtomicU64,
    last_full_s: AtomicU64,
    repeats: AtomicU64,
}

/// What storm control allows for one more explanation of a cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storm {
    /// Write the full explanation; `repeats` responses had this cause since the previous one.
    Full { repeats: u64 },
    /// The `n`th repeat since the last full line; write a short line only when `log`.
    Repeat { n: u64, log: bool },
}

/// What the auditor publishes for one directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirRecord {
    pub health: Health,
    /// The kinds of its faults (`FaultKind::bit`).
    pub kinds: u16,
    pub fault_count: u16,
    pub since_unix_s: u64,
    pub free_bytes: Option<u64>,
    pub free_inodes: Option<u64>,
    /// The first fault: what is wrong, and its fix (truncated to fit).
    pub what: String,
    pub fix: String,
}

impl Default for DirRecord {
    fn default() -> DirRecord {
        DirRecord {
            health: Health::Unknown,
            kinds: 0,
            fault_count: 0,
            since_unix_s: 0,
            free_bytes: None,
            free_inodes: None,
            what: String::new(),
            fix: String::new(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// `DirGuardInterval` (shown by the status page).
    pub interval: Interval,
    pub audits_total: u64,
    pub repairs_total: u64,
    pub last_audit_unix_us: u64,
    pub last_audit_duration_us: u64,
}

/// A view of the shared region. Cheap to copy; valid while the memory is mapped.
#[derive(Clone, Copy, Debug)]
pub struct SharedState {
    base: *mut u8,
    count: usize,
}

// SAFETY: the region is only accessed through atomics; the pointer stays valid for the config
// generation that owns the mapping (the glue guarantees that: S2), so the view may move between
// threads and be shared. (S3, the one writer, keeps the contents coherent; soundness needs only
// the atomics.)
unsafe impl Send for SharedState {}
// SAFETY: as above.
unsafe impl Sync for SharedState {}

const NONE: u64 = u64::MAX;

fn truncate_to(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl SharedState {
    /// Bytes needed for `count` directories.
    pub fn size_for(count: usize) -> usize {
        Self::storm_offset(count) + STORM_SLOTS * std::mem::size_of::<StormSlot>()
    }

    fn explained_offset(count: usize) -> usize {
        std::mem::size_of::<Header>() + count * std::mem::size_of::<Slot>()
    }

    fn storm_offset(count: usize) -> usize {
        Self::explained_offset(count) + STATUSES * CAUSES * 8
    }

    fn explained_counter(&self, status: usize, cause: usize) -> &AtomicU64 {
        assert!(status < STATUSES && cause < CAUSES);
        // SAFETY: within the region sized by size_for; init zeroed it (valid atomics).
        unsafe {
            &*(self
                .base
                .add(Self::explained_offset(self.count) + (status * CAUSES + cause) * 8)
                as *const AtomicU64)
        }
    }

    fn storm_slot(&self, i: usize) -> &StormSlot {
        assert!(i < STORM_SLOTS);
        // SAFETY: as above.
        unsafe {
            &*(self
                .base
                .add(Self::storm_offset(self.count) + i * std::mem::size_of::<StormSlot>())
                as *const StormSlot)
        }
    }

    /// Counts one explained response (any child may call this concurrently).
    pub fn count_explained(&self, status: i32, cause: CauseLabel) {
        if (100..600).contains(&status) {
            self.explained_counter(status as usize - 100, cause.index())
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (status, cause label, count) for every non-zero counter.
    pub fn explained(&self) -> Vec<(u16, CauseLabel, u64)> {
        let mut out = Vec::new();
        for status in 0..STATUSES {
            for (i, cause) in (0..CAUSES).filter_map(|i| Some((i, CauseLabel::from_index(i)?))) {
                let n = self.explained_counter(status, i).load(Ordering::Relaxed);
                if n > 0 {
                    out.push(((status + 100) as u16, cause, n));
                }
            }
        }
        out
    }

    /// Storm control: at most one full explanation per cause per second across all processes;
    /// repeats are counted, and a short line is allowed at the 1st, 10th, 100th, … repeat.
    pub fn storm(&self, key: u64, now_s: u64) -> Storm {
        let key = key.max(1);
        let mut chosen = None;
        for probe in 0..STORM_PROBES {
            let i = (key as usize).wrapping_add(probe) % STORM_SLOTS;
            let slot = self.storm_slot(i);
            let current = slot.key.load(Ordering::Acquire);
            if current == key {
                chosen = Some(slot);
                break;
            }
            let stale = slot
                .last_full_s
                .load(Ordering::Relaxed)
                .saturating_add(STORM_STALE_S)
                < now_s;
            if (current == 0 || stale)
                && slot
                    .key
                    .compare_exchange(current, key, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                slot.last_full_s.store(0, Ordering::Relaxed);
                slot.repeats.store(0, Ordering::Relaxed);
                chosen = Some(slot);
                break;
            }
        }
        // Table full of live causes: share a slot (limits then apply to both causes together).
        let slot = chosen.unwrap_or_else(|| self.storm_slot(key as usize % STORM_SLOTS));
        let last = slot.last_full_s.load(Ordering::Acquire);
        if last != now_s
            && slot
                .last_full_s
                .compare_exchange(last, now_s, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return Storm::Full {
                repeats: slot.repeats.swap(0, Ordering::AcqRel),
            };
        }
        let n = slot.repeats.fetch_add(1, Ordering::AcqRel) + 1;
        let mut power = 1;
        while power < n {
            power *= 10;
        }
        Storm::Repeat { n, log: power == n }
    }

    /// Takes the audit lease for process `me` when the next audit is due (`now_ms` at or past the
    /// lease), holding it until `now_ms + hold_ms`; false when it is not due or another process
    /// took it first. The process that ran the last audit keeps the turn: the others wait
    /// `grace_ms` past the due time before they step in (it has exited, or is stopping).
    /// Every child's watchdog asks; exactly one audits per due time, and if that child dies
    /// mid-audit the lease runs out and another takes over.
    /// Returns the lease's fencing token (for `publish_fenced`).
    pub fn try_lease_audit(
        &self,
        now_ms: u64,
        hold_ms: u64,
        me: u64,
        grace_ms: u64,
    ) -> Option<u64> {
        let h = self.header();
        let current = h.audit_lease_ms.load(Ordering::Acquire);
        let last = h.auditor_pid.load(Ordering::Acquire);
        let my_turn = last == 0 || last == me || now_ms >= current.saturating_add(grace_ms);
        let taken = now_ms >= current
            && my_turn
            && h.audit_lease_ms
                .compare_exchange(
                    current,
                    now_ms.saturating_add(hold_ms),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok();
        if !taken {
            return None;
        }
        h.auditor_pid.store(me, Ordering::Release);
        Some(h.lease_token.fetch_add(1, Ordering::AcqRel) + 1)
    }

    /// Ends the lease: the next audit is due at `next_due_ms`.
    pub fn release_audit(&self, next_due_ms: u64) {
        self.header()
            .audit_lease_ms
            .store(next_due_ms, Ordering::Release);
    }

    /// Ends the lease `token` holds: the next audit is due at `next_due_ms`. A holder whose lease
    /// was taken over meanwhile (its audit outlasted the hold) changes nothing: the successor's
    /// lease stands.
    pub fn release_audit_fenced(&self, token: u64, next_due_ms: u64) -> bool {
        let h = self.header();
        loop {
            let current = h.audit_lease_ms.load(Ordering::Acquire);
            if h.lease_token.load(Ordering::Acquire) != token {
                return false;
            }
            if h.audit_lease_ms
                .compare_exchange(current, next_due_ms, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return true;
            }
        }
    }

    /// The number of audits published so far (a child compares it with its own count to learn
    /// whether another child has audited since).
    pub fn audits_total(&self) -> u64 {
        self.header().audits_total.load(Ordering::Acquire)
    }

    /// Lays out a fresh region: every directory Unknown, counters zero.
    ///
    /// # Safety
    /// `base` must be valid for `SharedState::size_for(count)` bytes, 8-byte aligned, zeroed or
    /// otherwise not in use by anyone else, and stay mapped as long as any copy of the view (in
    /// the module: S2).
    pub unsafe fn init(base: *mut u8, count: usize, interval: Interval) -> SharedState {
        // SAFETY: guaranteed by the caller; all-zero bytes are valid atomics.
        unsafe { std::ptr::write_bytes(base, 0, SharedState::size_for(count)) };
        let state = SharedState { base, count };
        let h = state.header();
        h.count.store(count as u64, Ordering::Relaxed);
        h.interval_s
            .store(u64::from(interval.secs()), Ordering::Relaxed);
        for i in 0..count {
            let slot = state.slot(i);
            slot.free_bytes.store(NONE, Ordering::Relaxed);
            slot.free_inodes.store(NONE, Ordering::Relaxed);
        }
        h.magic.store(MAGIC, Ordering::Release);
        state
    }

    fn header(&self) -> &Header {
        // SAFETY: init laid out a Header at base; the region outlives self (init's contract,
        // which the glue keeps by S2).
        unsafe { &*(self.base as *const Header) }
    }

    fn slot(&self, i: usize) -> &Slot {
        assert!(i < self.count, "slot {i} out of {}", self.count);
        // SAFETY: slot i lies within the region init sized for `count` slots.
        unsafe {
            &*(self
                .base
                .add(std::mem::size_of::<Header>() + i * std::mem::size_of::<Slot>())
                as *const Slot)
        }
    }

    /// Whether any directory is failing: one atomic load, for the per-request path.
    pub fn any_failing(&self) -> bool {
        self.header().failing.load(Ordering::Acquire) != 0
    }

    /// The health of directory `i`: one atomic load, for the per-request path.
    pub fn health(&self, i: usize) -> Health {
        if i >= self.count {
            return Health::Unknown;
        }
        Health::from_u8(self.slot(i).state.load(Ordering::Acquire) as u8)
    }

    /// Publishes records (by index) and totals as one consistent update, unconditionally: for
    /// the parent seeding a fresh region before any child exists.
    pub fn publish(&self, records: &[(usize, DirRecord)], totals: &Totals) {
        self.publish_as(None, records, totals);
    }

    /// Publishes as the holder of the lease `token`; false (nothing written) when that lease
    /// is no longer the current one.
    pub fn publish_fenced(
        &self,
        token: u64,
        records: &[(usize, DirRecord)],
        totals: &Totals,
    ) -> bool {
        self.publish_as(Some(token), records, totals)
    }

    /// Writers exclude each other by taking the sequence from even to odd with a
    /// compare-and-swap (readers only ever load it), then check the fencing token while they
    /// hold it; the write ends by moving it on to the next even value.
    fn publish_as(
        &self,
        token: Option<u64>,
        records: &[(usize, DirRecord)],
        totals: &Totals,
    ) -> bool {
        let h = self.header();
        let start = std::time::Instant::now();
        let seq = loop {
            let seq = h.seq.load(Ordering::Acquire);
            if seq % 2 == 1 {
                // Another writer is copying (a few microseconds); never two at once. One that
                // stays odd for a second died mid-copy: give up this round rather than spin.
                if start.elapsed() > std::time::Duration::from_secs(1) {
                    return false;
                }
                std::thread::yield_now();
                continue;
            }
            if h.seq
                .compare_exchange_weak(
                    seq,
                    seq.wrapping_add(1),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                break seq;
            }
        };
        if token.is_some_and(|t| h.lease_token.load(Ordering::Acquire) != t) {
            // A stale writer: its lease was taken over. Nothing was written.
            h.seq.store(seq.wrapping_add(2), Ordering::Release);
            return false;
        }
        fence(Ordering::Release);
        for (i, r) in records {
            self.write_slot(*i, r);
        }
        h.interval_s
            .store(u64::from(totals.interval.secs()), Ordering::Relaxed);
        h.audits_total.store(totals.audits_total, Ordering::Relaxed);
        h.repairs_total
            .store(totals.repairs_total, Ordering::Relaxed);
        h.last_audit_unix_us
            .store(totals.last_audit_unix_us, Ordering::Relaxed);
        h.last_audit_duration_us
            .store(totals.last_audit_duration_us, Ordering::Relaxed);
        let failing = (0..self.count)
            .filter(|i| self.health(*i) == Health::Failing)
            .count();
        h.failing.store(failing as u64, Ordering::Release);
        h.seq.store(seq.wrapping_add(2), Ordering::Release);
        true
    }

    fn write_slot(&self, i: usize, r: &DirRecord) {
        let slot = self.slot(i);
        let what = truncate_to(&r.what, TEXT_BYTES);
        let fix = truncate_to(&r.fix, TEXT_BYTES - what.len());
        let mut bytes = [0u8; TEXT_BYTES];
        bytes[..what.len()].copy_from_slice(what.as_bytes());
        bytes[what.len()..what.len() + fix.len()].copy_from_slice(fix.as_bytes());
        for (w, chunk) in slot.text.iter().zip(bytes.chunks_exact(8)) {
            w.store(
                u64::from_le_bytes(chunk.try_into().unwrap_or_default()),
                Ordering::Relaxed,
            );
        }
        slot.text_len.store(
            what.len() as u64 | (fix.len() as u64) << 16,
            Ordering::Relaxed,
        );
        slot.since_unix_s.store(r.since_unix_s, Ordering::Relaxed);
        slot.free_bytes
            .store(r.free_bytes.unwrap_or(NONE), Ordering::Relaxed);
        slot.free_inodes
            .store(r.free_inodes.unwrap_or(NONE), Ordering::Relaxed);
        let state = r.health as u64 | (r.kinds as u64) << 8 | (r.fault_count as u64) << 24;
        slot.state.store(state, Ordering::Release);
    }

    fn read_slot(&self, i: usize) -> DirRecord {
        let slot = self.slot(i);
        let state = slot.state.load(Ordering::Relaxed);
        let lens = slot.text_len.load(Ordering::Relaxed);
        let (what_len, fix_len) = ((lens & 0xffff) as usize, ((lens >> 16) & 0xffff) as usize);
        let mut bytes = [0u8; TEXT_BYTES];
        for (w, chunk) in slot.text.iter().zip(bytes.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        let what_len = what_len.min(TEXT_BYTES);
        let fix_end = (what_len + fix_len).min(TEXT_BYTES);
        let opt = |v: u64| (v != NONE).then_some(v);
        DirRecord {
            health: Health::from_u8(state as u8),
            kinds: (state >> 8) as u16,
            fault_count: (state >> 24) as u16,
            since_unix_s: slot.since_unix_s.load(Ordering::Relaxed),
            free_bytes: opt(slot.free_bytes.load(Ordering::Relaxed)),
            free_inodes: opt(slot.free_inodes.load(Ordering::Relaxed)),
            what: String::from_utf8_lossy(&bytes[..what_len]).into_owned(),
            fix: String::from_utf8_lossy(&bytes[what_len..fix_end]).into_owned(),
        }
    }

    /// A consistent copy of one directory's record (for a request that needs its fault text).
    pub fn record(&self, i: usize) -> Option<DirRecord> {
        if i >= self.count {
            return None;
        }
        let h = self.header();
        for _ in 0..1000 {
            let before = h.seq.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let record = self.read_slot(i);
            fence(Ordering::Acquire);
            if h.seq.load(Ordering::Relaxed) == before {
                return Some(record);
            }
        }
        None
    }

    /// A consistent copy of everything, or None if the writer kept it busy for every attempt
    /// (a reader never waits on the writer).
    pub fn snapshot(&self) -> Option<(Totals, Vec<DirRecord>)> {
        let h = self.header();
        if h.magic.load(Ordering::Acquire) != MAGIC {
            return None;
        }
        for _ in 0..1000 {
            let before = h.seq.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let totals = Totals {
                interval: Interval::from_secs(
                    u32::try_from(h.interval_s.load(Ordering::Relaxed)).unwrap_or(u32::MAX),
                ),
                audits_total: h.audits_total.load(Ordering::Relaxed),
                repairs_total: h.repairs_total.load(Ordering::Relaxed),
                last_audit_unix_us: h.last_audit_unix_us.load(Ordering::Relaxed),
                last_audit_duration_us: h.last_audit_duration_us.load(Ordering::Relaxed),
            };
            let records: Vec<DirRecord> = (0..self.count).map(|i| self.read_slot(i)).collect();
            fence(Ordering::Acquire);
            if h.seq.load(Ordering::Relaxed) == before {
                return Some((totals, records));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fault::FaultKind;
    use std::sync::Arc;

    fn region(count: usize) -> Vec<u64> {
        vec![0u64; SharedState::size_for(count) / 8 + 1]
    }

    fn failing(text: &str) -> DirRecord {
        DirRecord {
            health: Health::Failing,
            kinds: 1,
            fault_count: 1,
            since_unix_s: 42,
            free_bytes: Some(7),
            free_inodes: None,
            what: text.into(),
            fix: "install -d '/x'".into(),
        }
    }

    #[test]
    fn a_fresh_region_is_all_unknown() {
        let mut mem = region(3);
        // SAFETY: the Vec is large enough, aligned to 8 and outlives the view.
        let s = unsafe { SharedState::init(mem.as_mut_ptr().cast(), 3, Interval::from_secs(5)) };
        let (totals, records) = s.snapshot().unwrap();
        assert_eq!(totals.interval, Interval::from_secs(5));
        assert!(records.iter().all(|r| *r == DirRecord::default()));
        assert_eq!(s.health(2), Health::Unknown);
        assert_eq!(s.health(99), Health::Unknown);
    }

    #[test]
    fn published_records_read_back_exactly() {
        let mut mem = region(2);
        // SAFETY: as above.
        let s = unsafe { SharedState::init(mem.as_mut_ptr().cast(), 2, Interval::from_secs(5)) };
        let totals = Totals {
            interval: Interval::from_secs(5),
            audits_total: 3,
            repairs_total: 1,
            last_audit_unix_us: 9,
            last_audit_duration_us: 11,
        };
        assert!(!s.any_failing());
        s.publish(&[(1, failing("is missing"))], &totals);
        assert!(s.any_failing());
        assert_eq!(s.record(1), Some(failing("is missing")));
        assert_eq!(s.record(2), None);
        let (t, records) = s.snapshot().unwrap();
        assert_eq!(t, totals);
        assert_eq!(records[1], failing("is missing"));
        assert_eq!(s.health(1), Health::Failing);
        assert_eq!(s.health(0), Health::Unknown);
    }

    #[test]
    fn long_text_is_truncated_on_a_character_boundary() {
        let mut mem = region(1);
        // SAFETY: as above.
        let s = unsafe { SharedState::init(mem.as_mut_ptr().cast(), 1, Interval::from_secs(5)) };
        let long = "é".repeat(TEXT_BYTES);
        s.publish(&[(0, failing(&long))], &Totals::default());
        let (_, records) = s.snapshot().unwrap();
        assert_eq!(records[0].what.len(), TEXT_BYTES);
        assert!(records[0].what.chars().all(|c| c == 'é'));
        assert_eq!(records[0].fix, "");
    }

    #[test]
    fn storm_control_allows_one_full_line_per_cause_per_second() {
        let mut mem = region(1);
        // SAFETY: as above.
        let s = unsafe { SharedState::init(mem.as_mut_ptr().cast(), 1, Interval::from_secs(5)) };
        assert_eq!(s.storm(42, 100), Storm::Full { repeats: 0 });
        let mut logged = 0;
        for n in 1..=3000 {
            match s.storm(42, 100) {
                Storm::Repeat { n: got, log } => {
                    assert_eq!(got, n);
                    logged += usize::from(log);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(logged, 4, "short lines at repeats 1, 10, 100 and 1000");
        // Another cause is not limited by the first.
        assert_eq!(s.storm(43, 100), Storm::Full { repeats: 0 });
        // The next second: a full line again, carrying the count.
        assert_eq!(s.storm(42, 101), Storm::Full { repeats: 3000 });
    }

    #[test]
    fn explained_responses_are_counted_exactly() {
        let mut mem = region(1);
        // SAFETY: as above.
        let s = unsafe { SharedState::init(mem.as_mut_ptr().cast(), 1, Interval::from_secs(5)) };
        let missing = CauseLabel::Kind(FaultKind::Missing);
        let not_answering = CauseLabel::Kind(FaultKind::NotAnswering);
        for _ in 0..7 {
            s.count_explained(500, missing);
        }
        s.count_explained(503, not_answering);
        s.count_explained(503, CauseLabel::Nothing);
        s.count_explained(99, missing);
        s.count_explained(600, missing);
        assert_eq!(
            s.explained(),
            vec![
                (500, missing, 7),
                (503, not_answering, 1),
                (503, CauseLabel::Nothing, 1)
            ]
        );
    }

    #[test]
    fn the_audit_lease_admits_one_auditor_per_due_time() {
        let mut mem = region(1);
        // SAFETY: the Vec is large enough and outlives the view.
        let s = unsafe { SharedState::init(mem.as_mut_ptr().cast(), 1, Interval::from_secs(1)) };
        let (hold, grace) = (60_000, 500);
        s.release_audit(1_000);
        assert!(
            s.try_lease_audit(999, hold, 7, grace).is_none(),
            "not due yet"
        );
        assert!(
            s.try_lease_audit(1_000, hold, 7, grace).is_some(),
            "due, and nobody audited yet"
        );
        assert!(
            s.try_lease_audit(1_001, hold, 8, grace).is_none(),
            "held by the first"
        );
        // The last auditor keeps its turn; another child steps in only after the grace.
        s.release_audit(2_000);
        assert!(
            s.try_lease_audit(2_000, hold, 8, grace).is_none(),
            "7's turn"
        );
        assert!(
            s.try_lease_audit(2_000, hold, 7, grace).is_some(),
            "7 keeps the turn"
        );
        s.release_audit(3_000);
        assert!(
            s.try_lease_audit(3_499, hold, 8, grace).is_none(),
            "7 may still come"
        );
        assert!(
            s.try_lease_audit(3_500, hold, 8, grace).is_some(),
            "7 is gone: 8 steps in"
        );
        assert!(
            s.try_lease_audit(3_500 + hold + grace, hold, 9, grace)
                .is_some(),
            "a holder that died mid-audit lets go after the hold"
        );
        // Many children at once past the grace: exactly one wins.
        s.release_audit(200_000);
        let winners: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (10..18)
                .map(|me| {
                    scope.spawn(move || {
                        usize::from(s.try_lease_audit(201_000, hold, me, grace).is_some())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(winners, 1);
    }

    /// An auditor whose lease ran out mid-audit (a stalled filesystem call outlasting the
    /// hold) must not write after its successor: one writer at a time, and the sequence is
    /// never left odd.
    #[test]
    fn a_writer_stalled_past_its_lease_cannot_publish_after_its_successor() {
        let mut mem = region(1);
        // SAFETY: the Vec is large enough and outlives the view.
        let s = unsafe { SharedState::init(mem.as_mut_ptr().cast(), 1, Interval::from_secs(1)) };
        let (hold, grace) = (1_000, 0);
        s.release_audit(0);
        let stale = s
            .try_lease_audit(10, hold, 7, grace)
            .expect("7 takes the lease");
        // 7 stalls in a filesystem call on another thread...
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let writer = std::thread::scope(|scope| {
            let w = scope.spawn(move || {
                wait.recv().unwrap();
                s.publish_fenced(stale, &[(0, failing("stale view"))], &Totals::default())
            });
            // ...its lease runs out, 8 takes over and publishes.
            let fresh = s
                .try_lease_audit(10 + hold, hold, 8, grace)
                .expect("8 takes the expired lease");
            assert!(s.publish_fenced(fresh, &[(0, failing("fresh view"))], &Totals::default()));
            // 7 wakes up and tries to publish what it saw before.
            go.send(()).unwrap();
            w.join().unwrap()
        });
        assert!(!writer, "the stale writer is refused");
        let (_, records) = s.snapshot().expect("the sequence is even: readable");
        assert_eq!(records[0].what, "fresh view");
        assert_eq!(s.record(0).unwrap().what, "fresh view");
    }

    #[test]
    fn a_holder_whose_lease_was_taken_over_does_not_move_it() {
        let mut mem = region(1);
        // SAFETY: the Vec is large enough and outlives the view.
        let s = unsafe { SharedState::init(mem.as_mut_ptr().cast(), 1, Interval::from_secs(1)) };
        s.release_audit(0);
        let old = s.try_lease_audit(10, 100, 7, 0).unwrap();
        let new = s.try_lease_audit(200, 100_000, 8, 0).unwrap();
        assert!(
            !s.release_audit_fenced(old, 300),
            "the stale holder changes nothing"
        );
        assert!(
            s.try_lease_audit(400, 100, 9, 0).is_none(),
            "8 still holds it"
        );
        assert!(s.release_audit_fenced(new, 500));
        assert!(s.try_lease_audit(500, 100, 8, 0).is_some());
    }

    #[test]
    fn concurrent_writers_exclude_each_other() {
        let mut mem = region(2);
        // SAFETY: as above; the Vec lives until the scope's threads are joined.
        let s = unsafe { SharedState::init(mem.as_mut_ptr().cast(), 2, Interval::from_secs(1)) };
        std::thread::scope(|scope| {
            for w in 0..4u64 {
                scope.spawn(move || {
                    for n in 0..500u64 {
                        let rec = DirRecord {
                            since_unix_s: w * 1000 + n,
                            what: (w * 1000 + n).to_string(),
                            ..failing("")
                        };
                        s.publish(&[(0, rec.clone()), (1, rec)], &Totals::default());
                    }
                });
            }
            scope.spawn(move || {
                for _ in 0..2000 {
                    if let Some((_, r)) = s.snapshot() {
                        assert_eq!(r[0], r[1], "both slots from one writer");
                        if r[0].health == Health::Failing {
                            assert_eq!(r[0].what, r[0].since_unix_s.to_string());
                        }
                    }
                }
            });
        });
        assert!(s.snapshot().is_some());
    }

    #[test]
    fn readers_never_see_a_torn_update() {
        let mut mem = region(4);
        // SAFETY: as above; the Vec lives until both threads are joined.
        let s = unsafe { SharedState::init(mem.as_mut_ptr().cast(), 4, Interval::from_secs(1)) };
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let rec = DirRecord {
                        since_unix_s: n,
                        what: n.to_string(),
                        ..failing("")
                    };
                    let all: Vec<(usize, DirRecord)> = (0..4).map(|i| (i, rec.clone())).collect();
                    s.publish(
                        &all,
                        &Totals {
                            audits_total: n,
                            ..Totals::default()
                        },
                    );
                }
            })
        };
        let mut consistent = 0;
        for _ in 0..2000 {
            if let Some((t, records)) = s.snapshot() {
                for r in &records {
                    if r.health == Health::Failing {
                        assert_eq!(r.since_unix_s, t.audits_total);
                        assert_eq!(r.what, t.audits_total.to_string());
                    }
                }
                consistent += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        assert!(consistent > 0);
    }
}
