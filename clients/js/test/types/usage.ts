// Compiled (not run) by `npm run typecheck` and test/unit/types.test.js: the declarations are
// valid TypeScript and describe the API as the README uses it. A line marked @ts-expect-error
// must stay an error.

import {
  backoffDelay,
  closeAction,
  Interpolator,
  SignightClient,
  SignightError,
  type ChatFrame,
  type CloseAction,
  type PlayerState,
  type Refreshed,
  type Resumed,
  type StatusEvent,
  type Welcome,
} from 'signight-client';
import type { ClientMessage, ServerMessage } from 'signight-client/protocol';

declare const NodeWebSocket: import('signight-client').WebSocketConstructor;

const client = new SignightClient('ws://localhost:8080/ws/', {
  getToken: async () => 'a.jwt.token',
  WebSocket: NodeWebSocket,
  name: 'Ada',
  random: Math.random,
});

async function play(): Promise<void> {
  const answer: Welcome | Resumed = await client.join('lobby', { color: '#FF0000' });
  const tickRate: number = answer.tick_rate;
  const state: PlayerState = { position: [0, 1, 2], rotation: [1, 0, 0, 0], animation: 'idle' };
  client.update(state);
  // @ts-expect-error a position has three numbers
  client.update({ position: [0, 1], rotation: [1, 0, 0, 0] });

  try {
    const frame: ChatFrame = await client.chat('hello');
    const seq: number = frame.seq;
    void seq;
  } catch (error) {
    if (error instanceof SignightError && error.frame) {
      const code: string = error.frame.code;
      const until: string | null = error.until; // muted: when the mute ends
      void [code, until];
    }
  }

  const off = client.on('state', ({ client_id, state: remote, server_time }) => {
    const x: number = remote.position[0];
    void [client_id, x, server_time];
  });
  off();
  client.on('status', (event: StatusEvent) => {
    const action: CloseAction | undefined = event.action;
    void action;
  });
  // @ts-expect-error no such event
  client.on('welcomed', () => {});
  client.on('roomClosed', ({ room_id, reason }) => {
    const where: string = room_id;
    void [where, reason, client.roomId];
  });
  client.on('chatRedacted', ({ id, seq }) => {
    const gone: boolean = !client.chatHistory.some((item) => item.id === id);
    void [gone, seq];
  });
  client.on('tokenExpiring', async ({ at }) => {
    const refreshed: Refreshed = await client.refresh(`a.jwt.token-before-${at}`);
    const expires: string = refreshed.at;
    void expires;
  });

  const interpolator = new Interpolator({ delay: 100 });
  interpolator.push('bob', 1000, state);
  const rendered: PlayerState | undefined = client.interpolator.sample('bob', client.serverNow());
  void [rendered, tickRate, backoffDelay(3), closeAction(1001), client.rtt, client.clockOffset];

  const sent: ClientMessage = { type: 'Resume', resume_token: 't', last_seq: 1 };
  const received = {} as ServerMessage;
  if (received.type === 'Resumed') {
    const recovered: boolean = received.recovered;
    void recovered;
  }
  void sent;
  client.leave();
  client.close();
}

void play;
