// Bad input made from good: a valid body, walked beside the JSON schema of the zod schema the route
// validates with, gets one to three mutations at random places: wrong types, numbers at the edges of
// the field's bounds and of what DynamoDB stores, strings at and past their length, unicode, prototype
// names as keys, extra and missing fields, deep nesting, long arrays, and text that is not JSON at all.
// What JSON.stringify cannot write (1e400, 20 000 levels of nesting) is spliced into the text raw.
import type { Random } from './random.js';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  format?: string;
}

type Path = (string | number)[];

/** A body under construction: its value, and the raw JSON texts its placeholders stand for. */
export class Body {
  private readonly raws: string[] = [];
  /** Set when the whole text is replaced (not JSON, or JSON of another shape). */
  private wholeText: string | undefined;

  constructor(public value: unknown) {}

  /** A placeholder for `text`, spliced into the JSON unchanged. */
  raw(text: string): string {
    this.raws.push(text);
    return `\u0001raw${this.raws.length - 1}\u0001`;
  }

  replaceText(text: string): void {
    this.wholeText = text;
  }

  text(): string | undefined {
    if (this.wholeText !== undefined) return this.wholeText;
    if (this.value === undefined) return undefined;
    return JSON.stringify(this.value).replace(/"\\u0001raw(\d+)\\u0001"/g, (_, i) => this.raws[Number(i)]!);
  }
}

/** Names objects inherit, and the one JavaScript gives a meaning of its own. */
export const PROTOTYPE_NAMES = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
];

const UNICODE = [
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  'e\u0301',
  '\u202eevil',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udc00',
  '\ufeffbom',
  '🙂'.repeat(500),
  'line\nbreak',
  '../../etc/passwd',
  '%00%2e%2e',
  "'; DROP TABLE tasks; --",
  '$' + '{jndi:ldap://x}',
  '\u200b',
  'ÿ'.repeat(300),
];

const NUMBERS = [
  0,
  -0,
  -1,
  1,
  0.5,
  1e-131,
  5e-324,
  -1e-200,
  1e-130,
  1e-10,
  1e126,
  1e127,
  2 ** 53,
  2 ** 53 + 2,
  1e21,
  1e308,
  -1e308,
  0.1 + 0.2,
  123456789.12345679,
];
const RAW_NUMBERS = ['1e400', '-1e400', '1E2', '1.0', '-0.0', '0.0000000000000000000000001'];

const WRONG_TYPES: unknown[] = [null, true, false, 0, -1, 'x', '', [], {}, [1, 'a'], { a: 1 }];

export function unwrap(schema: JsonSchema | undefined): JsonSchema | undefined {
  const branches = schema?.anyOf ?? schema?.oneOf;
  if (!branches) return schema;
  return branches.find((b) => b.type !== 'null') ?? schema;
}

function childSchema(schema: JsonSchema | undefined, segment: string | number): JsonSchema | undefined {
  const s = unwrap(schema);
  if (typeof segment === 'number') return s?.items;
  return (
    s?.properties?.[segment] ??
    (typeof s?.additionalProperties === 'object' ? s.additionalProperties : undefined)
  );
}

/** Every place in `value` with the schema that describes it, the root first. */
function places(value: unknown, schema: JsonSchema | undefined): { path: Path; schema?: JsonSchema }[] {
  const found: { path: Path; schema?: JsonSchema }[] = [];
  const walk = (v: unknown, s: JsonSchema | undefined, path: Path) => {
    found.push({ path, schema: s });
    if (Array.isArray(v)) {
      for (const [i, item] of v.entries()) walk(item, childSchema(s, i), [...path, i]);
    } else if (v !== null && typeof v === 'object') {
      for (const [key, child] of Object.entries(v)) walk(child, childSchema(s, key), [...path, key]);
    }
  };
  walk(value, schema, []);
  return found;
}

function get(root: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, key) => (v as Record<string | number, unknown>)?.[key], root);
}

function set(body: Body, path: Path, value: unknown): void {
  if (path.length === 0) {
    body.value = value;
    return;
  }
  const parent = get(body.value, path.slice(0, -1)) as Record<string | number, unknown>;
  defineOwn(parent, path.at(-1)!, value);
}

