// protocol.d.ts from the published JSON Schema (../../docs/protocol.schema.json), by
// json-schema-to-typescript. `npm run types` writes it; test/protocol-types.test.js fails when
// the committed file differs from what this generates (the schema changed: run `npm run types`).
//
// json-schema-to-typescript reads draft-07: a 2020-12 tuple (`prefixItems` with `items: false`)
// becomes `never[]` there, so tuples are rewritten as draft-07 ones (`items: [...]`,
// `additionalItems: false`) first; nothing else in the schema is changed.

import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { compile } from 'json-schema-to-typescript';

export const SCHEMA = fileURLToPath(new URL('../../../docs/protocol.schema.json', import.meta.url));
export const OUTPUT = fileURLToPath(new URL('../protocol.d.ts', import.meta.url));

const BANNER = `/* Generated from docs/protocol.schema.json by json-schema-to-typescript
 * (clients/js/scripts/protocol-types.mjs). Do not edit: run \`npm run types\` in clients/js. */`;

/** A copy of `node` with every 2020-12 tuple written the draft-07 way. */
function draft07Tuples(node) {
  if (Array.isArray(node)) return node.map(draft07Tuples);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) out[key] = draft07Tuples(value);
  if (Array.isArray(out.prefixItems)) {
    out.items = out.prefixItems;
    if (node.items === false) out.additionalItems = false;
    delete out.prefixItems;
  }
  return out;
}

/** The text of protocol.d.ts for the schema as it is now. */
export async function protocolTypes() {
  const schema = draft07Tuples(JSON.parse(await readFile(SCHEMA, 'utf8')));
  schema.title = 'ProtocolMessage'; // the root type's name (the schema's title is a sentence)
  return compile(schema, 'ProtocolMessage', {
    bannerComment: BANNER,
    unreachableDefinitions: true,
    additionalProperties: false,
    strictIndexSignatures: true,
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = await protocolTypes();
  if (process.argv.includes('--write')) {
    await writeFile(OUTPUT, text);
    console.log(`wrote ${OUTPUT}`);
  } else {
    process.stdout.write(text);
  }
}
