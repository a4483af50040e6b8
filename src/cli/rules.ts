/**
 * `vigil check rules FILE...` and `vigil test rules FILE...`: promtool's `check rules` and
 * `test rules`, with the same output and exit codes.
 */
import { existsSync } from 'node:fs';
import { Engine } from '../promql/index.ts';
import { engineQueryFunc, findDuplicateRules, formatDuplicates, formatRuleFileProblem, loadRuleFile, runRuleTests } from '../rules/index.ts';
import type { Command, CommandIo } from './command.ts';
import { UsageError } from './command.ts';

/** promtool refuses a missing file before doing anything (exit 1). */
function checkExisting(files: string[], what: string, io: CommandIo): boolean {
  if (files.length === 0) {
    io.err(`vigil: error: required argument '${what}' not provided, try --help\n`);
    return false;
  }
  for (const f of files) {
    if (!existsSync(f)) {
      io.err(`vigil: error: path '${f}' does not exist, try --help\n`);
      return false;
    }
  }
  return true;
}

export const checkRulesCommand: Command = {
  path: ['check', 'rules'],
  summary: 'Check that rule files are valid (as promtool check rules).',
  args: 'FILE...',
  description:
    'Prints "Checking FILE" and "SUCCESS: N rules found", or "FAILED:" and each problem (file, line:column, group, rule) on stderr. ' +
    'Exit code 0 when every file is valid, 1 when one is not, 3 for lint problems with --lint-fatal.',
  flags: {
    lint: { type: 'string', default: 'duplicate-rules', placeholder: 'CHECKS', help: 'Linting checks to apply: all, duplicate-rules, none.' },
    'lint-fatal': { type: 'boolean', default: false, help: 'Make lint errors exit with exit code 3.' },
  },
  async run(parsed, io) {
    const lint = String(parsed.flags.lint ?? 'duplicate-rules');
    const lintDuplicates = lint.split(',').some((l) => l === 'all' || l === 'duplicate-rules');
    if (!lint.split(',').every((l) => ['all', 'duplicate-rules', 'none'].includes(l))) throw new UsageError(`--lint: unknown check ${JSON.stringify(lint)} (all, duplicate-rules, none)`);
    if (!checkExisting(parsed.positionals, 'rule-files', io)) return 1;
    let failed = false;
    let hasErrors = false;
    for (const f of parsed.positionals) {
      io.out(`Checking ${f}\n`);
      const r = await loadRuleFile(f);
      if (r.problems.length > 0) {
        io.err('  FAILED:\n');
        for (const p of r.problems) io.err(formatRuleFileProblem(p) + '\n');
        failed = true;
        hasErrors = true;
      } else {
        const dups = lintDuplicates ? findDuplicateRules(r.groups) : [];
        if (dups.length > 0) {
          io.err('  FAILED:\n');
          io.err(`lint error ${formatDuplicates(dups)}\n`);
          failed = true;
        } else {
          io.out(`  SUCCESS: ${r.groups.reduce((n, g) => n + g.rules.length, 0)} rules found\n`);
        }
      }
      io.out('\n');
    }
    if (failed && hasErrors) return 1;
    if (failed && parsed.flags['lint-fatal'] === true) return 3;
    return 0;
  },
};

export const testRulesCommand: Command = {
  path: ['test', 'rules'],
  summary: 'Run rule unit tests (promtool test rules format).',
  args: 'FILE...',
  description: 'Prints "Unit Testing:  FILE" and "SUCCESS", or "FAILED:" and each failing test on stderr. Exit code 0 when every test passes, 1 otherwise.',
  flags: {},
  async run(parsed, io) {
    if (!checkExisting(parsed.positionals, 'test-rule-file', io)) return 1;
    return runRuleTests(parsed.positionals, {
      out: io.out,
      err: io.err,
      queryFuncFor: (queryable, opts) => engineQueryFunc(new Engine({ lookbackDeltaMs: 5 * 60_000, defaultSubqueryStepMs: opts.subqueryStepMs }), queryable),
    });
  },
};
