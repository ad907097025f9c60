/** Deterministic WGSL printer: the same module always prints the same text (the pipeline cache key). */
import type { Stmt, WgslModule } from './ast.ts';

function printStmts(stmts: readonly Stmt[], indent: string, out: string[]): void {
  for (const st of stmts) {
    switch (st.s) {
      case 'let':
        out.push(`${indent}let ${st.name} = ${st.value};`);
        break;
      case 'var':
        out.push(`${indent}var ${st.name}: ${st.type}${st.value !== undefined ? ` = ${st.value}` : ''};`);
        break;
      case 'assign':
        out.push(`${indent}${st.target} ${st.op ?? ''}= ${st.value};`);
        break;
      case 'if':
        out.push(`${indent}if (${st.cond}) {`);
        printStmts(st.then, `${indent}  `, out);
        if (st.else && st.else.length > 0) {
          out.push(`${indent}} else {`);
          printStmts(st.else, `${indent}  `, out);
        }
        out.push(`${indent}}`);
        break;
      case 'for':
        out.push(`${indent}for (${st.init}; ${st.cond}; ${st.update}) {`);
        printStmts(st.body, `${indent}  `, out);
        out.push(`${indent}}`);
        break;
      case 'barrier':
        out.push(`${indent}${st.storage ? 'storageBarrier' : 'workgroupBarrier'}();`);
        break;
      case 'block':
        out.push(`${indent}{`);
        printStmts(st.body, `${indent}  `, out);
        out.push(`${indent}}`);
        break;
      case 'break':
        out.push(`${indent}break;`);
        break;
      case 'return':
        out.push(`${indent}return;`);
        break;
    }
  }
}

export function printWgsl(m: WgslModule): string {
  const out: string[] = [];
  for (const s of m.structs) out.push(s);
  for (const b of m.bindings) {
    const space = b.space === 'uniform' ? 'uniform' : b.space === 'storage-read' ? 'storage, read' : 'storage, read_write';
    out.push(`@group(0) @binding(${b.binding}) var<${space}> ${b.name}: ${b.type};`);
  }
  for (const v of m.workgroupVars) out.push(`var<workgroup> ${v.name}: ${v.type};`);
  for (const h of m.helpers) out.push(h);
  const [x, y, z] = m.entry.workgroupSize;
  out.push(`@compute @workgroup_size(${x}, ${y}, ${z})`);
  out.push(
    `fn ${m.entry.name}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`,
  );
  printStmts(m.entry.body, '  ', out);
  out.push('}');
  return `${out.join('\n')}\n`;
}
