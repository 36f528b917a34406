import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Whether the module at `moduleUrl` is the script Node was started with (directly, through tsx, or
 * through a package bin's symlink), so a CLI module runs its main when executed and not when imported.
 */
export function isEntryPoint(moduleUrl: string, script = process.argv[1]): boolean {
  if (!script) return false;
  try {
    return realpathSync(script) === fileURLToPath(moduleUrl);
  } catch {
    return false;
  }
}
