// Types of signight.js, the Signight game socket client (protocol 1.1). Hand-written; the wire
// types come from protocol.d.ts, generated from docs/protocol.schema.json.

import type {
  ChatFrame,
  ChatItem,
  ChatRedacted,
  ErrorCode,
  ErrorFrame,
  Limits,
  PlayerJoined,
  PlayerLeft,
  PlayerState,
  Refreshed,
  Resumed,
  RoomClosed,
  TokenExpiring,
  Welcome,
} from './protocol.js';

export type * from './protocol.js';

export declare const PROTOCOL_VERSION: '1.1';

/** What a client does when its socket closes with a code (docs/protocol.md, Close codes). */
export type CloseAction = 'reconnect' | 'backoff' | 'resume' | 'refresh_token' | 'fix' | 'stop';

/** The close-code table, the schema's x-close-codes plus 1006 (client side: a drop). */
export declare const CLOSE_ACTIONS: Readonly<Record<number, CloseAction>>;

/** The action for a close code; codes the table does not name are `backoff`. */
export declare function closeAction(code: number): CloseAction;

export declare const BACKOFF_BASE_MS: 500;
export declare const BACKOFF_MAX_MS: 20000;

/** ms before reconnection attempt `attempt` (from 0): uniform in [0, min(20 s, 0.5 s × 2^attempt)). */
export declare function backoffDelay(attempt: number, random?: () => number): number;

export type Vector3 = [number, number, number];
/** A rotation as the protocol sends it: `[w, x, y, z]` (three.js's Quaternion is x, y, z, w). */
export type Quaternion = [number, number, number, number];

export declare function lerpVector(a: readonly number[], b: readonly number[], alpha: number): number[];
export declare function slerp(from: readonly number[], to: readonly number[], alpha: number): Quaternion;
/** Position and velocity linear, rotation by slerp, the other fields `a`'s. */
export declare function interpolateState(a: PlayerState, b: PlayerState, alpha: number): PlayerState;

export interface InterpolatorOptions {
  /** ms behind `now` that sample() renders (default 100: two ticks at 20 Hz). */
  delay?: number;
  /** ms of samples kept before the newest (default 1000). */
  keep?: number;
  /** samples kept per player at most (default 64). */
  maxSamples?: number;
}

/** Each remote player's states by server time; the state to render at `now − delay`. */
export declare class Interpolator {
  constructor(options?: InterpolatorOptions);
  delay: number;
  keep: number;
  maxSamples: number;
  /** `time`: the state's server time in ms (StateUpdate.server_time). */
  push(clientId: string, time: number, state: PlayerState): void;
  /** The state at `now − delay` (`now` on the server's clock: SignightClient.serverNow()). */
  sample(clientId: string, now: number): PlayerState | undefined;
  remove(clientId: string): void;
  clear(): void;
}

/** How a socket closed: its code, reason and the table's action. */
export interface CloseInfo {
  code: number;
  reason: string;
  action: CloseAction;
}

/**
 * A refusal: the server's Error frame, or the client's own (`closed`: the socket closed for
 * good, or a Refresh's socket closed before its answer; `not_in_room`: chat() before join();
 * `cancelled`: leave() withdrew it; `not_connected`: refresh() with no open socket;
 * `room_closed` without a frame: a RoomClosed came for the room a chat was sent to).
 */
export declare class SignightError extends Error {
  name: 'SignightError';
  code: ErrorCode | 'closed' | 'not_in_room' | 'cancelled' | 'not_connected';
  /** The server's Error frame, null for the client's own refusals. */
  frame: ErrorFrame | null;
  /** The refused message's `id`. */
  ref: string | null;
  /** With code `muted`: when the mute ends (ISO 8601 UTC), the Error frame's `until`. */
  until: string | null;
  /** With code `closed`: how the socket closed. */
  close: CloseInfo | null;
  static fromFrame(frame: ErrorFrame): SignightError;
}

/** A WebSocket constructor as browsers (and Node 22, and the `ws` package) have it. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: { data: any }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** Node's `ws` only: drops the connection without a close frame. */
  terminate?(): void;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface ClientOptions {
  /** A JWT access token, sent as the subprotocol pair `["bearer", token]`. */
  token?: string;
  /**
   * Called for a fresh token: before the first socket if `token` is missing, on close 4401, and
   * once when a socket fails before it opened (1006: behind the mesh, a refused token). null:
   * connect without one. Also on TokenExpiring, once per socket and expiry: its token goes to
   * the open socket in a Refresh (null: none is sent).
   */
  getToken?: () => string | null | Promise<string | null>;
  /** The WebSocket class; default `globalThis.WebSocket` (Node 20: pass `ws`'s). */
  WebSocket?: WebSocketConstructor;
  /** The default name and colour (`#RRGGBB`) of join(). */
  name?: string;
  color?: string;
  /** Uniform in [0, 1): the back-off's jitter (default Math.random). */
  random?: () => number;
  /** This clock, ms since the epoch (default Date.now). */
  now?: () => number;
  /** ms between Pings (default 15000); a socket silent for two of them is dropped. */
  pingInterval?: number;
  /** ms a handshake may take before it counts as a drop (default 10000). */
  connectTimeout?: number;
  /** ms behind the server's clock that `interpolator` renders (default 100). */
  interpolationDelay?: number;
}

