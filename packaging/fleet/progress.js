// The live one-line progress display: device states, per-second rates and the
// ack latency of the last tick.

const n0 = (x) => Math.round(x).toLocaleString("en-US");
const ms = (x) => (x == null ? "—" : x < 10 ? x.toFixed(1) : Math.round(x).toString());

/** One line for a timeline row (`row.states` absolute; sent/acked/errors per tick of `tickSec`). */
export function progressLine(row, tickSec, extra = {}) {
  const s = row.states;
  const per = (x) => n0(x / tickSec);
  const parts = [
    `${row.t.toFixed(0).padStart(4)}s`,
    `${n0(s.connected)} connected`,
    `${n0(s.connecting + s.pending)} connecting`,
    `${n0(s.reconnecting)} reconnecting`,
  ];
  if (s.rebooting) parts.push(`${n0(s.rebooting)} rebooting`);
  if (s.failed || s.disconnected) parts.push(`${n0(s.failed + s.disconnected)} down`);
  parts.push(`sent ${per(row.sent)}/s`, `acked ${per(row.acked)}/s`, `errors ${per(row.errors)}/s`, `ack p50 ${ms(row.ackP50Ms)} p99 ${ms(row.ackP99Ms)} ms`);
  if (extra.c2d) parts.push(`c2d ${n0(extra.c2d)}`);
  if (extra.methods) parts.push(`methods ${n0(extra.methods)}`);
  return parts.join(" · ");
}

/** Writes progress lines: rewritten in place on a terminal, else one every `everySec`. */
export class ProgressWriter {
  constructor(stream, mode, everySec = 10) {
    this.stream = stream;
    this.tty = mode === "auto" && Boolean(stream.isTTY);
    this.mode = mode;
    this.everySec = mode === "line" ? 0 : everySec;
    this.lastAt = -Infinity;
    this.live = false;
  }

  update(line, tSec) {
    if (this.mode === "off") return;
    if (this.tty) {
      const cols = this.stream.columns || 160;
      this.stream.write(`\r\x1b[2K${line.length > cols - 1 ? `${line.slice(0, cols - 2)}…` : line}`);
      this.live = true;
      return;
    }
    if (tSec - this.lastAt >= this.everySec) {
      this.lastAt = tSec;
      this.stream.write(`${line}\n`);
    }
  }

  /** A log line that must not be overwritten by the live line. */
  log(text) {
    if (this.live) {
      this.stream.write("\r\x1b[2K");
      this.live = false;
    }
    this.stream.write(`${text}\n`);
  }

  end() {
    if (this.live) this.stream.write("\n");
    this.live = false;
  }
}
