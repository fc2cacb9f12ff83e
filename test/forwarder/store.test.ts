import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { parseSpec, type Kind, type SpecOf } from "../../provider/model";
import { EMPTY_CONFIG, type ConfigSnapshot } from "../../provider/forwarder/store/snapshot";
import { ApiError, StateFileError } from "../../provider/forwarder/errors";
import { ConfigStore } from "../../provider/forwarder/store/store";
import { loadConfig, parseConfig, serializeConfig, writeFileAtomic } from "../../provider/forwarder/store/file";
import { withObject } from "../../provider/forwarder/store/objects";
import { checkPreconditions } from "../../provider/forwarder/store/preconditions";
import { resolveSeed } from "../../provider/forwarder/cli/seed";
import { samples, tempStateDir } from "./admin-fixture";

function spec<K extends Kind>(kind: K, body: unknown): SpecOf[K] {
  const parsed = parseSpec(kind, body);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.failures));
  return parsed.spec;
}

function sampleConfig(): ConfigSnapshot {
  let config = EMPTY_CONFIG;
  config = withObject(config, "health-checks", { id: "hc", revision: 3, spec: spec("health-checks", samples.healthCheck()) });
  config = withObject(config, "server-groups", { id: "g", revision: 1, spec: spec("server-groups", samples.serverGroup()) });
  config = withObject(config, "backend-services", {
    id: "web",
    revision: 2,
    spec: spec("backend-services", samples.backendService("web", { healthCheck: "hc", serverGroup: "g" })),
  });
  config = withObject(config, "listeners", { id: "web-80", revision: 1, spec: spec("listeners", samples.listener("web-80", 80)) });
  return config;
}

function expectStateFileError(run: () => unknown, pattern: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof StateFileError, String(error));
    assert.match(error.message, /state file \/x\/config\.json /);
    assert.match(error.message, pattern);
    assert.match(error.message, /does not replace it/);
    return true;
  });
}

