// A stand-in for the WebSocket class (injected as options.WebSocket), driven by the test: it
// records what the client sends and plays the server's side (open, frames, close), so the
// client's rules run without a server. Frames are built as rooms/protocol/frames.py builds them.

export const STATE = { position: [1, 2, 3], rotation: [1, 0, 0, 0] };

export const LIMITS = {
  max_message_bytes: 16384,
  update_rate: 60,
  chat_rate: 5,
  chat_period: 10.0,
  chat_burst: 3,
  idle_timeout: 60.0,
  max_players: 16,
  resume_grace: 20,
};

/** A fresh fake WebSocket class; `FakeSocket.sockets` lists every socket it opened. */
export function fakeWebSocket() {
  class FakeSocket {
    static sockets = [];

    static get last() {
      return FakeSocket.sockets[FakeSocket.sockets.length - 1];
    }

    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.readyState = 0;
      this.sent = [];
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      FakeSocket.sockets.push(this);
    }

    send(text) {
      if (this.readyState !== 1) throw new Error('send on a socket that is not open');
      this.sent.push(JSON.parse(text));
    }

    close(code = 1000, reason = '') {
      this.closedWith = { code, reason };
      this.readyState = 3;
    }

    terminate() {
      this.terminated = true;
      this.readyState = 3;
    }

    // --- the server's side ---

    open() {
      this.readyState = 1;
      this.onopen?.({});
    }

    receive(frame) {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }

    drop(code = 1006, reason = '') {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }

    /** What the client sent, without its Pings. */
    messages(type) {
      return this.sent.filter((m) => m.type !== 'Ping' && (type === undefined || m.type === type));
    }
  }
  return FakeSocket;
}

export function welcome(overrides = {}) {
  return {
    type: 'Welcome',
    protocol: '1.1',
    client_id: 'me',
    room_id: 'r1',
    server_time: 1_000_000,
    tick_rate: 20,
    seq: 100,
    limits: LIMITS,
    room_state: [
      { client_id: 'me', state: { name: 'Me', color: '#FFFFFF', ...STATE } },
      { client_id: 'bob', state: { name: 'Bob', color: '#00FF00', ...STATE } },
    ],
    chat_history: [],
    resume_token: 'token-1',
    ...overrides,
  };
}

export function resumed(overrides = {}) {
  const { type, chat_history, ...base } = welcome();
  return { ...base, type: 'Resumed', recovered: true, missed: [], resume_token: 'token-2', ...overrides };
}

export function chatFrame(seq, overrides = {}) {
  return {
    type: 'Chat',
    id: `6926${String(seq).padStart(20, '0')}`,
    room_id: 'r1',
    client_id: 'bob',
    name: 'Bob',
    message: `message ${seq}`,
    timestamp: '2026-01-01T00:00:00.000Z',
    seq,
    ...overrides,
  };
}

/** A chat_history item: a Chat frame without type, seq and ref. */
export function chatItem(seq) {
  const { type, seq: _, ...item } = chatFrame(seq);
  return item;
}

export function playerJoined(seq, clientId) {
  return {
    type: 'PlayerJoined',
    room_id: 'r1',
    client_id: clientId,
    state: { name: clientId, ...STATE },
    seq,
  };
}

export function playerLeft(seq, clientId) {
  return { type: 'PlayerLeft', room_id: 'r1', client_id: clientId, seq };
}

/** Every detail of `type` the client emits, in order. */
export function record(client, type) {
  const seen = [];
  client.on(type, (detail) => seen.push(detail));
  return seen;
}
