/**
 * signight-client: the JavaScript client of the Signight game socket, protocol 1.1
 * (docs/protocol.md). One ES module without dependencies, for browsers and Node 20+.
 *
 * SignightClient joins a room, sends the player's state coalesced to the server's tick, chats
 * with acknowledgement, follows the close-code action table (back-off with full jitter, Resume
 * after a drop or a drain, a fresh token on 4401), refreshes the open socket's token when it
 * is about to expire, and measures RTT and clock offset. Interpolator renders remote players
 * between ticks.
 *
 * @module signight-client
 */

export const PROTOCOL_VERSION = '1.1';

/**
 * What a client does when its socket closes with a code: rooms/protocol/codes.py CLOSE_CODES
 * (the schema's x-close-codes), plus 1006, which only a client's library reports (a drop, or a
 * handshake that failed). test/close-codes.test.js holds this table to the schema.
 *
 * @type {Readonly<Record<number, import('./signight.js').CloseAction>>}
 */
export const CLOSE_ACTIONS = Object.freeze({
  1000: 'stop',
  1001: 'resume',
  1006: 'backoff',
  1007: 'fix',
  1008: 'backoff',
  1009: 'fix',
  1011: 'backoff',
  1013: 'backoff',
  4401: 'refresh_token',
  4403: 'stop',
  4408: 'stop',
  4409: 'backoff',
  4410: 'stop',
  4429: 'backoff',
  4503: 'stop',
});

/**
 * The action for a close code; a code the table does not name (1005, 1012, a proxy's own) is
 * treated as a transient failure: `backoff`.
 *
 * @param {number} code
 * @returns {import('./signight.js').CloseAction}
 */
export function closeAction(code) {
  return CLOSE_ACTIONS[code] ?? 'backoff';
}

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 20_000;

/**
 * The wait before reconnection attempt `attempt` (from 0), in ms: full jitter over an
 * exponential range, uniform in [0, min(20 s, 0.5 s × 2^attempt)).
 *
 * @param {number} attempt
 * @param {() => number} [random] uniform in [0, 1), like Math.random
 * @returns {number}
 */
export function backoffDelay(attempt, random = Math.random) {
  return random() * Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt));
}

// --- interpolation ------------------------------------------------------------------------------

/**
 * `a` + (`b` − `a`) × `alpha`, element by element.
 *
 * @param {readonly number[]} a
 * @param {readonly number[]} b
 * @param {number} alpha
 * @returns {number[]}
 */
export function lerpVector(a, b, alpha) {
  return a.map((value, i) => value + (b[i] - value) * alpha);
}

function normalize(q) {
  const length = Math.hypot(q[0], q[1], q[2], q[3]);
  return length > 0 ? q.map((v) => v / length) : [1, 0, 0, 0];
}

/**
 * Spherical interpolation of two rotations, quaternions `[w, x, y, z]` as the protocol sends
 * them (normalized first; the shorter way round; a normalized lerp when they nearly coincide).
 *
 * @param {readonly number[]} from
 * @param {readonly number[]} to
 * @param {number} alpha
 * @returns {[number, number, number, number]}
 */
export function slerp(from, to, alpha) {
  const a = normalize(from);
  let b = normalize(to);
  let dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3];
  if (dot < 0) {
    b = b.map((v) => -v);
    dot = -dot;
  }
  let ka = 1 - alpha;
  let kb = alpha;
  if (dot < 0.9995) {
    const theta = Math.acos(Math.min(1, dot));
    const sin = Math.sin(theta);
    ka = Math.sin((1 - alpha) * theta) / sin;
    kb = Math.sin(alpha * theta) / sin;
  }
  return /** @type {[number, number, number, number]} */ (normalize(a.map((v, i) => ka * v + kb * b[i])));
}

/**
 * The state between `a` and `b` (`alpha` 0: `a`, 1: `b`): position and velocity linear, rotation
 * by slerp; the other fields (name, colour, animation, modelUrl) are `a`'s.
 *
 * @param {import('./protocol.js').PlayerState} a
 * @param {import('./protocol.js').PlayerState} b
 * @param {number} alpha
 * @returns {import('./protocol.js').PlayerState}
 */
export function interpolateState(a, b, alpha) {
  const state = { ...a };
  state.position = /** @type {[number, number, number]} */ (lerpVector(a.position, b.position, alpha));
  state.rotation = slerp(a.rotation, b.rotation, alpha);
  if (a.velocity && b.velocity) {
    state.velocity = /** @type {[number, number, number]} */ (lerpVector(a.velocity, b.velocity, alpha));
  }
  return state;
}

/**
 * Buffers each remote player's states by the server time of their StateUpdate and yields the
 * state to render at `now − delay` (now on the server's clock: SignightClient.serverNow()).
 * Between two samples it interpolates; before the oldest it holds the oldest, past the newest
 * it holds the newest (no extrapolation).
 */