describe("store: the state file", () => {
  it("round-trips a configuration through its JSON form, with the format marker", () => {
    const config = sampleConfig();
    const text = serializeConfig(config);
    const document = JSON.parse(text);
    assert.equal(document.format, "dnlb-config");
    assert.equal(document.version, 1);
    assert.deepEqual(Object.keys(document.objects), ["health-checks", "server-groups", "backend-services", "listeners"]);
    assert.equal(document.objects["backend-services"].web.revision, 2);
    const back = parseConfig("/x/config.json", text);
    assert.equal(serializeConfig(back), text);
    assert.deepEqual(back.listeners.get("web-80"), config.listeners.get("web-80"));
  });

  it("refuses corrupt, foreign, newer and invalid files, naming the file and the problem", () => {
    const good = JSON.parse(serializeConfig(sampleConfig()));
    const variant = (change: (d: typeof good) => void) => {
      const copy = JSON.parse(JSON.stringify(good));
      change(copy);
      return JSON.stringify(copy);
    };
    expectStateFileError(() => parseConfig("/x/config.json", '{"format": "dnlb-config", '), /is not valid JSON/);
    expectStateFileError(() => parseConfig("/x/config.json", ""), /is not valid JSON/);
    expectStateFileError(() => parseConfig("/x/config.json", '{"name": "my-app", "version": "1.0.0"}'), /is not a dnlb configuration/);
    expectStateFileError(() => parseConfig("/x/config.json", "[]"), /is not a dnlb configuration/);
    expectStateFileError(() => parseConfig("/x/config.json", variant((d) => (d.version = 2))), /version 2, and this node reads version 1/);
    expectStateFileError(() => parseConfig("/x/config.json", variant((d) => (d.objects.widgets = {}))), /unknown kind "widgets"/);
    expectStateFileError(
      () => parseConfig("/x/config.json", variant((d) => (d.objects["health-checks"].hc.spec.timeoutSeconds = 99))),
      /invalid health-checks\/hc: timeoutSeconds must be an integer from 2 to 60 \(got 99\)/,
    );
    expectStateFileError(() => parseConfig("/x/config.json", variant((d) => (d.objects.listeners["web-80"].revision = 0))), /revision 0/);
    expectStateFileError(
      () => parseConfig("/x/config.json", variant((d) => (d.objects.listeners["bad id"] = d.objects.listeners["web-80"]))),
      /invalid id "bad id"/,
    );
    expectStateFileError(
      () => parseConfig("/x/config.json", variant((d) => delete d.objects["backend-services"].web)),
      /breaks the configuration rules: listener web-80 refers to backend service web, which does not exist/,
    );
  });

  it("writes atomically: no temp file remains and the file always parses", async () => {
    const dir = await tempStateDir("store");
    const file = path.join(dir, "config.json");
    let config = EMPTY_CONFIG;
    for (let i = 0; i < 30; i++) {
      config = withObject(config, "health-checks", { id: `hc-${i}`, revision: 1, spec: spec("health-checks", samples.healthCheck()) });
      await writeFileAtomic(file, serializeConfig(config));
      assert.deepEqual(await fs.readdir(dir), ["config.json"]);
      assert.equal(parseConfig(file, await fs.readFile(file, "utf8")).healthChecks.size, i + 1);
    }
  });

  it("keeps the previous file when a write fails, and removes its temp file", async () => {
    const dir = await tempStateDir("store");
    const file = path.join(dir, "config.json");
    await writeFileAtomic(file, "first\n");
    // Renaming a file over a directory fails after the temp file was written and synced.
    const blocked = path.join(dir, "blocked");
    await fs.mkdir(blocked);
    await assert.rejects(writeFileAtomic(blocked, "second\n"), /EISDIR|directory/i);
    assert.deepEqual((await fs.readdir(dir)).sort(), ["blocked", "config.json"]);
    assert.equal(await fs.readFile(file, "utf8"), "first\n");
  });

  it("loads nothing from a new directory (created when missing) and removes leftover temp files", async () => {
    const parent = await tempStateDir("store");
    const dir = path.join(parent, "deeper", "state");
    assert.equal(await loadConfig(dir), EMPTY_CONFIG);
    await fs.writeFile(path.join(dir, "config.json.tmp-123-abcdef"), "half a write");
    await fs.writeFile(path.join(dir, "config.json"), serializeConfig(sampleConfig()));
    const loaded = await loadConfig(dir);
    assert.equal(loaded.listeners.size, 1);
    assert.deepEqual(await fs.readdir(dir), ["config.json"]);
  });

  it("refuses to load a corrupt file, leaving it in place", async () => {
    const dir = await tempStateDir("store");
    const file = path.join(dir, "config.json");
    await fs.writeFile(file, "{ not json");
    await assert.rejects(loadConfig(dir), (error: unknown) => error instanceof StateFileError && error.message.includes(file));
    assert.equal(await fs.readFile(file, "utf8"), "{ not json");
  });
});