export interface JoinOptions {
  name?: string;
  color?: string;
  /** Where the player spawns (else at the origin). */
  state?: PlayerState;
  /** Resume instead (e.g. after a page reload): the token of the last Welcome or Resumed. */
  resumeToken?: string;
  /** With resumeToken: the highest seq seen (SignightClient.seq). */
  lastSeq?: number;
}

export type Status = 'connecting' | 'open' | 'reconnecting' | 'resumed' | 'closed';

export interface StatusEvent {
  status: Status;
  /** reconnecting, closed: how the socket closed. */
  code?: number;
  reason?: string;
  action?: CloseAction;
  /** reconnecting: the attempt (from 0) and the wait before it, ms. */
  attempt?: number;
  delay?: number;
  /** resumed: whether every missed event was recovered. */
  recovered?: boolean;
}

/** One remote player's state from a StateUpdate. */
export interface StateEvent {
  client_id: string;
  state: PlayerState;
  server_time: number;
  tick: number;
}

export interface ClientEvents {
  welcome: Welcome;
  resumed: Resumed;
  state: StateEvent;
  joined: PlayerJoined;
  left: PlayerLeft;
  chat: ChatFrame;
  error: ErrorFrame;
  status: StatusEvent;
  /** The socket's JWT expires at `at` (60 s from now): refresh() it, or getToken's token is sent. */
  tokenExpiring: TokenExpiring;
  /** A Refresh was accepted: the socket's JWT now expires at `at`. */
  refreshed: Refreshed;
  /**
   * An operator closed the client's room: the client is out of it (no room, players or resume
   * token; chats sent there reject with `room_closed`); the socket stays open for a join().
   */
  roomClosed: RoomClosed;
  /** An operator took chat message `id` down: it is out of `chatHistory` already. */
  chatRedacted: ChatRedacted;
}

/** The client of one player: join, update, chat, leave, refresh, close; reconnects and resumes itself. */
export declare class SignightClient {
  constructor(url: string, options?: ClientOptions);

  readonly url: string;
  name: string | undefined;
  color: string | undefined;
  pingInterval: number;
  connectTimeout: number;
  /** Fed with every remote player's states: `interpolator.sample(id, client.serverNow())`. */
  readonly interpolator: Interpolator;

  readonly status: Status;
  readonly clientId: string | null;
  readonly roomId: string | null;
  /** The highest event seq seen in the room. */
  readonly seq: number | null;
  /** The latest resume token (Welcome's or Resumed's). */
  readonly resumeToken: string | null;
  readonly tickRate: number | null;
  readonly limits: Limits | null;
  /** Every player in the room (away ones included) and its latest known state. */
  readonly players: Map<string, PlayerState>;
  /** The room's chat, oldest first (the Welcome's history, then every Chat), less redacted ones. */
  readonly chatHistory: ChatItem[];
  /** The latest round trip of a Ping, ms. */
  readonly rtt: number | null;
  /** Server clock − this clock, ms. */
  readonly clockOffset: number;

  /** Resolves with the Welcome (or, with `resumeToken`, the Resumed); rejects with a SignightError. */
  join(roomId: string, options?: JoinOptions): Promise<Welcome | Resumed>;
  /** Sent at most once per tick: call it every frame. */
  update(state: PlayerState): void;
  /** Resolves with the stored Chat (its `ref` is the id); rejects with a SignightError. */
  chat(message: string, options?: { id?: string }): Promise<ChatFrame>;
  leave(): void;
  /**
   * Sends Refresh: a new JWT of the same subject with a later expiry for the open socket (and any
   * later one). Resolves with the Refreshed; rejects with a SignightError (`refresh_failed`: the
   * socket keeps its token; `not_connected`; `closed`).
   */
  refresh(token: string): Promise<Refreshed>;
  /** Close with 1000 (the player leaves at once) and stop reconnecting. */
  close(): void;
  /** The server's clock now, ms since the epoch. */
  serverNow(): number;

  /** Returns a function that removes the listener. */
  on<K extends keyof ClientEvents>(type: K, listener: (detail: ClientEvents[K]) => void): () => void;
  off<K extends keyof ClientEvents>(type: K, listener: (detail: ClientEvents[K]) => void): void;
}
