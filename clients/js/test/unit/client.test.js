// SignightClient against a fake socket: joining, update() coalesced to the tick, chat matched
// by ref and retried with the same id, seq tracking and Resume after a drop, keepalive and the
// clock. The same rules against a real server: integration.test.js.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';

import { SignightClient, SignightError } from '../../signight.js';
import {
  chatFrame,
  chatItem,
  fakeWebSocket,
  playerJoined,
  playerLeft,
  record,
  resumed,
  STATE,
  welcome,
} from '../support/fake.js';

const T0 = 1_000_000;
let FakeSocket;
let clients;

beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: T0 });
  FakeSocket = fakeWebSocket();
  clients = [];
});

afterEach(() => {
  for (const client of clients) client.close();
  mock.timers.reset();
});

function newClient(options = {}) {
  const client = new SignightClient('ws://server/ws/', {
    WebSocket: FakeSocket,
    random: () => 1,
    ...options,
  });
  clients.push(client);
  return client;
}

/** A client in room r1 (Welcome seq 100, tick rate 20), and its socket. */
async function joined(options = {}, frame = welcome()) {
  const client = newClient(options);
  const join = client.join('r1', { name: 'Me', color: '#FF0000' });
  FakeSocket.last.open();
  FakeSocket.last.receive(frame);
  await join;
  return { client, socket: FakeSocket.last };
}

/** Drop the socket, wait out the back-off (attempt 0, random 1: 0.5 s), open the next one. */
function reconnect(code = 1006) {
  FakeSocket.last.drop(code);
  mock.timers.tick(500);
  FakeSocket.last.open();
  return FakeSocket.last;
}

// --- joining -----------------------------------------------------------------------------------

test('join sends Join with an id and resolves with the Welcome; the client holds the room', async () => {
  const client = newClient();
  const statuses = record(client, 'status');
  const welcomes = record(client, 'welcome');
  const join = client.join('r1', { name: 'Me', color: '#FF0000', state: STATE });
  FakeSocket.last.open();
  const [sent] = FakeSocket.last.messages();
  assert.deepEqual(sent, {
    type: 'Join',
    id: sent.id,
    room_id: 'r1',
    name: 'Me',
    color: '#FF0000',
    state: STATE,
  });
  assert.equal(FakeSocket.last.sent[1].type, 'Ping');

  const frame = welcome({ chat_history: [chatItem(99)] });
  FakeSocket.last.receive(frame);

  assert.deepEqual(await join, frame);
  assert.deepEqual(welcomes, [frame]);
  assert.deepEqual(
    statuses.map((s) => s.status),
    ['connecting', 'open'],
  );
  assert.equal(client.clientId, 'me');
  assert.equal(client.roomId, 'r1');
  assert.equal(client.seq, 100);
  assert.equal(client.resumeToken, 'token-1');
  assert.equal(client.tickRate, 20);
  assert.deepEqual([...client.players.keys()], ['me', 'bob']);
  assert.equal(client.chatHistory.length, 1);
});

test("a refused Join rejects join() with the server's Error frame (matched by ref) and emits error", async () => {
  const client = newClient();
  const errors = record(client, 'error');
  const join = client.join('bad room', { name: 'Me' });
  FakeSocket.last.open();
  const frame = {
    type: 'Error',
    code: 'invalid_message',
    message: 'room_id: 1–64 of A–Z a–z 0–9 _ -',
    ref: FakeSocket.last.messages('Join')[0].id,
  };
  FakeSocket.last.receive(frame);

  await assert.rejects(join, (error) => {
    assert.ok(error instanceof SignightError);
    assert.equal(error.code, 'invalid_message');
    assert.deepEqual(error.frame, frame);
    return true;
  });
  assert.deepEqual(errors, [frame]);
});

test('join without a name rejects at once', async () => {
  await assert.rejects(newClient().join('r1'), TypeError);
});

// --- update() coalescing -------------------------------------------------------------------------

