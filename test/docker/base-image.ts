import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { nodeIncludeDir } from "../../provider/forwarder/native/build";
import { SPEAKER_PROGRAMS } from "../../provider/forwarder/speaker/gather";
import { dockerCli } from "./engine";

/**
 * The Dockerfile's two build arguments made without any registry: root filesystems assembled
 * from this machine's files and imported with `docker import`.
 *
 * - BASE_IMAGE: this machine's Node.js binary and the shared libraries `ldd` lists for it. No
 *   shell and no package manager, which also proves the runtime stage needs neither.
 * - BUILDER_IMAGE: the same, plus Node's headers and this machine's C compiler (the Debian
 *   packages owning gcc, cc1, as, ld and the C library's headers, with their libraries), so the
 *   Dockerfile's relay stage runs the package's build script as it does on node:22-bookworm; and
 *   this machine's bird, birdc, ip and setpriv with their libraries, so the speaker stage finds
 *   them instead of installing them with apt-get (which this image lacks).
 */

/** The libraries the dynamic loader needs for `binary`, as absolute paths. */
export function sharedLibraries(binary: string): string[] {
  const out = execFileSync("ldd", [binary], { encoding: "utf8" });
  const libs = new Set<string>();
  for (const line of out.split("\n")) {
    const match = /(\/\S+)\s+\(0x/.exec(line);
    if (match) libs.add(match[1]);
  }
  return [...libs];
}

/** A root filesystem being assembled in a temporary directory. */
class RootFs {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "dnlb-e2e-rootfs-"));

  /** Copies `source` (followed if a link) to `target` inside the root filesystem. */
  put(source: string, target: string = source): void {
    const to = path.join(this.dir, target);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(fs.realpathSync(source), to);
    fs.chmodSync(to, fs.statSync(source).mode & 0o7777);
  }

  /** Recreates the symbolic link `link` as it is on this machine. */
  link(link: string): void {
    const to = path.join(this.dir, link);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.rmSync(to, { force: true });
    fs.symlinkSync(fs.readlinkSync(link), to);
  }

  /** `binary` at `target` and every library it loads at its own path. */
  putProgram(binary: string, target: string = binary): void {
    this.put(binary, target);
    for (const lib of sharedLibraries(binary)) this.put(lib);
  }

  /** Node at /usr/local/bin/node, users and a /tmp: what any image the Dockerfile builds from has. */
  putNode(nodeBinary: string): void {
    this.putProgram(nodeBinary, "/usr/local/bin/node");
    fs.mkdirSync(path.join(this.dir, "etc"), { recursive: true });
    fs.writeFileSync(path.join(this.dir, "etc/passwd"), "root:x:0:0:root:/root:/sbin/nologin\ndnlb:x:10001:10001:dnlb:/var/lib/dnlb:/sbin/nologin\n");
    fs.writeFileSync(path.join(this.dir, "etc/group"), "root:x:0:\ndnlb:x:10001:\n");
    fs.mkdirSync(path.join(this.dir, "tmp"), { mode: 0o1777 });
    fs.chmodSync(path.join(this.dir, "tmp"), 0o1777);
  }

  async importAs(tag: string): Promise<void> {
    const tar = spawn("tar", ["-C", this.dir, "-c", "."], { stdio: ["ignore", "pipe", "inherit"] });
    await dockerCli(["import", "--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin", "-", tag], { input: tar.stdout });
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function buildBaseImage(tag: string, nodeBinary: string = process.execPath): Promise<void> {
  const rootfs = new RootFs();
  try {
    rootfs.putNode(nodeBinary);
    await rootfs.importAs(tag);
  } finally {
    rootfs.remove();
  }
}

/** The Debian packages holding the compiler's programs, its own headers and the C library's. */
export function compilerPackages(compiler = "gcc"): string[] {
  const ask = (flag: string) => execFileSync(compiler, [flag], { encoding: "utf8" }).trim();
  const which = (program: string) => execFileSync("sh", ["-c", 'command -v "$1"', "sh", program], { encoding: "utf8" }).trim();
  const files = [
    which(compiler),
    ask("-print-prog-name=cc1"),
    ask("-print-prog-name=collect2"),
    which(ask("-print-prog-name=as")),
    which(ask("-print-prog-name=ld")),
    ask("-print-libgcc-file-name"),
    ask("-print-file-name=include/stddef.h"),
    ask("-print-file-name=crti.o"),
    "/usr/include/stdio.h",
    "/usr/include/linux/errno.h",
  ];
  const owners = execFileSync("dpkg", ["-S", ...files.map((f) => fs.realpathSync(f))], { encoding: "utf8" });
  return [...new Set(owners.split("\n").filter(Boolean).map((line) => line.slice(0, line.indexOf(":"))))].sort();
}

function isElf(file: string): boolean {
  const fd = fs.openSync(file, "r");
  try {
    const magic = Buffer.alloc(4);
    return fs.readSync(fd, magic, 0, 4, 0) === 4 && magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    fs.closeSync(fd);
  }
}

export async function buildBuilderImage(tag: string, nodeBinary: string = process.execPath): Promise<void> {
  const include = nodeIncludeDir(nodeBinary);
  if (include === undefined) throw new Error(`no Node headers (node_api.h, uv.h) beside ${nodeBinary}: cannot make the builder image`);
  const rootfs = new RootFs();
  try {
    rootfs.putNode(nodeBinary);
    fs.cpSync(include, path.join(rootfs.dir, "usr/local/include/node"), { recursive: true, dereference: true });
    const gcc = execFileSync("sh", ["-c", "command -v gcc"], { encoding: "utf8" }).trim();
    for (const pkg of compilerPackages("gcc")) {
      const files = execFileSync("dpkg", ["-L", pkg], { encoding: "utf8" }).split("\n").filter(Boolean);
      for (const file of files) {
        const stat = fs.lstatSync(file, { throwIfNoEntry: false });
        if (stat === undefined || stat.isDirectory() || file.startsWith("/usr/share/")) continue;
        if (stat.isSymbolicLink()) rootfs.link(file);
        else if (isElf(file) && (stat.mode & 0o111) !== 0) rootfs.putProgram(file);
        else rootfs.put(file);
      }
    }
    // `cc`, as build.ts calls it; the unversioned gcc and binutils names come from other packages.
    for (const [name, target] of [
      ["/usr/bin/cc", gcc],
      ["/usr/bin/gcc", gcc],
      ["/usr/bin/as", execFileSync("sh", ["-c", "command -v as"], { encoding: "utf8" }).trim()],
      ["/usr/bin/ld", execFileSync("sh", ["-c", "command -v ld"], { encoding: "utf8" }).trim()],
    ]) {
      rootfs.putProgram(target, name);
    }
    for (const [program, pkg] of SPEAKER_PROGRAMS) {
      const found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map((dir) => path.join(dir, program)).find((file) => fs.existsSync(file));
      if (found === undefined) throw new Error(`${program} is not installed on this machine (Debian ${pkg}): the node image's speaker stage needs it`);
      rootfs.putProgram(found);
    }
    await rootfs.importAs(tag);
  } finally {
    rootfs.remove();
  }
}
