/**
 * The command catalogue: every command the product has, who may use it and where. /help, the
 * command menu and the command guards read it; a command counts as available once a feature
 * handles it (see BotFeature.commands), and until then it answers that it is not built yet.
 */
import type { UserRole } from "../app/config";

export interface CommandSpec {
  /** Without the slash. */
  readonly command: string;
  /** How it is typed, for /help. */
  readonly usage: string;
  /** One line for /help and the command menu (the menu allows 3 to 256 characters). */
  readonly description: string;
  readonly roles: readonly UserRole[];
  /** Trading and account commands answer only in a private chat with the bot. */
  readonly privateOnly: boolean;
}

const EVERYONE: readonly UserRole[] = ["admin", "trader", "viewer"];
const TRADERS: readonly UserRole[] = ["admin", "trader"];
const ADMINS: readonly UserRole[] = ["admin"];

export const COMMANDS = [
  {
    command: "start",
    usage: "/start",
    description: "Who you are here and what you can do",
    roles: EVERYONE,
    privateOnly: false,
  },
  {
    command: "help",
    usage: "/help",
    description: "The commands",
    roles: EVERYONE,
    privateOnly: false,
  },
  {
    command: "plan",
    usage: "/plan [SYMBOL]",
    description: "Plan a trade: entry, stop, target, size from your risk rules",
    roles: TRADERS,
    privateOnly: true,
  },
  {
    command: "positions",
    usage: "/positions",
    description: "Open positions with their stops and P&L",
    roles: EVERYONE,
    privateOnly: true,
  },
  {
    command: "orders",
    usage: "/orders",
    description: "Working orders",
    roles: EVERYONE,
    privateOnly: true,
  },
  {
    command: "trades",
    usage: "/trades [N]",
    description: "The last N trades from the journal (default 20)",
    roles: EVERYONE,
    privateOnly: true,
  },
  {
    command: "stats",
    usage: "/stats",
    description: "Win rate, expectancy, profit factor, drawdown",
    roles: EVERYONE,
    privateOnly: true,
  },
  {
    command: "pnl",
    usage: "/pnl",
    description: "Today's realized and unrealized P&L",
    roles: EVERYONE,
    privateOnly: true,
  },
  {
    command: "cancel",
    usage: "/cancel",
    description: "Leave the current form or cancel a working order",
    roles: TRADERS,
    privateOnly: true,
  },
  {
    command: "close",
    usage: "/close SYMBOL [PCT]",
    description: "Close a position, whole or a percentage",
    roles: TRADERS,
    privateOnly: true,
  },
  {
    command: "halt",
    usage: "/halt",
    description: "Stop new trades; working entries cancelled, stops kept",
    roles: TRADERS,
    privateOnly: true,
  },
  {
    command: "flatten",
    usage: "/flatten",
    description: "Close every position and halt",
    roles: TRADERS,
    privateOnly: true,
  },
  {
    command: "reduce",
    usage: "/reduce",
    description: "Exits only: no new positions until /resume",
    roles: TRADERS,
    privateOnly: true,
  },
  {
    command: "resume",
    usage: "/resume [REASON]",
    description: "Resume trading after a halt or reduce-only",
    roles: ADMINS,
    privateOnly: true,
  },
  {
    command: "limits",
    usage: "/limits",
    description: "Risk limits and trading state (admins change them)",
    roles: EVERYONE,
    privateOnly: true,
  },
  {
    command: "settings",
    usage: "/settings",
    description: "Your notifications (on, silent, off) and display time zone",
    roles: EVERYONE,
    privateOnly: true,
  },
] as const satisfies readonly CommandSpec[];

export type CommandName = (typeof COMMANDS)[number]["command"];

/** The catalogue entry of a command. */
export function commandSpec(command: CommandName): CommandSpec {
  const spec = COMMANDS.find((entry) => entry.command === command);
  if (spec === undefined) throw new Error(`command /${command} is not in the catalogue`);
  return spec;
}

/** Whether a role may use a command. */
export function roleMayUse(spec: CommandSpec, role: UserRole): boolean {
  return spec.roles.includes(role);
}
