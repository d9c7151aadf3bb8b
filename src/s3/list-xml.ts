import type { _Object, CommonPrefix, ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';

/**
 * A ListObjectsV2 answer (ListBucketResult) parsed without the SDK's XML parser and schema walk,
 * which cost most of a page's CPU (a 1,000-key page: ~25 ms there, ~2 ms here). It reads only the
 * shape S3 gives: elements, text with the five named entities and numeric character references,
 * attributes ignored, no CDATA, comments or DOCTYPE. Anything else — an unknown entity, a CDATA
 * section, a malformed date or number, RestoreStatus, EncodingType, a nesting it does not know —
 * returns undefined, and the caller lets the SDK parse the same bytes. The output has the fields
 * the SDK's would for the same page (without `$metadata`, which the caller adds).
 */
export function parseListObjectsV2(xml: string): Omit<ListObjectsV2CommandOutput, '$metadata'> | undefined {
  try {
    return parse(xml);
  } catch (err) {
    if (err instanceof Unexpected) return undefined;
    throw err;
  }
}

class Unexpected extends Error {}

const fail = (what: string): never => {
  throw new Unexpected(what);
};

const NAMED: Record<string, string> = { quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" };

/** XML text with its entities decoded; a `<`, a bare `&` or an unknown entity is unexpected. */
export function decodeText(raw: string): string {
  if (raw.indexOf('&') < 0) {
    if (raw.indexOf('<') >= 0 || raw.indexOf(']]>') >= 0) fail('markup in text');
    return raw;
  }
  let out = '';
  let at = 0;
  for (;;) {
    const amp = raw.indexOf('&', at);
    if (amp < 0) break;
    out += raw.slice(at, amp);
    const semi = raw.indexOf(';', amp);
    if (semi < 0 || semi - amp > 12) fail('bare &');
    const name = raw.slice(amp + 1, semi);
    let ch: string | undefined = NAMED[name];
    if (ch === undefined) {
      const code = /^#x[0-9a-fA-F]{1,6}$/.test(name)
        ? Number.parseInt(name.slice(2), 16)
        : /^#[0-9]{1,7}$/.test(name)
          ? Number.parseInt(name.slice(1), 10)
          : fail(`entity ${name}`);
      if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) fail('bad character reference');
      ch = String.fromCodePoint(code);
    }
    out += ch;
    at = semi + 1;
  }
  return out + raw.slice(at);
}

/** The element tree of the document, as far as S3 uses XML: elements holding elements or text. */
type Element = { name: string; children: Element[]; text: string };

function tree(xml: string): Element {
  let pos = 0;
  // Prolog: an optional XML declaration and whitespace; nothing else (no DOCTYPE, comments).
  if (xml.startsWith('\ufeff')) pos = 1;
  if (xml.startsWith('<?xml', pos)) {
    const end = xml.indexOf('?>', pos);
    if (end < 0) fail('declaration');
    pos = end + 2;
  }
  const root: Element = { name: '', children: [], text: '' };
  const stack: Element[] = [root];
  while (pos < xml.length) {
    const lt = xml.indexOf('<', pos);
    const top = stack[stack.length - 1]!;
    if (lt < 0) {
      if (xml.slice(pos).trim() !== '') fail('text after the document');
      break;
    }
    if (lt > pos) top.text += xml.slice(pos, lt);
    const c = xml.charCodeAt(lt + 1);
    if (c === 0x2f /* / */) {
      const gt = xml.indexOf('>', lt);
      if (gt < 0) fail('unclosed end tag');
      const name = xml.slice(lt + 2, gt).trim();
      if (stack.length < 2 || name !== top.name) fail(`end tag ${name}`);
      stack.pop();
      pos = gt + 1;
      continue;
    }
    if (c === 0x21 /* ! */ || c === 0x3f /* ? */) fail('comment, CDATA or processing instruction');
    // A start tag: name, attributes (quoted values may hold `>`), `/>` or `>`.
    let i = lt + 1;
    for (; i < xml.length; i++) {
      const ch = xml.charCodeAt(i);
      if (ch === 0x3e || ch === 0x2f || ch === 0x20 || ch === 0x09 || ch === 0x0a || ch === 0x0d) break;
    }
    const name = xml.slice(lt + 1, i);
    if (name === '') fail('empty tag name');
    let quote = '';
    for (; i < xml.length; i++) {
      const ch = xml[i]!;
      if (quote) {
        if (ch === quote) quote = '';
      } else if (ch === '"' || ch === "'") quote = ch;
      else if (ch === '>') break;
    }
    if (i >= xml.length) fail('unclosed start tag');
    const el: Element = { name, children: [], text: '' };
    if (stack.length === 1 && root.children.length > 0) fail('two root elements');
    top.children.push(el);
    if (xml[i - 1] !== '/') stack.push(el);
    pos = i + 1;
  }
  if (stack.length !== 1 || root.children.length !== 1) fail('unbalanced document');
  if (root.text.trim() !== '') fail('text outside the root');
  return root.children[0]!;
}

/** The text of a leaf element (decoded); one holding elements is unexpected. */
function textOf(el: Element): string {
  if (el.children.length > 0) fail(`${el.name} holds elements`);
  return decodeText(el.text);
}

function intOf(el: Element): number {
  const t = textOf(el);
  if (!/^[0-9]{1,15}$/.test(t)) fail(`${el.name} is not a number`);
  return Number(t);
}

function boolOf(el: Element): boolean {
  const t = textOf(el);
  if (t !== 'true' && t !== 'false') fail(`${el.name} is not a boolean`);
  return t === 'true';
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i;

function dateOf(el: Element): Date {
  const t = textOf(el);
  const d = new Date(t);
  if (!RFC3339.test(t) || Number.isNaN(d.getTime())) fail(`${el.name} is not a date`);
  return d;
}

/** An element holding only elements (whitespace between them allowed). */
function structOf(el: Element): Element[] {
  if (el.text.trim() !== '') fail(`${el.name} holds text`);
  return el.children;
}

function object(el: Element): _Object {
  const o: _Object = {};
  for (const f of structOf(el)) {
    switch (f.name) {
      case 'Key':
        o.Key = textOf(f);
        break;
      case 'LastModified':
        o.LastModified = dateOf(f);
        break;
      case 'ETag':
        o.ETag = textOf(f);
        break;
      case 'Size':
        o.Size = intOf(f);
        break;
      case 'StorageClass':
        o.StorageClass = textOf(f) as _Object['StorageClass'];
        break;
      case 'ChecksumAlgorithm':
        o.ChecksumAlgorithm = [
          ...(o.ChecksumAlgorithm ?? []),
          textOf(f) as NonNullable<_Object['ChecksumAlgorithm']>[number],
        ];
        break;
      case 'ChecksumType':
        o.ChecksumType = textOf(f) as _Object['ChecksumType'];
        break;
      case 'Owner': {
        const owner: NonNullable<_Object['Owner']> = {};
        for (const g of structOf(f)) {
          if (g.name === 'ID') owner.ID = textOf(g);
          else if (g.name === 'DisplayName') owner.DisplayName = textOf(g);
          else fail(`Owner.${g.name}`);
        }
        o.Owner = owner;
        break;
      }
      case 'Type': // RGW's own (Normal / Appendable): the SDK knows no such field either
        textOf(f);
        break;
      default:
        fail(`Contents.${f.name}`); // RestoreStatus and anything new: the SDK's parser
    }
  }
  if (o.Key === undefined) fail('Contents without a Key');
  return o;
}

function parse(xml: string): Omit<ListObjectsV2CommandOutput, '$metadata'> {
  const root = tree(xml);
  if (root.name !== 'ListBucketResult') fail(`root ${root.name}`);
  const out: Omit<ListObjectsV2CommandOutput, '$metadata'> = {};
  const contents: _Object[] = [];
  const prefixes: CommonPrefix[] = [];
  for (const el of structOf(root)) {
    switch (el.name) {
      case 'Contents':
        contents.push(object(el));
        break;
      case 'CommonPrefixes': {
        const cp: CommonPrefix = {};
        for (const f of structOf(el)) {
          if (f.name !== 'Prefix') fail(`CommonPrefixes.${f.name}`);
          cp.Prefix = textOf(f);
        }
        prefixes.push(cp);
        break;
      }
      case 'Name':
        out.Name = textOf(el);
        break;
      case 'Prefix':
        out.Prefix = textOf(el);
        break;
      case 'Delimiter':
        out.Delimiter = textOf(el);
        break;
      case 'MaxKeys':
        out.MaxKeys = intOf(el);
        break;
      case 'KeyCount':
        out.KeyCount = intOf(el);
        break;
      case 'IsTruncated':
        out.IsTruncated = boolOf(el);
        break;
      case 'ContinuationToken':
        out.ContinuationToken = textOf(el);
        break;
      case 'NextContinuationToken':
        out.NextContinuationToken = textOf(el);
        break;
      case 'StartAfter':
        out.StartAfter = textOf(el);
        break;
      case 'Marker': // RGW answers V2 with v1's empty Marker too; the SDK drops it
      case 'NextMarker':
        textOf(el);
        break;
      default:
        fail(`ListBucketResult.${el.name}`); // EncodingType, RequestCharged, …: the SDK's parser
    }
  }
  if (contents.length > 0) out.Contents = contents;
  if (prefixes.length > 0) out.CommonPrefixes = prefixes;
  return out;
}
