/**
 * The command table. A command is a path of words (`check config`), its flags in Prometheus'
 * dotted style (`--config.file`), and a run function returning the exit code. Commands
 * live in their own files and are listed in `commands.ts`.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { VigilError } from '../model/index.ts';

export interface FlagSpec {
  type: 'string' | 'boolean';
  /** Shown in help; for strings also the value when the flag is absent. */
  default?: string | boolean;
  help: string;
  /** Value placeholder in help, e.g. `DURATION`. */
  placeholder?: string;
  multiple?: boolean;
  short?: string;
}

export interface CommandIo {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Whether stdout is a terminal (progress bars). */
  isTty: boolean;
}

export interface ParsedCommand {
  /** Flag values (defaults applied); absent strings without default are undefined. */
  flags: Record<string, string | boolean | string[] | undefined>;
  /** Which flags were given explicitly. */
  given: Set<string>;
  positionals: string[];
}

export interface Command {
  path: string[];
  summary: string;
  /** Positional arguments as shown in help, e.g. `FILE...`. */
  args?: string;
  description?: string;
  flags: Record<string, FlagSpec>;
  run(parsed: ParsedCommand, io: CommandIo): Promise<number>;
}

/** Thrown for a wrong command line: printed with a pointer to --help, exit code 2. */
export class UsageError extends VigilError {
  constructor(message: string) {
    super('usage', message);
  }
}

export function parseCommandLine(cmd: Command, argv: string[]): ParsedCommand {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, spec] of Object.entries(cmd.flags)) {
    options[name] = { type: spec.type, ...(spec.multiple ? { multiple: true } : {}), ...(spec.short ? { short: spec.short } : {}) };
  }
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true, allowNegative: true } as ParseArgsConfig);
    values = r.values as Record<string, unknown>;
    positionals = r.positionals;
  } catch (e) {
    const msg = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '').replace(/^Unknown option '(.*?)'/, 'unknown flag $1');
    throw new UsageError(msg);
  }
  const flags: ParsedCommand['flags'] = {};
  const given = new Set<string>();
  for (const [name, spec] of Object.entries(cmd.flags)) {
    const v = values[name];
    if (v !== undefined) {
      given.add(name);
      flags[name] = v as string | boolean | string[];
    } else flags[name] = spec.default;
  }
  return { flags, given, positionals };
}

export function commandHelp(cmd: Command): string {
  const lines = [`usage: vigil ${cmd.path.join(' ')}${Object.keys(cmd.flags).length ? ' [<flags>]' : ''}${cmd.args ? ' ' + cmd.args : ''}`, '', cmd.summary];
  if (cmd.description) lines.push('', cmd.description);
  const entries = Object.entries(cmd.flags);
  if (entries.length) {
    lines.push('', 'Flags:');
    const left = entries.map(([n, s]) => `  --${n}${s.type === 'string' ? `=${s.placeholder ?? 'VALUE'}` : ''}`);
    const width = Math.min(48, Math.max(...left.map((l) => l.length)) + 2);
    entries.forEach(([, s], i) => {
      const def = s.default !== undefined && s.default !== '' && s.default !== false ? ` (default: ${String(s.default)})` : '';
      const l = left[i]!;
      lines.push(l.length < width ? l.padEnd(width) + s.help + def : `${l}\n${' '.repeat(width)}${s.help}${def}`);
    });
    lines.push(`  --help${' '.repeat(Math.max(1, width - 8))}Show this help.`);
  }
  return lines.join('\n') + '\n';
}
