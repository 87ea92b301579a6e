// Ending a child process the harnesses started (the emulator, a Chromium).

/**
 * Sends `signal` to `child` unless it has already exited, escalates to SIGKILL after
 * `graceMs`, and resolves once it has exited.
 */
export async function endProcess(child, signal = "SIGTERM", graceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await gone;
  clearTimeout(t);
}
