//! Search snippets mark matches between U+0002 and U+0003. They are split into text parts
//! (rendered as React text, never as HTML) so a message body can't inject markup.

export interface SnippetPart {
  text: string;
  match: boolean;
}

export function parseSnippet(snippet: string): SnippetPart[] {
  const parts: SnippetPart[] = [];
  let match = false;
  let current = "";
  for (const ch of snippet) {
    if (ch === "\u0002" || ch === "\u0003") {
      if (current) parts.push({ text: current, match });
      current = "";
      match = ch === "\u0002";
    } else {
      current += ch;
    }
  }
  if (current) parts.push({ text: current, match });
  return parts;
}