test('update() every frame (60 Hz) sends at most one Update per tick (20 Hz), always the latest', async () => {
  const { client, socket } = await joined();
  const frames = [];
  for (let i = 0; i < 60; i++) {
    client.update({ ...STATE, position: [i, 0, 0] });
    frames.push({ at: Date.now(), x: i });
    mock.timers.tick(1000 / 60);
  }
  mock.timers.tick(50);
  const updates = socket.messages('Update');

  assert.ok(updates.length >= 20 && updates.length <= 21, `${updates.length} Updates in 1 s at 20 Hz`);
  assert.equal(updates[0].state.position[0], 0, 'the first one goes at once');
  assert.equal(updates.at(-1).state.position[0], 59, 'the last one given is sent');
  const xs = updates.map((u) => u.state.position[0]);
  assert.deepEqual(
    xs,
    [...xs].sort((a, b) => a - b),
  );
  assert.deepEqual(updates[1], {
    type: 'Update',
    state: { ...STATE, position: [updates[1].state.position[0], 0, 0] },
  });
});

test('the Updates are spaced by the tick the Welcome announced', async () => {
  const { client, socket } = await joined({}, welcome({ tick_rate: 10 }));
  const sentAt = [];
  const send = socket.send.bind(socket);
  socket.send = (text) => {
    if (text.includes('"Update"')) sentAt.push(Date.now() - T0);
    send(text);
  };
  for (let i = 0; i < 100; i++) {
    client.update(STATE);
    mock.timers.tick(10);
  }
  assert.deepEqual(sentAt, [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
});

test('update() before the Welcome is held and sent once in the room', async () => {
  const client = newClient();
  const join = client.join('r1', { name: 'Me' });
  client.update({ ...STATE, position: [7, 0, 0] });
  FakeSocket.last.open();
  assert.deepEqual(FakeSocket.last.messages('Update'), []);
  FakeSocket.last.receive(welcome());
  await join;
  assert.deepEqual(FakeSocket.last.messages('Update'), [
    { type: 'Update', state: { ...STATE, position: [7, 0, 0] } },
  ]);
});

// --- chat -------------------------------------------------------------------------------------

test('chat() resolves with the echo whose ref is its id, whatever order the echoes come in', async () => {
  const { client, socket } = await joined();
  const chats = record(client, 'chat');
  const first = client.chat('one');
  const second = client.chat('two');
  const [a, b] = socket.messages('Chat');
  assert.deepEqual(a, { type: 'Chat', id: a.id, message: 'one' });
  assert.notEqual(a.id, b.id);

  const other = chatFrame(101, { ref: 'someone-elses-id' });
  const echoB = chatFrame(102, { client_id: 'me', message: 'two', ref: b.id });
  const echoA = chatFrame(103, { client_id: 'me', message: 'one', ref: a.id });
  socket.receive(other);
  socket.receive(echoB);
  socket.receive(echoA);

  assert.deepEqual(await first, echoA);
  assert.deepEqual(await second, echoB);
  assert.deepEqual(chats, [other, echoB, echoA]);
  assert.equal(client.seq, 103);
  assert.deepEqual(
    client.chatHistory.map((item) => item.message),
    ['message 101', 'two', 'one'],
  );
});

test("a refused chat rejects with the server's Error, and only that chat", async () => {
  const { client, socket } = await joined();
  const refused = client.chat('too fast');
  const fine = client.chat('ok');
  const [a, b] = socket.messages('Chat');
  const error = { type: 'Error', code: 'rate_limited', message: 'chat rate limit reached', ref: a.id };
  socket.receive(error);
  socket.receive(chatFrame(101, { client_id: 'me', ref: b.id }));

  await assert.rejects(refused, (e) => {
    assert.ok(e instanceof SignightError);
    assert.deepEqual(e.frame, error);
    assert.equal(e.until, null);
    return true;
  });
  assert.equal((await fine).ref, b.id);
});

test("a muted player's chat rejects with code muted and the Error's until: when the mute ends", async () => {
  const { client, socket } = await joined();
  const errors = record(client, 'error');
  const chat = client.chat('hello?');
  const [sent] = socket.messages('Chat');
  const error = {
    type: 'Error',
    code: 'muted',
    message: 'an operator muted you in this room until 2026-01-01T00:10:00.000Z',
    ref: sent.id,
    until: '2026-01-01T00:10:00.000Z',
  };
  socket.receive(error);

  await assert.rejects(chat, (e) => {
    assert.ok(e instanceof SignightError);
    assert.equal(e.code, 'muted');
    assert.equal(e.until, '2026-01-01T00:10:00.000Z');
    assert.equal(e.ref, sent.id);
    assert.deepEqual(e.frame, error);
    return true;
  });
  assert.deepEqual(errors, [error]);
  assert.equal(client.roomId, 'r1', 'still in the room');
});

test('a chat with no echo before a drop is sent again with the same id after the Resume', async () => {
  const { client } = await joined();
  const chat = client.chat('hello');
  const [sent] = FakeSocket.last.messages('Chat');
  const socket = reconnect();
  assert.deepEqual(
    socket.messages().map((m) => m.type),
    ['Resume'],
    'nothing before the Resumed',
  );
  socket.receive(resumed());

  const [again] = socket.messages('Chat');
  assert.deepEqual(again, sent);
  const echo = chatFrame(101, { client_id: 'me', message: 'hello', ref: sent.id });
  socket.receive(echo);
  assert.deepEqual(await chat, echo);
});

test("a chat whose echo is in the Resumed's missed events resolves and is not sent again", async () => {
  const { client } = await joined();
  const chat = client.chat('hello');
  const [sent] = FakeSocket.last.messages('Chat');
  const socket = reconnect();
  const echo = chatFrame(101, { client_id: 'me', message: 'hello', ref: sent.id });
  socket.receive(resumed({ seq: 101, missed: [echo] }));

  assert.deepEqual(await chat, echo);
  assert.deepEqual(socket.messages('Chat'), []);
});

test('the answer to a retried chat resolves it even with an old seq (the first frame again)', async () => {
  const { client } = await joined();
  const chat = client.chat('hello');
  const [sent] = FakeSocket.last.messages('Chat');
  const chats = record(client, 'chat');
  const socket = reconnect();
  socket.receive(resumed({ seq: 120 }));
  const echo = chatFrame(110, { client_id: 'me', message: 'hello', ref: sent.id });
  socket.receive(echo);

  assert.deepEqual(await chat, echo);
  assert.deepEqual(chats, [], 'an event at or below the seq seen is not emitted again');
});

test('a chat while reconnecting waits for the room', async () => {
  const { client } = await joined();
  FakeSocket.last.drop(1006);
  const chat = client.chat('later');
  mock.timers.tick(500);
  const socket = FakeSocket.last;
  socket.open();
  assert.deepEqual(socket.messages('Chat'), []);
  socket.receive(resumed());
  const [sent] = socket.messages('Chat');
  socket.receive(chatFrame(101, { client_id: 'me', message: 'later', ref: sent.id }));
  assert.equal((await chat).message, 'later');
});

test('ChatRedacted takes the message out of chatHistory, by id, and emits chatRedacted; the seq is not an event', async () => {
  const { client, socket } = await joined({}, welcome({ chat_history: [chatItem(98), chatItem(99)] }));
  const redactions = record(client, 'chatRedacted');
  socket.receive(chatFrame(101));
  const frame = { type: 'ChatRedacted', id: chatFrame(99).id, room_id: 'r1', seq: 99 };
  socket.receive(frame);
  socket.receive({ type: 'ChatRedacted', id: chatFrame(101).id, room_id: 'elsewhere', seq: 101 });

  assert.deepEqual(redactions, [frame]);
  assert.deepEqual(
    client.chatHistory.map((item) => item.message),
    ['message 98', 'message 101'],
  );
  assert.equal(client.seq, 101);
});

test('chat() before any join rejects at once: not_in_room', async () => {
  await assert.rejects(newClient().chat('hi'), { code: 'not_in_room' });
});

// --- events and seq ----------------------------------------------------------------------------

test('PlayerJoined, PlayerLeft and Chat update the room and the highest seq; duplicates and other rooms are dropped', async () => {
  const { client, socket } = await joined();
  const joinedEvents = record(client, 'joined');
  const left = record(client, 'left');
  socket.receive(playerJoined(101, 'eve'));
  socket.receive(playerJoined(101, 'eve'));
  socket.receive({ ...playerJoined(150, 'mallory'), room_id: 'elsewhere' });
  socket.receive(playerLeft(102, 'bob'));

  assert.deepEqual(
    joinedEvents.map((f) => f.client_id),
    ['eve'],
  );
  assert.deepEqual(
    left.map((f) => f.client_id),
    ['bob'],
  );
  assert.deepEqual([...client.players.keys()], ['me', 'eve']);
  assert.equal(client.seq, 102);
});

test("StateUpdate: a state event per remote player (not one's own), fed to the interpolator", async () => {
  const { client, socket } = await joined();
  const states = record(client, 'state');
  const bob = { name: 'Bob', position: [5, 0, 0], rotation: [1, 0, 0, 0] };
  const me = { name: 'Me', position: [9, 9, 9], rotation: [1, 0, 0, 0] };
  socket.receive({
    type: 'StateUpdate',
    room_id: 'r1',
    tick: 7,
    server_time: T0 + 50,
    players: [
      { client_id: 'bob', state: bob },
      { client_id: 'me', state: me },
    ],
  });

  assert.deepEqual(states, [{ client_id: 'bob', state: bob, server_time: T0 + 50, tick: 7 }]);
  assert.deepEqual(client.players.get('bob'), bob);
  assert.deepEqual(client.players.get('me'), me);
  assert.deepEqual(client.interpolator.sample('bob', T0 + 1000).position, [5, 0, 0]);
  assert.equal(client.interpolator.sample('me', T0 + 1000), undefined);
});

// --- resume -----------------------------------------------------------------------------------

test('after a drop it reconnects and sends Resume first, with the resume token and the highest seq seen', async () => {
  const { client, socket } = await joined();
  const statuses = record(client, 'status');
  socket.receive(playerJoined(101, 'eve'));
  socket.receive(chatFrame(102));
  socket.receive(playerLeft(103, 'eve'));
  const next = reconnect();

  const [first, ...rest] = next.messages();
  assert.deepEqual(first, { type: 'Resume', id: first.id, resume_token: 'token-1', last_seq: 103 });
  assert.deepEqual(rest, []);
  assert.deepEqual(
    statuses.map((s) => s.status),
    ['reconnecting'],
    'not open until resumed',
  );
  assert.deepEqual(statuses[0], {
    status: 'reconnecting',
    code: 1006,
    reason: '',
    action: 'backoff',
    attempt: 0,
    delay: 500,
  });
});

test('Resumed (recovered): its missed events are applied in order, once; its token replaces the old one', async () => {
  const { client } = await joined();
  FakeSocket.last.receive(playerJoined(101, 'eve'));
  const socket = reconnect();
  const statuses = record(client, 'status');
  const events = [];
  for (const type of ['joined', 'left', 'chat']) client.on(type, (f) => events.push(`${type} ${f.seq}`));
  const resumes = record(client, 'resumed');
  const frame = resumed({
    seq: 104,
    missed: [playerJoined(101, 'eve'), playerLeft(102, 'bob'), chatFrame(103), playerJoined(104, 'zed')],
    room_state: [
      { client_id: 'me', state: STATE },
      { client_id: 'eve', state: STATE },
      { client_id: 'zed', state: STATE },
    ],
  });
  socket.receive(frame);

  assert.deepEqual(events, ['left 102', 'chat 103', 'joined 104']);
  assert.deepEqual(resumes, [frame]);
  assert.deepEqual(statuses, [{ status: 'resumed', recovered: true }]);
  assert.equal(client.seq, 104);
  assert.equal(client.resumeToken, 'token-2');
  assert.deepEqual([...client.players.keys()], ['me', 'eve', 'zed']);
});

test('Resumed (not recovered): room_state and chat_history replace the world, seq is its own', async () => {
  const { client } = await joined();
  const socket = reconnect();
  const history = [chatItem(500)];
  socket.receive(
    resumed({
      recovered: false,
      seq: 900,
      room_state: [{ client_id: 'me', state: STATE }],
      chat_history: history,
    }),
  );
  assert.equal(client.seq, 900);
  assert.deepEqual([...client.players.keys()], ['me']);
  assert.deepEqual(client.chatHistory, history);
});

test('resume_failed: it falls back to a Join of the same room, as the same name, where it last was', async () => {
  const { client } = await joined();
  client.update({ ...STATE, position: [3, 0, 0] });
  const socket = reconnect();
  const statuses = record(client, 'status');
  const [resume] = socket.messages();
  socket.receive({
    type: 'Error',
    code: 'resume_failed',
    message: 'the resume token is not valid; send a Join',
    ref: resume.id,
  });

  const [, join] = socket.messages();
  assert.deepEqual(join, {
    type: 'Join',
    id: join.id,
    room_id: 'r1',
    name: 'Me',
    color: '#FF0000',
    state: { ...STATE, position: [3, 0, 0] },
  });
  socket.receive(welcome({ seq: 300, client_id: 'me-again' }));
  assert.deepEqual(
    statuses.map((s) => s.status),
    ['open'],
  );
  assert.equal(client.clientId, 'me-again');
  assert.equal(client.seq, 300);
});

test('past limits.resume_grace it joins again instead of resuming', async () => {
  await joined({}, welcome({ limits: { ...welcome().limits, resume_grace: 1 } }));
  FakeSocket.last.drop(1006); // attempt 0: 0.5 s
  mock.timers.tick(500);
  FakeSocket.last.drop(1006); // never opened; attempt 1: 1 s
  mock.timers.tick(1000);
  FakeSocket.last.open();
  assert.deepEqual(
    FakeSocket.last.messages().map((m) => m.type),
    ['Join'],
  );
});

test('join() with a saved resume token (a page reload) resumes, and resolves with the Resumed', async () => {
  const client = newClient();
  const join = client.join('r1', { name: 'Me', resumeToken: 'saved', lastSeq: 42 });
  FakeSocket.last.open();
  const [resume] = FakeSocket.last.messages();
  assert.deepEqual(resume, { type: 'Resume', id: resume.id, resume_token: 'saved', last_seq: 42 });
  const frame = resumed({ seq: 43, missed: [chatFrame(43)] });
  const chats = record(client, 'chat');
  FakeSocket.last.receive(frame);
  assert.deepEqual(await join, frame);
  assert.equal(chats.length, 1);
});

test('join() with a spent resume token resolves with the Welcome of the Join it falls back to', async () => {
  const client = newClient();
  const join = client.join('r1', { name: 'Me', resumeToken: 'spent', lastSeq: 42 });
  FakeSocket.last.open();
  const [resume] = FakeSocket.last.messages();
  FakeSocket.last.receive({ type: 'Error', code: 'resume_failed', message: 'used', ref: resume.id });
  assert.equal(FakeSocket.last.messages()[1].type, 'Join');
  const frame = welcome();
  FakeSocket.last.receive(frame);
  assert.deepEqual(await join, frame);
});

test('leave() sends Leave and forgets the room and its token: a drop afterwards resumes nothing', async () => {
  const { client, socket } = await joined();
  client.leave();
  assert.equal(socket.messages().at(-1).type, 'Leave');
  assert.equal(client.roomId, null);
  assert.equal(client.resumeToken, null);
  const next = reconnect();
  assert.deepEqual(next.messages(), []);
  await assert.rejects(client.chat('hi'), { code: 'not_in_room' });
});

test('RoomClosed: the client is out of the room (no token to resume), its chat rejects (room_closed), the socket stays open', async () => {
  const { client, socket } = await joined();
  const closed = record(client, 'roomClosed');
  const statuses = record(client, 'status');
  const chat = client.chat('anyone?');
  const [sent] = socket.messages('Chat');
  const frame = { type: 'RoomClosed', room_id: 'r1', reason: 'closed by an operator' };
  socket.receive(frame);

  assert.deepEqual(closed, [frame]);
  assert.equal(client.roomId, null);
  assert.equal(client.resumeToken, null);
  assert.equal(client.seq, null);
  assert.equal(client.players.size, 0);
  await assert.rejects(chat, (e) => {
    assert.ok(e instanceof SignightError);
    assert.equal(e.code, 'room_closed');
    assert.equal(e.ref, sent.id);
    return true;
  });
  assert.equal(client.status, 'open');
  assert.deepEqual(statuses, []);
  assert.equal(socket.closedWith, undefined);
  client.update(STATE);
  mock.timers.tick(1000);
  assert.deepEqual(
    socket.messages().map((m) => m.type),
    ['Join', 'Chat'],
    'no Update: nothing is in a room',
  );

  const next = reconnect();
  assert.deepEqual(next.messages(), [], 'neither Resume nor Join into the closed room');
  await assert.rejects(client.chat('hi'), { code: 'not_in_room' });
  client.leave();
  assert.deepEqual(next.messages(), [], 'no Leave either');
});

test('RoomClosed of another room than the client is in changes nothing', async () => {
  const { client, socket } = await joined();
  const closed = record(client, 'roomClosed');
  socket.receive({ type: 'RoomClosed', room_id: 'elsewhere', reason: 'closed by an operator' });

  assert.deepEqual(closed, []);
  assert.equal(client.roomId, 'r1');
  assert.equal(client.resumeToken, 'token-1');
  assert.deepEqual(
    reconnect()
      .messages()
      .map((m) => m.type),
    ['Resume'],
  );
});

test('close() closes with 1000, stops, and rejects what still waits', async () => {
  const { client, socket } = await joined();
  const chat = client.chat('bye');
  const statuses = record(client, 'status');
  client.close();
  assert.deepEqual(socket.closedWith, { code: 1000, reason: '' });
  assert.deepEqual(statuses, [
    { status: 'closed', code: 1000, reason: 'closed by the client', action: 'stop' },
  ]);
  await assert.rejects(chat, { code: 'closed' });
  mock.timers.tick(60_000);
  assert.equal(FakeSocket.sockets.length, 1);
});

// --- the socket's token -----------------------------------------------------------------------

const LATER = '2026-01-01T01:00:00.000Z';

/** Lets getToken's promise settle, and what the client does with its answer. */
function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}

test('refresh(token) sends Refresh with an id and resolves with the Refreshed; the next socket connects with that token', async () => {
  const { client, socket } = await joined({ token: 'first' });
  const refreshes = record(client, 'refreshed');
  const refresh = client.refresh('later');
  const sent = socket.messages('Refresh');
  assert.deepEqual(sent, [{ type: 'Refresh', id: sent[0].id, token: 'later' }]);
  assert.equal(typeof sent[0].id, 'string');

  const frame = { type: 'Refreshed', at: LATER };
  socket.receive(frame);

  assert.deepEqual(await refresh, frame);
  assert.deepEqual(refreshes, [frame]);
  assert.deepEqual(socket.protocols, ['bearer', 'first']);
  assert.deepEqual(reconnect().protocols, ['bearer', 'later']);
});

test("a refused Refresh (refresh_failed) rejects with the server's Error; the next socket keeps the old token", async () => {
  const { client, socket } = await joined({ token: 'first' });
  const errors = record(client, 'error');
  const refreshes = record(client, 'refreshed');
  const refresh = client.refresh('for-someone-else');
  const [sent] = socket.messages('Refresh');
  const error = {
    type: 'Error',
    code: 'refresh_failed',
    message: 'the token is for another subject',
    ref: sent.id,
  };
  socket.receive(error);

  await assert.rejects(refresh, (e) => {
    assert.ok(e instanceof SignightError);
    assert.equal(e.code, 'refresh_failed');
    assert.equal(e.ref, sent.id);
    assert.deepEqual(e.frame, error);
    return true;
  });
  assert.deepEqual(errors, [error]);
  assert.deepEqual(refreshes, []);
  assert.deepEqual(reconnect().protocols, ['bearer', 'first']);
});

test('a Refreshed answers the oldest Refresh still waiting: one refused by ref is skipped', async () => {
  const { client, socket } = await joined({ token: 'first' });
  const refused = client.refresh('earlier');
  const accepted = client.refresh('later');
  const [a] = socket.messages('Refresh');
  socket.receive({ type: 'Error', code: 'refresh_failed', message: 'not later', ref: a.id });
  const frame = { type: 'Refreshed', at: LATER };
  socket.receive(frame);

  await assert.rejects(refused, { code: 'refresh_failed' });
  assert.deepEqual(await accepted, frame);
  assert.deepEqual(reconnect().protocols, ['bearer', 'later']);
});

test('refresh() with no open socket rejects at once (not_connected) and sends nothing, then or later', async () => {
  const { client } = await joined({ token: 'first' });
  FakeSocket.last.drop(1006);

  await assert.rejects(client.refresh('later'), (e) => {
    assert.ok(e instanceof SignightError);
    assert.equal(e.code, 'not_connected');
    assert.equal(e.frame, null);
    return true;
  });
  mock.timers.tick(500);
  FakeSocket.last.open();
  assert.deepEqual(FakeSocket.last.protocols, ['bearer', 'first']);
  assert.deepEqual(FakeSocket.last.messages('Refresh'), []);
});

test('a Refresh unanswered when its socket drops rejects with code closed and is not sent again', async () => {
  const { client } = await joined({ token: 'first' });
  const refresh = client.refresh('later');
  FakeSocket.last.drop(1006);

  await assert.rejects(refresh, (e) => {
    assert.ok(e instanceof SignightError);
    assert.equal(e.code, 'closed');
    assert.deepEqual(e.close, { code: 1006, reason: '', action: 'backoff' });
    return true;
  });
  mock.timers.tick(500);
  FakeSocket.last.open();
  FakeSocket.last.receive(resumed());
  assert.deepEqual(FakeSocket.last.protocols, ['bearer', 'first']);
  assert.deepEqual(FakeSocket.last.messages('Refresh'), []);
});

test('TokenExpiring with getToken: the client sends a Refresh with its token, once per expiry, and emits tokenExpiring', async () => {
  const getToken = mock.fn(async () => 'later');
  const { client, socket } = await joined({ token: 'first', getToken });
  const warnings = record(client, 'tokenExpiring');
  const refreshes = record(client, 'refreshed');
  const warning = { type: 'TokenExpiring', at: '2026-01-01T00:01:00.000Z' };
  socket.receive(warning);
  socket.receive(warning);
  await settle();

  assert.equal(getToken.mock.callCount(), 1);
  const sent = socket.messages('Refresh');
  assert.deepEqual(sent, [{ type: 'Refresh', id: sent[0].id, token: 'later' }]);
  assert.deepEqual(warnings, [warning, warning]);

  const frame = { type: 'Refreshed', at: LATER };
  socket.receive(frame);
  assert.deepEqual(refreshes, [frame]);
  assert.deepEqual(reconnect().protocols, ['bearer', 'later']);
});

test("TokenExpiring on a new socket is refreshed again, though it names the old socket's expiry", async () => {
  const tokens = ['later', 'later-still'];
  const getToken = mock.fn(async () => tokens.shift());
  const { socket } = await joined({ token: 'first', getToken });
  const warning = { type: 'TokenExpiring', at: '2026-01-01T00:01:00.000Z' };
  socket.receive(warning);
  await settle();
  const next = reconnect(); // before the Refreshed: the new socket has the old token
  next.receive(resumed());
  next.receive(warning);
  await settle();

  assert.equal(getToken.mock.callCount(), 2);
  assert.deepEqual(
    next.messages('Refresh').map((m) => m.token),
    ['later-still'],
  );
});

test('TokenExpiring without getToken: the tokenExpiring event, and nothing sent', async () => {
  const { client, socket } = await joined({ token: 'first' });
  const warnings = record(client, 'tokenExpiring');
  const warning = { type: 'TokenExpiring', at: '2026-01-01T00:01:00.000Z' };
  socket.receive(warning);
  await settle();

  assert.deepEqual(warnings, [warning]);
  assert.deepEqual(socket.messages('Refresh'), []);
});

// --- keepalive and clock -----------------------------------------------------------------------

test('a Pong gives the RTT and the clock offset; the offset comes from the fastest of the last pings', async () => {
  const { client, socket } = await joined();
  const pings = () => socket.sent.filter((m) => m.type === 'Ping');
  // One on opening, one after the Welcome (the first waited behind the Join on the server).
  assert.deepEqual(pings(), [
    { type: 'Ping', t: T0 },
    { type: 'Ping', t: T0 },
  ]);
  const ping = pings()[1];
  mock.timers.tick(80);
  socket.receive({ type: 'Pong', t: ping.t, server_time: T0 + 1040 }); // rtt 80, offset +1000
  assert.equal(client.rtt, 80);
  assert.equal(client.clockOffset, 1000);
  assert.equal(client.serverNow(), Date.now() + 1000);

  mock.timers.tick(15_000 - 80);
  const second = pings()[2];
  assert.equal(second.t, T0 + 15_000);
  mock.timers.tick(300);
  socket.receive({ type: 'Pong', t: second.t, server_time: second.t + 150 + 5000 }); // rtt 300
  assert.equal(client.rtt, 300);
  assert.equal(client.clockOffset, 1000, 'the slower sample does not replace the faster one');
});

test('it pings every 15 s, and drops a socket silent for two of them (as 1006) to reconnect', async () => {
  const { client, socket } = await joined();
  const statuses = record(client, 'status');
  mock.timers.tick(15_000);
  mock.timers.tick(15_000);
  assert.equal(socket.sent.filter((m) => m.type === 'Ping').length, 4); // opening, Welcome, 2 × 15 s
  mock.timers.tick(15_000);
  assert.equal(socket.terminated, true);
  assert.equal(statuses[0].status, 'reconnecting');
  assert.equal(statuses[0].code, 1006);
});

test('a listener that throws neither stops the others nor the client; its error is rethrown apart', async () => {
  const client = newClient();
  const seen = [];
  client.on('welcome', () => {
    throw new Error('bug in a listener');
  });
  client.on('welcome', (f) => seen.push(f.seq));
  const deferred = [];
  const queueMicrotask = globalThis.queueMicrotask;
  globalThis.queueMicrotask = (task) => deferred.push(task);
  try {
    const join = client.join('r1', { name: 'Me' });
    FakeSocket.last.open();
    FakeSocket.last.receive(welcome());
    await join;
  } finally {
    globalThis.queueMicrotask = queueMicrotask;
  }
  assert.deepEqual(seen, [100]);
  assert.equal(client.status, 'open');
  assert.equal(deferred.length, 1);
  assert.throws(deferred[0], /bug in a listener/);
});
