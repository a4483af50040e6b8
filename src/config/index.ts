/**
 * Configuration: the YAML schema machinery (module-owned sections composed into one strict
 * schema), loading with file:line:column errors, secrets, and reload.
 */
export { ConfigError, formatProblem } from './errors.ts';
export type { ConfigProblem } from './errors.ts';
export { Secret, SECRET_PLACEHOLDER } from './secret.ts';
export { defineSection, parseConfig, validateYaml, loadConfigFile, formatPath, VigilConfig } from './load.ts';
export type { ConfigSection } from './load.ts';
export { ConfigManager } from './manager.ts';
export type { ConfigManagerOptions, ConfigSubscriber, ReloadResult } from './manager.ts';
export { resolveConfigPath } from './context.ts';
export {
  z, duration, positiveDuration, byteSize, secret, secretFile, pickSecret, exclusiveSecret, filePath, labelName, labelSet, regex, httpUrl, hostPort, issueMessage,
} from './schema.ts';
export { globalSection, serverSection, storageSection, CORE_SECTIONS, GLOBAL_DEFAULTS, DEFAULT_LISTEN_ADDRESS } from './core.ts';
export type { GlobalConfig, ServerConfig, StorageConfig } from './core.ts';
