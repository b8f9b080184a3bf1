# mod_dirguard — build, test, demo and install. `make demo` and `make test` run `make deps`
# first, so on a fresh Debian machine those two commands are all the set-up.

SHELL        := /bin/bash
CARGO        ?= cargo
APXS         ?= apxs
MPMS         ?= event worker prefork
DESTDIR      ?=
MODULE       := target/release/libmod_dirguard.so
PANIC_MODULE := target/test-panic/release/libmod_dirguard.so
# What building and testing need from Debian: httpd and its headers, libclang for bindgen, acl
# for the ACL tests, curl for the demo, real parsers for the status formats (jsonschema,
# prometheus_client), promtool (package prometheus) for the alert rules, strace for the
# no-extra-syscall test and the benchmark, valgrind and wrk for the benchmark, bindfs (FUSE) for
# a filesystem that stops answering; a real PHP stack (Debian's WordPress, PHP-FPM, mod_php,
# MariaDB), each started privately by the tests; suEXEC's wrapper and mpm-itk for checks made
# as the application's own user. (libapache2-mod-php switches the machine's own Apache to
# prefork; the tests never use that instance, except tests/package.rs, which installs the .deb
# into it and leaves it as found.) `make deb`: dpkg-dev (dpkg-buildpackage), build-essential
# (which dpkg-buildpackage's build-dependency check requires), debhelper, and lintian to check
# the result; dh_apache2 (the virtual dh-apache2) comes with apache2-dev. The exports are proven
# with the real tools: systemd-tmpfiles (systemd, on every Debian), ansible-core and puppet.
DEB_PACKAGES := apache2 apache2-dev libclang-dev acl curl gdb python3 python3-jsonschema \
                python3-prometheus-client prometheus strace valgrind wrk bindfs fuse3 \
                wordpress wordpress-theme-twentytwentythree php-fpm php-cli libapache2-mod-php php-mysql \
                php-gd mariadb-server \
                apache2-suexec-pristine libapache2-mpm-itk \
                dpkg-dev build-essential debhelper lintian \
                ansible-core puppet

.PHONY: all module panic-module deps test unit integration lint demo install deb clean bench \
        microbench fuzz fuzz-tools memcheck

all: module

module:
	$(CARGO) build --release

# The same module with the test-only `test-panic` feature, in its own target dir.
panic-module:
	$(CARGO) build --release --features test-panic --target-dir target/test-panic

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "make deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "make deps: missing Debian packages; run as root:"; \
	  echo "  apt-get update && apt-get install -y$$missing"; exit 1; \
	fi

test: deps module panic-module unit integration

unit:
	$(CARGO) test --release --lib

# The whole integration suite under each MPM.
integration: module panic-module
	@for mpm in $(MPMS); do \
	  echo "== integration tests under the $$mpm MPM"; \
	  DIRGUARD_TEST_MPM=$$mpm $(CARGO) test --release --test '*' || exit 1; \
	done

lint:
	$(CARGO) fmt --check
	@# Every C entry point is declared with boundary::entry!, which runs it under the panic guard.
	@if grep -rn 'extern "C" fn' src --include='*.rs' | grep -v '^src/httpd/boundary.rs:'; then \
	  echo 'lint: declare C entry points with httpd::boundary::entry! (panic guard by construction)'; exit 1; fi
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) clippy --release --all-targets --features test-panic --target-dir target/test-panic -- -D warnings
	cd fuzz && $(CARGO) fmt --check && $(CARGO) clippy --release -- -D warnings

demo: deps module
	bash tests/demo.sh

install: module
	@libexecdir="$$($(APXS) -q LIBEXECDIR)"; \
	install -d "$(DESTDIR)$$libexecdir" "$(DESTDIR)/etc/apache2/mods-available"; \
	install -m 0644 $(MODULE) "$(DESTDIR)$$libexecdir/mod_dirguard.so"; \
	sed "s|@LIBEXECDIR@|$$libexecdir|" conf/dirguard.load > "$(DESTDIR)/etc/apache2/mods-available/dirguard.load"; \
	chmod 0644 "$(DESTDIR)/etc/apache2/mods-available/dirguard.load"; \
	install -m 0644 conf/dirguard.conf "$(DESTDIR)/etc/apache2/mods-available/dirguard.conf"; \
	echo "installed $(DESTDIR)$$libexecdir/mod_dirguard.so; enable it with: a2enmod dirguard"

