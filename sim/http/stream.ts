import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import type { Exchange } from "../engine/exchange";
import type { TradeUpdate } from "../engine/types";
import type { Faults } from "./faults";

interface Session {
  socket: WebSocket;
  authenticated: boolean;
  listening: boolean;
}

export interface StreamDeps {
  ex: Exchange;
  faults: Faults;
  /** Whether a key pair may connect (same rule as REST). */
  authorize: (keyId: string, secretKey: string) => boolean;
}

/**
 * The `trade_updates` stream at `/stream`: Alpaca's authenticate/listen handshake, JSON messages
 * sent as binary frames (as Alpaca sends them). Missed events are not replayed after a reconnect.
 */
export class TradeStream {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sessions = new Set<Session>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly unsubscribe: () => void;

  constructor(private readonly deps: StreamDeps) {
    this.wss.on("connection", (socket: WebSocket) => this.accept(socket));
    this.unsubscribe = deps.ex.onTradeUpdate((u) => this.publish(u));
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit("connection", ws, req));
  }

  private send(socket: WebSocket, message: unknown): void {
    if (socket.readyState === socket.OPEN)
      socket.send(Buffer.from(JSON.stringify(message)), { binary: true });
  }

  private accept(socket: WebSocket): void {
    const session: Session = { socket, authenticated: false, listening: false };
    this.sessions.add(session);
    socket.on("close", () => this.sessions.delete(session));
    socket.on("error", () => this.sessions.delete(session));
    socket.on("message", (data: Buffer | ArrayBuffer | Buffer[]) => {
      const text = Array.isArray(data)
        ? Buffer.concat(data).toString("utf8")
        : Buffer.from(data as ArrayBuffer).toString("utf8");
      let msg: { action?: unknown; data?: Record<string, unknown> };
      try {
        msg = JSON.parse(text);
      } catch {
        this.send(socket, { stream: "listening", data: { error: "invalid syntax" } });
        return;
      }
      this.handle(session, msg);
    });
  }

  private handle(
    session: Session,
    msg: { action?: unknown; data?: Record<string, unknown> },
  ): void {
    const { socket } = session;
    if (msg.action === "authenticate" || msg.action === "auth") {
      const keyId = String(msg.data?.key_id ?? "");
      const secret = String(msg.data?.secret_key ?? "");
      if (keyId && secret && this.deps.authorize(keyId, secret)) {
        session.authenticated = true;
        this.send(socket, {
          stream: "authorization",
          data: { action: "authenticate", status: "authorized" },
        });
      } else {
        this.send(socket, {
          stream: "authorization",
          data: {
            action: "authenticate",
            status: "unauthorized",
            message: "access key verification failed",
          },
        });
        socket.close();
      }
      return;
    }
    if (msg.action === "listen") {
      if (!session.authenticated) {
        this.send(socket, {
          stream: "authorization",
          data: { action: "listen", status: "unauthorized" },
        });
        return;
      }
      const streams = Array.isArray(msg.data?.streams)
        ? (msg.data.streams as unknown[]).map(String)
        : [];
      session.listening = streams.includes("trade_updates");
      this.send(socket, {
        stream: "listening",
        data: { streams: session.listening ? ["trade_updates"] : [] },
      });
      return;
    }
    this.send(socket, { stream: "listening", data: { error: "unrecognized action" } });
  }

  private publish(update: TradeUpdate): void {
    const { faults } = this.deps;
    if (faults.takeDrop()) return;
    const copies = faults.takeDuplicate() ? 2 : 1;
    const message = { stream: "trade_updates", data: update };
    const deliver = () => {
      for (const s of this.sessions) {
        if (!s.authenticated || !s.listening) continue;
        for (let i = 0; i < copies; i++) this.send(s.socket, message);
      }
    };
    if (faults.streamDelayMs > 0) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        deliver();
      }, faults.streamDelayMs);
      this.timers.add(timer);
    } else {
      deliver();
    }
  }

  /** Drops every connection abruptly (clients see a close and may reconnect). Returns how many. */
  dropAll(): number {
    const n = this.sessions.size;
    for (const s of this.sessions) s.socket.terminate();
    this.sessions.clear();
    return n;
  }

  connections(): number {
    return this.sessions.size;
  }

  close(): void {
    this.unsubscribe();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.dropAll();
    this.wss.close();
  }
}
