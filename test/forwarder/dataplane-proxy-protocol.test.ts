import { strict as assert } from "node:assert";
import {
  encodeProxyHeader,
  encodeProxyV1,
  encodeProxyV2,
  PROXY_V2_SIGNATURE,
  unmapIPv4,
} from "../../provider/forwarder/dataplane/proxy-protocol";

/** Byte layouts from the PROXY protocol specification (haproxy doc/proxy-protocol.txt, sections 2.1 and 2.2). */
describe("PROXY protocol encoder", () => {
  const v4 = { sourceAddress: "192.168.0.1", sourcePort: 56324, destinationAddress: "192.168.0.11", destinationPort: 443 };

  it("v1 TCP4 is the spec's example line", () => {
    // Spec 2.1: "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
    assert.equal(encodeProxyV1(v4).toString("latin1"), "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
  });

  it("v1 TCP6 keeps the addresses' text and stays under 108 bytes for the longest addresses", () => {
    const line = encodeProxyV1({
      sourceAddress: "2001:db8::1",
      sourcePort: 1,
      destinationAddress: "2001:db8::2",
      destinationPort: 65535,
    }).toString("latin1");
    assert.equal(line, "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n");
    const longest = encodeProxyV1({
      sourceAddress: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      sourcePort: 65535,
      destinationAddress: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      destinationPort: 65535,
    });
    assert.equal(longest.length, 104);
    assert.ok(longest.length <= 107, "the spec's maximum v1 header is 107 bytes");
  });

  it("v2 TCP4: signature, 0x21, 0x11, length 12, addresses and ports big-endian", () => {
    const header = encodeProxyV2(v4);
    const expected = Buffer.from([
      // signature \r\n\r\n\0\r\nQUIT\n
      0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
      0x21, // version 2, command PROXY
      0x11, // AF_INET, STREAM
      0x00, 0x0c, // 12 bytes follow
      192, 168, 0, 1, // source address
      192, 168, 0, 11, // destination address
      0xdc, 0x04, // 56324
      0x01, 0xbb, // 443
    ]);
    assert.deepEqual(header, expected);
    assert.deepEqual(header.subarray(0, 12), PROXY_V2_SIGNATURE);
  });

  it("v2 TCP6: family 0x21, length 36, 16-byte addresses", () => {
    const header = encodeProxyV2({
      sourceAddress: "2001:db8::1",
      sourcePort: 1000,
      destinationAddress: "fe80::a:b",
      destinationPort: 2000,
    });
    assert.equal(header.length, 16 + 36);
    assert.equal(header[12], 0x21);
    assert.equal(header[13], 0x21);
    assert.equal(header.readUInt16BE(14), 36);
    assert.deepEqual(
      header.subarray(16, 32),
      Buffer.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01]),
    );
    assert.deepEqual(header.subarray(32, 48), Buffer.from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0, 0x0b]));
    assert.equal(header.readUInt16BE(48), 1000);
    assert.equal(header.readUInt16BE(50), 2000);
  });

  it("presents IPv4-mapped IPv6 endpoints (a dual-stack listener's view of an IPv4 client) as IPv4", () => {
    const mapped = {
      sourceAddress: "::ffff:10.1.2.3",
      sourcePort: 40000,
      destinationAddress: "::FFFF:10.0.0.5",
      destinationPort: 80,
    };
    assert.equal(encodeProxyV1(mapped).toString("latin1"), "PROXY TCP4 10.1.2.3 10.0.0.5 40000 80\r\n");
    const v2 = encodeProxyV2(mapped);
    assert.equal(v2[13], 0x11);
    assert.deepEqual([...v2.subarray(16, 24)], [10, 1, 2, 3, 10, 0, 0, 5]);
    assert.equal(unmapIPv4("::ffff:1.2.3.4"), "1.2.3.4");
    assert.equal(unmapIPv4("::ffff:abcd"), "::ffff:abcd", "a hex-form tail is left alone");
    assert.equal(unmapIPv4("2001:db8::1"), "2001:db8::1");
  });

  it("maps the IPv4 end into IPv6 when the two ends differ in family", () => {
    const mixed = { sourceAddress: "10.0.0.1", sourcePort: 1, destinationAddress: "2001:db8::5", destinationPort: 2 };
    assert.equal(encodeProxyV1(mixed).toString("latin1"), "PROXY TCP6 ::ffff:10.0.0.1 2001:db8::5 1 2\r\n");
    const v2 = encodeProxyV2(mixed);
    assert.equal(v2[13], 0x21);
    assert.deepEqual([...v2.subarray(16, 32)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]);
  });

  it("drops an IPv6 zone and refuses text that is not an address", () => {
    assert.equal(
      encodeProxyV1({ sourceAddress: "fe80::1%lo", sourcePort: 1, destinationAddress: "fe80::2", destinationPort: 2 }).toString("latin1"),
      "PROXY TCP6 fe80::1 fe80::2 1 2\r\n",
    );
    assert.throws(() => encodeProxyV2({ ...v4, sourceAddress: "example.com" }), /not an IP address/);
    assert.throws(() => encodeProxyV1({ ...v4, sourcePort: 70000 }), /bad port/);
  });

  it("encodeProxyHeader picks the version", () => {
    assert.deepEqual(encodeProxyHeader("v1", v4), encodeProxyV1(v4));
    assert.deepEqual(encodeProxyHeader("v2", v4), encodeProxyV2(v4));
  });
});
