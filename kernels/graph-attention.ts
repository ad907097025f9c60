/**
 * Attention as message passing over a sparse graph (PyG's and DGL's SDDMM → segment softmax → SpMM,
 * GAT): each target node attends to its neighbours in a CSR adjacency, not to every node. Semantics
 * as the golden kind `graph_attention` (`test/golden/README.md`):
 *
 * ```
 * dot: s[h, e] = scale · q[h, i] · k[h, j]                       for edge e = (i ← j)
 * gat: s[h, e] = leaky_relu(a_src[h, j] + a_dst[h, i], negative_slope)
 *      s += edge_bias[h, e]                                      (optional, in CSR order)
 *      s = scoreMod(s, …)                                        (optional, user DSL code)
 * o[h, i] = Σ_{e ∈ row i} softmax_e(s[h, ·])[e] · v[h, j(e)],  lse[h, i] = log Σ_e exp(s[h, e])
 * ```
 *
 * A node without neighbours gets o = 0 and lse = −∞. Written with the DSL's segment operations
 * (`dsl/csr.ts`); the compiler recognises the pattern and runs it as one edge-balanced kernel plus a
 * small merge pass (`compiler/lower-attention/graph-kernel.ts`): no per-edge tensor is stored, and
 * a node with thousands of neighbours is spread over many workgroups. A `scoreMod` that returns
 * `where(cond, s, -Infinity)` drops edges (they take no part in the softmax).
 */
import { csr, segmentLogsumexp, segmentSoftmax, segmentSum, type Csr } from '../dsl/csr.ts';
import { f32, i32, kernel, param, type Kernel, type Specs } from '../dsl/kernel.ts';
import { add, contract, expand, gather, iota, leakyRelu, mul, transpose } from '../dsl/ops.ts';
import type { Tensor } from '../dsl/tensor.ts';
import { TesseraError } from '../dsl/types.ts';

/** The per-edge scores a `scoreMod` receives and returns: `[h, e]`. */
export type EdgeScores = Tensor<readonly ['h', 'e'], 'f32'>;

/** What a `scoreMod` may read besides the scores: each edge's endpoints, its index, the head. */
export interface EdgeIndices {
  /** The edge's target node (`i`, the row). */
  readonly target: Tensor<readonly ['e'], 'i32'>;
  /** The edge's source node (`j`, its `col`). */
  readonly source: Tensor<readonly ['e'], 'i32'>;
  /** The edge's position in CSR order. */
  readonly edge: Tensor<readonly ['e'], 'i32'>;
  readonly head: Tensor<readonly ['h'], 'i32'>;
  /** The adjacency itself, for further gathers (`gather(x, 'j', g.col)`). */
  readonly graph: Csr<'e', 'i'>;
}

export interface GraphAttentionConfig {
  /** `dot` (default): scaled q·k, inputs q, k and the parameter `scale`; `gat`: GAT's additive score, inputs a_src, a_dst and the parameter `negative_slope`. */
  readonly score?: 'dot' | 'gat';
  /** Adds the input `edge_bias [h, e]` (per head and edge, in CSR order) to every score. */
  readonly edgeBias?: boolean;
  /** A score modifier written in the DSL; its result must have the score's axes `[h, e]` (or fewer). */
  readonly scoreMod?: (score: EdgeScores, idx: EdgeIndices) => Tensor;
}

/**
 * Multi-head graph attention. Inputs: `v [h, j, c]`, the CSR adjacency `rowptr [N + 1]` and
 * `col [e]` (i32; checked before a run); for `dot` `q [h, i, d]`, `k [h, j, d]` and the parameter
 * `scale`; for `gat` `a_src [h, j]`, `a_dst [h, i]` and the parameter `negative_slope`; with
 * `edgeBias`, `edge_bias [h, e]`. Outputs `o [h, i, c]` and `lse [h, i]`. Target and source nodes
 * may differ in number (a bipartite graph: N ≠ M).
 */
export function graphAttentionKernel(config: GraphAttentionConfig = {}): Kernel {
  const score = config.score ?? 'dot';
  if (score !== 'dot' && score !== 'gat') throw new TesseraError(`graphAttention: score must be 'dot' or 'gat', got ${JSON.stringify(score)}`);
  const graphSpecs = { v: f32('h', 'j', 'c'), rowptr: i32('r'), col: i32('e') };
  const bias: Specs = config.edgeBias ? { edge_bias: f32('h', 'e') } : {};
  const scoreSpecs: Specs =
    score === 'dot' ? { q: f32('h', 'i', 'd'), k: f32('h', 'j', 'd'), scale: param() } : { a_src: f32('h', 'j'), a_dst: f32('h', 'i'), negative_slope: param() };
  return kernel(`graph_attention_${score}`, { ...graphSpecs, ...scoreSpecs, ...bias }, (inputs) => {
    const t = inputs as unknown as Record<string, Tensor>;
    const v = t['v'] as Tensor<readonly ['h', 'j', 'c'], 'f32'>;
    const targets = (score === 'dot' ? t['q'] : t['a_dst'])!;
    const g = csr(t['rowptr'] as Tensor<readonly ['r'], 'i32'>, t['col'] as Tensor<readonly ['e'], 'i32'>, { rows: [targets, 'i'], cols: [v, 'j'] });
    let s: EdgeScores;
    if (score === 'dot') {
      const qe = gather(t['q'] as Tensor<readonly ['h', 'i', 'd'], 'f32'>, 'i', g.row);
      const ke = gather(t['k'] as Tensor<readonly ['h', 'j', 'd'], 'f32'>, 'j', g.col);
      s = mul(contract([qe, ke], ['h', 'e']), t['scale'] as Tensor<readonly [], 'f32'>);
    } else {
      const src = gather(t['a_src'] as Tensor<readonly ['h', 'j'], 'f32'>, 'j', g.col);
      const dst = gather(t['a_dst'] as Tensor<readonly ['h', 'i'], 'f32'>, 'i', g.row);
      s = leakyRelu(add(src, dst), t['negative_slope'] as Tensor<readonly [], 'f32'>);
    }
    if (config.edgeBias) s = add(s, t['edge_bias'] as EdgeScores);
    if (config.scoreMod) {
      const idx: EdgeIndices = { target: g.row, source: g.col, edge: iota(g.col, 'e'), head: iota(v, 'h'), graph: g };
      const modded = config.scoreMod(s, idx);
      const extra = modded.axes.filter((a) => a !== 'h' && a !== 'e');
      if (modded.dtype !== 'f32' || extra.length > 0) {
        throw new TesseraError(`graphAttention: scoreMod must return f32 scores over [h, e], got ${modded.dtype}[${modded.axes.join(', ')}]`);
      }
      // Back to the score layout (a modifier may return fewer axes, or them in another order);
      // both steps are elementwise and fuse into the kernel.
      const missing = (['h', 'e'] as const).filter((a) => !modded.axes.includes(a)).map((name) => s.axis(name));
      s = transpose((missing.length > 0 ? expand(modded, missing) : modded) as EdgeScores, ['h', 'e']);
    }
    const ve = gather(v, 'j', g.col);
    return { o: segmentSum(mul(segmentSoftmax(s, g), ve), g), lse: segmentLogsumexp(s, g) };
  });
}