/** An own, enumerable property, even one named `__proto__` (an assignment would set the prototype). */
function defineOwn(target: Record<string | number, unknown>, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A value the schema may well accept: its default, an enum member, a bounded number, a short string. */
export function sample(schema: JsonSchema | undefined, rnd: Random, depth = 0): unknown {
  if (!schema || depth > 6) return 'x';
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return rnd.pick(schema.enum);
  if (schema.default !== undefined && rnd.chance(0.5)) return structuredClone(schema.default);
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches) return sample(rnd.pick(branches), rnd, depth + 1);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, property] of Object.entries(schema.properties ?? {})) {
        if (schema.required?.includes(key) || rnd.chance(0.3)) out[key] = sample(property, rnd, depth + 1);
      }
      if (typeof schema.additionalProperties === 'object' && rnd.chance(0.7)) {
        out[String(sample(schema.propertyNames ?? { type: 'string' }, rnd, depth + 1))] = sample(
          schema.additionalProperties,
          rnd,
          depth + 1,
        );
      }
      return out;
    }
    case 'array':
      return Array.from({ length: rnd.int(3) }, () => sample(schema.items, rnd, depth + 1));
    case 'string':
      if (schema.format === 'date-time') return '2026-01-01T00:00:00.000Z';
      if (schema.format === 'uuid') return '00000000-0000-8000-8000-000000000000';
      return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
    case 'integer':
    case 'number':
      return Math.min(schema.maximum ?? 1, Math.max(schema.minimum ?? 1, 1));
    case 'boolean':
      return rnd.chance(0.5);
    case 'null':
      return null;
    default:
      return 'x';
  }
}

type Mutation = (body: Body, place: { path: Path; schema?: JsonSchema }, rnd: Random) => string;

const at = (path: Path) => (path.length ? path.join('.') : '(body)');

