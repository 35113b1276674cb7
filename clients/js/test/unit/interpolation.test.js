// The interpolation helper: states buffered by server time, rendered at now − delay; position
// and velocity linear, the rotation (a quaternion [w, x, y, z], docs/protocol.md) by slerp.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { interpolateState, Interpolator, lerpVector, slerp } from '../../signight.js';

const EPSILON = 1e-9;

function assertClose(actual, expected, message) {
  assert.equal(actual.length, expected.length, message);
  actual.forEach((value, i) => {
    assert.ok(Math.abs(value - expected[i]) < EPSILON, `${message ?? ''} [${actual}] != [${expected}]`);
  });
}

/** A rotation of `degrees` about the unit axis `axis`, as [w, x, y, z]. */
function about(axis, degrees) {
  const half = (degrees * Math.PI) / 360;
  return [Math.cos(half), ...axis.map((a) => a * Math.sin(half))];
}

const Y = [0, 1, 0];
const state = (x, degrees, extra = {}) => ({ position: [x, 0, -x], rotation: about(Y, degrees), ...extra });

test('lerpVector is linear, element by element', () => {
  assertClose(lerpVector([0, 10, -4], [10, 20, 4], 0), [0, 10, -4]);
  assertClose(lerpVector([0, 10, -4], [10, 20, 4], 0.25), [2.5, 12.5, -2]);
  assertClose(lerpVector([0, 10, -4], [10, 20, 4], 1), [10, 20, 4]);
});

test('slerp turns at a constant rate: halfway from 0° to 90° about Y is 45° about Y', () => {
  assertClose(slerp(about(Y, 0), about(Y, 90), 0.5), about(Y, 45));
  assertClose(slerp(about(Y, 0), about(Y, 90), 0.25), about(Y, 22.5));
  assertClose(slerp(about(Y, 10), about(Y, 170), 0.5), about(Y, 90));
});

test('slerp takes the shorter way: q and −q are the same rotation', () => {
  const negated = about(Y, 90).map((v) => -v);
  assertClose(slerp(about(Y, 0), negated, 0.5), about(Y, 45));
});

test('slerp normalizes what it is given, and returns a unit quaternion', () => {
  const q = slerp(
    [2, 0, 0, 0],
    about(Y, 90).map((v) => v * 3),
    0.5,
  );
  assertClose(q, about(Y, 45));
  assert.ok(Math.abs(Math.hypot(...q) - 1) < EPSILON);
});

test('slerp of nearly equal rotations (normalized lerp there) stays between them', () => {
  const q = slerp(about(Y, 0), about(Y, 0.01), 0.5);
  assertClose(q, about(Y, 0.005));
});

test('interpolateState: position and velocity linear, rotation slerped, the other fields the older one', () => {
  const a = state(0, 0, { name: 'Bob', animation: 'idle', velocity: [0, 0, 0] });
  const b = state(4, 90, { name: 'Bob', animation: 'walking', velocity: [2, 0, 0] });
  const mid = interpolateState(a, b, 0.5);

  assertClose(mid.position, [2, 0, -2]);
  assertClose(mid.rotation, about(Y, 45));
  assertClose(mid.velocity, [1, 0, 0]);
  assert.equal(mid.animation, 'idle');
  assert.equal(mid.name, 'Bob');
});

test('the Interpolator renders at now − delay between the two samples around it', () => {
  const interpolator = new Interpolator({ delay: 100 });
  interpolator.push('bob', 1000, state(0, 0));
  interpolator.push('bob', 1050, state(10, 90));

  assertClose(interpolator.sample('bob', 1125).position, [5, 0, -5]);
  assertClose(interpolator.sample('bob', 1125).rotation, about(Y, 45));
  assertClose(interpolator.sample('bob', 1110).position, [2, 0, -2]);
});

test('before the oldest sample it holds the oldest; past the newest it holds the newest', () => {
  const interpolator = new Interpolator({ delay: 100 });
  interpolator.push('bob', 1000, state(0, 0));
  interpolator.push('bob', 1050, state(10, 90));

  assert.deepEqual(interpolator.sample('bob', 1000), state(0, 0));
  assert.deepEqual(interpolator.sample('bob', 1150), state(10, 90));
  assert.deepEqual(interpolator.sample('bob', 99_999), state(10, 90));
  assert.equal(interpolator.sample('alice', 1100), undefined);
});

test('samples are ordered by server time, whatever order they arrive in; a repeated time replaces', () => {
  const interpolator = new Interpolator({ delay: 0 });
  interpolator.push('bob', 1100, state(10, 0));
  interpolator.push('bob', 1000, state(0, 0));
  interpolator.push('bob', 1050, state(4, 0));
  interpolator.push('bob', 1050, state(5, 0));

  assert.deepEqual(
    interpolator.buffers.get('bob').map((s) => s.time),
    [1000, 1050, 1100],
  );
  assertClose(interpolator.sample('bob', 1025).position, [2.5, 0, -2.5]);
  assertClose(interpolator.sample('bob', 1075).position, [7.5, 0, -7.5]);
});

test('old samples are dropped (keep ms before the newest, maxSamples), never the last two', () => {
  const interpolator = new Interpolator({ delay: 100, keep: 200, maxSamples: 64 });
  for (let t = 0; t <= 1000; t += 50) interpolator.push('bob', t, state(t, 0));
  const times = interpolator.buffers.get('bob').map((s) => s.time);
  assert.deepEqual(times, [750, 800, 850, 900, 950, 1000]);

  const capped = new Interpolator({ keep: 1e9, maxSamples: 3 });
  for (let t = 0; t <= 1000; t += 50) capped.push('bob', t, state(t, 0));
  assert.deepEqual(
    capped.buffers.get('bob').map((s) => s.time),
    [900, 950, 1000],
  );
});

test('a sample is a copy: changing it changes nothing buffered', () => {
  const interpolator = new Interpolator();
  interpolator.push('bob', 1000, state(0, 0));
  interpolator.sample('bob', 5000).animation = 'mutated';
  assert.equal(interpolator.sample('bob', 5000).animation, undefined);
});

test('remove and clear forget players', () => {
  const interpolator = new Interpolator();
  interpolator.push('bob', 1000, state(0, 0));
  interpolator.push('eve', 1000, state(0, 0));
  interpolator.remove('bob');
  assert.equal(interpolator.sample('bob', 2000), undefined);
  assert.ok(interpolator.sample('eve', 2000));
  interpolator.clear();
  assert.equal(interpolator.sample('eve', 2000), undefined);
});
