/** `vigil check config FILE...`: validate configuration files without starting anything. */
import { access } from 'node:fs/promises';
import { ConfigError, loadConfigFile, formatProblem } from '../config/index.ts';
import { configSections } from '../app.ts';
import { errorMessage } from '../model/index.ts';
import type { Command } from './command.ts';

export const checkConfigCommand: Command = {
  path: ['check', 'config'],
  summary: 'Check that configuration files are valid.',
  args: 'FILE...',
  description: 'Exit code 0 when every file is valid, 1 otherwise; each problem is printed as file:line:column: key.path: message.',
  flags: {},
  async run(parsed, io) {
    if (parsed.positionals.length === 0) {
      io.err("vigil: error: check config needs at least one FILE; see 'vigil check config --help'\n");
      return 2;
    }
    let failed = false;
    for (const file of parsed.positionals) {
      try {
        await access(file);
      } catch {
        io.err(`${file}: cannot read configuration file: no such file or directory\n`);
        failed = true;
        continue;
      }
      try {
        await loadConfigFile(file, configSections());
        io.out(`Checking ${file}\n  SUCCESS: ${file} is valid Vigil config file syntax\n`);
      } catch (e) {
        failed = true;
        if (e instanceof ConfigError) {
          io.out(`Checking ${file}\n  FAILED:\n`);
          for (const p of e.problems) io.err(formatProblem(p) + '\n');
        } else io.err(`${file}: ${errorMessage(e)}\n`);
      }
    }
    return failed ? 1 : 0;
  },
};
