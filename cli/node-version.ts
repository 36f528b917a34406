// The Node.js version check of the command-line entry points. Kept free of imports: it must run
// before anything that needs Node 24 is loaded (on an older Node, loading @kubernetes/client-node
// already fails inside undici with a TypeError that says nothing about versions).

/** The Node.js major version the package is built and tested for (package.json `engines`). */
export const REQUIRED_NODE_MAJOR = 24;

/** Why `program` cannot run on Node `version` (e.g. "20.11.1"), or undefined when it can. */
export function unsupportedNodeMessage(version: string, program: string): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (major >= REQUIRED_NODE_MAJOR) return undefined;
  return (
    `${program} needs Node.js ${REQUIRED_NODE_MAJOR} or later; this is Node.js ${version}.\n` +
    `Install Node.js ${REQUIRED_NODE_MAJOR} (for example with nvm: nvm install ${REQUIRED_NODE_MAJOR}) and ` +
    `run npm link again from it, or run it from the repository with npm (npm run fleetiq-status), ` +
    `which uses the Node.js ${REQUIRED_NODE_MAJOR} the package pins whatever Node.js the machine has.\n`
  );
}
