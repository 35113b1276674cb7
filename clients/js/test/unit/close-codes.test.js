// The close-code table of the client is the server's (rooms/protocol/codes.py CLOSE_CODES, in
// the published schema as x-close-codes) plus 1006, and the client acts on each action.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, mock, test } from 'node:test';

import { CLOSE_ACTIONS, closeAction, SignightClient, SignightError } from '../../signight.js';
import { fakeWebSocket, welcome } from '../support/fake.js';

const SCHEMA = JSON.parse(readFileSync(new URL('../../../../docs/protocol.schema.json', import.meta.url)));

test("the table is the schema's x-close-codes plus 1006 (a drop: backoff)", () => {
  const published = Object.fromEntries(SCHEMA['x-close-codes'].map((row) => [row.code, row.action]));
  assert.deepEqual({ ...CLOSE_ACTIONS }, { ...published, 1006: 'backoff' });
});

test('a code the table does not name backs off', () => {
  assert.equal(closeAction(1005), 'backoff');
  assert.equal(closeAction(1012), 'backoff');
  assert.equal(closeAction(4999), 'backoff');
});

let FakeSocket;
beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 });
  FakeSocket = fakeWebSocket();
});
afterEach(() => mock.timers.reset());

async function inRoom(options = {}) {
  const client = new SignightClient('ws://server/ws/', {
    WebSocket: FakeSocket,
    random: () => 1,
    ...options,
  });
  const statuses = [];
  client.on('status', (s) => statuses.push(s));
  const joined = client.join('r1', { name: 'Me' });
  await Promise.resolve();
  FakeSocket.last.open();
  FakeSocket.last.receive(welcome());
  await joined;
  return { client, statuses };
}

for (const code of [1000, 1007, 1009, 4403, 4408, 4410, 4503]) {
  test(`close ${code} (${CLOSE_ACTIONS[code]}) stops: no reconnection, waiting promises rejected`, async () => {
    const { client, statuses } = await inRoom();
    const chat = client.chat('hello');
    FakeSocket.last.drop(code, 'bye');

    assert.deepEqual(statuses.at(-1), { status: 'closed', code, reason: 'bye', action: CLOSE_ACTIONS[code] });
    await assert.rejects(chat, (error) => error instanceof SignightError && error.code === 'closed');
    mock.timers.tick(60_000);
    assert.equal(FakeSocket.sockets.length, 1);
  });
}

test('close 1001 (a drain: resume) reconnects within 0.5 s and sends Resume first', async () => {
  const { statuses } = await inRoom({ random: () => 0.5 });
  FakeSocket.last.drop(1001, 'server shutting down; resume');

  assert.deepEqual(statuses.at(-1), {
    status: 'reconnecting',
    code: 1001,
    reason: 'server shutting down; resume',
    action: 'resume',
    attempt: 0,
    delay: 250,
  });
  mock.timers.tick(250);
  FakeSocket.last.open();
  assert.deepEqual(FakeSocket.last.messages()[0], {
    type: 'Resume',
    id: FakeSocket.last.messages()[0].id,
    resume_token: 'token-1',
    last_seq: 100,
  });
});

test('close 4401 (refresh_token) asks getToken for a new token and connects with it', async () => {
  const tokens = ['first', 'second'];
  const getToken = mock.fn(async () => tokens.shift());
  const { client } = await inRoom({ getToken });
  assert.deepEqual(FakeSocket.sockets[0].protocols, ['bearer', 'first']);

  FakeSocket.last.drop(4401, 'invalid token: expired');
  mock.timers.tick(500);
  await Promise.resolve();
  await Promise.resolve();

  assert.equal(getToken.mock.callCount(), 2);
  assert.deepEqual(FakeSocket.last.protocols, ['bearer', 'second']);
  client.close();
});

test('close 4401 without getToken stops', async () => {
  const { statuses } = await inRoom({ token: 'stale' });
  FakeSocket.last.drop(4401, 'invalid token: expired');

  assert.equal(statuses.at(-1).status, 'closed');
  assert.equal(statuses.at(-1).action, 'refresh_token');
});

test('a token goes in the subprotocol carrier, ["bearer", token]; none: no subprotocol', async () => {
  const withToken = new SignightClient('ws://server/ws/', { WebSocket: FakeSocket, token: 'a.b.c' });
  const first = withToken.join('r1', { name: 'Me' });
  assert.deepEqual(FakeSocket.last.protocols, ['bearer', 'a.b.c']);
  withToken.close();
  await assert.rejects(first, { code: 'closed' });

  const anonymous = new SignightClient('ws://server/ws/', { WebSocket: FakeSocket });
  const second = anonymous.join('r1', { name: 'Me' });
  assert.equal(FakeSocket.last.protocols, undefined);
  anonymous.close();
  await assert.rejects(second, { code: 'closed' });
});
