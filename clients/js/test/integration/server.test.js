// The client against a real server (`manage.py serve`) at SIGNIGHT_WS_URL, anonymous sockets
// (WS_AUTH_REQUIRED off) but for the Refresh test, which signs its tokens with the server's
// JWT_SECRET (as its environment has it, else DJANGO_DEBUG's default) and JWT_ISSUER.
// tests/clients/test_js_client.py starts the server and runs these; by hand:
// SIGNIGHT_WS_URL=ws://127.0.0.1:8080/ws/ npm test. Without the variable every test here
// fails (it never skips): a run that checked nothing must not look green.

import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { afterEach, test } from 'node:test';
import { WebSocket } from 'ws';

import { SignightClient, SignightError } from '../../signight.js';

const TIMEOUT = 10_000;
const STATE = { position: [0, 0, 0], rotation: [1, 0, 0, 0] };

function serverUrl() {
  const url = process.env.SIGNIGHT_WS_URL;
  if (!url) {
    throw new Error(
      'SIGNIGHT_WS_URL is not set: the integration tests need a running Signight server ' +
        '(`make test` starts one through tests/clients/test_js_client.py; by hand: ' +
        'SIGNIGHT_WS_URL=ws://127.0.0.1:8080/ws/ npm test, or npm run test:unit for the unit tests alone)',
    );
  }
  return url;
}

/** ws's WebSocket, recording every socket it opens and every message sent on it. */
function recordingWebSocket() {
  const sockets = [];
  class Recording extends WebSocket {
    constructor(...args) {
      super(...args);
      this.offered = args[1]; // the subprotocols: ['bearer', token] when it has a token
      this.messages = [];
      sockets.push(this);
    }

    send(data, ...rest) {
      this.messages.push(JSON.parse(data));
      return super.send(data, ...rest);
    }
  }
  return { Recording, sockets };
}

let opened = [];
afterEach(() => {
  for (const client of opened) client.close();
  opened = [];
});

function connect(options = {}) {
  const client = new SignightClient(serverUrl(), { WebSocket, ...options });
  opened.push(client);
  return client;
}

/**
 * An HS256 access token the server accepts: signed as signight/settings.py reads JWT_SECRET and
 * JWT_ISSUER (their DJANGO_DEBUG defaults when the environment has none), `exp` in Unix seconds.
 */
function jwt({ sub, exp }) {
  const secret = process.env.JWT_SECRET || 'insecure-dev-jwt-secret';
  const iat = Math.floor(Date.now() / 1000); // not in the future: that token is not valid yet
  const claims = { iss: process.env.JWT_ISSUER || 'https://auth.signite.com', sub, iat, exp };
  if (process.env.JWT_AUDIENCE) claims.aud = process.env.JWT_AUDIENCE;
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signed = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
}

function roomId() {
  return `js-${randomUUID().slice(0, 12)}`;
}

