/* Generated from docs/protocol.schema.json by json-schema-to-typescript
 * (clients/js/scripts/protocol-types.mjs). Do not edit: run `npm run types` in clients/js. */

/**
 * Text frames of JSON on the game socket; see docs/protocol.md.
 */
export type ProtocolMessage = ClientMessage | ServerMessage;
/**
 * A message a client sends.
 */
export type ClientMessage = Join | Update | Chat | Leave | Ping | Resume | Refresh;
/**
 * A frame the server sends.
 */
export type ServerMessage =
  | Welcome
  | Resumed
  | PlayerJoined
  | PlayerLeft
  | ChatFrame
  | StateUpdate
  | Pong
  | ErrorFrame
  | RoomClosed
  | ChatRedacted
  | TokenExpiring
  | Refreshed;
export type ErrorCode =
  | "chat_unavailable"
  | "invalid_json"
  | "invalid_message"
  | "muted"
  | "not_in_room"
  | "rate_limited"
  | "refresh_failed"
  | "resume_failed"
  | "room_closed"
  | "room_full"
  | "room_not_found"
  | "unavailable"
  | "unknown_type";

/**
 * Enter a room (leaving the current one); answered with Welcome.
 */
export interface Join {
  type: "Join";
  room_id: string;
  name: string;
  color?: string;
  state?: PlayerState | null;
  id?: string | null;
}
/**
 * A player's state. `name` is the server's (the token's, else the Join's): a different one
 *     is ignored; `color` may change.
 */
export interface PlayerState {
  name?: string | null;
  color?: string | null;
  /**
   * @minItems 3
   * @maxItems 3
   */
  position: [number, number, number];
  /**
   * @minItems 4
   * @maxItems 4
   */
  rotation: [number, number, number, number];
  animation?: string | null;
  velocity?: [number, number, number] | null;
  modelUrl?: string | null;
}
/**
 * The player's latest state; the room gets the latest one per tick (StateUpdate).
 */
export interface Update {
  type: "Update";
  state: PlayerState;
  id?: string | null;
}
/**
 * A chat message to the room: 1-500 characters after trimming; \r\n becomes \n.
 */
export interface Chat {
  type: "Chat";
  message: string;
  id?: string | null;
}
/**
 * Leave the room (the socket stays open).
 */
export interface Leave {
  type: "Leave";
  id?: string | null;
}
/**
 * Keepalive (every 15 s is enough); answered with Pong.
 */
export interface Ping {
  type: "Ping";
  t?: unknown;
  id?: string | null;
}
/**
 * The first message on a new socket after a drop: back into the room of `resume_token`
 *     (Welcome's or Resumed's), with every event after `last_seq` (the newest seq seen).
 */
export interface Resume {
  type: "Resume";
  resume_token: string;
  last_seq: number;
  id?: string | null;
}
/**
 * A new JWT for this socket before its own expires (TokenExpiring warns): same subject, a
 *     later expiry; answered with Refreshed, or Error refresh_failed.
 */
export interface Refresh {
  type: "Refresh";
  token: string;
  id?: string | null;
}
/**
 * The answer to a Join: the room as of event `seq`, its latest chat, the limits.
 */
export interface Welcome {
  type: "Welcome";
  protocol: string;
  client_id: string;
  room_id: string;
  server_time: number;
  tick_rate: number;
  seq: number;
  limits: Limits;
  room_state: PlayerEntry[];
  chat_history: ChatItem[];
  resume_token: string;
}
/**
 * The limits in force (seconds, messages per second, bytes).
 */
export interface Limits {
  max_message_bytes: number;
  update_rate: number;
  chat_rate: number;
  chat_period: number;
  chat_burst: number;
  idle_timeout: number;
  max_players: number;
  resume_grace: number;
}
/**
 * A player in a room and its latest state.
 */
export interface PlayerEntry {
  client_id: string;
  state: PlayerState;
}
/**
 * One chat message as the socket sends it (Chat frame, Welcome history) and the room's
 *     recent history in Redis keeps it; /chat/history answers with the same fields.
 */
export interface ChatItem {
  id: string;
  room_id: string;
  client_id: string;
  name: string;
  message: string;
  timestamp: string;
}
/**
 * The answer to a Resume. `recovered`: `missed` holds every room event after the Resume's
 *     last_seq, in order, exactly once. Not recovered: the gap could not be filled (too old, or
 *     the room's events were lost); `room_state` and `chat_history` replace the client's world.
 */
export interface Resumed {
  type: "Resumed";
  protocol: string;
  client_id: string;
  room_id: string;
  recovered: boolean;
  server_time: number;
  tick_rate: number;
  seq: number;
  limits: Limits;
  room_state: PlayerEntry[];
  missed: (PlayerJoined | PlayerLeft | ChatFrame)[];
  resume_token: string;
  chat_history?: ChatItem[];
}
/**
 * Another player entered the room.
 */
export interface PlayerJoined {
  type: "PlayerJoined";
  room_id: string;
  client_id: string;
  state: PlayerState;
  seq: number;
}
/**
 * A player left the room.
 */
export interface PlayerLeft {
  type: "PlayerLeft";
  room_id: string;
  client_id: string;
  seq: number;
}
/**
 * A chat message, stored; `ref` is the sender's Chat `id`, if it had one.
 */
export interface ChatFrame {
  type: "Chat";
  id: string;
  room_id: string;
  client_id: string;
  name: string;
  message: string;
  timestamp: string;
  ref?: string | null;
  seq: number;
}
/**
 * The states that changed in this tick (`tick`: the same number in every process); every
 *     KEYFRAME_SECONDS, every present player's latest state (a keyframe).
 */
export interface StateUpdate {
  type: "StateUpdate";
  room_id: string;
  tick: number;
  server_time: number;
  players: PlayerEntry[];
}
/**
 * The answer to a Ping: its `t`, and the server's clock in Unix milliseconds.
 */
export interface Pong {
  type: "Pong";
  t: unknown;
  server_time: number;
}
/**
 * A message was refused; `ref` is its `id`, if it had one; `until` (ISO 8601 UTC, for
 *     `muted` only) is when the refusal ends. The socket stays open.
 */
export interface ErrorFrame {
  type: "Error";
  code: ErrorCode;
  message: string;
  ref?: string | null;
  until?: string;
}
/**
 * An operator closed the room: the player is no longer in it (no PlayerLeft follows for
 *     itself); the socket stays open, so it may Join another room.
 */
export interface RoomClosed {
  type: "RoomClosed";
  room_id: string;
  reason: string;
}
/**
 * An operator took down the chat message `id` (the Chat frame numbered `seq`, or 0 when
 *     the server no longer knows its number): remove it from the chat view.
 */
export interface ChatRedacted {
  type: "ChatRedacted";
  id: string;
  room_id: string;
  seq: number;
}
/**
 * The socket's JWT expires at `at` (ISO 8601 UTC; sent 60 s before): send a Refresh with a
 *     new token of the same subject, or the socket closes 4401 then.
 */
export interface TokenExpiring {
  type: "TokenExpiring";
  at: string;
}
/**
 * The answer to a Refresh: the socket's JWT now expires at `at` (ISO 8601 UTC).
 */
export interface Refreshed {
  type: "Refreshed";
  at: string;
}
