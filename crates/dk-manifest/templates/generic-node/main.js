// {{name}}: pseudonymise customer records.
//
// `dk run` starts this program and describes its data through the runtime contract: the file
// named by DK_CONTEXT lists every input and output with its location (docs/runtime-contract.md).
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const FIELDS = ["id", "email_hash", "country", "signup_month"];

function loadContext() {
  const file = process.env.DK_CONTEXT;
  if (!file) {
    console.error("DK_CONTEXT is not set: run this pipeline with `dk run`");
    process.exit(1);
  }
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

// The scaffold's CSV has no quoted fields; use a CSV library (csv-parse) for real data.
function readRows(file) {
  const [header, ...lines] = fs.readFileSync(file, "utf8").split(/\r?\n/).filter(Boolean);
  const names = header.split(",");
  return lines.map((line) => {
    const values = line.split(",");
    return Object.fromEntries(names.map((name, i) => [name, values[i]]));
  });
}

function pseudonymise(row) {
  const email = row.email.trim().toLowerCase();
  return {
    id: row.id,
    email_hash: crypto.createHash("sha256").update(email).digest("hex"),
    country: row.country,
    signup_month: row.signup_date.slice(0, 7),
  };
}

function runOnce(source, target) {
  const rows = readRows(source).map(pseudonymise);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const lines = [FIELDS.join(","), ...rows.map((row) => FIELDS.map((f) => row[f]).join(","))];
  fs.writeFileSync(target, lines.join("\n") + "\n");
  return rows.length;
}

function main() {
  const context = loadContext();
  const source = context.inputs[0].location;
  const target = context.outputs[0].location;
  if (context.mode !== "streaming") {
    console.log(`wrote ${runOnce(source, target)} rows to ${target}`);
    return;
  }
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => {
      stopping = true;
    });
  }
  const tick = () => {
    if (stopping) return;
    runOnce(source, target);
    setTimeout(tick, 5000);
  };
  tick();
}

main();
