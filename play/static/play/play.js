/**
 * The /play/ demo (issue 14): one room of the Signight game socket in a three.js scene, through
 * the JS client (clients/js/signight.js, served as /static/signight/signight.js).
 *
 * The page owns: reading ?room= ?name= ?server= ?color= and #token=, the Join form, the scene
 * (ground, one capsule per player with a DOM name tag from CSS2DRenderer), the keyboard and mouse,
 * the chat panel, the status bar, keeping the resume token over a reload (sessionStorage) and a
 * debug hook for tests, `window.signight`. The client owns the socket, resuming and interpolation.
 */
import * as THREE from 'three';
import { CSS2DObject, CSS2DRenderer } from 'three/addons/renderers/CSS2DRenderer.js';
import { SignightClient } from 'signight';

const SAVED = 'signight.play'; // sessionStorage: {url, room, name, token, seq, chat}
const SAVED_JWT = 'signight.play.jwt'; // sessionStorage: the JWT from #token= (never in a URL)
const SPEED = 4; // m/s
const TURN = 0.004; // radians per pixel of mouse movement
const GROUND = 40; // half the ground's side, m
const HISTORY_KEPT = 50; // chat items kept over a reload

const params = new URLSearchParams(location.search);
const authRequired = document.body.dataset.authRequired === '1';
const $ = (selector) => document.querySelector(selector);

/** The debug hook (read by tests and curious people; setting it changes nothing). */
const hook = {
  client: null,
  statusLog: [], // every status, in order: {status, code, at (ms since navigation)}
  timings: { welcome: null, resumed: [] }, // ms since navigation / from 'reconnecting' to 'resumed'
  frames: 0, // requestAnimationFrame callbacks so far
  fps: 0, // of the last whole second
  avatars: () => avatarsSnapshot(),
  me: () => ({ position: me.position.toArray(), yaw: me.yaw }), // the local player, as steered
  chat: () => chatItems.filter((i) => !i.system).map(({ name, message }) => ({ name, message })),
};
window.signight = hook;

// --- where to connect, as whom ------------------------------------------------------------------

function socketUrl() {
  const server = params.get('server');
  if (server) return server;
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws/`;
}

/** The JWT: from #token= (then kept for this tab, and the fragment dropped), else the tab's. */
function takeToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get('token');
  if (token) {
    sessionStorage.setItem(SAVED_JWT, token);
    fragment.delete('token');
    const rest = fragment.toString();
    window.history.replaceState(null, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
    return token;
  }
  return sessionStorage.getItem(SAVED_JWT);
}

/** A colour of the name, so a player keeps it over reloads without choosing one. */
function colorOf(name) {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `#${new THREE.Color().setHSL((hash % 360) / 360, 0.65, 0.55).getHexString().toUpperCase()}`;
}

function showJoinForm(values, note) {
  const form = $('#join');
  form.name.value = values.name ?? '';
  form.room.value = values.room ?? 'lobby';
  $('#join-token').hidden = !(authRequired || values.askToken);
  form.hidden = false;
  if (note) setNote(note);
  form.onsubmit = (event) => {
    event.preventDefault();
    const token = form.token.value.trim();
    if (token) sessionStorage.setItem(SAVED_JWT, token);
    const next = new URLSearchParams(location.search);
    next.set('room', form.room.value.trim());
    next.set('name', form.name.value.trim());
    location.search = next.toString(); // a fresh page, as if opened with them
  };
  (values.name ? form.room : form.name).focus();
}

function setNote(text) {
  $('#status-note').textContent = text ?? '';
}

// --- the scene ----------------------------------------------------------------------------------

const world = $('#world');
const scene = new THREE.Scene();
scene.background = new THREE.Color(0x18202c);
scene.fog = new THREE.Fog(0x18202c, 30, 70);
const camera = new THREE.PerspectiveCamera(60, 1, 0.1, 200);
let renderer = null;
try {
  renderer = new THREE.WebGLRenderer({ antialias: true });
  renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
  world.appendChild(renderer.domElement);
} catch {
  setNote('WebGL is not available here: the scene is not drawn, the name tags still are');
}
const labels = new CSS2DRenderer();
labels.domElement.className = 'labels';
world.appendChild(labels.domElement);

scene.add(new THREE.HemisphereLight(0xcfe3ff, 0x2a2f3a, 2.2));
const sun = new THREE.DirectionalLight(0xffffff, 1.6);
sun.position.set(8, 20, 6);
scene.add(sun);
const ground = new THREE.Mesh(
  new THREE.PlaneGeometry(GROUND * 2, GROUND * 2),
  new THREE.MeshStandardMaterial({ color: 0x27303d, roughness: 1 }),
);
ground.rotation.x = -Math.PI / 2;
scene.add(ground);
const grid = new THREE.GridHelper(GROUND * 2, GROUND, 0x3d4a5c, 0x323c4a);
grid.position.y = 0.01;
scene.add(grid);

