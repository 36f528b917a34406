// Schema checks of rendered objects with the kubernetes-models packages (generated from the
// Kubernetes OpenAPI document and from the CRDs of cert-manager and the Prometheus Operator):
// - validate(): their JSON-schema validators (types, required fields, enums, formats);
// - unknown fields: those validators accept any extra property (the OpenAPI schemas do not forbid
//   them), but the packages' TypeScript interfaces are exact, so every object is also compiled as an
//   object literal typed with its interface, and the TypeScript compiler's excess-property check
//   reports a misspelt or misplaced field the way `kubectl apply --validate=strict` would.
import { resolve } from 'node:path';
import ts from 'typescript';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { REPO_ROOT } from './render.js';

/** The model module of an apiVersion, or undefined when no model package covers it. */
export function modelModule(apiVersion: string): string | undefined {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
  if (group === 'cert-manager.io') return `@kubernetes-models/cert-manager/${apiVersion}`;
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  // Built-in groups: no dot (core, apps, policy, ...) or *.k8s.io.
  if (group === '' || !group.includes('.') || group.endsWith('.k8s.io'))
    return `kubernetes-models/${apiVersion}`;
  return undefined;
}

export function describeObject(o: KubeObject): string {
  const ns = o.metadata?.namespace ? `${o.metadata.namespace}/` : '';
  return `${o.kind} ${ns}${o.metadata?.name}`;
}

/** Runs the model's validate() on every object; returns one message per invalid object. */
export async function modelValidationErrors(objects: KubeObject[]): Promise<string[]> {
  const errors: string[] = [];
  for (const o of objects) {
    const module = modelModule(o.apiVersion);
    if (!module) {
      errors.push(`${describeObject(o)}: no model package for ${o.apiVersion}`);
      continue;
    }
    const models = (await import(module)) as Record<string, new (data: unknown) => { validate(): void }>;
    const Model = models[o.kind];
    if (typeof Model !== 'function') {
      errors.push(`${describeObject(o)}: ${module} has no model for kind ${o.kind}`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (err) {
      errors.push(`${describeObject(o)}: ${(err as Error).message}`);
    }
  }
  return errors;
}

/**
 * Compiles every object as `const oN: I<Kind> = <object>` and returns the compiler's complaints
 * (unknown fields, wrong types), each prefixed with the object it is about.
 */
export function typeCheckErrors(objects: KubeObject[]): string[] {
  const file = resolve(REPO_ROOT, 'test/manifests/__rendered_objects__.ts');
  const owners: { start: number; end: number; object: KubeObject }[] = [];
  // module → its index and kinds; every import is aliased to its module, as two modules may share a kind name.
  const modules = new Map<string, { index: number; kinds: Set<string> }>();
  let body = '';
  objects.forEach((o, i) => {
    const module = modelModule(o.apiVersion);
    if (!module) return;
    const entry = modules.get(module) ?? { index: modules.size, kinds: new Set<string>() };
    entry.kinds.add(o.kind);
    modules.set(module, entry);
    const text = `export const o${i}: M${entry.index}_I${o.kind} = ${JSON.stringify(o, null, 1)};\n`;
    owners.push({ start: body.length, end: body.length + text.length, object: o });
    body += text;
  });
  const header =
    [...modules]
      .map(([module, { index, kinds }]) => {
        const names = [...kinds].map((k) => `I${k} as M${index}_I${k}`);
        return `import type { ${names.join(', ')} } from '${module}';`;
      })
      .join('\n') + '\n';
  const source = header + body;

  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2023,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) =>
    name === file
      ? ts.createSourceFile(name, source, languageVersion, true)
      : getSourceFile(name, languageVersion, onError, shouldCreate);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === file ? source : readFile(name));

  const program = ts.createProgram([file], options, host);
  const diagnostics = [...program.getSyntacticDiagnostics(), ...program.getSemanticDiagnostics()].filter(
    (d) => d.file === undefined || d.file.fileName === file,
  );
  return diagnostics.map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.start === undefined) return text;
    const offset = d.start - header.length;
    const owner = owners.find((o) => offset >= o.start && offset < o.end);
    if (!owner) return text;
    const { line } = ts.getLineAndCharacterOfPosition(d.file!, d.start);
    const snippet = source.split('\n')[line]?.trim();
    return `${describeObject(owner.object)}: ${text} (at ${snippet})`;
  });
}
