import { strict as assert } from "node:assert";
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { writeFileAtomic } from "../../provider/forwarder/store/file";
import { failedLastStep, privateMountsWork, refusedWritesKeepConnections, straceWorks, type FailedWriteFigures } from "./failed-writes";

/** Writes answered as failed change nothing (see failed-writes.ts). Nodes on 127.0.10.80-86. */
describe("reliability: a write answered as failed changed nothing", function () {
  this.timeout(60_000);

  function report(result: FailedWriteFigures): void {
    console.log(`      ${Object.entries(result.figures).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  }

  describe("the state file when the directory's fsync fails after the rename", () => {
    let dir: string;
    const failingSync = { syncDirectory: async () => Promise.reject(Object.assign(new Error("EIO: i/o error, fsync (injected)"), { code: "EIO" })) };
    beforeEach(async () => (dir = await fsp.mkdtemp(path.join(os.tmpdir(), "dnlb-reliability-atomic-"))));
    afterEach(() => fsp.rm(dir, { recursive: true, force: true }));

    it("puts the previous file back, and leaves nothing else", async () => {
      const file = path.join(dir, "config.json");
      await writeFileAtomic(file, "previous\n");
      await assert.rejects(writeFileAtomic(file, "next\n", undefined, failingSync), /EIO/);
      assert.equal(await fsp.readFile(file, "utf8"), "previous\n");
      assert.deepEqual(await fsp.readdir(dir), ["config.json"]);
    });

    it("removes the file when there was none before", async () => {
      const file = path.join(dir, "config.json");
      await assert.rejects(writeFileAtomic(file, "next\n", undefined, failingSync), /EIO/);
      assert.deepEqual(await fsp.readdir(dir), []);
    });
  });

  describe("with a read-only state directory (a bind mount in the node's namespace)", function () {
    before(function () {
      if (!privateMountsWork()) {
        console.log("      skipped: mounts in a private namespace need root and unshare");
        this.skip();
      }
    });

    const cases = [
      { workers: 0, address: "127.0.10.80", backends: ["127.0.10.81", "127.0.10.82"], port: 26611 },
      { workers: 2, address: "127.0.10.83", backends: ["127.0.10.84", "127.0.10.85"], port: 26612 },
    ] as const;
    for (const { workers, address, backends, port } of cases) {
      it(`a refused DELETE and a refused member removal cut no open connection (--workers ${workers})`, async () => {
        const result = await refusedWritesKeepConnections(address, backends, port, workers);
        report(result);
        assert.deepEqual(result.violations, []);
      });
    }
  });

  describe("with EIO injected by strace on the state directory", function () {
    before(function () {
      if (!straceWorks()) {
        console.log("      skipped: strace is not usable here");
        this.skip();
      }
    });

    it("on its open: 500, and neither GET nor a restart shows the write", async () => {
      const result = await failedLastStep("127.0.10.86", "openat");
      report(result);
      assert.deepEqual(result.violations, []);
    });

    it("on its fsync: 500, and neither GET nor a restart shows the write", async () => {
      const result = await failedLastStep("127.0.10.86", "fsync");
      report(result);
      assert.deepEqual(result.violations, []);
    });
  });
});
