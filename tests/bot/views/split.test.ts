import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { splitMessage, TELEGRAM_MESSAGE_LIMIT } from "../../../bot/views/split";

const TAG = /<(\/?)([a-zA-Z][\w-]*)[^<>]*>/g;
const ENTITY = /&(?:amp|lt|gt|quot|#\d+);/g;

/** The text a reader sees: tags removed, entities decoded. */
function visibleText(html: string): string {
  return html
    .replace(TAG, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#(\d+);/g, (_, digits: string) => String.fromCodePoint(Number(digits)))
    .replace(/&amp;/g, "&");
}

/** Every tag closed in order, no stray `<`, `>` or `&` left after tags and entities. */
function expectValidHtml(part: string): void {
  const open: string[] = [];
  for (const match of part.matchAll(TAG)) {
    const [, slash, name = ""] = match;
    if (slash === "/") expect(open.pop()).toBe(name);
    else open.push(name);
  }
  expect(open).toEqual([]);
  expect(part.replace(TAG, "").replace(ENTITY, "")).not.toMatch(/[<>&]/);
}

function expectNoLoneSurrogates(part: string): void {
  expect(part).not.toMatch(
    /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/,
  );
}

function expectParts(html: string, limit: number): string[] {
  const parts = splitMessage(html, limit);
  if (visibleText(html).trim() === "") {
    expect(parts).toEqual([]);
    return parts;
  }
  for (const part of parts) {
    expect(part.length).toBeLessThanOrEqual(limit);
    expect(part.length).toBeGreaterThan(0);
    expectValidHtml(part);
    expectNoLoneSurrogates(part);
  }
  expectSameTextBut(parts.map(visibleText).join(""), visibleText(html));
  return parts;
}

/**
 * `kept` is `original` with at most some whitespace left out: the parts that would hold only
 * whitespace are dropped (Telegram refuses them), every other character is kept, in order.
 */
function expectSameTextBut(kept: string, original: string): void {
  let k = 0;
  for (const character of original) {
    if (kept.startsWith(character, k)) k += character.length;
    else expect(character).toMatch(/\s/);
  }
  expect(k).toBe(kept.length);
}

describe("splitMessage", () => {
  it("returns a message within the limit unchanged", () => {
    const text = "x".repeat(TELEGRAM_MESSAGE_LIMIT);
    expect(splitMessage(text)).toEqual([text]);
    expect(splitMessage("<b>AAPL</b> 190.10")).toEqual(["<b>AAPL</b> 190.10"]);
  });

  it("returns nothing for an empty or blank message, which Telegram would refuse", () => {
    expect(splitMessage("")).toEqual([]);
    expect(splitMessage(" \n ")).toEqual([]);
  });

  it("cuts a long list at line boundaries, each part as full as it can be", () => {
    const lines = Array.from(
      { length: 300 },
      (_, i) => `${String(i).padStart(3, "0")} AAPL long 10 @ 190.10`,
    );
    const html = lines.join("\n");
    const parts = expectParts(html, TELEGRAM_MESSAGE_LIMIT);
    expect(parts.length).toBeGreaterThan(1);
    // Exactly the original when joined: nothing dropped, nothing added.
    expect(parts.join("")).toBe(html);
    for (const part of parts.slice(0, -1)) {
      expect(part.endsWith("\n")).toBe(true);
      // The next whole line would not have fit.
      expect(part.length + (lines[0] ?? "").length + 1).toBeGreaterThan(TELEGRAM_MESSAGE_LIMIT);
    }
  });

  it("splits a single line longer than the limit at spaces", () => {
    const words = Array.from({ length: 2000 }, (_, i) => `w${i}`);
    const html = words.join(" ");
    const parts = expectParts(html, TELEGRAM_MESSAGE_LIMIT);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.join("")).toBe(html);
    for (const part of parts.slice(0, -1)) expect(part.endsWith(" ")).toBe(true);
  });

  it("splits a single line with no spaces at the limit exactly", () => {
    const html = "x".repeat(TELEGRAM_MESSAGE_LIMIT * 2 + 5);
    const parts = expectParts(html, TELEGRAM_MESSAGE_LIMIT);
    expect(parts.map((part) => part.length)).toEqual([
      TELEGRAM_MESSAGE_LIMIT,
      TELEGRAM_MESSAGE_LIMIT,
      5,
    ]);
  });

  it("never cuts inside an entity", () => {
    const html = "&amp;".repeat(2000);
    const parts = expectParts(html, TELEGRAM_MESSAGE_LIMIT);
    expect(parts.length).toBe(3);
    for (const part of parts) expect(part).toMatch(/^(&amp;)+$/);
  });

  it("never cuts inside a tag, and closes and reopens formatting across parts", () => {
    const link = '<a href="https://example.test/?a=1&amp;b=2">';
    const html = `<b>${"bold ".repeat(100)}<i>${"both ".repeat(100)}</i></b>${link}${"link ".repeat(50)}</a>`;
    const parts = expectParts(html, 200);
    expect(parts.length).toBeGreaterThan(5);
    const middle = parts.find((part) => part.includes("both"));
    expect(middle?.startsWith("<b>")).toBe(true);
    const linked = parts.filter((part) => part.includes("link "));
    expect(linked.length).toBeGreaterThan(1);
    for (const part of linked) {
      expect(part.includes(link)).toBe(true);
      expect(part.endsWith("</a>")).toBe(true);
    }
    for (const part of linked.slice(1)) expect(part.startsWith(link)).toBe(true);
  });

  it("keeps a long line inside <pre> in parts that are each a <pre> block", () => {
    const html = `<pre>${"0123456789".repeat(900)}</pre>`;
    const parts = expectParts(html, TELEGRAM_MESSAGE_LIMIT);
    expect(parts.length).toBe(3);
    for (const part of parts) expect(part).toMatch(/^<pre>\d+<\/pre>$/);
  });

  it("never splits a surrogate pair", () => {
    const html = `x${"📈".repeat(3000)}`;
    const parts = expectParts(html, TELEGRAM_MESSAGE_LIMIT);
    expect(parts[0]?.length).toBe(TELEGRAM_MESSAGE_LIMIT - 1);
  });

  it("refuses formatting that cannot fit in one part (a bug in the caller)", () => {
    const html = `<a href="https://example.test/${"p".repeat(100)}">${"x".repeat(500)}</a>`;
    expect(() => splitMessage(html, 100)).toThrow(/open formatting/);
  });

  it("drops a part that would hold only the message's trailing line breaks", () => {
    const html = [
      "<b>a</b>",
      "aa00a0a0a",
      '<a href="https://e.test/000aa0000a0?x=1&amp;y=&quot;2&quot;">000aa0000a0 000aa0000a0</a>',
      "<i>0 0</i>",
      "00aa0a",
      "\n\n",
    ].join("");
    const parts = expectParts(html, 122);
    // Cut after the first line break; the second, alone in the next part, is dropped.
    expect(`${parts.join("")}\n`).toBe(html);
  });

  it("keeps every invariant for arbitrary formatted messages and limits", () => {
    const word = fc.stringMatching(/^[a-z0-9]{1,12}$/);
    const piece: fc.Arbitrary<string> = fc.oneof(
      word,
      fc.constantFrom(" ", "\n", "\n\n", "&amp;", "&lt;", "&gt;", "&quot;", "📈", "€", "&#128200;"),
      word.map((text) => `<b>${text}</b>`),
      word.map((text) => `<i>${text} ${text}</i>`),
      fc.tuple(word, word).map(([a, b]) => `<b>${a} <i>${b}\n${a}</i> ${b}</b>`),
      word.map(
        (text) => `<a href="https://e.test/${text}?x=1&amp;y=&quot;2&quot;">${text} ${text}</a>`,
      ),
      word.map((text) => `<code>${text}&lt;${text}</code>`),
      fc.integer({ min: 1, max: 300 }).map((n) => "y".repeat(n)),
    );
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 300 }),
        fc.integer({ min: 120, max: 600 }),
        (pieces, limit) => {
          expectParts(pieces.join(""), limit);
        },
      ),
      { numRuns: 300 },
    );
  });
});
