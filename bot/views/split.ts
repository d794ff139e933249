/**
 * Splitting long HTML messages for Telegram's 4096-character limit. Lists (positions, orders,
 * trades) can outgrow one message; they are sent as several, never truncated.
 */

/** Telegram's limit on a message's text. */
export const TELEGRAM_MESSAGE_LIMIT = 4096;

type Token =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "open"; readonly text: string; readonly name: string }
  | { readonly kind: "close"; readonly text: string; readonly name: string };

interface OpenTag {
  readonly name: string;
  /** The opening tag as written, attributes included, so the next part reopens it identically. */
  readonly text: string;
}

// Sticky: matched at a given index without copying the rest of the message.
const TAG = /<(\/?)([a-zA-Z][\w-]*)[^<>]*>/y;
const ENTITY = /&(?:#\d{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{0,31});/y;

/**
 * Splits an HTML message into parts of at most `limit` characters. Cuts at the last line break
 * that fits, else at the last space, else between any two characters; never inside a tag, an
 * entity or a surrogate pair. Formatting that is open at a cut is closed at the end of the part
 * and reopened at the start of the next, so every part is valid HTML on its own. Nothing is
 * dropped except parts that would hold only whitespace (Telegram refuses empty messages).
 */
export function splitMessage(html: string, limit: number = TELEGRAM_MESSAGE_LIMIT): string[] {
  if (html.length <= limit) return isBlank(html) ? [] : [html];
  const tokens = tokenize(html);
  const parts: string[] = [];
  let start = 0;
  let openAtStart: readonly OpenTag[] = [];
  while (start < tokens.length) {
    const cut = findCut(tokens, start, openAtStart, limit);
    const body = tokens
      .slice(start, cut.end)
      .map((token) => token.text)
      .join("");
    const part = `${openAtStart.map((tag) => tag.text).join("")}${body}${closingTags(cut.open)}`;
    if (!isBlank(part)) parts.push(part);
    start = cut.end;
    openAtStart = cut.open;
  }
  return parts;
}

interface Cut {
  /** Index of the first token of the next part. */
  readonly end: number;
  /** Tags open after the last token of this part. */
  readonly open: readonly OpenTag[];
}

function findCut(
  tokens: readonly Token[],
  start: number,
  openAtStart: readonly OpenTag[],
  limit: number,
): Cut {
  const open = [...openAtStart];
  let length = openAtStart.reduce((sum, tag) => sum + tag.text.length, 0);
  let hasVisibleText = false;
  let afterNewline: Cut | null = null;
  let afterSpace: Cut | null = null;
  let afterAny: Cut | null = null;
  for (let index = start; index < tokens.length; index++) {
    const token = tokens[index];
    if (token === undefined) break;
    length += token.text.length;
    applyTag(open, token);
    if (length + closingLength(open) > limit) {
      const cut = afterNewline ?? afterSpace ?? afterAny;
      if (cut === null) {
        throw new Error(
          `cannot split the message: its open formatting alone needs more than ${limit} characters`,
        );
      }
      return cut;
    }
    // A cut right after an opening tag would leave an empty element behind.
    if (token.kind === "open") continue;
    const here: Cut = { end: index + 1, open: [...open] };
    afterAny = here;
    if (token.kind === "text" && token.text === "\n") {
      if (hasVisibleText) afterNewline = here;
    } else if (token.kind === "text" && token.text === " ") {
      if (hasVisibleText) afterSpace = here;
    } else if (token.kind === "text") {
      hasVisibleText = true;
    }
  }
  return { end: tokens.length, open };
}

function applyTag(open: OpenTag[], token: Token): void {
  if (token.kind === "open") {
    open.push({ name: token.name, text: token.text });
  } else if (token.kind === "close") {
    // Close the innermost matching tag; a stray closing tag changes nothing.
    const at = open.map((tag) => tag.name).lastIndexOf(token.name);
    if (at >= 0) open.splice(at, 1);
  }
}

function closingLength(open: readonly OpenTag[]): number {
  return open.reduce((sum, tag) => sum + tag.name.length + 3, 0);
}

function closingTags(open: readonly OpenTag[]): string {
  return [...open]
    .reverse()
    .map((tag) => `</${tag.name}>`)
    .join("");
}

function tokenize(html: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < html.length) {
    const character = html[index];
    if (character === "<") {
      TAG.lastIndex = index;
      const tag = TAG.exec(html);
      if (tag !== null) {
        const [text, slash, name = ""] = tag;
        const lowerName = name.toLowerCase();
        tokens.push(
          slash === "/"
            ? { kind: "close", text, name: lowerName }
            : { kind: "open", text, name: lowerName },
        );
        index += text.length;
        continue;
      }
    } else if (character === "&") {
      ENTITY.lastIndex = index;
      const entity = ENTITY.exec(html);
      if (entity !== null) {
        tokens.push({ kind: "text", text: entity[0] });
        index += entity[0].length;
        continue;
      }
    }
    const codePoint = html.codePointAt(index) ?? 0;
    const text = String.fromCodePoint(codePoint);
    tokens.push({ kind: "text", text });
    index += text.length;
  }
  return tokens;
}

function isBlank(html: string): boolean {
  return html.replace(/<[^<>]*>/g, "").trim() === "";
}
