// Reading files through WASI's filesystem interface, by absolute path: what
// a JavaScript collector uses where Node.js would use node:fs.
//
// The sandbox gives the component one preopened folder per grant; a path is
// read through the preopen that holds it. A path inside none of them is
// outside the grants (or its grant does not exist), and reads as denied
// rather than "not found". Errors thrown carry a `code`: 'denied',
// 'not-found', or WASI's own code.

import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

function failure(code, message) {
  return Object.assign(new Error(message), { code });
}

// Asked for on first use: the module's top level runs when the component
// is built (snapshotted by Wizer), where there are no preopens yet.
let preopens;

function preopened() {
  preopens ??= getDirectories()
    .map(([descriptor, path]) => ({ descriptor, path: path.replace(/\/+$/, '') }))
    .sort((a, b) => b.path.length - a.path.length);
  return preopens;
}

/** `path` with `.`, `..` and repeated slashes resolved, as text. */
function normalize(path) {
  const names = [];
  for (const name of path.split('/')) {
    if (name === '' || name === '.') continue;
    if (name === '..') names.pop();
    else names.push(name);
  }
  return `/${names.join('/')}`;
}

/** The preopen holding `path` and the path relative to it. */
function locate(path) {
  const full = normalize(path);
  for (const { descriptor, path: root } of preopened()) {
    if (full === root) return { descriptor, relative: '.' };
    if (root === '' || full.startsWith(`${root}/`)) return { descriptor, relative: full.slice(root.length + 1) };
  }
  // A grant that does not exist is not preopened either.
  throw failure('denied', `${full} is not within a granted folder that exists`);
}

/** A WASI error code (thrown by the bindings) as one of ours. */
function translate(error, path) {
  const code = error && (error.payload ?? error);
  if (code === 'no-entry') return failure('not-found', `${path} not found`);
  if (code === 'access' || code === 'not-permitted') return failure('denied', `${path} cannot be read here`);
  return typeof code === 'string' ? failure(code, `${path}: ${code}`) : error;
}

/** Closes a descriptor or stream now: each holds a file handle of the host's. */
function release(resource) {
  const dispose = typeof Symbol.dispose === 'symbol' ? resource[Symbol.dispose] : undefined;
  if (typeof dispose === 'function') dispose.call(resource);
}

function open(path, directory) {
  const { descriptor, relative } = locate(path);
  try {
    return descriptor.openAt({ symlinkFollow: true }, relative, { directory }, { read: true });
  } catch (error) {
    throw translate(error, path);
  }
}

/** The folders the sandbox preopened: the grants that exist. */
export function granted() {
  return preopened().map(({ path }) => path || '/');
}

/** The names in a folder. */
export function listDir(path) {
  const folder = open(path, true);
  let stream;
  try {
    stream = folder.readDirectory();
    const names = [];
    for (let entry = stream.readDirectoryEntry(); entry; entry = stream.readDirectoryEntry()) {
      names.push(entry.name);
    }
    return names;
  } catch (error) {
    throw translate(error, path);
  } finally {
    if (stream) release(stream);
    release(folder);
  }
}

/** A file's content as UTF-8 text. */
export function readText(path) {
  const file = open(path, false);
  const chunks = [];
  let offset = 0n;
  try {
    for (;;) {
      const [bytes, end] = file.read(65536n, offset);
      chunks.push(bytes);
      offset += BigInt(bytes.length);
      if (end || bytes.length === 0) break;
    }
  } catch (error) {
    throw translate(error, path);
  } finally {
    release(file);
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder('utf-8', { fatal: true }).decode(all);
}

/** The modification time, as seconds and nanoseconds, or undefined. */
export function modified(path) {
  const { descriptor, relative } = locate(path);
  try {
    const time = descriptor.statAt({ symlinkFollow: true }, relative).dataModificationTimestamp;
    return time && { seconds: time.seconds, nanoseconds: time.nanoseconds };
  } catch {
    return undefined;
  }
}
