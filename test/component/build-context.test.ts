import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runtimePackages, stageForwarderContext } from "../../provider/resources/load-balancer-image";

function write(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

function pkg(dir: string, name: string, version: string, dependencies: Record<string, string> = {}): void {
  write(path.join(dir, "package.json"), JSON.stringify({ name, version, main: "index.js", dependencies }));
  write(
    path.join(dir, "index.js"),
    `module.exports = { name: ${JSON.stringify(name)}, version: ${JSON.stringify(version)}, deps: {${Object.keys(dependencies)
      .map((d) => `${JSON.stringify(d)}: require(${JSON.stringify(d)})`)
      .join(", ")}} };`,
  );
}

/**
 * A package installed as npm leaves it: `a` needs b@1 (nested under a), `c` needs b@2 (hoisted),
 * the Pulumi SDK is a dependency the node must not carry.
 */
function fixture(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dnlb-context-test-"));
  write(
    path.join(root, "package.json"),
    JSON.stringify({ name: "pulumi-dnlb", version: "9.9.9", dependencies: { a: "1", c: "1", "@pulumi/pulumi": "3" } }),
  );
  write(path.join(root, "dist", "provider", "forwarder", "main.js"), 'module.exports = [require("a"), require("c")];');
  write(path.join(root, "provider", "forwarder", "Dockerfile"), "FROM scratch\n");
  write(path.join(root, "provider", "forwarder", "native", "relay.c"), "int relay;\n");
  write(path.join(root, "dist", "provider", "forwarder", "native", "build.js"), "// compiles relay.c\n");
  write(path.join(root, "provider", "forwarder", "speaker", "launcher.c"), "int launcher;\n");
  // What `npm run build` leaves on the machine running Pulumi: a relay for that machine only.
  write(path.join(root, "dist", "provider", "forwarder", "native", "dnlb_relay.node"), "\x7fELF for this host\n");
  pkg(path.join(root, "node_modules", "a"), "a", "1.0.0", { b: "1" });
  pkg(path.join(root, "node_modules", "a", "node_modules", "b"), "b", "1.0.0");
  pkg(path.join(root, "node_modules", "c"), "c", "1.0.0", { b: "2" });
  pkg(path.join(root, "node_modules", "b"), "b", "2.0.0");
  pkg(path.join(root, "node_modules", "@pulumi", "pulumi"), "@pulumi/pulumi", "3.0.0");
  return root;
}

describe("forwarder image build context", function () {
  let root: string;
  let target: string;

  beforeEach(function () {
    root = fixture();
    target = path.join(root, "staged");
  });

  afterEach(function () {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("carries the runtime dependencies without the Pulumi SDK, each version where Node finds it", function () {
    const staged = stageForwarderContext(root, target);
    assert.deepEqual(
      staged.packages.map((p) => p.placement.split(path.sep).join("/")),
      ["node_modules/a", "node_modules/b", "node_modules/c", "node_modules/c/node_modules/b"],
    );
    assert.ok(!fs.existsSync(path.join(target, "node_modules", "@pulumi")));
    assert.ok(fs.existsSync(path.join(target, "Dockerfile")));
    assert.ok(fs.existsSync(path.join(target, "package.json")));
    // Loaded from the staged copy alone, each package gets the version it was installed with.
    const [a, c] = require(path.join(target, "dist", "provider", "forwarder", "main.js")) as {
      deps: { b: { version: string } };
    }[];
    assert.equal(a.deps.b.version, "1.0.0");
    assert.equal(c.deps.b.version, "2.0.0");
  });

  it("carries relay.c and its build script, never a relay compiled by the caller (the image compiles its own)", function () {
    stageForwarderContext(root, target);
    assert.equal(fs.readFileSync(path.join(target, "provider", "forwarder", "native", "relay.c"), "utf8"), "int relay;\n");
    assert.ok(fs.existsSync(path.join(target, "dist", "provider", "forwarder", "native", "build.js")));
    assert.ok(!fs.existsSync(path.join(target, "dist", "provider", "forwarder", "native", "dnlb_relay.node")));
    // A rebuilt relay alone is no reason to restage: it is not in the context.
    const marker = path.join(target, "node_modules", "a", "index.js");
    const before = fs.statSync(marker).mtimeMs;
    write(path.join(root, "dist", "provider", "forwarder", "native", "dnlb_relay.node"), "\x7fELF rebuilt, larger\n");
    stageForwarderContext(root, target);
    assert.equal(fs.statSync(marker).mtimeMs, before);
  });

  it("carries the launcher of the VIP's programs, which the image's speaker stage compiles", function () {
    stageForwarderContext(root, target);
    assert.equal(fs.readFileSync(path.join(target, "provider", "forwarder", "speaker", "launcher.c"), "utf8"), "int launcher;\n");
  });

  it("says where relay.c is missing: the image cannot be built without it", function () {
    fs.rmSync(path.join(root, "provider", "forwarder", "native", "relay.c"));
    assert.throws(() => stageForwarderContext(root, target), /provider\/forwarder\/native\/relay\.c is missing/);
  });

  it("restages only when a source file changed", function () {
    stageForwarderContext(root, target);
    const marker = path.join(target, "node_modules", "a", "index.js");
    const before = fs.statSync(marker).mtimeMs;
    stageForwarderContext(root, target);
    assert.equal(fs.statSync(marker).mtimeMs, before, "an unchanged context was copied again");
    write(path.join(root, "dist", "provider", "forwarder", "extra.js"), "1");
    stageForwarderContext(root, target);
    assert.ok(fs.existsSync(path.join(target, "dist", "provider", "forwarder", "extra.js")));
  });

  it("says what to run when the forwarder is not built or a dependency is missing", function () {
    fs.rmSync(path.join(root, "dist"), { recursive: true });
    assert.throws(() => stageForwarderContext(root, target), /main\.js is missing; run npm run build first/);
    fixtureWithout(root, "c");
    assert.throws(() => runtimePackages(root), /dependency c is not installed .*run npm install/);
  });
});

function fixtureWithout(root: string, name: string): void {
  fs.rmSync(path.join(root, "node_modules", name), { recursive: true });
}
