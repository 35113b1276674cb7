// The declarations: signight.d.ts (by hand) declares what signight.js exports, no more, no less,
// and with protocol.d.ts it compiles under strict TypeScript, used as the README uses the API
// (test/types/usage.ts).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import * as runtime from '../../signight.js';

const PACKAGE = fileURLToPath(new URL('../../', import.meta.url));

test('signight.d.ts declares exactly the values signight.js exports', async () => {
  const declarations = await readFile(new URL('../../signight.d.ts', import.meta.url), 'utf8');
  const declared = [...declarations.matchAll(/^export declare (?:const|function|class) (\w+)/gm)].map(
    (m) => m[1],
  );
  assert.deepEqual(declared.sort(), Object.keys(runtime).sort());
});

test(
  'the declarations compile under strict TypeScript with a usage example',
  { timeout: 60_000 },
  async () => {
    const tsc = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url));
    try {
      await promisify(execFile)(process.execPath, [tsc, '-p', 'test/types'], { cwd: PACKAGE });
    } catch (error) {
      assert.fail(`tsc found errors:\n${error.stdout}${error.stderr}`);
    }
  },
);
