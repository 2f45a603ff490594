// `npm start` runs this: the customer-sync flow on the embedded SQLite store.
import { defineConfig } from '../../src/index.js';
import { flow } from './flow.js';

export default defineConfig({ flow });
