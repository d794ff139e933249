import { describe, expect, it } from "vitest";
import { bold, code, escapeHtml, escapeHtmlAttribute, link } from "../../../bot/views/html";

describe("escapeHtml", () => {
  it("escapes the three characters Telegram's HTML mode reserves", () => {
    expect(escapeHtml("a < b && c > d")).toBe("a &lt; b &amp;&amp; c &gt; d");
  });

  it("escapes an ampersand that already looks like an entity, so it shows literally", () => {
    expect(escapeHtml("&amp; &lt;")).toBe("&amp;amp; &amp;lt;");
  });

  it("leaves quotes, apostrophes, emoji and other text alone", () => {
    expect(escapeHtml(`He said "buy" 'AAPL' 📈 ünïcode`)).toBe(`He said "buy" 'AAPL' 📈 ünïcode`);
  });

  it("turns a would-be tag into text", () => {
    expect(escapeHtml("<b>not bold</b>")).toBe("&lt;b&gt;not bold&lt;/b&gt;");
  });
});

describe("escapeHtmlAttribute", () => {
  it("also escapes double quotes, so a value cannot end the attribute", () => {
    expect(escapeHtmlAttribute('x" onclick="y')).toBe("x&quot; onclick=&quot;y");
    expect(escapeHtmlAttribute("https://e.com/?a=1&b=<2>")).toBe(
      "https://e.com/?a=1&amp;b=&lt;2&gt;",
    );
  });
});

describe("formatting helpers", () => {
  it("escape their content", () => {
    expect(bold("<AAPL>")).toBe("<b>&lt;AAPL&gt;</b>");
    expect(code("a&b")).toBe("<code>a&amp;b</code>");
    expect(link('https://x.test/?q="1"&r=2', "R&D <co>")).toBe(
      '<a href="https://x.test/?q=&quot;1&quot;&amp;r=2">R&amp;D &lt;co&gt;</a>',
    );
  });
});
