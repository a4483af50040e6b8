/**
 * The container probe against a Docker Engine stand-in: no Docker engine runs on these
 * machines, so a small HTTP server on a unix socket answers GET /containers/json,
 * /containers/{id}/json and /containers/{id}/stats with the shapes the Engine API documents
 * (ContainerSummary, ContainerInspectResponse, ContainerStatsResponse; cgroup v1 and v2
 * memory stats).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStorage } from '../storage/index.ts';
import { ContainerProber } from './container.ts';
import { ProbeManager } from './manager.ts';
import { allStale, latest, probesFromYaml, runProber, silentLogger } from './testutil.ts';

interface FakeContainer {
  id: string;
  name: string;
  image: string;
  state: 'running' | 'exited' | 'paused' | 'restarting' | 'created' | 'dead' | 'removing';
  health?: 'healthy' | 'unhealthy' | 'starting';
  restarts: number;
  exitCode: number;
  oomKilled: boolean;
  startedAt: string;
  memoryLimit: number;
  labels: Record<string, string>;
  /** cgroup v2 (anon/file/inactive_file) or v1 (total_* / rss / cache) memory stats. */
  cgroup: 1 | 2;
}

/** The engine stand-in; `containers` and `mode` may be changed between requests. */
class EngineStandIn {
  containers: FakeContainer[] = [];
  mode: 'ok' | 'error500' | 'garbage' | 'hang' | 'vanish-on-inspect' = 'ok';
  readonly requests: string[] = [];
  private readonly server: http.Server;

  constructor(readonly socket: string) {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  listen(): Promise<void> {
    return new Promise((r) => this.server.listen(this.socket, r));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'Content-Type': 'application/json', Api_version: '1.43' });
    res.end(JSON.stringify(body));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests.push(`${req.method} ${req.url}`);
    if (this.mode === 'hang') return;
    if (this.mode === 'error500') return this.json(res, 500, { message: 'Cannot connect to the containerd daemon' });
    if (this.mode === 'garbage') {
      res.end('{"this is": not json');
      return;
    }
    const u = new URL(req.url ?? '/', 'http://docker');
    const path = u.pathname.replace(/^\/v\d+\.\d+/, '');
    if (path === '/containers/json') {
      const all = u.searchParams.get('all') === '1' || u.searchParams.get('all') === 'true';
      return this.json(
        res,
        200,
        this.containers
          .filter((c) => all || c.state === 'running')
          .map((c) => ({
            Id: c.id,
            Names: [`/${c.name}`],
            Image: c.image,
            ImageID: `sha256:${'ab'.repeat(32)}`,
            Command: 'run',
            Created: 1_700_000_000,
            State: c.state,
            Status: c.state === 'running' ? `Up 2 hours${c.health ? ` (${c.health})` : ''}` : `Exited (${c.exitCode}) 5 minutes ago`,
            Ports: [],
            Labels: c.labels,
          })),
      );
    }
    const m = /^\/containers\/([^/]+)\/(json|stats)$/.exec(path);
    const c = m ? this.containers.find((x) => x.id === m[1] || x.name === m[1]) : undefined;
    if (!m || !c || (this.mode === 'vanish-on-inspect' && c.name.endsWith('vanishing'))) return this.json(res, 404, { message: `No such container: ${m?.[1] ?? path}` });
    if (m[2] === 'json') {
      return this.json(res, 200, {
        Id: c.id,
        Created: '2026-11-29T10:00:00.000000000Z',
        Path: '/app/run',
        Args: [],
        State: {
          Status: c.state,
          Running: c.state === 'running',
          Paused: c.state === 'paused',
          Restarting: c.state === 'restarting',
          OOMKilled: c.oomKilled,
          Dead: c.state === 'dead',
          Pid: c.state === 'running' ? 4242 : 0,
          ExitCode: c.exitCode,
          Error: '',
          StartedAt: c.startedAt,
          FinishedAt: '0001-01-01T00:00:00Z',
          ...(c.health ? { Health: { Status: c.health, FailingStreak: c.health === 'unhealthy' ? 3 : 0, Log: [] } } : {}),
        },
        Image: `sha256:${'ab'.repeat(32)}`,
        Name: `/${c.name}`,
        RestartCount: c.restarts,
        HostConfig: { Memory: c.memoryLimit, RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 } },
        Config: { Image: c.image, Labels: c.labels, Hostname: c.id.slice(0, 12) },
      });
    }
    if (u.searchParams.get('stream') !== 'false' && u.searchParams.get('stream') !== '0') return this.json(res, 400, { message: 'the stand-in only answers stream=false' });
    const memStats =
      c.cgroup === 2
        ? { anon: 50_000_000, file: 20_000_000, inactive_file: 8_000_000, active_file: 12_000_000, kernel_stack: 100_000 }
        : { total_inactive_file: 4_000_000, total_rss: 30_000_000, total_cache: 10_000_000, rss: 30_000_000, cache: 10_000_000 };
    return this.json(res, 200, {
      read: '2026-11-29T12:00:00.000000000Z',
      preread: '0001-01-01T00:00:00Z',
      id: c.id,
      name: `/${c.name}`,
      pids_stats: { current: 12, limit: 4096 },
      blkio_stats: {},
      num_procs: 0,
      cpu_stats: { cpu_usage: { total_usage: 123_450_000_000, usage_in_kernelmode: 23_000_000_000, usage_in_usermode: 100_000_000_000 }, system_cpu_usage: 9_000_000_000_000_000, online_cpus: 2, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } },
      precpu_stats: { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } },
      memory_stats: { usage: 75_000_000, stats: memStats, limit: c.memoryLimit || 25_276_510_208 },
      networks: { eth0: { rx_bytes: 5338, rx_dropped: 0, rx_errors: 0, rx_packets: 36, tx_bytes: 648, tx_dropped: 0, tx_errors: 0, tx_packets: 8 } },
    });
  }
}

