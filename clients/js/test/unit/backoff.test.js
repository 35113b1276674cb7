// Back-off (docs/protocol.md, the `backoff` action): before attempt n, a wait uniform in
// [0, min(20 s, 0.5 s × 2^n)]: full jitter over a doubling range, the attempt count reset once
// the client is back in its room.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';

import { BACKOFF_MAX_MS, backoffDelay, SignightClient } from '../../signight.js';
import { fakeWebSocket, welcome } from '../support/fake.js';

/** A seeded PRNG (mulberry32): the same draws on every run. */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CAPS = [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000];

test('every draw of attempt n lies in [0, min(20 s, 0.5 s × 2^n)) and spreads over all of it', () => {
  const random = seeded(14);
  CAPS.forEach((cap, attempt) => {
    const draws = Array.from({ length: 10_000 }, () => backoffDelay(attempt, random));
    assert.ok(Math.min(...draws) >= 0, `attempt ${attempt} drew below 0`);
    assert.ok(Math.max(...draws) < cap, `attempt ${attempt} drew above ${cap}`);
    // Full jitter: uniform over the range, so the extremes are reached and the mean is half.
    assert.ok(Math.min(...draws) < cap * 0.01, `attempt ${attempt}: nothing near 0`);
    assert.ok(Math.max(...draws) > cap * 0.99, `attempt ${attempt}: nothing near ${cap}`);
    const mean = draws.reduce((a, b) => a + b) / draws.length;
    assert.ok(Math.abs(mean - cap / 2) < cap * 0.02, `attempt ${attempt}: mean ${mean}`);
  });
});

test('the range is the random draw times the cap: 0 gives 0, just under 1 gives just under the cap', () => {
  assert.equal(
    backoffDelay(0, () => 0),
    0,
  );
  assert.equal(
    backoffDelay(3, () => 0.5),
    2000,
  );
  assert.equal(
    backoffDelay(1000, () => 0.5),
    BACKOFF_MAX_MS / 2,
  );
  assert.ok(backoffDelay(2, () => 0.999999) < 2000);
});

let FakeSocket;
beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 });
  FakeSocket = fakeWebSocket();
});
afterEach(() => mock.timers.reset());

test('the client waits the drawn delay before each attempt, doubling, and starts over after a Welcome', async () => {
  const client = new SignightClient('ws://server/ws/', { WebSocket: FakeSocket, random: () => 0.5 });
  const statuses = [];
  client.on('status', (s) => statuses.push(s));
  const joined = client.join('r1', { name: 'Me' });
  FakeSocket.last.open();
  FakeSocket.last.receive(welcome());
  await joined;

  const delays = [];
  for (let attempt = 0; attempt < 8; attempt++) {
    FakeSocket.last.drop(1011, 'internal error');
    const status = statuses.at(-1);
    assert.deepEqual(status, {
      status: 'reconnecting',
      code: 1011,
      reason: 'internal error',
      action: 'backoff',
      attempt,
      delay: status.delay,
    });
    delays.push(status.delay);
    const sockets = FakeSocket.sockets.length;
    mock.timers.tick(status.delay - 1);
    assert.equal(FakeSocket.sockets.length, sockets, 'reconnected before the delay');
    mock.timers.tick(1);
    assert.equal(FakeSocket.sockets.length, sockets + 1, 'did not reconnect after the delay');
  }
  assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 8000, 10000, 10000]);

  FakeSocket.last.open();
  FakeSocket.last.receive({ ...welcome(), type: 'Resumed', recovered: true, missed: [] });
  FakeSocket.last.drop(1006);
  assert.equal(statuses.at(-1).attempt, 0);
  assert.equal(statuses.at(-1).delay, 250);
  client.close();
});
