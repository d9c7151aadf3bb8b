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

/**
 * A cursor over the document that reads it in the order S3 writes it, building no element tree:
 * a page of 1,000 keys is read straight into its 1,000 objects. What it accepts: elements
 * holding elements (whitespace between them) or text, attributes (skipped, quoted values may hold
 * `>`), `<x/>` as an element holding empty text, one root, an optional BOM and XML declaration,
 * whitespace around the root. Anything else fails.
 */
class Reader {
  pos = 0;
  /** The name of the tag just read, and whether it was `<x/>` (start tags) . */
  name = '';
  empty = false;

  constructor(readonly xml: string) {
    // Prolog: an optional XML declaration and whitespace; nothing else (no DOCTYPE, comments).
    if (xml.startsWith('\ufeff')) this.pos = 1;
    if (xml.startsWith('<?xml', this.pos)) {
      const end = xml.indexOf('?>', this.pos);
      if (end < 0) fail('declaration');
      this.pos = end + 2;
    }
  }

  /**
   * Reads the whitespace up to the next tag, then the tag: true for a start tag (its name in
   * `name`, `empty` for `<x/>`), false for an end tag (its name in `name`).
   */
  tag(): boolean {
    const { xml } = this;
    const lt = xml.indexOf('<', this.pos);
    if (lt < 0) fail('a tag is missing');
    if (lt > this.pos && !blank(xml, this.pos, lt)) fail('text between elements');
    return this.tagAt(lt);
  }

  private tagAt(lt: number): boolean {
    const { xml } = this;
    const c = xml.charCodeAt(lt + 1);
    if (c === 0x2f /* / */) {
      const gt = xml.indexOf('>', lt);
      if (gt < 0) fail('unclosed end tag');
      this.name = xml.slice(lt + 2, gt).trim();
      this.pos = gt + 1;
      return false;
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
    if (xml.charCodeAt(i) !== 0x3e /* > */) {
      let quote = 0;
      for (; i < xml.length; i++) {
        const ch = xml.charCodeAt(i);
        if (quote !== 0) {
          if (ch === quote) quote = 0;
        } else if (ch === 0x22 || ch === 0x27) quote = ch;
        else if (ch === 0x3e) break;
      }
      if (i >= xml.length) fail('unclosed start tag');
    }
    this.name = name;
    this.empty = xml.charCodeAt(i - 1) === 0x2f;
    this.pos = i + 1;
    return true;
  }

  /** The text of the element whose start tag was just read (decoded), through its end tag. */
  text(): string {
    if (this.empty) return '';
    const { xml } = this;
    const name = this.name;
    const lt = xml.indexOf('<', this.pos);
    if (lt < 0) fail(`${name} is not closed`);
    const raw = xml.slice(this.pos, lt);
    if (this.tagAt(lt)) fail(`${name} holds elements`);
    if (this.name !== name) fail(`end tag ${this.name}`);
    return decodeText(raw);
  }

  /**
   * The next child of the element `parent` whose start tag was read: true with its start tag
   * read, or false when `parent`'s end tag came (or it was `<x/>`).
   */
  child(parent: string, empty: boolean): boolean {
    if (empty) return false;
    if (this.tag()) return true;
    if (this.name !== parent) fail(`end tag ${this.name}`);
    return false;
  }

  /** After the root: only whitespace. */
  end(): void {
    if (this.xml.slice(this.pos).trim() !== '') fail('text or elements after the root');
  }
}

/** True when xml[from, to) is whitespace (as `trim` sees it). */
function blank(xml: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = xml.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return xml.slice(from, to).trim() === '';
  }
  return true;
}

function intOf(r: Reader): number {
  const name = r.name;
  const t = r.text();
  if (!/^[0-9]{1,15}$/.test(t)) fail(`${name} is not a number`);
  return Number(t);
}

