// Prints the installed version of each pinned interop peer (a smoke check that `npm ci` ran).
import { readFileSync } from 'node:fs';
const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url)));
for (const name of Object.keys(lock.packages[''].dependencies)) {
  const installed = JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url)));
  console.log(`${name} ${installed.version}`);
}
