import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { StorageError } from '../storage/errors.js';
import type { ServerFlags } from './config.js';
import { envName, serverConfigSchema } from './config-schema.js';

/**
 * Where the settings come from, one layer each: the flags of `ferry serve`, the `FERRY_*`
 * variables, the YAML file; merged in that order of precedence by loadServerConfig (config.ts).
 * Each layer names its own source for messages: `--http`, `FERRY_HTTP`, `ferry.yaml: http`.
 */

/** Sections whose plain string value (`--sftp HOST:PORT`, `sftp: off`) is their `listen`. */
const LISTEN_SECTIONS = new Set(['sftp']);

/** Where one layer's values came from, for messages: `--http`, `FERRY_HTTP`, `ferry.yaml: http`. */
export type Layer = { values: Record<string, unknown>; label: (path: string[]) => string };

/** `someKey` → `--some-key`. */
const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
/** `SOME_KEY` → `someKey`. */
const keyOfEnv = (name: string) =>
  name.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export function fromFlags(flags: ServerFlags): Layer {
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flags)) {
    if (key === 'config' || value === undefined) continue;
    values[key] = LISTEN_SECTIONS.has(key) ? { listen: value } : value;
  }
  return {
    values,
    label: (path) =>
      LISTEN_SECTIONS.has(path[0] as string) && path[1] === 'listen'
        ? flagName(path[0] as string)
        : flagName(path[0] as string) + rest(path.slice(1)),
  };
}

export function fromEnv(env: NodeJS.ProcessEnv): Layer {
  const known = new Set(Object.keys(serverConfigSchema.shape));
  const values: Record<string, unknown> = {};
  /** Sections set by their short form (`FERRY_SFTP`), for naming it in messages. */
  const shortForms = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('FERRY_') || value === undefined) continue;
    const path = name.slice('FERRY_'.length).split('__').map(keyOfEnv);
    // Other FERRY_ variables (FERRY_CONFIG, FERRY_ADMIN_PASSWORD, test settings) are not settings.
    if (!known.has(path[0] as string)) continue;
    if (path.length === 1 && LISTEN_SECTIONS.has(path[0] as string)) {
      shortForms.add(path[0] as string);
      path.push('listen');
    }
    setPath(values, path, value);
  }
  return {
    values,
    label: (path) =>
      path.length === 2 && path[1] === 'listen' && shortForms.has(path[0] as string)
        ? `FERRY_${envName(path[0] as string)}`
        : `FERRY_${path.map(envName).join('__')}`,
  };
}

export function fromFile(file: string, shown: string): Layer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new StorageError(
      'InvalidArgument',
      `cannot read the configuration file ${shown}: ${(err as Error).message}`,
    );
  }
  let values: unknown;
  try {
    values = parseYaml(text) ?? {};
  } catch (err) {
    throw new StorageError('InvalidArgument', `${shown}: not valid YAML: ${(err as Error).message}`);
  }
  if (typeof values !== 'object' || Array.isArray(values) || values === null) {
    throw new StorageError('InvalidArgument', `${shown}: must be a mapping of settings (key: value)`);
  }
  const mapping = values as Record<string, unknown>;
  for (const key of LISTEN_SECTIONS)
    if (typeof mapping[key] === 'string') mapping[key] = { listen: mapping[key] };
  return { values: values as Record<string, unknown>, label: (path) => `${shown}: ${path.join('.')}` };
}

const rest = (path: string[]) => (path.length ? ` ${path.join('.')}` : '');

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k];
    if (isPlainObject(v) && isPlainObject(cur)) deepMerge(cur, v);
    else into[k] = isPlainObject(v) ? structuredClone(v) : v;
  }
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const k of path.slice(0, -1)) {
    if (!isPlainObject(cur[k])) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[path[path.length - 1] as string] = value;
}

export function hasPath(obj: Record<string, unknown>, path: string[]): boolean {
  let cur: unknown = obj;
  for (const k of path) {
    if (!isPlainObject(cur) || !(k in cur)) return false;
    cur = cur[k];
  }
  return true;
}
