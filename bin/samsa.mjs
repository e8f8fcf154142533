#!/usr/bin/env node
// The `samsa` command of the published package: the compiled src/cli/samsa.ts.
import { main } from '../dist/cli/samsa.js';

await main(process.argv);
