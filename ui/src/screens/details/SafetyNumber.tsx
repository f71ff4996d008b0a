//! The safety number as 12 groups of 5 digits in a monospace grid, with what to do with it.

export function safetyGroups(digits: string): string[] {
  const clean = digits.replace(/\D/gu, "");
  const groups: string[] = [];
  for (let i = 0; i < clean.length; i += 5) groups.push(clean.slice(i, i + 5));
  return groups;
}

export function SafetyNumber({ userId, digits }: { userId: string; digits: string }) {
  return (
    <div className="safety">
      <div className="safety-number" data-testid="safety-number" aria-label={`Safety number with ${userId}`} role="group">
        {safetyGroups(digits).map((g, i) => (
          <span key={i} className="safety-number__group">
            {g}
          </span>
        ))}
      </div>
      <p className="muted small">
        Compare this number with the one on {userId}'s screen, in person or over a call you trust. If they match, your
        conversation is end-to-end encrypted with the right person.
      </p>
    </div>
  );
}
