/** The VIP's pure parts: the BIRD configuration, birdc's protocol table, the announcement rule, the flags. */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { skipUnlessPresent } from "../support/peers";
import { parseCli } from "../../provider/forwarder/cli/arguments";
import { announcement } from "../../provider/forwarder/vip/announcer";
import type { BgpOptions } from "../../provider/forwarder/options";
import { birdConfig } from "../../provider/forwarder/vip/bird-config";
import { parseProtocols } from "../../provider/forwarder/vip/birdc-output";

const PEER_DEFAULTS = { holdTimeSeconds: 3, bfd: false };
const BGP: BgpOptions = {
  localAsn: 65001,
  routerId: "10.0.1.2",
  peers: [
    { address: "10.0.1.1", asn: 65000, ...PEER_DEFAULTS },
    { address: "10.0.2.1", asn: 65000, ...PEER_DEFAULTS },
  ],
};

/** BGP with every peer's settings replaced by `settings`. */
function everyPeer(settings: Partial<typeof PEER_DEFAULTS>, bgp: BgpOptions = BGP): BgpOptions {
  return { ...bgp, peers: bgp.peers.map((p) => ({ ...p, ...settings })) };
}

/** The `protocol bgp` block of the peer at `index` (peerN). */
function peerBlock(text: string, index: number): string {
  const block = new RegExp(`protocol bgp peer${index + 1} \\{[\\s\\S]*?\\n\\}`).exec(text);
  assert.ok(block !== null, `no block for peer${index + 1} in\n${text}`);
  return block[0];
}

