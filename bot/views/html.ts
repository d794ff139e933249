/**
 * Escaping for Telegram's HTML parse mode. Telegram accepts only `&lt;`, `&gt;`, `&amp;` and
 * `&quot;` as named entities, so nothing else is produced; every text that did not come from our
 * own templates (symbols, names, broker messages) goes through one of these before it is sent.
 */

const TEXT_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;" };
const ATTRIBUTE_ESCAPES: Record<string, string> = { ...TEXT_ESCAPES, '"': "&quot;" };

/** Escapes `& < >` so the text shows literally inside an HTML message. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>]/g, (character) => TEXT_ESCAPES[character] ?? character);
}

/** Escapes `& < > "` for a double-quoted attribute value such as a link's href. */
export function escapeHtmlAttribute(value: string): string {
  return value.replace(/[&<>"]/g, (character) => ATTRIBUTE_ESCAPES[character] ?? character);
}

/** Bold text, escaped. */
export function bold(text: string): string {
  return `<b>${escapeHtml(text)}</b>`;
}

/** Monospace text (symbols, ids, prices that must line up), escaped. */
export function code(text: string): string {
  return `<code>${escapeHtml(text)}</code>`;
}

/** A link with an escaped address and label. */
export function link(href: string, label: string): string {
  return `<a href="${escapeHtmlAttribute(href)}">${escapeHtml(label)}</a>`;
}