let dir = '';
let engine: EngineStandIn;

const backend: FakeContainer = {
  id: 'a'.repeat(64), name: 'codexos-backend', image: 'codexos/backend:1.4', state: 'running', health: 'healthy', restarts: 2, exitCode: 0, oomKilled: false,
  startedAt: '2026-11-29T10:00:05.5Z', memoryLimit: 536_870_912, labels: { 'com.docker.compose.service': 'backend', 'com.docker.compose.project': 'codexos' }, cgroup: 2,
};
const postgresC: FakeContainer = {
  id: 'b'.repeat(64), name: 'codexos-postgres', image: 'postgres:15', state: 'running', restarts: 0, exitCode: 0, oomKilled: false,
  startedAt: '2026-11-29T09:00:00Z', memoryLimit: 0, labels: { 'com.docker.compose.service': 'postgres' }, cgroup: 1,
};
const worker: FakeContainer = {
  id: 'c'.repeat(64), name: 'codexos-worker', image: 'codexos/worker:1.4', state: 'exited', restarts: 5, exitCode: 137, oomKilled: true,
  startedAt: '2026-11-29T11:00:00Z', memoryLimit: 268_435_456, labels: {}, cgroup: 2,
};
const other: FakeContainer = { ...worker, id: 'd'.repeat(64), name: 'unrelated-tool', state: 'running', health: undefined, oomKilled: false, exitCode: 0 };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-probes-docker-'));
  engine = new EngineStandIn(join(dir, 'docker.sock'));
  await engine.listen();
});

