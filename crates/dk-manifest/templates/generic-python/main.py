"""{{name}}: pseudonymise customer records.

`dk run` starts this program and describes its data through the runtime contract: the file
named by DK_CONTEXT lists every input and output with its location (docs/runtime-contract.md).
"""

import csv
import hashlib
import json
import os
import signal
import sys
import time

FIELDS = ["id", "email_hash", "country", "signup_month"]


def load_context():
    path = os.environ.get("DK_CONTEXT")
    if not path:
        sys.exit("DK_CONTEXT is not set: run this pipeline with `dk run`")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def pseudonymise(row):
    email = row["email"].strip().lower()
    return {
        "id": row["id"],
        "email_hash": hashlib.sha256(email.encode("utf-8")).hexdigest(),
        "country": row["country"],
        "signup_month": row["signup_date"][:7],
    }


def run_once(source, target):
    with open(source, newline="", encoding="utf-8") as infile:
        rows = [pseudonymise(row) for row in csv.DictReader(infile)]
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", newline="", encoding="utf-8") as outfile:
        writer = csv.DictWriter(outfile, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def main():
    context = load_context()
    source = context["inputs"][0]["location"]
    target = context["outputs"][0]["location"]
    if context.get("mode") != "streaming":
        print(f"wrote {run_once(source, target)} rows to {target}")
        return
    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.append(True))
    while not stopping:
        run_once(source, target)
        time.sleep(5)


if __name__ == "__main__":
    main()
