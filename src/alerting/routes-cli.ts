/**
 * amtool's `config routes` output for a routing tree: `show` prints the tree, `test` prints the
 * receivers an alert with the given labels goes to (comma-separated), exactly as amtool does.
 */
import type { Labels } from '../model/index.ts';
import type { Route } from './route.ts';
import { matchersString } from './matchers.ts';

/** amtool's `config routes show` text. */
export function routingTree(root: Route): string {
  const lines: string[] = ['Routing tree:', '.'];
  const label = (r: Route) => {
    const base = r.parent === undefined ? 'default-route' : matchersString(r.matchers);
    const extra = r.continue ? '  continue: true' : '';
    return `${base}${extra}  receiver: ${r.opts.receiver}`;
  };
  const walk = (r: Route, prefix: string, last: boolean, isRoot: boolean) => {
    lines.push(`${prefix}${isRoot ? '└── ' : last ? '└── ' : '├── '}${label(r)}`);
    // amtool (treeprint) pads the vertical bar with two no-break spaces.
    const childPrefix = prefix + (isRoot || last ? '    ' : '│\u00a0\u00a0 ');
    r.routes.forEach((c, i) => walk(c, childPrefix, i === r.routes.length - 1, false));
  };
  walk(root, '', true, true);
  return lines.join('\n') + '\n\n';
}

/** amtool's `config routes test` line: the matched routes' receivers joined with commas (repeats kept). */
export function routesTest(root: Route, labels: Labels): string {
  return root.match(labels).map((r) => r.opts.receiver).join(',');
}
