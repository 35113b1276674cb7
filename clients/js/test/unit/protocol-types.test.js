// protocol.d.ts is what json-schema-to-typescript makes of docs/protocol.schema.json today:
// when the schema changes, `npm run types` rewrites it (and this test says so).

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

import { OUTPUT, protocolTypes } from '../../scripts/protocol-types.mjs';

test('the committed protocol.d.ts is the one generated from the schema', async () => {
  const committed = await readFile(OUTPUT, 'utf8');
  const generated = await protocolTypes();
  assert.ok(
    generated === committed,
    'protocol.d.ts drifted from docs/protocol.schema.json: run `npm run types`',
  );
});

test('the tuples of a state are typed as tuples, not never[] (the 2020-12 rewrite works)', async () => {
  const generated = await protocolTypes();
  assert.match(generated, /position: \[number, number, number\];/);
  assert.match(generated, /rotation: \[number, number, number, number\];/);
  assert.doesNotMatch(generated, /never\[\]/);
});
