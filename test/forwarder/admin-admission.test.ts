import { strict as assert } from "node:assert";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { ConnectionAdmission } from "../../provider/forwarder/admin/admission";

/** A socket as ConnectionAdmission sees it: an address, `destroy`, and a 'close' event. */
class FakeSocket extends EventEmitter {
  destroyed = false;
  constructor(readonly remoteAddress: string) {
    super();
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      queueMicrotask(() => this.emit("close"));
    }
    return this;
  }
}

function open(admission: ConnectionAdmission, address: string): FakeSocket {
  const socket = new FakeSocket(address);
  admission.admit(socket as unknown as Socket);
  return socket;
}

describe("admin API: who gets a connection when all are taken", () => {
  it("a new client closes the oldest waiting connection of the address holding the most", () => {
    const admission = new ConnectionAdmission({ maxConnections: 4 });
    const flood = [open(admission, "10.0.0.1"), open(admission, "10.0.0.1"), open(admission, "10.0.0.1")];
    const other = open(admission, "10.0.0.2");
    const newcomer = open(admission, "10.0.0.3");
    assert.deepEqual(flood.map((s) => s.destroyed), [true, false, false]);
    assert.equal(other.destroyed, false);
    assert.equal(newcomer.destroyed, false);
    assert.deepEqual(admission.counts(), { open: 4, waiting: 4, evicted: 1, refused: 0 });
  });

  it("a client sharing the flood's address gets in too, at the cost of that address's oldest", () => {
    const admission = new ConnectionAdmission({ maxConnections: 3 });
    const flood = [open(admission, "10.0.0.1"), open(admission, "10.0.0.1"), open(admission, "10.0.0.1")];
    const sameAddress = open(admission, "10.0.0.1");
    assert.equal(sameAddress.destroyed, false);
    assert.deepEqual(flood.map((s) => s.destroyed), [true, false, false]);
  });

  it("never closes a connection inside a request: the new one is closed when all are", () => {
    const admission = new ConnectionAdmission({ maxConnections: 2 });
    const busy = [open(admission, "10.0.0.1"), open(admission, "10.0.0.2")];
    for (const s of busy) admission.requestStarted(s as unknown as Socket);
    const newcomer = open(admission, "10.0.0.3");
    assert.equal(newcomer.destroyed, true);
    assert.deepEqual(busy.map((s) => s.destroyed), [false, false]);
    assert.deepEqual(admission.counts(), { open: 2, waiting: 0, evicted: 0, refused: 1 });
    // A finished request waits again (for keep-alive), as the newest: it gives way to the next client.
    admission.requestEnded(busy[0] as unknown as Socket);
    assert.equal(open(admission, "10.0.0.3").destroyed, false);
    assert.equal(busy[0].destroyed, true);
  });

  it("forgets closed connections", async () => {
    const admission = new ConnectionAdmission({ maxConnections: 2 });
    open(admission, "10.0.0.1").destroy();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(admission.counts(), { open: 0, waiting: 0, evicted: 0, refused: 0 });
  });

  it("refuses a limit below 1", () => {
    assert.throws(() => new ConnectionAdmission({ maxConnections: 0 }), /maxConnections must be an integer >= 1, got 0/);
  });
});