function resize() {
  const { clientWidth: width, clientHeight: height } = world;
  camera.aspect = width / Math.max(1, height);
  camera.updateProjectionMatrix();
  renderer?.setSize(width, height, false);
  labels.setSize(width, height);
}
window.addEventListener('resize', resize);
resize();

const bodyGeometry = new THREE.CapsuleGeometry(0.4, 1.0, 6, 16);
const noseGeometry = new THREE.BoxGeometry(0.22, 0.16, 0.3);
const noseMaterial = new THREE.MeshStandardMaterial({ color: 0x11151c });

/** client_id -> {group, material, tag, name, color} */
const avatars = new Map();

function addAvatar(id, state, self) {
  const material = new THREE.MeshStandardMaterial({ color: state.color ?? '#FFFFFF', roughness: 0.6 });
  const group = new THREE.Group();
  const body = new THREE.Mesh(bodyGeometry, material);
  body.position.y = 0.9;
  const nose = new THREE.Mesh(noseGeometry, noseMaterial);
  nose.position.set(0, 1.35, -0.42); // the avatar faces −z, as a three.js camera does
  group.add(body, nose);
  const tag = document.createElement('div');
  tag.className = self ? 'nametag self' : 'nametag';
  tag.dataset.clientId = id;
  const label = new CSS2DObject(tag);
  label.position.set(0, 2.15, 0);
  group.add(label);
  // In the DOM from the start: CSS2DRenderer appends a tag only once it is in view (and hides
  // it with display: none when it is not), so a player behind the camera would have none.
  labels.domElement.append(tag);
  scene.add(group);
  const avatar = { group, material, tag, name: null, color: null };
  avatars.set(id, avatar);
  dress(avatar, state);
  return avatar;
}

function dress(avatar, state) {
  if (state.name && state.name !== avatar.name) {
    avatar.name = state.name;
    avatar.tag.textContent = state.name; // text, never HTML: names may hold anything printable
  }
  if (state.color && state.color !== avatar.color) {
    avatar.color = state.color;
    avatar.material.color.set(state.color);
    avatar.tag.style.setProperty('--tag-color', state.color);
  }
}

function place(avatar, state) {
  const [x, y, z] = state.position;
  const [w, qx, qy, qz] = state.rotation; // the wire's [w, x, y, z]; three.js's is (x, y, z, w)
  avatar.group.position.set(x, y, z);
  avatar.group.quaternion.set(qx, qy, qz, w);
}

function removeAvatar(id) {
  const avatar = avatars.get(id);
  if (!avatar) return;
  avatars.delete(id);
  scene.remove(avatar.group); // CSS2DObject takes its element out of the DOM on 'removed'
  avatar.material.dispose();
}

function avatarsSnapshot() {
  const out = {};
  for (const [id, { group, name, color }] of avatars) {
    const { x, y, z } = group.position;
    out[id] = { name, color, position: [x, y, z], self: id === hook.client?.clientId };
  }
  return out;
}

// --- the local player ---------------------------------------------------------------------------

const me = { position: new THREE.Vector3((Math.random() - 0.5) * 8, 0, (Math.random() - 0.5) * 8), yaw: 0 };
const held = new Set();
const MOVES = {
  KeyW: [0, -1],
  ArrowUp: [0, -1],
  KeyS: [0, 1],
  ArrowDown: [0, 1],
  KeyA: [-1, 0],
  ArrowLeft: [-1, 0],
  KeyD: [1, 0],
  ArrowRight: [1, 0],
};

function typing(event) {
  return event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement;
}

window.addEventListener('keydown', (event) => {
  if (typing(event)) {
    if (event.key === 'Escape') event.target.blur();
    return;
  }
  if (event.key === 'Enter' && !$('#chat-input').disabled) {
    $('#chat-input').focus(); // Enter opens the chat; Enter there sends, Escape comes back
    event.preventDefault();
    return;
  }
  if (event.code in MOVES) {
    held.add(event.code);
    event.preventDefault();
  }
});
window.addEventListener('keyup', (event) => held.delete(event.code));
window.addEventListener('blur', () => held.clear());

let dragging = false;
world.addEventListener('mousedown', (event) => {
  dragging = true;
  event.target.requestPointerLock?.()?.catch?.(() => {}); // refused (a headless browser): drag
});
window.addEventListener('mouseup', () => {
  dragging = false;
});
window.addEventListener('mousemove', (event) => {
  if (dragging || document.pointerLockElement) me.yaw -= event.movementX * TURN;
});

