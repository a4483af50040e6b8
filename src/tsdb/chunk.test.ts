/**
 * Round-trip properties of the chunk encodings (head XOR chunks and block chunks) and of the
 * head's append path: every timestamp and every value bit comes back, including NaN payloads,
 * the stale marker, ±Inf, -0, huge and irregular gaps, negative timestamps and long constant runs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Labels, STALE_NAN, isStaleNaN } from '../model/index.ts';
import { collectSamples } from '../storage/index.ts';
import { BitWriter } from './bits.ts';
import { BlockChunkDecoder, encodeBlockChunk } from './codec.ts';
import { Head } from './head.ts';
import { XorDecoder, encodeXorChunk } from './xor.ts';

const MAX_T = 9_000_000_000_000;

/** A value description; materialised into a Float64Array element by element (keeps the stale marker). */
type V = { k: 'num'; v: number } | { k: 'stale' } | { k: 'nan-payload'; hi: number; lo: number };

const valueArb: fc.Arbitrary<V> = fc.oneof(
  { weight: 4, arbitrary: fc.double().map((v) => ({ k: 'num' as const, v })) },
  { weight: 3, arbitrary: fc.integer({ min: -1_000_000, max: 1_000_000 }).map((i) => ({ k: 'num' as const, v: i / 1000 })) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, -0, 0, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53, -(2 ** 60)).map((v) => ({ k: 'num' as const, v })) },
  { weight: 1, arbitrary: fc.constant({ k: 'stale' as const }) },
  { weight: 1, arbitrary: fc.record({ hi: fc.constantFrom(0x7ff00000, 0xfff80000, 0x7ff80000), lo: fc.integer({ min: 1, max: 0xffffffff }) }).map((x) => ({ k: 'nan-payload' as const, ...x })) },
);

/** Runs of values: long constant runs are common in real data. */
const runsArb = fc.array(fc.record({ v: valueArb, len: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 300 })) }), { minLength: 1, maxLength: 30 });

const gapArb = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 100 }) },
  { weight: 5, arbitrary: fc.integer({ min: 14_990, max: 15_010 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 ** 31 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 1_000_000_000_000 }) },
);

interface Samples {
  ts: Float64Array;
  vs: Float64Array;
}

const samplesArb: fc.Arbitrary<Samples> = fc
  .record({ start: fc.integer({ min: -MAX_T, max: MAX_T }), gaps: fc.array(gapArb, { minLength: 0, maxLength: 700 }), runs: runsArb })
  .map(({ start, gaps, runs }) => {
    const times: number[] = [start];
    for (const g of gaps) {
      const t = times[times.length - 1]! + g;
      if (t > MAX_T) break;
      times.push(t);
    }
    const ts = Float64Array.from(times);
    const vs = new Float64Array(ts.length);
    const u = new Uint32Array(vs.buffer);
    let i = 0;
    outer: for (;;) {
      for (const r of runs) {
        for (let k = 0; k < r.len; k++) {
          if (i >= ts.length) break outer;
          if (r.v.k === 'num') vs[i] = r.v.v;
          else if (r.v.k === 'stale') vs[i] = STALE_NAN;
          else {
            u[2 * i] = r.v.lo;
            u[2 * i + 1] = r.v.hi;
          }
          i++;
        }
      }
    }
    return { ts, vs };
  });

function assertSameSamples(got: Samples, want: Samples, from = 0, to = want.ts.length): void {
  assert.equal(got.ts.length, to - from, 'sample count');
  const g = new Uint32Array(got.vs.buffer, got.vs.byteOffset, got.vs.length * 2);
  const w = new Uint32Array(want.vs.buffer, want.vs.byteOffset, want.vs.length * 2);
  for (let i = 0; i < got.ts.length; i++) {
    assert.equal(got.ts[i], want.ts[from + i], `timestamp ${i}`);
    if (g[2 * i] !== w[2 * (from + i)] || g[2 * i + 1] !== w[2 * (from + i) + 1]) {
      assert.fail(`value ${i}: bits ${g[2 * i + 1]!.toString(16)}:${g[2 * i]!.toString(16)} want ${w[2 * (from + i) + 1]!.toString(16)}:${w[2 * (from + i)]!.toString(16)}`);
    }
  }
}

