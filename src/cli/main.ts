/**
 * `vigil`: dispatches to a command by the longest matching word path
 * (`vigil check config ...`), prints help and version, and maps errors to exit codes:
 * 0 success, 1 failure, 2 wrong usage. A user mistake never prints a stack trace.
 */
import { COMMANDS } from './commands.ts';
import { commandHelp, parseCommandLine, UsageError, type Command, type CommandIo } from './command.ts';
import { versionText } from './version.ts';
import { errorMessage, VigilError } from '../model/index.ts';

const defaultIo: CommandIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  isTty: Boolean(process.stdout.isTTY),
};

function rootHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.path.join(' ').length + (c.args ? c.args.length + 1 : 0))) + 4;
  const lines = ['usage: vigil <command> [<flags>] [<args> ...]', '', 'Vigil: monitoring, alerting and incident response in one process.', '', 'Commands:'];
  for (const c of COMMANDS) lines.push(`  ${(c.path.join(' ') + (c.args ? ' ' + c.args : '')).padEnd(width)}${c.summary}`);
  lines.push('', 'Flags:', '  --help      Show help (also: vigil <command> --help).', '  --version   Show version.', '');
  return lines.join('\n');
}

function findCommand(argv: string[]): { cmd: Command; rest: string[] } | undefined {
  let best: Command | undefined;
  for (const c of COMMANDS) {
    if (c.path.every((w, i) => argv[i] === w) && (!best || c.path.length > best.path.length)) best = c;
  }
  return best ? { cmd: best, rest: argv.slice(best.path.length) } : undefined;
}

export async function main(argv: string[], io: CommandIo = defaultIo): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    if (argv[0] === 'help' && argv.length > 1) return main([...argv.slice(1), '--help'], io);
    io.out(rootHelp());
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version' || argv[0] === 'version') {
    io.out(versionText());
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    const prefix = COMMANDS.filter((c) => c.path[0] === argv[0]);
    if (prefix.length && (argv.length === 1 || argv[1] === '--help')) {
      io.out(`usage: vigil ${argv[0]} <subcommand>\n\nSubcommands:\n${prefix.map((c) => `  ${c.path.join(' ')}  ${c.summary}`).join('\n')}\n`);
      return argv[1] === '--help' ? 0 : 2;
    }
    io.err(`vigil: error: unknown command ${JSON.stringify(argv.slice(0, 2).join(' '))}; see 'vigil --help'\n`);
    return 2;
  }
  const { cmd, rest } = found;
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(commandHelp(cmd));
    return 0;
  }
  try {
    return await cmd.run(parseCommandLine(cmd, rest), io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`vigil: error: ${e.message}; see 'vigil ${cmd.path.join(' ')} --help'\n`);
      return 2;
    }
    if (e instanceof VigilError) {
      io.err(`vigil: error: ${e.message}\n`);
      return 1;
    }
    io.err(`vigil: internal error: ${e instanceof Error && e.stack ? e.stack : errorMessage(e)}\n`);
    return 1;
  }
}
