/** The `vigil` command line. */
export { main } from './main.ts';
export { createLogger, jsonLineToLogfmt } from './logger.ts';
export type { LogFormat, LogLevel } from './logger.ts';
export { buildInfo, versionText } from './version.ts';
export type { Command, CommandIo, FlagSpec, ParsedCommand } from './command.ts';
export { UsageError, parseCommandLine, commandHelp } from './command.ts';
