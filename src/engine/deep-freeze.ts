// Records handed to rules and mappings are frozen, not copied: rules are pure,
// so one that tries to change its input fails loudly (and its key parks)
// instead of quietly corrupting the batch's working records. Freezing costs
// no allocation, where a copy per event did.
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
