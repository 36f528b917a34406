// The product's version, in one place: package.json's `version`, read at start. The file is found by
// walking up from this module when running from the sources; the production bundle has it built in.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'fleetiq-agones';

function readVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === PACKAGE_NAME && pkg.version) return pkg.version;
    } catch {
      // no package.json here, or not ours: keep walking up
    }
    const parent = dirname(dir);
    if (parent === dir) return '0.0.0-unknown';
    dir = parent;
  }
}

/** Set by the production build (scripts/build.ts), whose image holds no package.json. */
declare const __FLEETIQ_VERSION__: string | undefined;

export const VERSION: string = typeof __FLEETIQ_VERSION__ === 'string' ? __FLEETIQ_VERSION__ : readVersion();
