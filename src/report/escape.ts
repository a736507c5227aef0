// Text placed in the report's HTML and SVG: the five characters XML gives meaning to, as entities.
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** s with & < > " ' escaped: safe as element text and as a quoted attribute value. */
export function escapeXml(s: string): string {
  return String(s).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}