const MUTATIONS: { weight: number; name: string; apply: Mutation }[] = [
  {
    weight: 3,
    name: 'wrong type',
    apply(body, { path }, rnd) {
      const value = structuredClone(rnd.pick(WRONG_TYPES));
      set(body, path, value);
      return `${at(path)} = ${JSON.stringify(value)}`;
    },
  },
  {
    weight: 4,
    name: 'number at an edge',
    apply(body, { path, schema }, rnd) {
      const s = unwrap(schema);
      const bounds = [s?.minimum, s?.maximum, s?.exclusiveMinimum, s?.exclusiveMaximum].filter(
        (n): n is number => typeof n === 'number',
      );
      const edges = bounds.flatMap((n) => [n, n - 1, n + 1, n - 1e-9, n + 1e-9]);
      if (rnd.chance(0.2)) {
        const text = rnd.pick(RAW_NUMBERS);
        set(body, path, body.raw(text));
        return `${at(path)} = ${text} (raw)`;
      }
      const value = rnd.pick([...NUMBERS, ...edges]);
      set(body, path, value);
      return `${at(path)} = ${value}`;
    },
  },
  {
    weight: 4,
    name: 'string at an edge',
    apply(body, { path, schema }, rnd) {
      const s = unwrap(schema);
      const max = s?.maxLength;
      const current = get(body.value, path);
      const choices = [
        '',
        ' ',
        ...UNICODE,
        'x'.repeat(70_000),
        ...(max !== undefined ? ['x'.repeat(max), 'x'.repeat(max + 1)] : []),
        ...(typeof current === 'string' ? [`${current}${rnd.pick(UNICODE)}`, current.toUpperCase()] : []),
      ];
      const value = rnd.pick(choices);
      set(body, path, value);
      return `${at(path)} = ${JSON.stringify(value.slice(0, 40))}${value.length > 40 ? `… (${value.length})` : ''}`;
    },
  },
  {
    weight: 4,
    name: 'prototype name as a key',
    apply(body, { path }, rnd) {
      const target = get(body.value, path);
      const key = rnd.pick(PROTOTYPE_NAMES);
      const value = rnd.pick<unknown>(['x', 1, { polluted: true }, null]);
      if (isObject(target)) defineOwn(target, key, value);
      else {
        const object: Record<string, unknown> = {};
        defineOwn(object, key, value);
        set(body, path, object);
      }
      return `${at(path)}.${key} = ${JSON.stringify(value)}`;
    },
  },
  {
    weight: 2,
    name: 'unknown field',
    apply(body, { path }, rnd) {
      const target = get(body.value, path);
      if (!isObject(target)) return 'nothing (not an object)';
      const key = rnd.pick(['extra', 'id', 'status', 'revision', 'created_at', 'Project_Id', 'role']);
      target[key] = rnd.pick<unknown>(['x', 1, true, { a: 1 }]);
      return `${at(path)}.${key} added`;
    },
  },
  {
    weight: 2,
    name: 'optional field filled',
    apply(body, { path, schema }, rnd) {
      const target = get(body.value, path);
      const s = unwrap(schema);
      const absent = Object.keys(s?.properties ?? {}).filter((key) => isObject(target) && !(key in target));
      if (!isObject(target) || absent.length === 0) return 'nothing (no absent field)';
      const key = rnd.pick(absent);
      target[key] = sample(s!.properties![key], rnd);
      return `${at(path)}.${key} = ${JSON.stringify(target[key])?.slice(0, 60)}`;
    },
  },
  {
    weight: 2,
    name: 'field removed',
    apply(body, { path }) {
      if (path.length === 0) {
        body.value = undefined;
        return 'no body';
      }
      const parent = get(body.value, path.slice(0, -1));
      if (Array.isArray(parent)) parent.splice(Number(path.at(-1)), 1);
      else delete (parent as Record<string, unknown>)[path.at(-1) as string];
      return `${at(path)} removed`;
    },
  },
  {
    weight: 1,
    name: 'deep nesting',
    apply(body, { path }, rnd) {
      const depth = rnd.pick([64, 1000, 20_000]);
      const text = rnd.chance(0.5)
        ? `${'['.repeat(depth)}${']'.repeat(depth)}`
        : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      set(body, path, body.raw(text));
      return `${at(path)} nested ${depth} deep`;
    },
  },
  {
    weight: 1,
    name: 'long array',
    apply(body, { path, schema }, rnd) {
      const current = get(body.value, path);
      const length = (unwrap(schema)?.maxItems ?? rnd.pick([100, 5000])) + 1;
      const item = Array.isArray(current) && current.length > 0 ? current[0] : 'x';
      set(
        body,
        path,
        Array.from({ length }, () => structuredClone(item)),
      );
      return `${at(path)} with ${length} items`;
    },
  },
  {
    weight: 1,
    name: 'not JSON, or JSON of another shape',
    apply(body, _place, rnd) {
      const text = body.text() ?? '';
      const choices = [
        text.slice(0, Math.max(0, text.length - 1 - rnd.int(10))),
        `${text},`,
        `\ufeff${text}`,
        text.replace(/^\{/, '{"a":1,"a":'),
        'null',
        '[]',
        '"a string"',
        '12',
        ' '.repeat(1000),
        '{"__proto__":{"admin":true}}',
        'undefined',
      ];
      const chosen = rnd.pick(choices);
      body.replaceText(chosen);
      return `text = ${JSON.stringify(chosen.slice(0, 60))}`;
    },
  },
];

const TOTAL_WEIGHT = MUTATIONS.reduce((sum, m) => sum + m.weight, 0);

function pickWeighted(rnd: Random): (typeof MUTATIONS)[number] {
  let roll = rnd.next() * TOTAL_WEIGHT;
  for (const mutation of MUTATIONS) {
    roll -= mutation.weight;
    if (roll < 0) return mutation;
  }
  return MUTATIONS[0]!;
}

/** One to three mutations of `valid` (left as it is); says what each did. */
export function mutate(
  valid: unknown,
  schema: JsonSchema | undefined,
  rnd: Random,
): { body: Body; what: string[] } {
  const body = new Body(structuredClone(valid));
  const what: string[] = [];
  const count = 1 + rnd.int(3);
  for (let i = 0; i < count; i++) {
    const mutation = pickWeighted(rnd);
    const candidates = body.value === undefined ? [{ path: [] as Path }] : places(body.value, schema);
    what.push(`${mutation.name}: ${mutation.apply(body, rnd.pick(candidates), rnd)}`);
    if (mutation.name.startsWith('not JSON')) break;
  }
  return { body, what };
}