# The Debian package (debian/: dh compat 13, dh_apache2) into target/deb/:
# libapache2-mod-dirguard_VERSION_ARCH.deb, VERSION being Cargo.toml's version and
# debian/changelog's revision (the two must agree), ARCH `dpkg --print-architecture`. Then
# lintian must report no error or warning (debian/libapache2-mod-dirguard.lintian-overrides
# justifies what it would say about a Rust cdylib). Install it with
# `apt-get install ./target/deb/libapache2-mod-dirguard_…_ARCH.deb` (tests/package.rs does).
# DEB_PREBUILT=1 packages the module target/release already holds instead of running cargo
# (tests/package.rs, right after `cargo test` built it): `cargo build` and `cargo test` unify
# the dev-dependencies' features differently, so each rebuilds the module after the other.
DEB_DIR := target/deb
deb: deps $(if $(DEB_PREBUILT),,module)
	@upstream="$$(sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n1)"; \
	version="$$(dpkg-parsechangelog -S Version)"; \
	if [ "$${version%-*}" != "$$upstream" ]; then \
	  echo "make deb: debian/changelog is at $$version, Cargo.toml at $$upstream: add a debian/changelog entry for $$upstream-1"; \
	  exit 1; \
	fi; \
	base="libapache2-mod-dirguard_$${version}_$$(dpkg --print-architecture)"; \
	mkdir -p $(DEB_DIR) && rm -f $(DEB_DIR)/libapache2-mod-dirguard*_$${version}_* && \
	DIRGUARD_DEB_DIR=$(DEB_DIR) DIRGUARD_DEB_PREBUILT=$(if $(DEB_PREBUILT),1) dpkg-buildpackage -b -us -uc -tc \
	  --buildinfo-file=$(DEB_DIR)/$$base.buildinfo --buildinfo-option=-u$(DEB_DIR) \
	  --changes-file=$(DEB_DIR)/$$base.changes --changes-option=-u$(DEB_DIR) && \
	lintian --fail-on error,warning $(DEB_DIR)/$$base.changes && \
	echo "make deb: built $(DEB_DIR)/$$base.deb"

clean:
	$(CARGO) clean

# Benchmarks: figures and ratios, never a pass/fail on speed (see docs/benchmarks.md).
bench: deps module
	bash tests/bench/run.sh
	bash tests/bench/wordpress_vhosts.sh
	$(CARGO) bench --no-default-features --bench fast_path --target-dir target/microbench -- --noplot

# valgrind memcheck over apache2 -X scenarios (event and prefork), plus a planted leak in the
# test-panic build that must be caught; prints target/memcheck/findings.txt (docs/reliability.md).
memcheck: deps module panic-module
	bash tests/memcheck/run.sh

# The per-request fast path alone (Apache-free core), quick to run after a change.
microbench:
	$(CARGO) bench --no-default-features --bench fast_path --target-dir target/microbench -- --noplot

# Fuzzing (docs/reliability.md): each target runs FUZZ_SECONDS with libFuzzer, starting from the
# committed seeds (fuzz/seeds/TARGET, read-only) and a working corpus kept in
# fuzz/corpus/TARGET. A crash stops the run and leaves its input in fuzz/artifacts/TARGET.
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 enables them on the stable toolchain, so no
# second toolchain is fetched. CI runs a short pass (FUZZ_SECONDS=20).
FUZZ_SECONDS ?= 120
FUZZ_TARGETS := directive_args fix_command log_text
CARGO_FUZZ_VERSION := 0.13.2

fuzz-tools:
	@$(CARGO) fuzz --version 2>/dev/null | grep -q ' $(CARGO_FUZZ_VERSION)$$' || \
	  $(CARGO) install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION)

fuzz: fuzz-tools
	@cd fuzz && for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz target $$t for $(FUZZ_SECONDS) s"; \
	  mkdir -p corpus/$$t; \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t corpus/$$t seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
	    | grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb|INFO: seed corpus)|panicked|ERROR|SUMMARY|^ +(left|right)|Test unit written' ; \
	  test "$${PIPESTATUS[0]}" = 0 || { echo "fuzz target $$t FAILED (input in fuzz/artifacts/$$t)"; exit 1; }; \
	done
