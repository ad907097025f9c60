/**
 * A GATv2 layer (Brody et al. 2022, "How Attentive are Graph Attention Networks?") written with the
 * DSL's segment operations — not a library kernel: the score applies the attention vector after
 * the nonlinearity, `s = a · leaky_relu(x_src[j] + x_dst[i])`, which GAT's `graphAttentionKernel`
 * cannot express. The compiler still finds the pattern (a per-edge score, a softmax over each
 * node's neighbours, an aggregation of neighbour values) and runs it as the fused, edge-balanced
 * graph kernel: no per-edge tensor exists. `test/graph-attention.test.ts` checks it against the
 * interpreter and that it is fused.
 *
 * `npm run example:graph` runs it on a random power-law graph (built from an edge list with
 * `csrFromCoo`) on WebGPU, or the CPU interpreter when there is none, and prints a summary.
 */
import { add, contract, csr, f32, gather, i32, kernel, leakyRelu, mul, segmentLogsumexp, segmentSoftmax, segmentSum } from '../index.ts';

export const gatv2 = kernel(
  'gatv2',
  { x_src: f32('h', 'j', 'c'), x_dst: f32('h', 'i', 'c'), a: f32('h', 'c'), v: f32('h', 'j', 'f'), rowptr: i32('r'), col: i32('e') },
  ({ x_src, x_dst, a, v, rowptr, col }) => {
    const g = csr(rowptr, col, { rows: [x_dst, 'i'], cols: [x_src, 'j'] });
    const z = leakyRelu(add(gather(x_src, 'j', g.col), gather(x_dst, 'i', g.row)), 0.2); // [h, c, e]
    const s = contract([a, z], ['h', 'e']);
    return { o: segmentSum(mul(segmentSoftmax(s, g), gather(v, 'j', g.col)), g), lse: segmentLogsumexp(s, g) };
  },
);

async function main(): Promise<void> {
  const { createBackend, csrFromCoo, run } = await import('../index.ts');
  const [nodes, heads, channels, features] = [2000, 4, 16, 32];
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const tensor = (...shape: number[]) => ({ shape, data: Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => rand() - 0.5) });
  // An edge list with skewed in-degrees: most nodes have a few neighbours, a few have hundreds.
  const target: number[] = [];
  const source: number[] = [];
  for (let i = 0; i < nodes; i++) {
    const degree = Math.min(nodes, Math.floor(1 / Math.max(rand(), 0.002)) - 1);
    for (let t = 0; t < degree; t++) (target.push(i), source.push(Math.floor(rand() * nodes)));
  }
  const graph = csrFromCoo(target, source, { rows: nodes, cols: nodes });
  const backend = await createBackend();
  const started = performance.now();
  const { o, lse } = await run(
    gatv2,
    {
      x_src: tensor(heads, nodes, channels),
      x_dst: tensor(heads, nodes, channels),
      a: tensor(heads, channels),
      v: tensor(heads, nodes, features),
      rowptr: { shape: [nodes + 1], data: graph.rowptr, dtype: 'i32' },
      col: { shape: [graph.col.length], data: graph.col, dtype: 'i32' },
    },
    backend,
  );
  const degrees = Array.from({ length: nodes }, (_, i) => graph.rowptr[i + 1]! - graph.rowptr[i]!);
  console.log(`${backend.deviceDescription}`);
  console.log(`${nodes} nodes, ${graph.col.length} edges (max degree ${Math.max(...degrees)}, ${degrees.filter((d) => d === 0).length} nodes without neighbours)`);
  console.log(`o [${o!.shape.join(', ')}], lse [${lse!.shape.join(', ')}] in ${(performance.now() - started).toFixed(0)} ms (first run: includes compiling)`);
  backend.destroy();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
