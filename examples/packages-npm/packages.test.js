// Unit tests of packages.js under Node.js, reading through node:fs: npm test
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { collect, parseManifest } from './packages.js';

function nodeFiles(denied) {
  const guard = (p, work) => {
    if (p.startsWith(denied)) throw Object.assign(new Error(`${p} is outside the grants`), { code: 'denied' });
    try {
      return work();
    } catch (error) {
      if (error.code === 'ENOENT') throw Object.assign(new Error(`${p} not found`), { code: 'not-found' });
      throw error;
    }
  };
  return {
    listDir: (p) => guard(p, () => fs.readdirSync(p)),
    readText: (p) => guard(p, () => fs.readFileSync(p, 'utf8')),
    modified: (p) => ({ seconds: Math.floor(fs.statSync(p).mtimeMs / 1000), nanoseconds: 0 }),
  };
}

function write(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

test('author forms and missing fields', () => {
  assert.equal(parseManifest('{"name":"a","version":"1","author":"Ann Lee <ann@x.org> (https://x.org)"}').publisher, 'Ann Lee');
  assert.equal(parseManifest('{"name":"a","version":"1","author":{"name":"Bo"}}').publisher, 'Bo');
  assert.throws(() => parseManifest('{"name":"a"}'), /no "version"/);
  assert.throws(() => parseManifest('{"name":'), /not JSON/);
  assert.throws(() => parseManifest('[]'), /not a JSON object/);
});

test('plain and scoped packages, a broken one, the first folder winning, a denied folder', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'npm-global-'));
  const first = `${root}/local/node_modules`;
  const second = `${root}/lib/node_modules`;
  write(`${first}/npm/package.json`, '{"name":"npm","version":"10.8.2"}');
  write(`${first}/@vue/cli/package.json`, '{"name":"@vue/cli","version":"5.0.8"}');
  write(`${first}/.bin/x`, '');
  write(`${first}/broken/package.json`, '{"name":"broken",');
  write(`${second}/npm/package.json`, '{"name":"npm","version":"9.2.0"}');
  write(`${second}/corepack/package.json`, '{"name":"corepack","version":"0.24.0"}');
  write(`${root}/not-a-folder`, '');
  const folders = [first, second, `${root}/secret`, `${root}/not-a-folder`, `${root}/absent`];
  const result = collect(folders, nodeFiles(`${root}/secret`), true);
  assert.deepEqual(
    result.packages.map((p) => [p.name, p.version]),
    [['@vue/cli', '5.0.8'], ['npm', '10.8.2'], ['corepack', '0.24.0']],
  );
  assert.deepEqual(
    result.warnings.map((w) => path.relative(root, w.subject)),
    ['local/node_modules/broken/package.json', 'not-a-folder', 'absent'],
  );
  assert.deepEqual(result.denied, [`${root}/secret`]);
  // Not listed for another reason: unknown, unlike the absent one.
  assert.deepEqual(result.unread, [`${root}/not-a-folder`]);
  assert.equal(result.read, 2);
  fs.rmSync(root, { recursive: true });
});
