import { VigilError } from '../model/index.ts';

/** One problem in a configuration file, located as precisely as the file allows. */
export interface ConfigProblem {
  file: string;
  /** 1-based; 0 when the position is unknown. */
  line: number;
  /** 1-based; 0 when the position is unknown. */
  column: number;
  /** Key path, e.g. `scrape_configs[0].scrape_interval` ('' for the whole file). */
  path: string;
  message: string;
}

/** `file:line:col: path: message`, the one-line form `vigil check config` prints. */
export function formatProblem(p: ConfigProblem): string {
  const loc = p.line > 0 ? `${p.file}:${p.line}:${p.column}` : p.file;
  return p.path ? `${loc}: ${p.path}: ${p.message}` : `${loc}: ${p.message}`;
}

/** A configuration that cannot be used; `problems` lists every problem found. */
export class ConfigError extends VigilError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super('config_invalid', problems.map(formatProblem).join('\n') || 'invalid configuration');
    this.problems = problems;
  }
}
