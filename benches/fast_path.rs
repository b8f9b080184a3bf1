//! Micro-benchmarks of what mod_dirguard does on every request, so a regression shows without a
//! full server run: `make microbench` (cargo bench --no-default-features: the Apache-free core).
//! - fixups with DirGuardOnFailure 503: the health of 10 in-scope directories, one atomic load each;
//! - log_transaction: is the final status in the DirGuardExplain set;
//! - the failure path: a fresh diagnosis of a failing request (10 in-scope directories).

use criterion::{criterion_group, criterion_main, Criterion};
use mod_dirguard::core::explain::{diagnose, ExplainSet};
use mod_dirguard::core::identity::Identity;
use mod_dirguard::core::settings::Interval;
use mod_dirguard::core::shared::{Health, SharedState};
use mod_dirguard::core::spec::{Access, Origin, RequiredDir};
use std::hint::black_box;

fn fast_path(c: &mut Criterion) {
    let mut mem = vec![0u64; SharedState::size_for(10) / 8 + 1];
    // SAFETY: the Vec is large enough, 8-byte aligned and outlives the view.
    let shared = unsafe { SharedState::init(mem.as_mut_ptr().cast(), 10, Interval::from_secs(5)) };
    let slots: Vec<usize> = (0..10).collect();
    c.bench_function("fixups: health of 10 in-scope directories", |b| {
        b.iter(|| {
            black_box(&slots)
                .iter()
                .any(|&i| shared.health(i) == Health::Failing)
        })
    });
    let explain = ExplainSet::default();
    c.bench_function("log_transaction: status in the explain set", |b| {
        b.iter(|| explain.contains(black_box(200)))
    });
    let base = std::env::temp_dir().join(format!("dirguard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&base).unwrap();
    let dirs: Vec<RequiredDir> = (0..10)
        .map(|i| {
            let d = base.join(format!("d{i}"));
            std::fs::create_dir_all(&d).unwrap();
            RequiredDir::new(d, Access::ReadWrite, Origin::default())
        })
        .collect();
    let refs: Vec<&RequiredDir> = dirs.iter().collect();
    let id = Identity::current_process();
    let file = base.join("missing/script.cgi");
    c.bench_function("failure path: diagnose with 10 in-scope directories", |b| {
        b.iter(|| diagnose(black_box(&refs), Some(&file), 500, &id))
    });
    let _ = std::fs::remove_dir_all(&base);
}

criterion_group!(benches, fast_path);
criterion_main!(benches);
