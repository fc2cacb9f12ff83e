import { strict as assert } from "node:assert";
import * as net from "node:net";
import { performance } from "node:perf_hooks";
import { HealthMonitor, type ProbeTarget } from "../../provider/forwarder/health/monitor";
import { DEFAULT_JITTER_PERCENT, failureWindowMs, successWindowMs, type HealthState } from "../../provider/health";
import { listen } from "../support/net";

const HOST = "127.0.3.4";
/** Scheduling slack on a shared 2-core machine; small next to the 4.4 s documented bound. */
const SLACK_MS = 400;

/** Resolves with the time of the next transition to `to`; rejects after `withinMs`. */
function nextTransition(monitor: HealthMonitor, to: HealthState, withinMs: number): Promise<{ at: number; from: HealthState }> {
  return new Promise((resolve, reject) => {
    const onTransition = (_key: string, from: HealthState, state: HealthState): void => {
      if (state !== to) return;
      clearTimeout(timer);
      monitor.off("transition", onTransition);
      resolve({ at: performance.now(), from });
    };
    const timer = setTimeout(() => {
      monitor.off("transition", onTransition);
      reject(new Error(`no transition to ${to} within ${withinMs} ms`));
    }, withinMs);
    monitor.on("transition", onTransition);
  });
}

describe("HealthMonitor against a real server on loopback (real time)", function () {
  this.timeout(15_000);

  it("detects a killed server and its restart within the documented windows", async () => {
    const server = net.createServer((socket) => socket.on("error", () => undefined)); // probes reset
    const port = await listen(server, HOST);
    const target: ProbeTarget = {
      key: `svc|${HOST}|${port}`,
      host: HOST,
      port,
      timeoutMs: 2000,
      intervalMs: 200,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
    };
    const jitter = 1 + DEFAULT_JITTER_PERCENT / 100;
    const shortestDelay = target.intervalMs * (1 - DEFAULT_JITTER_PERCENT / 100);
    const longestDelay = target.intervalMs * jitter;

    const monitor = new HealthMonitor();
    const probeEnds: number[] = [];
    monitor.on("probe", () => probeEnds.push(performance.now()));
    try {
      // A new member: Healthy after its first probe, which comes within min(interval, 1 s).
      const added = performance.now();
      const healthy = nextTransition(monitor, "Healthy", 200 + SLACK_MS);
      monitor.setTargets([target]);
      const first = await healthy;
      assert.equal(first.from, "Initial");
      assert.ok(first.at - added <= 200 + SLACK_MS);

      // Kill: the port now refuses. The member must go Unhealthy after 2 failed probes.
      await new Promise((resolve) => setTimeout(resolve, 150));
      const documentedFailure = failureWindowMs(target) + longestDelay; // + up to one interval before the first failing probe
      const unhealthy = nextTransition(monitor, "Unhealthy", documentedFailure + SLACK_MS);
      const killed = performance.now();
      server.close();
      const down = await unhealthy;
      const toUnhealthy = down.at - killed;
      assert.equal(down.from, "Healthy");
      assert.equal(monitor.get(target.key)?.lastProbe?.code, "L4CON");
      // At least one full interval between the two failing probes (thresholds honoured) ...
      assert.ok(toUnhealthy >= (target.unhealthyThreshold - 1) * shortestDelay - 5, `unhealthy after only ${toUnhealthy} ms`);
      // ... within the documented window, and a refusal does not wait for the 2 s timeout.
      assert.ok(toUnhealthy <= documentedFailure + SLACK_MS, `unhealthy after ${toUnhealthy} ms`);
      assert.ok(toUnhealthy <= target.unhealthyThreshold * longestDelay + SLACK_MS, `refusals detected in ${toUnhealthy} ms`);

      // Restart on the same port: Healthy again after 2 successful probes.
      const documentedSuccess = successWindowMs(target) + longestDelay; // + up to one interval before the first success
      const recovered = nextTransition(monitor, "Healthy", documentedSuccess + SLACK_MS);
      const restarted = performance.now();
      await listen(server, HOST, port);
      const up = await recovered;
      const toHealthy = up.at - restarted;
      assert.equal(up.from, "Unhealthy");
      assert.ok(toHealthy >= (target.healthyThreshold - 1) * shortestDelay - 5, `healthy after only ${toHealthy} ms`);
      assert.ok(toHealthy <= documentedSuccess + SLACK_MS, `healthy after ${toHealthy} ms`);

      // intervalMs separates one probe's end from the next one's start: never a busy loop.
      const gaps = probeEnds.slice(1).map((t, i) => t - probeEnds[i]!);
      assert.ok(Math.min(...gaps) >= shortestDelay - 5, `probes ${Math.min(...gaps)} ms apart`);
      if (process.env.DNLB_TEST_TIMINGS) console.log(
        `      measured: unhealthy after ${toUnhealthy.toFixed(0)} ms (documented <= ${documentedFailure.toFixed(0)}), ` +
          `healthy after ${toHealthy.toFixed(0)} ms (documented <= ${documentedSuccess.toFixed(0)}), ${probeEnds.length} probes`,
      );
    } finally {
      monitor.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
