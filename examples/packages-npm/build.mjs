// Builds packages-npm.wasm from collector.js: npm run build
//
// The world in wit/world.wit names two outside packages; they are put next
// to it in build/wit/deps: driftwatch's contract as the driftwatch on PATH
// (or $DRIFTWATCH) writes it, and WASI's from jco (a pinned dependency).
// Then componentize-js makes the component, without the engine's HTTP
// features, which the sandbox does not offer.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { componentize } from '@bytecodealliance/componentize-js';

const here = dirname(fileURLToPath(import.meta.url));
const wit = join(here, 'build/wit');
const wasi = join(here, 'node_modules/@bytecodealliance/jco/lib/wit/builtin/0.2.12');
const output = join(here, 'packages-npm.wasm');

if (!existsSync(wasi)) {
  throw new Error(`no WASI WIT at ${wasi}: run npm install first`);
}
rmSync(join(here, 'build'), { recursive: true, force: true });
mkdirSync(join(wit, 'deps'), { recursive: true });
cpSync(join(here, 'wit/world.wit'), join(wit, 'world.wit'));
execFileSync(process.env.DRIFTWATCH ?? 'driftwatch', ['plugin', 'wit', join(wit, 'deps/collector')], { stdio: 'inherit' });
for (const name of ['filesystem', 'io', 'clocks']) {
  cpSync(join(wasi, `wasi-${name}`), join(wit, `deps/${name}`), { recursive: true });
}

const { component } = await componentize({
  sourcePath: join(here, 'collector.js'),
  witPath: wit,
  worldName: 'collector',
  disableFeatures: ['http', 'fetch-event'],
});
writeFileSync(output, component);
console.log(`built ${output}`);
