#!/usr/bin/env node
// `npx authentik-newsletter`: the CLI (src/cli/main.ts). In this repo it runs the TypeScript
// sources with the Node `make` installs (.tools/bin/node, when the machine's own is older);
// in the image, where only the build is, it runs dist/.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const source = new URL('../src/cli/main.ts', import.meta.url);
const built = new URL('../dist/src/cli/main.js', import.meta.url);
if (existsSync(source)) {
  const local = new URL('../.tools/bin/node', import.meta.url);
  // fileURLToPath, not .pathname: a checkout path with a space would stay %20-encoded.
  const node = existsSync(local) ? fileURLToPath(local) : process.execPath;
  // The checkout's .env, as make dev reads it (the environment wins): the CLI finds the service it configures.
  const dotenv = fileURLToPath(new URL('../.env', import.meta.url));
  // Only when there is one: Node says on stderr that an absent --env-file-if-exists was not found.
  const flags = [
    '--experimental-transform-types',
    '--disable-warning=ExperimentalWarning',
    ...(existsSync(dotenv) ? [`--env-file=${dotenv}`] : []),
  ];
  const child = spawnSync(node, [...flags, fileURLToPath(source), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exitCode = child.status ?? 2;
} else {
  const { main } = await import(built.href);
  await main(process.argv.slice(2));
}
