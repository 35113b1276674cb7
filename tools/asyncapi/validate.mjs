// Validates an AsyncAPI 3 document with the official parser (@asyncapi/parser) and prints one
// JSON object: {parsed, diagnostics: [{severity, code, message, path}]}. severity is Spectral's:
// 0 error, 1 warning, 2 information, 3 hint. Exit status 0 when nothing is an error.
//
// The parser checks the document against the AsyncAPI 3.0 schema and resolves every $ref (the
// payloads' into docs/protocol.schema.json too), but for 3.x it does not validate payload
// schemas of a format it does not know, and it knows JSON Schema draft-07 only; ours are draft
// 2020-12 (what msgspec generates). So each message's resolved payload is checked here against
// the 2020-12 meta-schema with Ajv, and each example against its payload.
//
//     node tools/asyncapi/validate.mjs docs/asyncapi.yaml
import { resolve } from 'node:path';

import { Parser, fromFile } from '@asyncapi/parser';
import Ajv2020 from 'ajv/dist/2020.js';

const DRAFT_2020_12 = 'application/schema+json;version=draft-2020-12';
const ERROR = 0;

const file = resolve(process.argv[2] ?? 'docs/asyncapi.yaml');
const { document, diagnostics } = await fromFile(new Parser(), file).parse();
const report = diagnostics.map((d) => ({
  severity: d.severity,
  code: String(d.code),
  message: d.message,
  path: d.path.join('.'),
}));

if (document !== undefined) {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  for (const message of document.allMessages()) {
    const where = `components.messages.${message.id()}`;
    const fail = (code, text) => report.push({ severity: ERROR, code, message: text, path: where });
    if (message.schemaFormat() !== DRAFT_2020_12) {
      fail('signight-schema-format', `payload schemaFormat is not ${DRAFT_2020_12}`);
      continue;
    }
    // In 3.x the payload is a Multi Format Schema Object: {schemaFormat, schema}.
    const payload = message.payload()?.json();
    const schema = payload?.schemaFormat === undefined ? payload : payload.schema;
    if (schema === undefined || !ajv.validateSchema(schema)) {
      fail('signight-payload-schema', `payload is not a JSON Schema 2020-12: ${ajv.errorsText()}`);
      continue;
    }
    const validate = ajv.compile(schema);
    for (const example of message.examples()) {
      if (example.hasPayload() && !validate(example.payload())) {
        fail('signight-example', `example ${example.name()}: ${ajv.errorsText(validate.errors)}`);
      }
    }
  }
}

process.stdout.write(`${JSON.stringify({ parsed: document !== undefined, diagnostics: report })}\n`);
process.exit(document !== undefined && report.every((d) => d.severity !== ERROR) ? 0 : 1);
