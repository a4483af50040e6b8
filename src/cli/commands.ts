/** Every `vigil` command, in the order `vigil --help` lists them. */
import type { Command } from './command.ts';
import { serverCommand } from './server.ts';
import { checkConfigCommand } from './check.ts';
import { checkRulesCommand, testRulesCommand } from './rules.ts';
import { tsdbImportCommand, tsdbStatsCommand } from './tsdb.ts';
import { alertingRoutesShowCommand, alertingRoutesTestCommand } from './alerting.ts';

export const COMMANDS: readonly Command[] = [
  serverCommand,
  checkConfigCommand,
  checkRulesCommand, testRulesCommand,
  tsdbImportCommand, tsdbStatsCommand,
  alertingRoutesShowCommand, alertingRoutesTestCommand,
];
