#!/usr/bin/env node
// `hubwire` command line (the package's bin): `hubwire fleet …`, `hubwire fleet merge …`,
// `hubwire fleet template …`. From the repository: `node packaging/fleet/cli.js fleet …`.

import { writeFile } from "node:fs/promises";
import { fleetHelp, parseFleetArgs, parseMergeArgs } from "./args.js";
import { FleetError } from "./errors.js";
import { mergeReports, readReport, summaryTable, toCsv } from "./report.js";
import { EXIT, runFleet } from "./run.js";
import { compileTemplate, DEFAULT_TEMPLATE, loadTemplateFile, preview } from "./template.js";
import { deviceId } from "./identities.js";
import { VERSION } from "./version.js";

const USAGE = `usage: hubwire fleet [options]      simulate IoT Hub devices (hubwire fleet --help)
       hubwire fleet merge FILES...  add up shard reports
       hubwire fleet template [FILE] print sample messages of a template
       hubwire --version`;

async function merge(argv) {
  const o = parseMergeArgs(argv);
  const reports = [];
  for (const f of o.files) reports.push({ ...(await readReport(f)), file: f });
  const merged = mergeReports(reports, o.maxErrorRate);
  if (o.report) await writeFile(o.report, `${JSON.stringify(merged, null, 2)}\n`);
  if (o.csv) await writeFile(o.csv, toCsv(merged));
  process.stdout.write(`${summaryTable(merged)}\n`);
  for (const p of merged.problems) process.stderr.write(`hubwire fleet merge: ${p}\n`);
  return merged.passed ? EXIT.OK : EXIT.ERROR_RATE;
}

async function template(argv) {
  let file;
  let devices = 2;
  let messages = 3;
  let seed;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!(Number.isInteger(v) && v >= 1 && v <= 1000)) throw new FleetError("USAGE", `${a}: expected 1 to 1000`);
      return v;
    };
    if (a === "--devices") devices = num();
    else if (a === "--messages") messages = num();
    else if (a === "--seed") seed = argv[++i];
    else if (a.startsWith("--")) throw new FleetError("USAGE", `unknown option ${a} for hubwire fleet template`);
    else file = a;
  }
  const spec = file ? await loadTemplateFile(file) : DEFAULT_TEMPLATE;
  const t = compileTemplate(spec, { seed });
  const ids = Array.from({ length: devices }, (_, i) => deviceId("sim", i + 1, 6));
  for (const m of preview(t, ids, messages)) process.stdout.write(`${JSON.stringify(m)}\n`);
  return EXIT.OK;
}

export async function main(argv) {
  const [cmd, sub, ...rest] = argv;
  if (cmd === "--version" || cmd === "-v") {
    process.stdout.write(`${VERSION}\n`);
    return EXIT.OK;
  }
  if (cmd !== "fleet") {
    (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help" ? process.stdout : process.stderr).write(`${USAGE}\n`);
    return cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help" ? EXIT.OK : EXIT.USAGE;
  }
  if (sub === "merge") return merge(rest);
  if (sub === "template") return template(rest);
  const args = sub === undefined ? [] : [sub, ...rest];
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`${fleetHelp()}\n`);
    return EXIT.OK;
  }
  const o = parseFleetArgs(args);
  const { exitCode } = await runFleet(o);
  return exitCode;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof FleetError) {
      process.stderr.write(`hubwire fleet: ${e.message} [${e.code}]\n`);
      process.exit(e.code === "REPORT" ? EXIT.ERROR_RATE : EXIT.USAGE);
    } else {
      process.stderr.write(`hubwire fleet: unexpected failure: ${e && e.stack ? e.stack : e}\n`);
      process.exit(EXIT.FATAL);
    }
  },
);
