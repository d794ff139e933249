/**
 * The lifecycle bench's simulators, in a process of their own (forked by the bench): the broker
 * is another service in a deployment, so its work must not share the workers' event loop.
 * Requests: `{ kind: "start", options }` answers `{ id, url, streamUrl }`; `{ kind: "close", id }`.
 */
import { type RunningSimulator, type SimulatorOptions, startSimulator } from "../sim/server";
import { serveBenchRequests } from "./childProcess";

const running = new Map<number, RunningSimulator>();
let next = 0;

serveBenchRequests(
  async (request) => {
    if (request.kind === "start") {
      const sim = await startSimulator(request.options as SimulatorOptions);
      const id = next++;
      running.set(id, sim);
      return { id, url: sim.url, streamUrl: sim.streamUrl };
    }
    if (request.kind === "close") {
      const id = request.id as number;
      await running.get(id)?.close();
      running.delete(id);
      return null;
    }
    throw new Error(`unknown request ${request.kind}`);
  },
  async () => {
    await Promise.all([...running.values()].map((sim) => sim.close()));
    running.clear();
  },
);
