// Short forms of long identifiers (server IDs are UUIDs).

/** "550e8400-e29b-41d4-a716-446655440000" → "550e8400"; the full ID goes in a tooltip. */
export function shortId(id: string, length = 8): string {
  const trimmed = id.trim();
  const firstPart = trimmed.split("-")[0] ?? trimmed;
  return (firstPart.length >= 4 ? firstPart : trimmed.replace(/-/g, "")).slice(0, length);
}
