#!/usr/bin/env python3
"""Reads one valgrind memcheck log and prints the findings that matter for mod_dirguard.

Prints every error record (invalid accesses anywhere; uninitialised values, leaks) with its
stack, marks what is attributed to the module, and ends with one verdict line: "PASS ..." or
"FAIL ...". A record is attributed to the module when a frame of its stack is in
libmod_dirguard.so or a mod_dirguard:: function.
"""
import re
import sys

INVALID = re.compile(r"Invalid (read|write|free)|Mismatched free|Source and destination overlap")
UNINIT = re.compile(r"Conditional jump|Use of uninitialised|Syscall param .* uninitialised")
LEAK = re.compile(r"are (definitely|indirectly) lost")


def records(text):
    """Error records: runs of '==PID== ' lines separated by an empty '==PID== ' line."""
    block = []
    for line in text.splitlines():
        m = re.match(r"==\d+== ?(.*)$", line)
        if not m:
            continue
        body = m.group(1)
        if body.strip() == "":
            if block:
                yield block
            block = []
        else:
            block.append(body)
    if block:
        yield block


def ours(block):
    return any("mod_dirguard" in l for l in block)


def main():
    text = open(sys.argv[1], errors="replace").read()
    invalid, uninit_ours, uninit_other, leaks_ours, leaks_other = [], [], [], [], []
    summary = []
    for block in records(text):
        head = block[0]
        if INVALID.search(head):
            invalid.append(block)
        elif UNINIT.search(head):
            (uninit_ours if ours(block) else uninit_other).append(block)
        elif LEAK.search(head):
            (leaks_ours if ours(block) else leaks_other).append(block)
        elif head.startswith("LEAK SUMMARY") or head.startswith("ERROR SUMMARY"):
            summary.extend(block)
    for line in text.splitlines():
        if "ERROR SUMMARY" in line:
            summary.append(line.split("== ", 1)[-1])
    for title, blocks in (
        ("invalid access", invalid),
        ("uninitialised value in the module", uninit_ours),
        ("uninitialised value outside the module (httpd/APR/libc)", uninit_other),
        ("leak through the module", leaks_ours),
    ):
        for b in blocks:
            print(f"-- {title}:")
            print("\n".join("   " + l for l in b[:25]))
    print(f"   leak records outside the module (httpd/APR start-up allocations): {len(leaks_other)}")
    for l in summary:
        print("   " + l)
    bad = len(invalid) + len(uninit_ours) + len(leaks_ours)
    verdict = "FAIL" if bad else "PASS"
    print(
        f"{verdict}: {len(invalid)} invalid accesses, {len(uninit_ours)} uninitialised uses in the module, "
        f"{len(leaks_ours)} leaks through the module"
    )


if __name__ == "__main__":
    main()
