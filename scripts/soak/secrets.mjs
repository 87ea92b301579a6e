// The secret scan of the soak and the e2e runs: no device key, service key or SAS
// token in use may appear in any log line, error message or toString/Debug output.

/** The emulator's start-up banner prints credentials on purpose (docs/emulator.md): these lines only. */
const BANNER = /^(hubwire-emulator: (service|device) {2,}|HUBWIRE_EMULATOR_READY )/;

/** `text` without the emulator's credential banner lines. */
export function withoutCredentialBanner(text) {
  return text
    .split("\n")
    .filter((l) => !BANNER.test(l))
    .join("\n");
}

/** The forms a secret can take in text: as is, percent-encoded (both cases), URL-safe base64. */
function forms(s) {
  const out = new Set([s, encodeURIComponent(s)]);
  out.add(encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
  out.add(s.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""));
  return [...out].filter((f) => f.length >= 8);
}

/** Secrets derived from a SAS token: the whole token and its signature. */
export function tokenSecrets(token) {
  const out = [{ kind: "SAS token", value: token }];
  const m = /[?& ]sig=([^&]+)/.exec(token);
  if (m) {
    out.push({ kind: "SAS signature", value: m[1] });
    try {
      out.push({ kind: "SAS signature", value: decodeURIComponent(m[1]) });
    } catch {
      // not percent-encoded text
    }
  }
  return out;
}

/**
 * Finds secrets in texts. `texts`: [{ where, text }]; `secrets`: [{ kind, value }].
 * Also flags anything shaped like a credential (`SharedAccessKey=…`, `sig=…`), known or not.
 * Returns findings with the secret itself masked.
 */
export function findSecrets(texts, secrets) {
  const found = [];
  const needles = [];
  for (const s of secrets) for (const f of forms(s.value)) needles.push({ kind: s.kind, f });
  const shapes = [
    { kind: "SharedAccessKey=… text", re: /SharedAccessKey=[A-Za-z0-9+/%]{8,}/ },
    { kind: "sig=… text", re: /sig=[A-Za-z0-9+/%]{16,}/ },
  ];
  for (const { where, text } of texts) {
    if (!text) continue;
    for (const n of needles) {
      const i = text.indexOf(n.f);
      if (i >= 0) found.push({ kind: n.kind, where, context: mask(text, i, n.f.length) });
    }
    for (const s of shapes) {
      const m = s.re.exec(text);
      if (m) found.push({ kind: s.kind, where, context: mask(text, m.index, m[0].length) });
    }
  }
  return found;
}

function mask(text, i, len) {
  return (text.slice(Math.max(0, i - 30), i) + "<SECRET>" + text.slice(i + len, i + len + 30)).replace(/\s+/g, " ");
}
