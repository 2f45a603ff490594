// API keys (for POST /events) and the admin token (for the read API). Taken
// from the environment when set; otherwise generated on first start and kept
// in `<dataDir>/credentials.json` (mode 0600) so later starts reuse them.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import { emptyReport, makePrivateDir, tightenFile, type ModeReport } from '../security/private-files.js';
import { newSecret } from '../security/secrets.js';

const fileSchema = z.object({ apiKey: z.string().min(16), adminToken: z.string().min(16) });

export interface Credentials {
  apiKeys: string[];
  adminTokens: string[];
  /** Where stored credentials live (whether or not they were used). */
  file: string;
  /** What this call generated, to be shown once. */
  generated: Array<'apiKey' | 'adminToken'>;
  /** A stored file others could read (now 0600), or a data folder others can enter. */
  modes: ModeReport;
}

export interface CredentialSources {
  dataDir: string;
  /** `CONFLUO_API_KEYS`: comma-separated. */
  apiKeys?: string;
  /** `CONFLUO_ADMIN_TOKEN`. */
  adminToken?: string;
}

export function readStoredCredentials(dataDir: string): z.infer<typeof fileSchema> | undefined {
  const file = join(dataDir, 'credentials.json');
  if (!existsSync(file)) return undefined;
  try {
    return fileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (error) {
    throw new ConfigError(`${file} is not a valid credentials file; fix it or delete it to generate new keys`, { cause: error });
  }
}

export function loadCredentials(sources: CredentialSources): Credentials {
  const file = join(sources.dataDir, 'credentials.json');
  const envKeys = (sources.apiKeys ?? '').split(',').map((k) => k.trim()).filter(Boolean);
  const envAdmin = sources.adminToken?.trim() || undefined;
  const generated: Credentials['generated'] = [];
  const modes = emptyReport();
  tightenFile(file, modes);
  let stored = readStoredCredentials(sources.dataDir);
  if ((envKeys.length === 0 && !stored) || (!envAdmin && !stored)) {
    stored = { apiKey: newSecret('ck'), adminToken: newSecret('cadm') };
    makePrivateDir(sources.dataDir, modes);
    writeFileSync(file, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
    if (envKeys.length === 0) generated.push('apiKey');
    if (!envAdmin) generated.push('adminToken');
  }
  return {
    apiKeys: envKeys.length > 0 ? envKeys : [stored!.apiKey],
    adminTokens: envAdmin ? [envAdmin] : [stored!.adminToken],
    file,
    generated,
    modes,
  };
}