export class Interpolator {
  /**
   * @param {{delay?: number, keep?: number, maxSamples?: number}} [options] `delay` (ms, default
   *   100: two ticks at 20 Hz); samples older than `keep` ms (default 1000) before the newest
   *   are dropped, and at most `maxSamples` (default 64) are kept per player.
   */
  constructor({ delay = 100, keep = 1000, maxSamples = 64 } = {}) {
    this.delay = delay;
    this.keep = keep;
    this.maxSamples = maxSamples;
    /** @type {Map<string, {time: number, state: import('./protocol.js').PlayerState}[]>} */
    this.buffers = new Map();
  }

  /**
   * @param {string} clientId
   * @param {number} time server time of the state, ms (StateUpdate.server_time)
   * @param {import('./protocol.js').PlayerState} state
   */
  push(clientId, time, state) {
    let buffer = this.buffers.get(clientId);
    if (buffer === undefined) {
      buffer = [];
      this.buffers.set(clientId, buffer);
    }
    let i = buffer.length;
    while (i > 0 && buffer[i - 1].time > time) i--;
    if (i > 0 && buffer[i - 1].time === time) buffer[i - 1] = { time, state };
    else buffer.splice(i, 0, { time, state });
    const newest = buffer[buffer.length - 1].time;
    while (buffer.length > 2 && (buffer.length > this.maxSamples || buffer[1].time < newest - this.keep)) {
      buffer.shift();
    }
  }

  /**
   * The state to render for `clientId` at `now` (server clock, ms), i.e. as it was at
   * `now − delay`; undefined if none was pushed.
   *
   * @param {string} clientId
   * @param {number} now
   * @returns {import('./protocol.js').PlayerState | undefined}
   */
  sample(clientId, now) {
    const buffer = this.buffers.get(clientId);
    if (buffer === undefined || buffer.length === 0) return undefined;
    const at = now - this.delay;
    const last = buffer[buffer.length - 1];
    if (at >= last.time) return { ...last.state };
    if (at <= buffer[0].time) return { ...buffer[0].state };
    let i = buffer.length - 1;
    while (buffer[i - 1].time > at) i--;
    const a = buffer[i - 1];
    const b = buffer[i];
    return interpolateState(a.state, b.state, (at - a.time) / (b.time - a.time));
  }

  /** @param {string} clientId */
  remove(clientId) {
    this.buffers.delete(clientId);
  }

  clear() {
    this.buffers.clear();
  }
}

// --- the client ---------------------------------------------------------------------------------

/**
 * A refusal: the server's Error frame (`frame`, `code`, `ref`, and for `muted` `until`: when the
 * mute ends), or the client's own (`code` `closed`: the socket closed for good, or before a
 * Refresh's answer, `close` says how; `not_in_room`: nothing to send to; `not_connected`: no
 * socket to refresh; `room_closed`: RoomClosed came for the room a chat was sent to).
 */
export class SignightError extends Error {
  /**
   * @param {string} message
   * @param {{code: string, frame?: import('./protocol.js').ErrorFrame | null, ref?: string | null,
   *   close?: import('./signight.js').CloseInfo | null}} details
   */
  constructor(message, { code, frame = null, ref = null, close = null }) {
    super(message);
    this.name = 'SignightError';
    this.code = code;
    this.frame = frame;
    this.ref = ref ?? frame?.ref ?? null;
    this.until = frame?.until ?? null;
    this.close = close;
  }

  /** @param {import('./protocol.js').ErrorFrame} frame */
  static fromFrame(frame) {
    return new SignightError(`${frame.code}: ${frame.message}`, { code: frame.code, frame });
  }
}

const OPEN = 1; // WebSocket.OPEN
const PONG_SAMPLES = 5;
const CHAT_HISTORY_MAX = 200;
// A Join or Resume refused with these is retried (after back-off) by a client getting back in.
const TRANSIENT = new Set(['unavailable', 'rate_limited']);
// A Join refused with these changed nothing; any other refusal came after it left its room.
const UNSERVED = new Set(['invalid_json', 'invalid_message', 'unknown_type', 'rate_limited']);

