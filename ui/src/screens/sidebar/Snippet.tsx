//! A search snippet with its matches in <mark>. Text only: a body full of markup stays text.

import { parseSnippet } from "../../lib/snippet";

export function Snippet({ text }: { text: string }) {
  return (
    <>
      {parseSnippet(text).map((part, i) => (part.match ? <mark key={i}>{part.text}</mark> : <span key={i}>{part.text}</span>))}
    </>
  );
}
