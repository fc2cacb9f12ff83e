/** Starts a ForwarderRuntime for tests: its own metrics registry, a silent logger. */
import pino from "pino";
import { Registry } from "prom-client";
import type { NodeDataPlaneOptions } from "../../../provider/forwarder/options";
import { ForwarderRuntime, type RuntimeOptions } from "../../../provider/forwarder/runtime/runtime";

export const TEST_HASH_SEED = "00112233445566778899aabbccddeeff";

/** RuntimeOptions with the test hash seed, a silent logger and a fresh registry unless given. */
export interface TestRuntimeOptions extends Partial<Omit<RuntimeOptions, "dataPlane">> {
  readonly dataPlane: Omit<NodeDataPlaneOptions, "hashSeed"> & { readonly hashSeed?: string };
}

export function startRuntime(opts: TestRuntimeOptions): { runtime: ForwarderRuntime; registry: Registry } {
  const registry = opts.registry ?? new Registry();
  const runtime = new ForwarderRuntime({
    logger: pino({ level: process.env.DNLB_TEST_LOG ?? "silent" }),
    ...opts,
    dataPlane: { hashSeed: TEST_HASH_SEED, ...opts.dataPlane },
    registry,
  });
  return { runtime, registry };
}

/** The value of one sample of a metric, or undefined when absent. */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return undefined;
  const data = await metric.get();
  const sample = data.values.find((v) => Object.entries(labels).every(([k, value]) => String(v.labels[k]) === value));
  return sample?.value;
}
