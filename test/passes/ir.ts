/** Shared by the pass tests: printed IR written as indented template literals. */

/**
 * IR text from an indented template literal: the common indentation and the outer newlines
 * removed, so expected and input IR can sit indented in the test source.
 */
export function ir(strings: TemplateStringsArray): string {
  const lines = strings[0]!.replace(/^\n/, '').replace(/\n\s*$/, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

/**
 * The printed Tensor IR `match-attention` gives causal attention over q [n, d:4], k [m, d:4],
 * v [m, e:2]: the flash pair (o and lse share one body) that several passes' tests take as input,
 * with the query length `n` a symbol or a static size.
 */
export function causalFlashPair(n: string | number): string {
  const body = (output: 'o' | 'lse', type: string) => [
    `%${output === 'o' ? 3 : 4} = flash ${output} over m args(%0, %1, %2) : ${type} {`,
    `  %0 = capture 0 : f32[n:${n}, d:4]`,
    '  %1 = capture 1 : f32[m:m, d:4]',
    '  %2 = capture 2 : f32[m:m, e:2]',
    `  %3 = contract(%0, %1) : f32[n:${n}, m:m]`,
    `  %4 = iota : i32[n:${n}]`,
    '  %5 = iota : i32[m:m]',
    `  %6 = map ge(%4, %5) : bool[n:${n}, m:m]`,
    '  %7 = const -Infinity : f32[]',
    `  %8 = map where(%6, %3, %7) : f32[n:${n}, m:m]`,
    `  %9 = softmax(%8) over m : f32[n:${n}, m:m]`,
    `  %10 = contract(%9, %2) : f32[n:${n}, e:2]`,
    `  %11 = reduce logsumexp(%8) over [m] : f32[n:${n}]`,
    '  outputs o=%10, lse=%11',
    '}',
  ];
  return [
    `%0 = input "q" : f32[n:${n}, d:4]`,
    '%1 = input "k" : f32[m:m, d:4]',
    '%2 = input "v" : f32[m:m, e:2]',
    ...body('o', `f32[n:${n}, e:2]`),
    ...body('lse', `f32[n:${n}]`),
    'outputs o=%3, lse=%4',
  ].join('\n');
}

/** The printed Tensor IR of a product a [m, k] · b [k, n] over symbolic sizes, output `out`. */
export const SYMBOLIC_PRODUCT = ir`
  %0 = input "a" : f32[m:m, k:k]
  %1 = input "b" : f32[k:k, n:n]
  %2 = contract(%0, %1) : f32[m:m, n:n]
  outputs out=%2
`;
