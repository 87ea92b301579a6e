// The browser caps this page's fleet; `hubwire fleet` (the npm package's CLI,
// docs/fleet.md) does not. This builds the command line that runs the fleet
// form's settings from a terminal, for fleets larger than a tab can hold.

/** WebSockets Chromium allows per browser (its WebSocket socket pool); the 256th is refused. */
export const BROWSER_WEBSOCKET_CAP = 255;

/** Quotes `s` for a POSIX shell when it needs it (`$iothub` in URLs does). */
export function shellQuote(s) {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The `npx hubwire fleet …` command for `count` devices named `prefix` + number,
 * sending every `intervalSec` (± `spread`, a fraction) to `wsUrl`. No key is shown:
 * the service connection string comes from $IOTHUB_CONNECTION_STRING, or, with
 * `idScope` (the form's DPS identities), the devices provision themselves through
 * DPS with the key of the enrollment group `{prefix}group` from $GROUP_KEY.
 */
export function fleetCommand({ count, prefix, intervalSec, spread = 0, wsUrl, idScope }) {
  const args = ["npx", "hubwire", "fleet", "--count", String(count), "--prefix", prefix, "--pad", String(Math.max(3, String(count).length))];
  if (idScope) args.push("--id-scope", idScope);
  if (Number.isFinite(intervalSec) && intervalSec > 0) args.push("--interval", String(intervalSec));
  if (spread > 0) args.push("--interval-spread", `${Math.round(spread * 100)}%`);
  if (wsUrl) args.push("--url", wsUrl);
  if (count > 1000) args.push("--ramp-per-sec", "500");
  args.push("--report", "fleet-report.json");
  const line = args.map(shellQuote).join(" ");
  return idScope ? `${line} --group-key "$GROUP_KEY"` : line;
}
