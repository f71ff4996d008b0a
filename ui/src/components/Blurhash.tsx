//! An image's placeholder, painted from its blurhash before any picture arrives: the average
//! colour at once, then the blurred colours on a tiny canvas the page stretches to size.

import { decode, isBlurhashValid } from "blurhash";
import { useEffect, useMemo, useRef } from "react";

/** The side of the canvas the hash is decoded to (stretched by CSS; it is a blur anyway). */
const SIDE = 32;

export function Blurhash({ hash, className }: { hash: string; className?: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const valid = useMemo(() => isBlurhashValid(hash).result, [hash]);
  const average = useMemo(() => {
    if (!valid) return undefined;
    const [r, g, b] = decode(hash, 1, 1);
    return `rgb(${r ?? 128}, ${g ?? 128}, ${b ?? 128})`;
  }, [hash, valid]);

  useEffect(() => {
    const el = canvas.current;
    if (!el || !valid) return;
    const context = el.getContext("2d");
    if (!context) return;
    const image = context.createImageData(SIDE, SIDE);
    image.data.set(decode(hash, SIDE, SIDE));
    context.putImageData(image, 0, 0);
  }, [hash, valid]);

  return (
    <canvas
      ref={canvas}
      className={className}
      width={SIDE}
      height={SIDE}
      style={average ? { backgroundColor: average } : undefined}
      aria-hidden="true"
      data-testid="blurhash"
    />
  );
}
