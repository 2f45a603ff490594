// Times leave the API as ISO 8601 strings (null stays null).
export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
