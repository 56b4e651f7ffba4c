#!/usr/bin/env python3
"""How far CI's schemathesis passes reached: accepted answers per operation.

Reads the counts .ci/schemathesis_hooks.py wrote for each pass (operation id -> status ->
answers), prints a table of every operation of the OpenAPI document with its accepted
answers (2xx) and all its answers in each pass. It fails when a pass reached an operation
(any answer at all) but got no accepted answer for it, unless .ci/fuzz-exceptions.toml names
the operation in that pass's table with the reason, and when no pass reached an operation.

Usage: fuzz_coverage.py OPENAPI.json EXCEPTIONS.toml NAME=COUNTS.json [NAME=COUNTS.json ...]
"""

import json
import sys
import tomllib


def accepted(statuses):
    return sum(n for status, n in statuses.items() if status.startswith("2"))


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__.strip().splitlines()[-1])
    with open(sys.argv[1], encoding="utf-8") as f:
        document = json.load(f)
    with open(sys.argv[2], "rb") as f:
        exceptions = tomllib.load(f)
    passes = []
    for argument in sys.argv[3:]:
        name, _, path = argument.partition("=")
        with open(path, encoding="utf-8") as f:
            passes.append((name, json.load(f)))
    operations = [
        op["operationId"]
        for item in document["paths"].values()
        for method, op in item.items()
        if method in ("get", "put", "post", "patch", "delete")
    ]
    unknown = sorted(set(exceptions) - {name for name, _ in passes})
    if unknown:
        sys.exit(f"fuzz_coverage: {sys.argv[2]} names passes that did not run: {unknown}")
    unknown = sorted({op for table in exceptions.values() for op in table} - set(operations))
    if unknown:
        sys.exit(f"fuzz_coverage: {sys.argv[2]} names operations the document does not have: {unknown}")

    width = max(len(op) for op in operations)
    header = f"{'operation':<{width}}  " + "  ".join(f"{name + ' ok/all':>18}" for name, _ in passes)
    print(header + "  most frequent refusal")
    missing, excused, stale = [], [], []
    for op in sorted(operations):
        cells, refusals, notes, reached = [], {}, [], False
        for name, counts in passes:
            statuses = counts.get(op, {})
            ok, total = accepted(statuses), sum(statuses.values())
            cells.append(f"{f'{ok}/{total}' if total else '-':>18}")
            for status, n in statuses.items():
                if not status.startswith("2"):
                    refusals[status] = refusals.get(status, 0) + n
            excepted = op in exceptions.get(name, {})
            reached = reached or total > 0
            if total and not ok:
                (excused if excepted else missing).append(f"{op} ({name})")
                notes.append(f"none accepted in {name}" + (" (excepted)" if excepted else ""))
            elif excepted:
                stale.append(f"{op} ({name})")
        if not reached:
            missing.append(f"{op} (reached by no pass)")
            notes.append("reached by no pass")
        refusal = max(refusals.items(), key=lambda kv: kv[1]) if refusals else None
        note = f"{refusal[0]} x{refusal[1]}" if refusal else ""
        if notes:
            note += "  <- " + "; ".join(notes)
        print(f"{op:<{width}}  " + "  ".join(cells) + f"  {note}")

    print(f"\n{len(operations)} operations; {len(excused)} excepted in a pass: {excused}")
    if stale:
        print(f"note: excepted in a pass but accepted there (the exception may go): {stale}")
    if missing:
        for item in missing:
            print(f"fuzz_coverage: {item}: no accepted (2xx) case", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
