/**
 * Builds the native relay (relay.c) into `dnlb_relay.node` beside the compiled relay.js, with
 * the C compiler and the headers of the Node that runs this script (node_api.h and uv.h ship
 * with every Node release, under <prefix>/include/node, and with the npm `node` package). No node-gyp and no Python: one
 * source file, one compiler call.
 *
 * Run by `npm run build` after tsc. Without a compiler or headers it says so and exits 0: the
 * forwarder then runs the "streams" engine. DNLB_REQUIRE_NATIVE=1 (CI, image builds) makes that
 * a failure instead.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { NATIVE_RELAY_FILE } from "./relay";

/** relay.c in the source tree: this file runs from dist/provider/forwarder/native. */
function sourceFile(): string {
  const root = path.resolve(__dirname, "..", "..", "..", "..");
  return path.join(root, "provider", "forwarder", "native", "relay.c");
}

/**
 * node_api.h and uv.h of the running Node: beside its binary (release tarballs, the npm `node`
 * package, official images), or a system directory whose headers are of the same major version
 * (uv.h must match the libuv linked into this Node).
 */
export function nodeIncludeDir(execPath: string = process.execPath): string | undefined {
  const real = fs.realpathSync(execPath);
  const prefix = path.resolve(path.dirname(real), "..");
  const candidates = [
    path.join(prefix, "include", "node"),
    // The npm `node` package hard-links its binary from node-<platform>-<arch>, which has the headers.
    path.join(prefix, "node_modules", `node-${process.platform}-${process.arch}`, "include", "node"),
    "/usr/local/include/node",
    "/usr/include/node",
  ];
  const major = process.versions.node.split(".")[0];
  return candidates.find((dir) => {
    const version = path.join(dir, "node_version.h");
    if (!fs.existsSync(path.join(dir, "node_api.h")) || !fs.existsSync(path.join(dir, "uv.h")) || !fs.existsSync(version)) return false;
    return new RegExp(`#define NODE_MAJOR_VERSION ${major}\\b`).test(fs.readFileSync(version, "utf8"));
  });
}

function main(): number {
  const required = process.env.DNLB_REQUIRE_NATIVE === "1";
  const give = (why: string): number => {
    process.stderr.write(`native relay not built: ${why}; the forwarder will use Node's sockets (engine "streams")\n`);
    return required ? 1 : 0;
  };
  const source = sourceFile();
  if (!fs.existsSync(source)) return give(`${source} is missing`);
  const include = nodeIncludeDir();
  if (include === undefined) return give(`no Node headers (node_api.h, uv.h) beside ${process.execPath}`);
  // Compiled every time (well under a second): a timestamp check would keep a stale addon after
  // a checkout that brings an older relay.c.
  const out = NATIVE_RELAY_FILE;
  const compiler = process.env.CC ?? "cc";
  const tmp = `${out}.${process.pid}.tmp`;
  const args = ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-fvisibility=hidden", "-I", include, "-o", tmp, source];
  const result = spawnSync(compiler, args, { stdio: ["ignore", "inherit", "inherit"] });
  if (result.error !== undefined) {
    fs.rmSync(out, { force: true });
    return give(`${compiler}: ${result.error.message} (install a C compiler, e.g. apt-get install gcc libc6-dev)`);
  }
  if (result.status !== 0) {
    fs.rmSync(tmp, { force: true });
    fs.rmSync(out, { force: true }); // never leave an addon built from other sources
    return give(`${compiler} ${args.join(" ")} exited with ${String(result.status)}`);
  }
  fs.renameSync(tmp, out);
  return 0;
}

if (require.main === module) process.exitCode = main();
