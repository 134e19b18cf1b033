// packages-npm: a driftwatch packages collector, in JavaScript.
//
// Reports the npm packages installed globally (name, version, description,
// author), read from their package.json files by packages.js.
// componentize-js turns this module into a component of the `collector`
// world in wit/world.wit (the contract's packages-collector plus WASI's
// preopens, through which files are read); `npm run build` says how.
//
// Options (manifest `options`):
//   paths  node_modules folders to read, separated by `:` (default:
//          /usr/local/lib/node_modules, then /usr/lib/node_modules)

import { log } from 'driftwatch:collector/log@0.1.3';

import { collect, GLOBAL_FOLDERS } from './packages.js';
import * as files from './wasi-files.js';

const VERSION = '0.1.0';
const BATCH = 500;

function option(settings, key) {
  return settings.options.find((setting) => setting.key === key)?.value;
}

function record(found) {
  return {
    name: found.name,
    version: found.version,
    architecture: '',
    publisher: found.publisher,
    description: found.description,
    softwareType: 'package',
    installState: 'installed',
    installDate: found.installed && { seconds: BigInt(found.installed.seconds), nanoseconds: found.installed.nanoseconds },
  };
}

function deniedMessage(folders) {
  return `denied: ${folders.join(', ')}: not within a granted folder that exists (grant it in \`grants\`, and check that it exists)`;
}

/** The result of one collection, handed out in batches. */
class Batches {
  constructor(records, summary) {
    this.records = records;
    this.ending = summary;
  }

  next() {
    if (this.records.length === 0) return undefined;
    return this.records.splice(0, BATCH);
  }

  summary() {
    return this.ending;
  }
}

function present(folders) {
  return folders.filter((folder) => {
    try {
      files.listDir(folder);
      return true;
    } catch {
      return false;
    }
  });
}

export const access = {
  defaultGrants() {
    return [...GLOBAL_FOLDERS];
  },
};

export const packages = {
  Batches,

  describe() {
    return {
      name: 'packages-npm',
      version: VERSION,
      kind: 'packages',
      platforms: ['linux', 'macos'],
      description: 'npm packages installed globally (node_modules/*/package.json)',
    };
  },

  probe() {
    // The probe is not given the options: it looks in the usual places,
    // unless the manifest granted other folders, which `paths` then names.
    const found = present(GLOBAL_FOLDERS);
    if (found.length > 0) return { applies: true, reason: `global npm packages in ${found.join(', ')}` };
    const others = files.granted().filter((folder) => !GLOBAL_FOLDERS.includes(folder));
    if (others.length > 0) return { applies: true, reason: `granted ${others.join(', ')}: reading \`paths\`` };
    return { applies: false, reason: `no ${GLOBAL_FOLDERS.join(' or ')}` };
  },

  collect(settings) {
    const paths = option(settings, 'paths');
    const folders = paths === undefined ? GLOBAL_FOLDERS : paths.split(':').filter((p) => p !== '');
    if (folders.length === 0) throw { tag: 'invalid-settings', val: 'paths names no folder' };
    const relative = folders.find((folder) => !folder.startsWith('/'));
    if (relative !== undefined) throw { tag: 'invalid-settings', val: `paths: ${relative} is not absolute` };
    const result = collect(folders.map((folder) => folder.replace(/(.)\/+$/, '$1')), files, paths !== undefined);
    if (paths === undefined && result.read === 0) {
      throw { tag: 'not-found', val: `no ${GLOBAL_FOLDERS.join(' or ')} (name others in \`paths\`)` };
    }
    if (result.denied.length > 0 && result.read === 0) throw { tag: 'unreadable', val: deniedMessage(result.denied) };
    log('debug', `${result.packages.length} packages in ${result.read} folders`);
    // What a denied or unlistable folder holds is unknown: nothing there may be taken as removed.
    const unknown = [];
    if (result.denied.length > 0) unknown.push(deniedMessage(result.denied));
    if (result.unread.length > 0) unknown.push(`not listed: ${result.unread.join(', ')}`);
    return new Batches(result.packages.map(record), {
      warnings: result.warnings,
      incomplete: unknown.length > 0 ? unknown.join('; ') : undefined,
    });
  },
};