function rotationOf(yaw) {
  const q = new THREE.Quaternion().setFromAxisAngle(new THREE.Vector3(0, 1, 0), yaw);
  return [q.w, q.x, q.y, q.z];
}

function stateOf(velocity) {
  return {
    position: [me.position.x, me.position.y, me.position.z],
    rotation: rotationOf(me.yaw),
    velocity: [velocity.x, velocity.y, velocity.z],
    animation: velocity.lengthSq() > 0 ? 'walk' : 'idle',
  };
}

// --- chat ---------------------------------------------------------------------------------------

/** The room's chat as shown: items ({id, client_id, name, message, timestamp}), oldest first. */
let chatItems = [];

function renderChat() {
  const log = $('#chat-log');
  log.replaceChildren(...chatItems.map(chatLine));
  log.scrollTop = log.scrollHeight;
}

function chatLine(item) {
  const li = document.createElement('li');
  li.dataset.id = item.id ?? '';
  if (item.system) {
    li.className = 'system';
    li.textContent = item.message;
    return li;
  }
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = item.name;
  const color = hook.client?.players.get(item.client_id)?.color;
  if (color) who.style.color = color;
  li.append(who, `: ${item.message}`);
  return li;
}

function addChat(item) {
  if (item.id && chatItems.some((other) => other.id === item.id)) return;
  chatItems.push(item);
  if (chatItems.length > 200) chatItems.shift();
  const log = $('#chat-log');
  log.append(chatLine(item));
  while (log.children.length > chatItems.length) log.firstElementChild.remove();
  log.scrollTop = log.scrollHeight;
}

function say(text) {
  addChat({ system: true, message: text });
}

// --- the status bar -----------------------------------------------------------------------------

function renderStatus() {
  const client = hook.client;
  const state = $('#status-state');
  state.textContent = client?.status ?? 'closed';
  state.dataset.state = state.textContent;
  $('#status-room').textContent = client?.roomId ?? '—';
  $('#status-players').textContent = String(client?.players.size ?? 0);
  $('#status-ping').textContent = client?.rtt == null ? '—' : String(Math.round(client.rtt));
  $('#status-tick').textContent = client?.tickRate == null ? '—' : String(client.tickRate);
}
setInterval(renderStatus, 500);

// --- the game -----------------------------------------------------------------------------------

function start(room, name, token) {
  const url = socketUrl();
  const client = new SignightClient(url, { name, color: params.get('color') ?? colorOf(name), token });
  hook.client = client;
  let lostAt = null;

  client.on('status', (event) => {
    const at = performance.now();
    hook.statusLog.push({ status: event.status, code: event.code ?? null, at });
    if (event.status === 'reconnecting' && lostAt === null) lostAt = at;
    if (event.status === 'resumed' && lostAt !== null) {
      hook.timings.resumed.push(at - lostAt);
      lostAt = null;
    }
    if (event.status === 'reconnecting') setNote(`lost the connection (${event.code}); back soon`);
    else if (event.status === 'closed') closed(event);
    else setNote('');
    renderStatus();
  });
  client.on('welcome', (frame) => {
    hook.timings.welcome ??= performance.now();
    chatItems = [...frame.chat_history];
    takeOwnState(client);
    renderChat();
  });
  client.on('resumed', (frame) => {
    hook.timings.welcome ??= performance.now();
    if (!frame.recovered) chatItems = [...(frame.chat_history ?? [])];
    takeOwnState(client);
    renderChat();
  });
  client.on('chat', (frame) => {
    const { type, seq, ref, ...item } = frame;
    addChat(item);
  });
  client.on('joined', ({ state }) => say(`${state.name ?? 'someone'} joined`));
  client.on('left', ({ client_id: id }) => say(`${avatars.get(id)?.name ?? 'someone'} left`));
  client.on('error', (frame) => {
    if (frame.code !== 'resume_failed') setNote(`${frame.code}: ${frame.message}`);
  });

  // A reload within the grace resumes: the others see nothing, and nothing is missed.
  const saved = JSON.parse(sessionStorage.getItem(SAVED) ?? 'null');
  const resume = saved && saved.url === url && saved.room === room && saved.name === name ? saved : null;
  if (resume) chatItems = resume.chat ?? [];
  renderChat();
  addEventListener('pagehide', () => {
    if (client.resumeToken === null) {
      sessionStorage.removeItem(SAVED);
      return;
    }
    const chat = chatItems.filter((item) => !item.system).slice(-HISTORY_KEPT);
    const keep = { url, room, name, token: client.resumeToken, seq: client.seq, chat };
    sessionStorage.setItem(SAVED, JSON.stringify(keep));
  });

  client
    .join(room, {
      state: stateOf(new THREE.Vector3()),
      resumeToken: resume?.token,
      lastSeq: resume?.seq,
    })
    .catch((error) => {
      if (error.code === 'closed') return; // the status handler says why
      setNote(`could not join ${room}: ${error.message}`);
      showJoinForm({ room, name });
    });

  const form = $('#chat-form');
  form.onsubmit = (event) => {
    event.preventDefault();
    const text = form.message.value.trim();
    if (!text) return;
    form.message.value = '';
    form.message.blur(); // back to the game: the keys move again
    client.chat(text).catch((error) => say(`not sent (${error.code}): ${text}`));
  };
}

