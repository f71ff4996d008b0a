//! Running something once the next frame is on screen.

/**
 * Calls `fn` after the next frame has been painted: a timer set from the frame's animation
 * callback runs once that frame's style, layout and paint are done. Returns a cancel function
 * (for effect cleanups).
 */
export function afterNextPaint(fn: () => void): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const frame = requestAnimationFrame(() => {
    timer = setTimeout(fn, 0);
  });
  return () => {
    cancelAnimationFrame(frame);
    clearTimeout(timer);
  };
}
