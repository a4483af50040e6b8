/**
 * `vigil alerting routes show|test`: amtool's `config routes` for Vigil's configuration, with
 * the same output and exit codes. `--config.file` is vigil.yml (its `alerting` section, inline
 * or `config_file`) or an Alertmanager configuration file (recognised by a top-level `route:`).
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { ConfigError, formatProblem, parseConfig } from '../config/index.ts';
import { alertingSection, parseAlertmanagerConfig, parseMatcher, Route, routesTest, routingTree, type AlertmanagerConfig } from '../alerting/index.ts';
import { configSections } from '../app.ts';
import { errorMessage, LabelsBuilder } from '../model/index.ts';
import type { Command, CommandIo, ParsedCommand } from './command.ts';
import { UsageError } from './command.ts';

async function loadRouting(file: string, io: CommandIo): Promise<AlertmanagerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    io.err(`vigil: error: cannot read ${file}: ${errorMessage(e)}\n`);
    return undefined;
  }
  try {
    const top = parseDocument(text).toJS() as Record<string, unknown> | null;
    if (top && typeof top === 'object' && 'route' in top) return parseAlertmanagerConfig(text, file);
    const am = parseConfig(text, file, configSections()).get(alertingSection).alertmanager;
    if (!am) io.err(`vigil: error: ${file} has no alerting routing configuration (alerting.route)\n`);
    return am;
  } catch (e) {
    if (e instanceof ConfigError) for (const p of e.problems) io.err(formatProblem(p) + '\n');
    else io.err(`vigil: error: ${errorMessage(e)}\n`);
    return undefined;
  }
}

const FLAGS = {
  'config.file': { type: 'string', default: 'vigil.yml', placeholder: 'FILE', help: 'vigil.yml or an Alertmanager configuration file.' },
} as const satisfies Command['flags'];

function configFile(p: ParsedCommand): string {
  return String(p.flags['config.file'] ?? 'vigil.yml');
}

export const alertingRoutesShowCommand: Command = {
  path: ['alerting', 'routes', 'show'],
  summary: 'Print the alert routing tree (as amtool config routes show).',
  flags: FLAGS,
  async run(parsed, io) {
    const am = await loadRouting(configFile(parsed), io);
    if (!am) return 1;
    io.out(routingTree(new Route(am.route, undefined)));
    return 0;
  },
};

export const alertingRoutesTestCommand: Command = {
  path: ['alerting', 'routes', 'test'],
  summary: 'Print the receivers an alert with the given labels is routed to (as amtool config routes test).',
  args: 'LABEL=VALUE...',
  description: 'Exit code 1 when --verify.receivers is given and differs from the result (a warning is printed).',
  flags: {
    ...FLAGS,
    'verify.receivers': { type: 'string', placeholder: 'RECEIVERS', help: 'Comma-separated receivers expected; exit 1 when they differ.' },
  },
  async run(parsed, io) {
    const b = new LabelsBuilder();
    for (const arg of parsed.positionals) {
      let m;
      try {
        m = parseMatcher(arg);
      } catch (e) {
        throw new UsageError(`${JSON.stringify(arg)}: ${errorMessage(e)}`);
      }
      if (m.type !== '=') throw new UsageError(`${JSON.stringify(arg)}: labels are name=value`);
      b.set(m.name, m.value);
    }
    const am = await loadRouting(configFile(parsed), io);
    if (!am) return 1;
    const slug = routesTest(new Route(am.route, undefined), b.build());
    io.out(`${slug}\n`);
    const expected = parsed.flags['verify.receivers'];
    if (typeof expected === 'string' && expected !== '' && expected !== slug) {
      io.out('WARNING: Expected receivers did not match resolved receivers.\n');
      return 1;
    }
    return 0;
  },
};