/** The player's own state as the server has it (a Welcome's spawn, or where a Resume left it). */
function takeOwnState(client) {
  const own = client.players.get(client.clientId);
  if (!own) return;
  me.position.set(...own.position);
  const [w, x, y, z] = own.rotation;
  me.yaw = new THREE.Euler().setFromQuaternion(new THREE.Quaternion(x, y, z, w), 'YXZ').y;
}

function closed(event) {
  if (event.code === 4401) {
    sessionStorage.removeItem(SAVED_JWT);
    const again = { room: params.get('room'), name: params.get('name'), askToken: true };
    showJoinForm(again, 'the server wants a valid token (4401)');
  } else if (event.code === 4503) {
    setNote('closed: this page’s origin may not connect to that server (4503); not retrying');
  } else if (event.code != null) {
    setNote(`closed (${event.code}${event.reason ? `: ${event.reason}` : ''})`);
  }
}

// --- the frame loop -----------------------------------------------------------------------------

const timer = new THREE.Timer(); // (THREE.Clock is deprecated since r183)
timer.connect(document); // a hidden tab's pause is not one long step
const velocity = new THREE.Vector3();
const cameraOffset = new THREE.Vector3();
let lastSent = '';
let second = performance.now();
let framesThisSecond = 0;

function frame(now) {
  requestAnimationFrame(frame);
  hook.frames += 1;
  framesThisSecond += 1;
  if (now - second >= 1000) {
    hook.fps = Math.round((framesThisSecond * 1000) / (now - second));
    second = now;
    framesThisSecond = 0;
  }
  timer.update(now);
  const dt = Math.min(timer.getDelta(), 0.1);
  const client = hook.client;

  velocity.set(0, 0, 0);
  for (const code of held) {
    velocity.x += MOVES[code][0];
    velocity.z += MOVES[code][1];
  }
  if (velocity.lengthSq() > 0) velocity.normalize().multiplyScalar(SPEED).applyAxisAngle(camera.up, me.yaw);
  me.position.addScaledVector(velocity, dt);
  me.position.x = THREE.MathUtils.clamp(me.position.x, -GROUND, GROUND);
  me.position.z = THREE.MathUtils.clamp(me.position.z, -GROUND, GROUND);

  if (client) {
    const state = stateOf(velocity);
    const text = JSON.stringify(state);
    if (text !== lastSent && client.roomId !== null) {
      client.update(state); // coalesced by the client to one Update per tick
      lastSent = text;
    }
    syncAvatars(client, state);
  }

  // Behind and above the player, looking a few metres past it: more ground, less sky.
  cameraOffset.set(0, 3.2, 6.5).applyAxisAngle(camera.up, me.yaw);
  camera.position.copy(me.position).add(cameraOffset);
  cameraOffset.set(0, 0, -3).applyAxisAngle(camera.up, me.yaw);
  camera.lookAt(me.position.x + cameraOffset.x, me.position.y + 0.8, me.position.z + cameraOffset.z);
  renderer?.render(scene, camera);
  labels.render(scene, camera);
}

function syncAvatars(client, ownState) {
  for (const id of avatars.keys()) if (!client.players.has(id)) removeAvatar(id);
  const now = client.serverNow();
  for (const [id, latest] of client.players) {
    const self = id === client.clientId;
    const avatar = avatars.get(id) ?? addAvatar(id, latest, self);
    dress(avatar, latest);
    place(avatar, self ? ownState : (client.interpolator.sample(id, now) ?? latest));
  }
}

requestAnimationFrame(frame);

// --- start --------------------------------------------------------------------------------------

// Until start() takes it over, Enter in the chat says what to do (and never submits the form).
$('#chat-form').onsubmit = (event) => {
  event.preventDefault();
  setNote('join a room first');
};

const room = params.get('room');
const name = params.get('name');
const token = takeToken();
if (room && name && (token || !authRequired)) start(room, name, token ?? undefined);
else showJoinForm({ room, name }, authRequired && !token ? 'this server wants a token (JWT)' : '');
renderStatus();
