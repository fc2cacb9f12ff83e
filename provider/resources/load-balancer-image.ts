import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/**
 * The forwarder image's build context, staged from the package's own files.
 *
 * Installed from npm, this package's dependencies sit in the user's `node_modules`, beside it,
 * not inside it; so the context cannot be the package directory. Instead it is assembled: the
 * compiled `dist/provider`, `package.json`, the Dockerfile, and the runtime dependencies the
 * forwarder needs (every `dependencies` entry except the Pulumi SDKs, with what they need in
 * turn), copied from wherever Node resolves them. The layout is the same as the repository
 * root's, so the Dockerfile also builds from a checkout with production `node_modules`.
 *
 * The native relay is not taken from here: a `dnlb_relay.node` built on the machine running
 * `pulumi up` is for that machine's platform. The context carries relay.c and its build script
 * instead, and the Dockerfile compiles the relay for the image's platform (and the launcher of
 * the VIP's programs, speaker/launcher.c, likewise).
 *
 * No npm package is downloaded: the image holds the code that runs the Pulumi program.
 */

export const PACKAGE_NAME = "pulumi-dnlb";
/** The relay's C source, which the Dockerfile compiles (relative to the package root, as in the context). */
export const RELAY_SOURCE = path.join("provider", "forwarder", "native", "relay.c");
/** The launcher of the VIP's programs, which the Dockerfile's speaker stage compiles (provider/forwarder/speaker/gather.ts). */
export const SPEAKER_LAUNCHER_SOURCE = path.join("provider", "forwarder", "speaker", "launcher.c");
const C_SOURCES = [RELAY_SOURCE, SPEAKER_LAUNCHER_SOURCE];
/** Runtime dependencies that are for the Pulumi program only, never for the node. */
const PROGRAM_ONLY = /^@pulumi\//;

interface PackageJson {
  readonly name?: string;
  readonly version?: string;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
}

function readPackageJson(dir: string): PackageJson {
  return JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as PackageJson;
}