describe('XOR chunk', () => {
  it('round-trips any samples, in one go and in small batches', () => {
    fc.assert(
      fc.property(samplesArb, fc.integer({ min: 1, max: 17 }), (s, batch) => {
        const { words } = encodeXorChunk(s.ts, s.vs);
        const d = new XorDecoder();
        d.reset(words, 0, s.ts.length, s.ts[0]!);
        const ts = new Float64Array(s.ts.length);
        const vs = new Float64Array(s.ts.length);
        const bt = new Float64Array(batch);
        const bv = new Float64Array(batch);
        const bv32 = new Uint32Array(bv.buffer);
        let n = 0;
        for (let k; (k = d.fill(bt, bv32, batch)) > 0; ) {
          ts.set(bt.subarray(0, k), n);
          vs.set(bv.subarray(0, k), n);
          n += k;
        }
        assertSameSamples({ ts: ts.subarray(0, n), vs: vs.subarray(0, n) }, s);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the stale marker distinct from NaN', () => {
    const ts = Float64Array.from([1, 2, 3]);
    const vs = new Float64Array(3);
    vs[0] = NaN;
    vs[1] = STALE_NAN;
    vs[2] = NaN;
    const { words } = encodeXorChunk(ts, vs);
    const d = new XorDecoder();
    d.reset(words, 0, 3, 1);
    const out = new Float64Array(3);
    d.fill(new Float64Array(3), new Uint32Array(out.buffer), 3);
    assert.ok(!isStaleNaN(out[0]!) && Number.isNaN(out[0]!));
    assert.ok(isStaleNaN(out[1]!));
    assert.ok(!isStaleNaN(out[2]!) && Number.isNaN(out[2]!));
  });

  it('a constant run costs about 2 bits per sample', () => {
    const n = 120;
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ts[i] = 1_700_000_000_000 + i * 15_000;
      vs[i] = 42;
    }
    const { bits } = encodeXorChunk(ts, vs);
    assert.ok(bits <= 64 + 24 + (n - 1) * 2, `${bits} bits`);
  });
});

describe('block chunk', () => {
  it('round-trips any samples, in one go and in small batches', () => {
    fc.assert(
      fc.property(samplesArb, fc.integer({ min: 1, max: 33 }), (s, batch) => {
        const n = Math.min(s.ts.length, 65535);
        const bw = new BitWriter();
        const words = encodeBlockChunk(bw, s.ts, s.vs, 0, n);
        const buf = new Uint32Array(words + 2);
        buf.set(bw.words.subarray(0, words));
        const d = new BlockChunkDecoder();
        d.reset(buf, 0, s.ts[0]!);
        assert.equal(d.n, n);
        const ts = new Float64Array(n);
        const vs = new Float64Array(n);
        const bt = new Float64Array(batch);
        const bv = new Float64Array(batch);
        const bv32 = new Uint32Array(bv.buffer);
        let got = 0;
        for (let k; (k = d.fill(bt, bv, bv32, batch)) > 0; ) {
          ts.set(bt.subarray(0, k), got);
          vs.set(bv.subarray(0, k), got);
          got += k;
        }
        assertSameSamples({ ts: ts.subarray(0, got), vs: vs.subarray(0, got) }, s, 0, n);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips a sub-range of the input', () => {
    fc.assert(
      fc.property(samplesArb, fc.nat(), fc.nat(), (s, a, b) => {
        const from = a % s.ts.length;
        const to = from + 1 + (b % (s.ts.length - from));
        const bw = new BitWriter();
        bw.write(0, 32); // start at a word boundary after other data
        const words = encodeBlockChunk(bw, s.ts, s.vs, from, to);
        const buf = new Uint32Array(words + 3);
        buf.set(bw.words.subarray(0, words + 1));
        const d = new BlockChunkDecoder();
        d.reset(buf, 1, s.ts[from]!);
        const ts = new Float64Array(to - from);
        const vs = new Float64Array(to - from);
        d.fill(ts, vs, new Uint32Array(vs.buffer), to - from);
        assertSameSamples({ ts, vs }, s, from, to);
      }),
      { numRuns: 200 },
    );
  });

  it('packs regular scrapes of counters and decimals into a fraction of a byte per sample', () => {
    const n = 480;
    const ts = new Float64Array(n);
    const counter = new Float64Array(n);
    const gauge = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ts[i] = 1_700_000_000_000 + i * 15_000;
      counter[i] = 1_000_000 + i * 75;
      gauge[i] = Number((100 * Math.sin(i / 20)).toFixed(3));
    }
    const bw = new BitWriter();
    const cw = encodeBlockChunk(bw, ts, counter, 0, n);
    bw.reset();
    const gw = encodeBlockChunk(bw, ts, gauge, 0, n);
    assert.ok((cw * 4) / n < 0.1, `counter: ${(cw * 4) / n} bytes/sample`);
    assert.ok((gw * 4) / n < 2.5, `gauge: ${(gw * 4) / n} bytes/sample`);
  });
});

/** Regular and jittered scrapes of counters, decimal gauges and constants (the decimal forms). */
const decimalSamplesArb: fc.Arbitrary<Samples> = fc
  .record({
    n: fc.integer({ min: 1, max: 480 }),
    start: fc.integer({ min: -MAX_T, max: MAX_T - 1e10 }),
    step: fc.integer({ min: 1, max: 60_000 }),
    jitter: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 })),
    kind: fc.constantFrom('counter', 'gauge', 'accel', 'const', 'int'),
    scale: fc.integer({ min: 0, max: 5 }),
  })
  .map(({ n, start, step, jitter, kind, scale }) => {
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    let t = start;
    for (let i = 0; i < n; i++) {
      ts[i] = t;
      t += step + (jitter ? (i * 7919) % jitter : 0);
      const p = 10 ** scale;
      vs[i] =
        kind === 'counter' ? (1000 + i * 37) / p
        : kind === 'gauge' ? Math.round(Math.sin(i / 7) * 1e5) / p
        : kind === 'accel' ? (i * i * 3 + 11) / p
        : kind === 'const' ? 42.5
        : ((i * 7919) % 1001) - 500;
    }
    return { ts, vs };
  });

function filterRange(s: Samples, mint: number, maxt: number): Samples {
  let lo = 0;
  while (lo < s.ts.length && s.ts[lo]! < mint) lo++;
  let hi = lo;
  while (hi < s.ts.length && s.ts[hi]! <= maxt) hi++;
  return { ts: s.ts.slice(lo, hi), vs: s.vs.slice(lo, hi) };
}

/** A time range around the samples: from somewhere before/inside to somewhere inside/after. */
function rangeOf(s: Samples, a: number, b: number): [number, number] {
  const n = s.ts.length;
  const pick = (x: number): number => {
    const i = x % (n + 2);
    const t = i === 0 ? s.ts[0]! - 1 : i > n ? s.ts[n - 1]! + 1 : s.ts[i - 1]!;
    return t + ((x >> 8) % 3) - 1;
  };
  const x = pick(a);
  const y = pick(b);
  return x <= y ? [x, y] : [y, x];
}

describe('bulk reads of a time range', () => {
  it('block chunks: readInto gives the samples of the range, after what the buffer holds', () => {
    fc.assert(
      fc.property(fc.oneof(samplesArb, decimalSamplesArb), fc.nat(), fc.nat(), (s0, a, b) => {
        const n = Math.min(s0.ts.length, 65535);
        const s = { ts: s0.ts.subarray(0, n), vs: s0.vs.subarray(0, n) };
        const bw = new BitWriter();
        const words = encodeBlockChunk(bw, s.ts, s.vs, 0, n);
        const w = new Uint32Array(words + 2);
        w.set(bw.words.subarray(0, words));
        const [mint, maxt] = rangeOf(s, a, b);
        const d = new BlockChunkDecoder();
        d.reset(w, 0, s.ts[0]!);
        const buf = { ts: new Float64Array(1), vs: new Float64Array(1), n: 1 };
        buf.vs[0] = 7;
        d.readInto(buf, mint, maxt);
        assert.equal(buf.vs[0], 7);
        assertSameSamples({ ts: buf.ts.slice(1, buf.n), vs: buf.vs.slice(1, buf.n) }, filterRange(s, mint, maxt));
      }),
      { numRuns: 400 },
    );
  });

  it('XOR chunks: readInto gives the samples of the range', () => {
    fc.assert(
      fc.property(fc.oneof(samplesArb, decimalSamplesArb), fc.nat(), fc.nat(), (s, a, b) => {
        const { words } = encodeXorChunk(s.ts, s.vs);
        const [mint, maxt] = rangeOf(s, a, b);
        const d = new XorDecoder();
        d.reset(words, 0, s.ts.length, s.ts[0]!);
        const buf = { ts: new Float64Array(0), vs: new Float64Array(0), n: 0 };
        d.readInto(buf, mint, maxt);
        assertSameSamples({ ts: buf.ts.slice(0, buf.n), vs: buf.vs.slice(0, buf.n) }, filterRange(s, mint, maxt));
      }),
      { numRuns: 300 },
    );
  });
});

describe('head append path', () => {
  it('reads back what was appended across chunk cuts, slot growth and block boundaries', () => {
    fc.assert(
      fc.property(samplesArb, (s) => {
        const head = new Head({ chunkRange: 7_200_000 });
        const slot = head.getOrCreate(Labels.fromRecord({ __name__: 'x' }));
        for (let i = 0; i < s.ts.length; i++) assert.equal(head.appendSample(slot, s.ts[i]!, s.vs[i]!), 0);
        const e = head.beginRead();
        const [series] = head.select([], -Infinity, Infinity);
        const got = collectSamples(series!.iterator());
        head.endRead(e);
        assertSameSamples({ ts: Float64Array.from(got.ts), vs: got.vs }, s);
      }),
      { numRuns: 150 },
    );
  });
});
