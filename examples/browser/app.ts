/**
 * The browser example: runs attention and routing on `navigator.gpu`, shows the numbers, the
 * attention map as a heatmap and the time each kernel took — GPU time from timestamp queries where
 * the adapter has them, else wall time, labelled as such. What it computed is also written as JSON
 * into `#results`, for `test/browser.test.ts` to check against the interpreter.
 */
import { compileFor, createWebGPUBackend, run, type Backend, type HostTensor, type Kernel, type WebGPUBackend } from '../../index.ts';
import { attentionInputs, attentionWithMap, M, N, routing, routingInputs } from './kernels.ts';

const results = document.getElementById('results')!;
const status = document.getElementById('status')!;

interface Timed {
  readonly outputs: Record<string, { shape: readonly number[]; data: number[] }>;
  readonly ms: number;
  readonly timing: 'GPU time (timestamp queries)' | 'wall time';
}

/** Runs a kernel once to compile and warm up, then once timed. */
async function timed(backend: WebGPUBackend, k: Kernel, inputs: Record<string, HostTensor>): Promise<Timed> {
  const got = await run(k, inputs, backend);
  const outputs = Object.fromEntries(Object.entries(got).map(([name, t]) => [name, { shape: t.shape, data: Array.from(t.data) }]));
  if (backend.hasTimestamps) {
    const { outputs: outs, profile } = await backend.profile(compileFor(k, backend, {}, inputs), inputs);
    for (const t of Object.values(outs)) t.destroy();
    return { outputs, ms: profile.totalMs, timing: 'GPU time (timestamp queries)' };
  }
  const t0 = performance.now();
  await run(k, inputs, backend as Backend);
  return { outputs, ms: performance.now() - t0, timing: 'wall time' };
}

/** The weights as a heatmap, queries down and keys across, with labelled axes. */
function drawMap(w: number[]): void {
  const canvas = document.getElementById('map') as HTMLCanvasElement;
  const ctx = canvas.getContext('2d')!;
  const cell = 24;
  const left = 70;
  const top = 40;
  canvas.width = left + M * cell + 20;
  canvas.height = top + N * cell + 40;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const max = Math.max(...w);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < M; j++) {
      const v = w[i * M + j]! / max;
      ctx.fillStyle = `rgb(${Math.round(255 - 200 * v)}, ${Math.round(255 - 140 * v)}, 255)`;
      ctx.fillRect(left + j * cell, top + i * cell, cell - 1, cell - 1);
    }
  }
  ctx.fillStyle = '#000';
  ctx.font = '12px sans-serif';
  ctx.fillText('keys m →', left, top - 24);
  for (let j = 0; j < M; j += 3) ctx.fillText(String(j), left + j * cell + 6, top - 6);
  for (let i = 0; i < N; i += 2) ctx.fillText(`q ${i}`, 20, top + i * cell + 16);
  ctx.fillText(`attention weights, ${N} queries × ${M} keys (darker: more weight)`, left, top + N * cell + 24);
}

async function main(): Promise<void> {
  const backend = await createWebGPUBackend();
  status.textContent = `running on ${backend.deviceDescription}`;
  const attention = await timed(backend, attentionWithMap, attentionInputs());
  const routed = await timed(backend, routing, routingInputs());
  drawMap(attention.outputs['w']!.data);
  const rows = document.getElementById('times')!;
  for (const [name, t] of [['attention (12 × 16, d 8)', attention], ['routing (20 → 4, 2 iterations)', routed]] as const) {
    const tr = document.createElement('tr');
    tr.innerHTML = `<td>${name}</td><td>${t.ms.toFixed(2)} ms</td><td>${t.timing}</td>`;
    rows.appendChild(tr);
  }
  document.getElementById('numbers')!.textContent = [
    `attention o[0, :4] = ${attention.outputs['o']!.data.slice(0, 4).map((x) => x.toFixed(4)).join(', ')}`,
    `routing x_out[0, :4] = ${routed.outputs['x_out']!.data.slice(0, 4).map((x) => x.toFixed(4)).join(', ')}`,
  ].join('\n');
  results.textContent = JSON.stringify({ device: backend.deviceDescription, attention, routing: routed });
  status.textContent = `done on ${backend.deviceDescription}`;
}

main().catch((e: Error) => {
  status.textContent = `error: ${e.message}`;
  results.textContent = JSON.stringify({ error: e.message });
});
