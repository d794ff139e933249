/**
 * A TCP relay to the test Redis whose traffic can be held (the network between one process and
 * Redis stalls: commands are sent and never answered) and let through again.
 */
import { createConnection, createServer, type Socket } from "node:net";
import { TEST_REDIS_URL } from "./redis";

export interface RedisRelay {
  /** Redis URL through the relay. */
  readonly url: string;
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startRedisRelay(): Promise<RedisRelay> {
  const target = new URL(TEST_REDIS_URL);
  let held = false;
  const stalled: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const forward = (from: Socket, to: Socket) => {
    from.on("data", (chunk) => {
      const send = () => to.write(chunk);
      if (held) stalled.push(send);
      else send();
    });
    from.on("close", () => to.destroy());
    from.on("error", () => to.destroy());
  };
  const server = createServer((client) => {
    const upstream = createConnection({
      host: target.hostname,
      port: Number(target.port || 6379),
    });
    sockets.add(client).add(upstream);
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `redis://127.0.0.1:${port}${target.pathname}`,
    hold() {
      held = true;
    },
    release() {
      held = false;
      for (const send of stalled.splice(0)) send();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