/** This package's root, found upwards from this file (compiled under dist/ or run from source). */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest) && readPackageJson(dir).name === PACKAGE_NAME) return dir;
    if (path.dirname(dir) === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package root above ${from}`);
  }
}

/** Node's lookup: `<dir>/node_modules/<name>` from `fromDir` upwards. */
function resolvePackageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "node_modules", name);
    if (fs.existsSync(path.join(candidate, "package.json"))) return fs.realpathSync(candidate);
    if (path.dirname(dir) === dir) return undefined;
  }
}

export interface RuntimePackage {
  readonly name: string;
  /** Where it is read from. */
  readonly source: string;
  /** Where it goes in the context, e.g. `node_modules/pino` or `node_modules/a/node_modules/b`. */
  readonly placement: string;
}

/** `["a", "b"]` -> `node_modules/a/node_modules/b`. */
function placementPath(chain: readonly string[]): string {
  return chain.map((name) => path.join("node_modules", name)).join(path.sep);
}

/**
 * The forwarder's runtime dependency closure, placed as npm hoists: at the top when the name is
 * free there, else under the package that needs it. Each requirement is checked the way Node
 * resolves it from the requiring package's place, so every package sees the version it was
 * installed with. Packages are copied without their own `node_modules`: every one is placed here.
 */
export function runtimePackages(root: string): RuntimePackage[] {
  const manifest = readPackageJson(root);
  const present = new Map<string, string>(); // placement path -> source
  const result: RuntimePackage[] = [];
  const queue: { name: string; requester: readonly string[]; fromDir: string; optional: boolean }[] = Object.keys(
    manifest.dependencies ?? {},
  )
    .filter((name) => !PROGRAM_ONLY.test(name))
    .map((name) => ({ name, requester: [], fromDir: root, optional: false }));
  while (queue.length > 0) {
    const next = queue.shift()!;
    const source = resolvePackageDir(next.name, next.fromDir);
    if (source === undefined) {
      if (next.optional) continue;
      throw new Error(
        `cannot build the forwarder image: dependency ${next.name} is not installed (needed from ${next.fromDir}); run npm install`,
      );
    }
    // What Node would find from the requester's place: its own node_modules, then each parent's.
    let found: string | undefined;
    for (let depth = next.requester.length; depth >= 0 && found === undefined; depth--) {
      const candidate = placementPath([...next.requester.slice(0, depth), next.name]);
      if (present.has(candidate)) found = candidate;
    }
    if (found !== undefined && present.get(found) === source) continue;
    const chain = found === undefined ? [next.name] : [...next.requester, next.name];
    const placement = placementPath(chain);
    if (present.has(placement)) {
      throw new Error(`cannot build the forwarder image: two versions of ${next.name} compete for ${placement}`);
    }
    present.set(placement, source);
    result.push({ name: next.name, source, placement });
    const deps = readPackageJson(source);
    const need = (names: Readonly<Record<string, string>> | undefined, optional: boolean) => {
      for (const name of Object.keys(names ?? {})) queue.push({ name, requester: chain, fromDir: source, optional });
    };
    need(deps.dependencies, false);
    need(deps.optionalDependencies, true);
    need(deps.peerDependencies, true);
  }
  return result.sort((a, b) => a.placement.localeCompare(b.placement));
}

/** Copies a package without its `node_modules` (each dependency is placed on its own). */
function copyPackage(source: string, target: string): void {
  fs.cpSync(source, target, {
    recursive: true,
    dereference: true,
    filter: (from) => !path.relative(source, from).split(path.sep).includes("node_modules"),
  });
}

/** Compiled native addons: built for one platform, so the image builds its own. */
export function isNativeAddon(file: string): boolean {
  return file.endsWith(".node");
}

/** A digest of every source file's place, size and modification time (what a copy would change). */
function sourceStamp(sources: readonly [string, string][]): string {
  const hash = createHash("sha256");
  const visit = (file: string, placed: string): void => {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) {
      for (const entry of fs.readdirSync(file).sort()) {
        if (entry !== "node_modules") visit(path.join(file, entry), path.join(placed, entry));
      }
    } else if (!isNativeAddon(file)) {
      hash.update(`${placed}\u0000${stat.size}\u0000${stat.mtimeMs}\n`);
    }
  };
  for (const [source, placed] of sources) visit(source, placed);
  return hash.digest("hex");
}

export interface StagedContext {
  /** The directory to hand to `docker build` (it holds the Dockerfile). */
  readonly dir: string;
  readonly dockerfile: string;
  readonly packages: readonly RuntimePackage[];
}

/** A stable place per package copy: Pulumi compares the context path across runs. */
export function defaultContextDir(root: string): string {
  const key = createHash("sha256").update(root).digest("hex").slice(0, 12);
  return path.join(os.tmpdir(), PACKAGE_NAME, `forwarder-context-${key}`);
}

/**
 * Assembles the build context in `target` (replaced whole, so a removed file does not linger).
 * Requires the compiled `dist/provider` (run `npm run build` in a checkout).
 */
export function stageForwarderContext(root: string = packageRoot(), target: string = defaultContextDir(root)): StagedContext {
  const dist = path.join(root, "dist", "provider");
  const dockerfile = path.join(root, "provider", "forwarder", "Dockerfile");
  if (!fs.existsSync(path.join(dist, "forwarder", "main.js"))) {
    throw new Error(`cannot build the forwarder image: ${dist}/forwarder/main.js is missing; run npm run build first`);
  }
  for (const file of [dockerfile, ...C_SOURCES.map((source) => path.join(root, source))]) {
    if (!fs.existsSync(file)) throw new Error(`cannot build the forwarder image: ${file} is missing (the package is incomplete; reinstall it)`);
  }
  const packages = runtimePackages(root);
  const sources: [string, string][] = [
    [dist, path.join("dist", "provider")],
    ...C_SOURCES.map((source): [string, string] => [path.join(root, source), source]),
    [path.join(root, "package.json"), "package.json"],
    [dockerfile, "Dockerfile"],
    ...packages.map((p): [string, string] => [p.source, p.placement]),
  ];
  // Staging copies megabytes: skip it when no source file changed since the last time, which also
  // keeps the context's files (and so Pulumi's view of the build) untouched between runs.
  const stamp = sourceStamp(sources);
  const stampFile = path.join(target, ".dnlb-context-stamp");
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, "utf8") === stamp) {
    return { dir: target, dockerfile: path.join(target, "Dockerfile"), packages };
  }
  const scratch = `${target}.staging-${process.pid}`;
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.mkdirSync(scratch, { recursive: true });
  fs.cpSync(dist, path.join(scratch, "dist", "provider"), { recursive: true, filter: (from) => !isNativeAddon(from) });
  for (const source of C_SOURCES) {
    fs.mkdirSync(path.dirname(path.join(scratch, source)), { recursive: true });
    fs.copyFileSync(path.join(root, source), path.join(scratch, source));
  }
  fs.copyFileSync(path.join(root, "package.json"), path.join(scratch, "package.json"));
  fs.copyFileSync(dockerfile, path.join(scratch, "Dockerfile"));
  for (const pkg of packages) copyPackage(pkg.source, path.join(scratch, pkg.placement));
  fs.writeFileSync(path.join(scratch, ".dnlb-context-stamp"), stamp);
  fs.rmSync(target, { recursive: true, force: true });
  fs.renameSync(scratch, target);
  return { dir: target, dockerfile: path.join(target, "Dockerfile"), packages };
}
