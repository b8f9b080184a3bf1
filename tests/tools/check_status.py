#!/usr/bin/env python3
"""Checks what the dirguard-status handler served with real parsers, for the integration tests.

    check_status.py json SCHEMA < body     validates against the JSON schema; prints
                                           "STATE PATH" per directory
    check_status.py prometheus < body      parses with prometheus_client; prints one canonical
                                           "name{k="v",...} value" line per sample
Exits non-zero with the parser's message when the input is invalid.
"""
import json
import sys


def main() -> int:
    kind = sys.argv[1]
    data = sys.stdin.read()
    if kind == "json":
        import jsonschema

        with open(sys.argv[2], encoding="utf-8") as f:
            schema = json.load(f)
        doc = json.loads(data)
        jsonschema.validate(doc, schema)
        for d in doc["directories"]:
            print(d["state"], d["path"])
        return 0
    if kind == "prometheus":
        from prometheus_client.parser import text_string_to_metric_families

        for family in text_string_to_metric_families(data):
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                name = f"{s.name}{{{labels}}}" if labels else s.name
                print(f"{name} {s.value:g}")
        return 0
    print(f"unknown kind {kind}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