describe("store: planning writes", () => {
  async function store(): Promise<ConfigStore> {
    const dir = await tempStateDir("store");
    await fs.writeFile(path.join(dir, "config.json"), serializeConfig(sampleConfig()));
    return ConfigStore.open(dir);
  }

  it("plans create, replace and no-op, and commits by persisting then swapping", async () => {
    const s = await store();
    const created = s.planPut("health-checks", "hc2", spec("health-checks", samples.healthCheck()));
    // Revisions are the node's write sequence: the next one follows the highest in the file.
    const highest = s.snapshot().lastRevision ?? 0;
    assert.ok(highest >= 3, `the sample file's objects carry revisions up to ${highest}`);
    assert.deepEqual([created.created, created.changed, created.stored.revision], [true, true, highest + 1]);
    assert.equal(s.get("health-checks", "hc2"), undefined, "planning changes nothing");
    await s.commit(created.candidate);
    assert.equal(s.get("health-checks", "hc2")?.revision, highest + 1);
    const same = s.planPut("health-checks", "hc", spec("health-checks", samples.healthCheck()));
    assert.deepEqual([same.created, same.changed, same.stored.revision], [false, false, 3]);
    assert.equal(same.candidate, s.snapshot());
    const replaced = s.planPut("health-checks", "hc", spec("health-checks", { ...samples.healthCheck(), timeoutSeconds: 9 }));
    assert.deepEqual([replaced.created, replaced.changed, replaced.stored.revision], [false, true, highest + 2]);
    assert.equal(parseConfig("/x/config.json", await fs.readFile(s.stateFile, "utf8")).healthChecks.size, 2);
  });

  it("leaves the snapshot alone when persisting fails", async () => {
    const dir = await tempStateDir("store");
    const s = await ConfigStore.open(dir, {
      save: async () => {
        throw new Error("EIO (simulated)");
      },
    });
    const plan = s.planPut("health-checks", "hc", spec("health-checks", samples.healthCheck()));
    await assert.rejects(s.commit(plan.candidate), (e: unknown) => e instanceof ApiError && e.code === "persist_failed");
    assert.equal(s.snapshot(), EMPTY_CONFIG);
  });

  it("lists one kind sorted by id", async () => {
    const s = await store();
    for (const id of ["zz", "aa", "mm"]) await s.commit(s.planPut("health-checks", id, spec("health-checks", samples.healthCheck())).candidate);
    assert.deepEqual(
      s.list("health-checks").map((o) => o.id),
      ["aa", "hc", "mm", "zz"],
    );
  });
});

describe("store: preconditions", () => {
  it("decides 412 as RFC 9110 does", () => {
    const fails = (revision: number | undefined, pre: Parameters<typeof checkPreconditions>[2]) => {
      try {
        checkPreconditions("listener l", revision, pre);
        return false;
      } catch (error) {
        assert.ok(error instanceof ApiError && error.code === "precondition_failed");
        return true;
      }
    };
    assert.equal(fails(undefined, {}), false);
    assert.equal(fails(undefined, { ifNoneMatch: "*" }), false);
    assert.equal(fails(2, { ifNoneMatch: "*" }), true);
    assert.equal(fails(2, { ifMatch: [2] }), false);
    assert.equal(fails(2, { ifMatch: [1, 3] }), true);
    assert.equal(fails(undefined, { ifMatch: "*" }), true);
    assert.equal(fails(2, { ifMatch: "*" }), false);
    assert.equal(fails(2, { ifNoneMatch: [1] }), false);
    assert.equal(fails(2, { ifNoneMatch: [2] }), true);
  });
});

describe("store: the hash seed", () => {
  it("takes DNLB_HASH_SEED, else keeps one generated in the state directory", async () => {
    const dir = await tempStateDir("seed");
    const given = await resolveSeed(dir, "0123456789abcdef0123456789abcdef");
    assert.deepEqual(given, { value: "0123456789abcdef0123456789abcdef", source: "environment" });
    assert.deepEqual(await fs.readdir(dir), [], "a given seed is not written anywhere");
    const generated = await resolveSeed(dir, undefined);
    assert.equal(generated.source, "generated");
    assert.match(generated.value, /^[0-9a-f]{32}$/);
    const again = await resolveSeed(dir, "");
    assert.deepEqual([again.source, again.value], ["state-dir", generated.value]);
    assert.equal((await fs.stat(path.join(dir, "hash-seed"))).mode & 0o777, 0o600);
    await assert.rejects(resolveSeed(dir, "not-a-seed"), /DNLB_HASH_SEED must be 32 lowercase hex characters/);
    await fs.writeFile(path.join(dir, "hash-seed"), "garbage\n");
    await assert.rejects(resolveSeed(dir, undefined), (e: unknown) => e instanceof StateFileError && e.message.includes("hash-seed"));
  });
});
