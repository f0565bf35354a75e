/**
 * The XML the local S3 and EC2 servers write and the little they read. Both services answer in small,
 * fixed-shape documents, so replies are built as strings and request bodies (S3's DeleteObjects and
 * CompleteMultipartUpload) are read with a regular expression per element: no XML library is needed for
 * documents whose shape the server knows.
 */

/**
 * Escapes text for an element or attribute. A carriage return becomes `&#13;` so it survives a parser's
 * line-ending normalisation (a literal CR would reach the client as LF).
 */
export function escapeXml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\r/g, '&#13;');
}

export function unescapeXml(value: string): string {
  return value.replace(/&(#x[0-9a-fA-F]+|#\d+|lt|gt|amp|quot|apos);/g, (_, entity: string) => {
    switch (entity) {
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'amp':
        return '&';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
      default:
        return String.fromCodePoint(entity[1] === 'x' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10));
    }
  });
}

/** `<name>escaped value</name>`, or nothing for an undefined value. */
export function element(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** The raw inner text of each `<name>` element in `xml` (no nesting of the same name is expected). */
export function elements(xml: string, name: string): string[] {
  const out: string[] = [];
  const pattern = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`, 'g');
  for (const match of xml.matchAll(pattern)) out.push(match[1] ?? '');
  return out;
}

/** The unescaped text of the first `<name>` element (a CDATA section is unwrapped), or undefined. */
export function firstElement(xml: string, name: string): string | undefined {
  const value = elements(xml, name)[0];
  return value === undefined ? undefined : unescapeXml(value.replace(/^<!\[CDATA\[([\s\S]*)\]\]>$/, '$1'));
}