function randomHex(bytes) {
  const buffer = new Uint8Array(bytes);
  if (globalThis.crypto?.getRandomValues) globalThis.crypto.getRandomValues(buffer);
  else for (let i = 0; i < bytes; i++) buffer[i] = Math.floor(Math.random() * 256);
  return Array.from(buffer, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The client of one player. Events (`on(type, listener)`, which returns a function that removes
 * it): `welcome` (Welcome), `resumed` (Resumed), `state` (one remote player's state from a
 * StateUpdate), `joined` (PlayerJoined), `left` (PlayerLeft), `chat` (Chat, the client's own
 * echo included), `error` (every Error frame), `status` (StatusEvent), `tokenExpiring`
 * (TokenExpiring), `refreshed` (Refreshed), `roomClosed` (RoomClosed: the client is out of the
 * room), `chatRedacted` (ChatRedacted: the message is out of chatHistory).
 */
export class SignightClient {
  /**
   * @param {string} url the socket's URL, e.g. `ws://localhost:8080/ws/`
   * @param {import('./signight.js').ClientOptions} [options]
   */
  constructor(url, options = {}) {
    const WebSocketClass = options.WebSocket ?? globalThis.WebSocket;
    if (typeof WebSocketClass !== 'function') {
      throw new TypeError(
        'SignightClient: no global WebSocket here; pass one as options.WebSocket ' +
          "(on Node 20: import { WebSocket } from 'ws')",
      );
    }
    this.url = url;
    this.name = options.name;
    this.color = options.color;
    this.pingInterval = options.pingInterval ?? 15_000;
    this.connectTimeout = options.connectTimeout ?? 10_000;
    this.interpolator = new Interpolator({ delay: options.interpolationDelay ?? 100 });

    /** @type {import('./signight.js').Status} */
    this.status = 'closed';
    /** @type {string | null} */
    this.clientId = null;
    /** @type {string | null} */
    this.roomId = null;
    /** @type {number | null} the highest event seq seen in this room */
    this.seq = null;
    /** @type {string | null} */
    this.resumeToken = null;
    /** @type {number | null} */
    this.tickRate = null;
    /** @type {import('./protocol.js').Limits | null} */
    this.limits = null;
    /** @type {Map<string, import('./protocol.js').PlayerState>} every player in the room */
    this.players = new Map();
    /** @type {import('./protocol.js').ChatItem[]} the room's chat, oldest first */
    this.chatHistory = [];
    /** @type {number | null} the latest round trip, ms */
    this.rtt = null;
    /** server clock − this clock, ms (from the Pong with the smallest RTT of the last few) */
    this.clockOffset = 0;

    this._WebSocket = WebSocketClass;
    this._token = options.token ?? null;
    this._getToken = options.getToken ?? null;
    this._needToken = this._token === null && this._getToken !== null;
    this._random = options.random ?? Math.random;
    this._now = options.now ?? Date.now;
    this._listeners = new Map();
    this._idPrefix = randomHex(6);
    this._idCount = 0;

    this._ws = null;
    this._gen = 0; // the current socket's number; callbacks of older sockets are ignored
    this._opened = false;
    this._freshTokenTried = false;
    this._attempt = 0;
    this._timers = { reconnect: null, open: null, ping: null, update: null, retry: null };
    this._lastReceived = 0;
    this._pongs = [];

    this._connecting = false; // awaiting getToken() before opening a socket
    this._intent = null; // the room to be in: {roomId, name, color}
    this._current = null; // the room it is in (as _intent): what a refused Join goes back to
    this._joins = []; // Joins and Resumes awaiting an answer, in the order sent
    this._chats = new Map(); // id -> {message, resolve, reject, gen}
    this._refreshes = []; // Refreshes awaiting an answer on this socket, in the order sent
    this._autoRefresh = null; // the socket and expiry getToken was last asked a token for
    this._lostAt = null; // when the socket of a room was lost (for resume_grace)
    this._pendingUpdate = null;
    this._updateDue = -Infinity; // when the next Update may go (on the tick's grid)
    this._lastState = null;
  }

  // --- events -----------------------------------------------------------------------------------

  /**
   * @param {string} type
   * @param {(detail: any) => void} listener
   * @returns {() => void} removes the listener
   */
  on(type, listener) {
    let set = this._listeners.get(type);
    if (set === undefined) {
      set = new Set();
      this._listeners.set(type, set);
    }
    set.add(listener);
    return () => this.off(type, listener);
  }

  /**
   * @param {string} type
   * @param {(detail: any) => void} listener
   */
  off(type, listener) {
    this._listeners.get(type)?.delete(listener);
  }

  _emit(type, detail) {
    for (const listener of [...(this._listeners.get(type) ?? [])]) {
      try {
        listener(detail);
      } catch (error) {
        // One listener's bug neither skips the others nor breaks the client's bookkeeping.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  _setStatus(status, details = {}) {
    this.status = status;
    this._emit('status', { status, ...details });
  }

  // --- the API ----------------------------------------------------------------------------------

  /**
   * Enter a room (leaving the current one); resolves with the Welcome. With `resumeToken` (and
   * `lastSeq`, the highest seq seen) it sends Resume instead, resolving with the Resumed, or, if
   * the server refuses the token, with the Welcome of a Join of this room.
   *
   * @param {string} roomId
   * @param {import('./signight.js').JoinOptions} [options]
   * @returns {Promise<import('./protocol.js').Welcome | import('./protocol.js').Resumed>}
   */
  join(roomId, { name = this.name, color = this.color, state, resumeToken, lastSeq } = {}) {
    if (!name) return Promise.reject(new TypeError('join: a name is required'));
    return new Promise((resolve, reject) => {
      this._intent = { roomId, name, color };
      this._joins = this._joins.filter((entry) => entry.sent || entry.resolve !== null);
      const resume = resumeToken ? { token: resumeToken, lastSeq: lastSeq ?? 0 } : null;
      this._request({ roomId, name, color, state, resume, resolve, reject });
    });
  }

  /**
   * The player's latest state. Sent at most once per tick (Welcome.tick_rate): call it every
   * frame; the last state given before a tick is the one sent. Held while not in a room.
   *
   * @param {import('./protocol.js').PlayerState} state
   */
  update(state) {
    this._pendingUpdate = state;
    this._scheduleUpdate();
  }

  /**
   * Say something to the room; resolves with the stored Chat frame (the echo whose `ref` is the
   * Chat's `id`), rejects with a SignightError carrying the server's Error frame. Without an
   * echo before the socket drops, it is sent again with the same `id` once back in the room.
   *
   * @param {string} message
   * @param {{id?: string}} [options] `id`: the idempotency key (default: a fresh one)
   * @returns {Promise<import('./protocol.js').ChatFrame>}
   */
  chat(message, { id = this._newId('c') } = {}) {
    return new Promise((resolve, reject) => {
      if (this._intent === null) {
        reject(new SignightError('not in a room: join first', { code: 'not_in_room', ref: id }));
        return;
      }
      const pending = { message, resolve, reject, gen: -1 };
      this._chats.set(id, pending);
      if (this._inRoom()) this._sendChat(id, pending);
    });
  }

  /**
   * Leave the room (the socket stays open); the others get PlayerLeft. A join() still waiting
   * is rejected (code `cancelled`), and so is a chat() not yet sent; one already sent still
   * gets its echo.
   */
  leave() {
    const cancelled = new SignightError('cancelled by leave()', { code: 'cancelled' });
    for (const entry of this._joins) {
      if (!entry.cancelled) entry.reject?.(cancelled);
      entry.cancelled = true; // its answer, if it was sent, is ignored
    }
    this._joins = this._joins.filter((entry) => entry.sent);
    if (this._isOpen() && (this.roomId !== null || this._joins.length > 0)) {
      this._send({ type: 'Leave', id: this._newId('l') });
    }
    for (const [id, chat] of this._chats) {
      if (chat.gen === this._gen && this._isOpen()) continue;
      this._chats.delete(id);
      chat.reject(new SignightError('cancelled by leave()', { code: 'cancelled', ref: id }));
    }
    this._intent = null;
    this._current = null;
    this._clearRoom();
  }

  /**
   * Give the open socket a new JWT of the same subject with a later expiry, before its own
   * expires (TokenExpiring warns 60 s before; with `getToken` the client does it itself).
   * Resolves with the Refreshed, after which a new socket connects with this token too; rejects
   * with a SignightError: `refresh_failed` (the socket keeps its token), `not_connected` (no
   * open socket: nothing is sent), `closed` (the socket closed before the answer).
   *
   * @param {string} token
   * @returns {Promise<import('./protocol.js').Refreshed>}
   */
  refresh(token) {
    return new Promise((resolve, reject) => {
      const id = this._newId('t');
      if (!this._send({ type: 'Refresh', id, token })) {
        reject(new SignightError('no open socket to refresh', { code: 'not_connected', ref: id }));
        return;
      }
      this._refreshes.push({ id, token, resolve, reject });
    });
  }

  /** Close the socket (1000: the player leaves at once) and stop reconnecting. */
  close() {
    const ws = this._ws;
    this._stop({ code: 1000, reason: 'closed by the client', action: 'stop' });
    if (ws) {
      try {
        ws.close(1000);
      } catch {
        // already closing
      }
    }
  }

  /** This clock corrected by clockOffset: the server's clock now, ms since the epoch. */
  serverNow() {
    return this._now() + this.clockOffset;
  }

  // --- the socket -------------------------------------------------------------------------------

  _isOpen() {
    return this._ws !== null && this._opened && this._ws.readyState === OPEN;
  }

  /** In a room on an open socket, with no Join or Resume awaiting its answer. */
  _inRoom() {
    return this._isOpen() && this.roomId !== null && this._joins.length === 0;
  }

  _send(message) {
    if (!this._isOpen()) return false;
    this._ws.send(JSON.stringify(message));
    return true;
  }

  _newId(kind) {
    this._idCount += 1;
    return `${kind}-${this._idPrefix}-${this._idCount.toString(36)}`;
  }

  /** Open a socket unless one is open, opening or due. */
  _ensureConnected() {
    if (!this._stopped()) return;
    this._attempt = 0;
    this._setStatus('connecting');
    this._connect();
  }

  /** No socket, none opening, none due. */
  _stopped() {
    return this._ws === null && this._timers.reconnect === null && !this._connecting;
  }

  async _connect() {
    this._timers.reconnect = null;
    if (this._needToken) {
      this._connecting = true;
      const gen = this._gen;
      let token;
      try {
        token = await this._getToken();
      } catch (error) {
        this._connecting = false;
        if (gen === this._gen)
          this._stop({ code: 4401, reason: `getToken failed: ${error}`, action: 'refresh_token' });
        return;
      }
      this._connecting = false;
      if (gen !== this._gen) return; // closed meanwhile
      this._token = token;
      this._needToken = false;
    }
    const gen = ++this._gen;
    let ws;
    try {
      ws = this._token
        ? new this._WebSocket(this.url, ['bearer', this._token])
        : new this._WebSocket(this.url);
    } catch (error) {
      this._stop({ code: 1006, reason: `cannot open the socket: ${error}`, action: 'fix' });
      return;
    }
    this._ws = ws;
    this._opened = false;
    ws.onopen = () => gen === this._gen && this._onOpen();
    ws.onmessage = (event) => gen === this._gen && this._onMessage(event.data);
    ws.onclose = (event) => gen === this._gen && this._onClose(event.code, event.reason);
    ws.onerror = () => {}; // a close event follows; Node's ws needs a listener
    this._timers.open = setTimeout(() => this._abandon('connect timeout'), this.connectTimeout);
  }

  /** The socket is stuck (no handshake, or silent past two pings): drop it as a 1006. */
  _abandon(reason) {
    const ws = this._ws;
    this._gen += 1; // its callbacks are ignored from here on
    try {
      if (typeof ws.terminate === 'function') ws.terminate();
      else ws.close(4000, reason);
    } catch {
      // closing a dead socket may throw; it is gone either way
    }
    this._onClose(1006, reason);
  }

  _onOpen() {
    clearTimeout(this._timers.open);
    this._opened = true;
    this._freshTokenTried = false;
    this._lastReceived = this._now();
    this._pongs = [];
    this._joins = this._joins.filter((entry) => !entry.cancelled);
    if (this._joins.length === 0 && this._intent !== null) {
      // Back into the room after a drop: resume within the grace, else join it again.
      const { roomId, name, color } = this._intent;
      const resume = this._canResume() ? { token: this.resumeToken, lastSeq: this.seq ?? 0 } : null;
      const state = this._lastState ? JSON.parse(this._lastState) : undefined;
      this._joins.push({
        id: this._newId(resume ? 'r' : 'j'),
        roomId,
        name,
        color,
        state,
        resume,
        resolve: null,
        reject: null,
        sent: false,
      });
    }
    if (!this._joins[0]?.resume) this._setStatus('open');
    for (const entry of this._joins) this._sendRequest(entry);
    this._ping();
    this._timers.ping = setInterval(() => this._keepalive(), this.pingInterval);
  }

  _canResume() {
    if (this.resumeToken === null) return false;
    const graceMs = (this.limits?.resume_grace ?? 20) * 1000;
    return this._lostAt === null || this._now() - this._lostAt < graceMs;
  }

  _onClose(code, reason) {
    for (const name of ['open', 'ping', 'update', 'retry']) {
      clearTimeout(this._timers[name]);
      clearInterval(this._timers[name]);
      this._timers[name] = null;
    }
    const opened = this._opened;
    this._ws = null;
    this._opened = false;
    if (this.roomId !== null && this._lostAt === null) this._lostAt = this._now();
    this._joins = this._joins.filter((entry) => !entry.cancelled);
    for (const entry of this._joins) entry.sent = false;
    if (this._intent === null) {
      // Nothing to get back into: a chat awaiting its echo will get none.
      for (const [id, chat] of this._chats) {
        this._chats.delete(id);
        chat.reject(
          new SignightError('the socket closed before its echo (it may have been delivered)', {
            code: 'closed',
            ref: id,
          }),
        );
      }
    }
    const action = closeAction(code);
    const close = { code, reason: reason ?? '', action };
    this._dropRefreshes(close);
    if (action === 'stop' || action === 'fix') {
      this._stop(close);
      return;
    }
    if (action === 'refresh_token') {
      if (this._getToken === null) {
        this._stop(close);
        return;
      }
      this._needToken = true;
    } else if (code === 1006 && !opened && this._getToken !== null && !this._freshTokenTried) {
      // Behind the mesh a refused token is an HTTP 401/403 that a browser sees only as 1006.
      this._needToken = true;
      this._freshTokenTried = true;
    }
    const delay =
      action === 'reconnect' && this._attempt === 0 ? 0 : backoffDelay(this._attempt, this._random);
    const attempt = this._attempt;
    this._attempt += 1;
    this._setStatus('reconnecting', { ...close, attempt, delay });
    this._timers.reconnect = setTimeout(() => this._connect(), delay);
  }

  /** Stop for good (until join() is called again): every promise still waiting is rejected. */
  _stop(close) {
    for (const name of Object.keys(this._timers)) {
      clearTimeout(this._timers[name]);
      clearInterval(this._timers[name]);
      this._timers[name] = null;
    }
    this._gen += 1;
    this._ws = null;
    this._opened = false;
    this._attempt = 0;
    this._lostAt = null;
    this._intent = null;
    this._current = null;
    this._clearRoom();
    const error = new SignightError(`socket closed (${close.code} ${close.reason}): ${close.action}`, {
      code: 'closed',
      close,
    });
    const joins = this._joins;
    const chats = [...this._chats.values()];
    this._joins = [];
    this._chats.clear();
    this._setStatus('closed', close);
    for (const entry of joins) entry.reject?.(error);
    for (const chat of chats) chat.reject(error);
    this._dropRefreshes(close);
  }

  /** A Refresh is its socket's: one unanswered when that socket closes is not sent again. */
  _dropRefreshes(close) {
    const refreshes = this._refreshes;
    this._refreshes = [];
    for (const entry of refreshes) {
      entry.reject(
        new SignightError(`socket closed (${close.code} ${close.reason}) before the Refresh was answered`, {
          code: 'closed',
          ref: entry.id,
          close,
        }),
      );
    }
  }

  _clearRoom() {
    this.roomId = null;
    this.seq = null;
    this.resumeToken = null;
    this.players.clear();
    this.interpolator.clear();
    this._pendingUpdate = null;
    this._lastState = null;
    clearTimeout(this._timers.update);
    this._timers.update = null;
  }

  // --- keepalive and clock ----------------------------------------------------------------------

  _ping() {
    this._send({ type: 'Ping', t: this._now() });
  }

  _keepalive() {
    if (this._now() - this._lastReceived > 2 * this.pingInterval) {
      this._abandon('no answer to two pings');
      return;
    }
    this._ping();
  }

  _onPong(frame) {
    if (typeof frame.t !== 'number') return;
    const now = this._now();
    const sample = { rtt: now - frame.t, offset: frame.server_time - (frame.t + now) / 2 };
    this._pongs.push(sample);
    if (this._pongs.length > PONG_SAMPLES) this._pongs.shift();
    const best = this._pongs.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    this.rtt = sample.rtt;
    this.clockOffset = best.offset;
  }

  // --- joining and resuming ---------------------------------------------------------------------

  _request(entry) {
    const request = { id: this._newId(entry.resume ? 'r' : 'j'), sent: false, cancelled: false, ...entry };
    this._joins.push(request);
    if (this._isOpen()) this._sendRequest(request);
    else this._ensureConnected();
  }

  _sendRequest(entry) {
    if (entry.sent) return;
    const message = entry.resume
      ? { type: 'Resume', id: entry.id, resume_token: entry.resume.token, last_seq: entry.resume.lastSeq }
      : { type: 'Join', id: entry.id, room_id: entry.roomId, name: entry.name };
    if (!entry.resume) {
      if (entry.color) message.color = entry.color;
      if (entry.state) message.state = entry.state;
    }
    entry.sent = this._send(message);
  }

  /** The request a Welcome or Resumed answers: the oldest one sent. */
  _answered() {
    const i = this._joins.findIndex((entry) => entry.sent);
    return i < 0 ? null : this._joins.splice(i, 1)[0];
  }

  _enterRoom(frame, entry) {
    if (entry) {
      this._current = { roomId: frame.room_id, name: entry.name, color: entry.color };
      if (this._joins.length === 0) this._intent = this._current;
    }
    this.clientId = frame.client_id;
    this.roomId = frame.room_id;
    this.resumeToken = frame.resume_token;
    this.tickRate = frame.tick_rate;
    this.limits = frame.limits;
    this._attempt = 0;
    this._lostAt = null;
    if (this._pongs.length === 0) this.clockOffset = frame.server_time - this._now();
  }

  _setWorld(frame, chatHistory) {
    this.players = new Map(frame.room_state.map((entry) => [entry.client_id, entry.state]));
    this.interpolator.clear();
    for (const entry of frame.room_state) {
      if (entry.client_id !== this.clientId)
        this.interpolator.push(entry.client_id, frame.server_time, entry.state);
    }
    if (chatHistory) this.chatHistory = [...chatHistory];
  }

  _onWelcome(frame) {
    const entry = this._answered();
    if (entry?.cancelled) return; // left before it was answered
    this._enterRoom(frame, entry);
    this.seq = frame.seq;
    this._setWorld(frame, frame.chat_history);
    if (this.status !== 'open') this._setStatus('open');
    this._emit('welcome', frame);
    entry?.resolve?.(frame);
    this._resumeSending();
  }

  _onResumed(frame) {
    const entry = this._answered();
    if (entry?.cancelled) return;
    this._enterRoom(frame, entry);
    if (entry?.resume) this.seq = entry.resume.lastSeq;
    if (frame.recovered) {
      for (const event of frame.missed) this._onEvent(event);
      this.seq = Math.max(this.seq ?? 0, frame.seq);
      this._setWorld(frame, null);
    } else {
      this.seq = frame.seq;
      this._setWorld(frame, frame.chat_history ?? []);
    }
    if (entry && entry.roomId !== frame.room_id) {
      // The token was for another room than the one asked for: join that one now.
      this._retryAsJoin(entry);
      return;
    }
    this._setStatus('resumed', { recovered: frame.recovered });
    this._emit('resumed', frame);
    entry?.resolve?.(frame);
    this._resumeSending();
  }

  _retryAsJoin(entry) {
    entry.resume = null;
    entry.id = this._newId('j');
    entry.sent = false;
    this._joins = this._joins.filter((other) => other !== entry);
    this._joins.push(entry);
    if (this.status !== 'open') this._setStatus('open');
    this._sendRequest(entry);
  }

  _onRequestError(entry, frame) {
    if (entry.resume && frame.code === 'resume_failed') {
      this._retryAsJoin(entry);
      return;
    }
    if (entry.resolve === null && TRANSIENT.has(frame.code)) {
      // Getting back in on our own: try again later (a user's join rejects instead).
      entry.sent = true; // not resent by a reconnect meanwhile; the timer does it
      const delay = backoffDelay(this._attempt++, this._random);
      this._timers.retry = setTimeout(() => {
        this._timers.retry = null;
        entry.sent = false;
        this._sendRequest(entry);
      }, delay);
      return;
    }
    this._joins = this._joins.filter((other) => other !== entry);
    if (entry.cancelled) return;
    if (UNSERVED.has(frame.code) && !entry.resume) {
      if (this._joins.length === 0) this._intent = this._current; // still where it was
    } else {
      // Out of any room now (a refused Join has left the room before): so is the client.
      this._current = null;
      if (this._joins.length === 0) this._intent = null;
      this._clearRoom();
      for (const [id, chat] of this._chats) {
        this._chats.delete(id);
        chat.reject(SignightError.fromFrame({ ...frame, ref: id }));
      }
      if (this.status !== 'open') this._setStatus('open'); // connected, in no room
    }
    entry.reject?.(SignightError.fromFrame(frame));
  }

  // --- frames -----------------------------------------------------------------------------------

  _onMessage(data) {
    this._lastReceived = this._now();
    if (typeof data !== 'string') return;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    const handler = FRAME_HANDLERS[frame?.type];
    if (handler) handler.call(this, frame);
  }

  /** PlayerJoined, PlayerLeft, Chat: live, or from a Resumed's `missed`. */
  _onEvent(frame) {
    if (frame.type === 'Chat' && frame.ref != null) {
      const pending = this._chats.get(frame.ref);
      if (pending) {
        this._chats.delete(frame.ref);
        pending.resolve(frame); // even when its seq is old: a retry's answer is the first frame
      }
    }
    if (frame.room_id !== this.roomId) return;
    if (this.seq !== null && frame.seq <= this.seq) return; // a duplicate (or already in a Welcome)
    this.seq = frame.seq;
    if (frame.type === 'PlayerJoined') {
      this.players.set(frame.client_id, frame.state);
      this._emit('joined', frame);
    } else if (frame.type === 'PlayerLeft') {
      this.players.delete(frame.client_id);
      this.interpolator.remove(frame.client_id);
      this._emit('left', frame);
    } else {
      const { type, seq, ref, ...item } = frame;
      this.chatHistory.push(item);
      if (this.chatHistory.length > CHAT_HISTORY_MAX) this.chatHistory.shift();
      this._emit('chat', frame);
    }
  }

  /** An operator closed the client's room: it is out of it (nothing to resume or join again). */
  _onRoomClosed(frame) {
    if (frame.room_id !== this.roomId) return;
    this._current = null;
    if (this._joins.length === 0) this._intent = null;
    this._clearRoom();
    // A chat sent into the closed room may never get its echo (the room has no members now);
    // one not sent yet waits for the room being joined, if there is one.
    for (const [id, chat] of this._chats) {
      if (this._intent !== null && chat.gen !== this._gen) continue;
      this._chats.delete(id);
      chat.reject(
        new SignightError(`the room was closed by an operator: ${frame.reason}`, {
          code: 'room_closed',
          ref: id,
        }),
      );
    }
    this._emit('roomClosed', frame);
  }

  /** An operator took a chat message down: it leaves chatHistory (not a room event: no seq). */
  _onChatRedacted(frame) {
    if (frame.room_id !== this.roomId) return;
    const i = this.chatHistory.findIndex((item) => item.id === frame.id);
    if (i >= 0) this.chatHistory.splice(i, 1);
    this._emit('chatRedacted', frame);
  }

  _onStateUpdate(frame) {
    if (frame.room_id !== this.roomId) return;
    for (const { client_id: clientId, state } of frame.players) {
      this.players.set(clientId, state);
      if (clientId === this.clientId) continue;
      this.interpolator.push(clientId, frame.server_time, state);
      this._emit('state', { client_id: clientId, state, server_time: frame.server_time, tick: frame.tick });
    }
  }

  _onError(frame) {
    const ref = frame.ref ?? null;
    const chat = ref === null ? undefined : this._chats.get(ref);
    const refresh = ref === null ? -1 : this._refreshes.findIndex((entry) => entry.id === ref);
    if (chat) {
      this._chats.delete(ref);
      chat.reject(SignightError.fromFrame(frame));
    } else if (refresh >= 0) {
      this._refreshes.splice(refresh, 1)[0].reject(SignightError.fromFrame(frame));
    } else if (ref !== null) {
      const entry = this._joins.find((other) => other.id === ref);
      if (entry) this._onRequestError(entry, frame);
    }
    this._emit('error', frame);
  }

  // --- the socket's token -----------------------------------------------------------------------

  /** The socket's JWT expires at `at`: with getToken, refresh it, once per socket and expiry. */
  _onTokenExpiring(frame) {
    this._emit('tokenExpiring', frame);
    const key = `${this._gen} ${frame.at}`;
    if (this._getToken === null || this._autoRefresh === key) return;
    this._autoRefresh = key;
    this._refreshWithGetToken(this._gen);
  }

  async _refreshWithGetToken(gen) {
    try {
      const token = await this._getToken();
      if (token && gen === this._gen) await this.refresh(token);
    } catch {
      // getToken failed, or the Refresh was refused (an `error` event says why): the socket
      // closes 4401 when its token expires, and the reconnection asks getToken again.
    }
  }

  /** The answer to the oldest Refresh still waiting (a refused one is matched by its ref). */
  _onRefreshed(frame) {
    const entry = this._refreshes.shift();
    if (entry) this._token = entry.token; // the next socket connects with it
    this._emit('refreshed', frame);
    entry?.resolve(frame);
  }

  // --- sending in a room ------------------------------------------------------------------------

  /**
   * Back in a room: the held state, and every chat not yet sent on this socket; and a Ping, as
   * the one sent on opening waited behind the Join or Resume (a slow sample of the clock).
   */
  _resumeSending() {
    if (!this._inRoom()) return;
    this._ping();
    this._scheduleUpdate();
    for (const [id, pending] of this._chats) {
      if (pending.gen !== this._gen) this._sendChat(id, pending);
    }
  }

  _sendChat(id, pending) {
    if (this._send({ type: 'Chat', id, message: pending.message })) pending.gen = this._gen;
  }

  _scheduleUpdate() {
    if (this._pendingUpdate === null || this._timers.update !== null || !this._inRoom()) return;
    const wait = this._updateDue - this._now();
    if (wait <= 0) this._flushUpdate();
    else this._timers.update = setTimeout(() => this._flushUpdate(), wait);
  }

  _flushUpdate() {
    this._timers.update = null;
    const state = this._pendingUpdate;
    if (state === null || !this._inRoom()) return;
    this._pendingUpdate = null;
    const text = JSON.stringify(state);
    this._ws.send(`{"type":"Update","state":${text}}`);
    this._lastState = text;
    // The next one a tick after this one was due: a timer that fires late does not slow the
    // rate down, and a client that paused starts a new grid.
    const interval = 1000 / (this.tickRate || 20);
    const now = this._now();
    this._updateDue = now - this._updateDue < interval ? this._updateDue + interval : now + interval;
  }
}

const FRAME_HANDLERS = {
  Welcome: SignightClient.prototype._onWelcome,
  Resumed: SignightClient.prototype._onResumed,
  PlayerJoined: SignightClient.prototype._onEvent,
  PlayerLeft: SignightClient.prototype._onEvent,
  Chat: SignightClient.prototype._onEvent,
  StateUpdate: SignightClient.prototype._onStateUpdate,
  Pong: SignightClient.prototype._onPong,
  Error: SignightClient.prototype._onError,
  RoomClosed: SignightClient.prototype._onRoomClosed,
  ChatRedacted: SignightClient.prototype._onChatRedacted,
  TokenExpiring: SignightClient.prototype._onTokenExpiring,
  Refreshed: SignightClient.prototype._onRefreshed,
};
