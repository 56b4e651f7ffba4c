#!/usr/bin/env python3
"""How far CI's schemathesis passes reached: accepted answers per operation.

Reads the counts .ci/schemathesis_hooks.py wrote for each pass (operation id -> status ->
answers), prints a table of every operation of the OpenAPI document with its accepted
answers (2xx) and all its answers in each pass, and fails when an operation got no accepted
answer in any pass, unless .ci/fuzz-exceptions.toml names it with the reason.

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
        exceptions = tomllib.load(f).get("exceptions", {})
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
    unknown = sorted(set(exceptions) - set(operations))
    if unknown:
        sys.exit(f"fuzz_coverage: {sys.argv[2]} names operations the document does not have: {unknown}")

    width = max(len(op) for op in operations)
    header = f"{'operation':<{width}}  " + "  ".join(f"{name + ' ok/all':>18}" for name, _ in passes)
    print(header + "  most frequent refusal")
    missing, excused, one_pass = [], [], []
    for op in sorted(operations):
        cells, union, refusals = [], 0, {}
        for name, counts in passes:
            statuses = counts.get(op, {})
            ok, total = accepted(statuses), sum(statuses.values())
            union += ok
            if total and not ok:
                one_pass.append(f"{op} ({name})")
            cells.append(f"{f'{ok}/{total}' if total else '-':>18}")
            for status, n in statuses.items():
                if not status.startswith("2"):
                    refusals[status] = refusals.get(status, 0) + n
        refusal = max(refusals.items(), key=lambda kv: kv[1]) if refusals else None
        note = f"{refusal[0]} x{refusal[1]}" if refusal else ""
        if union == 0:
            (excused if op in exceptions else missing).append(op)
            note += "  <- none accepted" + (" (excepted)" if op in exceptions else "")
        print(f"{op:<{width}}  " + "  ".join(cells) + f"  {note}")

    reached = len(operations) - len(missing) - len(excused)
    print(f"\n{reached} of {len(operations)} operations got accepted cases; {len(excused)} excepted: {excused}")
    # Issue 16 asks for accepted cases in each pass; until the hooks reach that, the pass
    # that got none of an operation it reached is listed here, and not yet a failure.
    print(f"reached but none accepted in that pass (not yet enforced): {one_pass}")
    stale = sorted(op for op in exceptions if op not in excused)
    if stale:
        print(f"note: excepted operations that did get accepted cases (the exception may go): {stale}")
    if missing:
        for op in missing:
            print(f"fuzz_coverage: {op} got no accepted (2xx) case in any pass", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
