// Reads a V8 .cpuprofile and lists the functions with the most self time, so a
// profile can be read in the terminal without opening DevTools.
import { readFileSync } from 'node:fs';
import type { Profiler } from 'node:inspector';

export function heaviest(profile: Profiler.Profile, top = 25): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  (profile.samples ?? []).forEach((id, i) => {
    const node = byId.get(id);
    if (!node) return;
    const frame = node.callFrame;
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`;
    const dt = profile.timeDeltas?.[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, t]) => `${((t / total) * 100).toFixed(1).padStart(5)}%  ${key}`)
    .join('\n');
}

export const readProfile = (file: string): Profiler.Profile => JSON.parse(readFileSync(file, 'utf8')) as Profiler.Profile;