function birdInstalled(): boolean {
  try {
    execFileSync("sh", ["-c", "command -v bird"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("VIP: the BIRD configuration", () => {
  it("announces the VIP as a /32 with origin IGP to every peer, keepalive a third of the hold time, short retry timers", () => {
    const text = birdConfig("10.99.0.1", BGP, true);
    assert.match(text, /route 10\.99\.0\.1\/32 blackhole;/);
    assert.match(text, /disabled no;/);
    assert.equal(text.match(/protocol bgp peer\d/g)?.length, 2);
    assert.match(text, /neighbor 10\.0\.2\.1 as 65000;/);
    assert.match(text, /hold time 3;\n\s+keepalive time 1;/);
    assert.match(text, /connect delay time 0;\n\s+connect retry time 1;\n\s+error wait time 1, 5;/);
    assert.match(text, /bgp_origin = ORIGIN_IGP/);
    assert.doesNotMatch(text, /bfd/);
    assert.match(birdConfig("10.99.0.1", BGP, false), /disabled yes;/);
  });

  it("writes BFD when asked, /128 for an IPv6 VIP, and no keepalive time with hold time 0", () => {
    assert.match(birdConfig("10.99.0.1", everyPeer({ bfd: true }), true), /protocol bfd \{[^}]*multiplier 3;[\s\S]*bfd on;/);
    const v6 = birdConfig("2001:db8::99", { ...BGP, peers: [{ address: "2001:db8::1", asn: 65000, ...PEER_DEFAULTS }] }, true);
    assert.match(v6, /ipv6;\n\s+route 2001:db8::99\/128 blackhole;/);
    assert.doesNotMatch(birdConfig("10.99.0.1", everyPeer({ holdTimeSeconds: 0 }), true), /keepalive/);
    assert.match(birdConfig("10.99.0.1", everyPeer({ holdTimeSeconds: 90 }), true), /keepalive time 30;/);
  });

  it("gives each peer its own hold time and BFD, with BFD's timers when one peer has it", () => {
    const mixed = { ...BGP, peers: [{ ...BGP.peers[0], bfd: true }, { ...BGP.peers[1], holdTimeSeconds: 9 }] };
    const text = birdConfig("10.99.0.1", mixed, true);
    assert.match(text, /protocol bfd \{[^}]*min rx interval 100 ms;/);
    assert.match(peerBlock(text, 0), /hold time 3;\n\s+keepalive time 1;[\s\S]*bfd on;/);
    assert.match(peerBlock(text, 1), /hold time 9;\n\s+keepalive time 3;/);
    assert.doesNotMatch(peerBlock(text, 1), /bfd/);
    assert.doesNotMatch(birdConfig("10.99.0.1", { ...BGP, peers: [mixed.peers[1]] }, true), /protocol bfd/);
  });

  it("is accepted by BIRD 2 itself (bird -p) in every variant", async function () {
    skipUnlessPresent(this, birdInstalled() ? undefined : "bird is not installed (apt-get install bird2)");
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "dnlb-bird-conf-"));
    try {
      const variants = [
        birdConfig("10.99.0.1", BGP, true),
        birdConfig("10.99.0.1", everyPeer({ bfd: true, holdTimeSeconds: 0 }, { ...BGP, routerId: undefined }), false),
        birdConfig("10.99.0.1", { ...BGP, peers: [{ ...BGP.peers[0], bfd: true }, { ...BGP.peers[1], holdTimeSeconds: 65535 }] }, true),
        birdConfig("2001:db8::99", { ...BGP, peers: [{ address: "2001:db8::1", asn: 4_294_967_295, ...PEER_DEFAULTS }] }, true),
      ];
      for (const [i, text] of variants.entries()) {
        const file = path.join(dir, `bird${i}.conf`);
        await fs.writeFile(file, text);
        execFileSync("bird", ["-p", "-c", file], { stdio: "pipe" });
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe("VIP: birdc show protocols", () => {
  it("reads each BGP protocol's session state, Down when it shows none", () => {
    const output = [
      "BIRD 2.0.12 ready.",
      "Name       Proto      Table      State  Since         Info",
      "device1    Device     ---        up     18:13:25.960  ",
      "vip_route  Static     master4    down   18:13:25.960  ",
      "peer1      BGP        ---        start  18:13:25.960  Idle          ",
      "peer2      BGP        ---        up     18:13:27.001  Established   ",
      "peer3      BGP        ---        start  18:13:25.960  Active        Socket: Connection refused",
      "peer4      BGP        ---        down   18:13:25.960  ",
    ].join("\n");
    assert.deepEqual(
      parseProtocols(output),
      new Map([
        ["peer1", "Idle"],
        ["peer2", "Established"],
        ["peer3", "Active"],
        ["peer4", "Down"],
      ]),
    );
  });
});

describe("VIP: when the node announces", () => {
  const listening = { name: "web", port: 80, state: "Listening" };
  const cases: [string, boolean, { name: string; port: number; state: string; error?: string }[], boolean, RegExp][] = [
    ["every listener listening", false, [listening, { ...listening, name: "db", port: 5432, state: "NoBackend" }], true, /every listener is listening/],
    ["no listener", false, [], false, /no listener is configured/],
    ["a listener that cannot bind", false, [listening, { name: "db", port: 5432, state: "Failed", error: "port 5432 is in use" }], false, /listener db \(port 5432\) is not listening: port 5432 is in use/],
    ["draining", true, [listening], false, /draining/],
  ];
  for (const [what, draining, listeners, announced, reason] of cases) {
    it(`${what}: ${announced ? "announced" : "withdrawn"}`, () => {
      const result = announcement(draining, listeners);
      assert.equal(result.announced, announced);
      assert.match(result.reason, reason);
    });
  }
});

describe("VIP: the command line", () => {
  const base = ["--admin-listen", "127.0.0.1:0", "--state-dir", "/tmp/x"];
  const parse = (...args: string[]) => {
    const cli = parseCli([...base, ...args]);
    assert.notEqual(cli, "help");
    return cli as Exclude<ReturnType<typeof parseCli>, "help">;
  };

  it("binds the listeners to the VIP and reads the BGP flags with their defaults", () => {
    const cli = parse("--vip", "10.99.0.1", "--bgp-local-asn", "65001", "--bgp-peer", "10.0.1.1:65000", "--bgp-peer", "10.0.2.1:4294967295");
    assert.equal(cli.dataPlane.listenAddress, "10.99.0.1");
    assert.deepEqual(cli.vip, {
      address: "10.99.0.1",
      birdBinary: "bird",
      withdrawGraceMs: 2000,
      bgp: {
        localAsn: 65001,
        routerId: undefined,
        peers: [
          { address: "10.0.1.1", asn: 65000, holdTimeSeconds: 3, bfd: false },
          { address: "10.0.2.1", asn: 4_294_967_295, holdTimeSeconds: 3, bfd: false },
        ],
      },
    });
    const v6 = parse("--vip", "2001:db8::99", "--bgp-local-asn", "1", "--bgp-peer", "[2001:db8::1]:65000", "--bgp-bfd", "--bgp-hold-time", "0", "--withdraw-grace-seconds", "0.5");
    assert.deepEqual(v6.vip?.bgp?.peers, [{ address: "2001:db8::1", asn: 65000, holdTimeSeconds: 0, bfd: true }]);
    assert.equal(v6.vip?.withdrawGraceMs, 500);
    assert.equal(parse("--vip", "10.99.0.1").vip?.bgp, undefined);
    assert.equal(parse().vip, undefined);
    assert.equal(parse().dataPlane.listenAddress, "0.0.0.0");
  });

  it("takes each peer's hold time and BFD after its ASN, the global flags filling in what a peer leaves out", () => {
    const peers = (...args: string[]) => parse("--vip", "10.99.0.1", "--bgp-local-asn", "65001", ...args).vip?.bgp?.peers;
    assert.deepEqual(peers("--bgp-peer", "10.0.1.1:65000,hold=9,bfd=on", "--bgp-peer", "10.0.2.1:65000"), [
      { address: "10.0.1.1", asn: 65000, holdTimeSeconds: 9, bfd: true },
      { address: "10.0.2.1", asn: 65000, holdTimeSeconds: 3, bfd: false },
    ]);
    assert.deepEqual(peers("--bgp-hold-time", "30", "--bgp-bfd", "--bgp-peer", "10.0.1.1:65000,bfd=off", "--bgp-peer", "10.0.2.1:65000,hold=0"), [
      { address: "10.0.1.1", asn: 65000, holdTimeSeconds: 30, bfd: false },
      { address: "10.0.2.1", asn: 65000, holdTimeSeconds: 0, bfd: true },
    ]);
    const v6 = parse("--vip", "2001:db8::99", "--bgp-local-asn", "1", "--bgp-peer", "[2001:db8::1]:65000,bfd=on,hold=6");
    assert.deepEqual(v6.vip?.bgp?.peers, [{ address: "2001:db8::1", asn: 65000, holdTimeSeconds: 6, bfd: true }]);
  });

  const refused: [string[], RegExp][] = [
    [["--bgp-local-asn", "65001", "--bgp-peer", "10.0.1.1:65000"], /give --vip ADDRESS/],
    [["--vip", "vip.example"], /--vip must be an IPv4 or IPv6 address/],
    [["--vip", "10.99.0.1", "--listen-address", "0.0.0.0"], /--listen-address 0\.0\.0\.0 and --vip 10\.99\.0\.1 differ/],
    [["--vip", "10.99.0.1", "--bgp-peer", "10.0.1.1:65000"], /--bgp-local-asn N is required/],
    [["--vip", "10.99.0.1", "--bgp-local-asn", "65001"], /--bgp-peer ADDRESS:ASN is required/],
    [["--vip", "10.99.0.1", "--bgp-local-asn", "0", "--bgp-peer", "10.0.1.1:65000"], /--bgp-local-asn: the AS number must be an integer from 1 to 4294967295 \(got "0"\)/],
    [["--vip", "10.99.0.1", "--bgp-local-asn", "1", "--bgp-peer", "10.0.1.1:4294967296"], /--bgp-peer: the AS number/],
    [["--vip", "10.99.0.1", "--bgp-local-asn", "1", "--bgp-peer", "router:65000"], /--bgp-peer must be ADDRESS:ASN\[,hold=SECONDS\]\[,bfd=on\|off\] such as/],
    [["--vip", "10.99.0.1", "--bgp-local-asn", "1", "--bgp-peer", "10.0.1.1:65000,hold=2"], /--bgp-peer 10\.0\.1\.1:65000,hold=2: hold must be 0 \(no hold timer\) or an integer from 3 to 65535 seconds \(got "2"\)/],
    [["--vip", "10.99.0.1", "--bgp-local-asn", "1", "--bgp-peer", "10.0.1.1:65000,bfd"], /--bgp-peer 10\.0\.1\.1:65000,bfd: "bfd" is not a peer setting; a peer is ADDRESS:ASN\[,hold=SECONDS\]\[,bfd=on\|off\]/],
    [["--vip", "10.99.0.1", "--bgp-local-asn", "1", "--bgp-peer", "10.0.1.1:65000,keepalive=1"], /"keepalive=1" is not a peer setting/],
    [["--vip", "10.99.0.1", "--bgp-local-asn", "1", "--bgp-peer", "10.0.1.1:65000,hold=9,hold=6"], /--bgp-peer 10\.0\.1\.1:65000,hold=9,hold=6: hold is given twice/],
    [["--vip", "10.99.0.1", "--bgp-local-asn", "1", "--bgp-peer", "10.0.1.1:1", "--bgp-peer", "10.0.1.1:2"], /given twice/],
    [["--vip", "10.99.0.1", "--bgp-local-asn", "1", "--bgp-peer", "[2001:db8::1]:1"], /the VIP's address family/],
    [["--vip", "10.99.0.1", "--bgp-local-asn", "1", "--bgp-peer", "10.0.1.1:1", "--bgp-hold-time", "2"], /0 \(no hold timer\) or an integer from 3 to 65535/],
    [["--vip", "10.99.0.1", "--bgp-local-asn", "1", "--bgp-peer", "10.0.1.1:1", "--bgp-router-id", "::1"], /--bgp-router-id must be an IPv4 address/],
    [["--vip", "10.99.0.1", "--withdraw-grace-seconds", "700"], /--withdraw-grace-seconds must be a number from 0 to 600/],
  ];
  for (const [args, message] of refused) {
    it(`refuses ${args.join(" ")}`, () => assert.throws(() => parseCli([...base, ...args]), message));
  }
});