function boolOf(r: Reader): boolean {
  const name = r.name;
  const t = r.text();
  if (t !== 'true' && t !== 'false') fail(`${name} is not a boolean`);
  return t === 'true';
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i;

function dateOf(r: Reader): Date {
  const name = r.name;
  const t = r.text();
  const d = new Date(t);
  if (!RFC3339.test(t) || Number.isNaN(d.getTime())) fail(`${name} is not a date`);
  return d;
}

/** A `<Contents>` whose start tag was just read, through its end tag. */
function object(r: Reader): _Object {
  const o: _Object = {};
  const empty = r.empty;
  while (r.child('Contents', empty)) {
    switch (r.name) {
      case 'Key':
        o.Key = r.text();
        break;
      case 'LastModified':
        o.LastModified = dateOf(r);
        break;
      case 'ETag':
        o.ETag = r.text();
        break;
      case 'Size':
        o.Size = intOf(r);
        break;
      case 'StorageClass':
        o.StorageClass = r.text() as _Object['StorageClass'];
        break;
      case 'ChecksumAlgorithm':
        o.ChecksumAlgorithm = [
          ...(o.ChecksumAlgorithm ?? []),
          r.text() as NonNullable<_Object['ChecksumAlgorithm']>[number],
        ];
        break;
      case 'ChecksumType':
        o.ChecksumType = r.text() as _Object['ChecksumType'];
        break;
      case 'Owner': {
        const owner: NonNullable<_Object['Owner']> = {};
        const ownerEmpty = r.empty;
        while (r.child('Owner', ownerEmpty)) {
          const field: string = r.name; // (not narrowed by the case above: r.child read a tag)
          if (field === 'ID') owner.ID = r.text();
          else if (field === 'DisplayName') owner.DisplayName = r.text();
          else fail(`Owner.${field}`);
        }
        o.Owner = owner;
        break;
      }
      case 'Type': // RGW's own (Normal / Appendable): the SDK knows no such field either
        r.text();
        break;
      default:
        fail(`Contents.${r.name}`); // RestoreStatus and anything new: the SDK's parser
    }
  }
  if (o.Key === undefined) fail('Contents without a Key');
  return o;
}

function parse(xml: string): Omit<ListObjectsV2CommandOutput, '$metadata'> {
  const r = new Reader(xml);
  if (!r.tag()) fail('an end tag first');
  if (r.name !== 'ListBucketResult') fail(`root ${r.name}`);
  const out: Omit<ListObjectsV2CommandOutput, '$metadata'> = {};
  const contents: _Object[] = [];
  const prefixes: CommonPrefix[] = [];
  const empty = r.empty;
  while (r.child('ListBucketResult', empty)) {
    switch (r.name) {
      case 'Contents':
        contents.push(object(r));
        break;
      case 'CommonPrefixes': {
        const cp: CommonPrefix = {};
        const cpEmpty = r.empty;
        while (r.child('CommonPrefixes', cpEmpty)) {
          const field: string = r.name; // (not narrowed by the case above: r.child read a tag)
          if (field !== 'Prefix') fail(`CommonPrefixes.${field}`);
          cp.Prefix = r.text();
        }
        prefixes.push(cp);
        break;
      }
      case 'Name':
        out.Name = r.text();
        break;
      case 'Prefix':
        out.Prefix = r.text();
        break;
      case 'Delimiter':
        out.Delimiter = r.text();
        break;
      case 'MaxKeys':
        out.MaxKeys = intOf(r);
        break;
      case 'KeyCount':
        out.KeyCount = intOf(r);
        break;
      case 'IsTruncated':
        out.IsTruncated = boolOf(r);
        break;
      case 'ContinuationToken':
        out.ContinuationToken = r.text();
        break;
      case 'NextContinuationToken':
        out.NextContinuationToken = r.text();
        break;
      case 'StartAfter':
        out.StartAfter = r.text();
        break;
      case 'Marker': // RGW answers V2 with v1's empty Marker too; the SDK drops it
      case 'NextMarker':
        r.text();
        break;
      default:
        fail(`ListBucketResult.${r.name}`); // EncodingType, RequestCharged, …: the SDK's parser
    }
  }
  r.end();
  if (contents.length > 0) out.Contents = contents;
  if (prefixes.length > 0) out.CommonPrefixes = prefixes;
  return out;
}
