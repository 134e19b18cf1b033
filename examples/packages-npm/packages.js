// Globally installed npm packages: `node_modules/NAME/package.json` and
// `node_modules/@SCOPE/NAME/package.json` under a global prefix.
//
// Plain JavaScript with no tie to WebAssembly: it reads through the `files`
// object it is given (wasi-files.js in the component, node:fs in
// packages.test.js), so `npm test` runs it under Node.js.

// Where npm keeps global packages, in the order they are looked at: a
// package found twice counts where it is found first. /usr/local is npm's
// own default prefix; /usr/lib is where distributions' npm packages go.
export const GLOBAL_FOLDERS = ['/usr/local/lib/node_modules', '/usr/lib/node_modules'];

// `files` throws errors whose `code` is 'denied' (the sandbox does not let
// the collector read the path) or 'not-found', or another word.

/** The publisher of a package: its author's name, as npm writes it. */
function publisher(manifest) {
  const author = manifest.author;
  if (typeof author === 'string') return author.replace(/\s*[<(].*$/, '').trim();
  if (author && typeof author.name === 'string') return author.name.trim();
  return '';
}

/** One package from the text of its package.json; throws saying what is wrong. */
export function parseManifest(text) {
  let manifest;
  try {
    manifest = JSON.parse(text);
  } catch (error) {
    throw new Error(`not JSON: ${error.message}`);
  }
  if (manifest === null || typeof manifest !== 'object' || Array.isArray(manifest)) {
    throw new Error('not a JSON object');
  }
  const { name, version, description } = manifest;
  if (typeof name !== 'string' || name === '') throw new Error('no "name"');
  if (typeof version !== 'string' || version === '') throw new Error('no "version"');
  return {
    name,
    version,
    description: typeof description === 'string' ? description : '',
    publisher: publisher(manifest),
  };
}

/**
 * The package folders directly in a node_modules folder (scopes opened). A
 * scope folder that cannot be listed is a warning, and `unread`: what it
 * holds is unknown.
 */
function packageFolders(folder, files, warnings, unread) {
  const found = [];
  for (const entry of files.listDir(folder).sort()) {
    if (entry.startsWith('.')) continue; // .bin, .package-lock.json
    if (!entry.startsWith('@')) {
      found.push(`${folder}/${entry}`);
      continue;
    }
    try {
      for (const scoped of files.listDir(`${folder}/${entry}`).sort()) {
        if (!scoped.startsWith('.')) found.push(`${folder}/${entry}/${scoped}`);
      }
    } catch (error) {
      warnings.push({ subject: `${folder}/${entry}`, message: reason(error) });
      unread.push(`${folder}/${entry}`);
    }
  }
  return found;
}

function reason(error) {
  if (error.code === 'denied') return `denied: ${error.message}`;
  if (error.code === 'not-found') return 'not found';
  return error.message;
}

/**
 * The packages of the given node_modules folders. Besides them: warnings
 * for items and folders that could not be read; the folders the sandbox
 * denied; those that could not be listed for another reason (`unread`:
 * what they hold is unknown, so nothing in them may be taken as removed);
 * and how many folders were read.
 * `explicit`: the folders were named in the manifest, so a missing one is a
 * warning and a denied one is reported (the default ones are looked for and
 * may be absent).
 */
export function collect(folders, files, explicit) {
  const packages = [];
  const warnings = [];
  const denied = [];
  const unread = [];
  const seen = new Set();
  let read = 0;
  for (const folder of folders) {
    let candidates;
    try {
      candidates = packageFolders(folder, files, warnings, unread);
    } catch (error) {
      // A default folder that is absent (or left out of the grants) is skipped.
      if (!explicit && (error.code === 'not-found' || error.code === 'denied')) continue;
      if (error.code === 'denied') {
        denied.push(folder);
      } else {
        warnings.push({ subject: folder, message: reason(error) });
        if (error.code !== 'not-found') unread.push(folder);
      }
      continue;
    }
    read += 1;
    for (const path of candidates) {
      const manifestPath = `${path}/package.json`;
      let item;
      try {
        item = parseManifest(files.readText(manifestPath));
        item.installed = files.modified(path);
      } catch (error) {
        warnings.push({ subject: manifestPath, message: reason(error) });
        continue;
      }
      if (seen.has(item.name)) continue; // shadowed by an earlier folder
      seen.add(item.name);
      packages.push(item);
    }
  }
  return { packages, warnings, denied, unread, read };
}