/** The next `type` event of `client` that `wanted` accepts. */
function next(client, type, wanted = () => true, ms = TIMEOUT) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${type} event within ${ms} ms`));
    }, ms);
    const off = client.on(type, (detail) => {
      if (!wanted(detail)) return;
      clearTimeout(timer);
      off();
      resolve(detail);
    });
  });
}

/** Every `type` event of `client` from now on. */
function record(client, type) {
  const seen = [];
  client.on(type, (detail) => seen.push(detail));
  return seen;
}

test('join resolves with the Welcome of protocol 1.1: the player is in room_state under its name', async () => {
  const room = roomId();
  const client = connect();
  const statuses = record(client, 'status');

  const welcome = await client.join(room, {
    name: 'Ada',
    color: '#FF0000',
    state: { ...STATE, position: [1, 2, 3] },
  });

  assert.equal(welcome.type, 'Welcome');
  assert.equal(welcome.protocol, '1.1');
  assert.equal(welcome.room_id, room);
  assert.equal(typeof welcome.resume_token, 'string');
  assert.equal(typeof welcome.limits.resume_grace, 'number');
  assert.deepEqual(welcome.room_state, [
    {
      client_id: welcome.client_id,
      state: { name: 'Ada', color: '#FF0000', position: [1, 2, 3], rotation: [1, 0, 0, 0] },
    },
  ]);
  assert.deepEqual(
    statuses.map((s) => s.status),
    ['connecting', 'open'],
  );
  assert.equal(client.clientId, welcome.client_id);
  assert.equal(client.seq, welcome.seq);
  assert.equal(client.tickRate, welcome.tick_rate);
});

test("an update reaches the other player as a state event from the server's StateUpdate", async () => {
  const room = roomId();
  const ada = connect();
  const bob = connect();
  await ada.join(room, { name: 'Ada' });
  const bobJoined = next(ada, 'joined');
  await bob.join(room, { name: 'Bob' });
  assert.equal((await bobJoined).client_id, bob.clientId);

  const seen = next(bob, 'state', (e) => e.client_id === ada.clientId && e.state.position[0] === 5);
  ada.update({ ...STATE, position: [5, 0, 0], velocity: [1, 0, 0] });
  const event = await seen;

  assert.deepEqual(event.state, {
    name: 'Ada',
    color: '#FFFFFF',
    position: [5, 0, 0],
    rotation: [1, 0, 0, 0],
    velocity: [1, 0, 0],
  });
  assert.equal(typeof event.server_time, 'number');
  assert.deepEqual(bob.interpolator.sample(ada.clientId, bob.serverNow() + 1000).position, [5, 0, 0]);
});

test('a chat resolves with its stored Chat frame (ref: its id), and the other player gets the same frame', async () => {
  const room = roomId();
  const ada = connect();
  const bob = connect();
  await ada.join(room, { name: 'Ada' });
  await bob.join(room, { name: 'Bob' });
  const heard = next(bob, 'chat');

  const frame = await ada.chat('hello\r\nworld  ', { id: 'chat-1' });

  assert.equal(frame.type, 'Chat');
  assert.equal(frame.ref, 'chat-1');
  assert.equal(frame.message, 'hello\nworld');
  assert.equal(frame.client_id, ada.clientId);
  assert.equal(frame.name, 'Ada');
  assert.match(frame.id, /^[0-9a-f]{24}$/);
  assert.deepEqual(await heard, frame);
  assert.equal(ada.seq, frame.seq);
  assert.equal(ada.chatHistory.at(-1).message, 'hello\nworld');
});

test('a chat sent again with the same id is stored once: the retry resolves with the first frame, heard once', async () => {
  const room = roomId();
  const ada = connect();
  const bob = connect();
  await ada.join(room, { name: 'Ada' });
  await bob.join(room, { name: 'Bob' });
  const heard = record(bob, 'chat');

  const first = await ada.chat('only once', { id: 'same-id' });
  const retry = await ada.chat('only once', { id: 'same-id' });
  await bob.chat('after');

  assert.deepEqual(retry, first);
  assert.deepEqual(
    heard.map((f) => f.message),
    ['only once', 'after'],
  );
  assert.deepEqual(
    ada.chatHistory.map((item) => item.message),
    ['only once', 'after'],
  );
});

test("an invalid room id rejects join() with the server's Error: invalid_message, tied to the Join by ref", async () => {
  const client = connect();
  const errors = record(client, 'error');

  await assert.rejects(client.join('not a room id!', { name: 'Ada' }), (error) => {
    assert.ok(error instanceof SignightError);
    assert.equal(error.code, 'invalid_message');
    assert.equal(error.frame.type, 'Error');
    assert.match(error.frame.message, /room_id/);
    assert.equal(typeof error.frame.ref, 'string');
    return true;
  });
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'invalid_message');
});

test("a refused chat rejects with the server's Error (an empty message: invalid_message)", async () => {
  const client = connect();
  await client.join(roomId(), { name: 'Ada' });
  await assert.rejects(client.chat('   '), { code: 'invalid_message' });
});

test('a Pong gives the round trip and the clock offset (same machine: about 0)', async () => {
  const client = connect();
  await client.join(roomId(), { name: 'Ada' });
  const deadline = Date.now() + TIMEOUT;
  while (client.rtt === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

  assert.ok(client.rtt !== null && client.rtt >= 0 && client.rtt < 1000, `rtt ${client.rtt}`);
  assert.ok(Math.abs(client.clockOffset) < 50 + client.rtt, `offset ${client.clockOffset}`);
  assert.ok(Math.abs(client.serverNow() - Date.now()) < 50 + client.rtt);
});

test('a refused token (subprotocol carrier) closes with 4401: the client asks getToken and reconnects with its answer', async () => {
  // This server runs without WS_AUTH_REQUIRED: a bad token is still refused, and no token at
  // all (getToken's answer here) is let in.
  const getToken = async () => {
    getToken.calls += 1;
    return null;
  };
  getToken.calls = 0;
  const client = connect({ token: 'not.a.jwt', getToken, random: () => 0 });
  const statuses = record(client, 'status');

  const welcome = await client.join(roomId(), { name: 'Ada' });

  assert.equal(welcome.type, 'Welcome');
  assert.equal(getToken.calls, 1);
  const refused = statuses.find((s) => s.status === 'reconnecting');
  assert.equal(refused.code, 4401);
  assert.equal(refused.action, 'refresh_token');
  assert.match(refused.reason, /^invalid token/);
});

test('close() leaves at once: the other player gets PlayerLeft', async () => {
  const room = roomId();
  const ada = connect();
  const bob = connect();
  await ada.join(room, { name: 'Ada' });
  await bob.join(room, { name: 'Bob' });
  const left = next(bob, 'left');
  const adaId = ada.clientId;

  ada.close();

  assert.equal((await left).client_id, adaId);
  assert.equal(bob.players.has(adaId), false);
});

test('a dropped socket is resumed: the client reconnects, sends Resume first, is resumed (recovered); the other player saw no PlayerLeft', async () => {
  const room = roomId();
  const { Recording, sockets } = recordingWebSocket();
  const ada = connect({ WebSocket: Recording, random: () => 0 });
  const bob = connect();
  await ada.join(room, { name: 'Ada' });
  const bobJoined = next(ada, 'joined');
  await bob.join(room, { name: 'Bob' });
  await bobJoined; // so nothing is missed: the Resumed's missed is empty
  const bobLeft = record(bob, 'left');
  const statuses = record(ada, 'status');
  const adaId = ada.clientId;
  const lastSeq = ada.seq;

  const resumed = next(ada, 'resumed');
  sockets[0].terminate(); // the TCP connection dies without a close frame: 1006 on both sides
  const chat = ada.chat('sent while away');
  const frame = await resumed;

  assert.equal(sockets.length, 2);
  const [first] = sockets[1].messages.filter((m) => m.type !== 'Ping');
  assert.deepEqual(first, {
    type: 'Resume',
    id: first.id,
    resume_token: first.resume_token,
    last_seq: lastSeq,
  });
  assert.equal(frame.recovered, true);
  assert.deepEqual(frame.missed, []);
  assert.equal(frame.client_id, adaId);
  assert.equal(ada.clientId, adaId);
  assert.notEqual(ada.resumeToken, first.resume_token, 'a Resumed brings a new token');
  assert.deepEqual(
    statuses.map((s) => [s.status, s.code, s.action]),
    [
      ['reconnecting', 1006, 'backoff'],
      ['resumed', undefined, undefined],
    ],
  );

  const heard = next(bob, 'chat', (f) => f.message === 'sent while away');
  assert.equal((await chat).message, 'sent while away');
  await heard;
  const moved = next(bob, 'state', (e) => e.client_id === adaId && e.state.position[0] === 9);
  ada.update({ ...STATE, position: [9, 0, 0] });
  await moved;
  assert.deepEqual(bobLeft, [], 'the other player was told nothing of the drop');
  assert.equal(bob.players.has(adaId), true);
});

test('resuming from a saved token (a page reload) brings the events missed meanwhile, as the same player', async () => {
  const room = roomId();
  const { Recording, sockets } = recordingWebSocket();
  const ada = connect({ WebSocket: Recording });
  const bob = connect();
  await ada.join(room, { name: 'Ada' });
  const bobJoined = next(ada, 'joined');
  await bob.join(room, { name: 'Bob' });
  await bobJoined;
  const bobLeft = record(bob, 'left');
  const saved = { id: ada.clientId, resumeToken: ada.resumeToken, lastSeq: ada.seq };
  sockets[0].terminate();
  ada.close(); // the page is gone: nothing reconnects this one
  const said = await bob.chat('while you were away');

  const again = connect();
  const chats = record(again, 'chat');
  const frame = await again.join(room, {
    name: 'Ada',
    resumeToken: saved.resumeToken,
    lastSeq: saved.lastSeq,
  });

  assert.equal(frame.type, 'Resumed');
  assert.equal(frame.recovered, true);
  assert.deepEqual(frame.missed, [said]);
  assert.deepEqual(chats, [said]);
  assert.equal(again.clientId, saved.id);
  assert.equal(again.seq, said.seq);
  assert.deepEqual(bobLeft, []);
});

test('a resume token the server refuses (resume_failed) falls back to a Join of the room', async () => {
  const room = roomId();
  const client = connect();
  const errors = record(client, 'error');

  const frame = await client.join(room, { name: 'Ada', resumeToken: 'not-a-token', lastSeq: 0 });

  assert.equal(frame.type, 'Welcome');
  assert.equal(frame.room_id, room);
  assert.deepEqual(
    errors.map((e) => e.code),
    ['resume_failed'],
  );
  assert.equal(client.status, 'open');
});

test('a Refresh with a later token of the same subject is answered Refreshed at its expiry, and the next socket connects with it; others are refused (refresh_failed)', async () => {
  const subject = `js-${randomUUID()}`;
  const now = Math.floor(Date.now() / 1000);
  const { Recording, sockets } = recordingWebSocket();
  const client = connect({
    WebSocket: Recording,
    token: jwt({ sub: subject, exp: now + 300 }),
    random: () => 0,
  });
  const welcome = await client.join(roomId(), { name: 'Ada' });
  const refreshes = record(client, 'refreshed');
  const errors = record(client, 'error');
  const later = jwt({ sub: subject, exp: now + 900 });

  const frame = await client.refresh(later);

  assert.deepEqual(frame, { type: 'Refreshed', at: new Date((now + 900) * 1000).toISOString() });
  assert.deepEqual(refreshes, [frame]);
  const [sent] = sockets[0].messages.filter((m) => m.type === 'Refresh');
  assert.deepEqual(sent, { type: 'Refresh', id: sent.id, token: later });
  await assert.rejects(client.refresh(jwt({ sub: subject, exp: now + 600 })), { code: 'refresh_failed' });
  await assert.rejects(client.refresh(jwt({ sub: `${subject}-other`, exp: now + 1200 })), {
    code: 'refresh_failed',
  });
  assert.deepEqual(
    errors.map((e) => e.code),
    ['refresh_failed', 'refresh_failed'],
  );

  const resumed = next(client, 'resumed');
  sockets[0].terminate();
  assert.equal((await resumed).client_id, welcome.client_id);
  assert.deepEqual(sockets[1].offered, ['bearer', later]);
});
