/**
 * The running configuration and its reloads (SIGHUP, `POST /-/reload`).
 *
 * A reload reads and validates the file; an invalid file is rejected and the running
 * configuration stays. A valid one is handed to every subscriber in registration order; if a
 * subscriber fails, the reload counts as failed (modules applied before it keep the new
 * configuration, as in Prometheus) and the error is reported. Reloads are serialised.
 */
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { errorMessage, systemClock, type Clock, type HealthCheck } from '../model/index.ts';
import { ConfigError } from './errors.ts';
import { loadConfigFile, parseConfig, type ConfigSection, type VigilConfig } from './load.ts';

export type ConfigSubscriber = (next: VigilConfig, previous: VigilConfig) => void | Promise<void>;

export interface ReloadResult {
  success: boolean;
  /** Whether the file differed from the running configuration. */
  changed: boolean;
  error?: string;
}

export interface ConfigManagerOptions {
  /** Path of the configuration file; undefined runs on built-in defaults (`defaultsYaml`). */
  file: string | undefined;
  sections: readonly ConfigSection[];
  logger: Logger;
  registry?: Registry;
  clock?: Clock;
  /** YAML used when `file` is undefined. */
  defaultsYaml?: string;
}

export class ConfigManager {
  private cfg: VigilConfig | undefined;
  private readonly subscribers: Array<{ name: string; fn: ConfigSubscriber }> = [];
  private chain: Promise<unknown> = Promise.resolve();
  private last: { success: boolean; time: number; error?: string } = { success: true, time: 0 };
  private readonly clock: Clock;
  private readonly successGauge: Gauge | undefined;
  private readonly timestampGauge: Gauge | undefined;

  constructor(private readonly opts: ConfigManagerOptions) {
    this.clock = opts.clock ?? systemClock;
    if (opts.registry) {
      this.successGauge = new Gauge({ name: 'vigil_config_last_reload_successful', help: 'Whether the last configuration reload attempt was successful.', registers: [opts.registry] });
      this.timestampGauge = new Gauge({ name: 'vigil_config_last_reload_success_timestamp_seconds', help: 'Timestamp of the last successful configuration reload.', registers: [opts.registry] });
    }
  }

  get file(): string | undefined {
    return this.opts.file;
  }

  /** The running configuration. Throws before `load()` succeeded. */
  get current(): VigilConfig {
    if (!this.cfg) throw new Error('configuration not loaded yet');
    return this.cfg;
  }

  get lastReload(): Readonly<{ success: boolean; time: number; error?: string }> {
    return this.last;
  }

  private read(): Promise<VigilConfig> {
    if (this.opts.file === undefined) return Promise.resolve(parseConfig(this.opts.defaultsYaml ?? '', undefined, this.opts.sections));
    return loadConfigFile(this.opts.file, this.opts.sections);
  }

  /** The first load at start-up. Throws ConfigError. */
  async load(): Promise<VigilConfig> {
    this.cfg = await this.read();
    this.mark(true);
    return this.cfg;
  }

  /** Registers a module to receive new configurations on reload. */
  subscribe(name: string, fn: ConfigSubscriber): void {
    this.subscribers.push({ name, fn });
  }

  /** Reloads from the file. Never throws; the result says what happened. */
  reload(): Promise<ReloadResult> {
    const run = this.chain.then(() => this.doReload());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async doReload(): Promise<ReloadResult> {
    const log = this.opts.logger;
    const started = this.clock.now();
    log.info({ file: this.opts.file }, 'Loading configuration file');
    let next: VigilConfig;
    try {
      next = await this.read();
    } catch (e) {
      const error = e instanceof ConfigError ? e.message : errorMessage(e);
      this.mark(false, error);
      log.error({ file: this.opts.file, err: error }, 'Error reloading config: the new configuration is invalid, the running one is kept');
      return { success: false, changed: false, error };
    }
    const prev = this.current;
    const changed = next.hash !== prev.hash;
    this.cfg = next;
    for (const s of this.subscribers) {
      try {
        await s.fn(next, prev);
      } catch (e) {
        const error = `applying the configuration in ${s.name} failed: ${errorMessage(e)}`;
        this.mark(false, error);
        log.error({ file: this.opts.file, err: error }, 'Error reloading config');
        return { success: false, changed, error };
      }
    }
    this.mark(true);
    log.info({ file: this.opts.file, changed, durationMs: this.clock.now() - started }, 'Completed loading of configuration file');
    return { success: true, changed };
  }

  private mark(success: boolean, error?: string): void {
    const now = this.clock.now();
    this.last = success ? { success, time: now } : { success, time: this.last.time, error: error ?? 'unknown error' };
    this.successGauge?.set(success ? 1 : 0);
    if (success) this.timestampGauge?.set(now / 1000);
  }

  /** `config:reload` health check: warn after a failed reload (the previous configuration still runs). */
  healthCheck(): HealthCheck {
    return {
      name: 'config:reload',
      run: () => ({
        componentId: this.opts.file ?? '<defaults>',
        componentType: 'component',
        observedValue: this.last.success,
        status: this.last.success ? 'pass' : 'warn',
        output: this.last.success ? undefined : `last reload failed, running the previous configuration: ${this.last.error}`,
      }),
    };
  }
}
