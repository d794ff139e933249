/**
 * The sandbox's chat in the terminal: lines typed are messages to the bot, the bot's messages are
 * printed, buttons are shown as [1] [2] ... and pressed by typing the number, and lines starting
 * with ":" move the simulated market.
 */
import { createInterface, type Interface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { InlineButton, LocalBotApi, SandboxMessage, SandboxUser } from "./botApi";

export interface TerminalChatDeps {
  readonly api: LocalBotApi;
  readonly user: SandboxUser;
  readonly input: Readable;
  readonly output: Writable;
  /** The simulator's base URL, for the market commands; null without a local simulator. */
  readonly simulatorUrl: string | null;
  /** `:quit` asks the desk to stop. */
  readonly onQuit: () => void;
}

export interface TerminalChat {
  close(): void;
}

export const TERMINAL_HELP = [
  "Type a command for the bot, e.g. /start, /help, /plan AAPL. Press a button of the latest message by typing its number (#2 forces a press).",
  "Market (the built-in simulator):",
  "  :price AAPL 190.50        set the last price (bid/ask a cent around it)",
  "  :quote AAPL 190.49 190.51 set bid and ask",
  "  :time +30m | +2h | +1d    move the simulated clock forward",
  "  :time 2026-03-02T15:00:00Z  set the simulated clock",
  "  :open | :close | :calendar  force the market open or closed, or follow the calendar",
  "  :walk on | off            random price moves every 2 s",
  "  :state                    account, positions and orders in the simulator",
  "  :help   this list         :quit  stop the desk",
].join("\n");

/** Bot HTML as plain terminal text: tags removed, entities decoded. */
export function htmlToText(html: string): string {
  return html
    .replace(/<a\s+href="([^"]*)"[^>]*>(.*?)<\/a>/gis, "$2 ($1)")
    .replace(/<[^>]+>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");
}

const DURATION = /^\+(\d+)([smhd])$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Starts reading the terminal. */
export function startTerminalChat(deps: TerminalChatDeps): TerminalChat {
  const { api, user, output } = deps;
  let buttons: { message: SandboxMessage; button: InlineButton }[] = [];
  const print = (text: string): void => {
    output.write(`${text}\n`);
  };

  const onMessage = (message: SandboxMessage, edited: boolean) => {
    if (message.chatId !== user.id) return;
    const text = message.parseMode === "HTML" ? htmlToText(message.text) : message.text;
    const label = edited ? "desk (edited)>" : "desk>";
    print(`${label} ${text.split("\n").join("\n      ")}`);
    const flat = message.buttons.flat().filter((b) => b.callback_data !== undefined);
    if (flat.length > 0) {
      buttons = flat.map((button) => ({ message, button }));
      print(`      ${buttons.map((b, i) => `[${i + 1}] ${b.button.text}`).join("  ")}`);
    } else if (!edited || buttons.some((b) => b.message.messageId === message.messageId)) {
      // Numbers press the buttons of the latest message only; otherwise they are answers (a price).
      buttons = [];
    }
  };
  const onAnswer = (text: string | undefined, showAlert: boolean) => {
    if (text !== undefined && text !== "")
      print(`${showAlert ? "desk (alert)>" : "desk (toast)>"} ${text}`);
  };
  api.events.on("message", onMessage);
  api.events.on("callbackAnswer", onAnswer);

  const control = async (path: string, body?: unknown): Promise<unknown> => {
    if (deps.simulatorUrl === null) throw new Error("no local simulator in this mode");
    const response = await fetch(`${deps.simulatorUrl}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json: unknown = await response.json();
    if (!response.ok) throw new Error(`${path}: ${JSON.stringify(json)}`);
    return json;
  };

  const market = async (line: string): Promise<void> => {
    const [command = "", ...args] = line.slice(1).trim().split(/\s+/);
    switch (command) {
      case "help":
        print(TERMINAL_HELP);
        return;
      case "quit":
      case "exit":
        deps.onQuit();
        return;
      case "price": {
        const [symbol, price] = args;
        if (symbol === undefined || price === undefined) return print("usage: :price AAPL 190.50");
        await control("/sim/quotes", { symbol: symbol.toUpperCase(), price });
        return print(`market> ${symbol.toUpperCase()} last ${price}`);
      }
      case "quote": {
        const [symbol, bid, ask] = args;
        if (symbol === undefined || bid === undefined || ask === undefined) {
          return print("usage: :quote AAPL 190.49 190.51");
        }
        await control("/sim/quotes", { symbol: symbol.toUpperCase(), bid, ask });
        return print(`market> ${symbol.toUpperCase()} bid ${bid} ask ${ask}`);
      }
      case "time": {
        const [when] = args;
        const duration = when === undefined ? null : DURATION.exec(when);
        let answer: unknown;
        if (duration !== null) {
          const seconds = Number(duration[1]) * (UNIT_SECONDS[duration[2] ?? "s"] ?? 1);
          answer = await control("/sim/clock", { advanceSeconds: seconds });
        } else if (when !== undefined && !Number.isNaN(Date.parse(when))) {
          answer = await control("/sim/clock", { time: when });
        } else {
          return print("usage: :time +30m | +2h | +1d | <ISO-8601 time>");
        }
        const clock = answer as { time?: string; is_open?: boolean };
        return print(
          `market> clock ${clock.time ?? "?"}; market ${clock.is_open ? "open" : "closed"}`,
        );
      }
      case "open":
      case "close":
      case "calendar":
        await control("/sim/market", {
          open: command === "open" ? true : command === "close" ? false : null,
        });
        return print(
          `market> ${command === "calendar" ? "following the calendar" : `forced ${command}`}`,
        );
      case "walk":
        await control("/sim/walk", args[0] === "off" ? { enabled: false } : { intervalMs: 2000 });
        return print(`market> random walk ${args[0] === "off" ? "off" : "on"}`);
      case "state":
        return print(`market> ${JSON.stringify(await control("/sim/state"), null, 2)}`);
      default:
        return print(`unknown command :${command}; type :help`);
    }
  };

  const readline: Interface = createInterface({ input: deps.input, terminal: false });
  readline.on("line", (raw) => {
    const line = raw.trim();
    if (line === "") return;
    if (line.startsWith(":")) {
      market(line).catch((error: unknown) =>
        print(`market> failed: ${error instanceof Error ? error.message : String(error)}`),
      );
      return;
    }
    const pressed = /^#?(\d+)$/.exec(line);
    const chosen = pressed === null ? undefined : buttons[Number(pressed[1]) - 1];
    if (chosen !== undefined) {
      api.press(user, chosen.message, chosen.button);
      return;
    }
    if (line.startsWith("#")) {
      print(buttons.length === 0 ? "no buttons to press" : `choose 1..${buttons.length}`);
      return;
    }
    api.sendText(user, line);
  });

  return {
    close() {
      api.events.off("message", onMessage);
      api.events.off("callbackAnswer", onAnswer);
      readline.close();
    },
  };
}