after(async () => {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

function reset(): void {
  engine.mode = 'ok';
  engine.containers = [structuredClone(backend), structuredClone(postgresC), structuredClone(worker), structuredClone(other)];
}

function prober(extra = ''): ContainerProber {
  return new ContainerProber(probesFromYaml(`  container:\n    - {socket: ${engine.socket}${extra}}\n`).container[0]!);
}

test('cAdvisor names and labels for CPU, memory (cgroup v2 and v1), network, start time; state, health, restarts', async () => {
  reset();
  const { out, outcome } = await runProber(prober(', include: "codexos-.*", container_labels: [com.docker.compose.service]'), 5000, () => 1_800_000_000_000);
  assert.equal(outcome.success, true, outcome.error);
  const be = { id: `/docker/${backend.id}`, name: 'codexos-backend', image: 'codexos/backend:1.4', container_label_com_docker_compose_service: 'backend' };
  assert.equal(out.get('container_cpu_usage_seconds_total', { ...be, cpu: 'total' }), 123.45);
  assert.equal(out.get('container_cpu_user_seconds_total', be), 100);
  assert.equal(out.get('container_cpu_system_seconds_total', be), 23);
  assert.equal(out.get('container_memory_usage_bytes', be), 75_000_000);
  assert.equal(out.get('container_memory_working_set_bytes', be), 67_000_000, 'usage minus inactive_file (cgroup v2)');
  assert.equal(out.get('container_memory_rss', be), 50_000_000);
  assert.equal(out.get('container_memory_cache', be), 20_000_000);
  assert.equal(out.get('container_spec_memory_limit_bytes', be), 536_870_912);
  assert.equal(out.get('container_network_receive_bytes_total', { ...be, interface: 'eth0' }), 5338);
  assert.equal(out.get('container_network_transmit_packets_total', { ...be, interface: 'eth0' }), 8);
  assert.equal(out.get('container_processes', be), 12);
  assert.equal(out.get('container_start_time_seconds', be), Date.parse('2026-11-29T10:00:05.5Z') / 1000);
  assert.equal(out.get('container_last_seen', be), 1_800_000_000);
  assert.equal(out.get('container_state', { ...be, state: 'running' }), 1);
  assert.equal(out.get('container_state', { ...be, state: 'exited' }), 0);
  assert.equal(out.get('container_health_status', { ...be, health: 'healthy' }), 1);
  assert.equal(out.get('container_health_status', { ...be, health: 'unhealthy' }), 0);
  assert.equal(out.get('container_restarts_total', be), 2);

  const pg = { name: 'codexos-postgres' };
  assert.equal(out.get('container_memory_working_set_bytes', pg), 71_000_000, 'usage minus total_inactive_file (cgroup v1)');
  assert.equal(out.get('container_memory_rss', pg), 30_000_000);
  assert.equal(out.get('container_spec_memory_limit_bytes', pg), 0, 'no limit is 0, as cAdvisor reports it');
  assert.equal(out.get('container_health_status', { ...pg, health: 'none' }), 1, 'no health check');

  const wk = { name: 'codexos-worker' };
  assert.equal(out.get('container_state', { ...wk, state: 'exited' }), 1);
  assert.equal(out.get('container_exit_code', wk), 137);
  assert.equal(out.get('container_oom_killed', wk), 1);
  assert.equal(out.get('container_restarts_total', wk), 5);
  assert.equal(out.get('container_cpu_usage_seconds_total', { ...wk, cpu: 'total' }), undefined, 'no stats call for a stopped container');
  assert.ok(!engine.requests.some((r) => r.includes(`${worker.id}/stats`)));
  assert.deepEqual(outcome.info, ['container codexos-worker is exited']);

  assert.equal(out.get('container_state', { name: 'unrelated-tool', state: 'running' }), undefined, 'include filters by name');
  assert.ok(engine.requests.some((r) => r.startsWith('GET /containers/json?all=1')));
});

test('require_running fails the probe for stopped or unhealthy containers; exclude and all: false filter', async () => {
  reset();
  engine.containers[0]!.health = 'unhealthy';
  const r = await runProber(prober(', include: "codexos-.*", require_running: true'));
  assert.equal(r.outcome.success, false);
  assert.equal(r.outcome.error, 'container codexos-backend is unhealthy (failing streak 3); container codexos-worker is exited');
  const running = await runProber(prober(', include: "codexos-.*", exclude: "codexos-backend", all: false, require_running: true'));
  assert.deepEqual(running.outcome, { success: true });
  assert.equal(running.out.get('container_state', { name: 'codexos-postgres', state: 'running' }), 1);
  assert.equal(running.out.get('container_state', { name: 'codexos-worker', state: 'exited' }), undefined);
});

test('a container that goes away: its series are marked stale; one removed between list and inspect is skipped', async () => {
  reset();
  const storage = new MemoryStorage();
  const m = new ProbeManager({ appendable: storage, logger: silentLogger() });
  await m.applyConfig(probesFromYaml(`  container:\n    - {socket: ${engine.socket}, include: "codexos-.*"}\n`));
  const id = m.status()[0]!.id;
  await m.runNow(id);
  assert.equal(await latest(storage, 'container_memory_usage_bytes', { name: 'codexos-postgres' }), 75_000_000);
  engine.containers = engine.containers.filter((c) => c.name !== 'codexos-postgres');
  const st = await m.runNow(id);
  assert.equal(st.health, 'up');
  for (const name of ['container_memory_usage_bytes', 'container_cpu_usage_seconds_total', 'container_state', 'container_last_seen', 'container_network_receive_bytes_total']) {
    assert.ok(await allStale(storage, name, { name: 'codexos-postgres' }), `${name} of the removed container is stale`);
  }
  assert.ok(!(await allStale(storage, 'container_memory_usage_bytes', { name: 'codexos-backend' })));
  engine.containers.push({ ...structuredClone(postgresC), id: 'e'.repeat(64), name: 'codexos-vanishing' });
  engine.mode = 'vanish-on-inspect';
  const st2 = await m.runNow(id);
  assert.equal(st2.health, 'up', st2.lastError);
  await m.stop();
});

test('engine problems: no socket, 500, garbage, no answer: down with a reason a person can act on', async () => {
  reset();
  const none = await runProber(new ContainerProber(probesFromYaml(`  container: [{socket: ${join(dir, 'nope.sock')}}]\n`).container[0]!));
  assert.equal(none.outcome.error, `no Docker engine socket at ${join(dir, 'nope.sock')} (is Docker running, and is the socket mounted?)`);
  engine.mode = 'error500';
  assert.equal((await runProber(prober())).outcome.error, 'GET /containers/json?all=1 answered 500: Cannot connect to the containerd daemon');
  engine.mode = 'garbage';
  assert.match((await runProber(prober())).outcome.error!, /^GET \/containers\/json\?all=1: the answer is not valid JSON/);
  engine.mode = 'hang';
  assert.equal((await runProber(prober(), 200)).outcome.error, `Docker engine at ${engine.socket} did not answer within 0.2s`);
  engine.mode = 'ok';
  const versioned = await runProber(prober(', api_version: "1.41"'));
  assert.equal(versioned.outcome.success, true);
  assert.ok(engine.requests.some((r) => r.startsWith('GET /v1.41/containers/json')));
});
